//! Reminder input, resolution against the due date, and what changed between two task states.

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::fields::Fields;
use crate::problem::{pointer, ValidationErrors};
use crate::task::{Channel, Reminder, Task, BEFORE_MINUTES_MAX, REMINDERS_MAX};
use crate::time::parse_instant;

/// One reminder in a request: exactly one of `remind_at` (an RFC 3339 instant) or
/// `before_minutes` (minutes before the due date; needs a due date). `id` keeps an existing
/// reminder's id on update; `channel` defaults to `in_app`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    /// Id of an existing reminder of the task (update only).
    #[serde(default)]
    pub id: Option<Uuid>,
    /// Absolute instant.
    #[serde(default)]
    pub remind_at: Option<String>,
    /// Minutes before the due date, 0 to 525600.
    #[serde(default)]
    pub before_minutes: Option<i64>,
    /// Delivery channel.
    #[serde(default)]
    pub channel: Option<Channel>,
}

impl ReminderInput {
    /// The JSON field names.
    pub const FIELDS: &'static [&'static str] = &["id", "remind_at", "before_minutes", "channel"];
}

/// Reads the `reminders` array at pointer `at` (every item checked).
pub(crate) fn read_inputs(
    value: &Value,
    at: &str,
    errors: &mut ValidationErrors,
) -> Option<Vec<ReminderInput>> {
    let Some(items) = value.as_array() else {
        errors.push(at, "must be an array");
        return None;
    };
    let before = errors.errors.len();
    if items.len() > REMINDERS_MAX {
        errors.push(
            at,
            format!("at most {REMINDERS_MAX} reminders (got {})", items.len()),
        );
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = pointer(at, i);
        let Some(f) = Fields::new(item, &here, ReminderInput::FIELDS, errors) else {
            continue;
        };
        let input = ReminderInput {
            id: f.optional("id", errors),
            remind_at: f.optional("remind_at", errors),
            before_minutes: f.optional("before_minutes", errors),
            channel: f.optional("channel", errors),
        };
        f.finish(errors);
        out.push(input);
    }
    (errors.errors.len() == before).then_some(out)
}

/// Turns inputs into reminders: `remind_at` parsed, `before_minutes` resolved against `due`,
/// ids kept when they name one of `existing` (else an error), new ids otherwise.
pub(crate) fn resolve(
    inputs: &[ReminderInput],
    due: Option<DateTime<Utc>>,
    existing: &[Reminder],
    at: &str,
    errors: &mut ValidationErrors,
) -> Vec<Reminder> {
    let mut out: Vec<Reminder> = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let here = pointer(at, i);
        let id = match input.id {
            Some(id) if !existing.iter().any(|r| r.id == id) => {
                errors.push(pointer(&here, "id"), "no reminder with this id on the task");
                continue;
            }
            Some(id) if out.iter().any(|r| r.id == id) => {
                errors.push(pointer(&here, "id"), "appears more than once");
                continue;
            }
            Some(id) => id,
            None => Uuid::new_v4(),
        };
        let channel = input.channel.unwrap_or_default();
        // An existing reminder keeps the address it was set with while it stays an email one.
        let email = existing
            .iter()
            .find(|r| r.id == id && r.channel == channel)
            .and_then(|r| r.email.clone());
        match (&input.remind_at, input.before_minutes) {
            (Some(_), Some(_)) | (None, None) => {
                errors.push(here, "give exactly one of remind_at or before_minutes");
            }
            (Some(text), None) => match parse_instant(text) {
                Ok(t) => out.push(Reminder {
                    id,
                    remind_at: t,
                    before_minutes: None,
                    channel,
                    email,
                }),
                Err(m) => errors.push(pointer(&here, "remind_at"), m),
            },
            (None, Some(m)) => {
                let field = pointer(&here, "before_minutes");
                match u32::try_from(m) {
                    Ok(m) if m <= BEFORE_MINUTES_MAX => match due {
                        Some(due) => out.push(Reminder {
                            id,
                            remind_at: due - Duration::minutes(i64::from(m)),
                            before_minutes: Some(m),
                            channel,
                            email,
                        }),
                        None => errors.push(field, "needs a due date on the task"),
                    },
                    _ => errors.push(field, format!("must be 0 to {BEFORE_MINUTES_MAX}")),
                }
            }
        }
    }
    out
}

/// `reminders` with every relative one recomputed for due date `due`; `None` when a relative
/// reminder exists but there is no due date.
pub(crate) fn recompute(
    reminders: &[Reminder],
    due: Option<DateTime<Utc>>,
) -> Option<Vec<Reminder>> {
    reminders
        .iter()
        .map(|r| match (r.before_minutes, due) {
            (None, _) => Some(r.clone()),
            (Some(m), Some(due)) => Some(Reminder {
                remind_at: due - Duration::minutes(i64::from(m)),
                ..r.clone()
            }),
            (Some(_), None) => None,
        })
        .collect()
}

/// Reminders to (re)schedule and to cancel after a change of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderChanges {
    /// New reminders, and existing ones whose time or channel changed (same id: the job is
    /// overwritten), on an open task.
    pub scheduled: Vec<Reminder>,
    /// Reminders that no longer fire: removed, or their task was completed or deleted.
    pub cancelled: Vec<Reminder>,
}

/// What changed between `old` (`None` before creation) and `new` (`None` after deletion).
/// Only an open (not completed) task's reminders are active.
pub fn reminder_changes(old: Option<&Task>, new: Option<&Task>) -> ReminderChanges {
    let active = |t: Option<&Task>| -> Vec<Reminder> {
        match t {
            Some(t) if !t.completed => t.reminders.clone(),
            _ => Vec::new(),
        }
    };
    let before = active(old);
    let after = active(new);
    ReminderChanges {
        scheduled: after
            .iter()
            .filter(|r| !before.contains(r))
            .cloned()
            .collect(),
        cancelled: before
            .iter()
            .filter(|r| !after.iter().any(|a| a.id == r.id))
            .cloned()
            .collect(),
    }
}
