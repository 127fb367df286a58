//! The embedded JSON Schemas and validation against them.

use std::fmt;
use std::sync::OnceLock;

use jsonschema::{Draft, Validator};
use serde_json::Value;

use crate::event::Topic;
use crate::version::SemVer;

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

/// An event does not match its topic's JSON Schema (or the schema a consumer was built with).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {schema} event: {}", join(.violations))]
pub struct ValidationError {
    /// The name of the schema applied: the topic name (`task-events`) for the embedded schemas.
    pub schema: String,
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

/// A schema document that cannot be used: no valid version, or it does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The document has no top-level `x-schema-version` string.
    #[error("schema {name}: no top-level \"x-schema-version\" string")]
    MissingVersion {
        /// The schema's name.
        name: String,
    },
    /// `x-schema-version` is not `MAJOR.MINOR.PATCH`.
    #[error("schema {name}: x-schema-version {version:?} is not a semantic version")]
    BadVersion {
        /// The schema's name.
        name: String,
        /// The declared version.
        version: String,
    },
    /// The document is not a valid draft 2020-12 schema.
    #[error("schema {name} does not compile: {message}")]
    Compile {
        /// The schema's name.
        name: String,
        /// The compiler's message.
        message: String,
    },
}

/// A compiled event schema and the version it declares (`x-schema-version`): what the producer
/// and consumer paths apply.
///
/// The three topics' schemas are embedded ([`EventSchema::of`]); [`EventSchema::new`] builds one
/// from any schema document, e.g. an older or newer release, so that the same consumer path
/// ([`EventSchema::accept`], [`EventSchema::decode`]) can be run as a consumer built with that
/// schema would run it.
pub struct EventSchema {
    name: String,
    version: String,
    validator: Validator,
}

impl fmt::Debug for EventSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSchema")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

static SCHEMAS: [OnceLock<EventSchema>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];

fn index(topic: Topic) -> usize {
    match topic {
        Topic::TaskEvents => 0,
        Topic::Reminders => 1,
        Topic::TaskUpdates => 2,
    }
}

impl EventSchema {
    /// Compiles `schema` (draft 2020-12, formats checked, only local references) under `name`
    /// (used in logs and errors). Its version is its top-level `x-schema-version`.
    pub fn new(name: impl Into<String>, schema: &Value) -> Result<EventSchema, SchemaError> {
        let name = name.into();
        let version = schema
            .get("x-schema-version")
            .and_then(Value::as_str)
            .ok_or_else(|| SchemaError::MissingVersion { name: name.clone() })?
            .to_owned();
        if SemVer::parse(&version).is_none() {
            return Err(SchemaError::BadVersion { name, version });
        }
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| SchemaError::Compile {
                name: name.clone(),
                message: e.to_string(),
            })?;
        Ok(EventSchema {
            name,
            version,
            validator,
        })
    }

    /// The embedded schema of `topic`, compiled on first use (a few milliseconds) and kept for
    /// the life of the process.
    pub fn of(topic: Topic) -> &'static EventSchema {
        SCHEMAS[index(topic)].get_or_init(|| {
            let schema: Value = serde_json::from_str(topic.schema_json())
                .unwrap_or_else(|e| panic!("embedded {topic} schema is not JSON: {e}"));
            EventSchema::new(topic.name(), &schema)
                .unwrap_or_else(|e| panic!("embedded {topic} schema: {e}"))
        })
    }

    /// The schema's name: the topic name for the embedded schemas.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The version the schema declares (`x-schema-version`): the version a consumer built with
    /// it knows, and the one a producer stamps.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Validates `instance` against the schema. Unknown fields are allowed (the project's schemas
    /// never close an object with `additionalProperties: false`).
    pub fn validate(&self, instance: &Value) -> Result<(), ValidationError> {
        let violations: Vec<Violation> = self
            .validator
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
            Err(ValidationError {
                schema: self.name.clone(),
                violations,
            })
        }
    }
}

/// Validates `instance` against the JSON Schema of `topic`. Unknown fields are allowed.
///
/// The first call per topic compiles the schema (a few milliseconds); later calls reuse it.
pub fn validate(topic: Topic, instance: &Value) -> Result<(), ValidationError> {
    EventSchema::of(topic).validate(instance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example() -> Value {
        serde_json::from_str(include_str!(
            "../../../contracts/events/examples/task-events/valid/task-created-optional-fields-null.json"
        ))
        .unwrap()
    }

    #[test]
    fn valid_event_passes() {
        assert_eq!(validate(Topic::TaskEvents, &example()), Ok(()));
    }

    #[test]
    fn missing_field_points_at_the_field() {
        let mut event = example();
        event.as_object_mut().unwrap().remove("user_id");
        let error = validate(Topic::TaskEvents, &event).unwrap_err();
        assert!(error.has("/user_id", "required"), "{error}");
        assert_eq!(error.violations.len(), 1);
    }

    #[test]
    fn every_violation_is_reported() {
        let mut event = example();
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
        let mut event = example();
        // Matches the UTC pattern but is no date: only the `date-time` format catches it.
        event["timestamp"] = json!("2026-02-30T25:61:00Z");
        let error = validate(Topic::TaskEvents, &event).unwrap_err();
        assert!(error.has("/timestamp", "format"), "{error}");
    }

    #[test]
    fn unknown_fields_are_allowed_everywhere() {
        let mut event = example();
        event["added_in_1_1"] = json!({"anything": true});
        event["task_data"]["estimate"] = json!(25);
        assert_eq!(validate(Topic::TaskEvents, &event), Ok(()));
    }

    #[test]
    fn event_of_another_topic_is_invalid() {
        let error = validate(Topic::Reminders, &example()).unwrap_err();
        assert!(error.has("/reminder_id", "required"), "{error}");
        assert!(error.has("/event_type", "enum"), "{error}");
    }
    #[test]
    fn recurrence_and_timezone_patterns() {
        let check = |field: &str, value: &str| {
            let mut event = example();
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
