//! Changes that can make a valid event invalid: MAJOR.

mod common;

use common::{assert_changes, assert_rule, object, with_title};
use serde_json::json;
use todo_contracts::Bump::Major;

#[test]
fn brief_example_max_length_down_in_nested_property() {
    assert_rule(
        with_title(json!({"type": "string", "maxLength": 200})),
        with_title(json!({"type": "string", "maxLength": 100})),
        "/properties/task_data/properties/title/maxLength 200 -> 100 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn removed_property() {
    assert_rule(
        object(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!(["a"]),
        ),
        object(json!({"a": {"type": "string"}}), json!(["a"])),
        "/properties/b removed (removed property) needs MAJOR",
        Major,
    );
}

#[test]
fn removed_required_property_is_one_change() {
    assert_rule(
        object(json!({"a": {"type": "string"}, "b": {}}), json!(["a", "b"])),
        object(json!({"a": {"type": "string"}}), json!(["a"])),
        "/properties/b removed (removed property) needs MAJOR",
        Major,
    );
}

#[test]
fn added_required_property() {
    assert_rule(
        object(json!({"a": {"type": "string"}}), json!(["a"])),
        object(
            json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
            json!(["a", "b"]),
        ),
        "/properties/b added (required) (added required property) needs MAJOR",
        Major,
    );
}

#[test]
fn optional_property_becomes_required() {
    assert_rule(
        object(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!(["a"]),
        ),
        object(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!(["a", "b"]),
        ),
        "/required \"b\" added (newly required property) needs MAJOR",
        Major,
    );
}

#[test]
fn required_without_definition() {
    assert_rule(
        json!({"type": "object"}),
        json!({"type": "object", "required": ["c"]}),
        "/required \"c\" added (newly required property) needs MAJOR",
        Major,
    );
}

#[test]
fn changed_type() {
    assert_rule(
        with_title(json!({"type": "string"})),
        with_title(json!({"type": "integer"})),
        "/properties/task_data/properties/title/type \"string\" -> \"integer\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn type_removed_from_type_array() {
    assert_rule(
        json!({"type": ["string", "integer"]}),
        json!({"type": "string"}),
        "/type [\"string\",\"integer\"] -> \"string\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn null_removed() {
    assert_rule(
        with_title(json!({"type": ["string", "null"]})),
        with_title(json!({"type": "string"})),
        "/properties/task_data/properties/title/type [\"string\",\"null\"] -> \"string\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn number_narrowed_to_integer() {
    assert_rule(
        json!({"type": "number"}),
        json!({"type": "integer"}),
        "/type \"number\" -> \"integer\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn type_added_where_any_was_allowed() {
    assert_rule(
        json!({"description": "anything"}),
        json!({"description": "anything", "type": "string"}),
        "/type absent -> \"string\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn enum_narrowed() {
    assert_rule(
        json!({"type": "string", "enum": ["low", "normal", "high", "urgent"]}),
        json!({"type": "string", "enum": ["low", "normal", "high"]}),
        "/enum removed \"urgent\" (narrowed enum) needs MAJOR",
        Major,
    );
}

#[test]
fn enum_value_renamed_is_narrowed_and_widened() {
    assert_changes(
        json!({"enum": ["low", "high"]}),
        json!({"enum": ["low", "HIGH"]}),
        &[
            "/enum removed \"high\" (narrowed enum) needs MAJOR",
            "/enum added \"HIGH\" (widened enum) needs MINOR",
        ],
        Major,
    );
}

#[test]
fn enum_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "enum": ["a", "b"]}),
        "/enum absent -> [\"a\",\"b\"] (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn const_changed() {
    assert_rule(
        json!({"properties": {"type": {"const": "task.created"}}}),
        json!({"properties": {"type": {"const": "task.made"}}}),
        "/properties/type/const \"task.created\" -> \"task.made\" (changed const) needs MAJOR",
        Major,
    );
}

#[test]
fn const_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "const": "x"}),
        "/const absent -> \"x\" (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn enum_narrowed_to_const() {
    assert_rule(
        json!({"enum": ["a", "b"]}),
        json!({"const": "a"}),
        "/const removed \"b\" (narrowed enum) needs MAJOR",
        Major,
    );
}

