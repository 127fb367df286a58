//! GRIP, the protocol between the component and Pushpin (docs/pushpin.md, checked on Pushpin
//! 1.36): the hold instructions of an SSE stream, WebSocket-over-HTTP events, and the publish
//! API's items. Pure functions of their inputs.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Seconds of silence after which Pushpin sends a keep-alive on a held stream.
pub const KEEP_ALIVE_SECS: u32 = 20;
/// Seconds after which Pushpin asks the recovery link even without a gap.
pub const LINK_TIMEOUT_SECS: u32 = 120;

/// The user's Pushpin channel: a hash of the user id, so no user-chosen text is a channel name.
pub fn channel(user: &str) -> String {
    let digest = Sha256::digest(user.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("user-{hex}")
}

/// One update as an SSE event: `id` = its sequence, `event: update`, `data` = the task-updates
/// event on one line.
pub fn sse_update(seq: i64, event: &Value) -> String {
    format!("id: {seq}\nevent: update\ndata: {event}\n\n")
}

/// The event telling a client its position is gone (older than the kept feed, or from another
/// feed): reload the list from the REST API, then continue from `position`.
pub fn sse_reset(position: i64) -> String {
    format!("id: {position}\nevent: reset\ndata: {{\"last_id\":{position}}}\n\n")
}

/// The first event of a fresh stream: where it starts (so a later reconnect resumes there).
pub fn sse_hello(position: i64) -> String {
    format!("id: {position}\nevent: hello\ndata: {{\"last_id\":{position}}}\n\n")
}

/// The GRIP headers that make Pushpin hold an SSE response open on `channel`, positioned at
/// `position` (`prev-id`), with `link` as the recovery URL Pushpin fetches when it finds a gap.
pub fn hold_headers(channel: &str, position: i64, link: &str) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "text/event-stream".into()),
        ("cache-control", "no-store".into()),
        ("grip-hold", "stream".into()),
        ("grip-channel", format!("{channel}; prev-id={position}")),
        (
            "grip-link",
            format!("<{link}>; rel=next; timeout={LINK_TIMEOUT_SECS}"),
        ),
        (
            "grip-keep-alive",
            format!(":\\n\\n; format=cstring; timeout={KEEP_ALIVE_SECS}"),
        ),
    ]
}

/// The `last-id` of a recovery request's `Grip-Last: <channel>; last-id=<id>` for `channel`.
pub fn grip_last(header: &str, channel: &str) -> Option<i64> {
    header.split(',').find_map(|part| {
        let mut fields = part.split(';').map(str::trim);
        if fields.next()? != channel {
            return None;
        }
        fields.find_map(|f| f.strip_prefix("last-id=")?.trim().parse().ok())
    })
}

/// One update as a WebSocket message.
pub fn ws_update(seq: i64, event: &Value) -> String {
    json!({ "type": "update", "id": seq, "event": event }).to_string()
}

/// The reset message of a WebSocket (see [`sse_reset`]).
pub fn ws_reset(position: i64) -> String {
    json!({ "type": "reset", "last_id": position }).to_string()
}

/// The hello message of a WebSocket (see [`sse_hello`]).
pub fn ws_hello(position: i64) -> String {
    json!({ "type": "hello", "last_id": position }).to_string()
}

/// The publish API's item of update `seq` on `channel`: one item with both formats, so SSE and
/// WebSocket subscribers each get theirs; `prev-id` lets Pushpin order and recover the stream.
pub fn publish_item(channel: &str, seq: i64, event: &Value) -> Value {
    json!({
        "channel": channel,
        "id": seq.to_string(),
        "prev-id": (seq - 1).to_string(),
        "formats": {
            "http-stream": { "content": sse_update(seq, event) },
            "ws-message": { "content": ws_update(seq, event) },
        },
    })
}

/// One WebSocket-over-HTTP event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsEvent {
    /// The client connected.
    Open,
    /// A text message (from the client, or to it).
    Text(String),
    /// A ping (answered with a pong).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close with its payload (code and reason).
    Close(Vec<u8>),
    /// The client vanished.
    Disconnect,
    /// Anything else (binary messages): ignored.
    Other(String),
}

/// Parses a body of `application/websocket-events`: `TYPE\r\n` or `TYPE <hex len>\r\n<payload>\r\n`.
pub fn parse_events(body: &[u8]) -> Result<Vec<WsEvent>, String> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("an event line without CRLF")?;
        let line =
            std::str::from_utf8(&rest[..line_end]).map_err(|_| "an event line is not UTF-8")?;
        rest = &rest[line_end + 2..];
        let (kind, len) = match line.split_once(' ') {
            Some((k, n)) => (k, usize::from_str_radix(n, 16).map_err(|_| "a bad length")?),
            None => (line, 0),
        };
        let payload = if line.contains(' ') {
            if rest.len() < len + 2 || &rest[len..len + 2] != b"\r\n" {
                return Err("a payload shorter than its length".into());
            }
            let p = rest[..len].to_vec();
            rest = &rest[len + 2..];
            p
        } else {
            Vec::new()
        };
        out.push(match kind {
            "OPEN" => WsEvent::Open,
            "TEXT" => WsEvent::Text(String::from_utf8(payload).map_err(|_| "text is not UTF-8")?),
            "PING" => WsEvent::Ping(payload),
            "PONG" => WsEvent::Pong(payload),
            "CLOSE" => WsEvent::Close(payload),
            "DISCONNECT" => WsEvent::Disconnect,
            other => WsEvent::Other(other.to_string()),
        });
    }
    Ok(out)
}

