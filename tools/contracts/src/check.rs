//! The check: each working schema against its latest release and against every other release of
//! its MAJOR.
//!
//! Consumers of any MINOR of a MAJOR must accept what producers of the working version send
//! (`contracts/README.md`, FULL compatibility), so comparing with the newest release is not
//! enough: a release made by hand, or under older rules, can sit between an old consumer and the
//! working schema. [`Scope::EveryReleaseOfMajor`] (the default) compares the working schema with
//! each of them and names the release it breaks.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::layout::{Layout, ReleasedSchema, WorkingSchema, VERSION_KEY};
use crate::{diff_schemas, required_bump, Bump, Change, Error, SchemaVersion, Step};

/// Why a topic fails the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The version went up, but less than the changes need.
    BumpTooSmall {
        /// The bump the changes need.
        required: Bump,
        /// The latest released version.
        from: SchemaVersion,
        /// The working version.
        to: SchemaVersion,
        /// The bump that was made.
        step: Step,
    },
    /// The working version is lower than the latest release.
    VersionLowered {
        /// The latest released version.
        from: SchemaVersion,
        /// The working version.
        to: SchemaVersion,
    },
    /// The schema differs from the release with the same version.
    NotBumped {
        /// The unchanged version.
        version: SchemaVersion,
        /// The bump the changes need.
        required: Bump,
    },
    /// A release file's `x-schema-version` is not the version in its file name.
    ReleaseNameMismatch {
        /// The release file.
        path: PathBuf,
        /// The version in its file name.
        version: SchemaVersion,
        /// The version it declares (`None`: missing or invalid).
        declared: Option<SchemaVersion>,
    },
    /// Two release files stand for the same version number but differ.
    DuplicateRelease {
        /// The version number.
        version: SchemaVersion,
        /// One file.
        first: PathBuf,
        /// The other file.
        second: PathBuf,
    },
    /// The topic has releases but no working schema any more.
    WorkingMissing {
        /// The latest released version.
        latest: SchemaVersion,
    },
    /// The working schema passes against the latest release but not against an older release
    /// of the same MAJOR: consumers built with that release drop what producers send.
    BreaksRelease {
        /// The older release it breaks.
        release: SchemaVersion,
        /// The working version.
        to: SchemaVersion,
        /// The bump the changes since that release need.
        required: Bump,
        /// The step from that release to the working version.
        step: Step,
        /// The changes since that release.
        changes: Vec<Change>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::BumpTooSmall {
                required,
                from,
                to,
                step,
            } => write!(
                f,
                "the changes need {required} but version {from} -> {to} is {step}"
            ),
            Problem::VersionLowered { from, to } => {
                write!(f, "version {to} is lower than the latest release {from}")
            }
            Problem::NotBumped { version, required } => write!(
                f,
                "the schema changed (needs {required}) but version {version} was not bumped"
            ),
            Problem::ReleaseNameMismatch {
                path,
                version,
                declared,
            } => {
                let declared = declared.map_or("no valid version".to_owned(), |d| d.to_string());
                write!(
                    f,
                    "{} is named {version} but declares {VERSION_KEY} {declared}",
                    path.display()
                )
            }
            Problem::DuplicateRelease {
                version,
                first,
                second,
            } => write!(
                f,
                "{} and {} both stand for version {version} but differ",
                first.display(),
                second.display()
            ),
            Problem::WorkingMissing { latest } => write!(
                f,
                "released (latest {latest}) but the working schema is missing; removing a topic \
                 breaks its consumers"
            ),
            Problem::BreaksRelease {
                release,
                to,
                required,
                step,
                ..
            } => write!(
                f,
                "breaks release {release}: the changes since {release} need {required} but \
                 version {release} -> {to} is {step}"
            ),
        }
    }
}

/// The result of checking one topic.
#[derive(Debug, Clone)]
pub struct TopicReport {
    /// The topic.
    pub topic: String,
    /// The working schema's version (`None`: no working schema).
    pub working: Option<SchemaVersion>,
    /// The latest released version (`None`: unreleased).
    pub latest: Option<SchemaVersion>,
    /// The changes from the latest release to the working schema.
    pub changes: Vec<Change>,
    /// Why the topic fails; empty when it passes.
    pub problems: Vec<Problem>,
}

