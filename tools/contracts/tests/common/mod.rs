//! Shared helpers: every rule test asserts the classified change, the required bump, the failure
//! message for a too-small bump, and that the right bump passes.
//!
//! The rule pairs (old schema, new schema, expected change lines, bump, examples) are data files,
//! `tests/pairs/<group>.json`, read both by these tests and by the property test
//! (`tests/event_contracts/test_compatibility.py`), which checks that every MINOR and PATCH pair
//! is compatible both ways for the consumer path. [`pair_tests!`] turns a file into one test per
//! pair.
#![allow(dead_code)] // each test file uses a subset

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use todo_contracts::{diff_schemas, evaluate, required_bump, Bump, VERSION_KEY};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/pairs/<file>`, parsed.
pub fn pair_file(file: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/pairs")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pairs of a pair file.
pub fn pairs(file: &str) -> Vec<Value> {
    pair_file(file)["pairs"]
        .as_array()
        .unwrap_or_else(|| panic!("{file}: no \"pairs\" array"))
        .clone()
}

/// A value of a pair file with `{"$file": <repo-relative path>, "$patch": [<JSON Patch>]}`
/// resolved: the file's JSON with the patch (RFC 6902 add, remove, replace) applied.
pub fn resolve(value: &Value) -> Value {
    let Some(file) = value.get("$file").and_then(Value::as_str) else {
        return value.clone();
    };
    let path = repo_root().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    for op in value
        .get("$patch")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        apply(&mut doc, op);
    }
    doc
}

fn apply(doc: &mut Value, op: &Value) {
    let pointer = op["path"].as_str().expect("patch op has a path");
    let (parent, last) = pointer
        .rsplit_once('/')
        .expect("patch path is a JSON pointer");
    let last = last.replace("~1", "/").replace("~0", "~");
    let target = doc
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("patch path {pointer}: no parent"));
    let kind = op["op"].as_str().expect("patch op has an op");
    match (kind, target) {
        ("add" | "replace", Value::Object(map)) => {
            if kind == "replace" {
                assert!(map.contains_key(&last), "replace {pointer}: nothing there");
            }
            map.insert(last, op["value"].clone());
        }
        ("remove", Value::Object(map)) => {
            map.remove(&last)
                .unwrap_or_else(|| panic!("remove {pointer}: nothing there"));
        }
        (_, Value::Array(items)) if last == "-" && kind == "add" => items.push(op["value"].clone()),
        (_, Value::Array(items)) => {
            let i: usize = last.parse().expect("array index");
            match kind {
                "add" => items.insert(i, op["value"].clone()),
                "replace" => items[i] = op["value"].clone(),
                "remove" => {
                    items.remove(i);
                }
                other => panic!("patch op {other} is not supported"),
            }
        }
        (other, _) => panic!("patch op {other} at {pointer} is not supported"),
    }
}

fn parse_bump(text: &str) -> Bump {
    match text {
        "MAJOR" => Bump::Major,
        "MINOR" => Bump::Minor,
        "PATCH" => Bump::Patch,
        other => panic!("bump {other:?} is not MAJOR, MINOR or PATCH"),
    }
}

/// The pair `name` of `file`: (old, new, change lines, bump), `$file`s resolved.
pub fn pair(file: &str, name: &str) -> (Value, Value, Vec<String>, Bump) {
    let doc = pair_file(file);
    let all = doc["pairs"].as_array().unwrap();
    let found: Vec<&Value> = all.iter().filter(|p| p["name"] == name).collect();
    assert_eq!(
        found.len(),
        1,
        "{file}: pair {name} must be there exactly once"
    );
    let p = found[0];
    let bump = parse_bump(p["bump"].as_str().expect("pair has a bump"));
    if let Some(file_bump) = doc["bump"].as_str() {
        assert_eq!(
            bump,
            parse_bump(file_bump),
            "{file}: {name} is in the wrong file"
        );
    }
    let changes = p["changes"]
        .as_array()
        .expect("pair has changes")
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (resolve(&p["old"]), resolve(&p["new"]), changes, bump)
}

/// Runs [`assert_changes`] on the pair `name` of `file`.
pub fn check_pair(file: &str, name: &str) {
    let (old, new, changes, bump) = pair(file, name);
    let expected: Vec<&str> = changes.iter().map(String::as_str).collect();
    assert_changes(old, new, &expected, bump);
}

/// Every pair of `file` is one of `names` and the other way round.
pub fn assert_pair_names(file: &str, names: &[&str]) {
    let mut in_file: Vec<String> = pairs(file)
        .iter()
        .map(|p| p["name"].as_str().expect("pair has a name").to_owned())
        .collect();
    in_file.sort();
    let mut tested: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    tested.sort();
    assert_eq!(in_file, tested, "{file}: every pair has exactly one test");
}

/// One `#[test]` per pair of a pair file (named after the pair), plus one that fails when the
/// file holds a pair without a test or the other way round.
#[macro_export]
macro_rules! pair_tests {
    ($file:literal: $($name:ident),+ $(,)?) => {
        $(
            #[test]
            fn $name() {
                common::check_pair($file, stringify!($name));
            }
        )+

        #[test]
        fn every_pair_in_the_file_has_a_test() {
            common::assert_pair_names($file, &[$(stringify!($name)),+]);
        }
    };
}

