//! Keyword tables and small helpers shared by the differ.

use serde_json::Value;

/// Lower bounds: a larger value is stricter. `(keyword, value meaning "no bound")`.
pub(super) const LOWER_BOUNDS: &[(&str, f64)] = &[
    ("minLength", 0.0),
    ("minItems", 0.0),
    ("minProperties", 0.0),
    ("minContains", 1.0),
];

/// Upper bounds: a smaller value is stricter.
pub(super) const UPPER_BOUNDS: &[&str] = &["maxLength", "maxItems", "maxProperties", "maxContains"];

/// Keywords whose addition or change restricts, and whose removal relaxes.
pub(super) const RESTRICTIONS: &[&str] =
    &["pattern", "format", "contentEncoding", "contentMediaType"];

/// Annotations: no effect on validation (PATCH). Keywords starting with `x-` count too.
pub(super) const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "examples",
    "$comment",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$id",
    "$anchor",
];

/// Every keyword some part of the differ handles; changes to any other keyword are reported as
/// unclassified (MAJOR).
const HANDLED: &[&str] = &[
    "$ref",
    "type",
    "enum",
    "const",
    "minimum",
    "exclusiveMinimum",
    "maximum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
    "properties",
    "required",
    "additionalProperties",
    "unevaluatedProperties",
    "patternProperties",
    "propertyNames",
    "dependentRequired",
    "dependentSchemas",
    "items",
    "prefixItems",
    "additionalItems",
    "unevaluatedItems",
    "contains",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "$defs",
    "definitions",
];

/// Whether `key` is handled by a specific rule (not the unclassified catch-all).
pub(super) fn is_known(key: &str) -> bool {
    is_annotation(key)
        || HANDLED.contains(&key)
        || RESTRICTIONS.contains(&key)
        || UPPER_BOUNDS.contains(&key)
        || LOWER_BOUNDS.iter().any(|(k, _)| *k == key)
}

/// Whether `key` is an annotation keyword.
pub(super) fn is_annotation(key: &str) -> bool {
    ANNOTATIONS.contains(&key) || key.starts_with("x-")
}

/// Renders a keyword value for a change detail: compact JSON, `absent` for a missing value,
/// shortened when long.
pub(super) fn show(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "absent".to_owned();
    };
    let text = value.to_string();
    if text.chars().count() <= 80 {
        return text;
    }
    let short: String = text.chars().take(77).collect();
    format!("{short}...")
}

/// A JSON pointer under construction.
#[derive(Debug, Clone)]
pub(super) struct Ptr(String);

impl Ptr {
    /// The document root, `""`.
    pub(super) fn root() -> Self {
        Ptr(String::new())
    }

    /// This pointer extended by one (escaped) reference token.
    pub(super) fn key(&self, token: &str) -> Self {
        let escaped = token.replace('~', "~0").replace('/', "~1");
        Ptr(format!("{}/{escaped}", self.0))
    }

    /// This pointer extended by an array index.
    pub(super) fn index(&self, i: usize) -> Self {
        Ptr(format!("{}/{i}", self.0))
    }

    /// The pointer text.
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}