impl TopicReport {
    /// Whether the topic passes.
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// The bump the changes need (`None`: no changes).
    pub fn required(&self) -> Option<Bump> {
        required_bump(&self.changes)
    }

    /// The step from the latest release to the working version.
    pub fn step(&self) -> Option<Step> {
        Some(self.working?.step_from(&self.latest?))
    }

    /// Whether the working schema is exactly its latest release.
    pub fn is_released(&self) -> bool {
        self.step() == Some(Step::Same) && self.changes.is_empty()
    }

    /// The report as text: one line per change, one per problem, and a summary line.
    pub fn lines(&self) -> Vec<String> {
        let t = &self.topic;
        let mut out = Vec::new();
        let version_note = match (self.latest, self.working, self.step()) {
            (Some(from), Some(to), Some(step)) => format!(", version {from} -> {to} is {step}"),
            _ => String::new(),
        };
        for change in &self.changes {
            out.push(format!("{t}: {change}{version_note}"));
        }
        for problem in &self.problems {
            if let Problem::BreaksRelease {
                release,
                changes,
                step,
                ..
            } = problem
            {
                // the changes the step does not cover: why the release breaks
                for change in changes.iter().filter(|c| !step.satisfies(Some(c.bump()))) {
                    out.push(format!("{t}: since {release}: {change}"));
                }
            }
            out.push(format!("{t}: error: {problem}"));
        }
        let need = self
            .required()
            .map_or("nothing".to_owned(), |b| b.to_string());
        let state = match (self.latest, self.working, self.step()) {
            (None, Some(v), _) => format!("{v} unreleased"),
            (Some(l), None, _) => format!("latest release {l}, no working schema"),
            (_, _, Some(Step::Same)) if self.is_released() => {
                format!(
                    "{} released, unchanged",
                    self.latest.unwrap_or(SchemaVersion::new(0, 0, 0))
                )
            }
            (Some(l), Some(w), Some(step)) => {
                format!("version {l} -> {w} is {step}, changes need {need}")
            }
            _ => String::new(),
        };
        let verdict = if self.passed() { "ok" } else { "FAIL" };
        out.push(format!("{t}: {verdict}, {state}"));
        out
    }
}

/// The result of checking a contracts directory.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// One report per topic, sorted by topic.
    pub topics: Vec<TopicReport>,
}

impl CheckReport {
    /// Whether every topic passes.
    pub fn passed(&self) -> bool {
        self.topics.iter().all(TopicReport::passed)
    }

    /// The report as text, ending with a totals line.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.topics.iter().flat_map(TopicReport::lines).collect();
        let failed = self.topics.iter().filter(|t| !t.passed()).count();
        out.push(format!(
            "checked {} topic(s): {} ok, {failed} failed",
            self.topics.len(),
            self.topics.len() - failed
        ));
        out
    }
}

/// Which releases a working schema is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// The latest release only (kept to show what checking every release adds: the
    /// transitive pairs the latest one misses).
    LatestOnly,
    /// The latest release and every other release of the working schema's MAJOR (the default).
    #[default]
    EveryReleaseOfMajor,
}

/// Checks every working schema in `dir` against its latest release and every other release of
/// its MAJOR (and every released topic for a working schema).
pub fn check_dir(dir: &Path) -> Result<CheckReport, Error> {
    check_dir_in(dir, Scope::default())
}

/// [`check_dir`] comparing with the releases `scope` selects.
pub fn check_dir_in(dir: &Path, scope: Scope) -> Result<CheckReport, Error> {
    let layout = Layout::new(dir);
    let working = layout.working()?;
    if working.is_empty() {
        return Err(Error::NoSchemas(dir.to_owned()));
    }
    let mut topics: BTreeSet<String> = working.iter().map(|w| w.topic.clone()).collect();
    topics.extend(layout.released_topics()?);
    let mut reports = Vec::new();
    for topic in topics {
        let current = working.iter().find(|w| w.topic == topic);
        let releases = layout.releases(&topic)?;
        reports.push(check_topic(&topic, current, &releases, scope)?);
    }
    Ok(CheckReport { topics: reports })
}

