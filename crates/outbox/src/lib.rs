//! The transactional outbox (table `outbox`, migrations/V2__outbox.sql) over Dapr's PostgreSQL
//! binding, shared by every service that publishes events as the effect of a write.
//!
//! A write stores its events with [`outbox_cte`] in the same statement as its own rows, so they
//! are never lost and never published for a write that did not commit; the relay ([`drain_once`],
//! feature `relay`) then publishes them through the Dapr sidecar, in order per partition key.
//!
//! Ordering: Kafka keeps one partition key's events in order only if they are published in
//! order. A claim therefore starts only from a *head* row (the oldest unpublished row of its
//! topic and partition key) that nobody holds, locks it (`FOR UPDATE SKIP LOCKED`, so concurrent
//! drainers skip each other), and takes that key's following unpublished rows with it. While a
//! claim is live (`claimed_until` in the future) no other drainer takes any row of that key. A
//! drainer publishes its rows in `id` order, stops at the first failure for that key (and may
//! [`release_outbox`] the rest), and marks the published ones with [`mark_published`]. A crashed
//! drainer's claim expires after `claim_seconds` and another drainer publishes the rows again
//! (at-least-once; consumers deduplicate on `event_id`). The first events of a task a write
//! creates have no earlier row of their key, so that write holds them from the start
//! ([`outbox_cte_held`]) and publishes them without a claim.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use todo_events::{EncodeError, Event};
use todo_metrics::publish_errors_cte;
pub use todo_metrics::PublishFailure;
use todo_sql::{field, shape, single, ts_ms, Binder, RowError, Statement};
use uuid::Uuid;

#[cfg(feature = "relay")]
mod relay;
#[cfg(feature = "relay")]
pub use relay::{drain, drain_once, publish_held, PUBSUB};

/// How long a claim holds before another drainer may take the rows over (a drain's claim and a
/// write's own rows alike): how long the events of a writer that died (a replica killed
/// mid-request) wait. 10 s, down from 30 s (issue 20: a killed task-api replica's last writes
/// reached the consumers 28 s late). A live drainer slower than that (a publish to a hanging
/// broker before the circuit breaker opens) gets company: the rows are published twice, both
/// times from the key's head row in id order, so the first occurrences keep their order and the
/// consumers' inbox absorbs the copies.
pub const CLAIM_SECONDS: u32 = 10;

/// One event to publish, stored in the outbox in the same statement as the write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Topic name (`task-events`, `task-updates`, `reminders`).
    pub topic: String,
    /// Kafka partition key (`metadata.partitionKey`): the task id.
    pub partition_key: String,
    /// The event, validated against its schema (with `schema_version` stamped).
    pub payload: Value,
}

impl OutboxMessage {
    /// Encodes `event` (stamp `schema_version`, validate against the topic's schema) for its topic,
    /// keyed by its task id.
    pub fn encode<E: Event>(event: &E) -> Result<OutboxMessage, EncodeError> {
        Ok(OutboxMessage {
            topic: E::TOPIC.name().to_owned(),
            partition_key: event.task_id().to_string(),
            payload: todo_events::to_value(event)?,
        })
    }
}

/// The outbox messages as the JSON array parameter of a write statement.
pub fn outbox_param(messages: &[OutboxMessage]) -> Value {
    serde_json::to_value(messages).unwrap_or_else(|_| Value::Array(Vec::new()))
}

/// The CTE `o` that inserts `outbox` rows, in order, once for each row of CTE `w` (a write's
/// `RETURNING` with an `id` column: 0 rows, nothing is inserted; 1 row, every message is).
/// `w.id` becomes the rows' `task_id`.
pub fn outbox_cte(b: &mut Binder, w: &str, outbox: &[OutboxMessage]) -> String {
    let messages = b.jsonb(&outbox_param(outbox));
    format!(
        "o AS (INSERT INTO outbox (task_id, topic, partition_key, payload) \
         SELECT {w}.id, m.msg->>'topic', m.msg->>'partition_key', m.msg->'payload' \
         FROM {w}, jsonb_array_elements({messages}) WITH ORDINALITY AS m(msg, ord) \
         ORDER BY m.ord)"
    )
}

