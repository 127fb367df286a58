//! `/api/dead-letters`: the operator's dead letters (docs/deadletters.md), for tokens with the
//! `operator` role; anyone else signed in gets 403.
//!
//! | route | |
//! |---|---|
//! | `GET /api/dead-letters?topic&consumer&reason&state&since&limit&cursor` | newest first → `{items, next_cursor}` |
//! | `GET /api/dead-letters/{id}` | one, with its payload |
//! | `POST /api/dead-letters/{id}/redrive[?dry_run=true]` | re-drive one → `{dry_run, items, published}`; 409 when refused |
//! | `POST /api/dead-letters/redrive` `{ids \| topic, consumer, reason, since, dry_run}` | re-drive many → the same, each refused one with its reason |
//! | `POST /api/dead-letters/{id}/discard` | stop it being pending (never re-driven), kept with who and when; 409 when not pending |
//!
//! A re-drive puts the event in the transactional outbox in the statement that marks the
//! letter re-driven, then drains the outbox (the timer would within seconds).

use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_auth::{Claims, OPERATOR};
use todo_cursor::Position;
use todo_deadletters::{self as dl, Filter, RedriveRequest, Selection};
use todo_http::{json as json_response, read_json_body};
use todo_problem::{Problem, ValidationErrors};
use todo_sql::Database;

use crate::service::ApiError;

/// Routes `/api/dead-letters/...` (`rest`: the segments after `dead-letters`).
pub async fn route(
    db: &Database,
    claims: &Claims,
    secret: &str,
    req: &Request,
    rest: &[&str],
) -> Result<Response, ApiError> {
    if !claims.has_role(OPERATOR) {
        return Err(ApiError::Problem(Problem::forbidden(
            "dead letters are for operators: the token has no \"operator\" role",
        )));
    }
    match (req.method(), rest) {
        (Method::Get, []) => list(db, secret, req.query()).await,
        (Method::Post, ["redrive"]) => {
            let body = read_json_body(req).map_err(ApiError::Problem)?;
            let request: RedriveRequest = serde_json::from_slice(body)
                .map_err(|e| ApiError::from(ValidationErrors::single("body", e.to_string())))?;
            let selection = request.selection()?;
            redrive(db, &selection, request.dry_run).await
        }
        (method, [id, tail @ ..]) => {
            let id = id.parse::<i64>().map_err(|_| {
                ApiError::from(ValidationErrors::single("id", "must be an integer"))
            })?;
            match (method, tail) {
                (Method::Get, []) => show(db, id).await,
                (Method::Post, ["redrive"]) => {
                    let dry_run = dry_run_param(req.query())?;
                    let answer = run_redrive(db, &Selection::Ids(vec![id]), dry_run).await?;
                    one_letter(id, answer)
                }
                (Method::Post, ["discard"]) => {
                    let answer: Value = db.one(&dl::discard(&[id], &claims.sub)).await?;
                    one_letter(id, answer)
                }
                (_, []) => Ok(todo_http::method_not_allowed("GET")),
                (_, ["redrive" | "discard"]) => Ok(todo_http::method_not_allowed("POST")),
                _ => Err(ApiError::Problem(Problem::not_found("no such route"))),
            }
        }
        (_, []) => Ok(todo_http::method_not_allowed("GET")),
    }
}

/// The answer about one letter `id` (its only item): 404 when it does not exist, 409 with why
/// when refused, else 200 with the statement's answer.
fn one_letter(id: i64, answer: Value) -> Result<Response, ApiError> {
    match answer["items"].get(0) {
        None => Err(ApiError::Problem(Problem::not_found("no such dead letter"))),
        Some(item) if item["outcome"] == "refused" => {
            let why = item["why"].as_str().unwrap_or("refused");
            Err(ApiError::Problem(Problem::conflict(format!(
                "id {id}: {why}"
            ))))
        }
        Some(_) => Ok(json_response(200, &answer)),
    }
}

/// `dry_run=true|false` of a query string (default false).
fn dry_run_param(query: &str) -> Result<bool, ApiError> {
    let mut errors = ValidationErrors::new();
    let p = todo_cursor::Params::parse(query, &["dry_run"], &mut errors);
    let dry = match p.one("dry_run", &mut errors) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            errors.push("dry_run", "must be true or false");
            false
        }
    };
    errors.into_result(dry).map_err(ApiError::from)
}

async fn list(db: &Database, secret: &str, query: &str) -> Result<Response, ApiError> {
    let mut errors = ValidationErrors::new();
    let (filter, params) = Filter::from_query(query, &["limit", "cursor"], &mut errors);
    let limit = params.limit(50, 200, &mut errors);
    let before = match params.one("cursor", &mut errors) {
        None => None,
        Some(c) => match todo_cursor::decode(secret.as_bytes(), &context(&filter), c) {
            Ok(pos) => pos.id.parse::<i64>().ok(),
            Err(why) => {
                errors.push("cursor", why);
                None
            }
        },
    };
    errors.into_result(())?;
    let page: Value = db.one(&dl::list(&filter, before, limit)).await?;
    let mut items = page["items"].as_array().cloned().unwrap_or_default();
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().and_then(|last| last["id"].as_i64()).map(|id| {
            let pos = Position {
                key: id.to_string(),
                id: id.to_string(),
            };
            todo_cursor::encode(secret.as_bytes(), &context(&filter), &pos)
        })
    } else {
        None
    };
    Ok(json_response(
        200,
        &json!({ "items": items, "next_cursor": next_cursor }),
    ))
}

/// A cursor is good only for the filter it was made with.
fn context(f: &Filter) -> String {
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        dl::CURSOR_CONTEXT,
        f.topic,
        f.consumer,
        f.reason,
        f.state,
        f.since
    )
}

async fn show(db: &Database, id: i64) -> Result<Response, ApiError> {
    let letter: Value = db.one(&dl::show(id)).await?;
    if letter["missing"] == true {
        return Err(ApiError::Problem(Problem::not_found("no such dead letter")));
    }
    Ok(json_response(200, &dl::payload_view(letter)))
}

async fn run_redrive(
    db: &Database,
    selection: &Selection,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let answer: Value = db.one(&dl::redrive(selection, dry_run)).await?;
    if answer["published"].as_i64().unwrap_or(0) > 0 {
        // Publish now; what this misses the outbox timer publishes within seconds.
        todo_outbox::drain_once(db, "task-api").await;
    }
    Ok(answer)
}

async fn redrive(
    db: &Database,
    selection: &Selection,
    dry_run: bool,
) -> Result<Response, ApiError> {
    let answer = run_redrive(db, selection, dry_run).await?;
    Ok(json_response(200, &answer))
}
