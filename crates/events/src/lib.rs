//! Typed, versioned events of the Todo backbone.
//!
//! The three topics and their types: `task-events` ([`TaskEvent`]), `reminders`
//! ([`ReminderEvent`]) and `task-updates` ([`TaskUpdate`]). Their JSON Schemas
//! (`contracts/events/*.schema.json`) are embedded and enforced on both sides:
//!
//! - **Producer**: build an event with its `new` constructor (fresh v4 `event_id`, `timestamp`
//!   now, current `schema_version`), then [`encode`] it: the version is stamped, the event is
//!   validated against its schema and serialised. Publish the bytes to [`publish_path`].
//! - **Consumer**: [`decode`] a Dapr delivery (CloudEvent 1.0 envelope or bare event). It
//!   accepts any MINOR/PATCH of the known MAJOR (ignoring unknown fields), refuses an unknown
//!   MAJOR, a missing or invalid version and any schema violation, and counts and logs version
//!   mismatches and drops ([`counters`]). Answer Dapr with [`Decision::dapr_reply`].
//! - **Any schema**: [`EventSchema`] is the compiled schema both paths apply; the embedded ones
//!   are [`EventSchema::of`], and [`EventSchema::new`] builds one from another schema document
//!   (an older or newer release), whose [`EventSchema::accept`] / [`EventSchema::decode`] run the
//!   same consumer path as a consumer built with that schema. `todo-contracts accepts` uses it.
//!
//! Optional fields decode to a documented default when absent or `null` (`None`, or an empty
//! list); producers still send every field they know.
//!
//! The Rust types, the WIT records in `wit/events.wit` and the JSON Schemas are kept in step by
//! the `agreement` test.

mod consumer;
mod envelope;
mod event;
#[cfg(test)]
mod fixtures;
mod producer;
mod reminder_event;
mod schema;
mod stats;
mod task_event;
mod task_update;
mod types;
mod version;

pub use consumer::{decode, decode_value, handle, peek, Decision, DecodeError, Decoded};
pub use envelope::CloudEventInfo;
pub use event::{Event, Topic};
pub use producer::{
    encode, format_timestamp, new_event_id, parse_instant, parse_timestamp, publish_path,
    timestamp_now, to_value, truncate_ms, EncodeError, MAX_YEAR, MIN_YEAR,
};
pub use reminder_event::ReminderEvent;
pub use schema::{validate, EventSchema, SchemaError, ValidationError, Violation};
pub use stats::{counters, report_drop, Counters};
pub use task_event::{TaskData, TaskEvent};
pub use task_update::{DueReminder, TaskUpdate, TaskView};
pub use types::{
    Channel, Priority, ReminderEventType, ReminderState, TaskEventType, TaskReminder, UpdateType,
};
pub use version::{check_version, SemVer, VersionError, VersionStatus};

/// The `chrono` crate, for [`parse_timestamp`] and [`format_timestamp`].
pub use chrono;
/// The `uuid` crate, for the id fields.
pub use uuid;
