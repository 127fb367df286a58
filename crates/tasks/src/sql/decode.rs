//! Decoders of the rows the statements return.
//!
//! The binding's `query` answers a JSON array of rows, each an array of column values; every
//! statement of this crate returns exactly one row with one text column holding a JSON object.
//! Feed the decoders either the raw response body ([`rows_from_body`]) or the rows as the
//! sidecar client returns them (`Vec<Vec<Value>>`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::query::{AuditQuery, ListQuery};
use crate::task::Task;
use crate::time::serde_instant;

use todo_sql::{field, shape};
pub use todo_sql::{rows_from_body, single, RowError};

/// `{"task": ...}` of get / insert / update / delete: the task, or `None`.
pub fn task(rows: &[Vec<Value>]) -> Result<Option<Task>, RowError> {
    field(&single(rows)?, "task")
}

/// The row of [`super::insert_task`]: the created task (None: its id was taken) and the ids of
/// its outbox rows, which the writer holds and publishes (`todo_outbox::held_rows`).
pub fn inserted(rows: &[Vec<Value>]) -> Result<(Option<Task>, Vec<i64>), RowError> {
    let v = single(rows)?;
    Ok((field(&v, "task")?, field(&v, "outbox")?))
}

/// What [`super::roll_forward_once`] did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RollOutcome {
    /// The event was new to this consumer (false: a redelivery, nothing changed).
    pub processed: bool,
    /// The (series, occurrence) was new (false: already rolled by another event).
    pub rolled: bool,
    /// The next occurrence created by this call, if any.
    pub task: Option<Task>,
}

/// The row of [`super::roll_forward_once`].
pub fn roll_outcome(rows: &[Vec<Value>]) -> Result<RollOutcome, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// One page of tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaskPage {
    /// The tasks of this page.
    pub items: Vec<Task>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListItem {
    task: Task,
    sort_key: String,
}

/// The page of [`super::list_tasks`]`(q)`: at most `q.limit` tasks, and a next cursor (keyed
/// with `secret`, as given to [`ListQuery::parse`]) when the extra row shows there are more.
pub fn task_page(rows: &[Vec<Value>], q: &ListQuery, secret: &[u8]) -> Result<TaskPage, RowError> {
    let mut items: Vec<ListItem> = field(&single(rows)?, "items")?;
    let more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => {
            Some(q.cursor_after(&last.sort_key, &last.task.id.to_string(), secret))
        }
        _ => None,
    };
    Ok(TaskPage {
        items: items.into_iter().map(|i| i.task).collect(),
        next_cursor,
    })
}

pub use todo_outbox::{outbox_batch, outbox_stats_row as outbox_stats, OutboxRow, OutboxStats};
pub use todo_sql::count;

/// Outcome of [`super::record_audit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AuditOutcome {
    /// True the first time this consumer saw the event (false: a redelivery, nothing changed).
    pub processed: bool,
    /// True if an audit row was written.
    pub inserted: bool,
}

/// The row of [`super::record_audit`].
pub fn audit_outcome(rows: &[Vec<Value>]) -> Result<AuditOutcome, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// Outcome of [`super::record_audit_batch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct AuditBatchOutcome {
    /// Events this consumer saw for the first time (the others were redeliveries).
    pub processed: u64,
    /// Audit rows written.
    pub inserted: u64,
}

/// The row of [`super::record_audit_batch`].
pub fn audit_batch_outcome(rows: &[Vec<Value>]) -> Result<AuditBatchOutcome, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// One audit log entry as `GET /api/audit` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Recording order (internal; the cursor carries it).
    #[serde(skip_serializing)]
    pub seq: i64,
    /// The event's id.
    pub event_id: Uuid,
    /// The task.
    pub task_id: Uuid,
    /// `task.created`, `task.updated`, `task.completed` or `task.deleted`.
    pub event_type: String,
    /// The event's `timestamp`.
    #[serde(with = "serde_instant")]
    pub occurred_at: DateTime<Utc>,
    /// When the audit service recorded it.
    #[serde(with = "serde_instant")]
    pub recorded_at: DateTime<Utc>,
    /// The event's `schema_version`.
    pub schema_version: String,
    /// The event as received.
    pub payload: Value,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditPage {
    /// Entries, newest first.
    pub items: Vec<AuditEntry>,
    /// Cursor of the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// The page of [`super::list_audit`]`(q)` (see [`task_page`]).
pub fn audit_page(
    rows: &[Vec<Value>],
    q: &AuditQuery,
    secret: &[u8],
) -> Result<AuditPage, RowError> {
    let mut items: Vec<AuditEntry> = field(&single(rows)?, "items")?;
    let more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(q.cursor_after(last.seq, secret)),
        _ => None,
    };
    Ok(AuditPage { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn no_row_means_the_statement_failed() {
        assert_eq!(task(&[]), Err(RowError::NoRow));
        assert_eq!(rows_from_body(b"[]").unwrap().len(), 0);
    }

    #[test]
    fn refuses_other_shapes() {
        assert!(matches!(single(&[vec![json!(1)]]), Err(RowError::Shape(_))));
        assert!(matches!(
            single(&[vec![json!("[]")]]),
            Err(RowError::Shape(_))
        ));
        assert!(matches!(
            single(&[vec![json!("{}")], vec![json!("{}")]]),
            Err(RowError::Shape(_))
        ));
        assert!(matches!(
            single(&[vec![json!("{}"), json!("{}")]]),
            Err(RowError::Shape(_))
        ));
    }

    #[test]
    fn null_task_is_none() {
        let rows = rows_from_body(br#"[["{\"task\": null}"]]"#).unwrap();
        assert_eq!(task(&rows).unwrap(), None);
    }

    #[test]
    fn decodes_counts_and_outcomes() {
        assert_eq!(count(&[vec![json!("{\"count\": 3}")]]).unwrap(), 3);
        let o =
            audit_outcome(&[vec![json!("{\"processed\": true, \"inserted\": false}")]]).unwrap();
        assert!(o.processed && !o.inserted);
    }
}
