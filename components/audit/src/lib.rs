//! `audit`: records every `task-events` event exactly once and serves each user's audit log.
//!
//! HTTP contract:
//! - `POST /audit/events` (from the Dapr sidecar, declarative subscription to `task-events` with
//!   dead-letter topic `task-events.dlq`): needs the sidecar's `dapr-api-token` (401 otherwise).
//!   Always answers 200 with a Dapr status:
//!   `{"status":"SUCCESS"}` once the event is recorded (or was already: redeliveries change
//!   nothing), `{"status":"DROP"}` for an invalid event or an unknown MAJOR `schema_version`
//!   (Dapr moves it to the dead-letter topic), `{"status":"RETRY"}` when the sidecar or the
//!   database cannot record it now. A bulk delivery (`bulkSubscribe`, `{"entries": [...]}`) is
//!   answered `{"statuses": [{"entryId", "status"}, ...]}` with the same rules per entry, the
//!   whole batch recorded in one statement. See [`subscriber`].
//! - `GET /api/audit` (and `/api/audit/`): the signed-in user's audit log, newest first, paged;
//!   `Authorization: Bearer <HS256 JWT>` (401 otherwise), query `task_id`, `from`, `to`, `limit`,
//!   `cursor` (400 naming the parameter). Answers `{"items": [...], "next_cursor": ...}`.
//!   See [`api`].
//! - Other methods: 405; other paths: 404. Every error is an RFC 9457 problem.

mod api;
mod subscriber;

use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use todo_events::bulk::{self, Delivery, Entry, Statuses};
use todo_events::chrono::{DateTime, Utc};
use todo_events::Decision;
use todo_problem::Problem;
use todo_sidecar::{vars, Sidecar, SidecarError};
use todo_tasks::sql;

/// Pre-initialisation (todo-host --preinit): the task-events validator, compiled once at build
/// time instead of in every request.
fn preinit() {
    todo_events::EventSchema::of(todo_events::Topic::TaskEvents);
}
todo_preinit::export!(preinit);

/// The PostgreSQL binding (`bindings.postgresql`) holding the audit log.
const BINDING: &str = "tododb";

/// What a request path addresses.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    /// `/audit/events`: deliveries from the sidecar.
    Events,
    /// `/api/audit` or `/api/audit/`: the audit log.
    AuditLog,
    /// Anything else.
    Unknown,
}

fn route(path: &str) -> Route {
    match path {
        "/audit/events" => Route::Events,
        "/api/audit" | "/api/audit/" => Route::AuditLog,
        _ => Route::Unknown,
    }
}

// Exported only in the wasm build: natively the crate links as an ordinary library for tests.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    match route(req.path()) {
        Route::Events => on_delivery(&req).await,
        Route::AuditLog => on_audit_log(&req).await,
        Route::Unknown => todo_http::problem(&Problem::not_found("no such resource")),
    }
}

/// `POST /audit/events`: one delivery of `task-events`.
async fn on_delivery(req: &Request) -> Response {
    if let Err(resp) = todo_http::from_sidecar(req) {
        return resp;
    }
    if !matches!(req.method(), Method::Post) {
        return todo_http::method_not_allowed("POST");
    }
    let received_at = Utc::now();
    match bulk::delivery(req.body()) {
        Delivery::Single(body) => todo_http::dapr(on_event(body, received_at).await),
        Delivery::Bulk(entries) => todo_http::dapr_bulk(&on_bulk(&entries, received_at).await),
    }
}

/// One event: its statement, then the answer.
async fn on_event(body: &[u8], received_at: DateTime<Utc>) -> Decision {
    match subscriber::prepare(body, received_at) {
        Err(decision) => {
            count(&subscriber::refusal(body)).await;
            decision
        }
        Ok(pending) => {
            let rows = query(&pending.statement).await;
            let decision = subscriber::conclude(&pending, rows);
            if decision == Decision::Retry {
                count(&subscriber::retry(&pending)).await;
            }
            decision
        }
    }
}

/// A bulk delivery: one statement for every recordable entry, then an answer per entry.
async fn on_bulk(entries: &[Entry], received_at: DateTime<Utc>) -> Statuses {
    let batch = subscriber::prepare_batch(entries, received_at);
    for (entry, (_, kind)) in entries.iter().zip(&batch.entries) {
        if kind.is_err() {
            count(&subscriber::refusal(&entry.body)).await;
        }
    }
    let rows = match &batch.statement {
        Some(st) => Some(query(st).await),
        None => None,
    };
    let statuses = subscriber::conclude_batch(&batch, rows);
    if let Some(st) = subscriber::batch_retries(&batch, &statuses) {
        count(&st).await;
    }
    statuses
}

/// Runs a counter statement of a refused or retried delivery (best effort: todo-metrics).
async fn count(st: &sql::Statement) {
    match Sidecar::from_vars() {
        Ok(sidecar) => todo_metrics::count(&sidecar, BINDING, st, "audit").await,
        Err(e) => eprintln!("audit: metrics: a counter increment is lost: {e}"),
    }
}

/// `GET /api/audit`: one page of the caller's audit log.
async fn on_audit_log(req: &Request) -> Response {
    if !matches!(req.method(), Method::Get) {
        return todo_http::method_not_allowed("GET");
    }
    let secret = match vars::get("jwt_secret") {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("audit: {e}");
            return todo_http::problem(&Problem::internal("authentication is not configured"));
        }
    };
    let secret = secret.as_bytes();
    let authorization = req.header("authorization").and_then(|v| v.as_str());
    let q = match api::authorize(authorization, secret, todo_http::now_unix())
        .and_then(|claims| api::parse_query(req.query(), &claims.sub, secret))
    {
        Ok(q) => q,
        Err(response) => return response,
    };
    let rows = query(&sql::list_audit(&q)).await;
    api::page(rows, &q, secret)
}

/// Runs one statement through the sidecar's PostgreSQL binding.
async fn query(st: &sql::Statement) -> Result<Vec<Vec<Value>>, SidecarError> {
    let sidecar = Sidecar::from_vars().map_err(|e| SidecarError::Unavailable(e.to_string()))?;
    sidecar.query(BINDING, &st.sql, &st.params).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_only_the_two_resources() {
        assert_eq!(route("/audit/events"), Route::Events);
        assert_eq!(route("/api/audit"), Route::AuditLog);
        assert_eq!(route("/api/audit/"), Route::AuditLog);
        for other in [
            "/",
            "/audit",
            "/audit/events/x",
            "/api/audit/x",
            "/api/auditx",
        ] {
            assert_eq!(route(other), Route::Unknown, "{other}");
        }
    }
}
