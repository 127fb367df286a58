//! Changes that only let more events through: MINOR.

mod common;

use common::{assert_rule, object, with_title};
use serde_json::json;
use todo_contracts::Bump::Minor;

#[test]
fn added_optional_property() {
    assert_rule(
        object(json!({"a": {"type": "string"}}), json!(["a"])),
        object(
            json!({"a": {"type": "string"}, "b": {"type": "string"}}),
            json!(["a"]),
        ),
        "/properties/b added (added optional property) needs MINOR",
        Minor,
    );
}

#[test]
fn added_optional_nested_property() {
    assert_rule(
        with_title(json!({"type": "string"})),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "required": ["event_id"],
            "properties": {
                "event_id": {"type": "string", "format": "uuid"},
                "task_data": {
                    "type": "object",
                    "properties": {"title": {"type": "string"}, "priority": {"type": "string"}}
                }
            }
        }),
        "/properties/task_data/properties/priority added (added optional property) needs MINOR",
        Minor,
    );
}

#[test]
fn property_no_longer_required() {
    assert_rule(
        object(json!({"a": {}, "b": {}}), json!(["a", "b"])),
        object(json!({"a": {}, "b": {}}), json!(["a"])),
        "/required \"b\" removed (property no longer required) needs MINOR",
        Minor,
    );
}

#[test]
fn enum_widened() {
    assert_rule(
        json!({"type": "string", "enum": ["low", "normal", "high"]}),
        json!({"type": "string", "enum": ["low", "normal", "high", "urgent"]}),
        "/enum added \"urgent\" (widened enum) needs MINOR",
        Minor,
    );
}

#[test]
fn const_widened_to_enum() {
    assert_rule(
        json!({"const": "a"}),
        json!({"enum": ["a", "b"]}),
        "/enum added \"b\" (widened enum) needs MINOR",
        Minor,
    );
}

#[test]
fn enum_removed() {
    assert_rule(
        json!({"type": "string", "enum": ["a"]}),
        json!({"type": "string"}),
        "/enum [\"a\"] -> absent (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn null_added_to_type() {
    assert_rule(
        with_title(json!({"type": "string"})),
        with_title(json!({"type": ["string", "null"]})),
        "/properties/task_data/properties/title/type \"string\" -> [\"string\",\"null\"] (widened type) needs MINOR",
        Minor,
    );
}

#[test]
fn integer_widened_to_number() {
    assert_rule(
        json!({"type": "integer"}),
        json!({"type": "number"}),
        "/type \"integer\" -> \"number\" (widened type) needs MINOR",
        Minor,
    );
}

#[test]
fn type_removed() {
    assert_rule(
        json!({"type": "string", "title": "x"}),
        json!({"title": "x"}),
        "/type \"string\" -> absent (widened type) needs MINOR",
        Minor,
    );
}

#[test]
fn min_length_down() {
    assert_rule(
        json!({"type": "string", "minLength": 3}),
        json!({"type": "string", "minLength": 1}),
        "/minLength 3 -> 1 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn max_length_up() {
    assert_rule(
        with_title(json!({"type": "string", "maxLength": 100})),
        with_title(json!({"type": "string", "maxLength": 200})),
        "/properties/task_data/properties/title/maxLength 100 -> 200 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn minimum_down() {
    assert_rule(
        json!({"type": "integer", "minimum": 1}),
        json!({"type": "integer", "minimum": 0}),
        "/minimum 1 -> 0 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn maximum_removed() {
    assert_rule(
        json!({"type": "integer", "maximum": 10}),
        json!({"type": "integer"}),
        "/maximum 10 -> absent (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn min_items_down() {
    assert_rule(
        json!({"type": "array", "minItems": 2}),
        json!({"type": "array", "minItems": 1}),
        "/minItems 2 -> 1 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn max_items_up() {
    assert_rule(
        json!({"type": "array", "maxItems": 10}),
        json!({"type": "array", "maxItems": 20}),
        "/maxItems 10 -> 20 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn exclusive_maximum_made_inclusive() {
    assert_rule(
        json!({"type": "number", "exclusiveMaximum": 10}),
        json!({"type": "number", "maximum": 10}),
        "/maximum exclusiveMaximum 10 -> maximum 10 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn pattern_removed() {
    assert_rule(
        json!({"type": "string", "pattern": "^a"}),
        json!({"type": "string"}),
        "/pattern \"^a\" -> absent (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn format_removed() {
    assert_rule(
        json!({"type": "string", "format": "uuid"}),
        json!({"type": "string"}),
        "/format \"uuid\" -> absent (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn additional_properties_false_removed() {
    assert_rule(
        json!({"type": "object", "additionalProperties": false}),
        json!({"type": "object"}),
        "/additionalProperties false -> absent (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn multiple_of_relaxed() {
    assert_rule(
        json!({"type": "integer", "multipleOf": 10}),
        json!({"type": "integer", "multipleOf": 5}),
        "/multipleOf 10 -> 5 (loosened constraint) needs MINOR",
        Minor,
    );
}

#[test]
fn unique_items_dropped() {
    assert_rule(
        json!({"type": "array", "uniqueItems": true}),
        json!({"type": "array"}),
        "/uniqueItems true -> false (loosened constraint) needs MINOR",
        Minor,
    );
}
