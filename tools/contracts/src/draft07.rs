//! A working schema (JSON Schema 2020-12) rendered as JSON Schema draft-07, for the AsyncAPI
//! document.
//!
//! The AsyncAPI parser (`@asyncapi/parser` 3.x, the official CLI's) reads message payloads as
//! AsyncAPI Schema or as JSON Schema draft-07 (`application/schema+json;version=draft-07`);
//! there is no 2020-12 schema format. A 2020-12 document given to it is read with draft-07 rules,
//! which differ where a `$ref` has sibling keywords (ignored in draft-07) and for the keywords
//! draft-07 does not have. So the AsyncAPI document references a draft-07 rendering of each
//! working schema, generated here and checked to be current by `todo-contracts
//! asyncapi-schemas --check`; the 2020-12 schema stays the one source of truth.
//!
//! The rendering: `$schema` becomes draft-07; `$defs` becomes `definitions` and every local
//! `#/$defs/...` reference follows; a `$ref` whose siblings validate moves into an `allOf` beside
//! them (in draft-07 the siblings of a `$ref` are ignored), a `$ref` with only annotations beside
//! it stays as it is; `$id` is dropped (the file is not the schema the `$id` names). A keyword
//! that draft-07 cannot express (`prefixItems`, `unevaluatedProperties`, `$dynamicRef`, ...) is
//! an error naming where it is, never silently dropped.

use serde_json::{Map, Value};

/// The `$schema` of the rendering.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// 2020-12 keywords without a draft-07 equivalent.
const NO_DRAFT_07: &[&str] = &[
    "prefixItems",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
    "$vocabulary",
    "minContains",
    "maxContains",
];

/// Keywords with no effect on validation: they may stay beside a `$ref`.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "examples",
    "$comment",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Why a schema could not be rendered as draft-07.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Draft07Error {
    /// A keyword draft-07 cannot express.
    #[error("{at}: {keyword} has no draft-07 equivalent")]
    NoEquivalent {
        /// JSON pointer of the schema holding it.
        at: String,
        /// The keyword.
        keyword: String,
    },
    /// A (sub)schema is neither an object nor a boolean.
    #[error("{at}: a schema must be an object or a boolean")]
    NotASchema {
        /// JSON pointer of the bad value.
        at: String,
    },
}

/// Renders a 2020-12 schema document as draft-07 (see the module documentation).
pub fn to_draft07(doc: &Value) -> Result<Value, Draft07Error> {
    let mut out = schema(doc, "")?;
    if let Value::Object(map) = &mut out {
        map.remove("$id");
        map.insert("$schema".to_owned(), Value::String(DRAFT_07.to_owned()));
    }
    Ok(out)
}

/// One (sub)schema at JSON pointer `at`.
fn schema(value: &Value, at: &str) -> Result<Value, Draft07Error> {
    let map = match value {
        Value::Bool(_) => return Ok(value.clone()),
        Value::Object(map) => map,
        _ => return Err(Draft07Error::NotASchema { at: at.to_owned() }),
    };
    let mut out = Map::new();
    for (key, v) in map {
        let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
        if NO_DRAFT_07.contains(&key.as_str()) {
            return Err(Draft07Error::NoEquivalent {
                at: at.to_owned(),
                keyword: key.clone(),
            });
        }
        let rendered = match key.as_str() {
            // maps of name -> subschema
            "properties" | "patternProperties" | "$defs" | "definitions" => {
                let mut m = Map::new();
                for (name, sub) in v.as_object().into_iter().flatten() {
                    let sub_at = format!("{here}/{}", name.replace('~', "~0").replace('/', "~1"));
                    m.insert(name.clone(), schema(sub, &sub_at)?);
                }
                Value::Object(m)
            }
            // one subschema
            "additionalProperties"
            | "propertyNames"
            | "items"
            | "additionalItems"
            | "contains"
            | "not"
            | "if"
            | "then"
            | "else" => match v {
                Value::Array(items) => Value::Array(subschemas(items, &here)?),
                _ => schema(v, &here)?,
            },
            // arrays of subschemas
            "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(items) => Value::Array(subschemas(items, &here)?),
                _ => return Err(Draft07Error::NotASchema { at: here }),
            },
            "$ref" => match v.as_str() {
                Some(r) => Value::String(reference(r)),
                None => v.clone(),
            },
            _ => v.clone(),
        };
        let key = if key == "$defs" { "definitions" } else { key };
        out.insert(key.to_owned(), rendered);
    }
    Ok(Value::Object(ref_with_siblings(out)))
}

fn subschemas(items: &[Value], at: &str) -> Result<Vec<Value>, Draft07Error> {
    items
        .iter()
        .enumerate()
        .map(|(i, s)| schema(s, &format!("{at}/{i}")))
        .collect()
}

/// `#/$defs/x` -> `#/definitions/x`; other references unchanged.
fn reference(r: &str) -> String {
    match r.strip_prefix("#/$defs/") {
        Some(rest) => format!("#/definitions/{rest}"),
        None => r.to_owned(),
    }
}

/// A `$ref` beside validation keywords moves into an `allOf`, so draft-07 applies both.
fn ref_with_siblings(mut map: Map<String, Value>) -> Map<String, Value> {
    let validating = map
        .keys()
        .any(|k| k != "$ref" && !ANNOTATIONS.contains(&k.as_str()) && !k.starts_with("x-"));
    if !validating {
        return map;
    }
    let Some(r) = map.remove("$ref") else {
        return map;
    };
    let mut target = Map::new();
    target.insert("$ref".to_owned(), r);
    let all_of = map
        .entry("allOf")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = all_of {
        items.insert(0, Value::Object(target));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defs_and_refs_are_renamed() {
        let doc = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://example.test/a.json",
            "properties": {"a": {"$ref": "#/$defs/x", "description": "kept"}},
            "$defs": {"x": {"type": "string"}}
        });
        let out = to_draft07(&doc).unwrap();
        assert_eq!(
            out,
            json!({
                "$schema": DRAFT_07,
                "properties": {"a": {"$ref": "#/definitions/x", "description": "kept"}},
                "definitions": {"x": {"type": "string"}}
            })
        );
    }

    #[test]
    fn a_ref_beside_validation_keywords_moves_into_all_of() {
        let doc = json!({"properties": {"a": {"$ref": "#/$defs/x", "maxLength": 3}}});
        let out = to_draft07(&doc).unwrap();
        assert_eq!(
            out["properties"]["a"],
            json!({"allOf": [{"$ref": "#/definitions/x"}], "maxLength": 3})
        );
    }

    #[test]
    fn a_property_named_like_a_keyword_is_a_name() {
        let doc = json!({"properties": {"$defs": {"type": "string"}}});
        let out = to_draft07(&doc).unwrap();
        assert_eq!(out["properties"]["$defs"], json!({"type": "string"}));
    }

    #[test]
    fn keywords_without_a_draft_07_form_are_errors() {
        let doc = json!({"properties": {"a": {"prefixItems": [true]}}});
        assert_eq!(
            to_draft07(&doc),
            Err(Draft07Error::NoEquivalent {
                at: "/properties/a".to_owned(),
                keyword: "prefixItems".to_owned()
            })
        );
        let bad = json!({"properties": {"a": 3}});
        assert_eq!(
            to_draft07(&bad),
            Err(Draft07Error::NotASchema {
                at: "/properties/a".to_owned()
            })
        );
    }
}
