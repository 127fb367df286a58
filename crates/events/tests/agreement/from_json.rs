//! A JSON Schema (the contract, or one schemars derived from the Rust types) as a [`Model`].
//!
//! Follows local `$ref`s (`#/...`), `type` arrays with `"null"`, `enum`/`const`, and
//! `anyOf`/`oneOf` that are either enum alternatives or "X or null".

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::model::{enum_value, Class, Model, Shape};

/// The model of the schema `root`, its top-level record named `root_path`.
pub fn model(root: &Value, root_path: &str) -> Result<Model, String> {
    let mut model = Model::new();
    let (class, nullable) = shape_of(root, root, root_path, &mut model)?;
    if class != Class::Record || nullable {
        return Err(format!("{root_path}: top level is {class}, not a record"));
    }
    Ok(model)
}

/// `node` with its `$ref` (if any) resolved and its own keywords laid over the target's.
fn effective(root: &Value, node: &Value) -> Result<Map<String, Value>, String> {
    let own = node
        .as_object()
        .ok_or_else(|| format!("schema node is not an object: {node}"))?;
    let Some(reference) = own.get("$ref") else {
        return Ok(own.clone());
    };
    let pointer = reference
        .as_str()
        .and_then(|r| r.strip_prefix('#'))
        .ok_or_else(|| format!("non-local $ref {reference}"))?;
    let target = root
        .pointer(pointer)
        .ok_or_else(|| format!("dangling $ref {reference}"))?;
    let mut merged = effective(root, target)?;
    for (key, value) in own {
        if key != "$ref" {
            merged.insert(key.clone(), value.clone());
        }
    }
    Ok(merged)
}

fn is_null_only(node: &Map<String, Value>) -> bool {
    node.get("type") == Some(&Value::String("null".into()))
        || node.get("const") == Some(&Value::Null)
}

fn enum_values(values: &[Value]) -> (BTreeSet<String>, bool) {
    let mut set = BTreeSet::new();
    let mut nullable = false;
    for value in values {
        match value {
            Value::Null => nullable = true,
            Value::String(s) => {
                set.insert(enum_value(s));
            }
            other => {
                set.insert(other.to_string());
            }
        }
    }
    (set, nullable)
}

fn shape_of(
    root: &Value,
    node: &Value,
    path: &str,
    model: &mut Model,
) -> Result<(Class, bool), String> {
    let n = effective(root, node)?;
    for key in ["anyOf", "oneOf"] {
        if let Some(alternatives) = n.get(key).and_then(Value::as_array) {
            return alternatives_shape(root, alternatives, path, model, key);
        }
    }
    let types: Vec<&str> = match n.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let mut nullable = types.contains(&"null");
    if let Some(values) = n.get("enum").and_then(Value::as_array) {
        let (set, null_in_enum) = enum_values(values);
        return Ok((Class::Enum(set), nullable || null_in_enum));
    }
    if let Some(value) = n.get("const") {
        let (set, null_const) = enum_values(std::slice::from_ref(value));
        nullable |= null_const;
        return Ok((Class::Enum(set), nullable));
    }
    let non_null: Vec<&str> = types.into_iter().filter(|t| *t != "null").collect();
    let class = match non_null.as_slice() {
        ["string"] => Class::String,
        ["integer"] => Class::Integer,
        ["number"] => Class::Number,
        ["boolean"] => Class::Boolean,
        ["array"] => {
            let items = n
                .get("items")
                .ok_or_else(|| format!("{path}: array without items"))?;
            let (item, item_nullable) = shape_of(root, items, &format!("{path}[]"), model)?;
            if item_nullable {
                return Err(format!("{path}: nullable list items are not modelled"));
            }
            Class::List(Box::new(item))
        }
        ["object"] => {
            record(root, &n, path, model)?;
            Class::Record
        }
        other => return Err(format!("{path}: unsupported type {other:?}")),
    };
    Ok((class, nullable))
}

fn alternatives_shape(
    root: &Value,
    alternatives: &[Value],
    path: &str,
    model: &mut Model,
    key: &str,
) -> Result<(Class, bool), String> {
    let mut nullable = false;
    let mut values = BTreeSet::new();
    let mut others = Vec::new();
    for alternative in alternatives {
        let a = effective(root, alternative)?;
        if is_null_only(&a) {
            nullable = true;
        } else if let Some(value) = a.get("const") {
            values.extend(enum_values(std::slice::from_ref(value)).0);
        } else if let Some(listed) = a.get("enum").and_then(Value::as_array) {
            values.extend(enum_values(listed).0);
        } else {
            others.push(alternative);
        }
    }
    match (others.as_slice(), values.is_empty()) {
        ([], false) => Ok((Class::Enum(values), nullable)),
        ([single], true) => {
            let (class, inner_nullable) = shape_of(root, single, path, model)?;
            Ok((class, nullable || inner_nullable))
        }
        _ => Err(format!("{path}: unsupported {key}")),
    }
}

fn record(
    root: &Value,
    node: &Map<String, Value>,
    path: &str,
    model: &mut Model,
) -> Result<(), String> {
    let required: BTreeSet<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let properties = node
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("{path}: object without properties"))?;
    let mut fields = BTreeMap::new();
    for (name, property) in properties {
        let (class, nullable) = shape_of(root, property, &format!("{path}/{name}"), model)?;
        let optional = !required.contains(name.as_str());
        fields.insert(
            name.clone(),
            Shape {
                class,
                optional,
                nullable,
            },
        );
    }
    for name in &required {
        if !properties.contains_key(*name) {
            return Err(format!("{path}: required {name} is not a property"));
        }
    }
    model.insert(path.to_owned(), fields);
    Ok(())
}
