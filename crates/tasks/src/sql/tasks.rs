//! Task statements: create, get, list, update, delete.

use uuid::Uuid;

use super::{ts_ms, ts_us, Binder, Statement};
use crate::query::{ListQuery, Order, SortField};
use crate::roll::{Completed, Roll};
use crate::task::{priority_rank, Task};
use crate::time::format_instant;
use todo_consumer::{processed_cte, Delivery};
use todo_outbox::{outbox_cte, outbox_cte_held, OutboxMessage, HELD_IDS};

/// The columns written from a [`Task`] on insert.
const COLUMNS: [&str; 17] = [
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "completed_at",
    "priority",
    "tags",
    "due_at",
    "timezone",
    "recurrence",
    "recurrence_id",
    "parent_task_id",
    "reminders",
    "version",
    "created_at",
    "updated_at",
];

/// The insert columns an update does not set.
const FIXED_COLUMNS: [&str; 3] = ["id", "user_id", "created_at"];

/// A task row (alias `a`) as the JSON object [`Task`] deserialises from.
pub(crate) fn task_json(a: &str) -> String {
    format!(
        "jsonb_build_object('id', {a}.id, 'user_id', {a}.user_id, 'title', {a}.title, \
         'description', {a}.description, 'completed', {a}.completed, \
         'completed_at', {completed_at}, \
         'priority', (ARRAY['low','normal','high','urgent'])[{a}.priority + 1], \
         'tags', to_jsonb({a}.tags), 'due_date', {due}, 'timezone', {a}.timezone, \
         'recurrence', {a}.recurrence, 'recurrence_id', {a}.recurrence_id, \
         'parent_task_id', {a}.parent_task_id, 'reminders', {a}.reminders, \
         'version', {a}.version, 'created_at', {created}, 'updated_at', {updated})",
        completed_at = ts_ms(&format!("{a}.completed_at")),
        due = ts_ms(&format!("{a}.due_at")),
        created = ts_ms(&format!("{a}.created_at")),
        updated = ts_ms(&format!("{a}.updated_at")),
    )
}

/// Binds column `column` of `t` and answers its cast placeholder.
fn bind_column(b: &mut Binder, t: &Task, column: &str) -> String {
    match column {
        "id" => b.cast(Some(t.id.to_string()), "uuid"),
        "user_id" => b.str(&t.user_id),
        "title" => b.str(&t.title),
        "description" => b.text(t.description.clone()),
        "completed" => b.cast(Some(t.completed.to_string()), "boolean"),
        "completed_at" => b.cast(t.completed_at.map(format_instant), "timestamptz"),
        "priority" => b.cast(Some(t.priority_rank().to_string()), "smallint"),
        "tags" => {
            let tags = serde_json::to_value(&t.tags).unwrap_or_default();
            format!(
                "ARRAY(SELECT jsonb_array_elements_text({}))",
                b.jsonb(&tags)
            )
        }
        "due_at" => b.cast(t.due_date.map(format_instant), "timestamptz"),
        "timezone" => b.str(&t.timezone),
        "recurrence" => b.text(t.recurrence.clone()),
        "recurrence_id" => b.cast(t.recurrence_id.map(|u| u.to_string()), "uuid"),
        "parent_task_id" => b.cast(t.parent_task_id.map(|u| u.to_string()), "uuid"),
        "reminders" => b.jsonb(&serde_json::to_value(&t.reminders).unwrap_or_default()),
        "version" => b.cast(Some(t.version.to_string()), "integer"),
        "created_at" => b.cast(Some(format_instant(t.created_at)), "timestamptz"),
        "updated_at" => b.cast(Some(format_instant(t.updated_at)), "timestamptz"),
        other => unreachable!("unknown task column {other}"),
    }
}

