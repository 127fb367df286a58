//! Rules for single fields shared by create and update.

use crate::problem::{pointer, ValidationErrors};
use crate::recurrence::Recurrence;
use crate::task::{DESCRIPTION_MAX, TAGS_MAX, TAG_MAX, TITLE_MAX};

/// PostgreSQL text cannot hold U+0000; refuse it in every string.
pub(crate) fn has_nul(s: &str) -> bool {
    s.contains('\0')
}

/// The trimmed title, 1 to 200 characters.
pub(crate) fn title(raw: &str, at: &str, errors: &mut ValidationErrors) -> Option<String> {
    let t = raw.trim();
    let n = t.chars().count();
    if n == 0 {
        errors.push(at, "must not be empty");
        None
    } else if n > TITLE_MAX {
        errors.push(at, format!("at most {TITLE_MAX} characters (got {n})"));
        None
    } else if has_nul(t) {
        errors.push(at, "must not contain U+0000");
        None
    } else {
        Some(t.to_owned())
    }
}

/// The description as given, at most 4000 characters; empty or blank becomes `None`.
pub(crate) fn description(
    raw: &str,
    at: &str,
    errors: &mut ValidationErrors,
) -> Option<Option<String>> {
    let n = raw.chars().count();
    if n > DESCRIPTION_MAX {
        errors.push(
            at,
            format!("at most {DESCRIPTION_MAX} characters (got {n})"),
        );
        None
    } else if has_nul(raw) {
        errors.push(at, "must not contain U+0000");
        None
    } else if raw.trim().is_empty() {
        Some(None)
    } else {
        Some(Some(raw.to_owned()))
    }
}

/// Normalised tags: each trimmed and lower-cased, 1 to 50 characters, duplicates dropped (first
/// kept, order kept), at most 20 after that. Errors point at the input index (`/tags/3`).
pub(crate) fn tags(raw: &[String], at: &str, errors: &mut ValidationErrors) -> Option<Vec<String>> {
    let before = errors.errors.len();
    let mut out: Vec<String> = Vec::new();
    for (i, tag) in raw.iter().enumerate() {
        let t = tag.trim().to_lowercase();
        let n = t.chars().count();
        let here = pointer(at, i);
        if n == 0 {
            errors.push(here, "must not be empty");
        } else if n > TAG_MAX {
            errors.push(here, format!("at most {TAG_MAX} characters (got {n})"));
        } else if has_nul(&t) {
            errors.push(here, "must not contain U+0000");
        } else if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > TAGS_MAX {
        errors.push(
            at,
            format!("at most {TAGS_MAX} distinct tags (got {})", out.len()),
        );
    }
    (errors.errors.len() == before).then_some(out)
}

/// A recurrence rule in canonical form; the error names the rule part.
pub(crate) fn recurrence(raw: &str, at: &str, errors: &mut ValidationErrors) -> Option<Recurrence> {
    match raw.parse::<Recurrence>() {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(at, e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_trimmed_lowercased_deduplicated_in_order() {
        let mut e = ValidationErrors::new();
        let raw: Vec<String> = [" Home", "work", "HOME ", "Ärger"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            tags(&raw, "/tags", &mut e).unwrap(),
            ["home", "work", "ärger"]
        );
        assert!(e.is_empty());
    }

    #[test]
    fn bad_tags_point_at_their_index() {
        let mut e = ValidationErrors::new();
        let raw: Vec<String> = vec!["ok".into(), "  ".into(), "x".repeat(51)];
        assert!(tags(&raw, "/tags", &mut e).is_none());
        assert!(e.has("/tags/1") && e.has("/tags/2"));
    }

    #[test]
    fn more_than_twenty_distinct_tags_are_refused_but_duplicates_do_not_count() {
        let mut e = ValidationErrors::new();
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(tags(&many, "/tags", &mut e).is_none());
        assert!(e.has("/tags"));
        let mut e = ValidationErrors::new();
        let dups: Vec<String> = (0..30).map(|i| format!("T{}", i % 20)).collect();
        assert_eq!(tags(&dups, "/tags", &mut e).unwrap().len(), 20);
    }

    #[test]
    fn title_is_trimmed_and_counted_in_characters() {
        let mut e = ValidationErrors::new();
        assert_eq!(title("  Buy milk ", "/title", &mut e).unwrap(), "Buy milk");
        assert_eq!(
            title(&"é".repeat(200), "/title", &mut e)
                .unwrap()
                .chars()
                .count(),
            200
        );
        assert!(title(&"é".repeat(201), "/title", &mut e).is_none());
        assert!(title("   ", "/title", &mut e).is_none());
        assert!(title("a\0b", "/title", &mut e).is_none());
        assert_eq!(e.errors.len(), 3);
    }

    #[test]
    fn description_limits() {
        let mut e = ValidationErrors::new();
        assert_eq!(description("", "/d", &mut e), Some(None));
        assert_eq!(
            description(&"x".repeat(4000), "/d", &mut e)
                .unwrap()
                .unwrap()
                .len(),
            4000
        );
        assert!(description(&"x".repeat(4001), "/d", &mut e).is_none());
        assert!(e.has("/d"));
    }
}
