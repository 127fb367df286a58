//! The counters of the rare paths, in the generic `metric_counters` table: what the consumers
//! (`todo-consumer`) and the outbox relay write when something fails without an effect to count.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use todo_events::SemVer;
use todo_sql::{Binder, Statement};

use crate::PUBLISH_ERRORS;

/// One increment of a counter of the generic `metric_counters` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Counter {
    /// The metric's name (`event_processing_errors_total`, ...).
    pub name: &'static str,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

impl Counter {
    /// Counter `name` with `labels`.
    pub fn new<const N: usize>(name: &'static str, labels: [(&str, &str); N]) -> Counter {
        Counter {
            name,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }
}

/// The CTE `<cte>` that adds 1 to each of `counters` in `metric_counters` (the same counter
/// twice adds 2), in key order (no two statements lock the same counters in different orders).
pub fn counters_cte(b: &mut Binder, cte: &str, counters: &[Counter]) -> String {
    let list = b.jsonb(&serde_json::to_value(counters).unwrap_or(Value::Array(Vec::new())));
    format!(
        "{cte} AS (INSERT INTO metric_counters AS m (name, labels, value) \
         SELECT x->>'name', x->'labels', count(*) FROM jsonb_array_elements({list}) AS x \
         GROUP BY 1, 2 ORDER BY 1, 2 \
         ON CONFLICT (name, labels) DO UPDATE SET value = m.value + EXCLUDED.value RETURNING 1)"
    )
}

/// The statement that adds 1 to each of `counters`. Row: `{"count": <counters changed>}`.
pub fn counters_statement(counters: &[Counter]) -> Statement {
    let mut b = Binder::default();
    let c = counters_cte(&mut b, "c", counters);
    let sql =
        format!("WITH {c} SELECT jsonb_build_object('count', (SELECT count(*) FROM c))::text");
    b.finish(sql)
}

/// The `schema_version` label of a refused delivery's event object (`None`: there was none):
/// the version as carried when it is a semantic version, `missing`, `invalid` (not a version, or
/// longer than 32 characters), or `unknown` (no event object: not JSON, a bad envelope). Only
/// semantic versions pass through, so a label never holds arbitrary text.
pub fn version_label(event: Option<&Value>) -> String {
    let Some(event) = event else {
        return "unknown".to_owned();
    };
    match event.get("schema_version") {
        None | Some(Value::Null) => "missing".to_owned(),
        Some(Value::String(v)) if v.len() <= 32 && SemVer::parse(v).is_some() => v.clone(),
        Some(_) => "invalid".to_owned(),
    }
}

/// Why a publish of the outbox relay failed: the `error_type` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishFailure {
    /// The sidecar was unreachable or answered 5xx (e.g. the broker is down): `unavailable`.
    Unavailable,
    /// The sidecar refused the publish (4xx): `refused`.
    Refused,
}

impl PublishFailure {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PublishFailure::Unavailable => "unavailable",
            PublishFailure::Refused => "refused",
        }
    }
}

/// The CTE `<cte>` counting failed publishes, `(topic, why)` each:
/// `event_publish_errors_total{topic, error_type}`. The outbox relay puts it into the statement
/// that releases the failed rows (todo-outbox `release_failed`).
pub fn publish_errors_cte(
    b: &mut Binder,
    cte: &str,
    failures: &[(&str, PublishFailure)],
) -> String {
    let counters: Vec<Counter> = failures
        .iter()
        .map(|(topic, why)| {
            Counter::new(
                PUBLISH_ERRORS,
                [("error_type", why.as_str()), ("topic", topic)],
            )
        })
        .collect();
    counters_cte(b, cte, &counters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refused_deliveries_never_put_their_text_in_labels() {
        let label = |v: Value| version_label(Some(&json!({ "schema_version": v })));
        assert_eq!(label(json!("2.0.0")), "2.0.0");
        assert_eq!(label(json!("1.7.0")), "1.7.0");
        assert_eq!(label(json!("garbage")), "invalid");
        assert_eq!(label(json!(7)), "invalid");
        assert_eq!(label(json!(format!("1.0.0-{}", "x".repeat(40)))), "invalid");
        assert_eq!(label(Value::Null), "missing");
        assert_eq!(version_label(Some(&json!({}))), "missing");
        assert_eq!(version_label(None), "unknown");
    }

    #[test]
    fn counter_statements_are_one_upsert() {
        let st = counters_statement(&[Counter::new(
            "event_processing_errors_total",
            [("consumer", "recurring"), ("event_type", "task.completed")],
        )]);
        assert!(st.sql.starts_with("WITH c AS (INSERT INTO metric_counters"));
        assert!(st.sql.contains("ON CONFLICT (name, labels) DO UPDATE"));
        assert_eq!(st.params.len(), 1);
        let mut b = Binder::default();
        let cte = publish_errors_cte(
            &mut b,
            "e",
            &[
                ("task-events", PublishFailure::Unavailable),
                ("reminders", PublishFailure::Refused),
            ],
        );
        assert!(cte.starts_with("e AS (INSERT INTO metric_counters"));
        let st = b.finish(cte);
        let list: Value = serde_json::from_str(st.params[0].as_str().unwrap()).unwrap();
        assert_eq!(
            list[0]["labels"],
            json!({"error_type": "unavailable", "topic": "task-events"})
        );
        assert_eq!(
            list[1]["labels"],
            json!({"error_type": "refused", "topic": "reminders"})
        );
    }
}
