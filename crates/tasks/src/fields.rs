//! Reading a JSON object field by field, collecting every problem with its JSON pointer.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::problem::{pointer, ValidationErrors};

/// A field of a partial update: absent (leave unchanged), `null` (clear) or a value (set).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    /// The field was not in the body.
    #[default]
    Absent,
    /// The field was `null`.
    Null,
    /// The field had a value.
    Value(T),
}

impl<T> Patch<T> {
    /// True unless [`Patch::Absent`].
    pub fn is_present(&self) -> bool {
        !matches!(self, Patch::Absent)
    }

    /// The value, if one was given.
    pub fn value(&self) -> Option<&T> {
        match self {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    /// `null` becomes [`Patch::Null`], anything else [`Patch::Value`]; use with
    /// `#[serde(default)]` so a missing field stays [`Patch::Absent`].
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Patch::Null,
            Some(v) => Patch::Value(v),
        })
    }
}

/// The fields of one JSON object at pointer `base`, read one at a time. Unknown keys are
/// reported by [`Fields::finish`].
pub(crate) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    base: String,
    known: &'static [&'static str],
}

impl<'a> Fields<'a> {
    /// `value` must be an object (else one error at `base`, and `None`).
    pub fn new(
        value: &'a Value,
        base: &str,
        known: &'static [&'static str],
        errors: &mut ValidationErrors,
    ) -> Option<Fields<'a>> {
        match value.as_object() {
            Some(obj) => Some(Fields {
                obj,
                base: base.to_owned(),
                known,
            }),
            None => {
                errors.push(base, "must be a JSON object");
                None
            }
        }
    }

    /// JSON pointer of `key` in this object.
    pub fn at(&self, key: &str) -> String {
        pointer(&self.base, key)
    }

    /// The field as a `Patch<T>`; a value of the wrong type is recorded and read as absent.
    pub fn patch<T: DeserializeOwned>(&self, key: &str, errors: &mut ValidationErrors) -> Patch<T> {
        debug_assert!(self.known.contains(&key), "{key} is not a known field");
        match self.obj.get(key) {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(v) => match T::deserialize(v) {
                Ok(t) => Patch::Value(t),
                Err(e) => {
                    errors.push(self.at(key), type_message(&e.to_string()));
                    Patch::Absent
                }
            },
        }
    }

    /// The field as an optional value; `null` reads as absent.
    pub fn optional<T: DeserializeOwned>(
        &self,
        key: &str,
        errors: &mut ValidationErrors,
    ) -> Option<T> {
        match self.patch(key, errors) {
            Patch::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The raw JSON value of the field, if present.
    pub fn raw(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key)
    }

    /// Records every key that is not a known field.
    pub fn finish(&self, errors: &mut ValidationErrors) {
        for key in self.obj.keys() {
            if !self.known.contains(&key.as_str()) {
                errors.push(self.at(key), "unknown field");
            }
        }
    }
}

/// serde's message without its " at line x column y" suffix.
fn type_message(text: &str) -> String {
    match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text.to_owned(),
    }
}

/// Parses a request body as one JSON value (error at `""` when it is not JSON).
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ValidationErrors> {
    serde_json::from_slice(body)
        .map_err(|e| ValidationErrors::single("", format!("body is not valid JSON: {e}")))
}
