//! Keywords that apply subschemas: arrays (items, prefixItems, contains), combinators (allOf,
//! anyOf, oneOf, not, if/then/else) and `$defs`.

use serde_json::{Map, Value};

use super::keywords::{show, Ptr};
use super::object::{map_of, union};
use super::{DiffError, Differ};
use crate::ChangeKind::*;

type Obj = Map<String, Value>;

impl Differ<'_> {
    pub(super) fn applicators(
        &mut self,
        path: &Ptr,
        old: &Obj,
        new: &Obj,
    ) -> Result<(), DiffError> {
        self.items(path, old, new)?;
        for kw in ["additionalItems", "unevaluatedItems", "then", "else"] {
            self.subschema(&path.key(kw), old.get(kw), new.get(kw))?;
        }
        self.contains(path, old.get("contains"), new.get("contains"))?;
        for kw in ["allOf", "anyOf", "oneOf"] {
            self.combinator(path, kw, old.get(kw), new.get(kw))?;
        }
        for kw in ["not", "if"] {
            self.opaque(path, kw, old.get(kw), new.get(kw));
        }
        for kw in ["$defs", "definitions"] {
            self.definitions(path, kw, old, new)?;
        }
        Ok(())
    }

    /// `items` as one schema (2020-12) and tuples (`prefixItems`, or draft-07 `items` arrays).
    fn items(&mut self, path: &Ptr, old: &Obj, new: &Obj) -> Result<(), DiffError> {
        let (oi, ni) = (old.get("items"), new.get("items"));
        match (oi, ni) {
            (Some(Value::Array(o)), Some(Value::Array(n))) => self.tuple(path, "items", o, n)?,
            (Some(Value::Array(_)), _) | (_, Some(Value::Array(_))) => {
                let detail = format!("{} -> {}", show(oi), show(ni));
                self.push(&path.key("items"), Unclassified, detail);
            }
            _ => self.subschema(&path.key("items"), oi, ni)?,
        }
        let empty = Vec::new();
        let tuple = |m: &Obj| match m.get("prefixItems") {
            Some(Value::Array(a)) => a.clone(),
            _ => empty.clone(),
        };
        self.tuple(path, "prefixItems", &tuple(old), &tuple(new))
    }

    fn tuple(
        &mut self,
        path: &Ptr,
        kw: &str,
        old: &[Value],
        new: &[Value],
    ) -> Result<(), DiffError> {
        for i in 0..old.len().max(new.len()) {
            let at = path.key(kw).index(i);
            match (old.get(i), new.get(i)) {
                (Some(o), Some(n)) => self.node(&at, o, n)?,
                (None, Some(_)) => self.push(&at, TightenedConstraint, "tuple item added"),
                (Some(_), None) => self.push(&at, LoosenedConstraint, "tuple item removed"),
                (None, None) => {}
            }
        }
        Ok(())
    }

    fn contains(
        &mut self,
        path: &Ptr,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Result<(), DiffError> {
        let at = path.key("contains");
        match (old, new) {
            (Some(o), Some(n)) => self.node(&at, o, n),
            (None, Some(_)) => {
                self.push(&at, TightenedConstraint, "absent -> schema");
                Ok(())
            }
            (Some(_), None) => {
                self.push(&at, LoosenedConstraint, "schema -> absent");
                Ok(())
            }
            (None, None) => Ok(()),
        }
    }

    /// `allOf`, `anyOf`, `oneOf`. Branches are paired best effort: equal branches first, then
    /// branches with the same identity (`$ref`, a property's `const`, `const`, `title`), then the
    /// rest in order. An unpaired new branch is an added alternative (MINOR) for anyOf/oneOf and a
    /// tightened constraint for allOf; an unpaired old branch the reverse.
    fn combinator(
        &mut self,
        path: &Ptr,
        kw: &str,
        old: Option<&Value>,
        new: Option<&Value>,
    ) -> Result<(), DiffError> {
        if old == new {
            return Ok(());
        }
        let at = path.key(kw);
        let all_of = kw == "allOf";
        let (o, n) = match (old, new) {
            (Some(Value::Array(o)), Some(Value::Array(n))) => (o.as_slice(), n.as_slice()),
            (None, Some(Value::Array(n))) if all_of => (&[][..], n.as_slice()),
            (Some(Value::Array(o)), None) if all_of => (o.as_slice(), &[][..]),
            (None, Some(_)) => {
                self.push(&at, TightenedConstraint, "added");
                return Ok(());
            }
            (Some(_), None) => {
                self.push(&at, LoosenedConstraint, "removed");
                return Ok(());
            }
            _ => {
                let detail = format!("{} -> {}", show(old), show(new));
                self.push(&at, Unclassified, detail);
                return Ok(());
            }
        };
        let (pairs, removed, added) = pair_branches(o, n);
        for (i, j) in pairs {
            self.node(&at.index(j), &o[i], &n[j])?;
        }
        for i in removed {
            let kind = if all_of {
                LoosenedConstraint
            } else {
                RemovedAlternative
            };
            self.push(&at.index(i), kind, format!("branch {i} removed"));
        }
        for j in added {
            let kind = if all_of {
                TightenedConstraint
            } else {
                AddedAlternative
            };
            self.push(&at.index(j), kind, format!("branch {j} added"));
        }
        Ok(())
    }

    /// `not` and `if`: any change is reported as unclassified (MAJOR), except adding `not`
    /// (tighter) and removing it (looser).
    fn opaque(&mut self, path: &Ptr, kw: &str, old: Option<&Value>, new: Option<&Value>) {
        if old == new {
            return;
        }
        let at = path.key(kw);
        match (kw, old, new) {
            ("not", None, Some(_)) => self.push(&at, TightenedConstraint, "added"),
            ("not", Some(_), None) => self.push(&at, LoosenedConstraint, "removed"),
            _ => self.push(&at, Unclassified, "subschema changed (not analysed)"),
        }
    }

    fn definitions(&mut self, path: &Ptr, kw: &str, old: &Obj, new: &Obj) -> Result<(), DiffError> {
        let (o, n) = (map_of(old, kw), map_of(new, kw));
        for name in union(o, n) {
            let at = path.key(kw).key(name);
            match (o.get(name), n.get(name)) {
                (Some(a), Some(b)) => self.node(&at, a, b)?,
                (Some(_), None) => self.push(&at, RemovedDefinition, "removed"),
                (None, Some(_)) => self.push(&at, AddedDefinition, "added"),
                (None, None) => {}
            }
        }
        Ok(())
    }
}

