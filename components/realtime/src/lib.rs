//! `realtime`: pushes each user's task updates to their open browsers, through Pushpin.
//!
//! A Spin component lives for one request and cannot hold a connection, so Pushpin (a GRIP
//! proxy) holds them: the component answers a connect with GRIP instructions (hold this
//! connection on the user's channel) and publishes each update to Pushpin's publish API. One
//! update costs one component instance, whatever the number of connections.
//!
//! | route | from | |
//! |---|---|---|
//! | `POST /realtime/events` | the sidecar (subscription to `task-updates`, dead letters to `task-updates.dlq`) | append the update to the user's feed (once, next sequence) and publish it to the user's channel with `id`/`prev-id`; Pushpin unreachable: RETRY; a bulk delivery (`bulkSubscribe`): one statement for all its updates, then a few publishes; all SUCCESS or all RETRY, invalid entries DROP |
//! | `POST /realtime/tickets` | the page (JWT) | a stream ticket (60 s), because an `EventSource` cannot send `Authorization` |
//! | `GET /realtime/events?ticket=…[&last_id=n]` | the browser, through Pushpin | SSE: the feed after `Last-Event-ID` (or `last_id`), then held on the user's channel; `reset` when that id is no longer kept |
//! | `GET /realtime/events?recover=…` | Pushpin (its recovery link, `Grip-Last`) | the feed after the last id Pushpin delivered |
//! | `POST /realtime/ws?ticket=…[&last_id=n]` | Pushpin (WebSocket-over-HTTP) | on OPEN: the ticket checked, subscribe, replay, keep-alive; then pings, closes |
//!
//! Messages: SSE `id: <seq>` + `event: update` + `data: <task-updates event>`; WebSocket
//! `{"type":"update","id":<seq>,"event":{…}}`; `hello` (a fresh stream's position) and `reset`.
//! A user only ever reaches their own channel: the ticket names the user; the channel is a hash
//! of the user id; WebSocket requests must carry Pushpin's `Grip-Sig`.

mod feed;
mod grip;

use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_auth::ticket;
use todo_events::{decode, Decision, TaskUpdate, Topic};
use todo_http::Problem;
use todo_metrics::Delivery;
use todo_sidecar::{vars, Sidecar, SidecarError};

use grip::WsEvent;

/// Pre-initialisation (todo-host --preinit): the task-updates validator, compiled once at build
/// time instead of in every request.
fn preinit() {
    todo_events::EventSchema::of(todo_events::Topic::TaskUpdates);
}
todo_preinit::export!(preinit);

/// The PostgreSQL binding holding the feed.
const DB: &str = "tododb";

// Exported only in the wasm build: natively the crate links as an ordinary library for tests.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    let path = req.path().trim_end_matches('/').to_string();
    match (req.method(), path.as_str()) {
        (Method::Post, "/realtime/events") => match todo_http::from_sidecar(&req) {
            Ok(()) => match todo_events::bulk::delivery(req.body()) {
                todo_events::bulk::Delivery::Single(body) => todo_http::dapr(on_update(body).await),
                todo_events::bulk::Delivery::Bulk(entries) => {
                    todo_http::dapr_bulk(&on_bulk(&entries).await)
                }
            },
            Err(resp) => resp,
        },
        (Method::Get, "/realtime/events") => stream(&req).await,
        (Method::Post, "/realtime/tickets") => issue_ticket(&req),
        (Method::Post, "/realtime/ws") => websocket(&req).await,
        (_, "/realtime/events") => todo_http::method_not_allowed("GET, POST"),
        (_, "/realtime/tickets" | "/realtime/ws") => todo_http::method_not_allowed("POST"),
        _ => todo_http::problem(&Problem::not_found("no such resource")),
    }
}

fn sidecar() -> Result<Sidecar, SidecarError> {
    Sidecar::from_vars().map_err(|e| SidecarError::Unavailable(e.to_string()))
}

fn secret() -> Result<String, Response> {
    vars::get("jwt_secret").map_err(|e| {
        eprintln!("realtime: {e}");
        todo_http::problem(&Problem::internal("authentication is not configured"))
    })
}

/// Most items in one publish to Pushpin (a bulk delivery's updates go in a few requests).
const PUBLISH_ITEMS_MAX: usize = 25;

