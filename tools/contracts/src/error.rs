//! Errors of the library part.

use std::path::PathBuf;

use crate::diff::DiffError;

/// Everything that stops the checker from giving an answer (as opposed to a failed check, which
/// is a [`crate::Problem`] in a report).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A schema file is not valid JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// A schema has no top-level `x-schema-version` string.
    #[error("{path}: missing top-level \"x-schema-version\" string")]
    MissingVersion {
        /// The file.
        path: PathBuf,
    },
    /// A version string is not `MAJOR.MINOR.PATCH`.
    #[error("invalid version {0:?}: expected MAJOR.MINOR.PATCH (numbers without leading zeros)")]
    InvalidVersion(String),
    /// A version in a file is invalid; `source` says why.
    #[error("{path}: {source}")]
    BadVersionIn {
        /// The file.
        path: PathBuf,
        /// What is wrong with the version.
        source: Box<Error>,
    },
    /// Two schemas could not be compared (bad schema shape, unresolvable `$ref`).
    #[error("{context}: {source}")]
    Diff {
        /// Which comparison (topic, files).
        context: String,
        /// What went wrong.
        source: DiffError,
    },
    /// The directory holds no `*.schema.json` working schema.
    #[error("no working schemas (*.schema.json) in {0}")]
    NoSchemas(PathBuf),
    /// `release` was asked for a topic that has no working schema.
    #[error("unknown topic {0:?}: no working schema for it")]
    UnknownTopic(String),
    /// `release` would overwrite an existing release file with different content.
    #[error("{0} already exists; a released version is never overwritten")]
    ReleaseExists(PathBuf),
}
