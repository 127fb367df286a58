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
use todo_sql::Database;

/// The exposition format Prometheus expects.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (Method::Get, "/metrics") => match read().await {
            Ok(text) => text_response(200, text),
            Err(e) => {
                eprintln!("metrics: {e:#}");
                text_response(503, format!("metrics unavailable: {e:#}\n"))
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
async fn read() -> anyhow::Result<String> {
    let rows = Database::from_vars()?.rows(&expose::scrape()).await?;
    Ok(expose::render(&expose::decode(&rows)?))
}