/// Encodes events for a response body.
pub fn encode_events(events: &[WsEvent]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |kind: &str, payload: Option<&[u8]>| {
        match payload {
            Some(p) => {
                out.extend_from_slice(format!("{kind} {:x}\r\n", p.len()).as_bytes());
                out.extend_from_slice(p);
            }
            None => out.extend_from_slice(kind.as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    };
    for e in events {
        match e {
            WsEvent::Open => put("OPEN", None),
            WsEvent::Text(t) => put("TEXT", Some(t.as_bytes())),
            WsEvent::Ping(p) => put("PING", Some(p)),
            WsEvent::Pong(p) => put("PONG", Some(p)),
            WsEvent::Close(p) => put("CLOSE", Some(p)),
            WsEvent::Disconnect => put("DISCONNECT", None),
            WsEvent::Other(_) => {}
        }
    }
    out
}

/// A message for the client (`m:` prefix: with the `grip` extension, only prefixed text goes to
/// the client).
pub fn to_client(message: &str) -> WsEvent {
    WsEvent::Text(format!("m:{message}"))
}

/// A control message for Pushpin (`c:` prefix).
pub fn control(message: &Value) -> WsEvent {
    WsEvent::Text(format!("c:{message}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_hide_the_user_id_and_differ_per_user() {
        let a = channel("alice");
        assert!(a.starts_with("user-") && a.len() == 37 && !a.contains("alice"));
        assert_ne!(a, channel("bob"));
        assert_eq!(a, channel("alice"));
    }

    #[test]
    fn sse_events_are_complete_and_on_one_line() {
        let e = json!({"event_type": "task.created", "text": "a\nb"});
        let s = sse_update(7, &e);
        assert!(s.starts_with("id: 7\nevent: update\ndata: {"), "{s}");
        assert!(s.ends_with("}\n\n"));
        assert_eq!(
            s.matches('\n').count(),
            4,
            "the data stays on one line: {s:?}"
        );
        assert_eq!(
            sse_reset(9),
            "id: 9\nevent: reset\ndata: {\"last_id\":9}\n\n"
        );
    }

    #[test]
    fn the_hold_names_the_channel_position_and_link() {
        let h = hold_headers("user-x", 12, "/realtime/events?recover=t");
        let get = |n: &str| {
            h.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("grip-hold"), "stream");
        assert_eq!(get("grip-channel"), "user-x; prev-id=12");
        assert_eq!(
            get("grip-link"),
            "</realtime/events?recover=t>; rel=next; timeout=120"
        );
        assert_eq!(
            get("grip-keep-alive"),
            ":\\n\\n; format=cstring; timeout=20"
        );
    }

    #[test]
    fn grip_last_is_read_for_the_right_channel() {
        assert_eq!(grip_last("user-x; last-id=5", "user-x"), Some(5));
        assert_eq!(
            grip_last("user-y; last-id=9, user-x; last-id=5", "user-x"),
            Some(5)
        );
        assert_eq!(grip_last("user-y; last-id=9", "user-x"), None);
        assert_eq!(grip_last("user-x", "user-x"), None);
    }

    #[test]
    fn publish_items_carry_both_formats_in_sequence() {
        let item = publish_item("user-x", 4, &json!({"k": 1}));
        assert_eq!(
            (item["id"].as_str(), item["prev-id"].as_str()),
            (Some("4"), Some("3"))
        );
        assert!(item["formats"]["http-stream"]["content"]
            .as_str()
            .unwrap()
            .starts_with("id: 4\n"));
        let ws: Value =
            serde_json::from_str(item["formats"]["ws-message"]["content"].as_str().unwrap())
                .unwrap();
        assert_eq!(ws, json!({"type": "update", "id": 4, "event": {"k": 1}}));
    }

    #[test]
    fn websocket_events_round_trip() {
        let body =
            b"OPEN\r\nTEXT 5\r\nhello\r\nPING 2\r\npp\r\nCLOSE 5\r\n\x03\xe8bye\r\nDISCONNECT\r\n";
        let events = parse_events(body).unwrap();
        assert_eq!(
            events,
            vec![
                WsEvent::Open,
                WsEvent::Text("hello".into()),
                WsEvent::Ping(b"pp".to_vec()),
                WsEvent::Close(b"\x03\xe8bye".to_vec()),
                WsEvent::Disconnect,
            ]
        );
        assert_eq!(encode_events(&events), body.to_vec());
        assert_eq!(parse_events(b"").unwrap(), vec![]);
        for bad in [&b"TEXT 9\r\nshort\r\n"[..], b"OPEN", b"TEXT zz\r\nx\r\n"] {
            assert!(parse_events(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            encode_events(&[to_client("{}"), control(&json!({"type": "subscribe"}))]),
            b"TEXT 4\r\nm:{}\r\nTEXT 16\r\nc:{\"type\":\"subscribe\"}\r\n".to_vec()
        );
    }
}
