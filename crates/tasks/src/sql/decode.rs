//! Decoders of the rows the statements return.
//!
//! The binding's `query` answers a JSON array of rows, each an array of column values; every
//! statement of this crate returns exactly one row with one text column holding a JSON object.
//! Feed the decoders either the raw response body ([`rows_from_body`]) or the rows as the
//! sidecar client returns them (`Vec<Vec<Value>>`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::query::ListQuery;
use crate::task::Task;

#[cfg(test)]
use todo_sql::rows_from_body;
use todo_sql::{field, shape};
use todo_sql::{single, RowError};

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
}
