//! Topics and the [`Event`] trait that ties each event type to its topic and schema.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;
use uuid::Uuid;

/// One of the three event topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `task-events`: [`crate::TaskEvent`].
    TaskEvents,
    /// `reminders`: [`crate::ReminderEvent`].
    Reminders,
    /// `task-updates`: [`crate::TaskUpdate`].
    TaskUpdates,
}

impl Topic {
    /// All topics.
    pub const ALL: [Topic; 3] = [Topic::TaskEvents, Topic::Reminders, Topic::TaskUpdates];

    /// The topic name, e.g. `task-events` (also the schema file's stem).
    pub fn name(self) -> &'static str {
        match self {
            Topic::TaskEvents => "task-events",
            Topic::Reminders => "reminders",
            Topic::TaskUpdates => "task-updates",
        }
    }

    /// The dead-letter topic of this topic, e.g. `task-events.dlq`.
    pub fn dead_letter_topic(self) -> &'static str {
        match self {
            Topic::TaskEvents => "task-events.dlq",
            Topic::Reminders => "reminders.dlq",
            Topic::TaskUpdates => "task-updates.dlq",
        }
    }

    /// The topic named `name`, if it is one of the three.
    pub fn from_name(name: &str) -> Option<Topic> {
        Topic::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The schema version this build knows and producers stamp (the schema's `x-schema-version`).
    pub fn schema_version(self) -> &'static str {
        match self {
            Topic::TaskEvents => "1.1.0",
            Topic::Reminders => "1.0.0",
            Topic::TaskUpdates => "1.0.0",
        }
    }

    /// The JSON Schema of the topic, as shipped in `contracts/events/<topic>.schema.json`.
    pub fn schema_json(self) -> &'static str {
        match self {
            Topic::TaskEvents => include_str!("../../../contracts/events/task-events.schema.json"),
            Topic::Reminders => include_str!("../../../contracts/events/reminders.schema.json"),
            Topic::TaskUpdates => {
                include_str!("../../../contracts/events/task-updates.schema.json")
            }
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event type of one topic: what the producer and consumer paths need to know about it.
pub trait Event: Serialize + DeserializeOwned {
    /// The topic events of this type are published to.
    const TOPIC: Topic;

    /// Unique id of the event.
    fn event_id(&self) -> Uuid;

    /// Owner of the task (JWT `sub`).
    fn user_id(&self) -> &str;

    /// Id of the task the event is about; use it as the Kafka partition key.
    fn task_id(&self) -> Uuid;

    /// The `schema_version` the event carries.
    fn schema_version(&self) -> &str;

    /// The `event_type` wire name, e.g. `task.created`.
    fn event_type_name(&self) -> &'static str;

    /// The event's own `timestamp` (RFC 3339 text, as carried).
    fn timestamp(&self) -> &str;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn known_version_is_the_schema_documents_version() {
        for topic in Topic::ALL {
            let schema: Value = serde_json::from_str(topic.schema_json()).unwrap();
            assert_eq!(
                schema["x-schema-version"],
                topic.schema_version(),
                "{topic}"
            );
            let id = format!(
                "https://todo-events.dev/schemas/{}.schema.json",
                topic.name()
            );
            assert_eq!(schema["$id"], id.as_str());
        }
    }

    #[test]
    fn names_round_trip() {
        for topic in Topic::ALL {
            assert_eq!(Topic::from_name(topic.name()), Some(topic));
            assert_eq!(topic.dead_letter_topic(), format!("{topic}.dlq"));
        }
        assert_eq!(Topic::from_name("e2e-probe"), None);
    }
}
