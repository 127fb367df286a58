//! The relay: publishes claimed outbox rows through the Dapr sidecar, in order per key.

use futures::stream::{self, StreamExt};
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

/// Keys published at once by [`publish_held`]: each key's rows go one after the other, up to
/// this many keys side by side (a write's two or three events are on different topics, so they
/// go out together; a drain's batch of many keys does not open a hundred requests at once).
const KEYS_AT_ONCE: usize = 8;

/// Publishes rows this caller holds (a drain's claim, or a write's own rows from
/// [`crate::outbox_cte_held`]) with `metadata.partitionKey`: each (topic, key)'s rows in the
/// given (`id`) order, one after the other, the keys side by side ([`crate::key_runs`], at most
/// [`KEYS_AT_ONCE`] at once: order is only kept per key, by Kafka too); a key stops at its first
/// failure (its later rows are released so the next drain retries them in order). Then marks what
/// went out. Answers how many rows were published.
pub async fn publish_held(db: &Database, rows: &[(i64, OutboxMessage)]) -> Result<usize, DbError> {
    let runs = crate::key_runs(rows.iter().map(|(_, m)| m));
    let outcomes: Vec<Run<'_>> = stream::iter(runs)
        .map(|run| publish_run(db, rows, run))
        .buffer_unordered(KEYS_AT_ONCE)
        .collect()
        .await;
    let (mut published, mut released) = (Vec::new(), Vec::new());
    let mut failures: Vec<(&str, PublishFailure)> = Vec::new();
    for run in outcomes {
        published.extend(run.published);
        released.extend(run.released);
        failures.extend(run.failure);
    }
    // The statements list ids in id order whatever order the keys finished in.
    published.sort_unstable();
    released.sort_unstable();
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

/// What publishing one key's rows did.
struct Run<'a> {
    published: Vec<i64>,
    released: Vec<i64>,
    failure: Option<(&'a str, PublishFailure)>,
}

/// Publishes the rows `run` (indexes into `rows`, one key's, in order) one after the other,
/// stopping at the first failure.
async fn publish_run<'a>(
    db: &Database,
    rows: &'a [(i64, OutboxMessage)],
    run: Vec<usize>,
) -> Run<'a> {
    let mut out = Run {
        published: Vec::new(),
        released: Vec::new(),
        failure: None,
    };
    for i in run {
        let (id, row) = &rows[i];
        if out.failure.is_some() {
            out.released.push(*id);
            continue;
        }
        let body = row.payload.to_string().into_bytes();
        match db
            .sidecar()
            .publish(PUBSUB, &row.topic, &body, Some(&row.partition_key))
            .await
        {
            Ok(()) => out.published.push(*id),
            Err(e) => {
                eprintln!("outbox: publish of row {id} to {} failed: {e}", row.topic);
                let why = match &e {
                    SidecarError::Refused { .. } => PublishFailure::Refused,
                    _ => PublishFailure::Unavailable,
                };
                out.failure = Some((row.topic.as_str(), why));
                out.released.push(*id);
            }
        }
    }
    out
}
