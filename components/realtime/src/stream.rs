//! The browser side of realtime: stream tickets, Server-Sent Events and WebSocket-over-HTTP
//! through Pushpin, each replaying the user's feed from where the client was.

use serde_json::json;
use spin_sdk::http::{Request, Response};
use todo_auth::ticket;
use todo_http::Problem;
use todo_sidecar::vars;
use todo_sql::Database;

use crate::feed;
use crate::grip::{self, WsEvent};

fn secret() -> Result<String, Response> {
    vars::get("jwt_secret").map_err(|e| {
        eprintln!("realtime: {e}");
        todo_http::problem(&Problem::internal("authentication is not configured"))
    })
}

/// `POST /realtime/tickets`: a stream ticket for the signed-in user.
pub fn issue_ticket(req: &Request) -> Response {
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
pub async fn stream(req: &Request) -> Response {
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

/// The user's feed after `after` (see [`feed::replay`]).
async fn read_feed(user: &str, after: Option<i64>) -> Result<feed::Replay, todo_sql::DbError> {
    let rows = Database::from_vars()?
        .rows(&feed::replay(user, after))
        .await?;
    Ok(feed::replayed(&rows)?)
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
pub async fn websocket(req: &Request) -> Response {
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
