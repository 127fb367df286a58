//! The directory layout: working schemas and their releases.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{Error, SchemaVersion};

/// The top-level keyword holding a schema document's own version.
pub const VERSION_KEY: &str = "x-schema-version";

const SUFFIX: &str = ".schema.json";

/// A contracts directory: `<dir>/<topic>.schema.json` and `<dir>/releases/<topic>/<v>.schema.json`.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// A working schema, `<dir>/<topic>.schema.json`.
#[derive(Debug, Clone)]
pub struct WorkingSchema {
    /// The topic, the file name without `.schema.json`.
    pub topic: String,
    /// The file.
    pub path: PathBuf,
    /// The parsed document.
    pub doc: Value,
    /// Its `x-schema-version`.
    pub version: SchemaVersion,
}

/// A released schema, `<dir>/releases/<topic>/<version>.schema.json`.
#[derive(Debug, Clone)]
pub struct ReleasedSchema {
    /// The file.
    pub path: PathBuf,
    /// The parsed document.
    pub doc: Value,
    /// The version in the file name.
    pub version: SchemaVersion,
    /// The document's own `x-schema-version`, if it has a valid one.
    pub declared: Option<SchemaVersion>,
}

impl Layout {
    /// A layout rooted at `dir` (e.g. `contracts/events`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The contracts directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<dir>/releases/<topic>`.
    pub fn releases_dir(&self, topic: &str) -> PathBuf {
        self.dir.join("releases").join(topic)
    }

    /// `<dir>/releases/<topic>/<version>.schema.json`.
    pub fn release_path(&self, topic: &str, version: &SchemaVersion) -> PathBuf {
        self.releases_dir(topic).join(format!("{version}{SUFFIX}"))
    }

    /// The working schemas, sorted by topic.
    pub fn working(&self) -> Result<Vec<WorkingSchema>, Error> {
        let mut out = Vec::new();
        for (stem, path) in schema_files(&self.dir)? {
            let doc = read_json(&path)?;
            let version = declared_version(&doc)
                .ok_or_else(|| Error::MissingVersion { path: path.clone() })?
                .map_err(|e| Error::BadVersionIn {
                    path: path.clone(),
                    source: Box::new(e),
                })?;
            out.push(WorkingSchema {
                topic: stem,
                path,
                doc,
                version,
            });
        }
        Ok(out)
    }

    /// The topics that have a `releases/<topic>/` directory, sorted.
    pub fn released_topics(&self) -> Result<Vec<String>, Error> {
        let dir = self.dir.join("releases");
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut topics = Vec::new();
        for entry in read_dir(&dir)? {
            if entry.is_dir() {
                if let Some(name) = entry.file_name().and_then(|n| n.to_str()) {
                    topics.push(name.to_owned());
                }
            }
        }
        topics.sort();
        Ok(topics)
    }

    /// A topic's releases, sorted by version (semver order, not file-name order).
    pub fn releases(&self, topic: &str) -> Result<Vec<ReleasedSchema>, Error> {
        let dir = self.releases_dir(topic);
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for (stem, path) in schema_files(&dir)? {
            let version = stem.parse().map_err(|e| Error::BadVersionIn {
                path: path.clone(),
                source: Box::new(e),
            })?;
            let doc = read_json(&path)?;
            let declared = declared_version(&doc).and_then(Result::ok);
            out.push(ReleasedSchema {
                path,
                doc,
                version,
                declared,
            });
        }
        out.sort_by_key(|r| r.version);
        Ok(out)
    }
}

/// The document's `x-schema-version`: `None` when absent or not a string.
fn declared_version(doc: &Value) -> Option<Result<SchemaVersion, Error>> {
    doc.get(VERSION_KEY)?.as_str().map(str::parse)
}

/// `(stem, path)` of every `*.schema.json` file directly in `dir`, sorted.
fn schema_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut out = Vec::new();
    for path in read_dir(dir)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some(stem) = name.strip_suffix(SUFFIX) {
            if path.is_file() {
                out.push((stem.to_owned(), path.clone()));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect()
}

/// Reads and parses a JSON file.
pub(crate) fn read_json(path: &Path) -> Result<Value, Error> {
    let text = fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::Json {
        path: path.to_owned(),
        source,
    })
}
