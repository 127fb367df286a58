//! The counters a delivery adds when it has no effect to count: refused (DROP) and failed
//! (RETRY) deliveries, `event_processing_errors_total` and `schema_validation_errors_total`
//! (docs/observability.md). The runner adds them up per request and writes them in one statement
//! ([`todo_metrics::counters_statement`]), best effort.

use todo_events::Topic;
use todo_metrics::{version_label, Counter, PROCESSING_ERRORS, VALIDATION_ERRORS};

/// The counters of a delivery of `topic` that `consumer` refused (DROP: not an event, invalid
/// against the schema, an unknown MAJOR, or refused by the consumer itself):
/// `event_processing_errors_total{consumer, event_type="unknown"}` (nothing a refused body says
/// is trusted as a label) and `schema_validation_errors_total{topic, schema_version, consumer}`
/// ([`version_label`]).
pub fn refused(consumer: &str, topic: Topic, body: &[u8]) -> [Counter; 2] {
    let version = version_label(todo_events::peek(body).as_ref());
    [
        Counter::new(
            PROCESSING_ERRORS,
            [("consumer", consumer), ("event_type", "unknown")],
        ),
        Counter::new(
            VALIDATION_ERRORS,
            [
                ("consumer", consumer),
                ("schema_version", &version),
                ("topic", topic.name()),
            ],
        ),
    ]
}

/// The counter of an accepted delivery that `consumer` could not process now (RETRY):
/// `event_processing_errors_total{consumer, event_type}`. Each failed attempt counts.
pub fn failed(consumer: &str, event_type: &str) -> Counter {
    Counter::new(
        PROCESSING_ERRORS,
        [("consumer", consumer), ("event_type", event_type)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn a_refused_delivery_counts_under_its_version_never_its_text() {
        let list = |counters: &[Counter]| -> Value {
            let st = todo_metrics::counters_statement(counters);
            serde_json::from_str(st.params[0].as_str().unwrap()).unwrap()
        };
        let counters = refused("audit", Topic::TaskEvents, br#"{"schema_version":"2.0.0"}"#);
        assert_eq!(
            list(&counters),
            json!([
                {"name": "event_processing_errors_total", "labels": {"consumer": "audit", "event_type": "unknown"}},
                {"name": "schema_validation_errors_total", "labels": {"consumer": "audit", "schema_version": "2.0.0", "topic": "task-events"}},
            ])
        );
        let counters = refused("audit", Topic::TaskEvents, b"not json");
        assert_eq!(list(&counters)[1]["labels"]["schema_version"], "unknown");
        let f = failed("recurring", "task.completed");
        assert_eq!(
            list(&[f])[0],
            json!({"name": "event_processing_errors_total", "labels": {"consumer": "recurring", "event_type": "task.completed"}})
        );
    }
}
