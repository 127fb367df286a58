//! Rolling a recurring task forward: what the recurring service does with `task.completed`.
//!
//! The next occurrence is built from the event's own snapshot of the completed task (not from
//! the database, which may have changed since), so the outcome depends on the event alone and a
//! redelivery computes the same roll. Exactly one roll per (series, completed occurrence) is
//! enforced in SQL ([`crate::sql::roll_forward_once`]): a redelivered event, a second completion
//! after a reopen, or two completions racing all meet the same key.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use todo_events::{TaskEvent, TaskEventType};

use crate::task::{Channel, Reminder, Task, DEFAULT_TIMEZONE};
use crate::time::{parse_any_instant, truncate_ms};

/// What completing one occurrence of a series leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roll {
    /// The next occurrence, to be created.
    Next(Box<Task>),
    /// The rule has no occurrence after this one (COUNT used up, UNTIL passed).
    Exhausted,
}

/// The completed occurrence a roll follows: its series, due instant and task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The completed task as the event describes it.
    pub task: Task,
    /// The series id (`recurrence_id`, or the task's own id for a series' first occurrence).
    pub series: Uuid,
    /// The due instant of the completed occurrence.
    pub due: DateTime<Utc>,
}

/// The completed recurring task of a `task.completed` event; `None` for any other event, a
/// task without a recurrence rule or due date, or an event whose snapshot cannot be read back
/// into a task (which the schema already prevents).
pub fn completed_recurring(event: &TaskEvent) -> Option<Completed> {
    if event.event_type != TaskEventType::Completed {
        return None;
    }
    let d = &event.task_data;
    let recurrence = d.recurrence.clone()?;
    let due = parse_any_instant(d.due_date.as_deref()?)?;
    let at = |t: &Option<String>| t.as_deref().and_then(parse_any_instant);
    let stamp = parse_any_instant(&event.timestamp).unwrap_or_else(Utc::now);
    let reminders = d
        .reminders
        .iter()
        .filter_map(|r| {
            Some(Reminder {
                id: r.reminder_id,
                remind_at: parse_any_instant(&r.remind_at)?,
                before_minutes: r.offset_minutes,
                channel: r.channel,
                email: r.email.clone().filter(|_| r.channel == Channel::Email),
            })
        })
        .collect();
    let task = Task {
        id: event.task_id,
        user_id: event.user_id.clone(),
        title: d.title.clone(),
        description: d.description.clone(),
        completed: true,
        completed_at: Some(truncate_ms(stamp)),
        priority: d.priority,
        tags: d.tags.clone(),
        due_date: Some(due),
        timezone: d
            .timezone
            .clone()
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_string()),
        recurrence: Some(recurrence),
        recurrence_id: d.recurrence_id,
        parent_task_id: d.parent_task_id,
        reminders,
        version: 1,
        created_at: at(&d.created_at).unwrap_or(stamp),
        updated_at: at(&d.updated_at).unwrap_or(stamp),
    };
    task.rule()?;
    Some(Completed {
        series: task.recurrence_id.unwrap_or(task.id),
        due,
        task,
    })
}

impl Completed {
    /// The roll: the next occurrence with id `id`, created at `now`, or the end of the series.
    pub fn roll(&self, id: Uuid, now: DateTime<Utc>) -> Roll {
        match self.task.next_occurrence_task(id, now) {
            Some(next) => Roll::Next(Box::new(next)),
            None => Roll::Exhausted,
        }
    }
}
