//! Object keywords: properties, required, additionalProperties and relatives.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::keywords::{show, Ptr};
use super::{DiffError, Differ};
use crate::ChangeKind::*;

type Obj = Map<String, Value>;

/// Keywords holding one subschema whose absence means `true`.
const OPEN_SUBSCHEMAS: &[&str] = &[
    "additionalProperties",
    "unevaluatedProperties",
    "propertyNames",
];

/// Keywords holding a map of name -> subschema whose absent entries mean `true`.
const SUBSCHEMA_MAPS: &[&str] = &["patternProperties", "dependentSchemas"];

impl Differ<'_> {
    pub(super) fn object(&mut self, path: &Ptr, old: &Obj, new: &Obj) -> Result<(), DiffError> {
        self.properties(path, old, new)?;
        for kw in OPEN_SUBSCHEMAS {
            self.subschema(&path.key(kw), old.get(*kw), new.get(*kw))?;
        }
        for kw in SUBSCHEMA_MAPS {
            let (o, n) = (map_of(old, kw), map_of(new, kw));
            for name in union(o, n) {
                let at = path.key(kw).key(name);
                self.subschema(&at, o.get(name), n.get(name))?;
            }
        }
        self.dependent_required(path, old, new);
        Ok(())
    }

    /// `properties` and `required` together, so that an added required property is one change.
    fn properties(&mut self, path: &Ptr, old: &Obj, new: &Obj) -> Result<(), DiffError> {
        let (op, np) = (map_of(old, "properties"), map_of(new, "properties"));
        let (or, nr) = (names(old.get("required")), names(new.get("required")));
        for name in union(op, np) {
            let at = path.key("properties").key(name);
            match (op.get(name), np.get(name)) {
                (Some(_), None) => self.push(&at, RemovedProperty, "removed"),
                (None, Some(schema)) if or.contains(name.as_str()) => {
                    // already required without a definition: the definition can only restrict
                    self.node(&at, &Value::Bool(true), schema)?;
                }
                (None, Some(_)) if nr.contains(name.as_str()) => {
                    self.push(&at, AddedRequiredProperty, "added (required)")
                }
                (None, Some(_)) if closed(old) => self.push(
                    &at,
                    AddedPropertyToClosedObject,
                    "added (the old schema constrained undeclared properties)",
                ),
                (None, Some(_)) => self.push(&at, AddedOptionalProperty, "added"),
                (Some(o), Some(n)) => self.node(&at, o, n)?,
                (None, None) => {}
            }
        }
        let at = path.key("required");
        for name in nr.difference(&or) {
            let newly_defined = np.contains_key(*name) && !op.contains_key(*name);
            if !newly_defined {
                self.push(&at, NewlyRequired, format!("{name:?} added"));
            }
        }
        for name in or.difference(&nr) {
            let removed = op.contains_key(*name) && !np.contains_key(*name);
            if !removed {
                self.push(&at, NoLongerRequired, format!("{name:?} removed"));
            }
        }
        Ok(())
    }

    fn dependent_required(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        let (o, n) = (
            map_of(old, "dependentRequired"),
            map_of(new, "dependentRequired"),
        );
        for name in union(o, n) {
            let (before, after) = (names(o.get(name)), names(n.get(name)));
            if before == after {
                continue;
            }
            let at = path.key("dependentRequired").key(name);
            let detail = format!("{} -> {}", show(o.get(name)), show(n.get(name)));
            let kind = if after.is_superset(&before) {
                TightenedConstraint
            } else if before.is_superset(&after) {
                LoosenedConstraint
            } else {
                TightenedConstraint // some names added, some removed
            };
            self.push(&at, kind, detail);
        }
    }
}

/// Whether an object schema constrains the properties it does not declare, so that an old
/// consumer may refuse an event carrying a property added later: `additionalProperties` or
/// `unevaluatedProperties` other than `true`/`{}`, or any `patternProperties`.
fn closed(schema: &Obj) -> bool {
    let open = |v: Option<&Value>| match v {
        None | Some(Value::Bool(true)) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(_) => false,
    };
    !open(schema.get("additionalProperties"))
        || !open(schema.get("unevaluatedProperties"))
        || !map_of(schema, "patternProperties").is_empty()
}

/// The object under `kw`, or an empty one.
pub(super) fn map_of<'m>(schema: &'m Obj, kw: &str) -> &'m Obj {
    static EMPTY: std::sync::OnceLock<Obj> = std::sync::OnceLock::new();
    match schema.get(kw) {
        Some(Value::Object(map)) => map,
        _ => EMPTY.get_or_init(Obj::new),
    }
}

/// The union of two objects' keys, sorted.
pub(super) fn union<'m>(a: &'m Obj, b: &'m Obj) -> BTreeSet<&'m String> {
    a.keys().chain(b.keys()).collect()
}

/// A `required`-style array of names as a set.
fn names(v: Option<&Value>) -> BTreeSet<&str> {
    match v {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => BTreeSet::new(),
    }
}
