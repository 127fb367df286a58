//! A delivery read once: every entry decoded (the shared event crate's version policy and
//! schema), in delivery order, and the answer Dapr gets for it. Pure: the runner ([`crate::serve`],
//! feature `serve`) wraps it in the sidecar calls.

use todo_events::chrono::{DateTime, Utc};
use todo_events::{decode, report_drop, Decision, Event};
use todo_metrics::Counter;

use crate::counters;
use crate::deadletter::{Class, Letter, Position};
use crate::envelope::{self, Body, Statuses};
use crate::inbox::Delivery;

/// An event the consumer accepted: decoded, with its body as delivered and its delivery's
/// inbox columns.
#[derive(Debug, Clone)]
pub struct Accepted<E> {
    /// The bulk entry's `entryId` (empty for a single delivery).
    pub entry_id: String,
    /// The decoded event (unknown fields of a newer MINOR dropped).
    pub event: E,
    /// The event as delivered: a CloudEvent, a bare event, or a bulk entry's `event`.
    pub body: Vec<u8>,
    /// Its topic, type, version and instants, for its inbox row.
    pub delivery: Delivery,
    /// Where Kafka had it, for its dead letter if the consumer fails on it every time.
    pub position: Position,
}

/// One entry of a delivery, decoded.
#[derive(Debug, Clone)]
pub enum Entry<E> {
    /// Accepted: the consumer decides what it does.
    Accepted(Accepted<E>),
    /// Refused (DROP to the dead-letter topic; already logged).
    Refused {
        /// The bulk entry's `entryId` (empty for a single delivery).
        entry_id: String,
        /// The counters the refusal adds.
        counters: [Counter; 2],
        /// Its dead letter: the payload, the reason and where Kafka had it.
        letter: Box<Letter>,
    },
}

impl<E> Entry<E> {
    /// The bulk entry's `entryId` (empty for a single delivery).
    pub fn entry_id(&self) -> &str {
        match self {
            Entry::Accepted(a) => &a.entry_id,
            Entry::Refused { entry_id, .. } => entry_id,
        }
    }
}

/// A delivery: a single event or a bulk envelope's entries, each decoded.
#[derive(Debug, Clone)]
pub struct Read<E> {
    /// Whether it came as a bulk envelope (answered with per-entry statuses).
    pub bulk: bool,
    /// Its entries in delivery order (one for a single delivery).
    pub entries: Vec<Entry<E>>,
}

impl<E: Event> Read<E> {
    /// Reads the delivery `body` of `consumer`, received at `received_at`. An entry that does not
    /// decode is refused (the decoder logged why); an entry that decodes is refused when `admit`
    /// gives a reason (logged here), else accepted. A single delivery's Kafka position is
    /// unknown ([`Read::at`] gives it).
    pub fn new(
        consumer: &str,
        body: &[u8],
        received_at: DateTime<Utc>,
        admit: impl Fn(&E) -> Result<(), String>,
    ) -> Read<E> {
        Read::at(consumer, body, Position::default(), received_at, admit)
    }

    /// [`Read::new`] with the Kafka position of a single delivery (its `__partition` and
    /// `__offset` headers); a bulk entry carries its own.
    pub fn at(
        consumer: &str,
        body: &[u8],
        single: Position,
        received_at: DateTime<Utc>,
        admit: impl Fn(&E) -> Result<(), String>,
    ) -> Read<E> {
        let read_one = |entry_id: String, body: Vec<u8>, position: Position| -> Entry<E> {
            let refused =
                |entry_id: String, body: &[u8], class: Class, reason: String| Entry::Refused {
                    entry_id,
                    counters: counters::refused(consumer, E::TOPIC, body),
                    letter: Box::new(Letter::refused(body, class, reason, position)),
                };
            match decode::<E>(&body) {
                Err(e) => refused(entry_id, &body, Class::of(&e), e.to_string()),
                Ok(d) => match admit(&d.event) {
                    Err(reason) => {
                        report_drop(E::TOPIC, &d.event.event_id().to_string(), &reason);
                        refused(entry_id, &body, Class::Refused, reason)
                    }
                    Ok(()) => Entry::Accepted(Accepted {
                        entry_id,
                        delivery: Delivery::of(&d.event, received_at),
                        event: d.event,
                        body,
                        position,
                    }),
                },
            }
        };
        match envelope::body(body) {
            Body::Single(body) => Read {
                bulk: false,
                entries: vec![read_one(String::new(), body.to_vec(), single)],
            },
            Body::Bulk(entries) => Read {
                bulk: true,
                entries: entries
                    .into_iter()
                    .map(|e| read_one(e.entry_id, e.body, e.position))
                    .collect(),
            },
        }
    }