/// Binds every insert column of `t` and answers the placeholders, comma-separated.
fn insert_values(b: &mut Binder, t: &Task) -> String {
    COLUMNS
        .iter()
        .map(|c| bind_column(b, t, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts `task` and its `outbox` messages in one statement, the messages held by the writer
/// (`todo_outbox::outbox_cte_held`: a new task's events have no earlier row of their key).
/// Row: `{"task": <task>, "outbox": [<row id>, ...]}` (see [`super::decode::inserted`]), or
/// `{"task": null, "outbox": []}` if a task with that id already exists.
pub fn insert_task(task: &Task, outbox: &[OutboxMessage]) -> Statement {
    let mut b = Binder::default();
    let values = insert_values(&mut b, task);
    let o = outbox_cte_held(&mut b, "w", outbox);
    let columns = COLUMNS.join(", ");
    let sql = format!(
        "WITH w AS (INSERT INTO tasks ({columns}) VALUES ({values}) \
         ON CONFLICT (id) DO NOTHING RETURNING *), {o} \
         SELECT jsonb_build_object('task', (SELECT {} FROM w), 'outbox', {HELD_IDS})::text",
        task_json("w")
    );
    b.finish(sql)
}

/// The recurring service's roll of one completed occurrence, at most once: in one statement,
/// the idempotency record of `(consumer, event_id)`, the roll record of (series, completed due
/// instant) and, if both are new and the series goes on, the next occurrence's task row and its
/// `outbox` messages. A redelivered event, a second completion of the same occurrence (after a
/// reopen), or a completion racing another all find one of the two keys taken and change nothing.
/// The idempotency row carries `delivery`'s metrics columns (the consumer inbox, todo-consumer).
/// Row: `{"processed": <event new>, "rolled": <roll new>, "task": <the created task or null>}`.
pub fn roll_forward_once(
    consumer: &str,
    event_id: Uuid,
    completed: &Completed,
    roll: &Roll,
    outbox: &[OutboxMessage],
    delivery: &Delivery,
) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let e = b.cast(Some(event_id.to_string()), "uuid");
    let series = b.cast(Some(completed.series.to_string()), "uuid");
    let from_due = b.cast(Some(format_instant(completed.due)), "timestamptz");
    let from_task = b.cast(Some(completed.task.id.to_string()), "uuid");
    let (next_id, next_due, outcome) = match roll {
        Roll::Next(t) => (
            b.cast(Some(t.id.to_string()), "uuid"),
            b.cast(t.due_date.map(format_instant), "timestamptz"),
            b.str("created"),
        ),
        Roll::Exhausted => (
            b.cast(None, "uuid"),
            b.cast(None, "timestamptz"),
            b.str("exhausted"),
        ),
    };
    let insert = match roll {
        Roll::Next(t) => {
            let values = insert_values(&mut b, t);
            let o = outbox_cte(&mut b, "w", outbox);
            format!(
                "w AS (INSERT INTO tasks ({}) SELECT {values} FROM r \
                 WHERE r.next_task_id IS NOT NULL ON CONFLICT DO NOTHING RETURNING *), {o}",
                COLUMNS.join(", ")
            )
        }
        Roll::Exhausted => "w AS (SELECT * FROM tasks WHERE false)".to_string(),
    };
    let pe = processed_cte(&mut b, &c, &e, delivery);
    let sql = format!(
        "WITH {pe}, \
         r AS (INSERT INTO recurrence_rolls (recurrence_id, from_due_at, from_task_id, \
         next_task_id, next_due_at, outcome, event_id) \
         SELECT {series}, {from_due}, {from_task}, {next_id}, {next_due}, {outcome}, {e} FROM pe \
         ON CONFLICT DO NOTHING RETURNING next_task_id), {insert} \
         SELECT jsonb_build_object('processed', EXISTS (SELECT 1 FROM pe), \
         'rolled', EXISTS (SELECT 1 FROM r), 'task', (SELECT {} FROM w))::text",
        task_json("w")
    );
    b.finish(sql)
}

/// Task `id` of `user_id`. Row: `{"task": <task or null>}` (null also for another user's task).
pub fn get_task(user_id: &str, id: Uuid) -> Statement {
    let mut b = Binder::default();
    let u = b.str(user_id);
    let i = b.cast(Some(id.to_string()), "uuid");
    let sql = format!(
        "SELECT jsonb_build_object('task', (SELECT {} FROM tasks t \
         WHERE t.user_id = {u} AND t.id = {i}))::text",
        task_json("t")
    );
    b.finish(sql)
}

/// Writes `task` (the new state from [`Task::apply_update`], whose `version` is the read
/// version + 1) if the stored row still has the read version, and inserts `outbox` only then.
/// Row: `{"task": <new task>}`, or `{"task": null}` when the task is gone, belongs to another
/// user, or changed since it was read (re-read to tell which).
pub fn update_task(task: &Task, outbox: &[OutboxMessage]) -> Statement {
    let mut b = Binder::default();
    let id = b.cast(Some(task.id.to_string()), "uuid");
    let user = b.str(&task.user_id);
    let read_version = b.cast(Some((task.version - 1).to_string()), "integer");
    let sets = COLUMNS
        .iter()
        .filter(|c| !FIXED_COLUMNS.contains(c))
        .map(|c| format!("{c} = {}", bind_column(&mut b, task, c)))
        .collect::<Vec<_>>()
        .join(", ");
    let o = outbox_cte(&mut b, "w", outbox);
    let sql = format!(
        "WITH w AS (UPDATE tasks SET {sets} \
         WHERE id = {id} AND user_id = {user} AND version = {read_version} RETURNING *), {o} \
         SELECT jsonb_build_object('task', (SELECT {} FROM w))::text",
        task_json("w")
    );
    b.finish(sql)
}

/// Deletes task `id` of `user_id` if it still has `version`, inserting `outbox` only then.
/// Row: `{"task": <the deleted task>}` or `{"task": null}`.
pub fn delete_task(user_id: &str, id: Uuid, version: i32, outbox: &[OutboxMessage]) -> Statement {
    let mut b = Binder::default();
    let i = b.cast(Some(id.to_string()), "uuid");
    let u = b.str(user_id);
    let v = b.cast(Some(version.to_string()), "integer");
    let o = outbox_cte(&mut b, "w", outbox);
    let sql = format!(
        "WITH w AS (DELETE FROM tasks WHERE id = {i} AND user_id = {u} AND version = {v} \
         RETURNING *), {o} \
         SELECT jsonb_build_object('task', (SELECT {} FROM w))::text",
        task_json("w")
    );
    b.finish(sql)
}

/// The sort key of a list: expression, its text for cursors, and the cursor cast.
fn sort_key(sort: SortField) -> (&'static str, String, &'static str) {
    match sort {
        SortField::DueDate => (
            "COALESCE(t.due_at, 'infinity'::timestamptz)",
            format!(
                "CASE WHEN t.due_at IS NULL THEN 'infinity' ELSE {} END",
                ts_us("t.due_at")
            ),
            "::timestamptz",
        ),
        SortField::Created => ("t.created_at", ts_us("t.created_at"), "::timestamptz"),
        SortField::Priority => ("t.priority", "t.priority::text".to_owned(), "::smallint"),
        SortField::Title => ("lower(t.title)", "lower(t.title)".to_owned(), ""),
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern (default escape character `\`).
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One page of `q.user_id`'s tasks: filters, sort with id as tiebreaker, keyset after the
/// cursor, `limit + 1` rows (the extra one only tells that a next page exists).
/// Row: `{"items": [{"task": <task>, "sort_key": "<text>"}, ...]}` in page order.
pub fn list_tasks(q: &ListQuery) -> Statement {
    let mut b = Binder::default();
    let mut conds = vec![format!("t.user_id = {}", b.str(&q.user_id))];
    if let Some(c) = q.completed {
        conds.push(format!(
            "t.completed = {}",
            b.cast(Some(c.to_string()), "boolean")
        ));
    }
    if !q.priorities.is_empty() {
        let ranks: Vec<String> = q
            .priorities
            .iter()
            .map(|p| priority_rank(*p).to_string())
            .collect();
        conds.push(format!(
            "t.priority = ANY(ARRAY(SELECT jsonb_array_elements_text({})::smallint))",
            b.jsonb(&serde_json::json!(ranks))
        ));
    }
    if !q.tags.is_empty() {
        conds.push(format!(
            "t.tags @> ARRAY(SELECT jsonb_array_elements_text({}))",
            b.jsonb(&serde_json::json!(q.tags))
        ));
    }
    if let Some(t) = q.due_before {
        conds.push(format!(
            "t.due_at < {}",
            b.cast(Some(format_instant(t)), "timestamptz")
        ));
    }
    if let Some(t) = q.due_after {
        conds.push(format!(
            "t.due_at > {}",
            b.cast(Some(format_instant(t)), "timestamptz")
        ));
    }
    if let Some(text) = &q.q {
        let pattern = format!("%{}%", like_escape(text));
        conds.push(format!(
            "(t.title || ' ' || COALESCE(t.description, '')) ILIKE {}",
            b.str(&pattern)
        ));
    }
    let (key, key_text, cast) = sort_key(q.sort);
    let dir = match q.order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    if let Some(pos) = &q.after {
        let op = match q.order {
            Order::Asc => ">",
            Order::Desc => "<",
        };
        let k = b.str(&pos.key);
        let i = b.cast(Some(pos.id.clone()), "uuid");
        conds.push(format!("({key}, t.id) {op} ({k}{cast}, {i})"));
    }
    let limit = b.cast(Some((q.limit + 1).to_string()), "integer");
    let sql = format!(
        "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(p.item ORDER BY p.k {dir}, p.id {dir}), \
         '[]'::jsonb))::text FROM (SELECT {key} AS k, t.id AS id, \
         jsonb_build_object('task', {}, 'sort_key', {key_text}) AS item \
         FROM tasks t WHERE {} ORDER BY {key} {dir}, t.id {dir} LIMIT {limit}) p",
        task_json("t"),
        conds.join(" AND ")
    );
    b.finish(sql)
}

#[cfg(test)]
mod tests {
    use super::like_escape;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape(r"50%_off\"), r"50\%\_off\\");
    }
}
