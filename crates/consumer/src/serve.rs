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

use std::collections::HashSet;
use std::future::Future;

use spin_sdk::http::{Method, Request, Response};
use todo_events::chrono::Utc;
use todo_events::{Decision, Event};
use todo_metrics::Counter;
use todo_sidecar::vars::VarError;
use todo_sidecar::SidecarError;
use todo_sql::{Database, DbError, Statement};

use crate::counters;
use crate::deadletter::{self, Letter, Position, Recorded};
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

/// A dependency other than the sidecar is down (Pushpin's publish API, for realtime): like a
/// sidecar that cannot be reached, [`transient`], so the event is retried however long it lasts.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// Whether a failure is a dependency that is down (the sidecar, the database behind it, the
/// component's configuration, an [`Unavailable`] service): the event is answered RETRY and
/// retried however long the outage lasts, never counted towards its dead letter. Anything else
/// (a statement that failed inside the database, a 4xx from the sidecar, a result of the wrong
/// shape) is about this event and counts an attempt (docs/deadletters.md).
pub fn transient(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        if let Some(db) = cause.downcast_ref::<DbError>() {
            return matches!(
                db,
                DbError::Config(_) | DbError::Sidecar(SidecarError::Unavailable(_))
            );
        }
        if let Some(sidecar) = cause.downcast_ref::<SidecarError>() {
            return matches!(sidecar, SidecarError::Unavailable(_));
        }
        cause.downcast_ref::<VarError>().is_some() || cause.downcast_ref::<Unavailable>().is_some()
    })
}

/// The Kafka position of a single delivery: Dapr sends the message's metadata as headers.
fn position_of(req: &Request) -> Position {
    let header = |name: &str| req.header(name).and_then(|v| v.as_str());
    Position::from_metadata(header("__partition"), header("__offset"))
}

/// Records `letters` (refused entries and failed attempts) in one statement: the keys dead now,
/// or `None` when the statement could not run (then nothing is dead: every one is retried).
async fn record_letters(
    consumer: &str,
    topic: &str,
    db: Option<&Database>,
    letters: &[&Letter],
) -> Option<HashSet<String>> {
    if letters.is_empty() {
        return Some(HashSet::new());
    }
    let Some(db) = db else {
        eprintln!(
            "{consumer}: retry {} dead letters: no sidecar configured",
            letters.len()
        );
        return None;
    };
    let st = deadletter::record(topic, consumer, letters.iter().copied());
    match db.one::<Recorded>(&st).await {
        Ok(recorded) => {
            for l in letters.iter().filter(|l| recorded.dead.contains(&l.key)) {
                eprintln!(
                    "{consumer}: dead letter topic={topic} key={} reason={}",
                    l.key, l.reason
                );
            }
            Some(recorded.dead.into_iter().collect())
        }
        Err(e) => {
            eprintln!(
                "{consumer}: retry {} events: their dead letters could not be recorded: {e}",
                letters.len()
            );
            None
        }
    }
}

