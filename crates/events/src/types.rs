//! Enums and records shared by several events.
//!
//! Optional fields (absent from the schema's `required`) carry `#[serde(default)]`: an event
//! without them decodes with the documented default (`None`, or an empty list). In the schemas
//! every optional field may also be `null`, which means the same as absent; lists therefore use
//! [`null_as_default`] so that `null` decodes as the empty list.

use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

/// Deserialises an optional field that may be `null`: `null` becomes `T::default()` (the empty
/// list for a `Vec`), like an absent field with `#[serde(default)]`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Deserialises an integer field the way JSON Schema counts integers: any JSON number without a
/// fractional part (`30`, and also `30.0`, which a Python producer sends for a float), within
/// the range of `T`.
pub(crate) fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    to_whole(&number).map_err(serde::de::Error::custom)
}

/// [`whole_number`] for an optional field: `null` is `None`.
pub(crate) fn optional_whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    match Option::<serde_json::Number>::deserialize(deserializer)? {
        None => Ok(None),
        Some(number) => to_whole(&number)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

fn to_whole<T: TryFrom<u64>>(number: &serde_json::Number) -> Result<T, String> {
    let whole = number.as_u64().or_else(|| {
        let f = number.as_f64()?;
        // 2^64 as f64; every smaller whole f64 converts exactly.
        (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{number} is not a whole number in range"))
}

/// Kind of change to a task: `event_type` of `task-events` (and, as [`UpdateType`], of
/// `task-updates`).
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

/// Kind of update: `event_type` of `task-updates`. The four task changes of [`TaskEventType`]
/// and [`UpdateType::ReminderDue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum UpdateType {
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
    /// `reminder.due`: an in-app reminder of the task fell due (not a task change: the update
    /// carries the reminder, no task, and sequence 0).
    #[serde(rename = "reminder.due")]
    ReminderDue,
}

impl UpdateType {
    /// The wire name, e.g. `task.created` or `reminder.due`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "task.created",
            Self::Updated => "task.updated",
            Self::Completed => "task.completed",
            Self::Deleted => "task.deleted",
            Self::ReminderDue => "reminder.due",
        }
    }

    /// The task change this update is about; `None` for [`UpdateType::ReminderDue`].
    pub fn task_event_type(self) -> Option<TaskEventType> {
        match self {
            Self::Created => Some(TaskEventType::Created),
            Self::Updated => Some(TaskEventType::Updated),
            Self::Completed => Some(TaskEventType::Completed),
            Self::Deleted => Some(TaskEventType::Deleted),
            Self::ReminderDue => None,
        }
    }
}

impl From<TaskEventType> for UpdateType {
    fn from(kind: TaskEventType) -> Self {
        match kind {
            TaskEventType::Created => Self::Created,
            TaskEventType::Updated => Self::Updated,
            TaskEventType::Completed => Self::Completed,
            TaskEventType::Deleted => Self::Deleted,
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
    /// `missed`: not delivered, because the reminder's time had passed longer ago than the
    /// notification service's grace period when the reminder reached it.
    Missed,
}

impl ReminderState {
    /// The wire name, e.g. `sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Cancelled => "cancelled",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Missed => "missed",
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
    /// Minutes before the due date this reminder was derived from (0 to 525600); optional,
    /// default `None`: a reminder at an absolute time.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub offset_minutes: Option<u32>,
    /// Delivery channel.
    pub channel: Channel,
    /// Recipient address of a reminder on channel `email` (the `email` claim of the JWT of
    /// whoever set it), at most 254 characters. Default `None`: another channel, or no address
    /// known.
    #[serde(default)]
    pub email: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_are_read_as_json_schema_counts_them() {
        let read = |v: serde_json::Value| serde_json::from_value::<TaskReminder>(v);
        let reminder = |offset: serde_json::Value| {
            json!({"reminder_id": "9a2e1b0c-7d4f-4e8a-b1c2-3d4e5f607182",
                   "remind_at": "2026-05-02T06:30:00Z", "channel": "email", "offset_minutes": offset})
        };
        for (offset, expected) in [
            (json!(30), Some(30)),
            (json!(30.0), Some(30)),
            (json!(525600.0), Some(525_600)),
            (json!(null), None),
        ] {
            assert_eq!(
                read(reminder(offset.clone())).unwrap().offset_minutes,
                expected,
                "{offset}"
            );
        }
        for bad in [
            json!(30.5),
            json!(-1),
            json!(-1.0),
            json!(4294967296u64),
            json!(1e30),
            json!("30"),
        ] {
            assert!(read(reminder(bad.clone())).is_err(), "{bad}");
        }
        let mut absent = reminder(json!(1));
        absent.as_object_mut().unwrap().remove("offset_minutes");
        assert_eq!(read(absent).unwrap().offset_minutes, None);
        assert_eq!(
            to_whole::<u64>(&serde_json::Number::from(u64::MAX)),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn reminder_email_is_optional() {
        let read = |v: serde_json::Value| serde_json::from_value::<TaskReminder>(v).unwrap();
        let base = json!({"reminder_id": "9a2e1b0c-7d4f-4e8a-b1c2-3d4e5f607182",
                          "remind_at": "2026-05-02T06:30:00Z", "channel": "email"});
        assert_eq!(read(base.clone()).email, None);
        let mut null = base.clone();
        null["email"] = json!(null);
        assert_eq!(read(null).email, None);
        let mut set = base;
        set["email"] = json!("ada@example.com");
        let reminder = read(set);
        assert_eq!(reminder.email.as_deref(), Some("ada@example.com"));
        // Producers send every field: `None` goes out as null.
        let mut none = reminder.clone();
        none.email = None;
        assert_eq!(serde_json::to_value(&none).unwrap()["email"], json!(null));
    }

    #[test]
    fn update_types_extend_the_task_event_types() {
        for kind in [
            TaskEventType::Created,
            TaskEventType::Updated,
            TaskEventType::Completed,
            TaskEventType::Deleted,
        ] {
            let update = UpdateType::from(kind);
            assert_eq!(update.as_str(), kind.as_str());
            assert_eq!(update.task_event_type(), Some(kind));
            assert_eq!(
                serde_json::to_value(update).unwrap(),
                serde_json::to_value(kind).unwrap()
            );
        }
        let due = UpdateType::ReminderDue;
        assert_eq!(due.as_str(), "reminder.due");
        assert_eq!(due.task_event_type(), None);
        assert_eq!(serde_json::to_value(due).unwrap(), json!("reminder.due"));
        assert_eq!(
            serde_json::from_value::<UpdateType>(json!("reminder.due")).unwrap(),
            due
        );
        assert!(serde_json::from_value::<TaskEventType>(json!("reminder.due")).is_err());
    }
}
