//! Outbox statements: claim, mark published, release, purge, stats.
//!
//! Ordering: Kafka keeps one partition key's events in order only if they are published in
//! order. A claim therefore starts only from a *head* row (the oldest unpublished row of its
//! topic and partition key) that nobody holds, locks it (`FOR UPDATE SKIP LOCKED`, so concurrent
//! drainers skip each other), and takes that key's following unpublished rows with it. While a
//! claim is live (`claimed_until` in the future) no other drainer takes any row of that key. A
//! drainer publishes its rows in `id` order, stops at the first failure for that key (and may
//! [`release_outbox`] the rest), and marks the published ones with [`mark_published`]. A crashed
//! drainer's claim expires after `claim_seconds` and another drainer publishes the rows again
//! (at-least-once; consumers deduplicate on `event_id`).

use serde_json::json;

use super::{ts_ms, Binder, Statement};

/// Claims up to `limit` unpublished rows for `claim_seconds`, oldest first, whole key runs
/// only. Row: `{"messages": [{"id", "task_id", "topic", "partition_key", "payload",
/// "created_at"}, ...]}` in `id` order (empty when there is nothing to publish).
pub fn claim_outbox(limit: u32, claim_seconds: u32) -> Statement {
    let mut b = Binder::default();
    let n = b.cast(Some(limit.max(1).to_string()), "integer");
    let secs = b.cast(Some(claim_seconds.max(1).to_string()), "integer");
    let sql = format!(
        "WITH heads AS (SELECT o.id, o.topic, o.partition_key FROM outbox o \
         WHERE o.published_at IS NULL \
         AND (o.claimed_until IS NULL OR o.claimed_until < now()) \
         AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.published_at IS NULL \
         AND p.topic = o.topic AND p.partition_key = o.partition_key AND p.id < o.id) \
         ORDER BY o.id LIMIT {n} FOR UPDATE OF o SKIP LOCKED), \
         batch AS (SELECT o.id FROM outbox o JOIN heads h \
         ON o.topic = h.topic AND o.partition_key = h.partition_key \
         WHERE o.published_at IS NULL ORDER BY o.id LIMIT {n}), \
         c AS (UPDATE outbox SET claimed_until = now() + make_interval(secs => {secs}) \
         FROM batch WHERE outbox.id = batch.id \
         RETURNING outbox.id, outbox.task_id, outbox.topic, outbox.partition_key, \
         outbox.payload, outbox.created_at) \
         SELECT jsonb_build_object('messages', COALESCE(jsonb_agg(jsonb_build_object(\
         'id', c.id, 'task_id', c.task_id, 'topic', c.topic, 'partition_key', c.partition_key, \
         'payload', c.payload, 'created_at', {}) ORDER BY c.id), '[]'::jsonb))::text FROM c",
        ts_ms("c.created_at")
    );
    b.finish(sql)
}

fn ids_param(b: &mut Binder, ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!(
        "ARRAY(SELECT jsonb_array_elements_text({})::bigint)",
        b.jsonb(&json!(ids))
    )
}

/// Marks rows `ids` published. Row: `{"count": <rows marked>}`.
pub fn mark_published(ids: &[i64]) -> Statement {
    let mut b = Binder::default();
    let list = ids_param(&mut b, ids);
    let sql = format!(
        "WITH m AS (UPDATE outbox SET published_at = now(), claimed_until = NULL \
         WHERE id = ANY({list}) AND published_at IS NULL RETURNING 1) \
         SELECT jsonb_build_object('count', (SELECT count(*) FROM m))::text"
    );
    b.finish(sql)
}

/// Gives up the claim on unpublished rows `ids` so the next drain retries them at once.
/// Row: `{"count": <rows released>}`.
pub fn release_outbox(ids: &[i64]) -> Statement {
    let mut b = Binder::default();
    let list = ids_param(&mut b, ids);
    let sql = format!(
        "WITH m AS (UPDATE outbox SET claimed_until = NULL \
         WHERE id = ANY({list}) AND published_at IS NULL RETURNING 1) \
         SELECT jsonb_build_object('count', (SELECT count(*) FROM m))::text"
    );
    b.finish(sql)
}

/// Deletes rows published more than `older_than_seconds` ago. Row: `{"count": <rows>}`.
pub fn purge_published(older_than_seconds: u32) -> Statement {
    let mut b = Binder::default();
    let secs = b.cast(Some(older_than_seconds.to_string()), "integer");
    let sql = format!(
        "WITH d AS (DELETE FROM outbox WHERE published_at IS NOT NULL \
         AND published_at < now() - make_interval(secs => {secs}) RETURNING 1) \
         SELECT jsonb_build_object('count', (SELECT count(*) FROM d))::text"
    );
    b.finish(sql)
}

/// Unpublished rows and the oldest one's creation time (for health and the delay bound).
/// Row: `{"pending": <n>, "oldest_created_at": <instant or null>}`.
pub fn outbox_stats() -> Statement {
    let sql = format!(
        "SELECT jsonb_build_object('pending', count(*), 'oldest_created_at', {})::text \
         FROM outbox WHERE published_at IS NULL",
        ts_ms("min(created_at)")
    );
    Binder::default().finish(sql)
}