/// The topic used in messages.
pub const TOPIC: &str = "task-events";

/// `schema` with `x-schema-version` set to `version`.
pub fn versioned(schema: &Value, version: &str) -> Value {
    let mut doc = schema.clone();
    doc.as_object_mut()
        .expect("schema object")
        .insert(VERSION_KEY.into(), json!(version));
    doc
}

/// The change lines of old -> new.
pub fn change_lines(old: &Value, new: &Value) -> Vec<String> {
    let changes = diff_schemas(old, new).expect("diff");
    changes.iter().map(ToString::to_string).collect()
}

/// Asserts that old -> new is exactly the single change `expected` needing `bump`.
pub fn assert_rule(old: Value, new: Value, expected: &str, bump: Bump) {
    assert_changes(old, new, &[expected], bump);
}

/// Asserts that old -> new is exactly the changes `expected` (in order) needing `bump` overall,
/// that a version one step too small fails with the right messages, and that the right bump passes.
pub fn assert_changes(old: Value, new: Value, expected: &[&str], bump: Bump) {
    assert_eq!(change_lines(&old, &new), expected, "classified changes");
    let changes = diff_schemas(&old, &new).unwrap();
    assert_eq!(required_bump(&changes), Some(bump), "required bump");

    let (too_small, step) = match bump {
        Bump::Major => ("1.1.0", "MINOR"),
        Bump::Minor => ("1.0.1", "PATCH"),
        Bump::Patch => ("1.0.0", "not bumped"),
    };
    let released = versioned(&old, "1.0.0");
    let report = evaluate(TOPIC, &released, &versioned(&new, too_small)).unwrap();
    assert!(
        !report.passed(),
        "{too_small} must fail: {:#?}",
        report.lines()
    );
    let lines = report.lines();
    for change in expected {
        let line = format!("{TOPIC}: {change}, version 1.0.0 -> {too_small} is {step}");
        assert!(lines.contains(&line), "missing {line:?} in {lines:#?}");
    }
    let error = match bump {
        Bump::Patch => format!(
            "{TOPIC}: error: the schema changed (needs PATCH) but version 1.0.0 was not bumped"
        ),
        _ => format!(
            "{TOPIC}: error: the changes need {bump} but version 1.0.0 -> {too_small} is {step}"
        ),
    };
    assert!(lines.contains(&error), "missing {error:?} in {lines:#?}");
    let summary =
        format!("{TOPIC}: FAIL, version 1.0.0 -> {too_small} is {step}, changes need {bump}");
    assert_eq!(lines.last(), Some(&summary));

    let enough = match bump {
        Bump::Major => "2.0.0",
        Bump::Minor => "1.1.0",
        Bump::Patch => "1.0.1",
    };
    let report = evaluate(TOPIC, &released, &versioned(&new, enough)).unwrap();
    assert!(report.passed(), "{enough} must pass: {:#?}", report.lines());
    let summary = format!("{TOPIC}: ok, version 1.0.0 -> {enough} is {bump}, changes need {bump}");
    assert_eq!(report.lines().last(), Some(&summary));
}

/// An event schema with one nested property `task_data.title` given by `title`.
pub fn with_title(title: Value) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["event_id"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "task_data": {
                "type": "object",
                "properties": {"title": title}
            }
        }
    })
}

/// An object schema with the given `properties` and `required`.
pub fn object(properties: Value, required: Value) -> Value {
    json!({"type": "object", "properties": properties, "required": required})
}
