//! The runner (feature `serve`): a subscription route's whole exchange with Dapr, around the
//! decisions a consumer makes.
//!
//! Like the Dapr SDKs' topic handlers (dapr/go-sdk `service/http/topic.go`: the handler returns
//! its intent, the SDK writes the status), a consumer here only says what an event means; the
//! runner checks the sidecar's `dapr-api-token` (401) and the method (405), reads the delivery
//! ([`Read`]), hands the accepted events to the consumer, answers every entry
//! ([`Answer`]), logs each retry with its cause, and counts refused and failed deliveries in one
//! statement. Two shapes:
//!
//! - [`Batch`]: the consumer applies every accepted event of a delivery in one statement (audit,
//!   realtime): all SUCCESS, or all RETRY when it failed.
//! - [`InOrder`]: the consumer applies one event at a time, in delivery order (recurring,
//!   notification); after a RETRY the later events are not applied and are answered RETRY, so
//!   one task's events keep their order. An event the consumer has nothing to do with
//!   ([`Effect::Nothing`]) gets only its inbox row, written for all of them in one statement at
//!   the end.

use std::future::Future;

use spin_sdk::http::{Method, Request, Response};
use todo_events::chrono::Utc;
use todo_events::{Decision, Event};
use todo_metrics::Counter;
use todo_sql::{Database, Statement};

use crate::counters;
use crate::delivery::{Accepted, Answer, Read};
use crate::inbox::record_consumed_batch;

/// A consumer that applies every accepted event of a delivery at once.
pub trait Batch {
    /// The events of its topic.
    type Event: Event;
    /// Its name in the inbox and the metrics: the app-id.
    const NAME: &'static str;

    /// Whether a decoded event can be applied at all; an `Err` reason refuses it (DROP, counted,
    /// logged). Every decoded event by default.
    fn admit(&self, _event: &Self::Event) -> Result<(), String> {
        Ok(())
    }

    /// Applies `events` (at least one, in delivery order) together. `Err`: none of them was
    /// applied; Dapr delivers them again.
    fn apply(
        &self,
        db: &Database,
        events: &[&Accepted<Self::Event>],
    ) -> impl Future<Output = anyhow::Result<()>>;
}

/// What an event meant to an [`InOrder`] consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied, with its inbox row, in the consumer's own statement (or found applied already).
    Applied,
    /// Nothing to do: the runner writes just its inbox row (with the others', in one statement).
    Nothing,
}

/// A consumer that applies events one at a time, in delivery order.
pub trait InOrder {
    /// The events of its topic.
    type Event: Event;
    /// Its name in the inbox and the metrics: the app-id.
    const NAME: &'static str;

    /// Applies one event. `Err`: not applied; it and every later event of the delivery are
    /// delivered again.
    fn apply(
        &self,
        db: &Database,
        event: &Accepted<Self::Event>,
    ) -> impl Future<Output = anyhow::Result<Effect>>;
}

/// The sidecar's token and the method checked, or the response that refuses the call.
fn admitted(req: &Request) -> Result<(), Response> {
    todo_http::from_sidecar(req)?;
    if !matches!(req.method(), Method::Post) {
        return Err(todo_http::method_not_allowed("POST"));
    }
    Ok(())
}

/// `POST <route>` of a [`Batch`] consumer.
pub async fn serve_batch<C: Batch>(consumer: &C, req: &Request) -> Response {
    if let Err(refused) = admitted(req) {
        return refused;
    }
    let read = Read::<C::Event>::new(C::NAME, req.body(), Utc::now(), |e| consumer.admit(e));
    let db = Database::from_vars();
    let accepted = read.accepted();
    let mut counters = read.refusals();
    let applied = match (&db, accepted.is_empty()) {
        (_, true) => true,
        (Ok(db), false) => match consumer.apply(db, &accepted).await {
            Ok(()) => true,
            Err(e) => {
                log_retry(C::NAME, &accepted, &e);
                false
            }
        },
        (Err(e), false) => {
            eprintln!("{}: retry {} events: {e}", C::NAME, accepted.len());
            false
        }
    };
    if !applied {
        counters.extend(
            accepted
                .iter()
                .map(|a| counters::failed(C::NAME, a.event.event_type_name())),
        );
    }
    let answer = Answer::new(&read, |_| {
        if applied {
            Decision::Success
        } else {
            Decision::Retry
        }
    });
    finish(C::NAME, db.as_ref().ok(), &counters, &answer).await
}

