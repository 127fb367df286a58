//! List queries: `GET /api/tasks?...` and `GET /api/audit?...`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::cursor::{self, Params, Position};
use crate::problem::ValidationErrors;
use crate::task::{parse_priority, priority_rank, Priority, TAGS_MAX, TAG_MAX};
use crate::time::{format_instant, parse_any_instant, parse_instant};
use crate::validate::has_nul;

/// Default page size.
pub const LIMIT_DEFAULT: u32 = 20;
/// Largest page size.
pub const LIMIT_MAX: u32 = 100;
/// Longest text search, in characters.
pub const Q_MAX: usize = 200;

/// What a task list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    /// `due_date`: tasks without one sort as if due at infinity (last ascending).
    DueDate,
    /// `priority`: low < normal < high < urgent.
    Priority,
    /// `created` (the default, newest first).
    Created,
    /// `title`, case-insensitive.
    Title,
}

impl SortField {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            SortField::DueDate => "due_date",
            SortField::Priority => "priority",
            SortField::Created => "created",
            SortField::Title => "title",
        }
    }

    /// The order used when `order` is not given: ascending for due date and title, descending
    /// (most urgent, newest first) for priority and created.
    pub fn default_order(self) -> Order {
        match self {
            SortField::DueDate | SortField::Title => Order::Asc,
            SortField::Priority | SortField::Created => Order::Desc,
        }
    }
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `asc`
    Asc,
    /// `desc`
    Desc,
}

impl Order {
    /// The parameter value (also the SQL keyword, in lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            Order::Asc => "asc",
            Order::Desc => "desc",
        }
    }
}

/// A parsed `GET /api/tasks` query for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// The signed-in user; every statement filters on it.
    pub user_id: String,
    /// `completed=true|false`.
    pub completed: Option<bool>,
    /// `priority=high,urgent` (repeatable; any of them).
    pub priorities: Vec<Priority>,
    /// `tag=x&tag=y` (normalised like task tags; all of them).
    pub tags: Vec<String>,
    /// `due_before`: due strictly before (tasks without a due date excluded).
    pub due_before: Option<DateTime<Utc>>,
    /// `due_after`: due strictly after (tasks without a due date excluded).
    pub due_after: Option<DateTime<Utc>>,
    /// `q`: case-insensitive substring of title or description.
    pub q: Option<String>,
    /// `sort` (default `created`).
    pub sort: SortField,
    /// `order` (default per sort, see [`SortField::default_order`]).
    pub order: Order,
    /// `limit`, 1 to 100 (default 20).
    pub limit: u32,
    /// The position after which this page starts (from `cursor`).
    pub after: Option<Position>,
}

/// An instant of a query string (`due_before`, `due_after`).
fn query_instant(p: &Params, name: &str, errors: &mut ValidationErrors) -> Option<DateTime<Utc>> {
    p.instant(name, errors, parse_instant)
}

