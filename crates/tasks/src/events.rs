//! The events a task write publishes, as outbox messages.

use todo_events::{
    EncodeError, ReminderEvent, ReminderEventType, TaskData, TaskEvent, TaskEventType,
    TaskReminder, TaskUpdate, TaskView,
};

use todo_outbox::OutboxMessage;

use crate::reminders::reminder_changes;
use crate::task::{Reminder, Task};
use crate::time::format_instant;

/// The kind of write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new task.
    Created,
    /// An update (including complete and reopen).
    Updated,
    /// A deletion.
    Deleted,
}

impl Task {
    /// The task as the `task_data` of a `task-events` event.
    pub fn to_task_data(&self) -> TaskData {
        TaskData {
            title: self.title.clone(),
            description: self.description.clone(),
            completed: self.completed,
            completed_at: self.completed_at.map(format_instant),
            priority: self.priority,
            tags: self.tags.clone(),
            due_date: self.due_date.map(format_instant),
            timezone: Some(self.timezone.clone()),
            recurrence: self.recurrence.clone(),
            reminders: self.reminders.iter().map(Reminder::to_event).collect(),
            recurrence_id: self.recurrence_id,
            parent_task_id: self.parent_task_id,
            created_at: Some(format_instant(self.created_at)),
            updated_at: Some(format_instant(self.updated_at)),
        }
    }
}

impl Reminder {
    /// The reminder as an item of `task_data.reminders`.
    pub fn to_event(&self) -> TaskReminder {
        TaskReminder {
            reminder_id: self.id,
            remind_at: format_instant(self.remind_at),
            offset_minutes: self.before_minutes,
            channel: self.channel,
            email: self.email.clone(),
        }
    }
}

/// The `task-events` type of an update from `old` to `new`: `task.completed` when completed
/// went from false to true, else `task.updated`.
pub fn update_event_type(old: &Task, new: &Task) -> TaskEventType {
    if new.completed && !old.completed {
        TaskEventType::Completed
    } else {
        TaskEventType::Updated
    }
}

/// Every event of one write, in publishing order: the `task-events` event, the `task-updates`
/// event (sequence = the task's new version), then `reminder.cancelled` and
/// `reminder.scheduled` for the reminders that changed. `old` is the state before (required for
/// updates and deletions), `new` the state after (for deletions: the deleted task).
pub fn events_for_change(
    change: Change,
    old: Option<&Task>,
    new: &Task,
) -> Result<Vec<OutboxMessage>, EncodeError> {
    let user = new.user_id.as_str();
    let id = new.id;
    let (kind, sequence, view, before, after) = match change {
        Change::Created => (
            TaskEventType::Created,
            new.version,
            Some(new),
            None,
            Some(new),
        ),
        Change::Updated => {
            let old = old.unwrap_or(new);
            (
                update_event_type(old, new),
                new.version,
                Some(new),
                Some(old),
                Some(new),
            )
        }
        Change::Deleted => (
            TaskEventType::Deleted,
            new.version + 1,
            None,
            Some(new),
            None,
        ),
    };
    let mut out = vec![
        OutboxMessage::encode(&TaskEvent::new(kind, user, id, new.to_task_data()))?,
        OutboxMessage::encode(&TaskUpdate::new(
            kind,
            user,
            id,
            u64::try_from(sequence).unwrap_or(0),
            view.map(|t| TaskView::from_task(t.id, &t.to_task_data())),
        ))?,
    ];
    let changes = reminder_changes(before, after);
    for (kind, list) in [
        (ReminderEventType::Cancelled, &changes.cancelled),
        (ReminderEventType::Scheduled, &changes.scheduled),
    ] {
        for r in list {
            out.push(OutboxMessage::encode(&reminder_event(kind, new, r))?);
        }
    }
    Ok(out)
}

fn reminder_event(kind: ReminderEventType, task: &Task, r: &Reminder) -> ReminderEvent {
    let mut e = ReminderEvent::new(kind, task.user_id.as_str(), task.id, &r.to_event());
    e.task_title = Some(task.title.clone());
    e.due_date = task.due_date.map(format_instant);
    e.email = r.email.clone();
    e
}