/// A bulk delivery of `task-updates`: every decodable update appended in one statement (each
/// user's next sequences, in order), then published to Pushpin in a few requests; all of them
/// SUCCESS, or all RETRY when either step failed (a redelivery finds its sequence and publishes
/// again; Pushpin drops an id it already has). Invalid entries DROP, counted.
async fn on_bulk(entries: &[todo_events::bulk::Entry]) -> todo_events::bulk::Statuses {
    let received_at = todo_events::chrono::Utc::now();
    let mut decoded = Vec::with_capacity(entries.len());
    for entry in entries {
        match decode::<TaskUpdate>(&entry.body) {
            Ok(d) => match serde_json::to_value(&d.event) {
                Ok(payload) => {
                    let delivery = Delivery::of(&d.event, received_at);
                    decoded.push(Ok((d.event, payload, delivery)));
                }
                Err(e) => {
                    eprintln!("realtime: event_id={}: {e}", d.event.event_id);
                    decoded.push(Err(Decision::Retry));
                }
            },
            Err(e) => {
                count(&todo_metrics::refused(
                    feed::CONSUMER,
                    Topic::TaskUpdates,
                    &entry.body,
                ))
                .await;
                decoded.push(Err(e.decision()));
            }
        }
    }
    let pending: Vec<feed::Pending<'_>> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok())
        .map(|(update, payload, delivery)| feed::Pending {
            user: &update.user_id,
            event_id: update.event_id,
            payload,
            delivery,
        })
        .collect();
    let outcome = if pending.is_empty() {
        Ok(())
    } else {
        feed_and_publish_all(&pending).await
    };
    if let Err(e) = &outcome {
        eprintln!("realtime: retry bulk of {} updates: {e}", pending.len());
        let kinds: Vec<&str> = decoded
            .iter()
            .filter_map(|d| d.as_ref().ok())
            .map(|(u, _, _)| u.event_type.as_str())
            .collect();
        count(&todo_metrics::failed_all(feed::CONSUMER, &kinds)).await;
    }
    todo_events::bulk::Statuses::settled(
        entries
            .iter()
            .zip(&decoded)
            .map(|(entry, d)| (entry.entry_id.as_str(), d.as_ref().err().copied())),
        outcome.is_ok(),
    )
}