    /// The dead letters of the refused entries, in delivery order.
    pub fn letters(&self) -> Vec<&Letter> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Refused { letter, .. } => Some(letter.as_ref()),
                Entry::Accepted(_) => None,
            })
            .collect()
    }

    /// The accepted entries, in delivery order.
    pub fn accepted(&self) -> Vec<&Accepted<E>> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Accepted(a) => Some(a),
                Entry::Refused { .. } => None,
            })
            .collect()
    }

    /// The counters of the refused entries.
    pub fn refusals(&self) -> Vec<Counter> {
        self.entries
            .iter()
            .flat_map(|e| match e {
                Entry::Refused { counters, .. } => counters.to_vec(),
                Entry::Accepted(_) => Vec::new(),
            })
            .collect()
    }
}

/// The answer to a delivery, entry by entry in delivery order.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    bulk: bool,
    statuses: Statuses,
}

impl Answer {
    /// The answer to `read`, with `decide` giving each accepted entry's decision in order (a
    /// refused entry is DROP). Once one entry is RETRY every later accepted one is RETRY too
    /// ([`Statuses`]).
    pub fn new<E>(read: &Read<E>, decide: impl FnMut(&Accepted<E>) -> Decision) -> Answer {
        Answer::with_refused(read, Decision::Drop, decide)
    }

    /// [`Answer::new`] answering `refused` for the refused entries: DROP once their dead letters
    /// are recorded, RETRY when they could not be (they come back and are recorded then).
    pub fn with_refused<E>(
        read: &Read<E>,
        refused: Decision,
        mut decide: impl FnMut(&Accepted<E>) -> Decision,
    ) -> Answer {
        let mut statuses = Statuses::new();
        for entry in &read.entries {
            let decision = match entry {
                Entry::Refused { .. } => refused,
                Entry::Accepted(a) => decide(a),
            };
            statuses.push(entry.entry_id(), decision);
        }
        Answer {
            bulk: read.bulk,
            statuses,
        }
    }

    /// The decisions, in delivery order.
    pub fn decisions(&self) -> Vec<Decision> {
        self.statuses.decisions().map(|(_, d)| d).collect()
    }

    /// The body of Dapr's answer (sent with HTTP 200): `{"status": ...}` for a single delivery,
    /// `{"statuses": [{"entryId", "status"}, ...]}` for a bulk one.
    pub fn body(&self) -> Vec<u8> {
        if self.bulk {
            self.statuses.reply_body()
        } else {
            let decision = self
                .statuses
                .decisions()
                .next()
                .map_or(Decision::Retry, |(_, d)| d);
            decision.dapr_reply_body()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::{json, Value};
    use todo_events::{ReminderEvent, TaskEvent, TaskUpdate};

    const CONTRACTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/events");

    /// The example files of `topic`'s `kind` (`valid`, `invalid`) corpus.
    fn examples(topic: &str, kind: &str) -> Vec<(String, Vec<u8>)> {
        let dir = format!("{CONTRACTS}/examples/{topic}/{kind}");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no examples in {dir}");
        files
    }

    fn cloud_event(field: &str, data: Value, topic: &str) -> Vec<u8> {
        let mut ce = json!({
            "specversion": "1.0", "id": "ce-1", "source": "task-api",
            "type": "com.dapr.event.sent", "datacontenttype": "application/json",
            "topic": topic, "pubsubname": "pubsub",
        });
        ce[field] = data;
        serde_json::to_vec(&ce).unwrap()
    }

    /// Every way Dapr (or a test) delivers one event: bare, a CloudEvent with `data` as an object,
    /// as JSON text, as `data_base64`.
    fn envelopes(body: &[u8], topic: &str) -> Vec<Vec<u8>> {
        let event: Value = serde_json::from_slice(body).unwrap();
        vec![
            body.to_vec(),
            cloud_event("data", event.clone(), topic),
            cloud_event("data", json!(event.to_string()), topic),
            cloud_event(
                "data_base64",
                json!(base64::engine::general_purpose::STANDARD.encode(body)),
                topic,
            ),
        ]
    }

    fn bulk(bodies: &[Vec<u8>]) -> Vec<u8> {
        let entries: Vec<Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let event = serde_json::from_slice::<Value>(b)
                    .unwrap_or_else(|_| json!(String::from_utf8_lossy(b)));
                json!({"entryId": format!("e{i}"), "event": event, "contentType": "application/cloudevents+json", "metadata": {}})
            })
            .collect();
        serde_json::to_vec(&json!({"id": "b", "type": "com.dapr.event.sent.bulk", "topic": "t", "pubsubname": "pubsub", "metadata": {}, "entries": entries})).unwrap()
    }

