//! The recursive schema differ.
//!
//! It walks the old and the new schema side by side and reports every difference as a [`Change`].
//! Keywords are grouped by what they do to the set of valid instances:
//! [`values`] (type, enum/const, numeric and string constraints, annotations), [`object`]
//! (properties, required, additionalProperties, ...) and [`applicator`] (items, allOf/anyOf/oneOf,
//! not, if/then/else, `$defs`). Local `$ref`s (`#...`) are followed when the two sides reference
//! different targets (or only one side uses a `$ref`); identical `$ref`s are not followed because
//! the referenced `$defs` entry is compared where it is defined, so each change is reported once.

mod applicator;
mod keywords;
mod object;
mod values;

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::{Change, ChangeKind, VERSION_KEY};
use keywords::{is_known, show, Ptr};

/// Why two schemas could not be compared.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// A (sub)schema is neither an object nor a boolean.
    #[error("{at}: a schema must be an object or a boolean")]
    NotASchema {
        /// JSON pointer of the bad value.
        at: String,
    },
    /// A local `$ref` points at nothing.
    #[error("{at}: $ref {reference:?} does not resolve in the {side} schema")]
    UnresolvedRef {
        /// JSON pointer of the schema holding the `$ref`.
        at: String,
        /// The reference.
        reference: String,
        /// "old" or "new".
        side: &'static str,
    },
}

/// Compares an `old` schema document with a `new` one and classifies every change.
///
/// The top-level `x-schema-version` is ignored. If the documents differ only in ways that do not
/// touch any keyword (a reordered enum, an inline schema moved behind a `$ref`), one
/// [`ChangeKind::NoValidationEffect`] change is reported, so a changed document always needs at
/// least a PATCH bump.
pub fn diff_schemas(old: &Value, new: &Value) -> Result<Vec<Change>, DiffError> {
    let old = strip_version(old);
    let new = strip_version(new);
    let mut differ = Differ {
        old_root: &old,
        new_root: &new,
        following: HashSet::new(),
        changes: Vec::new(),
    };
    differ.node(&Ptr::root(), &old, &new)?;
    let mut changes = differ.changes;
    if changes.is_empty() && old != new {
        changes.push(Change::new(
            "",
            ChangeKind::NoValidationEffect,
            "document changed",
        ));
    }
    Ok(changes)
}

fn strip_version(doc: &Value) -> Value {
    let mut doc = doc.clone();
    if let Value::Object(map) = &mut doc {
        map.remove(VERSION_KEY);
    }
    doc
}

/// Walk state: the two roots (for `$ref`), the `$ref` pairs being followed (cycle guard), and the
/// changes found so far.
struct Differ<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    following: HashSet<(String, String)>,
    changes: Vec<Change>,
}

static TRUE: Value = Value::Bool(true);

