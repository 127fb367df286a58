//! `recurring`: rolls recurring tasks forward.
//!
//! `POST /recurring/events` (from the sidecar; declarative subscription to `task-events`, dead
//! letters to `task-events.dlq`; `dapr-api-token` checked, 401 otherwise). For a
//! `task.completed` of a task with a recurrence rule it creates the next occurrence — same
//! title, description, priority, tags, rule (COUNT reduced by one), time zone, reminders moved
//! with the due date, the series id and a link to the task it follows — with the due date the
//! rule gives in the task's time zone. The task row, its outbox events (`task.created`, its
//! `task-updates` update, `reminder.scheduled` for each reminder) and the idempotency records go
//! in one statement ([`todo_tasks::sql::roll_forward_once`]), so one completed occurrence gives
//! exactly one next occurrence whatever is redelivered or raced; an exhausted series is recorded
//! and creates nothing. Every other event: SUCCESS, no effect but its idempotency row
//! ([`todo_metrics::record_consumed`]), so every consumed event is counted once and the
//! service's lag (`event_consumer_lag_seconds`) sees it. A refused delivery (DROP) and a RETRY
//! are counted with one small statement each (todo-metrics). A bulk delivery (the
//! subscription's `bulkSubscribe`) is answered per entry with the same rules, in order, in one
//! instance: the roll-forwards one by one, the idempotency rows of every other event in one
//! statement; after a RETRY the later entries are answered RETRY unprocessed.
//!
//! | delivery | answer |
//! |---|---|
//! | invalid, unknown MAJOR | DROP (dead-letter topic) |
//! | not a recurring `task.completed`, or already rolled | SUCCESS |
//! | rolled now (created, or the series ended) | SUCCESS |
//! | the sidecar or the database cannot take it now | RETRY |

use spin_sdk::http::{Method, Request, Response};
use todo_events::{decode, Decision, TaskEvent, Topic};
use todo_metrics::Delivery;
use todo_sidecar::Sidecar;
use todo_tasks::sql::{self, decode::roll_outcome};
use todo_tasks::todo_events::{chrono::Utc, uuid::Uuid};
use todo_tasks::{completed_recurring, events_for_change, Change, Completed, Roll};

/// Pre-initialisation (todo-host --preinit): the task-events validator and those of the next
/// occurrence's events, compiled once at build time instead of in every request.
fn preinit() {
    for topic in [
        todo_events::Topic::TaskEvents,
        todo_events::Topic::TaskUpdates,
        todo_events::Topic::Reminders,
    ] {
        todo_events::EventSchema::of(topic);
    }
}
todo_preinit::export!(preinit);

/// The consumer name in `processed_events` (the app-id).
const CONSUMER: &str = "recurring";
/// The PostgreSQL binding holding tasks and the outbox.
const DB: &str = "tododb";

// Exported only in the wasm build: natively the crate links as an ordinary library for tests.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    if let Err(resp) = todo_http::from_sidecar(&req) {
        return resp;
    }
    match (req.method(), req.path()) {
        (Method::Post, "/recurring/events") => match todo_events::bulk::delivery(req.body()) {
            todo_events::bulk::Delivery::Single(body) => todo_http::dapr(on_event(body).await),
            todo_events::bulk::Delivery::Bulk(entries) => {
                todo_http::dapr_bulk(&on_bulk(&entries).await)
            }
        },
        (_, "/recurring/events") => todo_http::method_not_allowed("POST"),
        _ => todo_http::problem(&todo_http::Problem::not_found("no such resource")),
    }
}

/// One delivery of `task-events`, received at request start (the processing duration starts
/// there); refused and retried deliveries are counted (best effort).
async fn on_event(body: &[u8]) -> Decision {
    let received_at = Utc::now();
    let event = match decode::<TaskEvent>(body) {
        Ok(d) => d.event,
        Err(e) => {
            count(&todo_metrics::refused(CONSUMER, Topic::TaskEvents, body)).await;
            return e.decision();
        }
    };
    let delivery = Delivery::of(&event, received_at);
    let decision = match completed_recurring(&event) {
        None => record(&event, &delivery).await,
        Some(completed) => roll_forward(&event, &completed, &delivery).await,
    };
    if decision == Decision::Retry {
        count(&todo_metrics::failed(CONSUMER, event.event_type.as_str())).await;
    }
    decision
}

