//! `GET /api/audit`: the signed-in user's audit log, newest first, paged.
//!
//! The steps around the one binding call, each a pure function: [`authorize`] (HS256 bearer
//! token, `sub` = user), [`parse_query`] (`task_id`, `from`, `to`, `limit`, `cursor`; the user
//! filter comes from the token, never from the query), and [`page`] (the binding's rows to the
//! response). Cursors are keyed with the same secret and bound to the user and the filters, so
//! one user's cursor is refused for another.

use serde_json::Value;
use spin_sdk::http::{Request, Response};
use todo_auth::{self as jwt, Claims};
use todo_problem::Problem;
use todo_sidecar::vars;
use todo_sql::{Database, DbError, RowError};

use crate::log;
use crate::query::AuditQuery;

/// `GET /api/audit`: one page of the caller's audit log.
pub async fn audit_log(req: &Request) -> Response {
    let secret = match vars::get("jwt_secret") {
        Ok(secret) => secret,
        Err(e) => {
            eprintln!("audit: {e}");
            return todo_http::problem(&Problem::internal("authentication is not configured"));
        }
    };
    let secret = secret.as_bytes();
    let authorization = todo_http::header(req, "authorization");
    let q = match authorize(authorization, secret, todo_http::now_unix())
        .and_then(|claims| parse_query(req.query(), &claims.sub, secret))
    {
        Ok(q) => q,
        Err(response) => return response,
    };
    let rows = match Database::from_vars() {
        Ok(db) => db.rows(&log::list(&q)).await,
        Err(e) => Err(e),
    };
    page(rows, &q, secret)
}

/// The caller's verified claims, or the 401 to answer.
pub fn authorize(authorization: Option<&str>, secret: &[u8], now: i64) -> Result<Claims, Response> {
    jwt::verify_bearer(authorization, secret, now).map_err(|e| todo_http::unauthorized(&e))
}

/// The list query of `user`, or the 400 naming every bad parameter.
pub fn parse_query(query: &str, user: &str, secret: &[u8]) -> Result<AuditQuery, Response> {
    AuditQuery::parse(query, user, secret).map_err(|e| todo_http::problem(&e.to_problem()))
}

