//! SQL statements for the Dapr `bindings.postgresql` binding, and decoders of their rows.
//!
//! Conventions, chosen for how the binding behaves (components-contrib 1.18, pgx v5):
//! - One call = one statement in its own transaction, so a write and its outbox or idempotency
//!   rows are one statement (data-modifying CTEs).
//! - Every parameter is a JSON string or `null`, and every placeholder is written `$n::text`
//!   followed by an explicit cast (`$2::text::uuid`, `$5::text::timestamptz`,
//!   `$9::text::jsonb`), so nothing depends on how the driver maps JSON numbers or nested
//!   values. Arrays travel as a JSON text and are unpacked in SQL
//!   (`ARRAY(SELECT jsonb_array_elements_text($n::text::jsonb))`).
//! - Every statement returns **exactly one row** with **one text column** holding a JSON
//!   object (instants as `YYYY-MM-DDTHH:MM:SS.mmmZ`). The binding's `query` operation does not
//!   report errors that happen while a statement executes (constraint violations, bad casts): it
//!   answers `[]` with HTTP 200. Zero rows therefore always means "the statement failed", never
//!   "not found" — "not found" is a row such as `{"task": null}`. See [`decode`].
//! - Every statement runs with the operation `query` (`todo_sidecar::Sidecar::query` fixes it);
//!   request input never chooses it (`close` would shut the binding's pool).

mod audit;
pub mod decode;
mod outbox;
mod tasks;

use serde_json::Value;

pub use audit::{list_audit, record_audit, AuditRecord};
pub use outbox::{claim_outbox, mark_published, outbox_stats, purge_published, release_outbox};
pub use tasks::{delete_task, get_task, insert_task, insert_task_once, list_tasks, update_task};

/// One SQL statement and its parameters (`$1` is `params[0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text with `$n` placeholders.
    pub sql: String,
    /// The parameters: JSON strings or `null`.
    pub params: Vec<Value>,
}

impl Statement {
    /// The parameters as the JSON-array string the binding's `params` metadata takes.
    pub fn params_json(&self) -> String {
        Value::Array(self.params.clone()).to_string()
    }
}

/// Collects parameters and answers their placeholders.
#[derive(Debug, Default)]
pub(crate) struct Binder {
    params: Vec<Value>,
}

impl Binder {
    /// Binds `value` (or SQL NULL) and answers `$n::text`.
    pub fn text(&mut self, value: Option<String>) -> String {
        self.params.push(value.map_or(Value::Null, Value::String));
        format!("${}::text", self.params.len())
    }

    /// Binds a string and answers `$n::text`.
    pub fn str(&mut self, value: &str) -> String {
        self.text(Some(value.to_owned()))
    }

    /// Binds `value`'s text and answers `$n::text::<cast>`.
    pub fn cast(&mut self, value: Option<String>, cast: &str) -> String {
        format!("{}::{cast}", self.text(value))
    }

    /// Binds `value` as JSON text and answers `$n::text::jsonb`.
    pub fn jsonb(&mut self, value: &Value) -> String {
        self.cast(Some(value.to_string()), "jsonb")
    }

    pub fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// `expr` (a timestamptz) as `YYYY-MM-DDTHH:MM:SS.mmmZ`, NULL stays NULL.
pub(crate) fn ts_ms(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// `expr` (a timestamptz) as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (full precision, for cursors).
pub(crate) fn ts_us(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

#[cfg(test)]
mod tests;
