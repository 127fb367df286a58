//! Changes without effect on validation: PATCH, and no change at all.

mod common;

use common::{assert_rule, change_lines, versioned, with_title, TOPIC};
use serde_json::json;
use todo_contracts::{evaluate, Bump::Patch};

#[test]
fn description_changed() {
    assert_rule(
        with_title(json!({"type": "string", "description": "The title."})),
        with_title(json!({"type": "string", "description": "The task's title."})),
        "/properties/task_data/properties/title/description changed (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn title_added() {
    assert_rule(
        json!({"type": "object"}),
        json!({"type": "object", "title": "TaskEvent"}),
        "/title added (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn examples_changed() {
    assert_rule(
        json!({"type": "string", "examples": ["a"]}),
        json!({"type": "string", "examples": ["a", "b"]}),
        "/examples changed (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn comment_removed() {
    assert_rule(
        json!({"type": "string", "$comment": "see ADR 7"}),
        json!({"type": "string"}),
        "/$comment removed (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn extension_keyword_changed() {
    assert_rule(
        json!({"type": "object", "x-topic": "task-events"}),
        json!({"type": "object", "x-topic": "task-events-v1"}),
        "/x-topic changed (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn default_changed() {
    assert_rule(
        json!({"type": "string", "default": "normal"}),
        json!({"type": "string", "default": "low"}),
        "/default changed (annotation change) needs PATCH",
        Patch,
    );
}

#[test]
fn reordered_enum_has_no_validation_effect() {
    assert_rule(
        json!({"enum": ["a", "b"]}),
        json!({"enum": ["b", "a"]}),
        "(root) document changed (no effect on validation) needs PATCH",
        Patch,
    );
}

#[test]
fn inline_schema_replaced_by_equal_ref_has_no_validation_effect() {
    let defs = json!({"Instant": {"type": "string", "format": "date-time"}});
    assert_rule(
        json!({"$defs": defs, "properties": {"when": {"type": "string", "format": "date-time"}}}),
        json!({"$defs": defs, "properties": {"when": {"$ref": "#/$defs/Instant"}}}),
        "(root) document changed (no effect on validation) needs PATCH",
        Patch,
    );
}

#[test]
fn identical_schemas_have_no_changes_and_pass_unbumped() {
    let a = with_title(json!({"type": "string", "maxLength": 200}));
    assert!(change_lines(&a, &a).is_empty());
    let report = evaluate(TOPIC, &versioned(&a, "1.0.0"), &versioned(&a, "1.0.0")).unwrap();
    assert!(report.passed());
    assert_eq!(
        report.lines(),
        vec![format!("{TOPIC}: ok, 1.0.0 released, unchanged")]
    );
}

#[test]
fn key_order_and_version_field_are_not_changes() {
    let a = json!({"type": "object", "properties": {"a": {"type": "string", "maxLength": 3}}});
    let b: serde_json::Value = serde_json::from_str(
        r#"{"properties": {"a": {"maxLength": 3, "type": "string"}}, "type": "object"}"#,
    )
    .unwrap();
    assert!(change_lines(&versioned(&a, "1.0.0"), &versioned(&b, "7.0.0")).is_empty());
}

#[test]
fn bigger_bump_than_needed_passes() {
    let old = json!({"type": "string", "description": "a"});
    let new = json!({"type": "string", "description": "b"});
    let report = evaluate(TOPIC, &versioned(&old, "1.0.0"), &versioned(&new, "2.0.0")).unwrap();
    assert!(report.passed(), "{:?}", report.lines());
    assert_eq!(
        report.lines().last().unwrap(),
        &format!("{TOPIC}: ok, version 1.0.0 -> 2.0.0 is MAJOR, changes need PATCH")
    );
}
