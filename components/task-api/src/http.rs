//! Response and request helpers: JSON bodies, RFC 9457 problems, body limits.

use serde::Serialize;
use spin_sdk::http::{Request, Response};
use todo_tasks::jwt::AuthError;
use todo_tasks::{Problem, BODY_MAX_BYTES, PROBLEM_CONTENT_TYPE};

/// A JSON response.
pub fn json(status: u16, body: &impl Serialize) -> Response {
    let body = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .build()
}

/// 204 without a body.
pub fn no_content() -> Response {
    Response::builder().status(204).build()
}

/// A problem details response.
pub fn problem(p: &Problem) -> Response {
    Response::builder()
        .status(p.status)
        .header("content-type", PROBLEM_CONTENT_TYPE)
        .body(p.body())
        .build()
}

/// 401 with the `WWW-Authenticate` challenge.
pub fn unauthorized(e: &AuthError) -> Response {
    with_header(
        problem(&Problem::unauthorized(e.to_string())),
        "www-authenticate",
        &e.www_authenticate(),
    )
}

/// 405 for a known path with another method.
pub fn method_not_allowed() -> Problem {
    Problem {
        status: 405,
        kind: "method-not-allowed",
        title: "Method Not Allowed",
        detail: "this path does not accept that method".into(),
        errors: vec![],
    }
}

/// Adds one header to a built response.
pub fn with_header(resp: Response, name: &str, value: &str) -> Response {
    let mut b = Response::builder();
    b.status(*resp.status());
    for (n, v) in resp.headers() {
        b.header(n, v.as_str().unwrap_or_default());
    }
    b.header(name, value).body(resp.into_body()).build()
}

/// The body of a write: JSON (`application/json` or `+json`), at most [`BODY_MAX_BYTES`].
pub fn read_json_body(req: &Request) -> Result<&[u8], Problem> {
    let body = req.body();
    if body.len() > BODY_MAX_BYTES {
        return Err(Problem::payload_too_large(BODY_MAX_BYTES));
    }
    let ct = req
        .header("content-type")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let mime = ct
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
