//! Each user's feed: the ordered record of their task updates (`realtime_feed`,
//! migrations/V6__realtime.sql). A delivery appends once (per `event_id`, with the consumer's
//! idempotency record, in one statement) and takes the user's next sequence number; streams
//! replay it after the last sequence a browser or Pushpin saw.

use serde::Deserialize;
use serde_json::Value;
use todo_events::uuid::Uuid;
use todo_metrics::{delivery_row, processed_batch_cte, processed_cte, Delivery};
use todo_sql::{field, shape, single, Binder, RowError, Statement};

/// The consumer name in `processed_events` (the app-id).
pub const CONSUMER: &str = "realtime";
/// How long a user's feed keeps an update; a browser further behind is told to reload.
pub const RETENTION_HOURS: u32 = 24;
/// Most updates one replay sends; a browser further behind is told to reload.
pub const REPLAY_MAX: u32 = 500;

/// Appends `payload` (update `event_id` of `user`) to the user's feed at the next sequence,
/// once; a redelivery finds the sequence it got the first time. Also drops the user's updates
/// older than [`RETENTION_HOURS`]. The idempotency row carries `delivery`'s metrics columns
/// (todo-metrics). Row: `{"seq": <n or null>, "fresh": <appended now>}`.
pub fn append(user: &str, event_id: Uuid, payload: &Value, delivery: &Delivery) -> Statement {
    let mut b = Binder::default();
    let c = b.str(CONSUMER);
    let e = b.cast(Some(event_id.to_string()), "uuid");
    let u = b.str(user);
    let p = b.jsonb(payload);
    let hours = b.cast(Some(RETENTION_HOURS.to_string()), "integer");
    let pe = processed_cte(&mut b, &c, &e, delivery);
    let sql = format!(
        "WITH {pe}, \
         n AS (INSERT INTO realtime_users (user_id, last_seq) SELECT {u}, 1 FROM pe \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = realtime_users.last_seq + 1 \
         RETURNING last_seq), \
         f AS (INSERT INTO realtime_feed (user_id, seq, event_id, payload) \
         SELECT {u}, n.last_seq, {e}, {p} FROM n RETURNING seq), \
         d AS (DELETE FROM realtime_feed WHERE user_id = {u} \
         AND created_at < now() - make_interval(hours => {hours}) AND EXISTS (SELECT 1 FROM f)) \
         SELECT jsonb_build_object('fresh', EXISTS (SELECT 1 FROM f), 'seq', COALESCE(\
         (SELECT seq FROM f), (SELECT seq FROM realtime_feed WHERE event_id = {e})))::text"
    );
    b.finish(sql)
}

/// One update of a bulk delivery for [`append_batch`].
#[derive(Debug, Clone)]
pub struct Pending<'a> {
    /// The update's user.
    pub user: &'a str,
    /// The update's id.
    pub event_id: Uuid,
    /// The update as published to the feed.
    pub payload: &'a Value,
    /// Its delivery's metrics columns.
    pub delivery: &'a Delivery,
}

/// [`append`] for every update of a bulk delivery, in one statement: each update new to this
/// consumer takes its user's next sequence in `updates`' order (a user's several updates get
/// consecutive numbers, one counter update per user, users locked in id order); a redelivered
/// one (or one twice in `updates`) finds the sequence it got. All or nothing.
/// Row: `{"seqs": [<seq or null per update, in order>]}`.
pub fn append_batch(updates: &[Pending<'_>]) -> Statement {
    let mut b = Binder::default();
    let c = b.str(CONSUMER);
    let hours = b.cast(Some(RETENTION_HOURS.to_string()), "integer");
    let rows = updates
        .iter()
        .enumerate()
        .map(|(ord, u)| {
            let mut row = delivery_row(ord, u.event_id, u.delivery);
            row.insert("user_id".into(), u.user.into());
            row.insert("payload".into(), u.payload.clone());
            Value::Object(row)
        })
        .collect();
    let ctes = processed_batch_cte(&mut b, &c, rows, "user_id text, payload jsonb");
    let sql = format!(
        "WITH {ctes}, \
         fresh AS (SELECT DISTINCT ON (s.event_id) s.ord, s.event_id, s.user_id, s.payload \
         FROM src s JOIN pe ON pe.event_id = s.event_id ORDER BY s.event_id, s.ord), \
         ranked AS (SELECT f.*, row_number() OVER (PARTITION BY f.user_id ORDER BY f.ord) AS k, \
         count(*) OVER (PARTITION BY f.user_id) AS n FROM fresh f), \
         cnt AS (SELECT DISTINCT user_id, n FROM ranked), \
         u AS (INSERT INTO realtime_users AS r (user_id, last_seq) \
         SELECT user_id, n FROM cnt ORDER BY user_id \
         ON CONFLICT (user_id) DO UPDATE SET last_seq = r.last_seq + EXCLUDED.last_seq \
         RETURNING user_id, last_seq), \
         f AS (INSERT INTO realtime_feed (user_id, seq, event_id, payload) \
         SELECT r.user_id, u.last_seq - r.n + r.k, r.event_id, r.payload \
         FROM ranked r JOIN u ON u.user_id = r.user_id ORDER BY r.ord RETURNING event_id, seq), \
         d AS (DELETE FROM realtime_feed WHERE user_id IN (SELECT user_id FROM cnt) \
         AND created_at < now() - make_interval(hours => {hours})) \
         SELECT jsonb_build_object('seqs', COALESCE((SELECT jsonb_agg(COALESCE(f.seq, \
         (SELECT o.seq FROM realtime_feed o WHERE o.event_id = s.event_id)) ORDER BY s.ord) \
         FROM src s LEFT JOIN f ON f.event_id = s.event_id), '[]'::jsonb))::text"
    );
    b.finish(sql)
}

/// What [`append_batch`] did: each update's sequence, in order (`None`: a redelivery of an
/// update the feed no longer keeps).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppendedBatch {
    /// Per update, in order.
    pub seqs: Vec<Option<i64>>,
}

