//! Domain core of the task API and the recurring service: plain Rust, no I/O.
//! What every service needs lives in crates of its own: `todo-problem` (RFC 9457), `todo-cursor`,
//! `todo-sql` (the binding's statements), `todo-outbox`, `todo-auth` (JWT).
//!
//! - **Tasks**: [`Task`] and its [`Reminder`]s; [`validate_create`] / [`CreateTask`] and
//!   [`validate_update`] / [`UpdateTask`] + [`Task::apply_update`] validate requests and list
//!   every problem as a `todo_problem::ValidationErrors` that renders as an RFC 9457 body.
//! - **Recurrence**: the RFC 5545 RRULE subset ([`Recurrence`]) and [`next_occurrence`] in the
//!   task's time zone; [`Task::next_occurrence_task`] rolls a recurring task forward.
//! - **Lists**: [`ListQuery`] parses the task list's query string, with opaque tamper-evident
//!   cursors.
//! - **SQL** ([`sql`]): statements for the Dapr PostgreSQL binding (writes and their outbox rows
//!   in one statement, the recurring roll with its inbox row) and [`sql::decode`] for their rows.
//! - **Events**: [`events_for_change`] builds the validated outbox messages of a write.
//!
//! Compiles for wasm32-wasip2; callers pass the current time in, so everything is testable.

mod create;
mod events;
mod fields;
mod query;
pub mod recurrence;
mod reminders;
mod roll;
pub mod sql;
mod task;
mod time;
mod update;
mod validate;

#[cfg(test)]
mod domain_tests;

pub use create::{validate_create, CreateTask};
use todo_cursor as cursor;
use todo_problem as problem;

pub use events::{events_for_change, update_event_type, Change};
pub use fields::Patch;
pub use query::{ListQuery, Order, SortField, LIMIT_DEFAULT, LIMIT_MAX, Q_MAX};
pub use recurrence::{next_occurrence, Recurrence};
pub use reminders::{reminder_changes, ReminderChanges, ReminderInput};
pub use roll::{completed_recurring, plan as roll_plan, Completed, Roll, RollPlan, Rolled};
pub use task::{
    parse_priority, priority_rank, Channel, Priority, Reminder, Task, BEFORE_MINUTES_MAX,
    DEFAULT_TIMEZONE, DESCRIPTION_MAX, REMINDERS_MAX, TAGS_MAX, TAG_MAX, TITLE_MAX,
};
pub use time::{format_instant, parse_timezone};
pub use update::{validate_update, UpdateTask};

/// Largest request body the task API should accept (answer 413 above it): a task with every
/// field at its maximum (4000-character description, 20 tags, 10 reminders) is far smaller.
pub const BODY_MAX_BYTES: usize = 64 * 1024;
