//! The query string of a paged list (`GET /api/tasks`, `GET /api/audit`): its parameters by name,
//! each problem named for the 400 answer.

use std::collections::BTreeMap;

use todo_problem::ValidationErrors;

/// Query-string pairs by name, decoded (`+` is a space, `%xx` escapes).
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, Vec<String>>,
}

impl Params {
    /// The pairs of `query` (with or without its `?`) whose names are in `known`; every other
    /// name is an error ("unknown parameter").
    pub fn parse(query: &str, known: &[&str], errors: &mut ValidationErrors) -> Params {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            if !known.contains(&name.as_ref()) {
                let shown: String = name.chars().take(64).collect();
                if !errors.has(&shown) {
                    errors.push(shown, "unknown parameter");
                }
                continue;
            }
            map.entry(name.into_owned())
                .or_default()
                .push(value.into_owned());
        }
        Params { map }
    }

    /// The single value of `name`; more than one is an error.
    pub fn one(&self, name: &str, errors: &mut ValidationErrors) -> Option<&str> {
        match self.map.get(name).map(Vec::as_slice) {
            None | Some([]) => None,
            Some([v]) => Some(v.as_str()),
            Some(_) => {
                errors.push(name, "given more than once");
                None
            }
        }
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> &[String] {
        self.map.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// `limit`: an integer from 1 to `max`, `default` when absent (and after an error).
    pub fn limit(&self, default: u32, max: u32, errors: &mut ValidationErrors) -> u32 {
        match self.one("limit", errors) {
            None => default,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    errors.push("limit", format!("must be an integer from 1 to {max}"));
                    default
                }
            },
        }
    }

    /// The instant in `name`, read by `parse` (its error message names what is wrong). A `+` of
    /// the offset that form decoding turned into a space is restored first.
    pub fn instant<T>(
        &self,
        name: &str,
        errors: &mut ValidationErrors,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let raw = self.one(name, errors)?;
        match parse(raw) {
            Ok(t) => Some(t),
            Err(first) => match parse(&raw.replace(' ', "+")) {
                Ok(t) => Some(t),
                Err(_) => {
                    errors.push(name, first);
                    None
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_known_single_and_named_in_errors() {
        let mut errors = ValidationErrors::new();
        let p = Params::parse(
            "?a=1&b=2&b=3&zz=9&limit=500",
            &["a", "b", "limit"],
            &mut errors,
        );
        assert_eq!(p.one("a", &mut errors), Some("1"));
        assert_eq!(p.all("b"), ["2", "3"]);
        assert_eq!(p.one("b", &mut errors), None);
        assert_eq!(p.limit(20, 100, &mut errors), 20);
        assert!(
            errors.has("zz") && errors.has("b") && errors.has("limit"),
            "{errors:?}"
        );
        let mut errors = ValidationErrors::new();
        assert_eq!(
            Params::parse("limit=7", &["limit"], &mut errors).limit(20, 100, &mut errors),
            7
        );
        assert!(errors.is_empty());
    }

    #[test]
    fn an_offsets_plus_decoded_to_a_space_is_restored() {
        let mut errors = ValidationErrors::new();
        let p = Params::parse("from=2026-05-01T08:00:00+02:00", &["from"], &mut errors);
        let parse = |s: &str| {
            if s.ends_with("+02:00") {
                Ok(s.to_owned())
            } else {
                Err(format!("not an instant: {s}"))
            }
        };
        assert_eq!(
            p.instant("from", &mut errors, parse).as_deref(),
            Some("2026-05-01T08:00:00+02:00")
        );
        let p = Params::parse("from=yesterday", &["from"], &mut errors);
        assert_eq!(p.instant("from", &mut errors, parse), None);
        assert!(errors.has("from"));
    }
}
