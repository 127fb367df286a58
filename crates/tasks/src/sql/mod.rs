//! The task domain's SQL statements for the Dapr `bindings.postgresql` binding, and decoders of
//! their rows; the statement type and its conventions are `todo-sql`'s, the outbox's `todo-outbox`'s.
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

pub mod decode;
mod tasks;

pub use tasks::{delete_task, get_task, insert_task, list_tasks, roll_forward_once, update_task};

pub(crate) use todo_sql::{ts_ms, ts_us, Binder, Statement};

#[cfg(test)]
mod tests;
