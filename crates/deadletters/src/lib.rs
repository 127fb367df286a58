//! The operator's dead letters (table `dead_letters`, migrations/V9__dead_letters.sql; written
//! by the consumers, `todo_consumer::deadletter`): the statements behind
//! `/api/dead-letters` (docs/deadletters.md).
//!
//! - [`Filter`]: which letters (topic, consumer, reason, state, since), read from a query string
//!   or a JSON body, every problem named by its field;
//! - [`list`]: newest first, a page at a time (keyset on the id, [`todo_cursor`]);
//! - [`show`]: one letter with its payload;
//! - [`redrive`]: re-publishes letters' events to their original topic through the
//!   transactional outbox, in the statement that marks them re-driven, so a re-drive is never
//!   lost and never published twice; refused past [`REDRIVE_CAP`] re-drives, for letters that
//!   are not pending, and for payloads that are not events. A dry run answers the same without
//!   writing anything.
//!
//! Consumers that applied an event already skip it by its id (their `processed_events` row), so
//! re-driving to the shared topic never doubles an effect.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use todo_cursor::Params;
use todo_problem::ValidationErrors;
use todo_sql::{Binder, Statement};

/// How many times one letter may be re-driven.
pub const REDRIVE_CAP: i32 = 3;
/// The most letters one re-drive by filter takes (the rest wait for the next call).
pub const REDRIVE_MAX: i64 = 500;
/// The cursor's context: a cursor of another list is refused.
pub const CURSOR_CONTEXT: &str = "dead-letters";
/// Reason classes (`dead_letters.reason_class`, the metric's `reason` label).
pub const REASONS: [&str; 7] = [
    "not_json",
    "bad_envelope",
    "bad_version",
    "invalid",
    "refused",
    "exhausted",
    "undeliverable",
];
/// States a filter may name (`all`: any).
pub const STATES: [&str; 5] = ["dead", "retrying", "redriven", "discarded", "all"];
const TOPICS: [&str; 3] = ["task-events", "reminders", "task-updates"];

/// Which letters: every given field must match. `state` defaults to `dead` (pending).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The original topic.
    pub topic: Option<String>,
    /// The consumer's app-id.
    pub consumer: Option<String>,
    /// The reason class ([`REASONS`]).
    pub reason: Option<String>,
    /// `dead` (default), `retrying`, `redriven`, `discarded` or `all`.
    pub state: Option<String>,
    /// Last seen at or after this instant (RFC 3339).
    pub since: Option<String>,
}

impl Filter {
    /// The filter in a query string (`topic`, `consumer`, `reason`, `state`, `since`) beside
    /// the `extra` parameters the caller reads itself; problems are added to `errors`.
    pub fn from_query(
        query: &str,
        extra: &[&str],
        errors: &mut ValidationErrors,
    ) -> (Filter, Params) {
        let mut known = vec!["topic", "consumer", "reason", "state", "since"];
        known.extend_from_slice(extra);
        let p = Params::parse(query, &known, errors);
        let mut one = |name: &str| p.one(name, errors).map(str::to_owned);
        let f = Filter {
            topic: one("topic"),
            consumer: one("consumer"),
            reason: one("reason"),
            state: one("state"),
            since: one("since").map(|s| s.replace(' ', "+")),
        };
        f.check(errors);
        (f, p)
    }

    /// Adds the problems of each field to `errors` (the field named as given).
    pub fn check(&self, errors: &mut ValidationErrors) {
        if let Some(t) = &self.topic {
            if !TOPICS.contains(&t.as_str()) {
                errors.push("topic", format!("must be one of {}", TOPICS.join(", ")));
            }
        }
        if let Some(c) = &self.consumer {
            if c.is_empty() || c.len() > 64 {
                errors.push("consumer", "must be an app-id (1 to 64 characters)");
            }
        }
        if let Some(r) = &self.reason {
            if !REASONS.contains(&r.as_str()) {
                errors.push("reason", format!("must be one of {}", REASONS.join(", ")));
            }
        }
        if let Some(s) = &self.state {
            if !STATES.contains(&s.as_str()) {
                errors.push("state", format!("must be one of {}", STATES.join(", ")));
            }
        }
        if self.since.is_some() && self.since_instant().is_none() {
            errors.push(
                "since",
                "must be an RFC 3339 instant, e.g. 2026-12-07T10:00:00Z",
            );
        }
    }

