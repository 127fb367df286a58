//! `reminders`: a reminder was scheduled, cancelled or sent.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{Event, Topic};
use crate::producer::{new_event_id, timestamp_now};
use crate::types::{Channel, ReminderEventType, ReminderState, TaskReminder};

/// An event on the `reminders` topic (schema `reminders.schema.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ReminderEvent {
    /// Kind of reminder event.
    pub event_type: ReminderEventType,
    /// Unique id of the event; consumers deduplicate on it.
    pub event_id: Uuid,
    /// Owner of the task and recipient of the reminder: the JWT `sub`.
    pub user_id: String,
    /// When the event was produced: RFC 3339 UTC instant ending in `Z`.
    pub timestamp: String,
    /// Schema version the producer validated against (stamped by [`crate::encode`]).
    pub schema_version: String,
    /// Id of the reminder; names the Dapr job that fires it.
    pub reminder_id: Uuid,
    /// Id of the task; the Kafka partition key.
    pub task_id: Uuid,
    /// When the reminder fires: RFC 3339 UTC instant.
    pub remind_at: String,
    /// Delivery channel.
    pub channel: Channel,
    /// State of the reminder after this event.
    pub state: ReminderState,
    /// Title of the task, for the notification text. Default `None`: not given.
    #[serde(default)]
    pub task_title: Option<String>,
    /// Due date of the task (RFC 3339 UTC instant), for the notification text. Default `None`:
    /// no due date.
    #[serde(default)]
    pub due_date: Option<String>,
    /// Recipient address for channel `email` (the `email` claim of the user's JWT). Default
    /// `None`: another channel, or no address known.
    #[serde(default)]
    pub email: Option<String>,
}

impl ReminderEvent {
    /// A new event about `reminder` of task `task_id`, with a fresh v4 `event_id`, `timestamp`
    /// now, the current `schema_version` and the state that `event_type` implies
    /// ([`ReminderEventType::default_state`]). `email` is the reminder's own
    /// ([`TaskReminder::email`]); `task_title` and `due_date` start as `None`: a producer that
    /// knows them sets them.
    pub fn new(
        event_type: ReminderEventType,
        user_id: impl Into<String>,
        task_id: Uuid,
        reminder: &TaskReminder,
    ) -> Self {
        Self {
            event_type,
            event_id: new_event_id(),
            user_id: user_id.into(),
            timestamp: timestamp_now(),
            schema_version: Topic::Reminders.schema_version().to_owned(),
            reminder_id: reminder.reminder_id,
            task_id,
            remind_at: reminder.remind_at.clone(),
            channel: reminder.channel,
            state: event_type.default_state(),
            task_title: None,
            due_date: None,
            email: reminder.email.clone(),
        }
    }
}

impl Event for ReminderEvent {
    const TOPIC: Topic = Topic::Reminders;

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
