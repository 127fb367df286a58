//! The task operations of one signed-in user, shared by REST and MCP: each validates its input,
//! writes the task and its outbox events in one SQL statement, then publishes what it can.

use serde_json::{json, Value};
use todo_events::{chrono::Utc, uuid::Uuid, EncodeError};
use todo_outbox::{drain_once, publish_held};
use todo_problem::{Problem, ValidationErrors};
use todo_sidecar::SidecarError;
use todo_sql::{Database, DbError, RowError, Statement};
use todo_tasks::sql::{self, decode};
use todo_tasks::{events_for_change, validate_create, Change, ListQuery, Task, UpdateTask};

/// How many times a write is retried when the task changed between read and write.
const WRITE_ATTEMPTS: usize = 3;

/// Why an operation failed; each maps to one HTTP status / MCP tool error.
#[derive(Debug)]
pub enum ApiError {
    /// The caller's fault or a state conflict: 400, 404, 409, ...
    Problem(Problem),
    /// The sidecar or the database is unavailable: 503, try again.
    Unavailable(String),
    /// A bug or an unexpected answer: 500.
    Internal(String),
}

impl ApiError {
    /// The RFC 9457 body of this error.
    pub fn problem(&self) -> Problem {
        match self {
            ApiError::Problem(p) => p.clone(),
            ApiError::Unavailable(d) => Problem::unavailable(d.clone()),
            ApiError::Internal(_) => Problem::internal("internal error"),
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(e: ValidationErrors) -> Self {
        ApiError::Problem(Problem::validation(&e))
    }
}

impl From<SidecarError> for ApiError {
    fn from(e: SidecarError) -> Self {
        if e.is_transient() {
            ApiError::Unavailable(e.to_string())
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sidecar(e) => e.into(),
            DbError::Row(e) => e.into(),
            DbError::Config(e) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<RowError> for ApiError {
    fn from(e: RowError) -> Self {
        // No row: the statement failed inside the database (the binding reports that as `[]`).
        ApiError::Unavailable(format!("database: {e}"))
    }
}

impl From<EncodeError> for ApiError {
    fn from(e: EncodeError) -> Self {
        ApiError::Internal(format!("event failed its schema: {e}"))
    }
}

fn not_found() -> ApiError {
    ApiError::Problem(Problem::not_found("no such task"))
}

/// The signed-in user's view of the task service.
pub struct Tasks<'a> {
    /// The database, through the component's sidecar.
    pub db: &'a Database,
    /// The JWT `sub`.
    pub user: &'a str,
    /// The JWT `email`, if any: where the user's email reminders go.
    pub email: Option<&'a str>,
    /// Secret that signs list cursors.
    pub cursor_secret: &'a [u8],
}

impl Tasks<'_> {
    async fn run(&self, st: &Statement) -> Result<Vec<Vec<Value>>, ApiError> {
        Ok(self.db.rows(st).await?)
    }

    /// Creates a task from a JSON body (REST) or tool arguments (MCP).
    pub async fn create(&self, body: &[u8]) -> Result<Task, ApiError> {
        let mut task = validate_create(body, Uuid::new_v4(), self.user, Utc::now())?;
        task.attach_email(self.email)?;
        let outbox = events_for_change(Change::Created, None, &task)?;
        let (stored, ids) = decode::inserted(&self.run(&sql::insert_task(&task, &outbox)).await?)?;
        let stored =
            stored.ok_or_else(|| ApiError::Internal("new task id already taken".into()))?;
        // The new task's events are this request's to publish: no claim statement.
        let held = todo_outbox::held_rows(&ids, &outbox)?;
        if let Err(e) = publish_held(self.db, &held).await {
            eprintln!(
                "task-api: publishing task {}'s events: {e}; the outbox timer publishes them",
                stored.id
            );
        }
        Ok(stored)
    }

    /// One task of the user; another user's task is "not found".
    pub async fn get(&self, id: Uuid) -> Result<Task, ApiError> {
        decode::task(&self.run(&sql::get_task(self.user, id)).await?)?.ok_or_else(not_found)
    }

    /// A page of the user's tasks for a query string (filters, sort, cursor).
    pub async fn list(&self, query: &str) -> Result<Value, ApiError> {
        let q = ListQuery::parse(query, self.user, self.cursor_secret)?;
        let page = decode::task_page(
            &self.run(&sql::list_tasks(&q)).await?,
            &q,
            self.cursor_secret,
        )?;
        Ok(json!({ "items": page.items, "next_cursor": page.next_cursor }))
    }

    /// Applies a partial update. With `version` in the patch a stale write is a 409; without it
    /// a concurrent change is re-read and the patch applied again.
    pub async fn update(&self, id: Uuid, patch: &UpdateTask) -> Result<Task, ApiError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get(id).await?;
            if patch
                .expected_version()
                .is_some_and(|v| v != current.version)
            {
                return Err(ApiError::Problem(Problem::conflict(format!(
                    "the task is at version {}",
                    current.version
                ))));
            }
            let mut next = current.apply_update(patch, Utc::now())?;
            next.attach_email(self.email)?;
            if !next.content_differs(&current) {
                return Ok(current);
            }
            let outbox = events_for_change(Change::Updated, Some(&current), &next)?;
            if let Some(stored) = decode::task(&self.run(&sql::update_task(&next, &outbox)).await?)?
            {
                drain_once(self.db, "task-api").await;
                return Ok(stored);
            }
        }
        Err(ApiError::Problem(Problem::conflict(
            "the task keeps changing; try again",
        )))
    }

    /// Deletes a task (its events carry its last state).
    pub async fn delete(&self, id: Uuid) -> Result<(), ApiError> {
        for _ in 0..WRITE_ATTEMPTS {
            let current = self.get(id).await?;
            let outbox = events_for_change(Change::Deleted, Some(&current), &current)?;
            let st = sql::delete_task(self.user, id, current.version, &outbox);
            if decode::task(&self.run(&st).await?)?.is_some() {
                drain_once(self.db, "task-api").await;
                return Ok(());
            }
        }
        Err(ApiError::Problem(Problem::conflict(
            "the task keeps changing; try again",
        )))
    }

    /// A page of the user's reminders (the notification service's record of them).
    pub async fn reminders(&self, query: &str) -> Result<Value, ApiError> {
        let q = todo_reminders::ReminderQuery::parse(query, self.user, self.cursor_secret)?;
        let page = todo_reminders::reminder_page(
            &self.run(&q.statement()).await?,
            &q,
            self.cursor_secret,
        )?;
        Ok(json!({ "items": page.items, "next_cursor": page.next_cursor }))
    }

    /// Adds one reminder (`remind_at`, or `before_minutes` before the due date) to a task.
    pub async fn add_reminder(&self, id: Uuid, reminder: Value) -> Result<Task, ApiError> {
        let current = self.get(id).await?;
        let mut reminders: Vec<Value> = current
            .reminders
            .iter()
            .map(|r| match r.before_minutes {
                Some(m) => json!({ "id": r.id, "before_minutes": m, "channel": r.channel }),
                None => json!({ "id": r.id, "remind_at": todo_tasks::format_instant(r.remind_at), "channel": r.channel }),
            })
            .collect();
        reminders.push(reminder);
        let patch =
            UpdateTask::from_value(&json!({ "reminders": reminders, "version": current.version }))?;
        self.update(id, &patch).await
    }
}