    fn since_instant(&self) -> Option<DateTime<Utc>> {
        let s = self.since.as_deref()?;
        DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The SQL condition on `d` (alias of `dead_letters`), its parameters bound in `b`.
    fn condition(&self, b: &mut Binder) -> String {
        let mut parts = Vec::new();
        match self.state.as_deref() {
            Some("all") => {}
            state => parts.push(format!("d.state = {}", b.str(state.unwrap_or("dead")))),
        }
        if let Some(t) = &self.topic {
            parts.push(format!("d.topic = {}", b.str(t)));
        }
        if let Some(c) = &self.consumer {
            parts.push(format!("d.consumer = {}", b.str(c)));
        }
        if let Some(r) = &self.reason {
            parts.push(format!("d.reason_class = {}", b.str(r)));
        }
        if let Some(t) = self.since_instant() {
            let t = t.to_rfc3339_opts(SecondsFormat::Micros, true);
            parts.push(format!("d.last_seen >= {}", b.cast(Some(t), "timestamptz")));
        }
        if parts.is_empty() {
            "true".to_owned()
        } else {
            parts.join(" AND ")
        }
    }
}

/// The columns every answer has (no payload), as a `jsonb_build_object` list over `d`;
/// `applied`: the consumer has recorded the event since (after a re-drive).
const SUMMARY: &str = "'id', d.id, 'topic', d.topic, 'consumer', d.consumer, 'key', d.key, \
     'event_id', d.event_id, 'event_type', d.event_type, 'schema_version', d.schema_version, \
     'task_id', d.task_id, 'user_id', d.user_id, 'reason', d.reason, 'reason_class', \
     d.reason_class, 'state', d.state, 'attempts', d.attempts, 'first_seen', d.first_seen, \
     'last_seen', d.last_seen, 'dead_since', d.dead_since, 'kafka_partition', d.kafka_partition, \
     'kafka_offset', d.kafka_offset, 'dlq_seen_at', d.dlq_seen_at, 'redrives', d.redrives, 'last_redrive_at', \
     d.last_redrive_at, 'discarded_by', d.discarded_by, 'discarded_at', d.discarded_at, \
     'applied', EXISTS (SELECT 1 FROM processed_events p \
     WHERE p.consumer = d.consumer AND p.event_id = d.event_id)";

/// A page of the letters `filter` selects, newest first, after the letter `before` (the
/// cursor's id) if given. Row: `{"items": [...]}` with `limit + 1` at most (the caller cuts the
/// extra one off and makes the next cursor from the last it keeps).
pub fn list(filter: &Filter, before: Option<i64>, limit: u32) -> Statement {
    let mut b = Binder::default();
    let mut cond = filter.condition(&mut b);
    if let Some(id) = before {
        cond = format!("{cond} AND d.id < {}::bigint", b.str(&id.to_string()));
    }
    let n = limit + 1;
    let sql = format!(
        "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(x.o ORDER BY x.id DESC), \
         '[]'::jsonb))::text FROM (SELECT d.id, jsonb_build_object({SUMMARY}) AS o \
         FROM dead_letters d WHERE {cond} ORDER BY d.id DESC LIMIT {n}) x"
    );
    b.finish(sql)
}

/// One letter with its payload (base64 in `payload_base64`; [`payload_view`] shows it).
/// Row: the letter, or `{"missing": true}`.
pub fn show(id: i64) -> Statement {
    let mut b = Binder::default();
    let id = b.str(&id.to_string());
    let sql = format!(
        "SELECT COALESCE((SELECT jsonb_build_object({SUMMARY}) || jsonb_build_object(\
         'payload_base64', encode(d.payload, 'base64'), 'event', d.event) \
         FROM dead_letters d WHERE d.id = {id}::bigint), '{{\"missing\": true}}'::jsonb)::text"
    );
    b.finish(sql)
}

/// The payload of a [`show`] row for a person: `payload` (the JSON as received) when it is
/// UTF-8 JSON, else `payload_base64` stays; `payload_bytes` either way.
pub fn payload_view(mut letter: Value) -> Value {
    use base64::Engine;
    let b64 = letter["payload_base64"]
        .as_str()
        .map(|s| s.replace(['\n', '\r'], ""));
    if let Some(b64) = b64 {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&b64) {
            letter["payload_bytes"] = json!(bytes.len());
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                letter["payload"] = v;
                if let Some(o) = letter.as_object_mut() {
                    o.remove("payload_base64");
                }
            } else {
                letter["payload_base64"] = json!(b64);
            }
        }
    }
    letter
}

