//! What the consumers and the outbox relay write so that the metrics count.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use todo_events::chrono::{DateTime, SecondsFormat, Utc};
use todo_events::uuid::Uuid;
use todo_events::{Event, SemVer, Topic};
use todo_sql::{Binder, Statement};

use crate::{PROCESSING_ERRORS, PUBLISH_ERRORS, VALIDATION_ERRORS};

/// What a consumer knows about one accepted delivery: the labels and instants that the
/// `processed_events` row carries (migrations/V7__metrics.sql counts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The topic it came from.
    pub topic: Topic,
    /// Its `event_type` (`task.created`, `reminder.scheduled`, ...).
    pub event_type: String,
    /// Its `schema_version`, as carried (any MINOR of the known MAJOR).
    pub schema_version: String,
    /// Its own `timestamp`; `None` when that is not an RFC 3339 instant.
    pub event_at: Option<DateTime<Utc>>,
    /// When the component received the delivery (its wall clock at request start): the
    /// processing duration is measured from here to the statement that records the effect.
    pub received_at: DateTime<Utc>,
}

impl Delivery {
    /// The delivery of the decoded `event`, received at `received_at`.
    pub fn of<E: Event>(event: &E, received_at: DateTime<Utc>) -> Delivery {
        Delivery {
            topic: E::TOPIC,
            event_type: event.event_type_name().to_owned(),
            schema_version: event.schema_version().to_owned(),
            event_at: todo_events::parse_timestamp(event.timestamp()).ok(),
            received_at,
        }
    }
}

/// Microseconds: the processing duration's resolution.
fn instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The CTE `pe` every consumer statement starts with: the idempotency row `(consumer, event)`
/// with the delivery's columns, `ON CONFLICT DO NOTHING RETURNING event_id` (a redelivery
/// inserts nothing, so it is neither processed again nor counted again). `consumer` and `event`
/// are placeholders the caller bound already (`$1::text`, `$2::text::uuid`), so a statement keeps
/// its parameters' order; the delivery's five are bound here.
pub fn processed_cte(b: &mut Binder, consumer: &str, event: &str, d: &Delivery) -> String {
    let topic = b.str(d.topic.name());
    let kind = b.str(&d.event_type);
    let version = b.str(&d.schema_version);
    let event_at = b.cast(d.event_at.map(instant), "timestamptz");
    let received = b.cast(Some(instant(d.received_at)), "timestamptz");
    format!(
        "pe AS (INSERT INTO processed_events (consumer, event_id, topic, event_type, \
         schema_version, event_at, received_at) \
         VALUES ({consumer}, {event}, {topic}, {kind}, {version}, {event_at}, {received}) \
         ON CONFLICT DO NOTHING RETURNING event_id)"
    )
}

/// Records that `consumer` consumed event `event_id` with no effect of its own (the recurring
/// service and every event that is not a recurring task's completion): just the idempotency row,
/// so the event is counted once and the consumer's lag sees it.
/// Row: `{"processed": <true the first time>}`.
pub fn record_consumed(consumer: &str, event_id: Uuid, d: &Delivery) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let e = b.cast(Some(event_id.to_string()), "uuid");
    let pe = processed_cte(&mut b, &c, &e, d);
    let sql = format!(
        "WITH {pe} SELECT jsonb_build_object('processed', EXISTS (SELECT 1 FROM pe))::text"
    );
    b.finish(sql)
}

/// The columns of a batch's `src` rows that [`processed_batch_cte`] reads, as a
/// `jsonb_to_recordset` column list; a statement appends its own columns after them.
pub const DELIVERY_COLUMNS: &str = "ord int, event_id uuid, topic text, event_type text, \
     schema_version text, event_at timestamptz, received_at timestamptz";

/// One `src` row of a batch (the [`DELIVERY_COLUMNS`]): the `ord`-th event `event_id`, delivered
/// as `d`. A statement adds its own fields to the object.
pub fn delivery_row(ord: usize, event_id: Uuid, d: &Delivery) -> serde_json::Map<String, Value> {
    let mut row = serde_json::Map::new();
    row.insert("ord".into(), ord.into());
    row.insert("event_id".into(), event_id.to_string().into());
    row.insert("topic".into(), d.topic.name().into());
    row.insert("event_type".into(), d.event_type.clone().into());
    row.insert("schema_version".into(), d.schema_version.clone().into());
    row.insert("event_at".into(), d.event_at.map(instant).into());
    row.insert("received_at".into(), instant(d.received_at).into());
    row
}

/// The CTEs `src` (the rows `rows`, columns [`DELIVERY_COLUMNS`] and then `more`) and `pe`: the
/// idempotency rows of every `src` row for `consumer` (a placeholder bound already), in `ord`
/// order, `ON CONFLICT DO NOTHING RETURNING event_id` (a redelivery, or an event twice in the
/// batch, inserts nothing more). [`processed_cte`] for a bulk delivery.
pub fn processed_batch_cte(b: &mut Binder, consumer: &str, rows: Vec<Value>, more: &str) -> String {
    let list = b.jsonb(&Value::Array(rows));
    let columns = if more.is_empty() {
        DELIVERY_COLUMNS.to_owned()
    } else {
        format!("{DELIVERY_COLUMNS}, {more}")
    };
    format!(
        "src AS (SELECT * FROM jsonb_to_recordset({list}) AS x({columns})), \
         pe AS (INSERT INTO processed_events (consumer, event_id, topic, event_type, \
         schema_version, event_at, received_at) \
         SELECT {consumer}, event_id, topic, event_type, schema_version, event_at, received_at \
         FROM src ORDER BY ord ON CONFLICT DO NOTHING RETURNING event_id)"
    )
}

