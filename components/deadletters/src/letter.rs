//! A message of a dead-letter topic, read (pure: unit-tested natively).

use base64::Engine;
use serde_json::Value;
use todo_consumer::deadletter::{Class, Letter, Position};
use todo_sql::{Binder, Statement};

/// What the service knows of one dead-letter message.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadMessage {
    /// The original topic (the dead-letter topic without `.dlq`).
    pub topic: String,
    /// Its dead letter if no consumer recorded one: the Kafka value exactly, keyed as the
    /// consumers key theirs, with the reason it is recorded under.
    pub letter: Letter,
}

/// Reads a `rawPayload` delivery at `position`: a CloudEvent whose `data_base64` is the message's
/// value and whose `topic` is the dead-letter topic. A body of another shape is kept as it is.
pub fn read(body: &[u8], position: Position) -> DeadMessage {
    let envelope: Option<Value> = serde_json::from_slice(body).ok();
    let dlq = envelope
        .as_ref()
        .and_then(|e| e["topic"].as_str())
        .unwrap_or("unknown.dlq");
    let topic = dlq.strip_suffix(".dlq").unwrap_or(dlq).to_owned();
    let payload = envelope
        .as_ref()
        .and_then(|e| e["data_base64"].as_str())
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .unwrap_or_else(|| body.to_vec());
    let reason = if serde_json::from_slice::<Value>(&payload)
        .ok()
        .is_some_and(|v| v.get("specversion").is_some())
    {
        format!("in {dlq} with no consumer's record of why (a sidecar dead-lettered it)")
    } else {
        format!("not a CloudEvent: a sidecar dead-lettered it to {dlq} before any consumer read it")
    };
    DeadMessage {
        topic,
        letter: Letter::refused(&payload, Class::Undeliverable, reason, position),
    }
}

/// Marks the consumers' rows of (`topic`, `key`) seen in the dead-letter topic.
/// Row: `{"matched": n}`.
pub fn seen(topic: &str, key: &str) -> Statement {
    let mut b = Binder::default();
    let t = b.str(topic);
    let k = b.str(key);
    b.finish(format!(
        "WITH u AS (UPDATE dead_letters SET dlq_seen_at = now() WHERE topic = {t} AND key = {k} \
         AND consumer <> '' RETURNING 1) \
         SELECT jsonb_build_object('matched', (SELECT count(*) FROM u))::text"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery(topic: &str, value: &[u8]) -> Vec<u8> {
        json!({"specversion": "1.0", "id": "x", "topic": topic,
               "data_base64": base64::engine::general_purpose::STANDARD.encode(value)})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_dead_cloud_event_is_keyed_like_its_consumer_keyed_it() {
        let ev = br#"{"specversion":"1.0","id":"ce-1","data":{"event_id":"0b6cbb4e-6c8a-4a57-9b64-7f0cf4a7c1a2"}}"#;
        let m = read(&delivery("task-events.dlq", ev), Position::default());
        assert_eq!(m.topic, "task-events");
        assert_eq!(m.letter.payload, ev.to_vec());
        assert_eq!(m.letter.key, "0b6cbb4e-6c8a-4a57-9b64-7f0cf4a7c1a2");
        let text = br#"{"specversion":"1.0","id":"ce-2","data":"not json"}"#;
        let at = Position::from_metadata(Some("1"), Some("9"));
        let m = read(&delivery("reminders.dlq", text), at);
        assert_eq!((m.letter.key.as_str(), m.letter.position), ("ce:ce-2", at));
    }

    #[test]
    fn raw_bytes_are_kept_exactly_and_said_to_be_no_cloud_event() {
        let raw = b"\x00\xffnot a cloud event";
        let m = read(&delivery("task-updates.dlq", raw), Position::default());
        assert_eq!(
            (m.topic.as_str(), m.letter.payload.as_slice()),
            ("task-updates", &raw[..])
        );
        let l = &m.letter;
        assert!(l.key.starts_with("sha256:"));
        assert!(l.reason.starts_with("not a CloudEvent"), "{}", l.reason);
        assert!(seen("task-updates", &l.key).sql.contains("consumer <> ''"));
    }
}