/// Which letters a re-drive takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These letters (any state: one that is not pending is refused and said so).
    Ids(Vec<i64>),
    /// The pending letters (or `filter.state`'s) the filter selects, oldest first, at most
    /// [`REDRIVE_MAX`].
    Filter(Filter),
}

/// The re-drive of `selection` (or its dry run): one statement that locks the letters, judges
/// each (pending, under the cap, an event to publish), marks the good ones re-driven and puts
/// their events in the outbox (one row per topic and event id, keyed by the task id), all or
/// nothing. Row: `{"dry_run", "items": [{id, topic, consumer, event_id, redrives, outcome:
/// redriven | would_redrive | refused, why}], "published": n}`.
pub fn redrive(selection: &Selection, dry_run: bool) -> Statement {
    let mut b = Binder::default();
    let which = match selection {
        Selection::Ids(ids) => {
            let list = b.jsonb(&json!(ids));
            format!("d.id IN (SELECT jsonb_array_elements_text({list})::bigint)")
        }
        Selection::Filter(f) => f.condition(&mut b),
    };
    let dry = b.str(if dry_run { "true" } else { "false" });
    let lock = if dry_run { "" } else { " FOR UPDATE OF d" };
    let sql = format!(
        "WITH cand AS (SELECT d.id, d.topic, d.consumer, d.event_id, d.task_id, d.state, \
         d.redrives, d.event FROM dead_letters d WHERE {which} ORDER BY d.id \
         LIMIT {REDRIVE_MAX}{lock}), \
         judged AS (SELECT c.*, CASE \
         WHEN c.state <> 'dead' THEN 'not pending: its state is ' || c.state \
         WHEN c.redrives >= {REDRIVE_CAP} THEN 're-driven ' || c.redrives \
         || ' times already: the cap is {REDRIVE_CAP}' \
         WHEN c.event IS NULL OR c.event_id IS NULL \
         THEN 'the payload is not an event with an event_id: nothing to publish' \
         END AS why FROM cand c), \
         u AS (UPDATE dead_letters d SET state = 'redriven', redrives = d.redrives + 1, \
         last_redrive_at = now() FROM judged j WHERE NOT {dry}::boolean AND j.why IS NULL \
         AND d.id = j.id RETURNING d.id, d.redrives), \
         o AS (INSERT INTO outbox (task_id, topic, partition_key, payload) \
         SELECT x.task_id, x.topic, x.task_id::text, x.event FROM (\
         SELECT DISTINCT ON (j.topic, j.event_id) COALESCE(j.task_id, j.event_id) AS task_id, \
         j.topic, j.event, j.id FROM judged j JOIN u ON u.id = j.id \
         ORDER BY j.topic, j.event_id, j.id) x ORDER BY x.id RETURNING 1) \
         SELECT jsonb_build_object('dry_run', {dry}::boolean, 'published', \
         (SELECT count(*) FROM o), 'items', COALESCE((SELECT jsonb_agg(jsonb_build_object(\
         'id', j.id, 'topic', j.topic, 'consumer', j.consumer, 'event_id', j.event_id, \
         'redrives', COALESCE(u.redrives, j.redrives), 'outcome', CASE WHEN j.why IS NOT NULL \
         THEN 'refused' WHEN {dry}::boolean THEN 'would_redrive' ELSE 'redriven' END, \
         'why', j.why) ORDER BY j.id) FROM judged j LEFT JOIN u ON u.id = j.id), \
         '[]'::jsonb))::text"
    );
    b.finish(sql)
}

