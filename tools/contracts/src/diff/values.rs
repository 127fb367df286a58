//! Keywords about an instance's own value: type, enum/const, numeric and string constraints,
//! annotations.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use super::keywords::{is_annotation, show, Ptr, LOWER_BOUNDS, RESTRICTIONS, UPPER_BOUNDS};
use super::Differ;
use crate::ChangeKind::{self, *};

type Obj = Map<String, Value>;

/// Which side of a range a bound limits.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Lower,
    Upper,
}

impl Differ<'_> {
    pub(super) fn values(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        self.types(path, old, new);
        self.allowed_values(path, old, new);
        for (kw, none) in LOWER_BOUNDS {
            self.bound(
                path,
                kw,
                old.get(*kw),
                new.get(*kw),
                Side::Lower,
                Some(*none),
            );
        }
        for kw in UPPER_BOUNDS {
            self.bound(path, kw, old.get(*kw), new.get(*kw), Side::Upper, None);
        }
        self.range(path, old, new, ["minimum", "exclusiveMinimum"], Side::Lower);
        self.range(path, old, new, ["maximum", "exclusiveMaximum"], Side::Upper);
        for kw in RESTRICTIONS {
            self.restriction(path, kw, old.get(*kw), new.get(*kw));
        }
        self.multiple_of(path, old.get("multipleOf"), new.get("multipleOf"));
        self.unique_items(path, old, new);
        self.annotations(path, old, new);
    }

    fn types(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        let (o, n) = (old.get("type"), new.get("type"));
        if o == n {
            return;
        }
        let detail = format!("{} -> {}", show(o), show(n));
        let at = path.key("type");
        let kind = match (o.map(type_set), n.map(type_set)) {
            (None, _) => ChangedType, // any type -> some types
            (_, None) => WidenedType, // some types -> any type
            (Some(None), _) | (_, Some(None)) => Unclassified,
            (Some(Some(o)), Some(Some(n))) => {
                if o.iter().any(|t| !covers(&n, t)) {
                    ChangedType
                } else if n.iter().any(|t| !covers(&o, t)) {
                    WidenedType
                } else {
                    return; // e.g. "string" -> ["string"]
                }
            }
        };
        self.push(&at, kind, detail);
    }

    /// `enum` and `const` together: both restrict the instance to a list of values.
    fn allowed_values(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        let (oe, ne) = (old.get("enum"), new.get("enum"));
        let (oc, nc) = (old.get("const"), new.get("const"));
        if oe == ne && oc == nc {
            return;
        }
        if oe.is_none() && ne.is_none() && oc.is_some() && nc.is_some() {
            let detail = format!("{} -> {}", show(oc), show(nc));
            return self.push(&path.key("const"), ChangedConst, detail);
        }
        let keyword = |e: Option<&Value>, c: Option<&Value>| match (e, c) {
            (Some(_), _) => "enum",
            (None, Some(_)) => "const",
            (None, None) => "",
        };
        let kw = match keyword(ne, nc) {
            "" => keyword(oe, oc),
            kw => kw,
        };
        let at = path.key(kw);
        match (values_of(oe, oc), values_of(ne, nc)) {
            (None, None) => {}
            (None, Some(_)) => {
                let detail = format!("absent -> {}", show(new.get(kw)));
                self.push(&at, TightenedConstraint, detail);
            }
            (Some(_), None) => {
                let detail = format!("{} -> absent", show(old.get(kw)));
                self.push(&at, LoosenedConstraint, detail);
            }
            (Some(o), Some(n)) => {
                let removed: Vec<&Value> = o.iter().filter(|v| !n.contains(v)).collect();
                let added: Vec<&Value> = n.iter().filter(|v| !o.contains(v)).collect();
                if !removed.is_empty() {
                    self.push(&at, NarrowedEnum, format!("removed {}", list(&removed)));
                }
                if !added.is_empty() {
                    self.push(&at, WidenedEnum, format!("added {}", list(&added)));
                }
            }
        }
    }

    /// minLength/maxLength-style bounds on a count.
    fn bound(
        &mut self,
        path: &Ptr,
        kw: &str,
        old: Option<&Value>,
        new: Option<&Value>,
        side: Side,
        no_bound: Option<f64>,
    ) {
        if old == new {
            return;
        }
        let detail = format!("{} -> {}", show(old), show(new));
        let num = |v: Option<&Value>| v.map(Value::as_f64);
        let (o, n) = match (num(old), num(new)) {
            (Some(None), _) | (_, Some(None)) => {
                return self.push(&path.key(kw), Unclassified, detail);
            }
            (o, n) => (o.flatten().or(no_bound), n.flatten().or(no_bound)),
        };
        let kind = match (o, n) {
            (None, None) => return,
            (None, Some(_)) => TightenedConstraint,
            (Some(_), None) => LoosenedConstraint,
            (Some(o), Some(n)) if o == n => return,
            (Some(o), Some(n)) => tighter_if((n > o) == (side == Side::Lower)),
        };
        self.push(&path.key(kw), kind, detail);
    }

    /// minimum/exclusiveMinimum (or the maximum pair) compared as one effective bound.
    fn range(&mut self, path: &Ptr, old: &Obj, new: &Obj, kws: [&str; 2], side: Side) {
        let (o, n) = (effective(old, kws, side), effective(new, kws, side));
        if o == n {
            return;
        }
        let render = |b: Option<Bound>| match b {
            None => "absent".to_owned(),
            Some(b) => b.value.to_string(),
        };
        let named = |b: Option<Bound>| match b {
            None => "absent".to_owned(),
            Some(b) => format!("{} {}", kws[b.exclusive as usize], b.value),
        };
        // name the keywords only when the bound switched between inclusive and exclusive
        let same_kw = !matches!((o, n), (Some(a), Some(b)) if a.exclusive != b.exclusive);
        let detail = if same_kw {
            format!("{} -> {}", render(o), render(n))
        } else {
            format!("{} -> {}", named(o), named(n))
        };
        let at_kw = n.or(o).map_or(kws[0], |b| kws[b.exclusive as usize]);
        let kind = match (o, n) {
            (None, _) => TightenedConstraint,
            (_, None) => LoosenedConstraint,
            (Some(o), Some(n)) => tighter_if(n.stricter_than(&o, side)),
        };
        self.push(&path.key(at_kw), kind, detail);
    }

    fn restriction(&mut self, path: &Ptr, kw: &str, old: Option<&Value>, new: Option<&Value>) {
        if old == new {
            return;
        }
        let kind = if new.is_some() {
            TightenedConstraint
        } else {
            LoosenedConstraint
        };
        let detail = format!("{} -> {}", show(old), show(new));
        self.push(&path.key(kw), kind, detail);
    }

    fn multiple_of(&mut self, path: &Ptr, old: Option<&Value>, new: Option<&Value>) {
        if old == new {
            return;
        }
        let detail = format!("{} -> {}", show(old), show(new));
        let whole = |x: f64| x.is_finite() && (x - x.round()).abs() < 1e-9;
        let kind = match (old.and_then(Value::as_f64), new.and_then(Value::as_f64)) {
            (None, Some(_)) => TightenedConstraint,
            (Some(_), None) => LoosenedConstraint,
            (Some(o), Some(n)) if whole(o / n) => LoosenedConstraint,
            _ => TightenedConstraint, // stricter, or not comparable
        };
        self.push(&path.key("multipleOf"), kind, detail);
    }

    fn unique_items(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        let flag = |m: &Obj| {
            m.get("uniqueItems")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let (o, n) = (flag(old), flag(new));
        if o != n {
            let kind = tighter_if(n);
            self.push(&path.key("uniqueItems"), kind, format!("{o} -> {n}"));
        }
    }

    fn annotations(&mut self, path: &Ptr, old: &Obj, new: &Obj) {
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for key in keys.into_iter().filter(|k| is_annotation(k)) {
            let detail = match (old.get(key), new.get(key)) {
                (a, b) if a == b => continue,
                (None, Some(_)) => "added",
                (Some(_), None) => "removed",
                _ => "changed",
            };
            self.push(&path.key(key), ChangeKind::Annotation, detail);
        }
    }
}

