//! The event metrics of the seed ("Monitoring and Observability"), kept where every component
//! instance and every replica shares them: in PostgreSQL (docs/observability.md).
//!
//! A Spin component instance lives for one request, and a service runs as several replicas, so a
//! counter in memory counts nothing useful. The counters live in the database instead, written
//! **in the same statement as the effect they count** (no extra round trip on the hot path):
//!
//! - **Consumption**: every consumer statement's `processed_events` insert (the consumer inbox,
//!   `todo-consumer`) carries the delivery's topic, event type, `schema_version`, the event's
//!   `timestamp` and the instant the component received it. A trigger of
//!   `migrations/V7__metrics.sql` counts each new row into `metric_consumed`: one row per
//!   (consumer, topic, event type, schema MAJOR.MINOR, duration bucket), which gives
//!   `events_consumed_total`, the `event_processing_duration_seconds` histogram and
//!   `schema_version_mismatches_total`. A redelivery inserts no row and counts nothing.
//! - **Publishing**: a trigger on `outbox` counts each row whose `published_at` is set
//!   (`events_published_total`, event type from the payload).
//! - **The rare paths** that fail without writing anything (a DROP, a RETRY, a failed publish)
//!   cost one small statement on that path ([`counters_statement`], [`publish_errors_cte`]):
//!   `event_processing_errors_total`, `schema_validation_errors_total`,
//!   `event_publish_errors_total` in the generic `metric_counters` table. When the database (or
//!   the sidecar in front of it) is what failed, that increment is lost too.
//!
//! [`expose`] reads all of it, and each consumer's lag, in one statement and renders the
//! Prometheus text exposition (`GET /metrics` of the `metrics` component). The values are global
//! totals from the database: every scrape of any replica answers the same numbers, so a query
//! aggregates them with `max`, never `sum` (observability/rules/).

mod counters;
pub mod expose;

pub use counters::{
    counters_cte, counters_statement, publish_errors_cte, version_label, Counter, PublishFailure,
};

/// `events_published_total{topic,event_type}`: outbox rows marked published.
pub const EVENTS_PUBLISHED: &str = "events_published_total";
/// `event_publish_errors_total{topic,error_type}`: failed publishes of the outbox relay.
pub const PUBLISH_ERRORS: &str = "event_publish_errors_total";
/// `events_consumed_total{topic,consumer,event_type}`: deliveries a consumer recorded.
pub const EVENTS_CONSUMED: &str = "events_consumed_total";
/// `event_processing_duration_seconds{consumer,event_type}`: delivery received -> effect written.
pub const PROCESSING_DURATION: &str = "event_processing_duration_seconds";
/// `event_processing_errors_total{consumer,event_type}`: deliveries answered DROP or RETRY.
pub const PROCESSING_ERRORS: &str = "event_processing_errors_total";
/// `schema_validation_errors_total{topic,schema_version,consumer}`: deliveries the decoder
/// refused (invalid, unknown MAJOR, not an event).
pub const VALIDATION_ERRORS: &str = "schema_validation_errors_total";
/// `schema_version_mismatches_total{topic,expected,actual,consumer}`: accepted events of another
/// MINOR than the consumer knows.
pub const VERSION_MISMATCHES: &str = "schema_version_mismatches_total";
/// `event_consumer_lag_seconds{consumer,topic}`: age of the oldest published event the consumer
/// has not recorded.
pub const CONSUMER_LAG: &str = "event_consumer_lag_seconds";
/// `event_consumer_pending_events{consumer,topic}`: how many such events there are.
pub const CONSUMER_PENDING: &str = "event_consumer_pending_events";
/// `dead_letters_total{topic,consumer,reason}`: events a consumer gave up on (each time one
/// became dead: a re-driven event that fails again counts again). `reason` is the class
/// (`not_json`, `bad_envelope`, `bad_version`, `invalid`, `refused`, `exhausted`).
pub const DEAD_LETTERS: &str = "dead_letters_total";
/// `dead_letters_pending{topic}`: dead letters waiting for an operator (state `dead`).
pub const DEAD_LETTERS_PENDING: &str = "dead_letters_pending";
