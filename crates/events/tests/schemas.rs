//! The schema documents follow the project's rules: draft 2020-12 metadata, a description on
//! every property at every depth, only local `$ref`s, no `additionalProperties: false`, and a
//! released copy of the current version.

use std::path::Path;

use serde_json::Value;
use todo_events::Topic;

/// Calls `visit(path, node)` for every subschema of `node`.
fn walk(node: &Value, path: &str, visit: &mut dyn FnMut(&str, &Value)) {
    visit(path, node);
    let Some(object) = node.as_object() else {
        return;
    };
    for key in ["properties", "$defs"] {
        if let Some(children) = object.get(key).and_then(Value::as_object) {
            for (name, child) in children {
                walk(child, &format!("{path}/{key}/{name}"), visit);
            }
        }
    }
    for key in ["items", "if", "then", "else", "not"] {
        if let Some(child) = object.get(key) {
            walk(child, &format!("{path}/{key}"), visit);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for (i, child) in object
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            walk(child, &format!("{path}/{key}/{i}"), visit);
        }
    }
}

#[test]
fn schema_documents_carry_their_metadata() {
    for topic in Topic::ALL {
        let schema: Value = serde_json::from_str(topic.schema_json()).unwrap();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        for key in ["title", "description", "x-schema-version"] {
            assert!(schema[key].is_string(), "{topic}: {key}");
        }
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for field in [
            "event_type",
            "event_id",
            "user_id",
            "timestamp",
            "schema_version",
            "task_id",
        ] {
            assert!(required.contains(&field), "{topic}: {field} not required");
        }
    }
}

#[test]
fn every_property_is_described_and_every_ref_is_local() {
    let mut properties = 0;
    for topic in Topic::ALL {
        let schema: Value = serde_json::from_str(topic.schema_json()).unwrap();
        let mut problems = Vec::new();
        walk(&schema, "#", &mut |path, node| {
            let Some(object) = node.as_object() else {
                return;
            };
            if path.contains("/properties/") && path.rsplit('/').nth(1) == Some("properties") {
                properties += 1;
                let description = object.get("description").and_then(Value::as_str);
                if description.unwrap_or_default().is_empty() {
                    problems.push(format!("{path}: no description"));
                }
            }
            if let Some(reference) = object.get("$ref") {
                let target = reference
                    .as_str()
                    .and_then(|r| r.strip_prefix('#'))
                    .and_then(|p| schema.pointer(p));
                if target.is_none() || !reference.as_str().unwrap().starts_with("#/$defs/") {
                    problems.push(format!(
                        "{path}: $ref {reference} is not a local #/$defs/ ref"
                    ));
                }
            }
            if object.get("additionalProperties") == Some(&Value::Bool(false)) {
                problems.push(format!("{path}: additionalProperties false"));
            }
        });
        assert!(problems.is_empty(), "{topic}:\n{}", problems.join("\n"));
    }
    assert!(properties >= 59, "{properties}");
}

#[test]
fn the_current_version_is_released_unchanged() {
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events");
    for topic in Topic::ALL {
        let release = contracts
            .join("releases")
            .join(topic.name())
            .join(format!("{}.schema.json", topic.schema_version()));
        let released =
            std::fs::read(&release).unwrap_or_else(|e| panic!("{}: {e}", release.display()));
        assert_eq!(
            released,
            topic.schema_json().as_bytes(),
            "{topic}: release differs"
        );
    }
}