/// A bulk delivery: each recurring completion rolled forward in order, as [`on_event`] does;
/// every other event's idempotency row in one statement at the end (they have no effect to
/// order). After a RETRY the later entries are not processed and answered RETRY.
async fn on_bulk(entries: &[todo_events::bulk::Entry]) -> todo_events::bulk::Statuses {
    let received_at = Utc::now();
    // Per entry: its answer, or `None` while it waits for the consumed-rows statement.
    let mut decisions: Vec<Option<Decision>> = Vec::with_capacity(entries.len());
    let mut consumed: Vec<(Uuid, Delivery)> = Vec::new();
    let mut failed = false;
    for entry in entries {
        if failed {
            decisions.push(Some(Decision::Retry));
            continue;
        }
        let event = match decode::<TaskEvent>(&entry.body) {
            Ok(d) => d.event,
            Err(e) => {
                count(&todo_metrics::refused(
                    CONSUMER,
                    Topic::TaskEvents,
                    &entry.body,
                ))
                .await;
                decisions.push(Some(e.decision()));
                continue;
            }
        };
        let delivery = Delivery::of(&event, received_at);
        match completed_recurring(&event) {
            None => {
                consumed.push((event.event_id, delivery));
                decisions.push(None);
            }
            Some(completed) => {
                let decision = roll_forward(&event, &completed, &delivery).await;
                if decision == Decision::Retry {
                    count(&todo_metrics::failed(CONSUMER, event.event_type.as_str())).await;
                    failed = true;
                }
                decisions.push(Some(decision));
            }
        }
    }
    let recorded = consumed.is_empty() || record_all(&consumed).await;
    if !recorded {
        let kinds: Vec<&str> = consumed
            .iter()
            .map(|(_, d)| d.event_type.as_str())
            .collect();
        count(&todo_metrics::failed_all(CONSUMER, &kinds)).await;
    }
    todo_events::bulk::Statuses::settled(
        entries.iter().map(|e| e.entry_id.as_str()).zip(decisions),
        recorded,
    )
}

/// The idempotency rows of events with nothing to roll, in one statement; false on a failure
/// (logged).
async fn record_all(events: &[(Uuid, Delivery)]) -> bool {
    let st = todo_metrics::record_consumed_batch(CONSUMER, events);
    let result = match Sidecar::from_vars() {
        Ok(sidecar) => sidecar
            .query(DB, &st.sql, &st.params)
            .await
            .map_err(|e| e.to_string())
            .and_then(|rows| {
                todo_sql::single(&rows)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => true,
        Err(e) => {
            eprintln!(
                "recurring: retry {} events without a roll: {e}",
                events.len()
            );
            false
        }
    }
}

/// Runs a counter statement (todo-metrics; a failure only loses the increment).
async fn count(st: &sql::Statement) {
    match Sidecar::from_vars() {
        Ok(sidecar) => todo_metrics::count(&sidecar, DB, st, "recurring").await,
        Err(e) => eprintln!("recurring: metrics: a counter increment is lost: {e}"),
    }
}

/// An event with nothing to roll: recorded as consumed (its idempotency row), nothing else.
async fn record(event: &TaskEvent, delivery: &Delivery) -> Decision {
    let st = todo_metrics::record_consumed(CONSUMER, event.event_id, delivery);
    let sidecar = match Sidecar::from_vars() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("recurring: {e}");
            return Decision::Retry;
        }
    };
    match sidecar.query(DB, &st.sql, &st.params).await {
        Ok(rows) => match todo_sql::single(&rows) {
            Ok(_) => Decision::Success,
            Err(e) => {
                eprintln!("recurring: retry event_id={}: {e}", event.event_id);
                Decision::Retry
            }
        },
        Err(e) => {
            eprintln!("recurring: retry event_id={}: {e}", event.event_id);
            Decision::Retry
        }
    }
}

/// A recurring task's completion: the next occurrence, once.
async fn roll_forward(event: &TaskEvent, completed: &Completed, delivery: &Delivery) -> Decision {
    let roll = completed.roll(Uuid::new_v4(), Utc::now());
    let outbox = match &roll {
        Roll::Next(next) => match events_for_change(Change::Created, None, next) {
            Ok(o) => o,
            Err(e) => {
                // A task the domain built failed its own schema: a bug, never a bad event.
                eprintln!(
                    "recurring: event_id={} next occurrence: {e}",
                    event.event_id
                );
                return Decision::Retry;
            }
        },
        Roll::Exhausted => Vec::new(),
    };
    let st = sql::roll_forward_once(
        CONSUMER,
        event.event_id,
        completed,
        &roll,
        &outbox,
        delivery,
    );
    let sidecar = match Sidecar::from_vars() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("recurring: {e}");
            return Decision::Retry;
        }
    };
    let outcome = match sidecar.query(DB, &st.sql, &st.params).await {
        Ok(rows) => roll_outcome(&rows),
        Err(e) => {
            eprintln!("recurring: retry event_id={}: {e}", event.event_id);
            return Decision::Retry;
        }
    };
    match outcome {
        Ok(o) => {
            match (&o.task, &roll) {
                (Some(next), _) => {
                    eprintln!(
                        "recurring: event_id={} series={} next occurrence {} due {:?}",
                        event.event_id, completed.series, next.id, next.due_date
                    );
                    todo_outbox::drain_once(&sidecar, DB, "recurring").await;
                }
                (None, Roll::Exhausted) if o.rolled => eprintln!(
                    "recurring: event_id={} series={} has ended: no next occurrence",
                    event.event_id, completed.series
                ),
                (None, _) => eprintln!(
                    "recurring: event_id={} series={} occurrence {} already rolled (processed={})",
                    event.event_id, completed.series, completed.due, o.processed
                ),
            }
            Decision::Success
        }
        Err(e) => {
            eprintln!("recurring: retry event_id={}: {e}", event.event_id);
            Decision::Retry
        }
    }
}
