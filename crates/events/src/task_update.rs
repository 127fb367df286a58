//! `task-updates`: what the user's browsers are told: the new state of a task as the UI shows it,
//! or an in-app reminder that fell due.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, Topic};
use crate::producer::{new_event_id, timestamp_now};
use crate::task_event::TaskData;
use crate::types::{
    null_as_default, whole_number, Channel, Priority, TaskEventType, TaskReminder, UpdateType,
};

/// An event on the `task-updates` topic (schema `task-updates.schema.json`).
///
/// A task change ([`TaskUpdate::new`]: `task.created`, `task.updated`, `task.completed`,
/// `task.deleted`) carries the task (none for `task.deleted`) and its sequence, and no
/// `reminder`. A `reminder.due` ([`TaskUpdate::reminder_due`]) carries the `reminder`, no task,
/// and sequence 0: a UI applies sequence ordering to task changes only. The schema enforces both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskUpdate {
    /// Kind of update.
    pub event_type: UpdateType,
    /// Unique id of the update.
    pub event_id: Uuid,
    /// Owner of the task, whose browsers receive the update: the JWT `sub`.
    pub user_id: String,
    /// When the update was produced: RFC 3339 UTC instant ending in `Z`.
    pub timestamp: String,
    /// Schema version the producer validated against (stamped by [`crate::encode`]).
    pub schema_version: String,
    /// Id of the task (for `reminder.due`, the reminder's task); the Kafka partition key.
    pub task_id: Uuid,
    /// Version of the task this update shows, increasing with every change of the task; a UI
    /// ignores a task change whose sequence is not greater than the one it has. At most
    /// 2^53 - 1. 0 for `reminder.due`, which is not a task change.
    #[serde(deserialize_with = "whole_number")]
    pub sequence: u64,
    /// The task after the change. Default `None`: `task.deleted` or `reminder.due`.
    #[serde(default)]
    pub task: Option<TaskView>,
    /// The reminder that fell due, for `reminder.due`. Default `None`: a task change.
    #[serde(default)]
    pub reminder: Option<DueReminder>,
}

impl TaskUpdate {
    /// A new task change of kind `event_type`, with a fresh v4 `event_id`, `timestamp` now and
    /// the current `schema_version`; `reminder` is `None`.
    pub fn new(
        event_type: TaskEventType,
        user_id: impl Into<String>,
        task_id: Uuid,
        sequence: u64,
        task: Option<TaskView>,
    ) -> Self {
        Self {
            event_type: event_type.into(),
            event_id: new_event_id(),
            user_id: user_id.into(),
            timestamp: timestamp_now(),
            schema_version: Topic::TaskUpdates.schema_version().to_owned(),
            task_id,
            sequence,
            task,
            reminder: None,
        }
    }

    /// A new `reminder.due`: `reminder` of task `task_id` fell due for `user_id`, with a fresh
    /// v4 `event_id`, `timestamp` now, the current `schema_version`, `sequence` 0 and no task.
    pub fn reminder_due(
        user_id: impl Into<String>,
        task_id: Uuid,
        reminder: DueReminder,
    ) -> TaskUpdate {
        Self {
            event_type: UpdateType::ReminderDue,
            event_id: new_event_id(),
            user_id: user_id.into(),
            timestamp: timestamp_now(),
            schema_version: Topic::TaskUpdates.schema_version().to_owned(),
            task_id,
            sequence: 0,
            task: None,
            reminder: Some(reminder),
        }
    }
}

/// A reminder that fell due: the `reminder` of a `reminder.due` [`TaskUpdate`].
///
/// Required: `reminder_id`, `remind_at`, `channel`. `task_title` and `due_date` are optional:
/// absent or `null`, they decode as `None`. The notification service sends both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct DueReminder {
    /// Id of the reminder (as in the task's `reminders`). Required.
    pub reminder_id: Uuid,
    /// When the reminder was due: RFC 3339 UTC instant ending in `Z`. Required.
    pub remind_at: String,
    /// Delivery channel (`in_app` for the reminders delivered this way). Required.
    pub channel: Channel,
    /// Title of the task, at most 200 characters. Default `None`: not given.
    #[serde(default)]
    pub task_title: Option<String>,
    /// Due date of the task: RFC 3339 UTC instant. Default `None`: no due date.
    #[serde(default)]
    pub due_date: Option<String>,
}

/// A task as the UI shows it: the `task` of a [`TaskUpdate`].
///
/// Required: `id`, `title`, `completed`, `priority`. Every other field is optional: absent or
/// `null`, it decodes as its default, named on the field. The task API sends every field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskView {
    /// Id of the task (equal to the update's `task_id`). Required.
    pub id: Uuid,
    /// Title, 1 to 200 characters. Required.
    pub title: String,
    /// Description, at most 4000 characters. Default `None`: no description.
    #[serde(default)]
    pub description: Option<String>,
    /// Whether the task is done. Required.
    pub completed: bool,
    /// Priority. Required.
    pub priority: Priority,
    /// Tags. Default empty: no tags.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<Vec<String>>"))]
    pub tags: Vec<String>,
    /// Due date: RFC 3339 UTC instant. Default `None`: no due date.
    #[serde(default)]
    pub due_date: Option<String>,
    /// IANA time zone name to show the due date in. Default `None`: not given.
    #[serde(default)]
    pub timezone: Option<String>,
    /// RFC 5545 RRULE value. Default `None`: a one-off task.
    #[serde(default)]
    pub recurrence: Option<String>,
    /// Reminders of the task. Default empty: no reminders.
    #[serde(default, deserialize_with = "null_as_default")]
    #[cfg_attr(feature = "schemars", schemars(with = "Option<Vec<TaskReminder>>"))]
    pub reminders: Vec<TaskReminder>,
    /// When the task was last changed: RFC 3339 UTC instant. Default `None`: not given.
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl TaskView {
    /// The UI view of task `id` stored as `data`.
    pub fn from_task(id: Uuid, data: &TaskData) -> Self {
        Self {
            id,
            title: data.title.clone(),
            description: data.description.clone(),
            completed: data.completed,
            priority: data.priority,
            tags: data.tags.clone(),
            due_date: data.due_date.clone(),
            timezone: data.timezone.clone(),
            recurrence: data.recurrence.clone(),
            reminders: data.reminders.clone(),
            updated_at: data.updated_at.clone(),
        }
    }
}

impl Event for TaskUpdate {
    const TOPIC: Topic = Topic::TaskUpdates;

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
