//! The relay: publishes claimed outbox rows through the Dapr sidecar, in order per key.

use todo_sidecar::SidecarError;
use todo_sql::{Database, DbError};

use crate::{
    claim_outbox, mark_published, outbox_batch, release_failed, OutboxMessage, PublishFailure,
    CLAIM_SECONDS,
};

/// The Dapr pub/sub component (Kafka) every service publishes to.
pub const PUBSUB: &str = "pubsub";

/// Rows claimed per drain.
const BATCH: u32 = 100;

/// [`drain`], logging a failure instead of returning it: the answer is how many were published
/// (0 when the drain failed; the outbox timer drains again).
pub async fn drain_once(db: &Database, who: &str) -> usize {
    match drain(db).await {
        Ok(n) => n,
        Err(e) => {
            eprintln!("{who}: outbox drain: {e}; the timer drains again");
            0
        }
    }
}

/// Claims a batch of unpublished rows and publishes them ([`publish_held`]). Answers how many
/// rows were published.
pub async fn drain(db: &Database) -> Result<usize, DbError> {
    let st = claim_outbox(BATCH, CLAIM_SECONDS);
    let rows = db.rows(&st).await?;
    let batch: Vec<(i64, OutboxMessage)> = outbox_batch(&rows)?
        .into_iter()
        .map(|r| {
            let m = OutboxMessage {
                topic: r.topic,
                partition_key: r.partition_key,
                payload: r.payload,
            };
            (r.id, m)
        })
        .collect();
    publish_held(db, &batch).await
}

/// Publishes rows this caller holds (a drain's claim, or a write's own rows from
/// [`crate::outbox_cte_held`]) in the given (`id`) order with `metadata.partitionKey`, stops a
/// key at its first failure (releasing that key's later rows so the next drain retries them in
/// order), and marks what went out. Answers how many rows were published.
pub async fn publish_held(db: &Database, rows: &[(i64, OutboxMessage)]) -> Result<usize, DbError> {
    let (mut published, mut released) = (Vec::new(), Vec::new());
    let mut failed_keys: Vec<(&str, &str)> = Vec::new();
    let mut failures: Vec<(&str, PublishFailure)> = Vec::new();
    for (id, row) in rows {
        let key = (row.topic.as_str(), row.partition_key.as_str());
        if failed_keys.contains(&key) {
            released.push(*id);
            continue;
        }
        let body = row.payload.to_string().into_bytes();
        match db
            .sidecar()
            .publish(PUBSUB, &row.topic, &body, Some(&row.partition_key))
            .await
        {
            Ok(()) => published.push(*id),
            Err(e) => {
                eprintln!("outbox: publish of row {id} to {} failed: {e}", row.topic);
                let why = match &e {
                    SidecarError::Refused { .. } => PublishFailure::Refused,
                    _ => PublishFailure::Unavailable,
                };
                failures.push((row.topic.as_str(), why));
                failed_keys.push(key);
                released.push(*id);
            }
        }
    }
    for (ids, st) in [
        (&published, mark_published(&published)),
        // The failed publishes are counted in the statement that releases their rows.
        (&released, release_failed(&released, &failures)),
    ] {
        if !ids.is_empty() {
            todo_sql::count(&db.rows(&st).await?)?;
        }
    }
    Ok(published.len())
}
