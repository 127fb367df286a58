//! Create requests.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::fields::{parse_body, Fields};
use crate::problem::ValidationErrors;
use crate::reminders::{self, ReminderInput};
use crate::task::{Priority, Task, DEFAULT_TIMEZONE};
use crate::time::{parse_instant, parse_timezone, truncate_ms};
use crate::validate;

/// Body of a create request (`POST /api/tasks`, MCP `add_task`). Unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// Title, 1 to 200 characters after trimming; required.
    pub title: String,
    /// Description, at most 4000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Created already done (default false).
    #[serde(default)]
    pub completed: Option<bool>,
    /// Priority (default normal).
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Tags (normalised).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Due date: RFC 3339 instant with offset.
    #[serde(default)]
    pub due_date: Option<String>,
    /// IANA time zone (default UTC; required with `recurrence`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// RRULE (supported subset); needs `due_date` and `timezone`.
    #[serde(default)]
    pub recurrence: Option<String>,
    /// Reminders, at most 10.
    #[serde(default)]
    pub reminders: Option<Vec<ReminderInput>>,
}

impl CreateTask {
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
    ];

    /// Parses a JSON body, reporting every structural problem (not JSON, not an object,
    /// unknown field, wrong type, missing title) with its pointer.
    pub fn from_json(body: &[u8]) -> Result<CreateTask, ValidationErrors> {
        Self::from_value(&parse_body(body)?)
    }

    /// As [`CreateTask::from_json`], from a parsed value (e.g. MCP tool arguments).
    pub fn from_value(value: &Value) -> Result<CreateTask, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let req = read(value, &mut errors);
        errors.into_result(req.unwrap_or_default())
    }

    /// Validates the request and builds the new task `id` of `user_id` at `now` (version 1).
    pub fn into_task(
        self,
        id: Uuid,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Task, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let task = build(&self, id, user_id, now, &mut errors);
        errors.into_result(task)
    }
}

/// Parses and validates a create body in one pass, listing structural and semantic problems
/// together; answers the new task `id` of `user_id` created at `now`.
pub fn validate_create(
    body: &[u8],
    id: Uuid,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Task, ValidationErrors> {
    let value = parse_body(body)?;
    let mut errors = ValidationErrors::new();
    let req = read(&value, &mut errors);
    match req.map(|r| build(&r, id, user_id, now, &mut errors)) {
        Some(task) => errors.into_result(task),
        None => Err(errors),
    }
}

fn read(value: &Value, errors: &mut ValidationErrors) -> Option<CreateTask> {
    let f = Fields::new(value, "", CreateTask::FIELDS, errors)?;
    let title = f.optional::<String>("title", errors);
    if f.raw("title").is_none_or(Value::is_null) {
        errors.push("/title", "is required");
    }
    let reminders = match f.raw("reminders") {
        None | Some(Value::Null) => None,
        Some(v) => reminders::read_inputs(v, "/reminders", errors),
    };
    let req = CreateTask {
        title: title.unwrap_or_default(),
        description: f.optional("description", errors),
        completed: f.optional("completed", errors),
        priority: f.optional("priority", errors),
        tags: f.optional("tags", errors),
        due_date: f.optional("due_date", errors),
        timezone: f.optional("timezone", errors),
        recurrence: f.optional("recurrence", errors),
        reminders,
    };
    f.finish(errors);
    Some(req)
}

/// Semantic validation; fields that already have an error are skipped.
fn build(
    req: &CreateTask,
    id: Uuid,
    user_id: &str,
    now: DateTime<Utc>,
    errors: &mut ValidationErrors,
) -> Task {
    let now = truncate_ms(now);
    let title = if errors.has("/title") {
        String::new()
    } else {
        validate::title(&req.title, "/title", errors).unwrap_or_default()
    };
    let description = req
        .description
        .as_deref()
        .and_then(|d| validate::description(d, "/description", errors))
        .flatten();
    let tags = req
        .tags
        .as_deref()
        .and_then(|t| validate::tags(t, "/tags", errors))
        .unwrap_or_default();
    let due_date = req.due_date.as_deref().and_then(|d| {
        parse_instant(d)
            .map_err(|m| errors.push("/due_date", m))
            .ok()
    });
    let timezone = match req.timezone.as_deref() {
        Some(name) => match parse_timezone(name) {
            Ok(tz) => tz.name().to_owned(),
            Err(m) => {
                errors.push("/timezone", m);
                DEFAULT_TIMEZONE.to_owned()
            }
        },
        None => DEFAULT_TIMEZONE.to_owned(),
    };
    let recurrence = req
        .recurrence
        .as_deref()
        .and_then(|r| validate::recurrence(r, "/recurrence", errors));
    if recurrence.is_some() {
        if req.due_date.is_none() {
            errors.push("/due_date", "is required when a recurrence is set");
        }
        if req.timezone.is_none() {
            errors.push("/timezone", "is required when a recurrence is set");
        }
    }
    let reminders = req
        .reminders
        .as_deref()
        .map(|r| reminders::resolve(r, due_date, &[], "/reminders", errors))
        .unwrap_or_default();
    let completed = req.completed.unwrap_or(false);
    let recurrence_id = recurrence.as_ref().map(|_| id);
    Task {
        id,
        user_id: user_id.to_owned(),
        title,
        description,
        completed,
        completed_at: completed.then_some(now),
        priority: req.priority.unwrap_or_default(),
        tags,
        due_date,
        timezone,
        recurrence: recurrence.map(|r| r.to_string()),
        recurrence_id,
        parent_task_id: None,
        reminders,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}