/// The row of [`append_batch`].
pub fn appended_batch(rows: &[Vec<Value>]) -> Result<AppendedBatch, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// What [`append`] did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Appended {
    /// The update's sequence in the user's feed (`None`: a redelivery of an update the feed no
    /// longer keeps).
    pub seq: Option<i64>,
    /// Appended by this call (false: a redelivery).
    pub fresh: bool,
}

/// The row of [`append`].
pub fn appended(rows: &[Vec<Value>]) -> Result<Appended, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// The user's updates after sequence `after`, at most [`REPLAY_MAX`], with the feed's bounds
/// (`after = None`: no updates, only the bounds: a fresh connection starts at the newest).
/// Row: `{"last": <newest seq or null>, "first": <oldest kept or null>, "items": [{"seq", "event"}]}`.
pub fn replay(user: &str, after: Option<i64>) -> Statement {
    let mut b = Binder::default();
    let u = b.str(user);
    let from = b.cast(Some(after.unwrap_or(i64::MAX).to_string()), "bigint");
    let n = b.cast(Some(REPLAY_MAX.to_string()), "integer");
    let sql = format!(
        "SELECT jsonb_build_object(\
         'last', (SELECT last_seq FROM realtime_users WHERE user_id = {u}), \
         'first', (SELECT min(seq) FROM realtime_feed WHERE user_id = {u}), \
         'items', COALESCE((SELECT jsonb_agg(jsonb_build_object('seq', r.seq, 'event', r.payload) \
         ORDER BY r.seq) FROM (SELECT seq, payload FROM realtime_feed WHERE user_id = {u} \
         AND seq > {from} ORDER BY seq LIMIT {n}) r), '[]'::jsonb))::text"
    );
    b.finish(sql)
}

/// One replayed update.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Item {
    /// Its sequence.
    pub seq: i64,
    /// The task-updates event.
    pub event: Value,
}

/// The user's feed after a position.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Replay {
    /// Newest sequence ever given to the user (`None`: no update yet).
    pub last: Option<i64>,
    /// Oldest sequence still kept.
    pub first: Option<i64>,
    /// The updates after the position, oldest first.
    pub items: Vec<Item>,
}

impl Replay {
    /// The newest sequence known: what the stream is positioned at after this replay.
    pub fn position(&self) -> i64 {
        self.last.unwrap_or(0)
    }

    /// Whether a client at `after` cannot be brought up to date by this replay: its id is newer
    /// than the feed (a feed it never had), or updates after it are no longer kept, or more are
    /// missing than one replay sends.
    pub fn needs_reset(&self, after: i64) -> bool {
        let last = self.position();
        if after > last {
            return true;
        }
        if after == last {
            return false;
        }
        let kept_from = self.first.unwrap_or(last + 1);
        let replayed_to = self.items.last().map_or(after, |i| i.seq);
        after + 1 < kept_from || replayed_to < last
    }
}

/// The row of [`replay`].
pub fn replayed(rows: &[Vec<Value>]) -> Result<Replay, RowError> {
    let v = single(rows)?;
    Ok(Replay {
        last: field(&v, "last")?,
        first: field(&v, "first")?,
        items: field(&v, "items")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn replay_of(last: Option<i64>, first: Option<i64>, seqs: &[i64]) -> Replay {
        Replay {
            last,
            first,
            items: seqs
                .iter()
                .map(|&seq| Item {
                    seq,
                    event: json!({}),
                })
                .collect(),
        }
    }

    #[test]
    fn a_client_is_reset_only_when_the_feed_cannot_catch_it_up() {
        assert!(!replay_of(Some(5), Some(1), &[4, 5]).needs_reset(3));
        assert!(!replay_of(Some(5), Some(1), &[]).needs_reset(5));
        assert!(!replay_of(None, None, &[]).needs_reset(0), "no updates yet");
        assert!(
            replay_of(Some(5), Some(1), &[]).needs_reset(9),
            "an id from another feed"
        );
        assert!(
            replay_of(Some(50), Some(40), &[40, 50]).needs_reset(10),
            "older than kept"
        );
        assert!(!replay_of(Some(50), Some(40), &(40..=50).collect::<Vec<_>>()).needs_reset(39));
        assert!(
            replay_of(Some(50), Some(40), &[40]).needs_reset(39),
            "the replay stopped short"
        );
        assert!(
            replay_of(Some(900), Some(1), &[301, 800]).needs_reset(300),
            "more than one replay"
        );
        assert!(
            replay_of(Some(5), None, &[]).needs_reset(2),
            "everything expired"
        );
    }

    #[test]
    fn statements_keep_to_the_user() {
        let delivery = Delivery {
            topic: todo_events::Topic::TaskUpdates,
            event_type: "task.created".into(),
            schema_version: "1.0.0".into(),
            event_at: None,
            received_at: todo_events::chrono::Utc::now(),
        };
        let st = append("alice", Uuid::nil(), &json!({"a": 1}), &delivery);
        assert!(st
            .sql
            .starts_with("WITH pe AS (INSERT INTO processed_events"));
        assert_eq!(st.params[0], json!(CONSUMER));
        assert_eq!(st.params[2], json!("alice"));
        let st = replay("alice", Some(3));
        assert_eq!(st.params[0], json!("alice"));
        assert_eq!(st.params[1], json!("3"));
    }
}
