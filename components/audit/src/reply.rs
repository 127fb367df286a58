//! The HTTP responses of the component: Dapr statuses, JSON bodies and RFC 9457 problems.

use spin_sdk::http::Response;
use todo_events::Decision;
use todo_tasks::jwt::AuthError;
use todo_tasks::{Problem, PROBLEM_CONTENT_TYPE};

/// A JSON body (never cached: it is per user).
pub fn json(status: u16, body: Vec<u8>) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body)
        .build()
}

/// The answer to a delivery: 200 with exactly `{"status":"SUCCESS|RETRY|DROP"}`.
pub fn dapr(decision: Decision) -> Response {
    json(200, decision.dapr_reply_body())
}

/// An RFC 9457 problem with its status.
pub fn problem(p: &Problem) -> Response {
    Response::builder()
        .status(p.status)
        .header("content-type", PROBLEM_CONTENT_TYPE)
        .body(p.body())
        .build()
}

/// 401 for a request without valid credentials, with the `WWW-Authenticate` challenge.
pub fn unauthorized(e: &AuthError) -> Response {
    let mut response = problem(&Problem::unauthorized(e.to_string()));
    response.set_header("www-authenticate", e.www_authenticate());
    response
}

/// 405 naming the one method the resource allows.
pub fn method_not_allowed(allow: &str) -> Response {
    let p = Problem {
        status: 405,
        kind: "method-not-allowed",
        title: "Method not allowed",
        detail: format!("this resource only allows {allow}"),
        errors: Vec::new(),
    };
    let mut response = problem(&p);
    response.set_header("allow", allow);
    response
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::Value;

    /// A response header as text.
    pub fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.header(name).and_then(|v| v.as_str())
    }

    /// A response body as JSON.
    pub fn body(r: &Response) -> Value {
        serde_json::from_slice(r.body()).expect("JSON body")
    }

    #[test]
    fn dapr_replies_are_200_with_the_exact_status() {
        for (d, text) in [
            (Decision::Success, r#"{"status":"SUCCESS"}"#),
            (Decision::Retry, r#"{"status":"RETRY"}"#),
            (Decision::Drop, r#"{"status":"DROP"}"#),
        ] {
            let r = dapr(d);
            assert_eq!(*r.status(), 200);
            assert_eq!(r.body(), text.as_bytes());
            assert_eq!(header(&r, "content-type"), Some("application/json"));
        }
    }

    #[test]
    fn problems_carry_their_status_and_media_type() {
        let r = problem(&Problem::not_found("no such resource"));
        assert_eq!(*r.status(), 404);
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        assert_eq!(body(&r)["status"], 404);
        assert_eq!(body(&r)["detail"], "no such resource");
    }

    #[test]
    fn unauthorized_challenges_with_bearer() {
        let r = unauthorized(&AuthError::Missing);
        assert_eq!(*r.status(), 401);
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
        let r = unauthorized(&AuthError::Expired);
        assert!(header(&r, "www-authenticate")
            .unwrap()
            .contains("invalid_token"));
        assert_eq!(body(&r)["detail"], "token expired");
    }

    #[test]
    fn method_not_allowed_names_the_allowed_method() {
        let r = method_not_allowed("GET");
        assert_eq!(*r.status(), 405);
        assert_eq!(header(&r, "allow"), Some("GET"));
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        assert_eq!(body(&r)["status"], 405);
    }
}
