//! `parity-probe`: a test-only component for `tests/runtime/test_parity.py`, which serves the same
//! small manifests with real Spin and with the project's host and compares the answers.
//!
//! Every request is answered `200` with a JSON object:
//! - `method`, `path`, `query`: the request as the component saw it;
//! - `headers`: every `spin-*` request header the runtime set;
//! - `vars`: for each `?var=<name>`, the component variable's value, `null` when unset;
//! - `fetch`: for `?fetch=<url>`, the outcome of `GET <url>`: `{"status": n}`, or
//!   `{"error": "..."}` (e.g. `HttpRequestDenied` when `allowed_outbound_hosts` refuses it).

use serde_json::{json, Map, Value};
use spin_sdk::http::{Method, Request, Response};
use todo_sidecar::vars;

// Exported only in the wasm build: natively the crate links as an ordinary library.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    let mut headers = Map::new();
    for (name, value) in req.headers() {
        if name.starts_with("spin-") {
            headers.insert(name.to_string(), json!(value.as_str().unwrap_or("")));
        }
    }
    let mut vars_out = Map::new();
    let mut fetch = Value::Null;
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
            _ => {}
        }
    }
    let body = json!({
        "method": format!("{:?}", req.method()),
        "path": req.path(),
        "query": req.query(),
        "headers": headers,
        "vars": vars_out,
        "fetch": fetch,
    });
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
