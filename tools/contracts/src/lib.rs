//! Schema-evolution checker for the project's event JSON Schemas, the way `buf breaking` checks
//! protobuf (DESIGN.md decision 12).
//!
//! Layout: the working schemas are `<dir>/<topic>.schema.json`, each with a top-level
//! `"x-schema-version": "MAJOR.MINOR.PATCH"`; every released version is kept as
//! `<dir>/releases/<topic>/<version>.schema.json`.
//!
//! - [`diff_schemas`] compares two schema documents and classifies every change ([`Change`]) with
//!   the version bump it needs ([`Bump`]).
//! - [`check_dir`] compares each working schema with its latest release and with every other
//!   release of its MAJOR, and reports, per topic, whether the working version was bumped enough
//!   ([`TopicReport`]), naming the release a change breaks.
//! - [`changelog`] renders `contracts/CHANGELOG.md` from the releases: per topic and version,
//!   each change as the checker names it and the bump it needed.
//! - [`to_draft07`] renders a (2020-12) working schema as JSON Schema draft-07, the dialect the
//!   AsyncAPI tools read (`contracts/asyncapi.yaml`).
//! - [`release`] copies a working schema that passes the check into `releases/`.
//! - [`decide`] runs the services' consumer path, built with a given schema, on one event
//!   (`todo-contracts accepts`, used by the property test of MINOR/PATCH compatibility).
//!
//! The rules (`contracts/README.md`, "Compatibility"): producers and consumers upgrade
//! independently and every consumer validates, so a MINOR must be compatible both ways (FULL
//! compatibility). Every change that alters the set of valid events needs MAJOR, whichever way:
//! a tightened constraint makes old producers' events invalid for new consumers; a widened enum,
//! a loosened constraint or a property no longer required lets new producers send what old
//! consumers drop. The exceptions are additions that producers' events do not depend on: an
//! optional property added to an object that allows undeclared properties (old consumers ignore
//! it, new consumers accept events without it) and a new `$defs` entry need MINOR. Annotations
//! (title, description, examples, `$comment`, `x-*`) need PATCH. Keywords the differ does not
//! understand are reported as MAJOR.

mod accepts;
mod change;
mod changelog;
mod check;
mod diff;
mod draft07;
mod error;
mod layout;
mod release;
mod version;

pub use accepts::decide;
pub use change::{required_bump, Bump, Change, ChangeKind};
pub use changelog::{changelog, CHANGELOG_HEADER};
pub use check::{check_dir, check_dir_in, evaluate, CheckReport, Problem, Scope, TopicReport};
pub use diff::{diff_schemas, DiffError};
pub use draft07::{to_draft07, Draft07Error};
pub use error::Error;
pub use layout::{Layout, ReleasedSchema, WorkingSchema, VERSION_KEY};
pub use release::{release, ReleaseOutcome, Selection};
pub use version::{SchemaVersion, Step};
