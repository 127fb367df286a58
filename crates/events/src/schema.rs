//! The embedded JSON Schemas and validation against them.

use std::fmt;
use std::sync::OnceLock;

use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::event::Topic;

/// One broken rule: which field and which schema keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer of the failing field in the event, e.g. `/task_data/title`. For a missing
    /// required field it points at the missing field itself (`/event_id`).
    pub pointer: String,
    /// The JSON Schema keyword that failed, e.g. `required`, `maxLength`, `enum`, `pattern`.
    pub rule: String,
    /// The validator's message.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{at}: {} ({})", self.rule, self.message)
    }
}

/// An event does not match its topic's JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {topic} event: {}", join(.violations))]
pub struct ValidationError {
    /// The topic whose schema was applied.
    pub topic: Topic,
    /// Every broken rule, at least one.
    pub violations: Vec<Violation>,
}

impl ValidationError {
    /// Whether some violation is at `pointer` (exactly) with keyword `rule`.
    pub fn has(&self, pointer: &str, rule: &str) -> bool {
        self.violations
            .iter()
            .any(|v| v.pointer == pointer && v.rule == rule)
    }
}

fn join(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

static VALIDATORS: [OnceLock<Validator>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

fn index(topic: Topic) -> usize {
    match topic {
        Topic::TaskEvents => 0,
        Topic::Reminders => 1,
        Topic::TaskUpdates => 2,
    }
}

/// The compiled validator of `topic`, built on first use and kept for the life of the process.
fn validator(topic: Topic) -> &'static Validator {
    VALIDATORS[index(topic)].get_or_init(|| {
        let schema: Value = serde_json::from_str(topic.schema_json())
            .unwrap_or_else(|e| panic!("embedded {topic} schema is not JSON: {e}"));
        jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .unwrap_or_else(|e| panic!("embedded {topic} schema does not compile: {e}"))
    })
}

/// Validates `instance` against the JSON Schema of `topic`. Unknown fields are allowed.
///
/// The first call per topic compiles the schema (a few milliseconds); later calls reuse it.
pub fn validate(topic: Topic, instance: &Value) -> Result<(), ValidationError> {
    let violations: Vec<Violation> = validator(topic)
        .iter_errors(instance)
        .map(|e| {
            let mut pointer = e.instance_path().as_str().to_owned();
            if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                let name = property
                    .as_str()
                    .map_or_else(|| property.to_string(), str::to_owned);
                pointer.push('/');
                pointer.push_str(&name.replace('~', "~0").replace('/', "~1"));
            }
            Violation {
                pointer,
                rule: e.kind().keyword().to_owned(),
                message: e.to_string(),
            }
        })
        .collect();
    if violations.is_empty() {
        Ok(())
    } else {
        Err(ValidationError { topic, violations })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed() -> Value {
        serde_json::from_str(include_str!(
            "../../../contracts/events/examples/task-events/valid/seed-task-created.json"
        ))
        .unwrap()
    }

    #[test]
    fn valid_event_passes() {
        assert_eq!(validate(Topic::TaskEvents, &seed()), Ok(()));
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let mut event = seed();
        event.as_object_mut().unwrap().remove("user_id");
        let error = validate(Topic::TaskEvents, &event).unwrap_err();
        assert!(error.has("/user_id", "required"), "{error}");
        assert_eq!(error.violations.len(), 1);
    }

    #[test]
    fn every_violation_is_reported() {
        let mut event = seed();
        event["task_data"]["priority"] = json!("critical");
        event["timestamp"] = json!("2026-05-01T10:00:00+02:00");
        let error = validate(Topic::TaskEvents, &event).unwrap_err();
        assert!(error.has("/task_data/priority", "enum"), "{error}");
        assert!(error.has("/timestamp", "pattern"), "{error}");
        let text = error.to_string();
        assert!(text.starts_with("invalid task-events event: "), "{text}");
        assert!(text.contains("/task_data/priority: enum"), "{text}");
    }

    #[test]
    fn formats_are_checked_not_only_patterns() {
        let mut event = seed();
        // Matches the UTC pattern but is no date: only the `date-time` format catches it.
        event["timestamp"] = json!("2026-02-30T25:61:00Z");
        let error = validate(Topic::TaskEvents, &event).unwrap_err();
        assert!(error.has("/timestamp", "format"), "{error}");
    }

    #[test]
    fn unknown_fields_are_allowed_everywhere() {
        let mut event = seed();
        event["added_in_1_1"] = json!({"anything": true});
        event["task_data"]["estimate"] = json!(25);
        assert_eq!(validate(Topic::TaskEvents, &event), Ok(()));
    }

    #[test]
    fn event_of_another_topic_is_invalid() {
        let error = validate(Topic::Reminders, &seed()).unwrap_err();
        assert!(error.has("/reminder_id", "required"), "{error}");
        assert!(error.has("/event_type", "enum"), "{error}");
    }
    #[test]
    fn recurrence_and_timezone_patterns() {
        let check = |field: &str, value: &str| {
            let mut event = seed();
            event["task_data"][field] = json!(value);
            validate(Topic::TaskEvents, &event).is_ok()
        };
        for ok in [
            "FREQ=DAILY",
            "FREQ=WEEKLY;BYDAY=MO,-1FR",
            "INTERVAL=2;FREQ=MONTHLY;BYMONTHDAY=1",
            "FREQ=DAILY;UNTIL=20261231T000000Z;COUNT=5",
        ] {
            assert!(check("recurrence", ok), "{ok}");
        }
        for bad in [
            "RRULE:FREQ=DAILY",
            "freq=daily",
            "INTERVAL=2",
            "FREQ=FORTNIGHTLY",
            "FREQ=DAILY;",
            "every day",
        ] {
            assert!(!check("recurrence", bad), "{bad}");
        }
        for ok in [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
            "America/Port-au-Prince",
        ] {
            assert!(check("timezone", ok), "{ok}");
        }
        for bad in ["", "Europe/", "/Berlin", "Central European Time", "+02:00"] {
            assert!(!check("timezone", bad), "{bad}");
        }
    }
}
