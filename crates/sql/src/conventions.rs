//! Test helpers (feature `testing`): the conventions every statement keeps, checked the same
//! way in every crate's statement tests.

use serde_json::Value;

use crate::Statement;

/// `$n` placeholders in order of appearance, with the text right after each.
pub fn placeholders(sql: &str) -> Vec<(usize, String)> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j > start {
                let n = sql[start..j].parse().unwrap();
                let rest: String = sql[j..].chars().take(24).collect();
                out.push((n, rest));
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// Asserts the invariants of every statement: each placeholder is `$n::text...`, every parameter is used,
/// parameters are strings or null, and the result is one JSON text column.
pub fn check(st: &Statement) {
    let ph = placeholders(&st.sql);
    assert!(!st.params.is_empty() || ph.is_empty());
    for (n, rest) in &ph {
        assert!(
            rest.starts_with("::text"),
            "${n} not cast from text: ${n}{rest}"
        );
        assert!(
            *n >= 1 && *n <= st.params.len(),
            "${n} out of range in {}",
            st.sql
        );
    }
    for n in 1..=st.params.len() {
        assert!(ph.iter().any(|(m, _)| *m == n), "parameter ${n} unused");
    }
    for p in &st.params {
        assert!(
            p.is_string() || p.is_null(),
            "parameter {p} is not text or null"
        );
    }
    assert!(st.sql.trim_end().ends_with("::text") || st.sql.contains(")::text FROM"));
    assert!(st.sql.contains("jsonb_build_object("));
}

/// The parameter bound to the placeholder right after `prefix` in the SQL.
pub fn param_after<'a>(st: &'a Statement, prefix: &str) -> &'a Value {
    let at = st
        .sql
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} not in {}", st.sql));
    let (n, _) = placeholders(&st.sql[at + prefix.len()..])[0].clone();
    &st.params[n - 1]
}