fn tighter_if(stricter: bool) -> ChangeKind {
    if stricter {
        TightenedConstraint
    } else {
        LoosenedConstraint
    }
}

/// `type` as a set of names; `None` when it is not a string or an array of strings.
fn type_set(v: &Value) -> Option<BTreeSet<String>> {
    match v {
        Value::String(s) => Some(BTreeSet::from([s.clone()])),
        Value::Array(items) => items
            .iter()
            .map(|t| t.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

/// Whether the type set `set` accepts every instance of type `t` ("number" covers "integer").
fn covers(set: &BTreeSet<String>, t: &str) -> bool {
    set.contains(t) || (t == "integer" && set.contains("number"))
}

/// The allowed values from `const` (preferred, it is stricter) or `enum`.
fn values_of(e: Option<&Value>, c: Option<&Value>) -> Option<Vec<Value>> {
    if let Some(c) = c {
        return Some(vec![c.clone()]);
    }
    match e {
        Some(Value::Array(values)) => Some(values.clone()),
        Some(other) => Some(vec![other.clone()]),
        None => None,
    }
}

fn list(values: &[&Value]) -> String {
    let parts: Vec<String> = values.iter().map(|v| show(Some(v))).collect();
    parts.join(", ")
}

/// One effective numeric bound.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bound {
    value: f64,
    exclusive: bool,
}

impl Bound {
    fn stricter_than(&self, other: &Bound, side: Side) -> bool {
        let further = match side {
            Side::Lower => self.value > other.value,
            Side::Upper => self.value < other.value,
        };
        further || (self.value == other.value && self.exclusive && !other.exclusive)
    }
}

/// The stricter of the inclusive and the exclusive bound of one side.
fn effective(schema: &Obj, kws: [&str; 2], side: Side) -> Option<Bound> {
    let get = |i: usize| {
        schema
            .get(kws[i])
            .and_then(Value::as_f64)
            .map(|value| Bound {
                value,
                exclusive: i == 1,
            })
    };
    match (get(0), get(1)) {
        (Some(a), Some(b)) => Some(if b.stricter_than(&a, side) { b } else { a }),
        (a, b) => a.or(b),
    }
}
