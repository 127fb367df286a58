//! Dapr's bulk delivery (`bulkSubscribe` in a Subscription): many events in one request.
//!
//! The sidecar POSTs `{"entries": [{"entryId", "event", "contentType", "metadata"}, ...], "id",
//! "type": "com.dapr.event.sent.bulk", "topic", "pubsubname", "metadata"}` to the subscription's
//! route, every `event` a CloudEvent object as it would arrive alone; the app answers 200 with
//! `{"statuses": [{"entryId", "status"}, ...]}`. Dapr 1.18.3 (pkg/runtime/subscription/
//! postman/http): a DROP entry goes to the dead-letter topic on its own, exactly like a single
//! DROP; a RETRY (or missing) entry is redelivered by the Resiliency policy, the SUCCESS and DROP
//! entries of the batch are not; once the retries are spent the failed entries go to the
//! dead-letter topic. The Kafka component batches per partition claim, in offset order.
//!
//! [`Statuses`] keeps one key's events in order across a failure: once one entry is answered
//! RETRY, every later entry is answered RETRY too (the caller does not process it: see
//! [`Statuses::blocked`]), so a redelivery starts where the failure was and no later event of
//! the same task overtakes it.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use todo_events::Decision;

use crate::deadletter::Position;

/// One delivery body: a single event (a CloudEvent or a bare event) or a bulk envelope.
#[derive(Debug, PartialEq)]
pub enum Body<'a> {
    /// A single event: the body as it is, for [`todo_events::decode`].
    Single(&'a [u8]),
    /// A bulk envelope's entries, in delivery order.
    Bulk(Vec<Entry>),
}

/// One entry of a bulk envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Dapr's `entryId`, which the answer names.
    pub entry_id: String,
    /// The entry's `event` serialised: the body a single delivery of it would have had.
    pub body: Vec<u8>,
    /// Where Kafka had it (the entry's `metadata`: `__partition`, `__offset`).
    pub position: Position,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    entries: Vec<RawEntry<'a>>,
    // Present only in what is not a bulk envelope (a CloudEvent, a bare event).
    specversion: Option<serde::de::IgnoredAny>,
    event_type: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "entryId")]
    entry_id: String,
    // The event's own bytes, as they arrived: no second parse and serialisation.
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    #[serde(default)]
    metadata: Option<Meta>,
}

/// The entry metadata the dead letters keep (components-contrib kafka `GetEventMetadata`).
#[derive(Deserialize, Default)]
struct Meta {
    #[serde(rename = "__partition")]
    partition: Option<String>,
    #[serde(rename = "__offset")]
    offset: Option<String>,
}

/// The `type` of Dapr's bulk envelope (components-contrib `pubsub.DefaultBulkEventType`).
pub const BULK_TYPE: &str = "com.dapr.event.sent.bulk";

/// Tells a bulk envelope from a single event. A body is bulk when it is a JSON object with an
/// `entries` array, `type` [`BULK_TYPE`] and no `specversion` (a CloudEvent always has one) or
/// `event_type` (a bare event); everything else, valid or not, is a single delivery for the
/// decoder to judge.
pub fn body(body: &[u8]) -> Body<'_> {
    // Most single deliveries never say "entries": no parse for them here.
    if !body.windows(9).any(|w| w == b"\"entries\"") {
        return Body::Single(body);
    }
    match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(env)
            if env.kind == Some(BULK_TYPE)
                && env.specversion.is_none()
                && env.event_type.is_none() =>
        {
            Body::Bulk(
                env.entries
                    .into_iter()
                    .map(|e| {
                        let meta = e.metadata.unwrap_or_default();
                        Entry {
                            entry_id: e.entry_id,
                            body: entry_body(e.event),
                            position: Position::from_metadata(
                                meta.partition.as_deref(),
                                meta.offset.as_deref(),
                            ),
                        }
                    })
                    .collect(),
            )
        }
        _ => Body::Single(body),
    }
}

/// The body a single delivery of an entry's `event` would have had. A raw payload (not our
/// subscriptions, but possible) is a JSON string of base64 text: its text.
fn entry_body(event: Option<&RawValue>) -> Vec<u8> {
    let Some(raw) = event else {
        return b"null".to_vec();
    };
    match serde_json::from_str::<String>(raw.get()) {
        Ok(text) => text.into_bytes(),
        Err(_) => raw.get().as_bytes().to_vec(),
    }
}