/// Checks a `working` schema document against one `released` document, in memory (the versions
/// are their `x-schema-version`s). The same rules as [`check_dir`].
pub fn evaluate(topic: &str, released: &Value, working: &Value) -> Result<TopicReport, Error> {
    let version = |doc: &Value, name: &str| -> Result<SchemaVersion, Error> {
        let path = PathBuf::from(name);
        let text = doc
            .get(VERSION_KEY)
            .and_then(Value::as_str)
            .ok_or_else(|| Error::MissingVersion { path: path.clone() })?;
        text.parse().map_err(|e| Error::BadVersionIn {
            path,
            source: Box::new(e),
        })
    };
    let release_version = version(released, "released schema")?;
    let release = ReleasedSchema {
        path: PathBuf::from(format!("released {release_version}")),
        doc: released.clone(),
        version: release_version,
        declared: Some(release_version),
    };
    let working = WorkingSchema {
        topic: topic.to_owned(),
        path: PathBuf::from("working schema"),
        version: version(working, "working schema")?,
        doc: working.clone(),
    };
    check_topic(topic, Some(&working), &[release], Scope::LatestOnly)
}

/// Checks one topic; `releases` sorted by version.
fn check_topic(
    topic: &str,
    working: Option<&WorkingSchema>,
    releases: &[ReleasedSchema],
    scope: Scope,
) -> Result<TopicReport, Error> {
    let mut report = TopicReport {
        topic: topic.to_owned(),
        working: working.map(|w| w.version),
        latest: releases.last().map(|r| r.version),
        changes: Vec::new(),
        problems: release_integrity(releases),
    };
    let (Some(working), Some(latest)) = (working, releases.last()) else {
        if let (None, Some(latest)) = (working, report.latest) {
            report.problems.push(Problem::WorkingMissing { latest });
        }
        return Ok(report);
    };
    report.changes = diff_schemas(&latest.doc, &working.doc).map_err(|source| Error::Diff {
        context: format!(
            "{topic}: {} -> {}",
            latest.path.display(),
            working.path.display()
        ),
        source,
    })?;
    let (from, to) = (latest.version, working.version);
    let required = report.required();
    if scope == Scope::EveryReleaseOfMajor && to > from {
        let older = &releases[..releases.len() - 1];
        for release in older.iter().filter(|r| r.version.major == to.major) {
            if let Some(problem) = against_older(topic, release, working)? {
                report.problems.push(problem);
            }
        }
    }
    match to.step_from(&from) {
        Step::Lower => report.problems.push(Problem::VersionLowered { from, to }),
        Step::Same => {
            if let Some(required) = required {
                report.problems.push(Problem::NotBumped {
                    version: to,
                    required,
                });
            }
        }
        step @ Step::Up(_) => {
            if let (false, Some(required)) = (step.satisfies(required), required) {
                report.problems.push(Problem::BumpTooSmall {
                    required,
                    from,
                    to,
                    step,
                });
            }
        }
    }
    Ok(report)
}

/// The working schema against an older release of its MAJOR: a [`Problem::BreaksRelease`] when
/// the step from that release is smaller than the changes since it need.
fn against_older(
    topic: &str,
    release: &ReleasedSchema,
    working: &WorkingSchema,
) -> Result<Option<Problem>, Error> {
    let changes = diff_schemas(&release.doc, &working.doc).map_err(|source| Error::Diff {
        context: format!(
            "{topic}: {} -> {}",
            release.path.display(),
            working.path.display()
        ),
        source,
    })?;
    let required = required_bump(&changes);
    let step = working.version.step_from(&release.version);
    Ok(match (step.satisfies(required), required) {
        (false, Some(required)) => Some(Problem::BreaksRelease {
            release: release.version,
            to: working.version,
            required,
            step,
            changes,
        }),
        _ => None,
    })
}

/// Release files must declare the version in their name, and no two files may stand for the
/// same version with different content.
fn release_integrity(releases: &[ReleasedSchema]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for r in releases {
        if r.declared != Some(r.version) {
            problems.push(Problem::ReleaseNameMismatch {
                path: r.path.clone(),
                version: r.version,
                declared: r.declared,
            });
        }
    }
    for (i, a) in releases.iter().enumerate() {
        for b in &releases[i + 1..] {
            let numbers_a = [Some(a.version), a.declared];
            let shared = [Some(b.version), b.declared]
                .into_iter()
                .flatten()
                .find(|v| numbers_a.contains(&Some(*v)));
            if let (Some(version), true) = (shared, a.doc != b.doc) {
                problems.push(Problem::DuplicateRelease {
                    version,
                    first: a.path.clone(),
                    second: b.path.clone(),
                });
            }
        }
    }
    problems
}
