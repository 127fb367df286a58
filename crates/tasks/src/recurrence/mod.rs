//! Recurrence rules: the supported RFC 5545 RRULE subset and its occurrences.

mod expand;
mod parse;
#[cfg(test)]
mod tests;

pub use expand::{next_after_due, next_occurrence, resolve_local, MAX_STEPS};
pub use parse::{ByDay, Freq, Recurrence, RuleError, Until, COUNT_MAX, INTERVAL_MAX, RULE_MAX};
