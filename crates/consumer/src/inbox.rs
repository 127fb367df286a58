//! The consumer inbox: one `processed_events` row per (consumer, event id), written in the same
//! statement as the effect it guards (migrations/V1 and V7), so a redelivered event changes
//! nothing and is counted once.
//!
//! Every consumer statement starts with the CTE `pe` ([`processed_cte`], or
//! [`processed_batch_cte`] for a bulk delivery) and makes its effect depend on it (`... FROM pe`,
//! `JOIN pe`); an event with no effect of its own is recorded with [`record_consumed_batch`]. The
//! row carries the delivery's topic, event type, `schema_version`, the event's `timestamp` and the
//! instant the component received it ([`Delivery`]): the V7 trigger counts the consumption
//! metrics from it (`todo-metrics`).

use serde_json::Value;
use todo_events::chrono::{DateTime, SecondsFormat, Utc};
use todo_events::uuid::Uuid;
use todo_events::{Event, Topic};
use todo_sql::{Binder, Statement};

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

/// Records that `consumer` consumed `events` with no effect of its own (every event the
/// recurring service does not roll, for example): just their idempotency rows, in one
/// statement, so each is counted once and the consumer's lag sees it.
/// Row: `{"processed": <rows new to this consumer>}`.
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
    fn a_batch_of_events_without_an_effect_is_one_insert_in_delivery_order() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let st = record_consumed_batch("recurring", &[(b, delivery()), (a, delivery())]);
        assert!(
            st.sql
                .contains("FROM src ORDER BY ord ON CONFLICT DO NOTHING"),
            "{}",
            st.sql
        );
        assert_eq!(st.params[0], json!("recurring"));
        let rows: Value = serde_json::from_str(st.params[1].as_str().unwrap()).unwrap();
        assert_eq!(rows[0]["ord"], 0);
        assert_eq!(rows[0]["event_id"], b.to_string());
        assert_eq!(rows[1]["event_id"], a.to_string());
        assert_eq!(rows[1]["received_at"], "2026-05-01T08:00:01.000000Z");
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
}
