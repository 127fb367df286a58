//! The audit log's SQL (`audit_log`, migrations/V3__audit.sql): recording task events once per
//! event id, with the consumer's inbox row, and reading a user's log newest first.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_consumer::{delivery_row, processed_batch_cte, Delivery};
use todo_events::uuid::Uuid;
use todo_sql::{field, single, ts_ms, Binder, RowError, Statement};

use crate::query::AuditQuery;

/// One task event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The event's id (the audit row's key).
    pub event_id: Uuid,
    /// Owner of the task.
    pub user_id: String,
    /// The task.
    pub task_id: Uuid,
    /// The event's `timestamp`, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub occurred_at: String,
    /// The event as received (unknown fields kept).
    pub payload: Value,
    /// Its delivery: event type, `schema_version`, when it arrived (the inbox row's columns).
    pub delivery: Delivery,
}

/// Records every one of `recs` for `consumer` exactly once, in one statement: the inbox rows in
/// `processed_events` and the audit rows of the events new to this consumer, in `recs`' order;
/// a redelivery, and an event twice in `recs`, insert nothing more. All or nothing: one statement
/// is one transaction. Row: [`Recorded`].
pub fn record(consumer: &str, recs: &[AuditRecord]) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let rows = recs
        .iter()
        .enumerate()
        .map(|(ord, r)| {
            let mut row = delivery_row(ord, r.event_id, &r.delivery);
            row.insert("user_id".into(), r.user_id.clone().into());
            row.insert("task_id".into(), r.task_id.to_string().into());
            row.insert("occurred_at".into(), r.occurred_at.clone().into());
            row.insert("payload".into(), r.payload.clone());
            Value::Object(row)
        })
        .collect();
    let ctes = processed_batch_cte(
        &mut b,
        &c,
        rows,
        "user_id text, task_id uuid, occurred_at timestamptz, payload jsonb",
    );
    let sql = format!(
        "WITH {ctes}, \
         ins AS (INSERT INTO audit_log (event_id, user_id, task_id, event_type, occurred_at, \
         schema_version, payload) \
         SELECT s.event_id, s.user_id, s.task_id, s.event_type, s.occurred_at, s.schema_version, \
         s.payload FROM src s JOIN pe ON pe.event_id = s.event_id ORDER BY s.ord \
         ON CONFLICT (event_id) DO NOTHING RETURNING seq) \
         SELECT jsonb_build_object('processed', (SELECT count(*) FROM pe), \
         'inserted', (SELECT count(*) FROM ins))::text"
    );
    b.finish(sql)
}

/// What [`record`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Recorded {
    /// Events this consumer saw for the first time (the others were redeliveries).
    pub processed: u64,
    /// Audit rows written.
    pub inserted: u64,
}

/// One page of `q.user_id`'s audit log, newest first (by recording order), `limit + 1` rows.
/// Row: `{"items": [`[`AuditEntry`]`, ...]}`.
pub fn list(q: &AuditQuery) -> Statement {
    let mut b = Binder::default();
    let mut conds = vec![format!("a.user_id = {}", b.str(&q.user_id))];
    if let Some(t) = q.task_id {
        conds.push(format!(
            "a.task_id = {}",
            b.cast(Some(t.to_string()), "uuid")
        ));
    }
    if let Some(f) = q.from {
        conds.push(format!(
            "a.occurred_at >= {}",
            b.cast(Some(todo_events::format_timestamp(f)), "timestamptz")
        ));
    }
    if let Some(t) = q.to {
        conds.push(format!(
            "a.occurred_at < {}",
            b.cast(Some(todo_events::format_timestamp(t)), "timestamptz")
        ));
    }
    if let Some(pos) = &q.after {
        conds.push(format!(
            "a.seq < {}",
            b.cast(Some(pos.key.clone()), "bigint")
        ));
    }
    let limit = b.cast(Some((q.limit + 1).to_string()), "integer");
    let sql = format!(
        "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(p.item ORDER BY p.seq DESC), \
         '[]'::jsonb))::text FROM (SELECT a.seq, jsonb_build_object('seq', a.seq, \
         'event_id', a.event_id, 'task_id', a.task_id, 'event_type', a.event_type, \
         'occurred_at', {}, 'recorded_at', {}, 'schema_version', a.schema_version, \
         'payload', a.payload) AS item FROM audit_log a WHERE {} \
         ORDER BY a.seq DESC LIMIT {limit}) p",
        ts_ms("a.occurred_at"),
        ts_ms("a.recorded_at"),
        conds.join(" AND ")
    );
    b.finish(sql)
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
    /// The event's `timestamp` (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub occurred_at: String,
    /// When the audit service recorded it.
    pub recorded_at: String,
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

/// The page of [`list`]`(q)`: at most `q.limit` entries, and a cursor when the statement found
/// one more.
pub fn page(rows: &[Vec<Value>], q: &AuditQuery, secret: &[u8]) -> Result<AuditPage, RowError> {
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
    use todo_sql::conventions::{check, param_after};

    const SECRET: &[u8] = b"cursor-secret";

    #[test]
    fn audit_list_filters_on_user_task_and_time() {
        let task = Uuid::new_v4();
        let q = AuditQuery::parse(
            &format!("task_id={task}&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=5"),
            "gina",
            SECRET,
        )
        .unwrap();
        let c = q.cursor_after(42, SECRET);
        let q = AuditQuery::parse(
            &format!(
                "task_id={task}&from=2026-05-01T00:00:00Z&to=2026-05-02T00:00:00Z&limit=5&cursor={c}"
            ),
            "gina",
            SECRET,
        )
        .unwrap();
        let st = list(&q);
        check(&st);
        assert!(st
            .sql
            .contains("WHERE a.user_id = $1::text AND a.task_id = $2::text::uuid"));
        assert_eq!(st.params[0], json!("gina"));
        assert_eq!(
            param_after(&st, "a.occurred_at >= "),
            &json!("2026-05-01T00:00:00.000Z")
        );
        assert_eq!(
            param_after(&st, "a.occurred_at < "),
            &json!("2026-05-02T00:00:00.000Z")
        );
        assert_eq!(param_after(&st, "a.seq < "), &json!("42"));
        assert_eq!(param_after(&st, "LIMIT "), &json!("6"));
        assert!(st.sql.contains("ORDER BY a.seq DESC"));
    }
}
