//! The common model the three sources are normalised to, and its comparison.
//!
//! A model maps a record path (`task-events`, `task-events/task_data`,
//! `task-events/task_data/reminders[]`) to its fields, each with a type class and whether it
//! may be absent (`optional`) and whether it may be null (`nullable`). Record *names* differ
//! between the sources (WIT `task-data`, Rust `TaskData`, a JSON Schema `$defs` entry), so
//! records are identified by where they appear.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The coarse type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    String,
    Integer,
    Number,
    Boolean,
    /// An enum, with its values normalised by [`enum_value`].
    Enum(BTreeSet<String>),
    List(Box<Class>),
    /// A nested record; its fields are the model entry at the field's path.
    Record,
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Class::String => f.write_str("string"),
            Class::Integer => f.write_str("integer"),
            Class::Number => f.write_str("number"),
            Class::Boolean => f.write_str("boolean"),
            Class::Enum(values) => {
                write!(
                    f,
                    "enum{{{}}}",
                    values.iter().cloned().collect::<Vec<_>>().join(",")
                )
            }
            Class::List(item) => write!(f, "list<{item}>"),
            Class::Record => f.write_str("record"),
        }
    }
}

/// One field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub class: Class,
    /// May be absent.
    pub optional: bool,
    /// May be null.
    pub nullable: bool,
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.class)?;
        match (self.optional, self.nullable) {
            (false, false) => f.write_str(" (required)"),
            (true, true) => f.write_str(" (optional, nullable)"),
            (true, false) => f.write_str(" (optional, not nullable)"),
            (false, true) => f.write_str(" (required, nullable)"),
        }
    }
}

/// Record path -> field name (snake_case) -> shape.
pub type Model = BTreeMap<String, BTreeMap<String, Shape>>;

/// An enum value in comparable form: `task.created`, `task_created` and `task-created` are equal.
pub fn enum_value(value: &str) -> String {
    value.replace(['.', '_'], "-")
}

/// Every difference between two models, described for a human; empty when they agree.
pub fn compare(left_name: &str, left: &Model, right_name: &str, right: &Model) -> Vec<String> {
    let mut differences = Vec::new();
    let paths: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    for path in paths {
        let (Some(l), Some(r)) = (left.get(path), right.get(path)) else {
            let (has, lacks) = if left.contains_key(path) {
                (left_name, right_name)
            } else {
                (right_name, left_name)
            };
            differences.push(format!("record {path}: in {has}, missing in {lacks}"));
            continue;
        };
        let fields: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for field in fields {
            match (l.get(field), r.get(field)) {
                (Some(a), Some(b)) if a == b => {}
                (Some(a), Some(b)) => differences.push(format!(
                    "{path}.{field}: {left_name} has {a}, {right_name} has {b}"
                )),
                (Some(_), None) => differences.push(format!(
                    "{path}.{field}: in {left_name}, missing in {right_name}"
                )),
                (None, _) => differences.push(format!(
                    "{path}.{field}: in {right_name}, missing in {left_name}"
                )),
            }
        }
    }
    differences
}