/// [`outbox_cte`] for a write whose events nobody else can publish first: the first events of
/// a task the statement creates. No earlier row of their partition key (the task id) exists, and
/// no other write can reach the task before this statement commits, so the rows are inserted
/// already claimed for [`CLAIM_SECONDS`] and the writer publishes them itself ([`publish_held`],
/// feature `relay`) without a claim statement. The statement's row carries their ids as
/// [`HELD_IDS`] (`[]` when `w` had no row). A writer that dies before publishing them leaves
/// them to the next drain after the claim runs out, like a drainer that died.
pub fn outbox_cte_held(b: &mut Binder, w: &str, outbox: &[OutboxMessage]) -> String {
    let messages = b.jsonb(&outbox_param(outbox));
    let secs = b.cast(Some(CLAIM_SECONDS.to_string()), "integer");
    format!(
        "o AS (INSERT INTO outbox (task_id, topic, partition_key, payload, claimed_until) \
         SELECT {w}.id, m.msg->>'topic', m.msg->>'partition_key', m.msg->'payload', \
         now() + make_interval(secs => {secs}) \
         FROM {w}, jsonb_array_elements({messages}) WITH ORDINALITY AS m(msg, ord) \
         ORDER BY m.ord RETURNING id)"
    )
}

/// The runs of `messages` that must be published one after the other: one per (topic, partition
/// key), each the indexes of that key's messages in their order, the runs in the order of their
/// first message. Different runs may be published side by side: Kafka keeps order per key only.
pub fn key_runs<'a>(messages: impl IntoIterator<Item = &'a OutboxMessage>) -> Vec<Vec<usize>> {
    let mut runs: Vec<(&str, &str, Vec<usize>)> = Vec::new();
    for (i, m) in messages.into_iter().enumerate() {
        let key = (m.topic.as_str(), m.partition_key.as_str());
        match runs.iter_mut().find(|(t, k, _)| (*t, *k) == key) {
            Some((_, _, run)) => run.push(i),
            None => runs.push((key.0, key.1, vec![i])),
        }
    }
    runs.into_iter().map(|(_, _, run)| run).collect()
}

/// The ids of the rows [`outbox_cte_held`] inserted, in order, as a JSON array expression for
/// the statement's row.
pub const HELD_IDS: &str = "(SELECT COALESCE(jsonb_agg(o.id ORDER BY o.id), '[]'::jsonb) FROM o)";

/// Pairs the ids a write statement returned ([`HELD_IDS`]) with the messages it stored, in
/// order: what the writer publishes. An empty list (the write changed nothing) pairs nothing.
pub fn held_rows(
    ids: &[i64],
    outbox: &[OutboxMessage],
) -> Result<Vec<(i64, OutboxMessage)>, RowError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    if ids.len() != outbox.len() {
        return Err(shape(format!(
            "{} outbox ids for {} messages",
            ids.len(),
            outbox.len()
        )));
    }
    Ok(ids.iter().copied().zip(outbox.iter().cloned()).collect())
}

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
    release_failed(ids, &[])
}

