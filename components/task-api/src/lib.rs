//! `task-api`: the signed-in user's tasks.
//!
//! | route | |
//! |---|---|
//! | `POST /api/tasks` | create → 201 + `Location` |
//! | `GET /api/tasks?completed&priority&tag&due_before&due_after&q&sort&order&limit&cursor` | list → `{items, next_cursor}` |
//! | `GET /api/tasks/{id}` · `PATCH /api/tasks/{id}` · `DELETE /api/tasks/{id}` | read, partial update, delete |
//! | `POST /api/tasks/{id}/complete` · `POST /api/tasks/{id}/reopen` | completion |
//! | `POST /mcp` | the same operations as MCP tools (JSON-RPC 2.0, Streamable HTTP) |
//! | `POST /outbox-drain` | Dapr cron binding: publish what a write could not |
//! | `/api/dead-letters/...` | operators: dead letters, their reasons and re-drives ([`deadletters`]) |
//!
//! Users authenticate with `Authorization: Bearer <JWT>` (HS256, variable `jwt_secret`); the
//! sidecar with `dapr-api-token`. Errors are RFC 9457 problem details naming the field.

mod deadletters;
mod mcp;
mod service;

use serde_json::json;
use service::{ApiError, Tasks};
use spin_sdk::http::{Method, Request, Response};
use todo_events::uuid::Uuid;
use todo_http::{json, no_content, problem, read_json_body};
use todo_problem::Problem;
use todo_sql::Database;
use todo_tasks::UpdateTask;

/// Pre-initialisation (todo-host --preinit): the validators of every topic a write publishes to
/// (producers validate each event), compiled once at build time instead of in every request.
fn preinit() {
    use todo_events::{EventSchema, Topic};
    for topic in [Topic::TaskEvents, Topic::TaskUpdates, Topic::Reminders] {
        EventSchema::of(topic);
    }
}
todo_preinit::export!(preinit);

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    if path == "/outbox-drain" {
        return outbox_timer(&req).await;
    }
    let (claims, secret) = match todo_http::user(&req) {
        Ok(signed_in) => signed_in,
        Err(resp) => return resp,
    };
    let db = match Database::from_vars() {
        Ok(db) => db,
        Err(e) => return problem(&ApiError::Internal(e.to_string()).problem()),
    };
    let tasks = Tasks {
        db: &db,
        user: &claims.sub,
        email: claims.email.as_deref(),
        cursor_secret: secret.as_bytes(),
    };
    if path == "/mcp" {
        return mcp::serve(&tasks, &req).await;
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (req.method(), segments.as_slice()) {
        (Method::Post, ["api", "tasks"]) => match read_json_body(&req) {
            Ok(body) => tasks.create(body).await.map(|t| {
                let location = format!("/api/tasks/{}", t.id);
                todo_http::with_header(json(201, &t), "location", &location)
            }),
            Err(p) => Err(ApiError::Problem(p)),
        },
        (Method::Get, ["api", "tasks"]) => {
            tasks.list(req.query()).await.map(|page| json(200, &page))
        }
        (_, ["api", "dead-letters", rest @ ..]) => {
            deadletters::route(&db, &claims, &secret, &req, rest).await
        }
        (method, ["api", "tasks", id, rest @ ..]) => match Uuid::parse_str(id) {
            Err(_) => Err(ApiError::Problem(Problem::not_found("no such task"))),
            Ok(id) => task_route(&tasks, &req, method, id, rest).await,
        },
        _ => Err(ApiError::Problem(Problem::not_found("no such route"))),
    };
    result.unwrap_or_else(|e| {
        if let ApiError::Internal(detail) = &e {
            eprintln!("task-api: {} {}: {detail}", req.method(), req.path());
        }
        problem(&e.problem())
    })
}

/// `/api/tasks/{id}[/complete|/reopen]`.
async fn task_route(
    tasks: &Tasks<'_>,
    req: &Request,
    method: &Method,
    id: Uuid,
    rest: &[&str],
) -> Result<Response, ApiError> {
    match (method, rest) {
        (Method::Get, []) => tasks.get(id).await.map(|t| json(200, &t)),
        (Method::Patch, []) => {
            let patch = UpdateTask::from_json(read_json_body(req).map_err(ApiError::Problem)?)?;
            tasks.update(id, &patch).await.map(|t| json(200, &t))
        }
        (Method::Delete, []) => tasks.delete(id).await.map(|()| no_content()),
        (Method::Post, ["complete"]) => tasks
            .update(id, &UpdateTask::completion(true))
            .await
            .map(|t| json(200, &t)),
        (Method::Post, ["reopen"]) => tasks
            .update(id, &UpdateTask::completion(false))
            .await
            .map(|t| json(200, &t)),
        (_, []) => Ok(todo_http::method_not_allowed("GET, PATCH, DELETE")),
        (_, ["complete"] | ["reopen"]) => Ok(todo_http::method_not_allowed("POST")),
        _ => Err(ApiError::Problem(Problem::not_found("no such route"))),
    }
}

/// The Dapr cron binding's call: drain the outbox until it is empty (bounded per call).
async fn outbox_timer(req: &Request) -> Response {
    if let Err(resp) = todo_http::from_sidecar(req) {
        return resp;
    }
    let Ok(db) = Database::from_vars() else {
        return problem(&Problem::internal("sidecar not configured"));
    };
    let mut total = 0;
    for _ in 0..10 {
        let n = todo_outbox::drain_once(&db, "task-api").await;
        total += n;
        if n == 0 {
            break;
        }
    }
    json(200, &json!({ "published": total }))
}