impl Differ<'_> {
    fn push(&mut self, path: &Ptr, kind: ChangeKind, detail: impl Into<String>) {
        self.changes.push(Change::new(path.as_str(), kind, detail));
    }

    /// Compares two (sub)schemas at `path`.
    fn node(&mut self, path: &Ptr, old: &Value, new: &Value) -> Result<(), DiffError> {
        if old == new {
            return Ok(());
        }
        let is_false = |v: &Value| matches!(v, Value::Bool(false));
        if is_false(new) {
            self.push(
                path,
                ChangeKind::TightenedConstraint,
                format!("{} -> false", schema_word(old)),
            );
            return Ok(());
        }
        if is_false(old) {
            self.push(
                path,
                ChangeKind::LoosenedConstraint,
                format!("false -> {}", schema_word(new)),
            );
            return Ok(());
        }
        let old_map = as_map(path, old)?;
        let new_map = as_map(path, new)?;
        let old_ref = old_map.get("$ref").and_then(Value::as_str);
        let new_ref = new_map.get("$ref").and_then(Value::as_str);
        if old_ref != new_ref {
            return self.refs_differ(path, &old_map, &new_map, old_ref, new_ref);
        }
        self.keywords(path, &old_map, &new_map)
    }

    /// The two sides reference different targets (or one side is inline): compare what they
    /// resolve to, at the referencing path.
    fn refs_differ(
        &mut self,
        path: &Ptr,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
        old_ref: Option<&str>,
        new_ref: Option<&str>,
    ) -> Result<(), DiffError> {
        let external = |r: Option<&str>| r.is_some_and(|r| !r.starts_with('#'));
        if external(old_ref) || external(new_ref) {
            self.push(
                &path.key("$ref"),
                ChangeKind::Unclassified,
                format!(
                    "{} -> {} (external reference, not compared)",
                    show(old.get("$ref")),
                    show(new.get("$ref"))
                ),
            );
            let mut old = old.clone();
            let mut new = new.clone();
            old.remove("$ref");
            new.remove("$ref");
            return self.keywords(path, &old, &new);
        }
        let key = (
            old_ref.unwrap_or_default().to_owned(),
            new_ref.unwrap_or_default().to_owned(),
        );
        if !self.following.insert(key.clone()) {
            return Ok(()); // this pair of targets is already being compared further up
        }
        let old_eff = expand(path, old, self.old_root, "old")?;
        let new_eff = expand(path, new, self.new_root, "new")?;
        let result = self.node(path, &old_eff, &new_eff);
        self.following.remove(&key);
        result
    }

    /// Compares the keywords of two object schemas.
    fn keywords(
        &mut self,
        path: &Ptr,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Result<(), DiffError> {
        self.values(path, old, new);
        self.object(path, old, new)?;
        self.applicators(path, old, new)?;
        let mut seen = HashSet::new();
        for key in old.keys().chain(new.keys()) {
            if is_known(key) || !seen.insert(key) || old.get(key) == new.get(key) {
                continue;
            }
            let detail = format!("{} -> {}", show(old.get(key)), show(new.get(key)));
            self.push(&path.key(key), ChangeKind::Unclassified, detail);
        }
        Ok(())
    }

    /// Compares a subschema-valued keyword whose absence means `true` (additionalProperties,
    /// items, propertyNames, ...).
    fn subschema(
        &mut self,
        path: &Ptr,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Result<(), DiffError> {
        match (old, new) {
            (None, None) => Ok(()),
            (None, Some(Value::Bool(false))) => {
                self.push(path, ChangeKind::TightenedConstraint, "absent -> false");
                Ok(())
            }
            (Some(Value::Bool(false)), None) => {
                self.push(path, ChangeKind::LoosenedConstraint, "false -> absent");
                Ok(())
            }
            _ => self.node(path, old.unwrap_or(&TRUE), new.unwrap_or(&TRUE)),
        }
    }
}

/// `true` as an empty object schema; other objects as they are.
fn as_map<'v>(path: &Ptr, schema: &'v Value) -> Result<Cow<'v, Map<String, Value>>, DiffError> {
    match schema {
        Value::Object(map) => Ok(Cow::Borrowed(map)),
        Value::Bool(true) => Ok(Cow::Owned(Map::new())),
        _ => Err(DiffError::NotASchema {
            at: path.as_str().to_owned(),
        }),
    }
}

fn schema_word(v: &Value) -> &'static str {
    match v {
        Value::Bool(true) => "true",
        Value::Bool(false) => "false",
        _ => "schema",
    }
}

/// Replaces a local `$ref` by its target, keeping the sibling keywords (siblings win on a clash,
/// a best-effort merge of what 2020-12 evaluates as both).
fn expand(
    path: &Ptr,
    schema: &Map<String, Value>,
    root: &Value,
    side: &'static str,
) -> Result<Value, DiffError> {
    let Some(reference) = schema.get("$ref").and_then(Value::as_str) else {
        return Ok(Value::Object(schema.clone()));
    };
    let target = resolve(root, reference).ok_or_else(|| DiffError::UnresolvedRef {
        at: path.as_str().to_owned(),
        reference: reference.to_owned(),
        side,
    })?;
    let siblings = schema.iter().filter(|(k, _)| *k != "$ref");
    match target {
        Value::Object(target) => {
            let mut merged = target.clone();
            merged.extend(siblings.map(|(k, v)| (k.clone(), v.clone())));
            Ok(Value::Object(merged))
        }
        Value::Bool(true) => Ok(Value::Object(
            siblings.map(|(k, v)| (k.clone(), v.clone())).collect(),
        )),
        other => Ok(other.clone()),
    }
}

/// Resolves a local reference: `#` or a JSON pointer fragment `#/...`.
fn resolve<'r>(root: &'r Value, reference: &str) -> Option<&'r Value> {
    let fragment = reference.strip_prefix('#')?;
    if fragment.is_empty() {
        return Some(root);
    }
    if !fragment.starts_with('/') {
        return None; // plain-name anchors are not supported
    }
    root.pointer(&fragment.replace("%25", "%"))
}