/// [`record_consumed`] for several events at once (a bulk delivery's events without an effect):
/// the idempotency rows of `events`, in one statement. Row: `{"processed": <rows new to this
/// consumer>}`.
pub fn record_consumed_batch(consumer: &str, events: &[(Uuid, Delivery)]) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let rows = events
        .iter()
        .enumerate()
        .map(|(ord, (id, d))| Value::Object(delivery_row(ord, *id, d)))
        .collect();
    let ctes = processed_batch_cte(&mut b, &c, rows, "");
    let sql = format!(
        "WITH {ctes} SELECT jsonb_build_object('processed', (SELECT count(*) FROM pe))::text"
    );
    b.finish(sql)
}

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

/// The counters of a delivery of `topic` that `consumer` refused (DROP: not an event, invalid
/// against the schema, an unknown MAJOR): `event_processing_errors_total{consumer,
/// event_type="unknown"}` (nothing a refused body says is trusted as a label) and
/// `schema_validation_errors_total{topic, schema_version, consumer}` ([`version_label`]).
pub fn refused(consumer: &str, topic: Topic, body: &[u8]) -> Statement {
    let version = version_label(todo_events::peek(body).as_ref());
    counters_statement(&[
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
    ])
}

/// The counter of an accepted delivery that `consumer` could not process now (RETRY) or
/// refused itself: `event_processing_errors_total{consumer, event_type}`. Each failed attempt
/// counts (Dapr redelivers a RETRY within the Resiliency policy's retries).
pub fn failed(consumer: &str, event_type: &str) -> Statement {
    failed_all(consumer, &[event_type])
}

/// [`failed`] for several deliveries at once (a bulk delivery's retried entries): one increment
/// per element of `event_types`, in one statement.
pub fn failed_all(consumer: &str, event_types: &[&str]) -> Statement {
    let counters: Vec<Counter> = event_types
        .iter()
        .map(|t| {
            Counter::new(
                PROCESSING_ERRORS,
                [("consumer", consumer), ("event_type", t)],
            )
        })
        .collect();
    counters_statement(&counters)
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
    use todo_events::chrono::TimeZone;

    fn delivery() -> Delivery {
        Delivery {
            topic: Topic::TaskEvents,
            event_type: "task.created".into(),
            schema_version: "1.3.0".into(),
            event_at: Some(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()),
            received_at: Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 1).unwrap(),
        }
    }

    #[test]
    fn the_processed_row_carries_the_delivery() {
        let mut b = Binder::default();
        let c = b.str("audit");
        let e = b.cast(Some("7f1c0d5e-3a2b-4c1d-9e8f-0a1b2c3d4e5f".into()), "uuid");
        let pe = processed_cte(&mut b, &c, &e, &delivery());
        assert!(pe.starts_with(
            "pe AS (INSERT INTO processed_events (consumer, event_id, topic, event_type, \
             schema_version, event_at, received_at) VALUES ($1::text, $2::text::uuid, $3::text, \
             $4::text, $5::text, $6::text::timestamptz, $7::text::timestamptz) ON CONFLICT DO NOTHING"
        ), "{pe}");
        let st = b.finish(pe);
        assert_eq!(
            st.params[2..],
            [
                json!("task-events"),
                json!("task.created"),
                json!("1.3.0"),
                json!("2026-05-01T08:00:00.000000Z"),
                json!("2026-05-01T08:00:01.000000Z"),
            ]
        );
    }

    #[test]
    fn a_delivery_of_a_decoded_event() {
        let ev: todo_events::TaskEvent = serde_json::from_str(include_str!(
            "../../../contracts/events/examples/task-events/valid/task-created-full.json"
        ))
        .unwrap();
        let at = Utc::now();
        let d = Delivery::of(&ev, at);
        assert_eq!(d.topic, Topic::TaskEvents);
        assert_eq!(d.event_type, ev.event_type.as_str());
        assert_eq!(d.schema_version, ev.schema_version);
        assert_eq!(
            d.event_at.map(|t| t.timestamp()),
            Some(
                todo_events::parse_timestamp(&ev.timestamp)
                    .unwrap()
                    .timestamp()
            )
        );
        let mut odd = ev.clone();
        odd.timestamp = "yesterday".into();
        assert_eq!(
            Delivery::of(&odd, at).event_at,
            None,
            "bound as NULL, never a failed cast"
        );
    }

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

        let st = refused("audit", Topic::TaskEvents, br#"{"schema_version":"2.0.0"}"#);
        let list: Value = serde_json::from_str(st.params[0].as_str().unwrap()).unwrap();
        assert_eq!(
            list,
            json!([
                {"name": "event_processing_errors_total", "labels": {"consumer": "audit", "event_type": "unknown"}},
                {"name": "schema_validation_errors_total", "labels": {"consumer": "audit", "schema_version": "2.0.0", "topic": "task-events"}},
            ])
        );
        let st = refused("audit", Topic::TaskEvents, b"not json");
        assert!(st.params[0]
            .as_str()
            .unwrap()
            .contains(r#""schema_version":"unknown""#));
    }

    #[test]
    fn counter_statements_are_one_upsert() {
        let st = failed("recurring", "task.completed");
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
