//! The consumer path: unwrap, check the version policy, validate, deserialise, decide.

use serde_json::{json, Value};

use crate::envelope::{unwrap, CloudEventInfo};
use crate::event::Event;
use crate::schema::{validate, ValidationError};
use crate::stats::{count_accepted, report_drop, report_mismatch};
use crate::version::{check_version, VersionError, VersionStatus};

/// What to answer Dapr for a delivered event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Processed (or a harmless duplicate): acknowledge.
    Success,
    /// A transient failure (e.g. the database is unreachable): Dapr redelivers, within the
    /// Resiliency policy's bounded retries.
    Retry,
    /// Never processable (invalid, unknown MAJOR): Dapr moves it to the dead-letter topic.
    Drop,
}

impl Decision {
    /// The status string Dapr expects: `SUCCESS`, `RETRY` or `DROP` (case-sensitive).
    pub fn status(self) -> &'static str {
        match self {
            Decision::Success => "SUCCESS",
            Decision::Retry => "RETRY",
            Decision::Drop => "DROP",
        }
    }

    /// The reply body for Dapr: exactly `{"status":"SUCCESS"}`, `{"status":"RETRY"}` or
    /// `{"status":"DROP"}`, sent with HTTP 200.
    pub fn dapr_reply(self) -> Value {
        json!({ "status": self.status() })
    }

    /// [`Decision::dapr_reply`] serialised, ready to be an HTTP response body.
    pub fn dapr_reply_body(self) -> Vec<u8> {
        format!("{{\"status\":\"{}\"}}", self.status()).into_bytes()
    }
}

/// An accepted event.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<E> {
    /// The event.
    pub event: E,
    /// How its `schema_version` relates to the known one (a mismatch was already counted).
    pub version: VersionStatus,
    /// The CloudEvent attributes, if the body was an envelope.
    pub cloud_event: Option<CloudEventInfo>,
}

impl<E> Decoded<E> {
    /// Always [`Decision::Success`] for the decoding step; the application decides after processing.
    pub fn decision(&self) -> Decision {
        Decision::Success
    }
}

/// Why a delivered event was refused. Every variant means [`Decision::Drop`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not JSON.
    #[error("body is not JSON: {0}")]
    NotJson(String),
    /// The body is neither a usable CloudEvent envelope nor an event object.
    #[error("bad envelope: {0}")]
    Envelope(String),
    /// The `schema_version` is missing, invalid or of an unknown MAJOR.
    #[error(transparent)]
    Version(#[from] VersionError),
    /// The event breaks its topic's schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The event matches the schema but not the Rust type (a bug: the agreement test guards it).
    #[error("event does not deserialise: {0}")]
    Deserialize(String),
}

impl DecodeError {
    /// What to answer Dapr: always [`Decision::Drop`], so the event lands in the dead-letter topic.
    pub fn decision(&self) -> Decision {
        Decision::Drop
    }
}

/// Decodes a delivery body (a CloudEvent 1.0 envelope with `data` as an object or a JSON
/// string, or with `data_base64`; or a bare event) into `E`, applying the version policy and
/// the schema. Version mismatches and drops are counted and logged to stderr.
pub fn decode<E: Event>(body: &[u8]) -> Result<Decoded<E>, DecodeError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) => decode_value(value),
        Err(e) => {
            let error = DecodeError::NotJson(e.to_string());
            report_drop(E::TOPIC, "-", &error.to_string());
            Err(error)
        }
    }
}

/// [`decode`] for a body already parsed, e.g. the `event` of a bulk-subscribe entry.
pub fn decode_value<E: Event>(body: Value) -> Result<Decoded<E>, DecodeError> {
    let ce_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
    let (event, cloud_event) = match unwrap(body) {
        Ok(parts) => parts,
        Err(reason) => {
            let error = DecodeError::Envelope(reason);
            report_drop(
                E::TOPIC,
                ce_id.as_deref().unwrap_or("-"),
                &error.to_string(),
            );
            return Err(error);
        }
    };
    let event_id = event
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(ce_id)
        .unwrap_or_else(|| "-".to_owned());
    match check_and_parse::<E>(&event) {
        Ok((parsed, version)) => {
            count_accepted();
            if version.is_mismatch() {
                let found = event["schema_version"].as_str().unwrap_or("?");
                report_mismatch(E::TOPIC, &event_id, found);
            }
            Ok(Decoded {
                event: parsed,
                version,
                cloud_event,
            })
        }
        Err(error) => {
            report_drop(E::TOPIC, &event_id, &error.to_string());
            Err(error)
        }
    }
}

