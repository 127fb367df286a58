//! `deadletters`: the dead-letters service (app-id `deadletters`, docs/deadletters.md).
//!
//! Subscribed to `task-events.dlq`, `reminders.dlq` and `task-updates.dlq` with `rawPayload`
//! (its own consumer group; Dapr hands over each message's bytes as they are in Kafka, as the
//! CloudEvent's `data_base64`), at `POST /deadletters/events`:
//!
//! - a message a consumer refused or gave up on already has that consumer's `dead_letters` row
//!   (written before it answered DROP): the service marks it seen in the dead-letter topic
//!   (`dlq_seen_at`);
//! - a message with no consumer's row was dead-lettered by a sidecar itself (bytes that are not a
//!   CloudEvent never reach a consumer): the service records it, consumer `""`, reason
//!   `undeliverable`, its payload exactly as in Kafka.
//!
//! It answers SUCCESS once the statement ran, RETRY while the database is unreachable (however
//! long), and never DROP: its subscriptions have no dead-letter topic.

mod letter;

use serde_json::Value;
use spin_sdk::http::{Method, Request, Response};
use todo_consumer::deadletter::{self, Position};
use todo_sql::Database;

todo_http::export!(handle);

/// The route.
async fn handle(req: Request) -> Response {
    if let Err(refused) = todo_http::from_sidecar(&req) {
        return refused;
    }
    if !matches!(req.method(), Method::Post) {
        return todo_http::method_not_allowed("POST");
    }
    let header = |name: &str| req.header(name).and_then(|v| v.as_str());
    let position = Position::from_metadata(header("__partition"), header("__offset"));
    let status = match record(req.body(), position).await {
        Ok(()) => "SUCCESS",
        Err(e) => {
            eprintln!("deadletters: retry: {e}");
            "RETRY"
        }
    };
    todo_http::json_bytes(200, format!(r#"{{"status":"{status}"}}"#).into_bytes())
}

/// Records one message of a dead-letter topic.
async fn record(body: &[u8], position: Position) -> Result<(), String> {
    let m = letter::read(body, position);
    let db = Database::from_vars().map_err(|e| e.to_string())?;
    let seen: Value = db
        .one(&letter::seen(&m.topic, &m.letter.key))
        .await
        .map_err(|e| e.to_string())?;
    if seen["matched"].as_i64().unwrap_or(0) > 0 {
        return Ok(());
    }
    db.one::<Value>(&deadletter::record(&m.topic, "", [&m.letter]))
        .await
        .map(drop)
        .map_err(|e| e.to_string())?;
    eprintln!(
        "deadletters: recorded a message of {}.dlq no consumer read ({} bytes)",
        m.topic,
        m.letter.payload.len()
    );
    Ok(())
}
