//! `$defs`, local `$ref`s, and oneOf/anyOf/allOf branches (`tests/pairs/refs_and_combinators.json`,
//! whose task-events-like pairs have an envelope whose `data` is a oneOf over event kinds via
//! `$defs`).

#[macro_use]
mod common;

use serde_json::json;
use todo_contracts::{diff_schemas, DiffError};

pair_tests!("refs_and_combinators.json":
    all_of_member_added_tightens,
    any_of_inner_loosening,
    change_inside_a_definition_is_reported_once_where_defined,
    external_ref_change_is_unclassified,
    inline_schema_moved_into_defs_is_an_added_definition_only,
    legacy_definitions_keyword_is_recursed,
    one_of_added_where_none_was,
    one_of_branch_added,
    one_of_branch_removed,
    one_of_branches_paired_by_discriminator_not_position,
    ref_to_a_different_definition_is_compared_at_the_reference,
    ref_with_sibling_keywords_is_merged,
    removed_definition,
);

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
