//! The consumer path: unwrap, check the version policy, validate, deserialise, decide.

use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::envelope::{unwrap, CloudEventInfo};
use crate::event::Event;
use crate::schema::{EventSchema, ValidationError};
use crate::stats::{count_accepted, log_drop, report_mismatch};
use crate::version::{VersionError, VersionStatus};

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
/// the schema of `E`'s topic. Version mismatches and drops are counted and logged to stderr.
pub fn decode<E: Event>(body: &[u8]) -> Result<Decoded<E>, DecodeError> {
    EventSchema::of(E::TOPIC).decode(body)
}

/// [`decode`] for a body already parsed, e.g. the `event` of a bulk-subscribe entry.
pub fn decode_value<E: Event>(body: Value) -> Result<Decoded<E>, DecodeError> {
    EventSchema::of(E::TOPIC).decode_value(body)
}

/// The consumer path, shared by the embedded topics ([`decode`]) and by any schema a caller
/// supplies ([`EventSchema::new`]): one code path, whichever schema it is built with.
impl EventSchema {
    /// [`decode`] as a consumer built with this schema: unwrap the envelope, apply this schema's
    /// version policy ([`EventSchema::check_version`]) and the schema, deserialise into `E`
    /// (unknown fields are ignored); count and log mismatches and drops.
    pub fn decode<E: DeserializeOwned>(&self, body: &[u8]) -> Result<Decoded<E>, DecodeError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(value) => self.decode_value(value),
            Err(e) => {
                let error = DecodeError::NotJson(e.to_string());
                log_drop(self.name(), "-", &error.to_string());
                Err(error)
            }
        }
    }

    /// [`EventSchema::decode`] for a body already parsed.
    pub fn decode_value<E: DeserializeOwned>(
        &self,
        body: Value,
    ) -> Result<Decoded<E>, DecodeError> {
        self.consume(body, |event| {
            serde_json::from_value(event).map_err(|e| DecodeError::Deserialize(e.to_string()))
        })
    }

    /// The consumer's decision without a Rust type: the same path as [`EventSchema::decode`]
    /// (envelope, version policy, schema, counting and logging), answering the event object as
    /// received (unknown fields kept). This is what a consumer built with this schema accepts.
    pub fn accept(&self, body: Value) -> Result<Decoded<Value>, DecodeError> {
        self.consume(body, Ok)
    }

    /// The version policy, then the schema, applied to an event object (no envelope).
    pub fn check(&self, event: &Value) -> Result<VersionStatus, DecodeError> {
        let version = match event.get("schema_version") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) => Some(text.as_str()),
            Some(other) => return Err(VersionError::Invalid(other.to_string()).into()),
        };
        let status = self.check_version(version)?;
        self.validate(event)?;
        Ok(status)
    }

    fn consume<T>(
        &self,
        body: Value,
        parse: impl FnOnce(Value) -> Result<T, DecodeError>,
    ) -> Result<Decoded<T>, DecodeError> {
        let ce_id = body.get("id").and_then(Value::as_str).map(str::to_owned);
        let (event, cloud_event) = match unwrap(body) {
            Ok(parts) => parts,
            Err(reason) => {
                let error = DecodeError::Envelope(reason);
                let id = ce_id.as_deref().unwrap_or("-");
                log_drop(self.name(), id, &error.to_string());
                return Err(error);
            }
        };
        let event_id = event
            .get("event_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(ce_id)
            .unwrap_or_else(|| "-".to_owned());
        let found = event
            .get("schema_version")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        match self
            .check(&event)
            .and_then(|version| Ok((parse(event)?, version)))
        {
            Ok((parsed, version)) => {
                count_accepted();
                if version.is_mismatch() {
                    report_mismatch(self.name(), &event_id, &found, self.version());
                }
                Ok(Decoded {
                    event: parsed,
                    version,
                    cloud_event,
                })
            }
            Err(error) => {
                log_drop(self.name(), &event_id, &error.to_string());
                Err(error)
            }
        }
    }
}