impl ListQuery {
    /// The parameters this query accepts.
    pub const PARAMS: &'static [&'static str] = &[
        "completed",
        "priority",
        "tag",
        "due_before",
        "due_after",
        "q",
        "sort",
        "order",
        "limit",
        "cursor",
    ];

    /// Parses the query string (with or without the leading `?`) of `user_id`'s request.
    /// `secret` keys the cursor MAC (use a server secret, e.g. the JWT secret). Every invalid
    /// or unknown parameter is reported by name.
    pub fn parse(query: &str, user_id: &str, secret: &[u8]) -> Result<ListQuery, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let p = Params::parse(query, Self::PARAMS, &mut errors);

        let completed = match p.one("completed", &mut errors) {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => {
                errors.push("completed", "must be true or false");
                None
            }
        };
        let mut priorities: Vec<Priority> = Vec::new();
        for raw in p.all("priority").iter().flat_map(|v| v.split(',')) {
            match parse_priority(raw) {
                Some(pr) if !priorities.contains(&pr) => priorities.push(pr),
                Some(_) => {}
                None => errors.push(
                    "priority",
                    format!("unknown priority {raw:?} (low, normal, high, urgent)"),
                ),
            }
        }
        let mut tags: Vec<String> = Vec::new();
        for raw in p.all("tag") {
            let t = raw.trim().to_lowercase();
            let n = t.chars().count();
            if n == 0 || n > TAG_MAX || has_nul(&t) {
                errors.push("tag", format!("each tag must be 1 to {TAG_MAX} characters"));
            } else if !tags.contains(&t) {
                tags.push(t);
            }
        }
        if tags.len() > TAGS_MAX {
            errors.push("tag", format!("at most {TAGS_MAX} tags"));
        }
        let due_before = query_instant(&p, "due_before", &mut errors);
        let due_after = query_instant(&p, "due_after", &mut errors);
        let q = match p.one("q", &mut errors).map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > Q_MAX || has_nul(q) => {
                errors.push("q", format!("at most {Q_MAX} characters"));
                None
            }
            Some(q) => Some(q.to_owned()),
        };
        let sort = match p.one("sort", &mut errors).map(str::to_ascii_lowercase) {
            None => SortField::Created,
            Some(s) => match s.as_str() {
                "due_date" => SortField::DueDate,
                "priority" => SortField::Priority,
                "created" => SortField::Created,
                "title" => SortField::Title,
                _ => {
                    errors.push("sort", "must be due_date, priority, created or title");
                    SortField::Created
                }
            },
        };
        let order = match p.one("order", &mut errors).map(str::to_ascii_lowercase) {
            None => sort.default_order(),
            Some(o) => match o.as_str() {
                "asc" => Order::Asc,
                "desc" => Order::Desc,
                _ => {
                    errors.push("order", "must be asc or desc");
                    sort.default_order()
                }
            },
        };
        let limit = p.limit(LIMIT_DEFAULT, LIMIT_MAX, &mut errors);
        let mut query = ListQuery {
            user_id: user_id.to_owned(),
            completed,
            priorities,
            tags,
            due_before,
            due_after,
            q,
            sort,
            order,
            limit,
            after: None,
        };
        if let Some(c) = p.one("cursor", &mut errors) {
            if errors.is_empty() {
                match cursor::decode(secret, &query.context(), c) {
                    Ok(pos) if query.valid_position(&pos) => query.after = Some(pos),
                    Ok(_) => errors.push("cursor", "is not a valid cursor"),
                    Err(m) => errors.push("cursor", m),
                }
            }
        }
        errors.into_result(query)
    }

    /// The canonical text of everything a cursor is bound to.
    pub(crate) fn context(&self) -> String {
        let prios: Vec<String> = self
            .priorities
            .iter()
            .map(|p| priority_rank(*p).to_string())
            .collect();
        format!(
            "tasks\n{}\n{:?}\n{}\n{}\n{:?}\n{:?}\n{:?}\n{}\n{}",
            self.user_id,
            self.completed,
            prios.join(","),
            serde_json::to_string(&self.tags).unwrap_or_default(),
            self.due_before.map(format_instant),
            self.due_after.map(format_instant),
            self.q,
            self.sort.as_str(),
            self.order.as_str()
        )
    }

    fn valid_position(&self, pos: &Position) -> bool {
        let key_ok = match self.sort {
            SortField::DueDate => pos.key == "infinity" || parse_any_instant(&pos.key).is_some(),
            SortField::Created => parse_any_instant(&pos.key).is_some(),
            SortField::Priority => matches!(pos.key.parse::<i16>(), Ok(0..=3)),
            SortField::Title => pos.key.chars().count() <= 4 * crate::task::TITLE_MAX,
        };
        key_ok && Uuid::parse_str(&pos.id).is_ok()
    }

    /// The cursor of the page after the row with sort key `key` and id `id`.
    pub fn cursor_after(&self, key: &str, id: &str, secret: &[u8]) -> String {
        let pos = Position {
            key: key.to_owned(),
            id: id.to_owned(),
        };
        cursor::encode(secret, &self.context(), &pos)
    }
}
