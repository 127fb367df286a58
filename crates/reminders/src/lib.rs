//! The notification service's reminder state, as plain Rust and SQL (no I/O).
//!
//! A reminder lives in `reminder_states` (migrations/V5__reminders.sql), one row per reminder id:
//!
//! | event or call | effect |
//! |---|---|
//! | `reminder.scheduled` ([`apply_scheduled`]) | row upserted as `scheduled`, or `missed` when its time is more than [`GRACE`] past on arrival (a `reminder.sent` with state `missed` goes to the outbox in the same statement); then the Dapr job is (re)scheduled ([`job`]) |
//! | `reminder.cancelled` ([`apply_cancelled`]) | `cancelled` (unless already delivered); then the job is deleted |
//! | `reminder.sent`, the service's own ([`apply_own`]) | confirms the state it reports |
//! | job callback ([`claim`]) | `scheduled` -> `delivering` with a lease; a callback that finds the lease held schedules a follow-up job for after it ([`follow_up_job_name`]) |
//! | delivered ([`record_delivered`]) | `sent`; `reminder.sent` (and for `in_app` the browser's `reminder.due` on `task-updates`) go to the outbox in the same statement |
//! | delivery failed ([`record_failure`]) | back to `scheduled` for the job's next try, or `failed` after [`MAX_ATTEMPTS`] with a `reminder.sent` saying so |
//!
//! Every event statement records `(notification, event_id)` in `processed_events` with its
//! effect, and never lets an older event (by its `timestamp`) overwrite a newer one's state.

mod job;
mod list;
mod state;
pub mod steps;

pub use job::{
    follow_up_job_name, is_job_of, job, job_name, JobData, FAILURE_INTERVAL, MAX_ATTEMPTS,
};
pub use list::{reminder_page, ReminderPage, ReminderQuery, ReminderView};
pub use state::{
    apply_cancelled, apply_own, apply_scheduled, arrival_state, claim, claim_outcome,
    event_outcome, outcome_events, record_delivered, record_failure, recorded, Claim, Claimed,
    EventOutcome, State, CLAIM_SECONDS, CONSUMER, GRACE,
};
pub use steps::{
    after_claim, after_delivery, event_statement, job_action, record_backoff, AfterClaim,
    JobAction, Recording,
};