#[test]
fn min_length_up() {
    assert_rule(
        with_title(json!({"type": "string", "minLength": 1})),
        with_title(json!({"type": "string", "minLength": 3})),
        "/properties/task_data/properties/title/minLength 1 -> 3 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn min_length_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "minLength": 1}),
        "/minLength absent -> 1 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn minimum_up() {
    assert_rule(
        json!({"type": "integer", "minimum": 0}),
        json!({"type": "integer", "minimum": 1}),
        "/minimum 0 -> 1 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn min_items_up() {
    assert_rule(
        json!({"type": "array", "minItems": 0}),
        json!({"type": "array", "minItems": 2}),
        "/minItems 0 -> 2 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn max_length_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "maxLength": 500}),
        "/maxLength absent -> 500 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn maximum_down() {
    assert_rule(
        json!({"type": "number", "maximum": 10.5}),
        json!({"type": "number", "maximum": 10}),
        "/maximum 10.5 -> 10 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn max_items_down() {
    assert_rule(
        json!({"properties": {"tags": {"type": "array", "maxItems": 20}}}),
        json!({"properties": {"tags": {"type": "array", "maxItems": 10}}}),
        "/properties/tags/maxItems 20 -> 10 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn max_properties_down() {
    assert_rule(
        json!({"type": "object", "maxProperties": 5}),
        json!({"type": "object", "maxProperties": 4}),
        "/maxProperties 5 -> 4 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn pattern_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "pattern": "^[a-z]+$"}),
        "/pattern absent -> \"^[a-z]+$\" (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn pattern_changed() {
    assert_rule(
        json!({"type": "string", "pattern": "^[a-z]+$"}),
        json!({"type": "string", "pattern": "^[a-z0-9]+$"}),
        "/pattern \"^[a-z]+$\" -> \"^[a-z0-9]+$\" (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn format_added() {
    assert_rule(
        json!({"type": "string"}),
        json!({"type": "string", "format": "date-time"}),
        "/format absent -> \"date-time\" (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn format_changed() {
    assert_rule(
        json!({"type": "string", "format": "date-time"}),
        json!({"type": "string", "format": "date"}),
        "/format \"date-time\" -> \"date\" (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn additional_properties_turned_false() {
    assert_rule(
        json!({"type": "object", "properties": {"a": {}}}),
        json!({"type": "object", "properties": {"a": {}}, "additionalProperties": false}),
        "/additionalProperties absent -> false (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn additional_properties_true_to_false() {
    assert_rule(
        json!({"type": "object", "additionalProperties": true}),
        json!({"type": "object", "additionalProperties": false}),
        "/additionalProperties true -> false (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn additional_properties_schema_added() {
    assert_rule(
        json!({"type": "object"}),
        json!({"type": "object", "additionalProperties": {"type": "string"}}),
        "/additionalProperties/type absent -> \"string\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn exclusive_minimum_added() {
    assert_rule(
        json!({"type": "number"}),
        json!({"type": "number", "exclusiveMinimum": 0}),
        "/exclusiveMinimum absent -> 0 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn exclusive_maximum_added() {
    assert_rule(
        json!({"type": "number"}),
        json!({"type": "number", "exclusiveMaximum": 100}),
        "/exclusiveMaximum absent -> 100 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn minimum_made_exclusive() {
    assert_rule(
        json!({"type": "number", "minimum": 0}),
        json!({"type": "number", "exclusiveMinimum": 0}),
        "/exclusiveMinimum minimum 0 -> exclusiveMinimum 0 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn multiple_of_added() {
    assert_rule(
        json!({"type": "integer"}),
        json!({"type": "integer", "multipleOf": 5}),
        "/multipleOf absent -> 5 (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn unique_items_added() {
    assert_rule(
        json!({"type": "array"}),
        json!({"type": "array", "uniqueItems": true}),
        "/uniqueItems false -> true (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn items_type_changed() {
    assert_rule(
        json!({"type": "array", "items": {"type": "string"}}),
        json!({"type": "array", "items": {"type": "integer"}}),
        "/items/type \"string\" -> \"integer\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn items_added() {
    assert_rule(
        json!({"type": "array"}),
        json!({"type": "array", "items": {"type": "string"}}),
        "/items/type absent -> \"string\" (changed type) needs MAJOR",
        Major,
    );
}

#[test]
fn prefix_item_added() {
    assert_rule(
        json!({"type": "array", "prefixItems": [{"type": "string"}]}),
        json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}),
        "/prefixItems/1 tuple item added (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn boolean_schema_true_to_false() {
    assert_rule(
        json!({"properties": {"legacy": true}}),
        json!({"properties": {"legacy": false}}),
        "/properties/legacy true -> false (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn unknown_keyword_is_unclassified() {
    assert_rule(
        json!({"type": "object", "$dynamicRef": "#a"}),
        json!({"type": "object", "$dynamicRef": "#b"}),
        "/$dynamicRef \"#a\" -> \"#b\" (unclassified change) needs MAJOR",
        Major,
    );
}

#[test]
fn not_changed_is_unclassified() {
    assert_rule(
        json!({"not": {"type": "string"}}),
        json!({"not": {"type": "integer"}}),
        "/not subschema changed (not analysed) (unclassified change) needs MAJOR",
        Major,
    );
}

#[test]
fn dependent_required_added() {
    assert_rule(
        json!({"type": "object"}),
        json!({"type": "object", "dependentRequired": {"due_at": ["time_zone"]}}),
        "/dependentRequired/due_at absent -> [\"time_zone\"] (tightened constraint) needs MAJOR",
        Major,
    );
}

#[test]
fn several_changes_need_the_largest_bump() {
    assert_changes(
        object(
            json!({"a": {"type": "string", "description": "A"}}),
            json!([]),
        ),
        object(
            json!({"a": {"type": "string", "description": "A!", "maxLength": 3}, "b": {}}),
            json!([]),
        ),
        &[
            "/properties/a/maxLength absent -> 3 (tightened constraint) needs MAJOR",
            "/properties/a/description changed (annotation change) needs PATCH",
            "/properties/b added (added optional property) needs MINOR",
        ],
        Major,
    );
}
