//! Dead letters: the `dead_letters` row (migrations/V9__dead_letters.sql) a consumer writes, in
//! its own statement, for every event it gives up on, before it answers DROP (docs/deadletters.md).
//!
//! Two ways to give up on an event:
//! - **refused**: it can never be processed (not JSON, a bad envelope, an invalid event, an
//!   unknown MAJOR, refused by the consumer): dead at once, [`Letter::refused`];
//! - **failed every time**: the consumer's statement or call failed while the database answered
//!   (a constraint, a trigger, a 4xx from the sidecar), [`Letter::failed`]: each failure counts an
//!   attempt, and at [`MAX_ATTEMPTS`] the event is dead with the reason "retries exhausted: <last
//!   error>". A failure because a dependency is down is never counted ([`crate::Failure`]): it is
//!   retried, however long the outage.
//!
//! The statement ([`record`]) answers which keys are dead now, so the runner answers DROP for
//! exactly those (RETRY for the rest), and counts `dead_letters_total{topic, consumer, reason}`
//! for the ones that became dead in it. When the statement cannot run, nothing is dead: the
//! runner answers RETRY and the event comes back.

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use todo_events::uuid::Uuid;
use todo_events::DecodeError;
use todo_metrics::DEAD_LETTERS;
use todo_sql::{Binder, Statement};

/// Failed attempts (with the database reachable) after which an event is dead. With the
/// Resiliency's inbound backoff (0.5 s, x1.5) the fifth attempt comes about 4 s after the first.
pub const MAX_ATTEMPTS: i32 = 5;

/// Why an event is a dead letter, as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The body is not JSON.
    NotJson,
    /// Neither a CloudEvent nor an event object.
    BadEnvelope,
    /// `schema_version` missing, not a version, or of an unknown MAJOR.
    BadVersion,
    /// Breaks its topic's schema (or does not deserialise).
    Invalid,
    /// Decoded, but the consumer refused it (`Batch::admit`).
    Refused,
    /// The consumer failed on it [`MAX_ATTEMPTS`] times with the database reachable.
    Exhausted,
    /// Not a CloudEvent: a sidecar dead-lettered it before any consumer read it (recorded by
    /// the dead-letters service from `<topic>.dlq`, consumer `""`).
    Undeliverable,
}

impl Class {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::NotJson => "not_json",
            Class::BadEnvelope => "bad_envelope",
            Class::BadVersion => "bad_version",
            Class::Invalid => "invalid",
            Class::Refused => "refused",
            Class::Exhausted => "exhausted",
            Class::Undeliverable => "undeliverable",
        }
    }

    /// The class of a decoding failure.
    pub fn of(error: &DecodeError) -> Class {
        match error {
            DecodeError::NotJson(_) => Class::NotJson,
            DecodeError::Envelope(_) => Class::BadEnvelope,
            DecodeError::Version(_) => Class::BadVersion,
            DecodeError::Invalid(_) | DecodeError::Deserialize(_) => Class::Invalid,
        }
    }
}

/// Where Kafka had the delivery: Dapr's `__partition` and `__offset` metadata (headers of a
/// single delivery, `metadata` of a bulk entry).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    /// The partition of the original topic.
    pub partition: Option<i32>,
    /// The offset in it.
    pub offset: Option<i64>,
}

impl Position {
    /// The position given by metadata values (`None` when absent or unreadable).
    pub fn from_metadata(partition: Option<&str>, offset: Option<&str>) -> Position {
        Position {
            partition: partition.and_then(|p| p.trim().parse().ok()),
            offset: offset.and_then(|o| o.trim().parse().ok()),
        }
    }
}

/// One event a consumer gives up on (or counts a failed attempt of).
#[derive(Debug, Clone, PartialEq)]
pub struct Letter {
    /// The event id when readable, else `sha256:<hex>` of the payload: the row's key.
    pub key: String,
    /// The readable parts of the payload, for the operator.
    pub event_id: Option<Uuid>,
    /// Its `event_type`, when readable.
    pub event_type: Option<String>,
    /// Its `schema_version`, when readable.
    pub schema_version: Option<String>,
    /// Its `task_id`, when readable.
    pub task_id: Option<Uuid>,
    /// Its `user_id`, when readable.
    pub user_id: Option<String>,
    /// Why, for a person.
    pub reason: String,
    /// Why, as a label.
    pub class: Class,
    /// Dead now (refused) rather than one more failed attempt.
    pub refused: bool,
    /// Where Kafka had it.
    pub position: Position,
    /// The delivery exactly as received.
    pub payload: Vec<u8>,
    /// The event object in it (a CloudEvent's `data`), when it has one with an `event_id`.
    pub event: Option<Value>,
}

impl Letter {
    /// An event refused at once: dead now.
    pub fn refused(payload: &[u8], class: Class, reason: String, position: Position) -> Letter {
        Letter::new(payload, class, reason, true, position)
    }

