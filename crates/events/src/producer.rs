//! The producer path: stamp, validate and serialise an event.

use chrono::{DateTime, Datelike, SecondsFormat, TimeZone, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::event::Event;
use crate::schema::{validate, ValidationError};

/// Why an event could not be encoded; nothing was published.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The event does not serialise to a JSON object.
    #[error("event does not serialise to a JSON object: {0}")]
    Serialize(String),
    /// The event breaks its topic's schema.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// A fresh random (v4) event id.
pub fn new_event_id() -> Uuid {
    Uuid::new_v4()
}

/// The current time as an RFC 3339 UTC instant with milliseconds, e.g. `2026-05-01T08:00:00.120Z`.
pub fn timestamp_now() -> String {
    format_timestamp(Utc::now())
}

/// `t` as an RFC 3339 UTC instant with milliseconds (truncated), e.g. `2026-05-01T08:00:00.120Z`.
pub fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Earliest year of an instant a user gives (a due date, a reminder, a list filter).
pub const MIN_YEAR: i32 = 1970;
/// Latest year of an instant a user gives.
pub const MAX_YEAR: i32 = 9999;

/// `t` truncated to whole milliseconds (the precision events and the database keep).
pub fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    let ms = t.timestamp_millis();
    Utc.timestamp_millis_opt(ms).single().unwrap_or(t)
}

/// Parses an instant a user gives: RFC 3339 with any offset, answered in UTC truncated to
/// milliseconds; years outside [`MIN_YEAR`]..=[`MAX_YEAR`] are refused. The error says what is
/// expected, for a 400 naming the field.
pub fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    let t = DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        format!("must be an RFC 3339 date-time with offset, e.g. 2026-05-01T09:00:00Z ({e})")
    })?;
    let t = t.with_timezone(&Utc);
    if !(MIN_YEAR..=MAX_YEAR).contains(&t.year()) {
        return Err(format!("must be between {MIN_YEAR} and {MAX_YEAR}"));
    }
    Ok(truncate_ms(t))
}

