//! Partial updates.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::fields::{parse_body, Fields, Patch};
use crate::problem::ValidationErrors;
use crate::reminders::{self, ReminderInput};
use crate::task::{Priority, Task, DEFAULT_TIMEZONE};
use crate::time::{parse_instant, parse_timezone, truncate_ms};
use crate::validate;

/// Body of a partial update (`PATCH /api/tasks/{id}`, MCP `update_task`). Each field is
/// [`Patch::Absent`] (unchanged), [`Patch::Null`] (cleared: description, tags, due date,
/// recurrence and reminders become empty, priority `normal`, time zone `UTC`; title and
/// completed cannot be null) or a new value. `reminders` replaces the whole list; an item with
/// the `id` of an existing reminder keeps that id. `version`, when given, is the version the
/// client last read: the component answers 409 if the task has another one. Unknown fields are
/// refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// New title.
    #[serde(default)]
    pub title: Patch<String>,
    /// New description.
    #[serde(default)]
    pub description: Patch<String>,
    /// Complete (true) or reopen (false).
    #[serde(default)]
    pub completed: Patch<bool>,
    /// New priority.
    #[serde(default)]
    pub priority: Patch<Priority>,
    /// New tags (replace all).
    #[serde(default)]
    pub tags: Patch<Vec<String>>,
    /// New due date.
    #[serde(default)]
    pub due_date: Patch<String>,
    /// New time zone.
    #[serde(default)]
    pub timezone: Patch<String>,
    /// New recurrence rule.
    #[serde(default)]
    pub recurrence: Patch<String>,
    /// New reminders (replace all).
    #[serde(default)]
    pub reminders: Patch<Vec<ReminderInput>>,
    /// Expected current version (precondition).
    #[serde(default)]
    pub version: Patch<i32>,
}

impl UpdateTask {
    /// The JSON field names.
    pub const FIELDS: &'static [&'static str] = &[
        "title",
        "description",
        "completed",
        "priority",
        "tags",
        "due_date",
        "timezone",
        "recurrence",
        "reminders",
        "version",
    ];

    /// Parses a JSON body, reporting every structural problem with its pointer.
    pub fn from_json(body: &[u8]) -> Result<UpdateTask, ValidationErrors> {
        Self::from_value(&parse_body(body)?)
    }

    /// As [`UpdateTask::from_json`], from a parsed value (e.g. MCP tool arguments).
    pub fn from_value(value: &Value) -> Result<UpdateTask, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let Some(f) = Fields::new(value, "", Self::FIELDS, &mut errors) else {
            return Err(errors);
        };
        let reminders = match f.raw("reminders") {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => match reminders::read_inputs(v, "/reminders", &mut errors) {
                Some(list) => Patch::Value(list),
                None => Patch::Absent,
            },
        };
        let patch = UpdateTask {
            title: f.patch("title", &mut errors),
            description: f.patch("description", &mut errors),
            completed: f.patch("completed", &mut errors),
            priority: f.patch("priority", &mut errors),
            tags: f.patch("tags", &mut errors),
            due_date: f.patch("due_date", &mut errors),
            timezone: f.patch("timezone", &mut errors),
            recurrence: f.patch("recurrence", &mut errors),
            reminders,
            version: f.patch("version", &mut errors),
        };
        if patch.title == Patch::Null {
            errors.push("/title", "cannot be null");
        }
        if patch.completed == Patch::Null {
            errors.push("/completed", "cannot be null");
        }
        if patch.version == Patch::Null {
            errors.push("/version", "cannot be null");
        }
        f.finish(&mut errors);
        errors.into_result(patch)
    }

    /// The patch of complete (`true`) / reopen (`false`).
    pub fn completion(done: bool) -> UpdateTask {
        UpdateTask {
            completed: Patch::Value(done),
            ..UpdateTask::default()
        }
    }

    /// The precondition version, if the client sent one.
    pub fn expected_version(&self) -> Option<i32> {
        self.version.value().copied()
    }
}

