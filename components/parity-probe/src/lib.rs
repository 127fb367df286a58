//! `parity-probe`: a test-only component for `tests/runtime/test_parity.py`, which serves the same
//! small manifests with real Spin and with the project's host and compares the answers.
//!
//! Every request is answered `200` with a JSON object:
//! - `method`, `path`, `query`: the request as the component saw it;
//! - `headers`: every `spin-*` request header the runtime set;
//! - `vars`: for each `?var=<name>`, the component variable's value, `null` when unset;
//! - `fetch`: for `?fetch=<url>`, the outcome of `GET <url>`: `{"status": n}`, or
//!   `{"error": "..."}` (e.g. `HttpRequestDenied` when `allowed_outbound_hosts` refuses it);
//! - `allocated`: for `?alloc=<MiB>`, that many MiB allocated and written (a memory limit traps
//!   the request instead);
//! - `busy_ms` / `slept_ms`: for `?busy=<ms>` (the component's own code runs that long: an
//!   epoch deadline interrupts it) and `?sleep=<ms>` (it waits on the host's clock that long).

use serde_json::{json, Map, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_sidecar::vars;

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        if name.starts_with("spin-") {
            headers.insert(name.to_string(), json!(value.as_str().unwrap_or("")));
        }
    }
    let mut vars_out = Map::new();
    let mut fetch = Value::Null;
    let mut extra = Map::new();
    for (key, value) in form_urlencoded::parse(req.query().as_bytes()) {
        match key.as_ref() {
            "var" => {
                let v = match vars::get(&value) {
                    Ok(v) => json!(v),
                    Err(vars::VarError::Missing(_)) => Value::Null,
                    Err(e) => json!({ "error": e.to_string() }),
                };
                vars_out.insert(value.into_owned(), v);
            }
            "fetch" => fetch = outbound(&value).await,
            "alloc" => {
                let mib: usize = value.parse().unwrap_or(0);
                let mut block = vec![0u8; mib << 20];
                for page in block.chunks_mut(4096) {
                    page[0] = 1;
                }
                let touched = block.iter().step_by(4096).filter(|b| **b == 1).count();
                extra.insert("allocated".into(), json!(touched * 4096));
            }
            "busy" => {
                let ms: u64 = value.parse().unwrap_or(0);
                let start = std::time::Instant::now();
                let mut spins: u64 = 0;
                while start.elapsed() < std::time::Duration::from_millis(ms) {
                    spins = spins.wrapping_add(1);
                }
                extra.insert("busy_ms".into(), json!(ms));
                extra.insert("spins".into(), json!(spins));
            }
            "sleep" => {
                let ms: u64 = value.parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                extra.insert("slept_ms".into(), json!(ms));
            }
            _ => {}
        }
    }
    let mut body = json!({
        "method": format!("{:?}", req.method()),
        "path": req.path(),
        "query": req.query(),
        "headers": headers,
        "vars": vars_out,
        "fetch": fetch,
    });
    if let Value::Object(fields) = &mut body {
        fields.extend(extra);
    }
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

/// `GET url` and what came of it.
async fn outbound(url: &str) -> Value {
    let req = Request::builder().method(Method::Get).uri(url).build();
    match spin_sdk::http::send::<_, Response>(req).await {
        Ok(resp) => json!({ "status": resp.status() }),
        Err(e) => json!({ "error": format!("{e:?}") }),
    }
}