    fn accept_all<E>(_: &E) -> Result<(), String> {
        Ok(())
    }

    fn corpus_is_read_as_the_contract_says<E: Event>(topic: &str) {
        let now = Utc::now();
        for (name, body) in examples(topic, "valid") {
            for delivered in envelopes(&body, topic) {
                let read = Read::<E>::new("c", &delivered, now, accept_all);
                assert!(!read.bulk);
                let accepted = read.accepted();
                assert_eq!(accepted.len(), 1, "{name} refused");
                let a = accepted[0];
                assert_eq!(a.body, delivered, "{name}");
                assert_eq!(a.delivery.topic, E::TOPIC);
                assert_eq!(a.delivery.received_at, now);
                assert_eq!(a.delivery.event_type, a.event.event_type_name());
                let answer = Answer::new(&read, |_| Decision::Success);
                assert_eq!(answer.body(), br#"{"status":"SUCCESS"}"#, "{name}");
            }
        }
        for (name, body) in examples(topic, "invalid") {
            let read = Read::<E>::new("c", &body, now, accept_all);
            assert!(read.accepted().is_empty(), "{name} accepted");
            assert_eq!(read.refusals().len(), 2, "{name}");
            let answer = Answer::new(&read, |_| panic!("{name}: a refused entry was decided"));
            assert_eq!(answer.body(), br#"{"status":"DROP"}"#, "{name}");
        }
    }

    #[test]
    fn every_example_of_every_topic_is_accepted_or_dropped_as_the_contract_says() {
        corpus_is_read_as_the_contract_says::<TaskEvent>("task-events");
        corpus_is_read_as_the_contract_says::<ReminderEvent>("reminders");
        corpus_is_read_as_the_contract_says::<TaskUpdate>("task-updates");
    }

    #[test]
    fn what_is_not_an_event_is_dropped_and_counted() {
        for body in [
            b"not json".as_slice(),
            b"",
            b"[]",
            br#"{"specversion":"1.0","id":"x"}"#,
            br#"{"specversion":"1.0","id":"x","data":"not an event"}"#,
        ] {
            let read = Read::<TaskEvent>::new("audit", body, Utc::now(), accept_all);
            assert!(read.accepted().is_empty(), "{body:?}");
            let counted: Vec<&str> = read.refusals().iter().map(|c| c.name).collect();
            assert_eq!(
                counted,
                [
                    "event_processing_errors_total",
                    "schema_validation_errors_total"
                ]
            );
            assert_eq!(
                Answer::new(&read, |_| Decision::Success).body(),
                br#"{"status":"DROP"}"#
            );
        }
    }

    #[test]
    fn a_consumer_may_refuse_an_event_it_decoded() {
        let (_, body) = examples("task-events", "valid").remove(0);
        let read = Read::<TaskEvent>::new("audit", &body, Utc::now(), |_| Err("not for me".into()));
        assert!(read.accepted().is_empty());
        assert_eq!(read.refusals().len(), 2);
    }

    #[test]
    fn a_bulk_delivery_is_answered_per_entry_and_a_retry_holds_back_the_rest() {
        let valid: Vec<Vec<u8>> = examples("task-events", "valid")
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        let body = bulk(&[
            valid[0].clone(),
            b"not json".to_vec(),
            valid[1].clone(),
            valid[2].clone(),
            br#"{"schema_version":"2.0.0"}"#.to_vec(),
        ]);
        let read = Read::<TaskEvent>::new("audit", &body, Utc::now(), accept_all);
        assert!(read.bulk);
        let ids: Vec<&str> = read
            .accepted()
            .iter()
            .map(|a| a.entry_id.as_str())
            .collect();
        assert_eq!(ids, ["e0", "e2", "e3"]);
        let mut n = 0;
        let answer = Answer::new(&read, |_| {
            n += 1;
            if n == 2 {
                Decision::Retry
            } else {
                Decision::Success
            }
        });
        assert_eq!(
            answer.decisions(),
            [
                Decision::Success,
                Decision::Drop,
                Decision::Retry,
                Decision::Retry,
                Decision::Drop
            ]
        );
        let reply: Value = serde_json::from_slice(&answer.body()).unwrap();
        assert_eq!(
            reply["statuses"][3],
            json!({"entryId": "e3", "status": "RETRY"})
        );
        assert_eq!(reply["statuses"].as_array().unwrap().len(), 5);
    }
}
