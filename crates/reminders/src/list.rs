//! `GET /api/reminders` (and the MCP tool `list_reminders`): one user's reminders by time.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use todo_cursor::{self as cursor, Position};
use todo_problem::ValidationErrors;
use todo_sql::{field, single, ts_ms, ts_us, Binder, RowError, Statement};

use crate::state::State;

/// Most reminders on one page, and the default.
const LIMIT_MAX: u32 = 100;
const LIMIT_DEFAULT: u32 = 20;

/// A parsed list query of the signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderQuery {
    /// The signed-in user (from the token, never from the query).
    pub user_id: String,
    /// `state`: only these states; empty = all. `upcoming` is `scheduled` and `delivering`.
    pub states: Vec<State>,
    /// `task_id`: only this task's reminders.
    pub task_id: Option<Uuid>,
    /// `order`: by time, `asc` (default: the next one first) or `desc` (the latest first).
    pub descending: bool,
    /// `limit`, 1 to 100 (default 20).
    pub limit: u32,
    /// After this position (from `cursor`).
    pub after: Option<Position>,
}

impl ReminderQuery {
    /// The parameters it accepts.
    pub const PARAMS: &'static [&'static str] = &["state", "task_id", "order", "limit", "cursor"];

    /// Parses a query string; every bad parameter is named in the error.
    pub fn parse(
        query: &str,
        user_id: &str,
        secret: &[u8],
    ) -> Result<ReminderQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut q = ReminderQuery {
            user_id: user_id.to_owned(),
            states: Vec::new(),
            task_id: None,
            descending: false,
            limit: LIMIT_DEFAULT,
            after: None,
        };
        let mut cursor_text = None;
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "state" => {
                    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        match name {
                            "upcoming" => q.states.extend([State::Scheduled, State::Delivering]),
                            other => match State::parse(other) {
                                Some(s) => q.states.push(s),
                                None => errors.push(
                                    "state",
                                    "must be upcoming, sent, missed, failed or cancelled (comma-separated)",
                                ),
                            },
                        }
                    }
                }
                "task_id" => match Uuid::parse_str(&v) {
                    Ok(id) => q.task_id = Some(id),
                    Err(_) => errors.push("task_id", "must be a task's UUID"),
                },
                "order" => match v.as_ref() {
                    "asc" => q.descending = false,
                    "desc" => q.descending = true,
                    _ => errors.push("order", "must be asc or desc"),
                },
                "limit" => match v.parse::<u32>() {
                    Ok(n) if (1..=LIMIT_MAX).contains(&n) => q.limit = n,
                    _ => errors.push("limit", format!("must be an integer from 1 to {LIMIT_MAX}")),
                },
                "cursor" => cursor_text = Some(v.into_owned()),
                other => errors.push(other, "is not a parameter of this list"),
            }
        }
        q.states.sort_by_key(|s| s.as_str());
        q.states.dedup();
        if let Some(c) = cursor_text {
            match cursor::decode(secret, &q.context(), &c) {
                Ok(pos) => q.after = Some(pos),
                Err(why) => errors.push("cursor", why),
            }
        }
        errors.into_result(q)
    }

    fn context(&self) -> String {
        let states: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
        format!(
            "reminders\n{}\n{}\n{:?}\n{}",
            self.user_id,
            states.join(","),
            self.task_id,
            self.descending
        )
    }

    /// The page statement: this user's reminders matching the filters, keyset-paged on
    /// (remind_at, reminder_id), `limit + 1` rows. Row: `{"items": [{"reminder": R, "key": K}]}`.
    pub fn statement(&self) -> Statement {
        let mut b = Binder::default();
        let mut conds = vec![format!("r.user_id = {}", b.str(&self.user_id))];
        if !self.states.is_empty() {
            let names: Vec<&str> = self.states.iter().map(|s| s.as_str()).collect();
            conds.push(format!(
                "r.state = ANY(ARRAY(SELECT jsonb_array_elements_text({})))",
                b.jsonb(&json!(names))
            ));
        }
        if let Some(t) = self.task_id {
            conds.push(format!(
                "r.task_id = {}",
                b.cast(Some(t.to_string()), "uuid")
            ));
        }
        let (dir, op) = if self.descending {
            ("DESC", "<")
        } else {
            ("ASC", ">")
        };
        if let Some(pos) = &self.after {
            let k = b.cast(Some(pos.key.clone()), "timestamptz");
            let i = b.cast(Some(pos.id.clone()), "uuid");
            conds.push(format!("(r.remind_at, r.reminder_id) {op} ({k}, {i})"));
        }
        let limit = b.cast(Some((self.limit + 1).to_string()), "integer");
        let sql = format!(
            "SELECT jsonb_build_object('items', COALESCE(jsonb_agg(p.item ORDER BY p.at {dir}, p.id {dir}), \
             '[]'::jsonb))::text FROM (SELECT r.remind_at AS at, r.reminder_id AS id, \
             jsonb_build_object('key', {key}, 'reminder', jsonb_build_object(\
             'reminder_id', r.reminder_id, 'task_id', r.task_id, 'task_title', r.task_title, \
             'remind_at', {at}, 'due_date', {due}, 'channel', r.channel, 'email', r.email, \
             'state', r.state, 'attempts', r.attempts, 'sent_at', {sent}, \
             'last_error', r.last_error)) AS item \
             FROM reminder_states r WHERE {} ORDER BY r.remind_at {dir}, r.reminder_id {dir} \
             LIMIT {limit}) p",
            conds.join(" AND "),
            key = ts_us("r.remind_at"),
            at = ts_ms("r.remind_at"),
            due = ts_ms("r.due_at"),
            sent = ts_ms("r.sent_at"),
        );
        b.finish(sql)
    }
}