/// The response for the rows of `list_audit(q)`: 200 `{"items": [...], "next_cursor": ...}`;
/// 503 when the sidecar or database is unavailable, 500 for any other failure.
pub fn page(rows: Result<Vec<Vec<Value>>, DbError>, q: &AuditQuery, secret: &[u8]) -> Response {
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("audit: listing the audit log failed: {e}");
            return todo_http::problem(&if e.is_transient() {
                Problem::unavailable("the audit log is unavailable; retry later")
            } else {
                Problem::internal("the audit log could not be read")
            });
        }
    };
    let body = log::page(&rows, q, secret)
        .map_err(|e: RowError| e.to_string())
        .and_then(|page| serde_json::to_vec(&page).map_err(|e| e.to_string()));
    match body {
        Ok(body) => todo_http::json_bytes(200, body),
        Err(e) => {
            eprintln!("audit: listing the audit log failed: {e}");
            todo_http::problem(&Problem::internal("the audit log could not be read"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    /// A response header as text.
    fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
        r.header(name).and_then(|v| v.as_str())
    }

    /// A response body as JSON.
    fn body(r: &Response) -> Value {
        serde_json::from_slice(r.body()).expect("JSON body")
    }
    use serde_json::json;
    use todo_sidecar::SidecarError;

    const SECRET: &[u8] = b"test-secret-of-at-least-32-bytes!!";
    const NOW: i64 = 1_780_000_000;

    fn bearer(claims: Value, secret: &[u8]) -> String {
        format!("Bearer {}", jwt::sign_hs256(&claims, secret))
    }

    fn entry(seq: i64) -> Value {
        json!({
            "seq": seq,
            "event_id": format!("00000000-0000-4000-8000-{seq:012}"),
            "task_id": "5d1f7c1a-3b7e-4f43-a5f4-0d9f6d8a2b10",
            "event_type": "task.updated",
            "occurred_at": "2026-05-01T08:00:00.000Z",
            "recorded_at": "2026-05-01T08:00:00.120Z",
            "schema_version": "1.0.0",
            "payload": {"event_id": "x"},
        })
    }

    fn rows_of(items: Vec<Value>) -> Result<Vec<Vec<Value>>, DbError> {
        Ok(vec![vec![json!(json!({ "items": items }).to_string())]])
    }

    #[test]
    fn a_valid_token_names_the_user() {
        let h = bearer(json!({"sub": "user-42", "exp": NOW + 600}), SECRET);
        assert_eq!(authorize(Some(&h), SECRET, NOW).unwrap().sub, "user-42");
    }

    #[test]
    fn missing_or_bad_tokens_get_401_with_a_challenge() {
        let r = authorize(None, SECRET, NOW).unwrap_err();
        assert_eq!(*r.status(), 401);
        assert_eq!(header(&r, "www-authenticate"), Some("Bearer"));
        assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
        let wrong_key = bearer(json!({"sub": "u", "exp": NOW + 600}), b"another-secret");
        let expired = bearer(json!({"sub": "u", "exp": NOW - 3600}), SECRET);
        let no_sub = bearer(json!({"exp": NOW + 600}), SECRET);
        for h in [
            wrong_key,
            expired,
            no_sub,
            "Basic dTpw".into(),
            "Bearer x.y.z".into(),
        ] {
            let r = authorize(Some(&h), SECRET, NOW).unwrap_err();
            assert_eq!(*r.status(), 401, "{h}");
            assert!(header(&r, "www-authenticate")
                .unwrap()
                .contains("invalid_token"));
            assert_eq!(body(&r)["status"], 401);
        }
    }

    #[test]
    fn the_user_filter_comes_from_the_token_not_the_query() {
        let q = parse_query("", "alice", SECRET).unwrap();
        let st = log::list(&q);
        assert_eq!(st.params[0], json!("alice"));
        assert!(st.sql.contains("a.user_id = $1::text"), "{}", st.sql);
        let r = parse_query("user_id=bob", "alice", SECRET).unwrap_err();
        assert_eq!(*r.status(), 400);
        assert_eq!(body(&r)["errors"][0]["field"], "user_id");
    }

    #[test]
    fn filters_are_parsed() {
        let q = parse_query(
            "task_id=5d1f7c1a-3b7e-4f43-a5f4-0d9f6d8a2b10&from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z&limit=5",
            "alice",
            SECRET,
        )
        .unwrap();
        assert_eq!(q.limit, 5);
        assert!(q.task_id.is_some() && q.from.is_some() && q.to.is_some());
    }

    #[test]
    fn bad_parameters_get_400_naming_the_parameter() {
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=abc", "limit"),
            ("limit=1000", "limit"),
            ("task_id=nope", "task_id"),
            ("from=yesterday", "from"),
            ("to=2026-13-01T00:00:00Z", "to"),
            ("cursor=forged", "cursor"),
            ("color=red", "color"),
        ] {
            let r = parse_query(query, "alice", SECRET).unwrap_err();
            assert_eq!(*r.status(), 400, "{query}");
            assert_eq!(header(&r, "content-type"), Some("application/problem+json"));
            let b = body(&r);
            assert_eq!(b["errors"][0]["field"], field, "{query}: {b}");
            assert!(b["detail"].as_str().unwrap().starts_with(field), "{b}");
        }
    }

    #[test]
    fn a_page_lists_entries_newest_first_with_a_cursor_for_more() {
        let q = parse_query("limit=2", "alice", SECRET).unwrap();
        let r = page(rows_of(vec![entry(9), entry(7), entry(4)]), &q, SECRET);
        assert_eq!(*r.status(), 200);
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        let b = body(&r);
        let items = b["items"].as_array().unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["event_id"], entry(9)["event_id"]);
        assert_eq!(items[1]["event_id"], entry(7)["event_id"]);
        assert!(items[0].get("seq").is_none(), "seq is internal");
        assert_eq!(items[0]["event_type"], "task.updated");
        // The cursor continues after the last entry shown, for this user only.
        let cursor = b["next_cursor"].as_str().unwrap();
        let next = parse_query(&format!("limit=2&cursor={cursor}"), "alice", SECRET).unwrap();
        assert_eq!(next.after.unwrap().key, "7");
        let r = parse_query(&format!("limit=2&cursor={cursor}"), "bob", SECRET).unwrap_err();
        assert_eq!(body(&r)["errors"][0]["field"], "cursor");
    }

    #[test]
    fn the_last_page_has_no_cursor() {
        let q = parse_query("", "alice", SECRET).unwrap();
        let b = body(&page(rows_of(vec![entry(3)]), &q, SECRET));
        assert_eq!(b["items"].as_array().unwrap().len(), 1);
        assert_eq!(b["next_cursor"], Value::Null);
        let b = body(&page(rows_of(vec![]), &q, SECRET));
        assert_eq!(b, json!({"items": [], "next_cursor": null}));
    }

    #[test]
    fn failures_are_problems_not_empty_pages() {
        let q = parse_query("", "alice", SECRET).unwrap();
        let down = page(
            Err(SidecarError::Unavailable("refused".into()).into()),
            &q,
            SECRET,
        );
        assert_eq!(*down.status(), 503);
        assert_eq!(
            header(&down, "content-type"),
            Some("application/problem+json")
        );
        let refused = SidecarError::Refused {
            call: "Post /v1.0/bindings/tododb".into(),
            status: 403,
            body: String::new(),
        };
        assert_eq!(*page(Err(refused.into()), &q, SECRET).status(), 500);
        // Zero rows: the statement failed in the database.
        assert_eq!(*page(Ok(vec![]), &q, SECRET).status(), 500);
        assert_eq!(*page(Ok(vec![vec![json!(1)]]), &q, SECRET).status(), 500);
    }

    #[test]
    fn the_clock_is_plausible() {
        assert!(todo_http::now_unix() > 1_700_000_000);
    }
}
