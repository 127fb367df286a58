//! The query of `GET /api/audit`: filters, page size and cursor of one user's audit log.

use todo_cursor::{self as cursor, Params, Position};
use todo_events::chrono::{DateTime, Utc};
use todo_events::uuid::Uuid;
use todo_events::{format_timestamp, parse_instant};
use todo_problem::ValidationErrors;

/// Entries on a page by default.
pub const LIMIT_DEFAULT: u32 = 20;
/// Most entries on a page.
pub const LIMIT_MAX: u32 = 100;

/// A parsed `GET /api/audit` query for one user: newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// The signed-in user; the statement filters on it.
    pub user_id: String,
    /// `task_id`: only this task's events.
    pub task_id: Option<Uuid>,
    /// `from`: events that occurred at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// `to`: events that occurred strictly before this instant.
    pub to: Option<DateTime<Utc>>,
    /// `limit`, 1 to 100 (default 20).
    pub limit: u32,
    /// Position (audit `seq`) after which this page starts.
    pub after: Option<Position>,
}

impl AuditQuery {
    /// The parameters this query accepts.
    pub const PARAMS: &'static [&'static str] = &["task_id", "from", "to", "limit", "cursor"];

    /// Parses the query string of `user_id`'s `GET /api/audit` (unknown, repeated and malformed parameters are each named in the error).
    pub fn parse(
        query: &str,
        user_id: &str,
        secret: &[u8],
    ) -> Result<AuditQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let p = Params::parse(query, Self::PARAMS, &mut errors);
        let task_id = p
            .one("task_id", &mut errors)
            .and_then(|v| match Uuid::parse_str(v.trim()) {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push("task_id", "must be a UUID");
                    None
                }
            });
        let from = p.instant("from", &mut errors, parse_instant);
        let to = p.instant("to", &mut errors, parse_instant);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.push("from", "must not be after to");
            }
        }
        let limit = p.limit(LIMIT_DEFAULT, LIMIT_MAX, &mut errors);
        let mut query = AuditQuery {
            user_id: user_id.to_owned(),
            task_id,
            from,
            to,
            limit,
            after: None,
        };
        if let Some(c) = p.one("cursor", &mut errors) {
            if errors.is_empty() {
                match cursor::decode(secret, &query.context(), c) {
                    Ok(pos) if matches!(pos.key.parse::<i64>(), Ok(n) if n > 0) => {
                        query.after = Some(pos)
                    }
                    Ok(_) => errors.push("cursor", "is not a valid cursor"),
                    Err(m) => errors.push("cursor", m),
                }
            }
        }
        errors.into_result(query)
    }

    /// What a cursor of this query is bound to: the user and the filters.
    fn context(&self) -> String {
        format!(
            "audit\n{}\n{:?}\n{:?}\n{:?}",
            self.user_id,
            self.task_id,
            self.from.map(format_timestamp),
            self.to.map(format_timestamp)
        )
    }

    /// The cursor of the page after the row with `seq`.
    pub fn cursor_after(&self, seq: i64, secret: &[u8]) -> String {
        let pos = Position {
            key: seq.to_string(),
            id: String::new(),
        };
        cursor::encode(secret, &self.context(), &pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"cursor-secret";

    fn fields(e: &ValidationErrors) -> Vec<&str> {
        e.errors.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn audit_query_parses_and_checks_the_range() {
        let id = Uuid::new_v4();
        let q = AuditQuery::parse(&format!("task_id={id}&limit=100"), "u", SECRET).unwrap();
        assert_eq!((q.task_id, q.limit), (Some(id), 100));
        let e = AuditQuery::parse(
            "task_id=nope&from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z",
            "u",
            SECRET,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["task_id", "from"]);
        assert!(AuditQuery::parse("sort=title", "u", SECRET)
            .unwrap_err()
            .has("sort"));
    }

    /// Random query strings never panic the parser (a cheap, deterministic fuzz run).
    #[test]
    fn the_parser_never_panics_on_garbage() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let alphabet: Vec<char> = "aZ09=&;,:+-_.%?/ \t\0éß🚀task_idfromtolimitcursor"
            .chars()
            .collect();
        for _ in 0..3000 {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let len = (next() % 60) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = AuditQuery::parse(&text, "u", SECRET);
        }
    }
}
