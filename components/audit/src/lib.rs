//! `audit`: records every `task-events` event exactly once and serves each user's audit log.
//!
//! | route | from | |
//! |---|---|---|
//! | `POST /audit/events` | the sidecar (subscription to `task-events`, dead letters to `task-events.dlq`) | record each event once, with its inbox row, a delivery's events in one statement ([`subscriber`]); answered by `todo-consumer` |
//! | `GET /api/audit` | the user (JWT) | the user's audit log, newest first: `task_id`, `from`, `to`, `limit`, `cursor` ([`api`]) |
//!
//! Other methods: 405; other paths: 404. Every error is an RFC 9457 problem.

mod api;
pub mod log;
pub mod query;
pub mod subscriber;

use spin_sdk::http::{Method, Request, Response};
use todo_consumer::{serve_batch, Accepted, Batch};
use todo_events::TaskEvent;
use todo_problem::Problem;
use todo_sql::Database;

/// Pre-initialisation (todo-host --preinit): the task-events validator, compiled once at build
/// time instead of in every request.
fn preinit() {
    todo_events::EventSchema::of(todo_events::Topic::TaskEvents);
}
todo_preinit::export!(preinit);

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (_, "/audit/events") => serve_batch(&Audit, &req).await,
        (Method::Get, "/api/audit" | "/api/audit/") => api::audit_log(&req).await,
        (_, "/api/audit" | "/api/audit/") => todo_http::method_not_allowed("GET"),
        _ => todo_http::problem(&Problem::not_found("no such resource")),
    }
}

/// The subscriber of `task-events`.
struct Audit;

impl Batch for Audit {
    type Event = TaskEvent;
    const NAME: &'static str = subscriber::CONSUMER;

    fn admit(&self, event: &TaskEvent) -> Result<(), String> {
        subscriber::admit(event)
    }

    async fn apply(&self, db: &Database, events: &[&Accepted<TaskEvent>]) -> anyhow::Result<()> {
        let recorded: log::Recorded = db.one(&subscriber::statement(events)).await?;
        if let Some(note) = subscriber::redeliveries(&recorded, events.len()) {
            eprintln!("audit: {note}");
        }
        Ok(())
    }
}