/// Parses an RFC 3339 timestamp such as an event's `due_date` or `remind_at`, as UTC.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// The event as a JSON value with `schema_version` stamped to the version this build knows,
/// validated against the topic's schema.
pub fn to_value<E: Event>(event: &E) -> Result<Value, EncodeError> {
    let mut value =
        serde_json::to_value(event).map_err(|e| EncodeError::Serialize(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| EncodeError::Serialize("not a JSON object".to_owned()))?;
    object.insert(
        "schema_version".to_owned(),
        Value::String(E::TOPIC.schema_version().to_owned()),
    );
    validate(E::TOPIC, &value)?;
    Ok(value)
}

/// The producer path: stamps `schema_version`, validates against the topic's schema and returns
/// the JSON body to publish (`Content-Type: application/json`; Dapr wraps it in a CloudEvent).
///
/// Nothing invalid leaves the producer: an event that breaks its schema is an error here.
pub fn encode<E: Event>(event: &E) -> Result<Vec<u8>, EncodeError> {
    let value = to_value(event)?;
    serde_json::to_vec(&value).map_err(|e| EncodeError::Serialize(e.to_string()))
}

/// The Dapr sidecar path that publishes `event`: `/v1.0/publish/<pubsub>/<topic>` with the task
/// id as `metadata.partitionKey`, so one task's events stay in order on Kafka.
pub fn publish_path<E: Event>(pubsub: &str, event: &E) -> String {
    format!(
        "/v1.0/publish/{pubsub}/{}?metadata.partitionKey={}",
        E::TOPIC.name(),
        event.task_id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_instants_are_utc_millis_within_the_years() {
        let t = parse_instant("2026-03-29T03:30:00.123456+02:00").unwrap();
        assert_eq!(format_timestamp(t), "2026-03-29T01:30:00.123Z");
        assert!(parse_instant("2026-03-29T03:30:00").is_err());
        assert!(parse_instant("1969-12-31T23:59:59Z").is_err());
        assert!(parse_instant("tomorrow").is_err());
    }
    use crate::fixtures::{reminder, task_data, TASK_ID};
    use crate::{
        Channel, DueReminder, ReminderEvent, ReminderEventType, ReminderState, TaskEvent,
        TaskEventType, TaskUpdate, TaskView, Topic, UpdateType,
    };

    fn is_utc_millis(text: &str) -> bool {
        let b = text.as_bytes();
        b.len() == 24
            && text.ends_with('Z')
            && b[10] == b'T'
            && b[19] == b'.'
            && text[..10].split('-').count() == 3
    }

    #[test]
    fn constructor_fills_the_envelope() {
        let event = TaskEvent::new(TaskEventType::Created, "user-1", TASK_ID, task_data());
        assert_eq!(event.event_id.get_version_num(), 4);
        assert_eq!(event.schema_version, "1.1.0");
        assert!(is_utc_millis(&event.timestamp), "{}", event.timestamp);
        let other = TaskEvent::new(TaskEventType::Created, "user-1", TASK_ID, task_data());
        assert_ne!(event.event_id, other.event_id);
    }

    #[test]
    fn encode_stamps_the_known_version() {
        let mut event = TaskEvent::new(TaskEventType::Updated, "user-1", TASK_ID, task_data());
        event.schema_version = "0.0.1".into();
        let body: Value = serde_json::from_slice(&encode(&event).unwrap()).unwrap();
        assert_eq!(body["schema_version"], "1.1.0");
        assert_eq!(body["event_type"], "task.updated");
        assert_eq!(body["task_data"]["recurrence_id"], Value::Null);
        assert_eq!(body["event_id"], event.event_id.to_string());
    }

    #[test]
    fn encode_rejects_an_invalid_event() {
        let mut data = task_data();
        data.title = "x".repeat(201);
        data.tags.push("home".into());
        let event = TaskEvent::new(TaskEventType::Created, "user-1", TASK_ID, data);
        let Err(EncodeError::Invalid(error)) = encode(&event) else {
            panic!("an invalid event was encoded");
        };
        assert!(error.has("/task_data/title", "maxLength"), "{error}");
        assert!(error.has("/task_data/tags", "uniqueItems"), "{error}");

        let mut event = TaskEvent::new(TaskEventType::Created, "", TASK_ID, task_data());
        event.timestamp = "2026-05-01 08:00:00".into();
        let Err(EncodeError::Invalid(error)) = encode(&event) else {
            panic!("an invalid event was encoded");
        };
        assert!(error.has("/user_id", "minLength"), "{error}");
        assert!(error.has("/timestamp", "pattern"), "{error}");
    }

    #[test]
    fn every_topic_encodes() {
        let mut reminder_event =
            ReminderEvent::new(ReminderEventType::Scheduled, "user-1", TASK_ID, &reminder());
        reminder_event.task_title = Some("Water the plants".into());
        assert_eq!(reminder_event.state, ReminderState::Scheduled);
        assert_eq!(reminder_event.email, reminder().email);
        encode(&reminder_event).unwrap();
        let view = TaskView::from_task(TASK_ID, &task_data());
        encode(&TaskUpdate::new(
            TaskEventType::Created,
            "user-1",
            TASK_ID,
            0,
            Some(view),
        ))
        .unwrap();
        let deleted = TaskUpdate::new(TaskEventType::Deleted, "user-1", TASK_ID, 7, None);
        let body: Value = serde_json::from_slice(&encode(&deleted).unwrap()).unwrap();
        assert_eq!(body["task"], Value::Null);
        assert_eq!(body["sequence"], 7);
        assert_eq!(<TaskUpdate as Event>::TOPIC, Topic::TaskUpdates);
        assert_eq!(deleted.event_type, UpdateType::Deleted);
        assert_eq!(deleted.reminder, None);
    }

    fn due_reminder() -> DueReminder {
        DueReminder {
            reminder_id: reminder().reminder_id,
            remind_at: reminder().remind_at,
            channel: Channel::InApp,
            task_title: Some("Water the plants".into()),
            due_date: None,
        }
    }

    #[test]
    fn a_reminder_due_update_encodes() {
        let update = TaskUpdate::reminder_due("user-1", TASK_ID, due_reminder());
        assert_eq!(update.event_type, UpdateType::ReminderDue);
        assert_eq!(update.event_type_name(), "reminder.due");
        assert_eq!((update.sequence, &update.task), (0, &None));
        assert_eq!(update.event_id.get_version_num(), 4);
        assert_eq!(update.schema_version, "1.0.0");
        assert!(is_utc_millis(&update.timestamp), "{}", update.timestamp);
        let body: Value = serde_json::from_slice(&encode(&update).unwrap()).unwrap();
        assert_eq!(body["event_type"], "reminder.due");
        assert_eq!(body["sequence"], 0);
        assert_eq!(body["task"], Value::Null);
        assert_eq!(body["reminder"]["channel"], "in_app");
        assert_eq!(body["reminder"]["task_title"], "Water the plants");
        assert_eq!(body["reminder"]["due_date"], Value::Null);
        let created = TaskUpdate::new(TaskEventType::Created, "user-1", TASK_ID, 1, None);
        assert_eq!(created.event_type_name(), "task.created");
    }

    #[test]
    fn reminder_due_and_task_changes_do_not_mix() {
        let invalid = |update: &TaskUpdate| match encode(update) {
            Err(EncodeError::Invalid(error)) => error,
            other => panic!("encoded: {other:?}"),
        };
        let mut no_reminder = TaskUpdate::reminder_due("user-1", TASK_ID, due_reminder());
        no_reminder.reminder = None;
        assert!(invalid(&no_reminder).has("/reminder", "type"));
        let mut with_task = TaskUpdate::reminder_due("user-1", TASK_ID, due_reminder());
        with_task.task = Some(TaskView::from_task(TASK_ID, &task_data()));
        with_task.sequence = 3;
        let error = invalid(&with_task);
        assert!(error.has("/task", "type"), "{error}");
        assert!(error.has("/sequence", "const"), "{error}");
        let mut change = TaskUpdate::new(TaskEventType::Updated, "user-1", TASK_ID, 2, None);
        change.reminder = Some(due_reminder());
        assert!(invalid(&change).has("/reminder", "type"));
    }

    #[test]
    fn timestamps_are_utc_with_millis() {
        let t = parse_timestamp("2026-05-01T10:00:00.123456+02:00").unwrap();
        assert_eq!(format_timestamp(t), "2026-05-01T08:00:00.123Z");
        assert!(is_utc_millis(&timestamp_now()));
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn publish_path_keys_by_task() {
        let event = TaskEvent::new(TaskEventType::Deleted, "user-1", TASK_ID, task_data());
        assert_eq!(
            publish_path("pubsub", &event),
            "/v1.0/publish/pubsub/task-events?metadata.partitionKey=5d1f7c1a-3b7e-4f43-a5f4-0d9f6d8a2b10"
        );
    }
}