/// The event object of a delivery body, unwrapped from its envelope by the decoder's own rules,
/// without the version policy or the schema: what a refused delivery says about itself (its
/// `schema_version`, for counting). `None` when the body has no event object (not JSON, a bad
/// envelope). Nothing is counted or logged.
pub fn peek(body: &[u8]) -> Option<Value> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    unwrap(value).ok().map(|(event, _)| event)
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
    use crate::{
        counters, ReminderEvent, SchemaError, TaskEvent, TaskEventType, TaskUpdate, Topic,
    };
    use base64::Engine;

    const EXAMPLE: &str =
        include_str!("../../../contracts/events/examples/task-events/valid/task-created-optional-fields-null.json");

    fn example() -> Value {
        serde_json::from_str(EXAMPLE).unwrap()
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
        let mut event = example();
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
        let decoded = decode::<TaskEvent>(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(decoded.event.event_type, TaskEventType::Created);
        assert_eq!(decoded.event.task_data.recurrence_id, None);
        assert_eq!(decoded.version, VersionStatus::Current);
        assert_eq!(decoded.cloud_event, None);
        assert_eq!(decoded.decision(), Decision::Success);
    }

    #[test]
    fn cloud_event_with_object_data() {
        let decoded = decode::<TaskEvent>(&cloud_event("data", example())).unwrap();
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
        let decoded = decode::<TaskEvent>(&cloud_event("data", json!(EXAMPLE))).unwrap();
        assert_eq!(decoded.event.task_data.title, "Buy milk");
    }

    #[test]
    fn cloud_event_with_base64_data() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(EXAMPLE);
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
            serde_json::to_vec(&json!({"specversion": "2.0", "data": example()})).unwrap(),
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
    fn peek_unwraps_like_the_decoder_without_judging() {
        let mut invalid = example();
        invalid["task_data"]["title"] = json!("");
        invalid["schema_version"] = json!("7.1.0");
        for body in [
            serde_json::to_vec(&invalid).unwrap(),
            cloud_event("data", invalid.clone()),
            cloud_event("data", json!(invalid.to_string())),
        ] {
            assert_eq!(peek(&body), Some(invalid.clone()));
        }
        assert_eq!(peek(b"not json"), None);
        assert_eq!(peek(&cloud_event("data", json!(42))), None);
    }

    #[test]
    fn version_1_1_0_is_current_and_1_0_0_an_older_minor() {
        let decoded = decode::<TaskEvent>(&with_version("1.1.0")).unwrap();
        assert_eq!(decoded.version, VersionStatus::Current);
        let before = counters().version_mismatches;
        let decoded = decode::<TaskEvent>(&with_version("1.0.0")).unwrap();
        assert_eq!(decoded.version, VersionStatus::OlderMinor);
        assert_eq!(decoded.decision(), Decision::Success);
        assert!(counters().version_mismatches > before);
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
        let mut event = example();
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
        let mut event = example();
        event["task_data"]["title"] = json!("");
        let Err(DecodeError::Invalid(error)) = decode_value::<TaskEvent>(event) else {
            panic!("an invalid event was accepted");
        };
        assert!(error.has("/task_data/title", "minLength"), "{error}");
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let mut event = example();
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
        assert!(decode::<ReminderEvent>(EXAMPLE.as_bytes()).is_err());
        assert!(decode::<TaskUpdate>(EXAMPLE.as_bytes()).is_err());
    }

    #[test]
    fn handle_runs_the_processor_only_for_accepted_events() {
        let decision = handle::<TaskEvent>(EXAMPLE.as_bytes(), |decoded| {
            assert_eq!(decoded.event.task_data.title, "Buy milk");
            Decision::Retry
        });
        assert_eq!(decision, Decision::Retry);
        let decision = handle::<TaskEvent>(&with_version("2.0.0"), |_| {
            panic!("processor called for a dropped event")
        });
        assert_eq!(decision, Decision::Drop);
    }

    #[test]
    fn optional_fields_absent_or_null_decode_to_their_defaults() {
        let full = example();
        let mut absent = full.clone();
        let data = absent["task_data"].as_object_mut().unwrap();
        data.retain(|k, _| ["title", "completed", "priority"].contains(&k.as_str()));
        let mut null = absent.clone();
        for key in [
            "description",
            "tags",
            "due_date",
            "timezone",
            "recurrence",
            "reminders",
            "recurrence_id",
            "parent_task_id",
            "created_at",
            "updated_at",
        ] {
            null["task_data"][key] = Value::Null;
        }
        for event in [absent, null] {
            let data = decode_value::<TaskEvent>(event.clone())
                .unwrap()
                .event
                .task_data;
            assert_eq!(data.title, "Buy milk");
            assert!(data.tags.is_empty() && data.reminders.is_empty(), "{event}");
            assert_eq!((data.created_at, data.updated_at), (None, None));
            assert_eq!((data.description, data.due_date), (None, None));
            assert_eq!((data.timezone, data.recurrence), (None, None));
            assert_eq!((data.recurrence_id, data.parent_task_id), (None, None));
        }
    }

    #[test]
    fn a_required_field_missing_is_dropped_naming_it() {
        for field in ["title", "completed", "priority"] {
            let mut event = example();
            event["task_data"].as_object_mut().unwrap().remove(field);
            let Err(DecodeError::Invalid(error)) = decode_value::<TaskEvent>(event) else {
                panic!("an event without task_data.{field} was accepted");
            };
            assert!(
                error.has(&format!("/task_data/{field}"), "required"),
                "{error}"
            );
        }
    }

    /// The task-events schema with `patch` applied to its `task_data` and version `version`.
    fn schema_with(version: &str, patch: impl FnOnce(&mut Value)) -> EventSchema {
        let mut doc: Value = serde_json::from_str(Topic::TaskEvents.schema_json()).unwrap();
        doc["x-schema-version"] = json!(version);
        patch(&mut doc["$defs"]["task_data"]);
        EventSchema::new(format!("task-events@{version}"), &doc).unwrap()
    }

    #[test]
    fn a_consumer_can_be_built_with_another_schema() {
        let v1_1 = schema_with("1.1.0", |data| {
            data["properties"]["assignee"] =
                json!({"type": ["string", "null"], "description": "x"});
        });
        assert_eq!(
            (v1_1.name(), v1_1.version()),
            ("task-events@1.1.0", "1.1.0")
        );
        // a 1.1 consumer accepts a 1.0 event (older MINOR) ...
        let v1_0 = with_version_value("1.0.0");
        let old = v1_1.accept(v1_0.clone()).unwrap();
        assert_eq!(old.version, VersionStatus::OlderMinor);
        assert_eq!(old.event, v1_0, "the event as received");
        // ... and a 1.1 event, typed, ignoring what its type does not know
        let mut new = example();
        new["schema_version"] = json!("1.1.0");
        new["task_data"]["assignee"] = json!("user-456");
        let decoded = v1_1.decode_value::<TaskEvent>(new.clone()).unwrap();
        assert_eq!(decoded.version, VersionStatus::Current);
        assert_eq!(v1_1.accept(new.clone()).unwrap().event, new);
        // its schema applies: an assignee that is not a string is dropped
        new["task_data"]["assignee"] = json!(7);
        let Err(DecodeError::Invalid(error)) = v1_1.accept(new) else {
            panic!("an invalid 1.1 event was accepted");
        };
        assert!(error.has("/task_data/assignee", "type"), "{error}");
        assert!(
            error
                .to_string()
                .starts_with("invalid task-events@1.1.0 event"),
            "{error}"
        );

        // a 2.0 consumer drops a 1.0 event for its MAJOR, before looking at it
        let v2 = schema_with("2.0.0", |_| {});
        let error = v2.accept(example()).unwrap_err();
        assert!(
            matches!(&error, DecodeError::Version(VersionError::UnknownMajor { known, .. }) if known == "2.0.0"),
            "{error}"
        );
    }

    #[test]
    fn the_embedded_path_is_the_same_path() {
        let embedded = EventSchema::of(Topic::TaskEvents);
        assert_eq!(
            (embedded.name(), embedded.version()),
            ("task-events", "1.1.0")
        );
        let doc: Value = serde_json::from_str(Topic::TaskEvents.schema_json()).unwrap();
        let built = EventSchema::new("task-events", &doc).unwrap();
        for body in [example(), with_version_value("2.0.0"), json!({"x": 1})] {
            let a = embedded
                .accept(body.clone())
                .map(|d| d.version)
                .map_err(|e| e.to_string());
            let b = built
                .accept(body.clone())
                .map(|d| d.version)
                .map_err(|e| e.to_string());
            let c = decode_value::<TaskEvent>(body)
                .map(|d| d.version)
                .map_err(|e| e.to_string());
            assert_eq!(a, b);
            assert_eq!(a, c);
        }
    }

    fn with_version_value(version: &str) -> Value {
        let mut event = example();
        event["schema_version"] = json!(version);
        event
    }

    #[test]
    fn unusable_schemas_are_errors() {
        let no_version = json!({"type": "object"});
        assert!(matches!(
            EventSchema::new("x", &no_version),
            Err(SchemaError::MissingVersion { .. })
        ));
        let bad_version = json!({"type": "object", "x-schema-version": "1.0"});
        assert!(matches!(
            EventSchema::new("x", &bad_version),
            Err(SchemaError::BadVersion { .. })
        ));
        let broken = json!({"type": 12, "x-schema-version": "1.0.0"});
        assert!(matches!(
            EventSchema::new("x", &broken),
            Err(SchemaError::Compile { .. })
        ));
    }

    #[test]
    fn the_seeds_events_are_consumed_as_written() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../contracts/events/examples/task-events"
        );
        let read = |name: &str| std::fs::read(format!("{dir}/{name}")).unwrap();
        for name in [
            "valid/seed-contract-test-task-created.json",
            "valid/seed-integration-test-task-created.json",
        ] {
            // 1.0.0 events: an older MINOR since task-events 1.1.0, accepted
            let decoded = decode::<TaskEvent>(&read(name)).unwrap();
            assert_eq!(decoded.version, VersionStatus::OlderMinor, "{name}");
        }
        // the seed's 1.1.0 (with its `assignee`, unknown to our 1.1.0) is the current MINOR
        let seed_1_1 =
            decode::<TaskEvent>(&read("valid/seed-schema-evolution-1.1.0-task-created.json"));
        assert_eq!(seed_1_1.unwrap().version, VersionStatus::Current);
        for name in [
            "invalid/seed-contract-test-missing-required-fields.json",
            "invalid/seed-schema-evolution-2.0.0-task-created.json",
        ] {
            assert_eq!(
                handle::<TaskEvent>(&read(name), |_| Decision::Success),
                Decision::Drop,
                "{name}"
            );
        }
    }
}