/// [`feed_and_publish`] for a bulk delivery's updates.
async fn feed_and_publish_all(pending: &[feed::Pending<'_>]) -> Result<(), String> {
    let st = feed::append_batch(pending);
    let sidecar = sidecar().map_err(|e| e.to_string())?;
    let rows = sidecar
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    let seqs = feed::appended_batch(&rows).map_err(|e| e.to_string())?.seqs;
    if seqs.len() != pending.len() {
        return Err(format!(
            "{} sequences for {} updates",
            seqs.len(),
            pending.len()
        ));
    }
    let items: Vec<Value> = pending
        .iter()
        .zip(&seqs)
        .filter_map(|(p, seq)| {
            seq.map(|s| grip::publish_item(&grip::channel(p.user), s, p.payload))
        })
        .collect();
    for chunk in items.chunks(PUBLISH_ITEMS_MAX) {
        publish(&json!({ "items": chunk })).await?;
    }
    Ok(())
}

/// One delivery of `task-updates`, received at request start (the processing duration starts
/// there); refused and retried deliveries are counted (best effort, todo-metrics).
async fn on_update(body: &[u8]) -> Decision {
    let received_at = todo_events::chrono::Utc::now();
    let update = match decode::<TaskUpdate>(body) {
        Ok(d) => d.event,
        Err(e) => {
            count(&todo_metrics::refused(
                feed::CONSUMER,
                Topic::TaskUpdates,
                body,
            ))
            .await;
            return e.decision();
        }
    };
    match feed_and_publish(&update, &Delivery::of(&update, received_at)).await {
        Ok(()) => Decision::Success,
        Err(e) => {
            eprintln!("realtime: retry event_id={}: {e}", update.event_id);
            count(&todo_metrics::failed(
                feed::CONSUMER,
                update.event_type.as_str(),
            ))
            .await;
            Decision::Retry
        }
    }
}

/// Runs a counter statement (a failure only loses the increment).
async fn count(st: &todo_sql::Statement) {
    match sidecar() {
        Ok(s) => todo_metrics::count(&s, DB, st, "realtime").await,
        Err(e) => eprintln!("realtime: metrics: a counter increment is lost: {e}"),
    }
}

async fn feed_and_publish(update: &TaskUpdate, delivery: &Delivery) -> Result<(), String> {
    let event = serde_json::to_value(update).map_err(|e| e.to_string())?;
    let st = feed::append(&update.user_id, update.event_id, &event, delivery);
    let sidecar = sidecar().map_err(|e| e.to_string())?;
    let rows = sidecar
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    let appended = feed::appended(&rows).map_err(|e| e.to_string())?;
    let Some(seq) = appended.seq else {
        return Ok(()); // a redelivery of an update the feed no longer keeps
    };
    // Also on a redelivery: the first attempt may have stored it and failed to publish. Pushpin
    // drops an id it already published on the channel, so this never shows twice.
    let item = grip::publish_item(&grip::channel(&update.user_id), seq, &event);
    publish(&json!({ "items": [item] })).await
}

/// `POST <pushpin_publish_url>/publish/`.
async fn publish(body: &Value) -> Result<(), String> {
    let base = vars::get("pushpin_publish_url").map_err(|e| e.to_string())?;
    let body = body.to_string();
    // Pushpin's publish API refuses a chunked body (411): say how long it is.
    let req = Request::builder()
        .method(Method::Post)
        .uri(format!("{}/publish/", base.trim_end_matches('/')))
        .header("content-type", "application/json")
        .header("content-length", body.len().to_string())
        .body(body)
        .build();
    let resp: Response = spin_sdk::http::send(req)
        .await
        .map_err(|e| format!("Pushpin unreachable: {e}"))?;
    match *resp.status() {
        200..=299 => Ok(()),
        s => Err(format!(
            "Pushpin answered {s}: {}",
            String::from_utf8_lossy(resp.body())
        )),
    }
}

/// `POST /realtime/tickets`: a stream ticket for the signed-in user.
fn issue_ticket(req: &Request) -> Response {
    let (claims, secret) = match todo_http::user(req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let t = ticket::issue(secret.as_bytes(), &claims.sub, todo_http::now_unix());
    todo_http::json(
        200,
        &json!({ "ticket": t, "expires_in": ticket::TICKET_TTL }),
    )
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn stream_refused(e: impl std::fmt::Display) -> Response {
    todo_http::problem(&Problem::unauthorized(format!(
        "no stream: {e} (get a ticket: POST /realtime/tickets)"
    )))
}

/// Whether the request carries Pushpin's signature.
fn from_pushpin(req: &Request) -> bool {
    let key = vars::get("pushpin_sig_key").unwrap_or_default();
    let sig = todo_http::header(req, "grip-sig").unwrap_or("");
    !key.is_empty() && ticket::verify_grip_sig(sig, key.as_bytes(), todo_http::now_unix()).is_ok()
}

/// `GET /realtime/events`: an SSE stream, or Pushpin's recovery of one.
async fn stream(req: &Request) -> Response {
    let secret = match secret() {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let now = todo_http::now_unix();
    let (user, after, recovering) = if let Some(token) = query_param(req, "recover") {
        if !from_pushpin(req) {
            return stream_refused("a recovery link is for Pushpin");
        }
        let user = match ticket::verify_recovery(&token, secret.as_bytes(), now) {
            Ok(c) => c.sub,
            Err(e) => return stream_refused(e),
        };
        let last = todo_http::header(req, "grip-last")
            .and_then(|h| grip::grip_last(h, &grip::channel(&user)));
        (user, last, true)
    } else {
        let Some(t) = query_param(req, "ticket") else {
            return stream_refused("no ticket");
        };
        let user = match ticket::verify(&t, secret.as_bytes(), now) {
            Ok(c) => c.sub,
            Err(e) => return stream_refused(e),
        };
        let last = todo_http::header(req, "last-event-id")
            .map(str::to_owned)
            .or_else(|| query_param(req, "last_id"))
            .and_then(|v| v.trim().parse::<i64>().ok());
        (user, last, false)
    };
    let replay = match read_feed(&user, after).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("realtime: stream of {}: {e}", grip::channel(&user));
            return todo_http::problem(&Problem::unavailable("the feed is unavailable; retry"));
        }
    };
    let position = replay.position();
    let mut body = String::new();
    match after {
        Some(a) if replay.needs_reset(a) => body.push_str(&grip::sse_reset(position)),
        Some(_) => {
            for item in &replay.items {
                body.push_str(&grip::sse_update(item.seq, &item.event));
            }
        }
        None if recovering => {}
        None => body.push_str(&grip::sse_hello(position)),
    }
    let channel = grip::channel(&user);
    let link = format!(
        "/realtime/events?recover={}",
        ticket::issue_recovery(secret.as_bytes(), &user, now)
    );
    let mut builder = Response::builder();
    builder.status(200);
    for (name, value) in grip::hold_headers(&channel, position, &link) {
        builder.header(name, value);
    }
    builder.body(body).build()
}

async fn read_feed(user: &str, after: Option<i64>) -> Result<feed::Replay, String> {
    let st = feed::replay(user, after);
    let rows = sidecar()
        .map_err(|e| e.to_string())?
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    feed::replayed(&rows).map_err(|e| e.to_string())
}

fn ws_response(status: u16, events: &[WsEvent], meta_user: Option<&str>) -> Response {
    let mut b = Response::builder();
    b.status(status)
        .header("content-type", "application/websocket-events")
        .header("sec-websocket-extensions", "grip");
    if let Some(u) = meta_user {
        b.header("set-meta-user", u);
    }
    b.body(grip::encode_events(events)).build()
}

/// `POST /realtime/ws`: one WebSocket-over-HTTP request from Pushpin.
async fn websocket(req: &Request) -> Response {
    if !from_pushpin(req) {
        return todo_http::problem(&Problem::unauthorized(
            "WebSocket-over-HTTP is only for Pushpin",
        ));
    }
    let events = match grip::parse_events(req.body()) {
        Ok(e) => e,
        Err(e) => {
            return todo_http::problem(&Problem::validation(&todo_http::ValidationErrors::single(
                "", e,
            )))
        }
    };
    let mut out = Vec::new();
    for event in events {
        match event {
            WsEvent::Open => return ws_open(req).await,
            WsEvent::Ping(p) => out.push(WsEvent::Pong(p)),
            WsEvent::Close(p) => out.push(WsEvent::Close(p)),
            WsEvent::Disconnect => out.push(WsEvent::Disconnect),
            // Client messages carry nothing the stream needs (it resumes by reconnecting).
            WsEvent::Text(_) | WsEvent::Pong(_) | WsEvent::Other(_) => {}
        }
    }
    ws_response(200, &out, None)
}

async fn ws_open(req: &Request) -> Response {
    let refuse = |why: String| {
        Response::builder()
            .status(401)
            .header("content-type", "text/plain")
            .body(format!(
                "no stream: {why} (get a ticket: POST /realtime/tickets)\n"
            ))
            .build()
    };
    let secret = match secret() {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let Some(t) = query_param(req, "ticket") else {
        return refuse("no ticket".into());
    };
    let user = match ticket::verify(&t, secret.as_bytes(), todo_http::now_unix()) {
        Ok(c) => c.sub,
        Err(e) => return refuse(e.to_string()),
    };
    let after = query_param(req, "last_id").and_then(|v| v.trim().parse::<i64>().ok());
    let replay = match read_feed(&user, after).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("realtime: websocket of {}: {e}", grip::channel(&user));
            return todo_http::problem(&Problem::unavailable("the feed is unavailable; retry"));
        }
    };
    let channel = grip::channel(&user);
    let mut out = vec![
        WsEvent::Open,
        grip::control(&json!({ "type": "subscribe", "channel": channel })),
        grip::control(&json!({
            "type": "keep-alive",
            "content": json!({ "type": "ping" }).to_string(),
            "timeout": grip::KEEP_ALIVE_SECS,
        })),
    ];
    let position = replay.position();
    match after {
        Some(a) if replay.needs_reset(a) => out.push(grip::to_client(&grip::ws_reset(position))),
        Some(_) => out.extend(
            replay
                .items
                .iter()
                .map(|i| grip::to_client(&grip::ws_update(i.seq, &i.event))),
        ),
        None => out.push(grip::to_client(&grip::ws_hello(position))),
    }
    ws_response(200, &out, Some(&user))
}
