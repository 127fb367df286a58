//! `task-events`: a task was created, updated, completed or deleted.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, Topic};
use crate::producer::{new_event_id, timestamp_now};
use crate::types::{Priority, TaskEventType, TaskReminder};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskData {
    /// Title, 1 to 200 characters.
    pub title: String,
    /// Description, at most 4000 characters.
    pub description: Option<String>,
    /// Whether the task is done.
    pub completed: bool,
    /// Priority.
    pub priority: Priority,
    /// Tags, each 1 to 50 characters, at most 20, no duplicates.
    pub tags: Vec<String>,
    /// Due date: RFC 3339 UTC instant.
    pub due_date: Option<String>,
    /// IANA time zone name the due date was set in, e.g. `Europe/Berlin`.
    pub timezone: Option<String>,
    /// RFC 5545 RRULE value without the `RRULE:` prefix, e.g. `FREQ=WEEKLY;BYDAY=MO`.
    pub recurrence: Option<String>,
    /// Reminders of the task.
    pub reminders: Vec<TaskReminder>,
    /// Id of the recurring series shared by all occurrences; `None` for a one-off task.
    pub recurrence_id: Option<Uuid>,
    /// Id of the occurrence this one was rolled forward from.
    pub parent_task_id: Option<Uuid>,
    /// When the task was created: RFC 3339 UTC instant.
    pub created_at: String,
    /// When the task was last changed: RFC 3339 UTC instant.
    pub updated_at: String,
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
}
