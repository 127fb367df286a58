//! Validation errors and RFC 9457 problem details, shared by every HTTP service of the project.

use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

/// Media type of a problem details body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// Base of the `type` URIs of this API's problems.
pub const PROBLEM_TYPE_BASE: &str = "https://todo-events.dev/problems/";

/// One problem with the input.
///
/// `field` is a JSON pointer into the request body (`/title`, `/tags/3`, `/reminders/0/remind_at`;
/// `""` for the body as a whole) or, for query strings, the parameter's name (`limit`, `cursor`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the problem is.
    pub field: String,
    /// What is wrong, in English.
    pub message: String,
}

/// Every problem found in one input; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors {
    /// The problems, in the order they were found.
    pub errors: Vec<FieldError>,
}

impl ValidationErrors {
    /// No problems yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// One problem.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.push(field, message);
        e
    }

    /// Records a problem.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Appends all problems of `other`.
    pub fn extend(&mut self, other: ValidationErrors) {
        self.errors.extend(other.errors);
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// True when a problem was recorded for exactly `field`.
    pub fn has(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    /// `Ok(value)` when empty, else `Err(self)`.
    pub fn into_result<T>(self, value: T) -> Result<T, ValidationErrors> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// The RFC 9457 problem (status 400) listing every problem.
    pub fn to_problem(&self) -> Problem {
        Problem::validation(self)
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .errors
            .iter()
            .map(|e| format!("{}: {}", display_field(&e.field), e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

fn display_field(field: &str) -> &str {
    if field.is_empty() {
        "(body)"
    } else {
        field
    }
}

/// Appends `segment` to JSON pointer `base`, escaping `~` and `/` (RFC 6901).
pub fn pointer(base: &str, segment: impl fmt::Display) -> String {
    let seg = segment.to_string().replace('~', "~0").replace('/', "~1");
    format!("{base}/{seg}")
}

/// An RFC 9457 problem details object: `type`, `title`, `status`, `detail` and, for validation
/// problems, the extension member `errors` (`[{field, message}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// HTTP status code.
    pub status: u16,
    /// Short kind, e.g. `validation`; the `type` URI is [`PROBLEM_TYPE_BASE`] + kind.
    pub kind: &'static str,
    /// Short human-readable summary of the kind.
    pub title: &'static str,
    /// Explanation of this occurrence.
    pub detail: String,
    /// The individual problems (validation only).
    pub errors: Vec<FieldError>,
}

impl Problem {
    /// 400: the input breaks the rules; `errors` lists every problem.
    pub fn validation(errors: &ValidationErrors) -> Problem {
        let n = errors.errors.len();
        let detail = match errors.errors.first() {
            Some(first) if n == 1 => format!("{}: {}", display_field(&first.field), first.message),
            _ => format!("{n} problems with the request; see errors"),
        };
        Problem {
            status: 400,
            kind: "validation",
            title: "Invalid request",
            detail,
            errors: errors.errors.clone(),
        }
    }

    /// 401: missing or invalid credentials (send `WWW-Authenticate: Bearer` with it).
    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::simple(401, "unauthorized", "Unauthorized", detail)
    }

    /// 403: signed in, but the token does not grant what the route needs (a role).
    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::simple(403, "forbidden", "Forbidden", detail)
    }

    /// 404: no such task for this user (also when it belongs to another user).
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::simple(404, "not-found", "Not found", detail)
    }

    /// 409: the task changed since it was read (optimistic concurrency).
    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::simple(409, "conflict", "Conflict", detail)
    }

    /// 413: the body exceeds `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Problem {
        Problem::simple(
            413,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Problem {
        Problem::simple(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            detail,
        )
    }

    /// 503: a dependency (sidecar, database) is unavailable; retry later.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::simple(503, "unavailable", "Service unavailable", detail)
    }

    /// 500: an unexpected failure (no internals in `detail`).
    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::simple(500, "internal", "Internal error", detail)
    }

    fn simple(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Problem {
        Problem {
            status,
            kind,
            title,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    /// The `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.kind)
    }

    /// The body as JSON; `errors` is present only when non-empty.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            v["errors"] = serde_json::to_value(&self.errors).unwrap_or(Value::Null);
        }
        v
    }

    /// The body as bytes, to send with [`PROBLEM_CONTENT_TYPE`].
    pub fn body(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }
}

/// Renders `errors` as an RFC 9457 problem details body (status 400).
pub fn problem_json(errors: &ValidationErrors) -> Value {
    Problem::validation(errors).to_json()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_error_as_problem_details() {
        let mut e = ValidationErrors::new();
        e.push("/title", "must not be empty");
        e.push("/tags/3", "at most 50 characters");
        let body = problem_json(&e);
        assert_eq!(body["type"], "https://todo-events.dev/problems/validation");
        assert_eq!(body["status"], 400);
        assert_eq!(body["title"], "Invalid request");
        assert_eq!(body["errors"][0]["field"], "/title");
        assert_eq!(body["errors"][1]["field"], "/tags/3");
        assert_eq!(body["errors"].as_array().unwrap().len(), 2);
        assert!(body["detail"].as_str().unwrap().contains('2'));
    }

    #[test]
    fn single_error_detail_names_the_field() {
        let p = ValidationErrors::single("limit", "must be between 1 and 100").to_problem();
        assert_eq!(p.detail, "limit: must be between 1 and 100");
    }

    #[test]
    fn simple_problems_have_no_errors_member() {
        let v = Problem::not_found("no such task").to_json();
        assert_eq!(v["status"], 404);
        assert!(v.get("errors").is_none());
    }

    #[test]
    fn pointer_escapes_rfc6901() {
        assert_eq!(pointer("", "a/b~c"), "/a~1b~0c");
        assert_eq!(pointer("/tags", 3), "/tags/3");
    }
}
