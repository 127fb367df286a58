//! Each user's feed: the ordered record of their task updates (`realtime_feed`,
//! migrations/V6__realtime.sql). A delivery appends each update once (per `event_id`, with the
//! consumer's inbox rows, in one statement, [`append`]), taking its user's next sequence number,
//! and is then published to Pushpin ([`publish_bodies`]); streams replay the feed after the last
//! sequence a browser or Pushpin saw ([`replay`]).

use serde::Deserialize;
use serde_json::Value;
use todo_consumer::{delivery_row, processed_batch_cte, Delivery};
use todo_events::uuid::Uuid;
use todo_sql::{field, single, Binder, RowError, Statement};

use crate::grip;

/// The consumer name in `processed_events` (the app-id).
pub const CONSUMER: &str = "realtime";
/// How long a user's feed keeps an update; a browser further behind is told to reload.
pub const RETENTION_HOURS: u32 = 24;
/// Most updates one replay sends; a browser further behind is told to reload.
pub const REPLAY_MAX: u32 = 500;

/// One update of a delivery for [`append`].
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

/// Appends every update of a delivery to its user's feed, once, in one statement with the
/// consumer's inbox rows: each update new to this consumer takes its user's next sequence in
/// `updates`' order (a user's several updates get consecutive numbers, one counter update per
/// user, users locked in id order); a redelivered one (or one twice in `updates`) finds the
/// sequence it got the first time. Also drops the users' updates older than
/// [`RETENTION_HOURS`]. All or nothing. Row: [`Appended`].
pub fn append(updates: &[Pending<'_>]) -> Statement {
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

/// What [`append`] did: each update's sequence, in order (`None`: a redelivery of an update the
/// feed no longer keeps).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Appended {
    /// Per update, in order.
    pub seqs: Vec<Option<i64>>,
}

/// Most items in one publish to Pushpin (a delivery's updates go in a few requests).
pub const PUBLISH_ITEMS_MAX: usize = 25;

/// The sequences of [`append`] do not match the updates it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{seqs} sequences for {updates} updates")]
pub struct Mismatch {
    /// Sequences the statement answered.
    pub seqs: usize,
    /// Updates it was given.
    pub updates: usize,
}

/// The bodies of Pushpin's publish API for appended `updates` (`seqs`: what [`append`]
/// answered, in the same order): each update on its user's channel with `id`/`prev-id` from its
/// sequence, at most [`PUBLISH_ITEMS_MAX`] items per body; an update the feed no longer keeps
/// (`None`) is not published. Published again after a redelivery: Pushpin drops an id it has.
pub fn publish_bodies(
    updates: &[Pending<'_>],
    seqs: &[Option<i64>],
) -> Result<Vec<Value>, Mismatch> {
    if seqs.len() != updates.len() {
        return Err(Mismatch {
            seqs: seqs.len(),
            updates: updates.len(),
        });
    }
    let items: Vec<Value> = updates
        .iter()
        .zip(seqs)
        .filter_map(|(u, seq)| {
            seq.map(|s| grip::publish_item(&grip::channel(u.user), s, u.payload))
        })
        .collect();
    Ok(items
        .chunks(PUBLISH_ITEMS_MAX)
        .map(|chunk| serde_json::json!({ "items": chunk }))
        .collect())
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

    fn delivery() -> Delivery {
        Delivery {
            topic: todo_events::Topic::TaskUpdates,
            event_type: "task.created".into(),
            schema_version: "1.0.0".into(),
            event_at: None,
            received_at: todo_events::chrono::Utc::now(),
        }
    }

    #[test]
    fn statements_keep_to_the_user() {
        let d = delivery();
        let payload = json!({"a": 1});
        let st = append(&[Pending {
            user: "alice",
            event_id: Uuid::nil(),
            payload: &payload,
            delivery: &d,
        }]);
        assert!(
            st.sql
                .starts_with("WITH src AS (SELECT * FROM jsonb_to_recordset"),
            "{}",
            st.sql
        );
        assert!(
            st.sql.contains("INSERT INTO processed_events"),
            "{}",
            st.sql
        );
        assert_eq!(st.params[0], json!(CONSUMER));
        let rows: Value = serde_json::from_str(st.params[2].as_str().unwrap()).unwrap();
        assert_eq!(rows[0]["user_id"], "alice");
        assert_eq!(rows[0]["payload"], payload);
        let st = replay("alice", Some(3));
        assert_eq!(st.params[0], json!("alice"));
        assert_eq!(st.params[1], json!("3"));
    }

    #[test]
    fn each_appended_update_is_published_on_its_users_channel_in_a_few_bodies() {
        let d = delivery();
        let payloads: Vec<Value> = (0..30).map(|i| json!({"n": i})).collect();
        let users = ["alice", "bob"];
        let pending: Vec<Pending<'_>> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| Pending {
                user: users[i % 2],
                event_id: Uuid::from_u128(i as u128),
                payload: p,
                delivery: &d,
            })
            .collect();
        let mut seqs: Vec<Option<i64>> = (1..=30).map(Some).collect();
        seqs[3] = None;
        let bodies = publish_bodies(&pending, &seqs).unwrap();
        assert_eq!(bodies.len(), 2, "29 items: 25 and 4");
        assert_eq!(
            bodies[0]["items"].as_array().unwrap().len(),
            PUBLISH_ITEMS_MAX
        );
        assert_eq!(bodies[1]["items"].as_array().unwrap().len(), 4);
        let first = &bodies[0]["items"][0];
        assert_eq!(first["channel"], grip::channel("alice"));
        assert_eq!(first["id"], "1");
        let second = &bodies[0]["items"][1];
        assert_eq!(second["channel"], grip::channel("bob"));
        assert!(
            bodies.iter().all(|b| b["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["id"] != "4")),
            "an update the feed no longer keeps is not published"
        );
        assert_eq!(
            publish_bodies(&pending, &seqs[..2]),
            Err(Mismatch {
                seqs: 2,
                updates: 30
            })
        );
        assert!(publish_bodies(&[], &[]).unwrap().is_empty());
    }
}
