//! `e2e-probe`: the smallest subscriber that proves the stack end to end. Dapr delivers CloudEvents
//! from the `e2e-probe` topic to `POST /e2e-probe/events`; the probe checks `dapr-api-token`, then
//! acts on the event's `data.action`:
//! - `record`: saves the delivery in the state store under `probe:<data.id>` and answers SUCCESS;
//! - `drop`: answers DROP, so Dapr moves the event to the dead-letter topic;
//! - `retry-once`: answers RETRY on the first delivery, SUCCESS (and records, with the attempt
//!   count) on the next one.
//!
//! A sidecar that cannot be reached gets RETRY, so nothing is lost.

use serde_json::{json, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_sidecar::{auth, vars, Sidecar, SidecarError};

const STORE: &str = "statestore";

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    let expected = vars::get("app_api_token").unwrap_or_default();
    if !auth::token_matches(
        req.header(auth::TOKEN_HEADER).map(|v| v.as_bytes()),
        &expected,
    ) {
        return reply(401, json!({ "error": "missing or wrong dapr-api-token" }));
    }
    match (req.method(), req.path()) {
        (Method::Post, "/e2e-probe/events") => match on_event(req.body()).await {
            Ok(status) => reply(200, json!({ "status": status })),
            Err(e) => {
                eprintln!("e2e-probe: {e}; answering RETRY");
                reply(200, json!({ "status": "RETRY" }))
            }
        },
        _ => reply(404, json!({ "error": "no such route" })),
    }
}

/// Handles one delivery and returns the Dapr status to answer.
async fn on_event(body: &[u8]) -> Result<&'static str, SidecarError> {
    let Ok(envelope) = serde_json::from_slice::<Value>(body) else {
        eprintln!("e2e-probe: body is not JSON; answering DROP");
        return Ok("DROP");
    };
    let data = &envelope["data"];
    let (Some(action), Some(id)) = (data["action"].as_str(), data["id"].as_str()) else {
        eprintln!(
            "e2e-probe: event {} has no data.action/data.id; answering DROP",
            envelope["id"]
        );
        return Ok("DROP");
    };
    let sidecar = Sidecar::from_vars().map_err(|e| SidecarError::Unavailable(e.to_string()))?;
    match action {
        "record" => record(&sidecar, id, &envelope, 1).await.map(|()| "SUCCESS"),
        "drop" => Ok("DROP"),
        "retry-once" => {
            let key = format!("attempts:{id}");
            let attempts = sidecar
                .get_state(STORE, &key)
                .await?
                .and_then(|v| v.as_u64())
                .unwrap_or(0)
                + 1;
            sidecar.save_state(STORE, &key, &json!(attempts)).await?;
            if attempts == 1 {
                return Ok("RETRY");
            }
            record(&sidecar, id, &envelope, attempts)
                .await
                .map(|()| "SUCCESS")
        }
        _ => Ok("DROP"),
    }
}

async fn record(
    sidecar: &Sidecar,
    id: &str,
    envelope: &Value,
    attempts: u64,
) -> Result<(), SidecarError> {
    let seen = json!({
        "cloudevent_id": envelope["id"],
        "type": envelope["type"],
        "source": envelope["source"],
        "topic": envelope["topic"],
        "pubsubname": envelope["pubsubname"],
        "data": envelope["data"],
        "attempts": attempts,
    });
    sidecar
        .save_state(STORE, &format!("probe:{id}"), &seen)
        .await
}

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
