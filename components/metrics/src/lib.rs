//! `metrics`: the seed's event metrics as Prometheus text.
//!
//! `GET /metrics` reads every counter the services keep in PostgreSQL and each consumer's lag in
//! one statement (`todo_metrics::expose::scrape`, through this app's own sidecar and its `tododb`
//! binding) and answers them in the text exposition format 0.0.4. The numbers are global totals
//! of the database, so every replica answers the same: scrape one target (docs/observability.md).
//! The database (or the sidecar) unreachable: 503, so Prometheus records the target as down
//! instead of a gap that looks like zero. Other methods: 405; other paths: 404.

use spin_sdk::http::{Method, Request, Response};
use todo_metrics::expose;
use todo_sidecar::Sidecar;

/// The PostgreSQL binding holding the counters.
const DB: &str = "tododb";
/// The exposition format Prometheus expects.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

// Exported only in the wasm build: natively the crate links as an ordinary library for tests.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Get, "/metrics") => match read().await {
            Ok(text) => text_response(200, text),
            Err(e) => {
                eprintln!("metrics: {e}");
                text_response(503, format!("metrics unavailable: {e}\n"))
            }
        },
        (_, "/metrics") => Response::builder()
            .status(405)
            .header("allow", "GET")
            .header("content-type", "text/plain")
            .body("method not allowed\n")
            .build(),
        _ => text_response(404, "no such resource\n".to_owned()),
    }
}

fn text_response(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

/// The exposition, from one statement.
async fn read() -> Result<String, String> {
    let sidecar = Sidecar::from_vars().map_err(|e| e.to_string())?;
    let st = expose::scrape();
    let rows = sidecar
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    let scrape = expose::decode(&rows).map_err(|e| e.to_string())?;
    Ok(expose::render(&scrape))
}
