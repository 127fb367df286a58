//! `task-events`: a task was created, updated, completed or deleted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, Topic};
use crate::producer::{new_event_id, timestamp_now};
use crate::types::{null_as_default, Priority, TaskEventType, TaskReminder};

/// An event on the `task-events` topic (schema `task-events.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskEvent {
    /// Kind of change.
    pub event_type: TaskEventType,
    /// Unique id of the event; consumers deduplicate on it.
    pub event_id: Uuid,
    /// Owner of the task: the JWT `sub`.
    pub user_id: String,
    /// When the event was produced: RFC 3339 UTC instant ending in `Z`.
    pub timestamp: String,
    /// Schema version the producer validated against (stamped by [`crate::encode`]).
    pub schema_version: String,
    /// Id of the task; the Kafka partition key.
    pub task_id: Uuid,
    /// The task after the change (for `task.deleted`, its last state).
    pub task_data: TaskData,
}

impl TaskEvent {
    /// A new event with a fresh v4 `event_id`, `timestamp` now and the current `schema_version`.
    pub fn new(
        event_type: TaskEventType,
        user_id: impl Into<String>,
        task_id: Uuid,
        task_data: TaskData,
    ) -> Self {
        Self {
            event_type,
            event_id: new_event_id(),
            user_id: user_id.into(),
            timestamp: timestamp_now(),
            schema_version: Topic::TaskEvents.schema_version().to_owned(),
            task_id,
            task_data,
        }
    }
}

/// A task as stored by the task API: the `task_data` of a [`TaskEvent`].
///
/// Required: `title`, `completed`, `priority` (the seed's v1.0.0 core). Every other field is
/// optional: absent or `null` in an event, it decodes as its default, named on the field. Producers
/// set every field they know (the task API always sends all of them, `created_at` and
/// `updated_at` included); `None` is sent as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskData {
    /// Title, 1 to 200 characters. Required.
    pub title: String,
    /// Description, at most 4000 characters. Default `None`: no description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the task is done. Required.
    pub completed: bool,
    /// When the task was last completed: RFC 3339 UTC instant (since schema 1.1.0). Default
    /// `None`: open, or not given (events of 1.0.0 producers lack it).
    #[serde(default)]
    pub completed_at: Option<String>,
    /// Priority. Required.
    pub priority: Priority,
    /// Tags, each 1 to 50 characters, at most 20, no duplicates. Default empty: no tags.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<Vec<String>>"))]
    pub tags: Vec<String>,
    /// Due date: RFC 3339 UTC instant. Default `None`: no due date.
    #[serde(default)]
    pub due_date: Option<String>,
    /// IANA time zone name the due date was set in, e.g. `Europe/Berlin`. Default `None`: not
    /// given (consumers that need one use UTC).
    #[serde(default)]
    pub timezone: Option<String>,
    /// RFC 5545 RRULE value without the `RRULE:` prefix, e.g. `FREQ=WEEKLY;BYDAY=MO`. Default
    /// `None`: a one-off task.
    #[serde(default)]
    pub recurrence: Option<String>,
    /// Reminders of the task. Default empty: no reminders.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<Vec<TaskReminder>>"))]
    pub reminders: Vec<TaskReminder>,
    /// Id of the recurring series shared by all occurrences. Default `None`: a one-off task.
    #[serde(default)]
    pub recurrence_id: Option<Uuid>,
    /// Id of the occurrence this one was rolled forward from. Default `None`: the first
    /// occurrence, or a one-off task.
    #[serde(default)]
    pub parent_task_id: Option<Uuid>,
    /// When the task was created: RFC 3339 UTC instant. Default `None`: not given.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the task was last changed: RFC 3339 UTC instant. Default `None`: not given.
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Event for TaskEvent {
    const TOPIC: Topic = Topic::TaskEvents;

    fn event_id(&self) -> Uuid {
        self.event_id
    }

    fn user_id(&self) -> &str {
        &self.user_id
    }

    fn task_id(&self) -> Uuid {
        self.task_id
    }

    fn schema_version(&self) -> &str {
        &self.schema_version
    }

    fn event_type_name(&self) -> &'static str {
        self.event_type.as_str()
    }

    fn timestamp(&self) -> &str {
        &self.timestamp
    }
}