/// `POST <route>` of an [`InOrder`] consumer.
pub async fn serve_in_order<C: InOrder>(consumer: &C, req: &Request) -> Response {
    if let Err(refused) = admitted(req) {
        return refused;
    }
    let read = Read::<C::Event>::new(C::NAME, req.body(), Utc::now(), |_| Ok(()));
    let db = Database::from_vars();
    let accepted = read.accepted();
    let mut counters = read.refusals();
    // Per accepted event: its decision, or `None` while its inbox row waits for the end.
    let mut decisions: Vec<Option<Decision>> = Vec::with_capacity(accepted.len());
    let mut failed = false;
    for a in &accepted {
        let decision = match &db {
            _ if failed => Some(Decision::Retry),
            Err(e) => {
                eprintln!("{}: retry event_id={}: {e}", C::NAME, a.event.event_id());
                Some(Decision::Retry)
            }
            Ok(db) => match consumer.apply(db, a).await {
                Ok(Effect::Applied) => Some(Decision::Success),
                Ok(Effect::Nothing) => None,
                Err(e) => {
                    log_retry(C::NAME, &[a], &e);
                    Some(Decision::Retry)
                }
            },
        };
        if decision == Some(Decision::Retry) {
            failed = true;
            counters.push(counters::failed(C::NAME, a.event.event_type_name()));
        }
        decisions.push(decision);
    }
    let nothing: Vec<&&Accepted<C::Event>> = accepted
        .iter()
        .zip(&decisions)
        .filter(|(_, d)| d.is_none())
        .map(|(a, _)| a)
        .collect();
    let recorded = match (&db, nothing.is_empty()) {
        (_, true) => true,
        (Err(_), false) => false,
        (Ok(db), false) => {
            let events: Vec<_> = nothing
                .iter()
                .map(|a| (a.event.event_id(), a.delivery.clone()))
                .collect();
            let st = record_consumed_batch(C::NAME, &events);
            match db.one::<serde_json::Value>(&st).await {
                Ok(_) => true,
                Err(e) => {
                    eprintln!(
                        "{}: retry {} events with nothing to apply: {e}",
                        C::NAME,
                        events.len()
                    );
                    counters.extend(
                        nothing
                            .iter()
                            .map(|a| counters::failed(C::NAME, a.event.event_type_name())),
                    );
                    false
                }
            }
        }
    };
    let mut decisions = decisions.into_iter();
    let answer = Answer::new(&read, |_| match decisions.next().flatten() {
        Some(d) => d,
        None if recorded => Decision::Success,
        None => Decision::Retry,
    });
    finish(C::NAME, db.as_ref().ok(), &counters, &answer).await
}

/// Logs why `events` are retried: the error with its context chain.
fn log_retry<E: Event>(consumer: &str, events: &[&Accepted<E>], e: &anyhow::Error) {
    match events {
        [one] => eprintln!(
            "{consumer}: retry event_id={} type={}: {e:#}",
            one.event.event_id(),
            one.event.event_type_name()
        ),
        many => eprintln!("{consumer}: retry {} events: {e:#}", many.len()),
    }
}

/// Writes the request's counters (best effort: a failure loses only the increments, and is
/// logged) and answers.
async fn finish(
    consumer: &str,
    db: Option<&Database>,
    counters: &[Counter],
    answer: &Answer,
) -> Response {
    if !counters.is_empty() {
        let st: Statement = todo_metrics::counters_statement(counters);
        let counted = match db {
            Some(db) => db
                .one::<serde_json::Value>(&st)
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            None => Err("no sidecar configured".to_owned()),
        };
        if let Err(e) = counted {
            eprintln!(
                "{consumer}: metrics: {} counter increments are lost: {e}",
                counters.len()
            );
        }
    }
    todo_http::json_bytes(200, answer.body())
}
