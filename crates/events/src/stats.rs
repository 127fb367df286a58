//! Process-wide counters of the consumer path, and the log lines that go with them.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::event::Topic;

static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static VERSION_MISMATCHES: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// A snapshot of the consumer counters of this process (one component instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Events decoded and accepted (including version mismatches).
    pub accepted: u64,
    /// Accepted events whose `schema_version` has another MINOR than the known one.
    pub version_mismatches: u64,
    /// Events refused (DROP): invalid, unknown MAJOR, bad envelope, or reported by the app.
    pub dropped: u64,
}

/// The current counters.
pub fn counters() -> Counters {
    Counters {
        accepted: ACCEPTED.load(Ordering::Relaxed),
        version_mismatches: VERSION_MISMATCHES.load(Ordering::Relaxed),
        dropped: DROPPED.load(Ordering::Relaxed),
    }
}

pub(crate) fn count_accepted() {
    ACCEPTED.fetch_add(1, Ordering::Relaxed);
}

/// Counts and logs (stderr) an accepted event whose version differs from the known one.
/// `schema` is the schema's name (the topic name for the embedded schemas).
pub(crate) fn report_mismatch(schema: &str, event_id: &str, found: &str, known: &str) {
    VERSION_MISMATCHES.fetch_add(1, Ordering::Relaxed);
    eprintln!(
        "todo-events: version-mismatch topic={schema} event_id={event_id} schema_version={found} known={known}"
    );
}

/// Counts and logs (stderr) a dropped event. The decoder calls it for every event it refuses;
/// call it too when the application itself answers DROP, with the reason.
pub fn report_drop(topic: Topic, event_id: &str, reason: &str) {
    log_drop(topic.name(), event_id, reason);
}

/// [`report_drop`] for a schema named `schema` (the topic name for the embedded schemas).
pub(crate) fn log_drop(schema: &str, event_id: &str, reason: &str) {
    DROPPED.fetch_add(1, Ordering::Relaxed);
    eprintln!("todo-events: drop topic={schema} event_id={event_id} reason={reason}");
}
