//! Schema versions (`MAJOR.MINOR.PATCH`) and the step between two of them.

use std::fmt;
use std::str::FromStr;

use crate::{Bump, Error};

/// A schema document's own version, `MAJOR.MINOR.PATCH` (no pre-release or build suffix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SchemaVersion {
    /// Incompatible changes.
    pub major: u64,
    /// Backwards-compatible additions.
    pub minor: u64,
    /// Changes without effect on validation.
    pub patch: u64,
}

impl SchemaVersion {
    /// A version from its three numbers.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// How this version relates to an `older` one.
    pub fn step_from(&self, older: &SchemaVersion) -> Step {
        if self < older {
            Step::Lower
        } else if self == older {
            Step::Same
        } else if self.major > older.major {
            Step::Up(Bump::Major)
        } else if self.minor > older.minor {
            Step::Up(Bump::Minor)
        } else {
            Step::Up(Bump::Patch)
        }
    }
}

impl FromStr for SchemaVersion {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || Error::InvalidVersion(s.to_owned());
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, Error> {
            let p = parts.next().ok_or_else(bad)?;
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if !digits || (p.len() > 1 && p.starts_with('0')) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = SchemaVersion::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The step from a released version to the working version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The working version is lower than the release.
    Lower,
    /// The version did not change.
    Same,
    /// The version went up; the bump is the highest component that increased.
    Up(Bump),
}

impl Step {
    /// Whether this step is at least the `required` bump (`None`: nothing required).
    pub fn satisfies(&self, required: Option<Bump>) -> bool {
        match (self, required) {
            (Step::Lower, _) => false,
            (_, None) => true,
            (Step::Same, Some(_)) => false,
            (Step::Up(have), Some(need)) => *have >= need,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Lower => f.write_str("a downgrade"),
            Step::Same => f.write_str("not bumped"),
            Step::Up(b) => b.fmt(f),
        }
    }
}
