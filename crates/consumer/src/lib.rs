//! Dapr subscriber handling, written once for every consumer of the project.
//!
//! A consumer component is a route table plus pure decisions; this crate owns the rest of the
//! exchange with Dapr (docs/decisions.md, "One consumer shape"):
//!
//! - [`envelope`]: a delivery's body, one event or a bulk envelope (`bulkSubscribe`), and the
//!   per-entry statuses, where a RETRY holds back every later entry.
//! - [`delivery`]: the delivery read once ([`Read`]: each entry decoded by `todo-events`, the
//!   version policy and the schema applied) and its answer ([`Answer`]).
//! - [`inbox`]: the `processed_events` row each consumer writes with its effect, in one
//!   statement, so a redelivery changes nothing ([`processed_cte`], [`processed_batch_cte`],
//!   [`record_consumed_batch`]), and the columns the metrics count ([`Delivery`]).
//! - [`counters`]: what a refused or failed delivery adds to the metrics.
//! - [`deadletter`]: the `dead_letters` row of an event the consumer gives up on (refused, or
//!   failed [`deadletter::MAX_ATTEMPTS`] times with the database up), written before it answers
//!   DROP.
//! - `serve` (feature `serve`): the runner a component's subscription route calls,
//!   [`serve_batch`] for a [`Batch`] consumer and [`serve_in_order`] for an [`InOrder`] one.
//!
//! | delivery | answer |
//! |---|---|
//! | not JSON, bad envelope, invalid event, unknown MAJOR, refused by the consumer | dead letter recorded, DROP (dead-letter topic), counted, logged |
//! | applied now, or already (the inbox row exists) | SUCCESS |
//! | the sidecar, the database or another dependency is down ([`transient`]) | RETRY, counted, logged with its cause, however long; later entries of a bulk delivery RETRY too |
//! | the consumer failed on it with the database up | an attempt counted in its dead letter: RETRY, and DROP at the [`deadletter::MAX_ATTEMPTS`]th |
//! | its dead letter cannot be recorded (the database went down) | RETRY |

pub mod counters;
pub mod deadletter;
pub mod delivery;
pub mod envelope;
pub mod inbox;
#[cfg(feature = "serve")]
mod serve;

pub use delivery::{Accepted, Answer, Entry, Read};
pub use inbox::{
    delivery_row, processed_batch_cte, processed_cte, record_consumed_batch, Delivery,
    DELIVERY_COLUMNS,
};
#[cfg(feature = "serve")]
pub use serve::{serve_batch, serve_in_order, transient, Batch, Effect, InOrder, Unavailable};
/// The answer to one event, re-exported from the event crate's consumer path.
pub use todo_events::Decision;