fn check_and_parse<E: Event>(event: &Value) -> Result<(E, VersionStatus), DecodeError> {
    let version = match event.get("schema_version") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.as_str()),
        Some(other) => return Err(VersionError::Invalid(other.to_string()).into()),
    };
    let status = check_version(E::TOPIC, version)?;
    validate(E::TOPIC, event)?;
    let parsed = E::deserialize(event).map_err(|e| DecodeError::Deserialize(e.to_string()))?;
    Ok((parsed, status))
}

/// Decodes `body` and, if accepted, runs `process` on it; the result is the answer for Dapr.
/// A refused event answers [`Decision::Drop`] without calling `process`.
pub fn handle<E: Event>(body: &[u8], process: impl FnOnce(Decoded<E>) -> Decision) -> Decision {
    match decode::<E>(body) {
        Ok(decoded) => process(decoded),
        Err(error) => error.decision(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{counters, ReminderEvent, TaskEvent, TaskEventType, TaskUpdate};
    use base64::Engine;

    const SEED: &str =
        include_str!("../../../contracts/events/examples/task-events/valid/seed-task-created.json");

    fn seed() -> Value {
        serde_json::from_str(SEED).unwrap()
    }

    fn cloud_event(data_field: &str, data: Value) -> Vec<u8> {
        let mut envelope = json!({
            "specversion": "1.0",
            "id": "ce-1",
            "source": "task-api",
            "type": "com.dapr.event.sent",
            "datacontenttype": "application/json",
            "topic": "task-events",
            "pubsubname": "pubsub",
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "time": "2026-05-01T08:00:01Z",
        });
        envelope[data_field] = data;
        serde_json::to_vec(&envelope).unwrap()
    }

    fn with_version(version: &str) -> Vec<u8> {
        let mut event = seed();
        event["schema_version"] = json!(version);
        serde_json::to_vec(&event).unwrap()
    }

    #[test]
    fn replies_are_exactly_what_dapr_expects() {
        assert_eq!(Decision::Success.dapr_reply(), json!({"status": "SUCCESS"}));
        assert_eq!(Decision::Retry.dapr_reply(), json!({"status": "RETRY"}));
        assert_eq!(Decision::Drop.dapr_reply(), json!({"status": "DROP"}));
        for d in [Decision::Success, Decision::Retry, Decision::Drop] {
            assert_eq!(
                d.dapr_reply_body(),
                serde_json::to_vec(&d.dapr_reply()).unwrap()
            );
        }
        assert_eq!(Decision::Drop.dapr_reply_body(), br#"{"status":"DROP"}"#);
    }

    #[test]
    fn bare_event() {
        let decoded = decode::<TaskEvent>(SEED.as_bytes()).unwrap();
        assert_eq!(decoded.event.event_type, TaskEventType::Created);
        assert_eq!(decoded.event.task_data.recurrence_id, None);
        assert_eq!(decoded.version, VersionStatus::Current);
        assert_eq!(decoded.cloud_event, None);
        assert_eq!(decoded.decision(), Decision::Success);
    }

    #[test]
    fn cloud_event_with_object_data() {
        let decoded = decode::<TaskEvent>(&cloud_event("data", seed())).unwrap();
        assert_eq!(decoded.event.user_id, "user-42");
        let ce = decoded.cloud_event.unwrap();
        assert_eq!(ce.id.as_deref(), Some("ce-1"));
        assert_eq!(ce.source.as_deref(), Some("task-api"));
        assert_eq!(ce.ce_type.as_deref(), Some("com.dapr.event.sent"));
        assert_eq!(ce.topic.as_deref(), Some("task-events"));
        assert_eq!(ce.pubsubname.as_deref(), Some("pubsub"));
        assert!(ce.traceparent.unwrap().starts_with("00-"));
    }

    #[test]
    fn cloud_event_with_string_data() {
        let decoded = decode::<TaskEvent>(&cloud_event("data", json!(SEED))).unwrap();
        assert_eq!(decoded.event.task_data.title, "Buy milk");
    }

    #[test]
    fn cloud_event_with_base64_data() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(SEED);
        let decoded = decode::<TaskEvent>(&cloud_event("data_base64", json!(encoded))).unwrap();
        assert_eq!(decoded.event.task_data.title, "Buy milk");
        assert!(decoded.cloud_event.is_some());
    }

    #[test]
    fn bad_envelopes_are_dropped() {
        let cases: Vec<Vec<u8>> = vec![
            b"not json".to_vec(),
            b"[1, 2]".to_vec(),
            cloud_event("data", json!(42)),
            cloud_event("data", json!("not json")),
            cloud_event("data", json!("[1]")),
            cloud_event("data_base64", json!("%%%")),
            cloud_event(
                "data_base64",
                json!(base64::engine::general_purpose::STANDARD.encode("x")),
            ),
            cloud_event("other", json!(null)),
            serde_json::to_vec(&json!({"specversion": "2.0", "data": seed()})).unwrap(),
        ];
        for body in cases {
            let before = counters().dropped;
            let error = decode::<TaskEvent>(&body).unwrap_err();
            assert!(
                matches!(error, DecodeError::NotJson(_) | DecodeError::Envelope(_)),
                "{error}"
            );
            assert_eq!(error.decision(), Decision::Drop);
            assert!(counters().dropped > before);
        }
    }

    #[test]
    fn version_1_0_0_is_current() {
        let decoded = decode::<TaskEvent>(&with_version("1.0.0")).unwrap();
        assert_eq!(decoded.version, VersionStatus::Current);
    }

    #[test]
    fn version_1_3_0_is_accepted_and_counted_as_mismatch() {
        let before = counters().version_mismatches;
        let decoded = decode::<TaskEvent>(&with_version("1.3.0")).unwrap();
        assert_eq!(decoded.version, VersionStatus::NewerMinor);
        assert_eq!(decoded.event.schema_version, "1.3.0");
        assert!(counters().version_mismatches > before);
    }

    #[test]
    fn version_2_0_0_is_dropped() {
        let before = counters().dropped;
        let error = decode::<TaskEvent>(&with_version("2.0.0")).unwrap_err();
        assert!(
            matches!(
                error,
                DecodeError::Version(VersionError::UnknownMajor { .. })
            ),
            "{error}"
        );
        assert_eq!(error.decision(), Decision::Drop);
        assert!(counters().dropped > before);
    }

    #[test]
    fn garbage_or_missing_version_is_dropped() {
        let error = decode::<TaskEvent>(&with_version("garbage")).unwrap_err();
        assert!(
            matches!(error, DecodeError::Version(VersionError::Invalid(_))),
            "{error}"
        );
        let mut event = seed();
        event["schema_version"] = json!(1);
        let error = decode_value::<TaskEvent>(event.clone()).unwrap_err();
        assert!(
            matches!(error, DecodeError::Version(VersionError::Invalid(_))),
            "{error}"
        );
        event.as_object_mut().unwrap().remove("schema_version");
        let error = decode_value::<TaskEvent>(event).unwrap_err();
        assert!(
            matches!(error, DecodeError::Version(VersionError::Missing)),
            "{error}"
        );
    }

    #[test]
    fn invalid_event_is_dropped_naming_the_field() {
        let mut event = seed();
        event["task_data"]["title"] = json!("");
        let Err(DecodeError::Invalid(error)) = decode_value::<TaskEvent>(event) else {
            panic!("an invalid event was accepted");
        };
        assert!(error.has("/task_data/title", "minLength"), "{error}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut event = seed();
        event["schema_version"] = json!("1.1.0");
        event["source_channel"] = json!("mcp");
        event["task_data"]["estimate_minutes"] = json!(25);
        event["task_data"]["priority"] = json!("urgent");
        let decoded = decode::<TaskEvent>(&cloud_event("data", event)).unwrap();
        assert_eq!(decoded.event.task_data.priority, crate::Priority::Urgent);
        let reencoded = serde_json::to_value(&decoded.event).unwrap();
        assert_eq!(reencoded.get("source_channel"), None);
    }

    #[test]
    fn event_for_another_topic_is_dropped() {
        assert!(decode::<ReminderEvent>(SEED.as_bytes()).is_err());
        assert!(decode::<TaskUpdate>(SEED.as_bytes()).is_err());
    }

    #[test]
    fn handle_runs_the_processor_only_for_accepted_events() {
        let decision = handle::<TaskEvent>(SEED.as_bytes(), |decoded| {
            assert_eq!(decoded.event.task_data.title, "Buy milk");
            Decision::Retry
        });
        assert_eq!(decision, Decision::Retry);
        let decision = handle::<TaskEvent>(&with_version("2.0.0"), |_| {
            panic!("processor called for a dropped event")
        });
        assert_eq!(decision, Decision::Drop);
    }
}
