//! Audit statements: record an event once per consumer, list a user's audit log.

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use todo_events::{TaskEvent, Topic};
use todo_metrics::{delivery_row, processed_batch_cte, processed_cte, Delivery};

use super::{ts_ms, Binder, Statement};
use crate::query::AuditQuery;
use crate::time::{format_instant, parse_any_instant};

/// One task event to record in the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The event's id (deduplication key).
    pub event_id: Uuid,
    /// Owner of the task.
    pub user_id: String,
    /// The task.
    pub task_id: Uuid,
    /// `task.created`, ...
    pub event_type: String,
    /// The event's `timestamp`.
    pub occurred_at: DateTime<Utc>,
    /// The event's `schema_version`.
    pub schema_version: String,
    /// The event as received (unknown fields kept).
    pub payload: Value,
}

impl AuditRecord {
    /// The record of a decoded `event` whose JSON as received is `raw`; `None` if its
    /// `timestamp` is not an RFC 3339 instant (a schema-valid event always has one).
    pub fn from_event(event: &TaskEvent, raw: Value) -> Option<AuditRecord> {
        Some(AuditRecord {
            event_id: event.event_id,
            user_id: event.user_id.clone(),
            task_id: event.task_id,
            event_type: event.event_type.as_str().to_owned(),
            occurred_at: parse_any_instant(&event.timestamp)?,
            schema_version: event.schema_version.clone(),
            payload: raw,
        })
    }
}

/// Records `rec` for `consumer` exactly once: the idempotency row in `processed_events` (with
/// the delivery's metrics columns: received at `received_at`, todo-metrics) and the audit row in
/// one statement; a redelivery inserts nothing.
/// Row: `{"processed": <true the first time for this consumer>, "inserted": <true if an audit
/// row was written>}`.
pub fn record_audit(consumer: &str, rec: &AuditRecord, received_at: DateTime<Utc>) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let e = b.cast(Some(rec.event_id.to_string()), "uuid");
    let u = b.str(&rec.user_id);
    let t = b.cast(Some(rec.task_id.to_string()), "uuid");
    let kind = b.str(&rec.event_type);
    let at = b.cast(Some(format_instant(rec.occurred_at)), "timestamptz");
    let v = b.str(&rec.schema_version);
    let delivery = Delivery {
        topic: Topic::TaskEvents,
        event_type: rec.event_type.clone(),
        schema_version: rec.schema_version.clone(),
        event_at: Some(rec.occurred_at),
        received_at,
    };
    let pe = processed_cte(&mut b, &c, &e, &delivery);
    let payload = b.jsonb(&rec.payload);
    let sql = format!(
        "WITH {pe}, \
         ins AS (INSERT INTO audit_log (event_id, user_id, task_id, event_type, occurred_at, \
         schema_version, payload) \
         SELECT pe.event_id, {u}, {t}, {kind}, {at}, {v}, {payload} FROM pe \
         ON CONFLICT (event_id) DO NOTHING RETURNING seq) \
         SELECT jsonb_build_object('processed', EXISTS (SELECT 1 FROM pe), \
         'inserted', EXISTS (SELECT 1 FROM ins))::text"
    );
    b.finish(sql)
}

/// Records every one of `recs` for `consumer` exactly once, in one statement (a bulk delivery):
/// the idempotency rows in `processed_events` (received at `received_at`; the metrics trigger
/// counts them per statement) and the audit rows of those new to this consumer, in `recs`'
/// order; redeliveries, and an event twice in `recs`, insert nothing more. All or nothing: one
/// statement is one transaction.
/// Row: `{"processed": <rows new to this consumer>, "inserted": <audit rows written>}`.
pub fn record_audit_batch(
    consumer: &str,
    recs: &[AuditRecord],
    received_at: DateTime<Utc>,
) -> Statement {
    let mut b = Binder::default();
    let c = b.str(consumer);
    let rows = recs
        .iter()
        .enumerate()
        .map(|(ord, r)| {
            let delivery = Delivery {
                topic: Topic::TaskEvents,
                event_type: r.event_type.clone(),
                schema_version: r.schema_version.clone(),
                event_at: Some(r.occurred_at),
                received_at,
            };
            let mut row = delivery_row(ord, r.event_id, &delivery);
            row.insert("user_id".into(), r.user_id.clone().into());
            row.insert("task_id".into(), r.task_id.to_string().into());
            row.insert("occurred_at".into(), format_instant(r.occurred_at).into());
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

/// One page of `q.user_id`'s audit log, newest first (by recording order), `limit + 1` rows.
/// Row: `{"items": [{"seq", "event_id", "task_id", "event_type", "occurred_at", "recorded_at",
/// "schema_version", "payload"}, ...]}`.
pub fn list_audit(q: &AuditQuery) -> Statement {
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
            b.cast(Some(format_instant(f)), "timestamptz")
        ));
    }
    if let Some(t) = q.to {
        conds.push(format!(
            "a.occurred_at < {}",
            b.cast(Some(format_instant(t)), "timestamptz")
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
