//! The version policy: which `schema_version`s a consumer accepts.

use crate::event::Topic;
use crate::schema::EventSchema;

/// How an accepted event's `schema_version` relates to the version this build knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    /// Same MAJOR and MINOR as known (the PATCH may differ): fully understood.
    Current,
    /// Same MAJOR, newer MINOR: accepted (new fields are ignored) and counted as a mismatch.
    NewerMinor,
    /// Same MAJOR, older MINOR: accepted and counted as a mismatch.
    OlderMinor,
}

impl VersionStatus {
    /// Whether this is a version mismatch that is counted and logged.
    pub fn is_mismatch(self) -> bool {
        self != VersionStatus::Current
    }
}

/// A `schema_version` the consumer does not accept; the event is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// The event has no `schema_version`.
    #[error("schema_version is missing")]
    Missing,
    /// `schema_version` is not a `MAJOR.MINOR.PATCH` string.
    #[error("schema_version {0:?} is not a semantic version")]
    Invalid(String),
    /// The MAJOR version differs from the known one.
    #[error("schema_version {found} has an unknown MAJOR (this consumer knows {known})")]
    UnknownMajor {
        /// The event's version.
        found: String,
        /// The version the consumer knows (its schema's `x-schema-version`).
        known: String,
    },
}

/// A parsed `MAJOR.MINOR.PATCH` (pre-release and build parts are accepted and ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SemVer {
    /// MAJOR: incompatible changes.
    pub major: u64,
    /// MINOR: backward-compatible additions.
    pub minor: u64,
    /// PATCH: no change to what is valid.
    pub patch: u64,
}

impl SemVer {
    /// Parses `MAJOR.MINOR.PATCH[-pre][+build]`, without leading zeros; `None` if it is not one.
    pub fn parse(text: &str) -> Option<SemVer> {
        let (core, suffix) = match text.find(['-', '+']) {
            Some(i) => text.split_at(i),
            None => (text, ""),
        };
        let suffix_ok = suffix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+'));
        if suffix.len() == 1 || !suffix_ok {
            return None;
        }
        let mut parts = core.split('.');
        let mut number = || -> Option<u64> {
            let p = parts.next()?;
            let digits = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            if !digits || (p.len() > 1 && p.starts_with('0')) {
                return None;
            }
            p.parse().ok()
        };
        let version = SemVer {
            major: number()?,
            minor: number()?,
            patch: number()?,
        };
        parts.next().is_none().then_some(version)
    }
}

/// Applies the version policy of `topic` to an event's `schema_version`: any MINOR/PATCH of the
/// known MAJOR is accepted; a different MAJOR or a missing/invalid version is refused.
pub fn check_version(topic: Topic, version: Option<&str>) -> Result<VersionStatus, VersionError> {
    EventSchema::of(topic).check_version(version)
}

impl EventSchema {
    /// The version policy of a consumer built with this schema, applied to an event's
    /// `schema_version`: any MINOR/PATCH of the schema's MAJOR is accepted; a different MAJOR or
    /// a missing/invalid version is refused.
    pub fn check_version(&self, version: Option<&str>) -> Result<VersionStatus, VersionError> {
        policy(self.version(), version)
    }
}

fn policy(known_text: &str, version: Option<&str>) -> Result<VersionStatus, VersionError> {
    let text = version.ok_or(VersionError::Missing)?;
    let found = SemVer::parse(text).ok_or_else(|| VersionError::Invalid(text.to_owned()))?;
    let known = SemVer::parse(known_text).expect("a schema's version is checked when it is built");
    if found.major != known.major {
        return Err(VersionError::UnknownMajor {
            found: text.to_owned(),
            known: known_text.to_owned(),
        });
    }
    Ok(match found.minor.cmp(&known.minor) {
        std::cmp::Ordering::Equal => VersionStatus::Current,
        std::cmp::Ordering::Greater => VersionStatus::NewerMinor,
        std::cmp::Ordering::Less => VersionStatus::OlderMinor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // reminders is at 1.0.0 (task-events is at 1.1.0: `task_events_1_0_is_an_older_minor`)
    const T: Topic = Topic::Reminders;

    #[test]
    fn parses_semver() {
        let v = |major, minor, patch| {
            Some(SemVer {
                major,
                minor,
                patch,
            })
        };
        assert_eq!(SemVer::parse("1.0.0"), v(1, 0, 0));
        assert_eq!(SemVer::parse("12.34.56"), v(12, 34, 56));
        assert_eq!(SemVer::parse("1.2.0-rc.1"), v(1, 2, 0));
        assert_eq!(SemVer::parse("1.2.3+build.7"), v(1, 2, 3));
        for bad in [
            "", "1", "1.0", "1.0.0.0", "v1.0.0", "01.0.0", "1.00.0", "1.0.x", "1.0.0-", "1..0",
            " 1.0.0", "1.0.0 ", "garbage",
        ] {
            assert_eq!(SemVer::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn same_minor_is_current() {
        assert_eq!(check_version(T, Some("1.0.0")), Ok(VersionStatus::Current));
        assert_eq!(check_version(T, Some("1.0.9")), Ok(VersionStatus::Current));
        assert!(!VersionStatus::Current.is_mismatch());
    }

    #[test]
    fn newer_minor_is_accepted_as_mismatch() {
        assert_eq!(
            check_version(T, Some("1.3.0")),
            Ok(VersionStatus::NewerMinor)
        );
        assert_eq!(
            check_version(T, Some("1.1.0-rc.1")),
            Ok(VersionStatus::NewerMinor)
        );
        assert!(VersionStatus::NewerMinor.is_mismatch());
        assert!(VersionStatus::OlderMinor.is_mismatch());
    }

    #[test]
    fn task_events_1_0_is_an_older_minor() {
        let t = Topic::TaskEvents;
        assert_eq!(check_version(t, Some("1.1.0")), Ok(VersionStatus::Current));
        assert_eq!(
            check_version(t, Some("1.0.0")),
            Ok(VersionStatus::OlderMinor)
        );
        assert_eq!(
            check_version(t, Some("1.2.0")),
            Ok(VersionStatus::NewerMinor)
        );
    }

    #[test]
    fn unknown_major_is_refused() {
        for v in ["2.0.0", "0.9.0", "10.0.0"] {
            assert!(
                matches!(check_version(T, Some(v)), Err(VersionError::UnknownMajor { ref found, ref known }) if found == v && known == "1.0.0"),
                "{v}"
            );
        }
    }

    #[test]
    fn missing_or_garbage_version_is_refused() {
        assert_eq!(check_version(T, None), Err(VersionError::Missing));
        assert_eq!(
            check_version(T, Some("garbage")),
            Err(VersionError::Invalid("garbage".into()))
        );
        assert_eq!(
            check_version(T, Some("1.0")),
            Err(VersionError::Invalid("1.0".into()))
        );
    }
}
