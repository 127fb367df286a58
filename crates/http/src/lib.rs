//! The HTTP edge every Spin component of the project shares: JSON bodies and RFC 9457 problems
//! (never cached: every answer is per user), body limits and media types, the user's bearer
//! token and the sidecar's `dapr-api-token` (a subscriber's replies to Dapr are `todo-consumer`'s).

use serde::Serialize;
use spin_sdk::http::{Request, Response};
use todo_auth::{AuthError, Claims};
use todo_problem::PROBLEM_CONTENT_TYPE;
pub use todo_problem::{Problem, ValidationErrors};
use todo_sidecar::{auth, vars};

/// Exports `$handler` (an `async fn(Request) -> Response` of the calling crate) as the
/// component's `wasi:http/incoming-handler` in the wasm build; natively the crate is an ordinary
/// library for its tests and nothing is exported. spin-sdk's `http_component` writes the
/// component ABI glue, which is `unsafe`: it is the only `unsafe` code a component has, allowed
/// in this module alone (the workspace denies `unsafe_code`).
#[macro_export]
macro_rules! export {
    ($handler:ident) => {
        #[allow(unsafe_code)]
        mod __todo_http_export {
            #[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
            #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
            async fn handle(req: spin_sdk::http::Request) -> spin_sdk::http::Response {
                super::$handler(req).await
            }
        }
    };
}

/// Largest request body a service accepts (413 above it).
pub const BODY_MAX_BYTES: usize = 64 * 1024;

/// A JSON response of `body`.
pub fn json(status: u16, body: &impl Serialize) -> Response {
    json_bytes(
        status,
        serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec()),
    )
}

/// A JSON response of an already serialised body.
pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

/// 204 without a body.
pub fn no_content() -> Response {
    Response::builder().status(204).build()
}

/// An RFC 9457 problem with its status.
pub fn problem(p: &Problem) -> Response {
    Response::builder()
        .status(p.status)
        .header("content-type", PROBLEM_CONTENT_TYPE)
        .header("cache-control", "no-store")
        .body(p.body())
        .build()
}

/// 401 for a request without valid credentials, with the `WWW-Authenticate` challenge.
pub fn unauthorized(e: &AuthError) -> Response {
    with_header(
        problem(&Problem::unauthorized(e.to_string())),
        "www-authenticate",
        &e.www_authenticate(),
    )
}

/// 405 naming the methods the resource allows.
pub fn method_not_allowed(allow: &str) -> Response {
    let p = Problem {
        status: 405,
        kind: "method-not-allowed",
        title: "Method Not Allowed",
        detail: format!("this resource only allows {allow}"),
        errors: Vec::new(),
    };
    with_header(problem(&p), "allow", allow)
}

/// The response with one more header.
pub fn with_header(mut resp: Response, name: &str, value: &str) -> Response {
    resp.set_header(name, value);
    resp
}

/// A request header as text.
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.header(name).and_then(|v| v.as_str())
}

/// The body of a write: JSON (`application/json` or `+json`), at most [`BODY_MAX_BYTES`].
pub fn read_json_body(req: &Request) -> Result<&[u8], Problem> {
    let body = req.body();
    if body.len() > BODY_MAX_BYTES {
        return Err(Problem::payload_too_large(BODY_MAX_BYTES));
    }
    let mime = header(req, "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime != "application/json" && !mime.ends_with("+json") {
        return Err(Problem::unsupported_media_type(
            "send the body as application/json",
        ));
    }
    Ok(body)
}

/// Seconds since the Unix epoch (the wall clock of `wasi:clocks`).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The signed-in user of a request (`Authorization: Bearer <JWT>`, the Spin variable
/// `jwt_secret`), or the 401 to answer. A missing secret refuses everyone (500 is never shown:
/// the deployment is broken, and the log says so).
pub fn user(req: &Request) -> Result<(Claims, String), Response> {
    let secret = match vars::get("jwt_secret") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("auth: {e}");
            return Err(problem(&Problem::internal(
                "authentication is not configured",
            )));
        }
    };
    todo_auth::verify_bearer(header(req, "authorization"), secret.as_bytes(), now_unix())
        .map(|c| (c, secret))
        .map_err(|e| unauthorized(&e))
}

/// Whether a call comes from this app's Dapr sidecar: its `dapr-api-token` equals the Spin
/// variable `app_api_token` (constant-time). `Err` is the 401 to answer.
pub fn from_sidecar(req: &Request) -> Result<(), Response> {
    let expected = vars::get("app_api_token").unwrap_or_default();
    if auth::token_matches(
        req.header(auth::TOKEN_HEADER).map(|v| v.as_bytes()),
        &expected,
    ) {
        Ok(())
    } else {
        Err(problem(&Problem::unauthorized(
            "missing or wrong dapr-api-token",
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn h<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.header(name).and_then(|v| v.as_str())
    }

    fn body(r: &Response) -> Value {
        serde_json::from_slice(r.body()).expect("JSON body")
    }

    #[test]
    fn problems_carry_their_status_and_media_type() {
        let r = problem(&Problem::not_found("no such resource"));
        assert_eq!(*r.status(), 404);
        assert_eq!(h(&r, "content-type"), Some("application/problem+json"));
        assert_eq!(body(&r)["status"], 404);
        assert_eq!(body(&r)["detail"], "no such resource");
    }

    #[test]
    fn unauthorized_challenges_with_bearer() {
        let r = unauthorized(&AuthError::Missing);
        assert_eq!(*r.status(), 401);
        assert_eq!(h(&r, "www-authenticate"), Some("Bearer"));
        let r = unauthorized(&AuthError::Expired);
        assert!(h(&r, "www-authenticate").unwrap().contains("invalid_token"));
        assert_eq!(body(&r)["detail"], "token expired");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_method() {
        let r = method_not_allowed("GET");
        assert_eq!(*r.status(), 405);
        assert_eq!(h(&r, "allow"), Some("GET"));
        assert_eq!(body(&r)["status"], 405);
    }

    #[test]
    fn json_bodies_are_never_cached() {
        let r = json(201, &serde_json::json!({"a": 1}));
        assert_eq!(*r.status(), 201);
        assert_eq!(h(&r, "cache-control"), Some("no-store"));
        assert_eq!(body(&r)["a"], 1);
    }
}
