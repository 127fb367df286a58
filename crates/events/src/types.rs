//! Enums and records shared by several events.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kind of change to a task: `event_type` of `task-events` and `task-updates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum TaskEventType {
    /// `task.created`
    #[serde(rename = "task.created")]
    Created,
    /// `task.updated`: any change other than completion, including un-completing.
    #[serde(rename = "task.updated")]
    Updated,
    /// `task.completed`: completed went from false to true.
    #[serde(rename = "task.completed")]
    Completed,
    /// `task.deleted`
    #[serde(rename = "task.deleted")]
    Deleted,
}

impl TaskEventType {
    /// The wire name, e.g. `task.created`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "task.created",
            Self::Updated => "task.updated",
            Self::Completed => "task.completed",
            Self::Deleted => "task.deleted",
        }
    }
}

/// Kind of reminder event: `event_type` of `reminders`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum ReminderEventType {
    /// `reminder.scheduled`: a reminder was set or moved.
    #[serde(rename = "reminder.scheduled")]
    Scheduled,
    /// `reminder.cancelled`: removed, or its task was completed or deleted.
    #[serde(rename = "reminder.cancelled")]
    Cancelled,
    /// `reminder.sent`: a delivery was attempted (see [`ReminderState`]).
    #[serde(rename = "reminder.sent")]
    Sent,
}

impl ReminderEventType {
    /// The wire name, e.g. `reminder.scheduled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "reminder.scheduled",
            Self::Cancelled => "reminder.cancelled",
            Self::Sent => "reminder.sent",
        }
    }

    /// The state a reminder is in after an event of this kind (`sent` for `reminder.sent`; a
    /// failed delivery sets [`ReminderState::Failed`] explicitly).
    pub fn default_state(self) -> ReminderState {
        match self {
            Self::Scheduled => ReminderState::Scheduled,
            Self::Cancelled => ReminderState::Cancelled,
            Self::Sent => ReminderState::Sent,
        }
    }
}

/// Priority of a task.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// `low`
    Low,
    /// `normal` (the default)
    #[default]
    Normal,
    /// `high`
    High,
    /// `urgent`
    Urgent,
}

impl Priority {
    /// The wire name, e.g. `urgent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

/// How a reminder is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `in_app`: shown in the app (the default).
    #[default]
    InApp,
    /// `email`
    Email,
    /// `webhook`: POSTed to the user's webhook.
    Webhook,
}

impl Channel {
    /// The wire name, e.g. `in_app`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InApp => "in_app",
            Self::Email => "email",
            Self::Webhook => "webhook",
        }
    }
}

/// State of a reminder after a reminder event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReminderState {
    /// `scheduled`
    Scheduled,
    /// `cancelled`
    Cancelled,
    /// `sent`: delivered.
    Sent,
    /// `failed`: delivery finally failed.
    Failed,
}

impl ReminderState {
    /// The wire name, e.g. `sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Cancelled => "cancelled",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// A reminder set on a task (an item of `task_data.reminders` and `task.reminders`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TaskReminder {
    /// Id of the reminder, stable across task updates.
    pub reminder_id: Uuid,
    /// When the reminder fires: RFC 3339 UTC instant ending in `Z`.
    pub remind_at: String,
    /// Minutes before the due date this reminder was derived from; `None` for an absolute time.
    pub offset_minutes: Option<u32>,
    /// Delivery channel.
    pub channel: Channel,
}
