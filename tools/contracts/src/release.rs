//! Copying a working schema that passes the check into `releases/`.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::layout::{read_json, Layout};
use crate::{check_dir, CheckReport, Error, SchemaVersion};

/// Which topics to release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every topic with a working schema.
    All,
    /// One topic.
    Topic(String),
}

/// What `release` did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    /// The working schema was copied to `path`.
    Released {
        /// The topic.
        topic: String,
        /// The released version.
        version: SchemaVersion,
        /// The new release file.
        path: PathBuf,
    },
    /// This version is already released with the same content: nothing to do.
    AlreadyReleased {
        /// The topic.
        topic: String,
        /// The version.
        version: SchemaVersion,
    },
    /// Nothing was released because a selected topic fails the check.
    Refused {
        /// The topic.
        topic: String,
        /// Whether this topic itself fails (otherwise another selected topic does).
        fails: bool,
    },
}

impl fmt::Display for ReleaseOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseOutcome::Released {
                topic,
                version,
                path,
            } => write!(f, "{topic}: released {version} as {}", path.display()),
            ReleaseOutcome::AlreadyReleased { topic, version } => {
                write!(f, "{topic}: {version} is already released, nothing to do")
            }
            ReleaseOutcome::Refused { topic, fails: true } => {
                write!(f, "{topic}: not released, the check fails")
            }
            ReleaseOutcome::Refused {
                topic,
                fails: false,
            } => write!(
                f,
                "{topic}: not released, another selected topic fails the check"
            ),
        }
    }
}

/// Runs the check and, when every selected topic passes, copies each selected working schema
/// whose version is not released yet to `releases/<topic>/<version>.schema.json`.
///
/// Returns the check report of the selected topics and one outcome per selected topic. When any
/// selected topic fails, nothing is copied and every selected topic is [`ReleaseOutcome::Refused`].
pub fn release(
    dir: &Path,
    selection: &Selection,
) -> Result<(CheckReport, Vec<ReleaseOutcome>), Error> {
    let layout = Layout::new(dir);
    let mut report = check_dir(dir)?;
    let working = layout.working()?;
    if let Selection::Topic(topic) = selection {
        if !working.iter().any(|w| &w.topic == topic) {
            return Err(Error::UnknownTopic(topic.clone()));
        }
        report.topics.retain(|t| &t.topic == topic);
    }
    if !report.passed() {
        let refused = report.topics.iter().map(|t| ReleaseOutcome::Refused {
            topic: t.topic.clone(),
            fails: !t.passed(),
        });
        let refused = refused.collect();
        return Ok((report, refused));
    }
    let mut outcomes = Vec::new();
    for w in working
        .iter()
        .filter(|w| report.topics.iter().any(|t| t.topic == w.topic))
    {
        let target = layout.release_path(&w.topic, &w.version);
        let (topic, version) = (w.topic.clone(), w.version);
        if target.exists() {
            if read_json(&target)? != w.doc {
                return Err(Error::ReleaseExists(target));
            }
            outcomes.push(ReleaseOutcome::AlreadyReleased { topic, version });
            continue;
        }
        let io = |source| Error::Io {
            path: target.clone(),
            source,
        };
        fs::create_dir_all(layout.releases_dir(&w.topic)).map_err(io)?;
        fs::copy(&w.path, &target).map_err(io)?;
        outcomes.push(ReleaseOutcome::Released {
            topic,
            version,
            path: target,
        });
    }
    Ok((report, outcomes))
}
