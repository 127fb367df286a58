//! The stored task and its reminders.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use todo_events::{Channel, Priority};

use crate::problem::ValidationErrors;
use crate::recurrence::{next_after_due, Recurrence};
use crate::time::{serde_instant, serde_instant_opt};

/// Longest title, in characters, after trimming.
pub const TITLE_MAX: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX: usize = 4000;
/// Most tags on one task.
pub const TAGS_MAX: usize = 20;
/// Longest tag, in characters, after trimming.
pub const TAG_MAX: usize = 50;
/// Most reminders on one task.
pub const REMINDERS_MAX: usize = 10;
/// Largest `before_minutes` of a reminder (one year).
pub const BEFORE_MINUTES_MAX: u32 = 525_600;
/// Time zone of a task that did not name one.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A task of one user, as stored and as the API returns it.
///
/// JSON: instants are `YYYY-MM-DDTHH:MM:SS.mmmZ`; `priority` is `low|normal|high|urgent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Task id.
    pub id: Uuid,
    /// Owner (JWT `sub`).
    pub user_id: String,
    /// Title, 1 to 200 characters, trimmed.
    pub title: String,
    /// Description, at most 4000 characters; `None` rather than empty.
    pub description: Option<String>,
    /// Whether the task is done.
    pub completed: bool,
    /// When it was completed (set exactly when `completed`).
    #[serde(with = "serde_instant_opt")]
    pub completed_at: Option<DateTime<Utc>>,
    /// Priority.
    pub priority: Priority,
    /// Tags: trimmed, lower case, unique, in the order given; at most 20.
    pub tags: Vec<String>,
    /// Due instant (UTC).
    #[serde(with = "serde_instant_opt")]
    pub due_date: Option<DateTime<Utc>>,
    /// IANA time zone the due date was set in (`UTC` unless given).
    pub timezone: String,
    /// Recurrence rule in canonical form (`FREQ=WEEKLY;BYDAY=MO`); requires a due date.
    pub recurrence: Option<String>,
    /// Id of the recurring series shared by all its occurrences.
    pub recurrence_id: Option<Uuid>,
    /// The occurrence this task was rolled forward from.
    pub parent_task_id: Option<Uuid>,
    /// Reminders, at most 10.
    pub reminders: Vec<Reminder>,
    /// Optimistic-concurrency version: 1 on creation, +1 on every update.
    pub version: i32,
    /// Creation instant.
    #[serde(with = "serde_instant")]
    pub created_at: DateTime<Utc>,
    /// Instant of the last change.
    #[serde(with = "serde_instant")]
    pub updated_at: DateTime<Utc>,
}

/// A reminder of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// Reminder id, stable across updates of the task (it names the Dapr job).
    pub id: Uuid,
    /// When it fires (UTC).
    #[serde(with = "serde_instant")]
    pub remind_at: DateTime<Utc>,
    /// Minutes before the due date it was set relative to; `None` for an absolute time.
    pub before_minutes: Option<u32>,
    /// Delivery channel (`in_app` unless given).
    pub channel: Channel,
    /// Where an `email` reminder goes: the `email` claim of the JWT of whoever set it, kept
    /// with the reminder ([`Task::attach_email`]); `None` for other channels.
    #[serde(default)]
    pub email: Option<String>,
}

impl Task {
    /// The time zone (falls back to UTC if the stored name is not a known zone).
    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    /// The parsed recurrence rule, if any.
    pub fn rule(&self) -> Option<Recurrence> {
        self.recurrence.as_deref().and_then(|r| r.parse().ok())
    }

    /// Priority as stored in the database (0 low .. 3 urgent).
    pub fn priority_rank(&self) -> i16 {
        priority_rank(self.priority)
    }

    /// True when any field a user can change differs from `other` (ids, version and
    /// timestamps are ignored): an update that changes nothing need not be written.
    pub fn content_differs(&self, other: &Task) -> bool {
        self.title != other.title
            || self.description != other.description
            || self.completed != other.completed
            || self.priority != other.priority
            || self.tags != other.tags
            || self.due_date != other.due_date
            || self.timezone != other.timezone
            || self.recurrence != other.recurrence
            || self.reminders != other.reminders
    }

    /// Gives every `email` reminder without an address the signed-in user's `email` (the
    /// address is kept with the reminder from then on); a reminder of another channel carries
    /// none. An `email` reminder that has no address and gets none is an error at its `channel`.
    pub fn attach_email(&mut self, email: Option<&str>) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        for (i, r) in self.reminders.iter_mut().enumerate() {
            match r.channel {
                Channel::Email if r.email.is_none() => match email {
                    Some(e) => r.email = Some(e.to_owned()),
                    None => errors.push(
                        format!("/reminders/{i}/channel"),
                        "email reminders need an email address: your token has no email claim",
                    ),
                },
                Channel::Email => {}
                _ => r.email = None,
            }
        }
        errors.into_result(())
    }

    /// The next due date of this recurring task after its current one, in its time zone.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        next_after_due(&self.rule()?, self.due_date?, self.tz())
    }

    /// The next occurrence of this recurring task, completed now: a new open task `id` due at
    /// [`Task::next_due`], in the same series (`recurrence_id`, `parent_task_id` = this task),
    /// with the same content, `COUNT` reduced by one, and reminders moved with the due date
    /// (relative ones recomputed, absolute ones shifted by the same amount) under new ids.
    /// `None` when the series has ended or this task does not recur.
    pub fn next_occurrence_task(&self, id: Uuid, now: DateTime<Utc>) -> Option<Task> {
        let mut rule = self.rule()?;
        let due = self.due_date?;
        let next = next_after_due(&rule, due, self.tz())?;
        if let Some(c) = rule.count {
            rule.count = Some(c.saturating_sub(1).max(1));
        }
        let shift = next - due;
        let now = crate::time::truncate_ms(now);
        let reminders = self
            .reminders
            .iter()
            .map(|r| Reminder {
                id: Uuid::new_v4(),
                remind_at: match r.before_minutes {
                    Some(m) => next - chrono::Duration::minutes(i64::from(m)),
                    None => r.remind_at + shift,
                },
                before_minutes: r.before_minutes,
                channel: r.channel,
                email: r.email.clone(),
            })
            .collect();
        Some(Task {
            id,
            user_id: self.user_id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            completed: false,
            completed_at: None,
            priority: self.priority,
            tags: self.tags.clone(),
            due_date: Some(next),
            timezone: self.timezone.clone(),
            recurrence: Some(rule.to_string()),
            recurrence_id: Some(self.recurrence_id.unwrap_or(self.id)),
            parent_task_id: Some(self.id),
            reminders,
            version: 1,
            created_at: now,
            updated_at: now,
        })
    }
}

/// Priority as stored in the database (0 low, 1 normal, 2 high, 3 urgent).
pub fn priority_rank(p: Priority) -> i16 {
    match p {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// Parses a priority name (`low`, `normal`, `high`, `urgent`; any letter case).
pub fn parse_priority(name: &str) -> Option<Priority> {
    match name.trim().to_ascii_lowercase().as_str() {
        "low" => Some(Priority::Low),
        "normal" => Some(Priority::Normal),
        "high" => Some(Priority::High),
        "urgent" => Some(Priority::Urgent),
        _ => None,
    }
}
