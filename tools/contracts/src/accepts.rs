//! `todo-contracts accepts`: the consumer decision of a consumer built with a given schema.
//!
//! The decision is the services' own consumer path from the `todo-events` crate
//! ([`EventSchema::accept`] / [`EventSchema::decode_value`]): CloudEvent envelope or bare event,
//! the version policy of the schema's `x-schema-version` (any MINOR/PATCH of its MAJOR), the
//! schema itself (unknown fields allowed), and optionally the typed decoding into a topic's Rust
//! type. The property test of `tests/event_contracts/` feeds it generated events.

use serde_json::{json, Value};
use todo_events::{
    DecodeError, Decoded, EventSchema, ReminderEvent, TaskEvent, TaskUpdate, Topic, VersionStatus,
};

/// The decision on one input line, as one JSON object: `{"decision": "SUCCESS", "version":
/// "current" | "newer-minor" | "older-minor"}` for an accepted event, `{"decision": "DROP",
/// "reason": ...}` for a refused one (what the service answers Dapr). With `typed`, an accepted
/// event must also deserialise into that topic's Rust type.
pub fn decide(schema: &EventSchema, typed: Option<Topic>, line: &str) -> Value {
    let body: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return refused(&DecodeError::NotJson(e.to_string())),
    };
    let version = match typed {
        None => schema.accept(body).map(|d| d.version),
        Some(Topic::TaskEvents) => schema
            .decode_value(body)
            .map(|d: Decoded<TaskEvent>| d.version),
        Some(Topic::Reminders) => schema
            .decode_value(body)
            .map(|d: Decoded<ReminderEvent>| d.version),
        Some(Topic::TaskUpdates) => schema
            .decode_value(body)
            .map(|d: Decoded<TaskUpdate>| d.version),
    };
    match version {
        Ok(v) => json!({"decision": "SUCCESS", "version": version_name(v)}),
        Err(e) => refused(&e),
    }
}

fn refused(error: &DecodeError) -> Value {
    json!({"decision": error.decision().status(), "reason": error.to_string()})
}

fn version_name(v: VersionStatus) -> &'static str {
    match v {
        VersionStatus::Current => "current",
        VersionStatus::NewerMinor => "newer-minor",
        VersionStatus::OlderMinor => "older-minor",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(version: &str) -> EventSchema {
        let doc = json!({
            "type": "object",
            "x-schema-version": version,
            "required": ["schema_version", "n"],
            "properties": {"schema_version": {"type": "string"}, "n": {"type": "integer", "maximum": 3}}
        });
        EventSchema::new("t", &doc).unwrap()
    }

    #[test]
    fn decisions() {
        let s = schema("1.1.0");
        let d = |line: &str| decide(&s, None, line);
        assert_eq!(
            d(r#"{"schema_version": "1.1.0", "n": 1, "extra": true}"#),
            json!({"decision": "SUCCESS", "version": "current"})
        );
        assert_eq!(
            d(r#"{"schema_version": "1.0.0", "n": 1}"#)["version"],
            "older-minor"
        );
        assert_eq!(
            d(r#"{"schema_version": "1.4.2", "n": 1}"#)["version"],
            "newer-minor"
        );
        for bad in [
            r#"{"schema_version": "2.0.0", "n": 1}"#,
            r#"{"schema_version": "1.0.0", "n": 4}"#,
            r#"{"n": 1}"#,
            "not json",
        ] {
            let out = d(bad);
            assert_eq!(out["decision"], "DROP", "{bad}: {out}");
            assert!(out["reason"].as_str().is_some_and(|r| !r.is_empty()));
        }
    }

    #[test]
    fn typed_decoding_runs_after_the_schema() {
        let doc: Value = serde_json::from_str(Topic::TaskEvents.schema_json()).unwrap();
        let s = EventSchema::new("task-events", &doc).unwrap();
        let event = include_str!(
            "../../../contracts/events/examples/task-events/valid/seed-contract-test-task-created.json"
        )
        .replace('\n', " ");
        let typed = decide(&s, Some(Topic::TaskEvents), &event);
        // the seed's 1.0.0 event, an older MINOR since task-events 1.1.0
        assert_eq!(
            typed,
            json!({"decision": "SUCCESS", "version": "older-minor"})
        );
        // valid for the (untyped) schema but not a TaskEvent: another topic's type
        let other = decide(&s, Some(Topic::Reminders), &event);
        assert_eq!(other["decision"], "DROP");
    }
}
