//! Test data shared by the unit tests.

use uuid::Uuid;

use crate::{Channel, Priority, TaskData, TaskReminder};

pub(crate) const TASK_ID: Uuid = Uuid::from_u128(0x5d1f7c1a_3b7e_4f43_a5f4_0d9f6d8a2b10);

pub(crate) fn reminder() -> TaskReminder {
    TaskReminder {
        reminder_id: Uuid::from_u128(0x9a2e1b0c_7d4f_4e8a_b1c2_3d4e5f607182),
        remind_at: "2026-05-02T06:30:00Z".into(),
        offset_minutes: Some(30),
        channel: Channel::Email,
        email: Some("user-1@example.com".into()),
    }
}

pub(crate) fn task_data() -> TaskData {
    TaskData {
        title: "Water the plants".into(),
        description: None,
        completed: false,
        completed_at: None,
        priority: Priority::High,
        tags: vec!["home".into()],
        due_date: Some("2026-05-02T07:00:00Z".into()),
        timezone: Some("Europe/Berlin".into()),
        recurrence: Some("FREQ=WEEKLY;BYDAY=SA".into()),
        reminders: vec![reminder()],
        recurrence_id: None,
        parent_task_id: None,
        created_at: Some("2026-05-01T08:00:00Z".into()),
        updated_at: Some("2026-05-01T08:00:00Z".into()),
    }
}
