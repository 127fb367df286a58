//! `$defs`, local `$ref`s, and oneOf/anyOf/allOf branches.

mod common;

use common::{assert_changes, assert_rule};
use serde_json::{json, Value};
use todo_contracts::{diff_schemas, Bump::*, DiffError};

/// A task-events-like schema: a envelope whose `data` is a oneOf over event kinds via `$defs`.
fn events(task_data: Value, extra_branch: Option<Value>) -> Value {
    let mut branches = vec![
        json!({"$ref": "#/$defs/TaskCreated"}),
        json!({"$ref": "#/$defs/TaskDeleted"}),
    ];
    branches.extend(extra_branch);
    json!({
        "type": "object",
        "properties": {"data": {"oneOf": branches}},
        "$defs": {
            "TaskData": task_data,
            "TaskCreated": {
                "type": "object",
                "properties": {
                    "event_type": {"const": "task.created"},
                    "task_data": {"$ref": "#/$defs/TaskData"}
                }
            },
            "TaskDeleted": {
                "type": "object",
                "properties": {"event_type": {"const": "task.deleted"}}
            }
        }
    })
}

fn task_data(max: u64) -> Value {
    json!({"type": "object", "properties": {"title": {"type": "string", "maxLength": max}}})
}

#[test]
fn change_inside_a_definition_is_reported_once_where_defined() {
    assert_rule(
        events(task_data(200), None),
        events(task_data(100), None),
        "/$defs/TaskData/properties/title/maxLength 200 -> 100 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn ref_to_a_different_definition_is_compared_at_the_reference() {
    let old = json!({
        "$defs": {"Short": {"type": "string", "maxLength": 10}},
        "properties": {"name": {"$ref": "#/$defs/Short"}}
    });
    let new = json!({
        "$defs": {
            "Short": {"type": "string", "maxLength": 10},
            "Shorter": {"type": "string", "maxLength": 5}
        },
        "properties": {"name": {"$ref": "#/$defs/Shorter"}}
    });
    assert_changes(
        old,
        new,
        &[
            "/properties/name/maxLength 10 -> 5 (tightened constraint) needs MAJOR",
            "/$defs/Shorter added (added definition) needs MINOR",
        ],
        Major,
    );
}

#[test]
fn inline_schema_moved_into_defs_is_an_added_definition_only() {
    assert_rule(
        json!({"properties": {"when": {"type": "string", "format": "date-time"}}}),
        json!({
            "$defs": {"Instant": {"type": "string", "format": "date-time"}},
            "properties": {"when": {"$ref": "#/$defs/Instant"}}
        }),
        "/$defs/Instant added (added definition) needs MINOR",
        Minor,
    );
}

#[test]
fn ref_with_sibling_keywords_is_merged() {
    assert_rule(
        json!({
            "$defs": {"Text": {"type": "string"}},
            "properties": {"t": {"type": "string", "maxLength": 9}}
        }),
        json!({
            "$defs": {"Text": {"type": "string"}},
            "properties": {"t": {"$ref": "#/$defs/Text", "maxLength": 8}}
        }),
        "/properties/t/maxLength 9 -> 8 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn removed_definition() {
    assert_rule(
        json!({"$defs": {"Old": {"type": "string"}}, "type": "object"}),
        json!({"$defs": {}, "type": "object"}),
        "/$defs/Old removed (removed definition) needs MAJOR",
        Major,
    );
}

#[test]
fn legacy_definitions_keyword_is_recursed() {
    assert_rule(
        json!({"definitions": {"A": {"type": "integer", "minimum": 0}}}),
        json!({"definitions": {"A": {"type": "integer", "minimum": 1}}}),
        "/definitions/A/minimum 0 -> 1 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn recursive_definitions_terminate() {
    let tree = |max: u64, name: &str| {
        json!({
            "$defs": {name: {
                "type": "object",
                "properties": {
                    "label": {"type": "string", "maxLength": max},
                    "children": {"type": "array", "items": {"$ref": format!("#/$defs/{name}")}}
                }
            }},
            "$ref": format!("#/$defs/{name}")
        })
    };
    let changes = diff_schemas(&tree(5, "Node"), &tree(4, "Tree")).unwrap();
    let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert!(
        lines.contains(
            &"/properties/label/maxLength 5 -> 4 (tightened constraint) needs MAJOR".to_owned()
        ),
        "{lines:#?}"
    );
    assert!(lines.contains(&"/$defs/Node removed (removed definition) needs MAJOR".to_owned()));
}

#[test]
fn unresolvable_ref_is_an_error() {
    let err = diff_schemas(
        &json!({"properties": {"a": {"type": "string"}}}),
        &json!({"properties": {"a": {"$ref": "#/$defs/Missing"}}}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        DiffError::UnresolvedRef {
            at: "/properties/a".into(),
            reference: "#/$defs/Missing".into(),
            side: "new"
        }
    );
}

#[test]
fn external_ref_change_is_unclassified() {
    assert_rule(
        json!({"properties": {"a": {"$ref": "common.schema.json#/$defs/A"}}}),
        json!({"properties": {"a": {"$ref": "common.schema.json#/$defs/B"}}}),
        "/properties/a/$ref \"common.schema.json#/$defs/A\" -> \"common.schema.json#/$defs/B\" (external reference, not compared) (unclassified change) needs MAJOR",
        Major,
    );
}

#[test]
fn one_of_branch_added() {
    let created_v2 =
        json!({"type": "object", "properties": {"event_type": {"const": "task.completed"}}});
    assert_rule(
        events(task_data(200), None),
        events(task_data(200), Some(created_v2)),
        "/properties/data/oneOf/2 branch 2 added (added alternative) needs MINOR",
        Minor,
    );
}

#[test]
fn one_of_branch_removed() {
    let completed =
        json!({"type": "object", "properties": {"event_type": {"const": "task.completed"}}});
    assert_rule(
        events(task_data(200), Some(completed)),
        events(task_data(200), None),
        "/properties/data/oneOf/2 branch 2 removed (removed alternative) needs MAJOR",
        Major,
    );
}

#[test]
fn one_of_branches_paired_by_discriminator_not_position() {
    let a = |t: &str| json!({"type": "object", "properties": {"kind": {"const": "a"}, "t": {"type": t}}});
    let b = json!({"type": "object", "properties": {"kind": {"const": "b"}}});
    let c = json!({"type": "object", "properties": {"kind": {"const": "c"}}});
    // b removed in front of a, a changed, c added: a must be compared with a, not with b
    assert_changes(
        json!({"oneOf": [b, a("string")]}),
        json!({"oneOf": [a("integer"), c]}),
        &[
            "/oneOf/0/properties/t/type \"string\" -> \"integer\" (changed type) needs MAJOR",
            "/oneOf/0 branch 0 removed (removed alternative) needs MAJOR",
            "/oneOf/1 branch 1 added (added alternative) needs MINOR",
        ],
        Major,
    );
}

#[test]
fn any_of_inner_loosening() {
    assert_rule(
        json!({"anyOf": [{"type": "string", "maxLength": 5}, {"type": "integer"}]}),
        json!({"anyOf": [{"type": "string", "maxLength": 6}, {"type": "integer"}]}),
        "/anyOf/0/maxLength 5 -> 6 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn all_of_member_added_tightens() {
    assert_rule(
        json!({"allOf": [{"type": "object"}]}),
        json!({"allOf": [{"type": "object"}, {"required": ["x"]}]}),
        "/allOf/1 branch 1 added (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn one_of_added_where_none_was() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "oneOf": [{"maxLength": 3}, {"minLength": 10}]}),
        "/oneOf added (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn non_schema_value_is_an_error() {
    let err =
        diff_schemas(&json!({"items": {"type": "string"}}), &json!({"items": 3})).unwrap_err();
    assert_eq!(
        err,
        DiffError::NotASchema {
            at: "/items".into()
        }
    );
}