/// Discards the pending letters `ids` on behalf of `by` (the operator's `sub`): they stop being
/// pending and are kept. Row: `{"items": [{id, outcome: discarded | refused, why}]}` for the
/// letters that exist.
pub fn discard(ids: &[i64], by: &str) -> Statement {
    let mut b = Binder::default();
    let list = b.jsonb(&json!(ids));
    let by = b.str(by);
    b.finish(format!(
        "WITH cand AS (SELECT d.id, d.state FROM dead_letters d \
         WHERE d.id IN (SELECT jsonb_array_elements_text({list})::bigint) ORDER BY d.id FOR UPDATE), \
         u AS (UPDATE dead_letters d SET state = 'discarded', discarded_by = {by}, \
         discarded_at = now() FROM cand c WHERE d.id = c.id AND c.state = 'dead' RETURNING d.id) \
         SELECT jsonb_build_object('items', COALESCE((SELECT jsonb_agg(jsonb_build_object('id', \
         c.id, 'outcome', CASE WHEN u.id IS NULL THEN 'refused' ELSE 'discarded' END, 'why', \
         CASE WHEN u.id IS NULL THEN 'not pending: its state is ' || c.state END) ORDER BY c.id) \
         FROM cand c LEFT JOIN u ON u.id = c.id), '[]'::jsonb))::text"
    ))
}

/// The body of `POST /api/dead-letters/redrive`: a filter's fields (at least one, or `ids`),
/// and `dry_run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedriveRequest {
    /// These letters instead of a filter.
    pub ids: Option<Vec<i64>>,
    /// The original topic.
    pub topic: Option<String>,
    /// The consumer's app-id.
    pub consumer: Option<String>,
    /// The reason class.
    pub reason: Option<String>,
    /// Last seen at or after this instant.
    pub since: Option<String>,
    /// Say what would happen, change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

impl RedriveRequest {
    /// The selection it makes, or the problems named by field (an empty request is refused:
    /// "every dead letter" must be said with a filter).
    pub fn selection(&self) -> Result<Selection, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let filter = Filter {
            topic: self.topic.clone(),
            consumer: self.consumer.clone(),
            reason: self.reason.clone(),
            state: None,
            since: self.since.clone(),
        };
        filter.check(&mut errors);
        let selection = match &self.ids {
            Some(ids) => {
                if ids.is_empty() || ids.len() as i64 > REDRIVE_MAX {
                    errors.push("ids", format!("must list 1 to {REDRIVE_MAX} ids"));
                }
                if filter != Filter::default() {
                    errors.push("ids", "give ids or a filter, not both");
                }
                Selection::Ids(ids.clone())
            }
            None => {
                if filter == Filter::default() {
                    errors.push(
                        "topic",
                        "give ids or at least one of topic, consumer, reason, since",
                    );
                }
                Selection::Filter(filter)
            }
        };
        errors.into_result(selection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_filter_names_each_bad_field() {
        let mut errors = ValidationErrors::new();
        let (f, _) = Filter::from_query(
            "topic=nope&reason=exhausted&state=gone&since=yesterday&x=1",
            &["limit"],
            &mut errors,
        );
        assert_eq!(f.reason.as_deref(), Some("exhausted"));
        for field in ["topic", "state", "since", "x"] {
            assert!(errors.has(field), "{field}: {errors:?}");
        }
        assert!(!errors.has("reason"));
        let mut errors = ValidationErrors::new();
        let (f, _) = Filter::from_query("since=2026-12-07T10:00:00+01:00", &[], &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert!(
            f.since_instant().is_some(),
            "a + that form decoding made a space is restored"
        );
    }

    #[test]
    fn a_redrive_needs_ids_or_a_filter_and_not_both() {
        let none = RedriveRequest::default().selection().unwrap_err();
        assert!(none.has("topic"), "{none:?}");
        let both = RedriveRequest {
            ids: Some(vec![1]),
            topic: Some("task-events".into()),
            ..Default::default()
        };
        assert!(both.selection().unwrap_err().has("ids"));
        let ids = RedriveRequest {
            ids: Some(vec![4, 5]),
            ..Default::default()
        };
        assert_eq!(ids.selection().unwrap(), Selection::Ids(vec![4, 5]));
        let bad: Result<RedriveRequest, _> = serde_json::from_str(r#"{"topik": "x"}"#);
        assert!(bad.is_err(), "unknown fields are refused");
    }

    #[test]
    fn a_payload_that_is_json_is_shown_as_json_else_as_base64() {
        let v = payload_view(json!({"payload_base64": "eyJhIjoxfQ=="}));
        assert_eq!(v["payload"], json!({"a": 1}));
        assert_eq!(v["payload_bytes"], 7);
        assert!(v.get("payload_base64").is_none());
        let v = payload_view(json!({"payload_base64": "/w=="}));
        assert_eq!(v["payload_base64"], "/w==");
        assert!(v.get("payload").is_none());
    }
}