/// One reminder as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderView {
    /// The reminder.
    pub reminder_id: Uuid,
    /// Its task.
    pub task_id: Uuid,
    /// The task's title when the reminder was set.
    pub task_title: Option<String>,
    /// When it fires.
    pub remind_at: String,
    /// The task's due date.
    pub due_date: Option<String>,
    /// How it is delivered.
    pub channel: String,
    /// Where an email reminder goes.
    pub email: Option<String>,
    /// `scheduled`, `delivering`, `sent`, `failed`, `missed` or `cancelled`.
    pub state: String,
    /// Deliveries tried.
    pub attempts: i32,
    /// When it was delivered.
    pub sent_at: Option<String>,
    /// Why the last try failed.
    pub last_error: Option<String>,
}

/// One page of reminders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReminderPage {
    /// The reminders of this page.
    pub items: Vec<ReminderView>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct Item {
    key: String,
    reminder: ReminderView,
}

/// The page of `q`'s statement.
pub fn reminder_page(
    rows: &[Vec<Value>],
    q: &ReminderQuery,
    secret: &[u8],
) -> Result<ReminderPage, RowError> {
    let mut items: Vec<Item> = field(&single(rows)?, "items")?;
    let more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(cursor::encode(
            secret,
            &q.context(),
            &Position {
                key: last.key.clone(),
                id: last.reminder.reminder_id.to_string(),
            },
        )),
        _ => None,
    };
    Ok(ReminderPage {
        items: items.into_iter().map(|i| i.reminder).collect(),
        next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"cursor-secret";

    #[test]
    fn parses_filters_and_names_bad_parameters() {
        let q =
            ReminderQuery::parse("state=upcoming,failed&order=desc&limit=5", "u", SECRET).unwrap();
        assert_eq!(
            q.states,
            vec![State::Delivering, State::Failed, State::Scheduled]
        );
        assert!(q.descending);
        assert_eq!(q.limit, 5);
        let e = ReminderQuery::parse("state=soon&limit=0&order=up&x=1&task_id=7", "u", SECRET)
            .unwrap_err();
        for f in ["state", "limit", "order", "x", "task_id"] {
            assert!(e.has(f), "{f}: {e:?}");
        }
    }

    #[test]
    fn the_statement_filters_on_the_user_first_and_pages_by_time() {
        let q = ReminderQuery::parse("state=sent", "alice", SECRET).unwrap();
        let st = q.statement();
        assert!(st.sql.contains("r.user_id = $1::text"), "{}", st.sql);
        assert_eq!(st.params[0], json!("alice"));
        assert!(st
            .sql
            .contains("ORDER BY r.remind_at ASC, r.reminder_id ASC"));
    }

    #[test]
    fn a_cursor_is_bound_to_the_user_and_filters() {
        let q = ReminderQuery::parse("state=sent&limit=1", "alice", SECRET).unwrap();
        let id = Uuid::new_v4();
        let item = |key: &str| {
            json!({"key": key, "reminder": {"reminder_id": id, "task_id": id, "task_title": null,
                "remind_at": "2026-05-01T08:00:00.000Z", "due_date": null, "channel": "in_app",
                "email": null, "state": "sent", "attempts": 1, "sent_at": null, "last_error": null}})
        };
        let rows = vec![vec![Value::String(
            json!({"items": [item("2026-05-01T08:00:00.000000Z"), item("2026-05-02T08:00:00.000000Z")]}).to_string(),
        )]];
        let page = reminder_page(&rows, &q, SECRET).unwrap();
        assert_eq!(page.items.len(), 1);
        let c = page.next_cursor.unwrap();
        let next = ReminderQuery::parse(&format!("state=sent&limit=1&cursor={c}"), "alice", SECRET)
            .unwrap();
        assert_eq!(next.after.unwrap().id, id.to_string());
        assert!(
            ReminderQuery::parse(&format!("state=sent&limit=1&cursor={c}"), "bob", SECRET).is_err()
        );
        assert!(
            ReminderQuery::parse(&format!("state=failed&limit=1&cursor={c}"), "alice", SECRET)
                .is_err()
        );
    }
}