    /// A failed attempt at an event: dead at [`MAX_ATTEMPTS`] with "retries exhausted: <error>".
    pub fn failed(payload: &[u8], error: &str, position: Position) -> Letter {
        let reason = format!("retries exhausted: {error}");
        Letter::new(payload, Class::Exhausted, reason, false, position)
    }

    fn new(
        payload: &[u8],
        class: Class,
        reason: String,
        refused: bool,
        position: Position,
    ) -> Letter {
        let event = todo_events::peek(payload);
        let text = |name: &str| -> Option<String> {
            event
                .as_ref()
                .and_then(|e| e.get(name))
                .and_then(Value::as_str)
                .map(|s| s.chars().take(200).collect())
        };
        let uuid = |name: &str| text(name).and_then(|s| Uuid::parse_str(&s).ok());
        let event_id = uuid("event_id");
        let key = match (event_id, cloud_event_id(payload)) {
            (Some(id), _) => id.to_string(),
            (None, Some(ce)) => format!("ce:{ce}"),
            (None, None) => format!("sha256:{}", hex(&Sha256::digest(payload))),
        };
        Letter {
            key,
            event_id,
            event_type: text("event_type"),
            schema_version: text("schema_version"),
            task_id: uuid("task_id"),
            user_id: text("user_id"),
            reason: reason.chars().take(2000).collect(),
            class,
            refused,
            position,
            payload: payload.to_vec(),
            event: event.clone().filter(|_| event_id.is_some()),
        }
    }

    fn row(&self) -> Value {
        json!({
            "key": self.key,
            "event_id": self.event_id.map(|u| u.to_string()),
            "event_type": self.event_type,
            "schema_version": self.schema_version,
            "task_id": self.task_id.map(|u| u.to_string()),
            "user_id": self.user_id,
            "reason": self.reason,
            "reason_class": self.class.as_str(),
            "refused": self.refused,
            "kafka_partition": self.position.partition,
            "kafka_offset": self.position.offset,
            "payload": base64::engine::general_purpose::STANDARD.encode(&self.payload),
            "event": self.event,
        })
    }
}

