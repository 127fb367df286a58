//! Shared helpers: every rule test asserts the classified change, the required bump, the failure
//! message for a too-small bump, and that the right bump passes.
#![allow(dead_code)] // each test file uses a subset

use serde_json::{json, Value};
use todo_contracts::{diff_schemas, evaluate, required_bump, Bump, VERSION_KEY};

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
