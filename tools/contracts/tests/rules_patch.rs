//! Changes without effect on validation: PATCH (`tests/pairs/patch.json`), and no change at all.

#[macro_use]
mod common;

use common::{change_lines, versioned, with_title, TOPIC};
use serde_json::json;
use todo_contracts::evaluate;

pair_tests!("patch.json":
    comment_removed,
    default_changed,
    description_changed,
    examples_changed,
    extension_keyword_changed,
    inline_schema_replaced_by_equal_ref_has_no_validation_effect,
    reordered_enum_has_no_validation_effect,
    title_added,
);

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