/// The answer to a bulk delivery, built entry by entry in delivery order.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Statuses {
    statuses: Vec<(String, Decision)>,
    failed: bool,
}

impl Statuses {
    /// An empty answer.
    pub fn new() -> Statuses {
        Statuses::default()
    }

    /// Whether an earlier entry was answered RETRY: the caller answers RETRY for this one too
    /// without processing it (see the module docs).
    pub fn blocked(&self) -> bool {
        self.failed
    }

    /// Records the answer for `entry_id`. After a RETRY every later SUCCESS is answered RETRY
    /// (its effect must wait for the failed one); a DROP stays a DROP (an event that can never
    /// be processed has no effect to order, and is dead-lettered once).
    pub fn push(&mut self, entry_id: &str, decision: Decision) {
        let decision = match decision {
            Decision::Success if self.failed => Decision::Retry,
            d => d,
        };
        if decision == Decision::Retry {
            self.failed = true;
        }
        self.statuses.push((entry_id.to_owned(), decision));
    }

    /// The answers so far, in order.
    pub fn decisions(&self) -> impl Iterator<Item = (&str, Decision)> {
        self.statuses.iter().map(|(id, d)| (id.as_str(), *d))
    }

    /// How many entries got `decision`.
    pub fn count(&self, decision: Decision) -> usize {
        self.statuses.iter().filter(|(_, d)| *d == decision).count()
    }

    /// The reply body: `{"statuses":[{"entryId":..,"status":"SUCCESS"|"RETRY"|"DROP"}, ...]}`.
    pub fn reply_body(&self) -> Vec<u8> {
        let statuses: Vec<Value> = self
            .statuses
            .iter()
            .map(|(id, d)| json!({ "entryId": id, "status": d.status() }))
            .collect();
        serde_json::to_vec(&json!({ "statuses": statuses })).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(entries: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "b-1", "type": "com.dapr.event.sent.bulk", "topic": "task-events",
            "pubsubname": "pubsub", "metadata": {}, "entries": entries,
        }))
        .unwrap()
    }

    #[test]
    fn a_bulk_envelope_gives_its_entries_in_order_with_each_event_as_a_body() {
        let ce = json!({"specversion": "1.0", "id": "ce-1", "data": {"event_id": "e1"}});
        let body = envelope(json!([
            {"entryId": "0", "event": ce, "contentType": "application/cloudevents+json", "metadata": {}},
            {"entryId": "1", "event": {"not": "an event"}},
        ]));
        let Body::Bulk(entries) = super::body(&body) else {
            panic!("not bulk")
        };
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].entry_id, "0");
        assert_eq!(
            serde_json::from_slice::<Value>(&entries[0].body).unwrap(),
            ce
        );
        assert_eq!(entries[1].entry_id, "1");
    }

    #[test]
    fn single_events_and_garbage_are_single_deliveries() {
        for body in [
            br#"{"specversion":"1.0","id":"x","data":{"entries":[]},"entries":[]}"#.as_slice(),
            br#"{"event_type":"task.created","entries":[]}"#,
            b"not json",
            br#"[1,2]"#,
            br#"{"entries":"no"}"#,
            br#"{"type":"com.dapr.event.sent.bulk","entries":[{"event":{}}]}"#, // no entryId
            br#"{"entries":[{"entryId":"0","event":{}}]}"#,                     // not Dapr's type
        ] {
            assert_eq!(super::body(body), Body::Single(body), "{body:?}");
        }
    }

    #[test]
    fn after_the_first_retry_every_later_entry_is_retried() {
        let mut s = Statuses::new();
        s.push("0", Decision::Success);
        s.push("1", Decision::Drop);
        assert!(!s.blocked());
        s.push("2", Decision::Retry);
        assert!(s.blocked());
        s.push("3", Decision::Success);
        s.push("4", Decision::Drop);
        s.push("5", Decision::Retry);
        let got: Vec<_> = s.decisions().collect();
        assert_eq!(
            got,
            vec![
                ("0", Decision::Success),
                ("1", Decision::Drop),
                ("2", Decision::Retry),
                ("3", Decision::Retry),
                ("4", Decision::Drop),
                ("5", Decision::Retry)
            ]
        );
        assert_eq!(s.count(Decision::Retry), 3);
        let reply: Value = serde_json::from_slice(&s.reply_body()).unwrap();
        assert_eq!(
            reply["statuses"][1],
            json!({"entryId": "1", "status": "DROP"})
        );
        assert_eq!(reply["statuses"].as_array().unwrap().len(), 6);
    }
}