/// Pairs old and new branches; returns (pairs of (old, new) index, unpaired old, unpaired new).
fn pair_branches(old: &[Value], new: &[Value]) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut old_left: Vec<usize> = (0..old.len()).collect();
    let mut new_left: Vec<usize> = Vec::new();
    let mut pairs = Vec::new();
    // equal branches are unchanged: drop them from both sides
    for (j, branch) in new.iter().enumerate() {
        match old_left.iter().position(|&i| old[i] == *branch) {
            Some(pos) => {
                old_left.remove(pos);
            }
            None => new_left.push(j),
        }
    }
    // same identity
    new_left.retain(|&j| {
        let Some(id) = identity(&new[j]) else {
            return true;
        };
        match old_left
            .iter()
            .position(|&i| identity(&old[i]).as_ref() == Some(&id))
        {
            Some(pos) => {
                pairs.push((old_left.remove(pos), j));
                false
            }
            None => true,
        }
    });
    // the rest in order, but never two branches that both have (different) identities
    let mut removed = Vec::new();
    let mut added = Vec::new();
    let mut new_iter = new_left.into_iter().peekable();
    for i in old_left {
        match new_iter.peek() {
            Some(&j) if identity(&old[i]).is_none() || identity(&new[j]).is_none() => {
                pairs.push((i, j));
                new_iter.next();
            }
            _ => removed.push(i),
        }
    }
    added.extend(new_iter);
    (pairs, removed, added)
}

/// What a branch stands for: its `$ref`, the `const` of one of its properties (a discriminator
/// such as `"type": {"const": "task.created"}`), its `const`, or its `title`.
fn identity(branch: &Value) -> Option<String> {
    let map = branch.as_object()?;
    if let Some(r) = map.get("$ref").and_then(Value::as_str) {
        return Some(format!("$ref {r}"));
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        let discriminator = props
            .iter()
            .find_map(|(name, p)| Some((name, p.as_object()?.get("const")?)));
        if let Some((name, value)) = discriminator {
            return Some(format!("{name}={value}"));
        }
    }
    if let Some(c) = map.get("const") {
        return Some(format!("const {c}"));
    }
    map.get("title").map(|t| format!("title {t}"))
}
