//! `realtime`: pushes each user's task updates to their open browsers, through Pushpin.
//!
//! A Spin component lives for one request and cannot hold a connection, so Pushpin (a GRIP
//! proxy) holds them: the component answers a connect with GRIP instructions (hold this
//! connection on the user's channel) and publishes each update to Pushpin's publish API. One
//! update costs one component instance, whatever the number of connections.
//!
//! | route | from | |
//! |---|---|---|
//! | `POST /realtime/events` | the sidecar (subscription to `task-updates`, dead letters to `task-updates.dlq`) | append a delivery's updates to their users' feeds (once, next sequences, one statement) and publish them to the users' channels with `id`/`prev-id` ([`feed`]); Pushpin unreachable: RETRY; answered by `todo-consumer` |
//! | `POST /realtime/tickets` | the page (JWT) | a stream ticket (60 s), because an `EventSource` cannot send `Authorization` |
//! | `GET /realtime/events?ticket=…[&last_id=n]` | the browser, through Pushpin | SSE: the feed after `Last-Event-ID` (or `last_id`), then held on the user's channel; `reset` when that id is no longer kept |
//! | `GET /realtime/events?recover=…` | Pushpin (its recovery link, `Grip-Last`) | the feed after the last id Pushpin delivered |
//! | `POST /realtime/ws?ticket=…[&last_id=n]` | Pushpin (WebSocket-over-HTTP) | on OPEN: the ticket checked, subscribe, replay, keep-alive; then pings, closes |
//!
//! Messages: SSE `id: <seq>` + `event: update` + `data: <task-updates event>`; WebSocket
//! `{"type":"update","id":<seq>,"event":{…}}`; `hello` (a fresh stream's position) and `reset`.
//! A user only ever reaches their own channel: the ticket names the user; the channel is a hash
//! of the user id; WebSocket requests must carry Pushpin's `Grip-Sig`.

pub mod feed;
pub mod grip;
mod stream;

use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use todo_consumer::{serve_batch, Accepted, Batch, Unavailable};
use todo_events::TaskUpdate;
use todo_http::Problem;
use todo_sidecar::vars;
use todo_sql::Database;

/// Pre-initialisation (todo-host --preinit): the task-updates validator, compiled once at build
/// time instead of in every request.
fn preinit() {
    todo_events::EventSchema::of(todo_events::Topic::TaskUpdates);
}
todo_preinit::export!(preinit);

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    match (req.method(), path.as_str()) {
        (Method::Post, "/realtime/events") => serve_batch(&Realtime, &req).await,
        (Method::Get, "/realtime/events") => stream::stream(&req).await,
        (Method::Post, "/realtime/tickets") => stream::issue_ticket(&req),
        (Method::Post, "/realtime/ws") => stream::websocket(&req).await,
        (_, "/realtime/events") => todo_http::method_not_allowed("GET, POST"),
        (_, "/realtime/tickets" | "/realtime/ws") => todo_http::method_not_allowed("POST"),
        _ => todo_http::problem(&Problem::not_found("no such resource")),
    }
}

/// The subscriber of `task-updates`.
struct Realtime;

impl Batch for Realtime {
    type Event = TaskUpdate;
    const NAME: &'static str = feed::CONSUMER;

    async fn apply(&self, db: &Database, updates: &[&Accepted<TaskUpdate>]) -> anyhow::Result<()> {
        let payloads = updates
            .iter()
            .map(|u| serde_json::to_value(&u.event))
            .collect::<Result<Vec<Value>, _>>()?;
        let pending: Vec<feed::Pending<'_>> = updates
            .iter()
            .zip(&payloads)
            .map(|(u, payload)| feed::Pending {
                user: &u.event.user_id,
                event_id: u.event.event_id,
                payload,
                delivery: &u.delivery,
            })
            .collect();
        let appended: feed::Appended = db.one(&feed::append(&pending)).await?;
        // Like audit's: a rebalance's or a restart's redeliveries, absorbed by the feed's rows.
        let again = appended.seqs.iter().filter(|s| s.is_none()).count();
        if again > 0 {
            eprintln!(
                "realtime: {again} of {} updates were in the feed already (redeliveries)",
                pending.len()
            );
        }
        for body in feed::publish_bodies(&pending, &appended.seqs)? {
            publish(&body).await?;
        }
        Ok(())
    }
}

/// `POST <pushpin_publish_url>/publish/` with `body`.
async fn publish(body: &Value) -> anyhow::Result<()> {
    let base = vars::get("pushpin_publish_url")?;
    let body = body.to_string();
    // Pushpin's publish API refuses a chunked body (411): say how long it is.
    let req = Request::builder()
        .method(Method::Post)
        .uri(format!("{}/publish/", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("content-length", body.len().to_string())
        .body(body)
        .build();
    // Pushpin down or failing: retried however long (the feed already has the rows, the publish
    // is what waits); a 4xx is a bug in the request, counted towards its dead letter.
    let resp: Response = spin_sdk::http::send(req)
        .await
        .map_err(|e| Unavailable(format!("Pushpin unreachable: {e}")))?;
    let text = || String::from_utf8_lossy(resp.body()).into_owned();
    match *resp.status() {
        200..=299 => Ok(()),
        s @ 500..=599 => Err(Unavailable(format!("Pushpin answered {s}: {}", text())).into()),
        s => anyhow::bail!("Pushpin answered {s}: {}", text()),
    }
}