/// `POST <route>` of a [`Batch`] consumer.
pub async fn serve_batch<C: Batch>(consumer: &C, req: &Request) -> Response {
    if let Err(refused) = admitted(req) {
        return refused;
    }
    let topic = C::Event::TOPIC.name();
    let read = Read::<C::Event>::at(C::NAME, req.body(), position_of(req), Utc::now(), |e| {
        consumer.admit(e)
    });
    let db = Database::from_vars();
    let accepted = read.accepted();
    let mut counters = read.refusals();
    // Each accepted event's decision; the failed ones' letters (index, letter) wait for the
    // dead-letter statement.
    let mut decisions = vec![Decision::Success; accepted.len()];
    let mut failed: Vec<(usize, Letter)> = Vec::new();
    match (&db, accepted.is_empty()) {
        (_, true) => {}
        (Err(e), false) => {
            eprintln!("{}: retry {} events: {e}", C::NAME, accepted.len());
            decisions.fill(Decision::Retry);
        }
        (Ok(db), false) => {
            if let Err(e) = consumer.apply(db, &accepted).await {
                log_retry(C::NAME, &accepted, &e);
                if transient(&e) {
                    decisions.fill(Decision::Retry);
                } else if let [one] = accepted.as_slice() {
                    failed.push((
                        0,
                        Letter::failed(&one.body, &format!("{e:#}"), one.position),
                    ));
                } else {
                    // One of them fails with the database up: find it, apply the others.
                    for (i, a) in accepted.iter().enumerate() {
                        match consumer.apply(db, &[a]).await {
                            Ok(()) => {}
                            Err(e) if transient(&e) => {
                                log_retry(C::NAME, &[a], &e);
                                decisions[i..].fill(Decision::Retry);
                                break;
                            }
                            Err(e) => {
                                log_retry(C::NAME, &[a], &e);
                                failed.push((
                                    i,
                                    Letter::failed(&a.body, &format!("{e:#}"), a.position),
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut letters: Vec<&Letter> = read.letters();
    letters.extend(failed.iter().map(|(_, l)| l));
    let dead = record_letters(C::NAME, topic, db.as_ref().ok(), &letters).await;
    for (i, letter) in &failed {
        decisions[*i] = match &dead {
            Some(dead) if dead.contains(&letter.key) => Decision::Drop,
            _ => Decision::Retry,
        };
    }
    for (a, d) in accepted.iter().zip(&decisions) {
        if *d != Decision::Success {
            counters.push(counters::failed(C::NAME, a.event.event_type_name()));
        }
    }
    let mut decisions = decisions.into_iter();
    let refused = if dead.is_some() {
        Decision::Drop
    } else {
        Decision::Retry
    };
    let answer = Answer::with_refused(&read, refused, |_| {
        decisions.next().unwrap_or(Decision::Retry)
    });
    finish(C::NAME, db.as_ref().ok(), &counters, &answer).await
}

/// `POST <route>` of an [`InOrder`] consumer.
pub async fn serve_in_order<C: InOrder>(consumer: &C, req: &Request) -> Response {
    if let Err(refused) = admitted(req) {
        return refused;
    }
    let topic = C::Event::TOPIC.name();
    let read = Read::<C::Event>::at(
        C::NAME,
        req.body(),
        position_of(req),
        Utc::now(),
        |_| Ok(()),
    );
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
                    if transient(&e) {
                        Some(Decision::Retry)
                    } else {
                        // Count the attempt now: a dead event lets the later ones go on.
                        let letter = Letter::failed(&a.body, &format!("{e:#}"), a.position);
                        match record_letters(C::NAME, topic, Some(db), &[&letter]).await {
                            Some(dead) if dead.contains(&letter.key) => Some(Decision::Drop),
                            _ => Some(Decision::Retry),
                        }
                    }
                }
            },
        };
        if matches!(decision, Some(Decision::Retry | Decision::Drop)) {
            counters.push(counters::failed(C::NAME, a.event.event_type_name()));
        }
        if decision == Some(Decision::Retry) {
            failed = true;
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
    let dead = record_letters(C::NAME, topic, db.as_ref().ok(), &read.letters()).await;
    let refused = if dead.is_some() {
        Decision::Drop
    } else {
        Decision::Retry
    };
    let mut decisions = decisions.into_iter();
    let answer = Answer::with_refused(&read, refused, |_| match decisions.next().flatten() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_dependency_down_is_transient_and_anything_else_is_about_the_event() {
        let down: anyhow::Result<()> = Err(DbError::Sidecar(SidecarError::Unavailable(
            "refused".into(),
        )))
        .context("writing");
        assert!(transient(&down.unwrap_err()));
        let pushpin: anyhow::Error = Unavailable("Pushpin unreachable".into()).into();
        assert!(transient(&pushpin.context("publishing")));
        let no_row: anyhow::Error = DbError::Row(todo_sql::RowError::NoRow).into();
        assert!(
            !transient(&no_row),
            "the statement failed inside the database"
        );
        let refused = DbError::Sidecar(SidecarError::Refused {
            call: "POST /v1.0/jobs/x".into(),
            status: 400,
            body: String::new(),
        });
        assert!(!transient(&anyhow::Error::from(refused)));
        assert!(!transient(&anyhow::anyhow!("a bug")));
    }
}