/// Parses a patch body and applies it to `current` in one pass (see [`Task::apply_update`]).
pub fn validate_update(
    current: &Task,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(UpdateTask, Task), ValidationErrors> {
    let patch = UpdateTask::from_json(body)?;
    let task = current.apply_update(&patch, now)?;
    Ok((patch, task))
}

impl Task {
    /// The task after `patch`, validated as a whole, with `version` + 1 and `updated_at` = `now`.
    /// Completing sets `completed_at`; reopening clears it. Relative reminders follow a changed
    /// due date. A recurrence needs a due date, and a time zone given in the same request unless
    /// the task already recurs or already has a zone other than UTC.
    pub fn apply_update(
        &self,
        patch: &UpdateTask,
        now: DateTime<Utc>,
    ) -> Result<Task, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let now = truncate_ms(now);
        let mut t = self.clone();

        match &patch.title {
            Patch::Value(v) => {
                if let Some(v) = validate::title(v, "/title", &mut errors) {
                    t.title = v;
                }
            }
            Patch::Null => errors.push("/title", "cannot be null"),
            Patch::Absent => {}
        }
        match &patch.description {
            Patch::Value(v) => {
                if let Some(v) = validate::description(v, "/description", &mut errors) {
                    t.description = v;
                }
            }
            Patch::Null => t.description = None,
            Patch::Absent => {}
        }
        match patch.completed {
            Patch::Value(done) if done != self.completed => {
                t.completed = done;
                t.completed_at = done.then_some(now);
            }
            Patch::Null => errors.push("/completed", "cannot be null"),
            _ => {}
        }
        match patch.priority {
            Patch::Value(p) => t.priority = p,
            Patch::Null => t.priority = Priority::default(),
            Patch::Absent => {}
        }
        match &patch.tags {
            Patch::Value(v) => {
                if let Some(v) = validate::tags(v, "/tags", &mut errors) {
                    t.tags = v;
                }
            }
            Patch::Null => t.tags = Vec::new(),
            Patch::Absent => {}
        }
        match &patch.due_date {
            Patch::Value(v) => match parse_instant(v) {
                Ok(d) => t.due_date = Some(d),
                Err(m) => errors.push("/due_date", m),
            },
            Patch::Null => t.due_date = None,
            Patch::Absent => {}
        }
        match &patch.timezone {
            Patch::Value(v) => match parse_timezone(v) {
                Ok(tz) => t.timezone = tz.name().to_owned(),
                Err(m) => errors.push("/timezone", m),
            },
            Patch::Null => t.timezone = DEFAULT_TIMEZONE.to_owned(),
            Patch::Absent => {}
        }
        match &patch.recurrence {
            Patch::Value(v) => {
                if let Some(r) = validate::recurrence(v, "/recurrence", &mut errors) {
                    t.recurrence = Some(r.to_string());
                    if self.recurrence.is_none() {
                        if !patch.timezone.is_present() && self.timezone == DEFAULT_TIMEZONE {
                            errors.push("/timezone", "is required when a recurrence is set");
                        }
                        t.recurrence_id = Some(self.recurrence_id.unwrap_or(self.id));
                    }
                }
            }
            Patch::Null => t.recurrence = None,
            Patch::Absent => {}
        }
        if t.recurrence.is_some() && t.due_date.is_none() && !errors.has("/due_date") {
            let at = if patch.recurrence.is_present() {
                "/recurrence"
            } else {
                "/due_date"
            };
            errors.push(at, "a recurring task needs a due date");
        }
        match &patch.reminders {
            Patch::Value(list) => {
                t.reminders = reminders::resolve(
                    list,
                    t.due_date,
                    &self.reminders,
                    "/reminders",
                    &mut errors,
                );
            }
            Patch::Null => t.reminders = Vec::new(),
            Patch::Absent => match reminders::recompute(&self.reminders, t.due_date) {
                Some(list) => t.reminders = list,
                None => errors.push(
                    "/due_date",
                    "cannot remove the due date while reminders are set relative to it",
                ),
            },
        }

        t.version = self.version + 1;
        t.updated_at = now;
        errors.into_result(t)
    }
}
