//! Schema-evolution checker for the project's event JSON Schemas, the way `buf breaking` checks
//! protobuf (DESIGN.md decision 12).
//!
//! Layout: the working schemas are `<dir>/<topic>.schema.json`, each with a top-level
//! `"x-schema-version": "MAJOR.MINOR.PATCH"`; every released version is kept as
//! `<dir>/releases/<topic>/<version>.schema.json`.
//!
//! - [`diff_schemas`] compares two schema documents and classifies every change ([`Change`]) with
//!   the version bump it needs ([`Bump`]).
//! - [`check_dir`] compares each working schema with its latest release and reports, per topic,
//!   whether the working version was bumped enough ([`TopicReport`]).
//! - [`release`] copies a working schema that passes the check into `releases/`.
//!
//! The rules, from the consumer's point of view (a consumer accepts any MINOR of its MAJOR):
//! anything that can make a previously valid event invalid needs MAJOR; anything that only lets
//! more events through needs MINOR; annotations (title, description, examples, `$comment`,
//! `x-*`) need PATCH. Keywords the differ does not understand are reported as MAJOR.

#![warn(missing_docs)]

mod change;
mod check;
mod diff;
mod error;
mod layout;
mod release;
mod version;

pub use change::{required_bump, Bump, Change, ChangeKind};
pub use check::{check_dir, evaluate, CheckReport, Problem, TopicReport};
pub use diff::{diff_schemas, DiffError};
pub use error::Error;
pub use layout::{Layout, ReleasedSchema, WorkingSchema, VERSION_KEY};
pub use release::{release, ReleaseOutcome, Selection};
pub use version::{SchemaVersion, Step};