/// The `id` of a CloudEvent (a JSON object with `specversion`): stable however Dapr re-encodes
/// the envelope, so the consumer and the dead-letters service key a payload without an event id
/// alike.
fn cloud_event_id(payload: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("specversion")?;
    let id = v.get("id")?.as_str()?;
    (!id.is_empty() && id.len() <= 200).then(|| id.to_owned())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The one statement that records `letters` of `topic` for `consumer`: upserts their rows (a
/// refused letter is dead; a failed one counts an attempt and is dead at [`MAX_ATTEMPTS`]; a
/// letter of a re-driven row starts counting again) and adds `dead_letters_total` for the rows
/// that became dead in it. Row: `{"dead": [keys dead now]}`.
pub fn record<'a>(
    topic: &str,
    consumer: &str,
    letters: impl IntoIterator<Item = &'a Letter>,
) -> Statement {
    let mut b = Binder::default();
    let t = b.str(topic);
    let c = b.str(consumer);
    let rows = b.jsonb(&Value::Array(
        letters.into_iter().map(Letter::row).collect(),
    ));
    // A new row is dead when refused (or at a first attempt that is the last); an existing one
    // when the new letter is (EXCLUDED.state) or its attempts, counted in the row as it is now
    // (a concurrent statement's count included), reach the cap.
    let new_state =
        format!("CASE WHEN l.refused OR 1 >= {MAX_ATTEMPTS} THEN 'dead' ELSE 'retrying' END");
    let attempts = "CASE WHEN d.state = 'redriven' THEN 1 ELSE d.attempts + 1 END";
    let dies = format!("EXCLUDED.state = 'dead' OR {attempts} >= {MAX_ATTEMPTS}");
    let sql = format!(
        "WITH l AS (SELECT DISTINCT ON (key) * FROM jsonb_to_recordset({rows}) AS x(key text, \
         event_id uuid, event_type text, schema_version text, task_id uuid, user_id text, \
         reason text, reason_class text, refused boolean, kafka_partition integer, \
         kafka_offset bigint, payload text, event jsonb) ORDER BY key), \
         prev AS (SELECT d.key, d.state FROM dead_letters d \
         WHERE d.topic = {t} AND d.consumer = {c} AND d.key IN (SELECT key FROM l)), \
         u AS (INSERT INTO dead_letters AS d (topic, consumer, key, event_id, event_type, \
         schema_version, task_id, user_id, reason, reason_class, state, attempts, dead_since, \
         kafka_partition, kafka_offset, payload, event) \
         SELECT {t}, {c}, l.key, l.event_id, l.event_type, l.schema_version, l.task_id, \
         l.user_id, l.reason, l.reason_class, {new_state}, 1, \
         CASE WHEN {new_state} = 'dead' THEN now() END, \
         l.kafka_partition, l.kafka_offset, decode(l.payload, 'base64'), l.event FROM l ORDER BY l.key \
         ON CONFLICT (topic, consumer, key) DO UPDATE SET \
         attempts = {attempts}, \
         state = CASE WHEN {dies} THEN 'dead' ELSE 'retrying' END, \
         dead_since = CASE WHEN d.state = 'dead' THEN d.dead_since WHEN {dies} THEN now() END, \
         reason = EXCLUDED.reason, reason_class = EXCLUDED.reason_class, last_seen = now(), \
         event_type = COALESCE(EXCLUDED.event_type, d.event_type), \
         schema_version = COALESCE(EXCLUDED.schema_version, d.schema_version), \
         kafka_partition = COALESCE(EXCLUDED.kafka_partition, d.kafka_partition), \
         kafka_offset = COALESCE(EXCLUDED.kafka_offset, d.kafka_offset), \
         payload = EXCLUDED.payload, event = EXCLUDED.event \
         RETURNING d.key, d.state, d.reason_class), \
         newly AS (SELECT u.reason_class, count(*) AS n FROM u LEFT JOIN prev USING (key) \
         WHERE u.state = 'dead' AND prev.state IS DISTINCT FROM 'dead' GROUP BY 1), \
         m AS (INSERT INTO metric_counters AS mc (name, labels, value) \
         SELECT '{DEAD_LETTERS}', jsonb_build_object('topic', {t}, 'consumer', {c}, \
         'reason', newly.reason_class), newly.n FROM newly ORDER BY 2 \
         ON CONFLICT (name, labels) DO UPDATE SET value = mc.value + EXCLUDED.value) \
         SELECT jsonb_build_object('dead', COALESCE((SELECT jsonb_agg(key ORDER BY key) \
         FROM u WHERE state = 'dead'), '[]'::jsonb))::text"
    );
    b.finish(sql)
}

/// What [`record`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Recorded {
    /// The keys that are dead now (answer DROP for them).
    pub dead: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"specversion":"1.0","data":{"event_id":"0b6cbb4e-6c8a-4a57-9b64-7f0cf4a7c1a2","event_type":"task.created","schema_version":"2.0.0","task_id":"5d1c5d0e-58a5-4b43-8a2c-1c38c0cf1d11","user_id":"alice"}}"#;

    #[test]
    fn a_readable_event_is_keyed_by_its_id_and_anything_else_by_its_hash() {
        let l = Letter::refused(
            EVENT.as_bytes(),
            Class::BadVersion,
            "unknown MAJOR".into(),
            Position::from_metadata(Some("2"), Some("41")),
        );
        assert_eq!(l.key, "0b6cbb4e-6c8a-4a57-9b64-7f0cf4a7c1a2");
        assert_eq!(l.event_type.as_deref(), Some("task.created"));
        assert_eq!(l.schema_version.as_deref(), Some("2.0.0"));
        assert_eq!(l.user_id.as_deref(), Some("alice"));
        assert_eq!(l.position.partition, Some(2));
        assert_eq!(l.position.offset, Some(41));
        let ce = Letter::refused(
            br#"{"specversion":"1.0","id":"abc","data":"text"}"#,
            Class::BadEnvelope,
            "x".into(),
            Position::default(),
        );
        assert_eq!(ce.key, "ce:abc", "a CloudEvent without an event id: its id");
        let garbage = Letter::refused(
            b"\xff not json",
            Class::NotJson,
            "x".into(),
            Position::default(),
        );
        assert!(garbage.key.starts_with("sha256:"), "{}", garbage.key);
        assert_eq!(garbage.key.len(), "sha256:".len() + 64);
        assert_eq!(garbage.event_id, None);
        let f = Letter::failed(b"{}", "the statement failed", Position::default());
        assert_eq!(f.reason, "retries exhausted: the statement failed");
        assert_eq!(f.class, Class::Exhausted);
        assert!(!f.refused);
    }

    #[test]
    fn the_payload_travels_as_base64_and_the_statement_binds_topic_and_consumer() {
        let l = Letter::refused(
            b"\x00\x01",
            Class::NotJson,
            "not JSON".into(),
            Position::default(),
        );
        assert_eq!(l.row()["payload"], "AAE=");
        let st = record("task-events", "audit", &[l]);
        assert_eq!(st.params[0], json!("task-events"));
        assert_eq!(st.params[1], json!("audit"));
        assert!(st.sql.contains("dead_letters_total"), "{}", st.sql);
    }

    #[test]
    fn positions_that_do_not_parse_are_unknown() {
        assert_eq!(
            Position::from_metadata(Some("x"), None),
            Position::default()
        );
    }
}