/// [`release_outbox`] after failed publishes, counting them in the same statement:
/// `event_publish_errors_total{topic, error_type}` + 1 for each `(topic, why)` of `failures`
/// (todo-metrics). Row: `{"count": <rows released>}`.
pub fn release_failed(ids: &[i64], failures: &[(&str, PublishFailure)]) -> Statement {
    let mut b = Binder::default();
    let list = ids_param(&mut b, ids);
    let errors = if failures.is_empty() {
        String::new()
    } else {
        format!(", {}", publish_errors_cte(&mut b, "e", failures))
    };
    let sql = format!(
        "WITH m AS (UPDATE outbox SET claimed_until = NULL \
         WHERE id = ANY({list}) AND published_at IS NULL RETURNING 1){errors} \
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

/// A claimed outbox row.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OutboxRow {
    /// Row id (for [`mark_published`] / [`release_outbox`]).
    pub id: i64,
    /// The task the event is about.
    pub task_id: Uuid,
    /// Topic to publish to.
    pub topic: String,
    /// `metadata.partitionKey` of the publish.
    pub partition_key: String,
    /// The event body.
    pub payload: Value,
    /// When the write that produced it committed (about).
    pub created_at: DateTime<Utc>,
}

/// The rows of [`claim_outbox`], in publishing order.
pub fn outbox_batch(rows: &[Vec<Value>]) -> Result<Vec<OutboxRow>, RowError> {
    field(&single(rows)?, "messages")
}

/// Backlog of the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutboxStats {
    /// Unpublished rows.
    pub pending: u64,
    /// Creation time of the oldest unpublished row.
    pub oldest_created_at: Option<DateTime<Utc>>,
}

/// The row of [`outbox_stats`].
pub fn outbox_stats_row(rows: &[Vec<Value>]) -> Result<OutboxStats, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use todo_sql::conventions::{check, placeholders};

    #[test]
    fn outbox_statements() {
        let st = claim_outbox(50, 30);
        check(&st);
        assert_eq!(st.params, vec![json!("50"), json!("30")]);
        assert!(st.sql.contains("FOR UPDATE OF o SKIP LOCKED"));
        assert!(st.sql.contains("make_interval(secs => $2::text::integer)"));
        let st = mark_published(&[3, 4]);
        check(&st);
        assert_eq!(st.params, vec![json!(r#"["3","4"]"#)]);
        assert!(st.sql.contains("AND published_at IS NULL"));
        check(&release_outbox(&[1]));
        check(&purge_published(3600));
        let st = outbox_stats();
        assert!(st.params.is_empty() && placeholders(&st.sql).is_empty());
    }

    use super::*;

    #[test]
    fn key_runs_keep_each_keys_order_and_split_keys() {
        let m = |topic: &str, key: &str| OutboxMessage {
            topic: topic.into(),
            partition_key: key.into(),
            payload: json!({}),
        };
        let rows = [
            m("task-events", "a"),
            m("task-updates", "a"),
            m("task-events", "b"),
            m("task-events", "a"),
            m("reminders", "a"),
            m("task-updates", "a"),
        ];
        // A write's events (same task, three topics) are three runs; a key's later rows join its run.
        assert_eq!(
            key_runs(&rows),
            vec![vec![0, 3], vec![1, 5], vec![2], vec![4]]
        );
        assert!(key_runs(&[]).is_empty());
    }

    fn message(topic: &str) -> OutboxMessage {
        OutboxMessage {
            topic: topic.into(),
            partition_key: "k".into(),
            payload: json!({ "topic": topic }),
        }
    }

    #[test]
    fn held_rows_pair_ids_with_messages_in_order() {
        let outbox = [message("task-events"), message("task-updates")];
        let held = held_rows(&[7, 8], &outbox).unwrap();
        assert_eq!(held, vec![(7, outbox[0].clone()), (8, outbox[1].clone())]);
        assert!(
            held_rows(&[], &outbox).unwrap().is_empty(),
            "nothing written"
        );
        assert!(
            held_rows(&[7], &outbox).is_err(),
            "a count that does not match"
        );
    }

    #[test]
    fn held_rows_are_inserted_claimed_and_returned() {
        let mut b = Binder::default();
        let o = outbox_cte_held(&mut b, "w", &[message("task-events")]);
        assert!(o.contains("claimed_until"), "{o}");
        assert!(o.ends_with("RETURNING id)"), "{o}");
        let st = b.finish(format!("WITH w AS (SELECT 1 AS id), {o} SELECT {HELD_IDS}"));
        assert_eq!(st.params.last(), Some(&json!(CLAIM_SECONDS.to_string())));
    }
}
