//! SQL over Dapr's `bindings.postgresql` binding: the statement type, the parameter binder and
//! the decoding of the one JSON row every statement returns. Shared by every service that keeps
//! data in PostgreSQL (task API, audit, recurring, notification, realtime).
//!
//! Conventions, chosen for how the binding behaves (components-contrib 1.18, pgx v5):
//! - One call = one statement in its own transaction, so a write and its outbox or idempotency
//!   rows are one statement (data-modifying CTEs).
//! - Every parameter is a JSON string or `null`, and every placeholder is written `$n::text`
//!   followed by an explicit cast (`$2::text::uuid`, `$5::text::timestamptz`,
//!   `$9::text::jsonb`), so nothing depends on how the driver maps JSON numbers or nested
//!   values. Arrays travel as a JSON text and are unpacked in SQL
//!   (`ARRAY(SELECT jsonb_array_elements_text($n::text::jsonb))`).
//! - Every statement returns **exactly one row** with **one text column** holding a JSON
//!   object (instants as `YYYY-MM-DDTHH:MM:SS.mmmZ`). The binding's `query` operation does not
//!   report errors that happen while a statement executes (constraint violations, bad casts): it
//!   answers `[]` with HTTP 200. Zero rows therefore always means "the statement failed", never
//!   "not found" — "not found" is a row such as `{"task": null}`. See [`decode`].
//! - Every statement runs with the operation `query` (`todo_sidecar::Sidecar::query` fixes it);
//!   request input never chooses it (`close` would shut the binding's pool).

use serde::Deserialize;
use serde_json::Value;

#[cfg(any(test, feature = "testing"))]
pub mod conventions;
#[cfg(feature = "sidecar")]
mod database;
#[cfg(feature = "sidecar")]
pub use database::{decode, Database, DbError, BINDING};

/// One SQL statement and its parameters (`$1` is `params[0]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The SQL text with `$n` placeholders.
    pub sql: String,
    /// The parameters: JSON strings or `null`.
    pub params: Vec<Value>,
}

impl Statement {
    /// The parameters as the JSON-array string the binding's `params` metadata takes.
    pub fn params_json(&self) -> String {
        Value::Array(self.params.clone()).to_string()
    }
}

/// Collects parameters and answers their placeholders.
#[derive(Debug, Default)]
pub struct Binder {
    params: Vec<Value>,
}

impl Binder {
    /// Binds `value` (or SQL NULL) and answers `$n::text`.
    pub fn text(&mut self, value: Option<String>) -> String {
        self.params.push(value.map_or(Value::Null, Value::String));
        format!("${}::text", self.params.len())
    }

    /// Binds a string and answers `$n::text`.
    pub fn str(&mut self, value: &str) -> String {
        self.text(Some(value.to_owned()))
    }

    /// Binds `value`'s text and answers `$n::text::<cast>`.
    pub fn cast(&mut self, value: Option<String>, cast: &str) -> String {
        format!("{}::{cast}", self.text(value))
    }

    /// Binds `value` as JSON text and answers `$n::text::jsonb`.
    pub fn jsonb(&mut self, value: &Value) -> String {
        self.cast(Some(value.to_string()), "jsonb")
    }

    /// The statement `sql` with the parameters bound so far.
    pub fn finish(self, sql: String) -> Statement {
        Statement {
            sql,
            params: self.params,
        }
    }
}

/// `expr` (a timestamptz) as `YYYY-MM-DDTHH:MM:SS.mmmZ`, NULL stays NULL.
pub fn ts_ms(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// `expr` (a timestamptz) as `YYYY-MM-DDTHH:MM:SS.uuuuuuZ` (full precision, for cursors).
pub fn ts_us(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
}

/// A response that is not what the statement returns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    /// No row: the statement failed inside the database (the binding's `query` reports
    /// execution errors as an empty result). Treat as a database failure (500/RETRY).
    #[error("the statement returned no row: it failed in the database")]
    NoRow,
    /// Rows of another shape than one text column holding a JSON object.
    #[error("unexpected result shape: {0}")]
    Shape(String),
}

/// A [`RowError::Shape`] with `msg`.
pub fn shape(msg: impl Into<String>) -> RowError {
    RowError::Shape(msg.into())
}

/// Parses a binding `query` response body (`[[...], ...]`).
pub fn rows_from_body(body: &[u8]) -> Result<Vec<Vec<Value>>, RowError> {
    serde_json::from_slice(body).map_err(|e| shape(format!("not a JSON array of rows: {e}")))
}

/// The JSON object in the single row's single text column.
pub fn single(rows: &[Vec<Value>]) -> Result<Value, RowError> {
    let row = match rows {
        [] => return Err(RowError::NoRow),
        [row] => row,
        _ => return Err(shape(format!("{} rows, expected 1", rows.len()))),
    };
    let text = match row.as_slice() {
        [Value::String(s)] => s,
        _ => return Err(shape("expected one text column")),
    };
    let value: Value =
        serde_json::from_str(text).map_err(|e| shape(format!("column is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(shape("column is not a JSON object"));
    }
    Ok(value)
}

/// Field `name` of a row object as `T` (absent reads as `null`).
pub fn field<T: for<'de> Deserialize<'de>>(obj: &Value, name: &str) -> Result<T, RowError> {
    T::deserialize(obj.get(name).unwrap_or(&Value::Null))
        .map_err(|e| shape(format!("field {name}: {e}")))
}

/// `{"count": n}` of statements that report how many rows they changed.
pub fn count(rows: &[Vec<Value>]) -> Result<u64, RowError> {
    field(&single(rows)?, "count")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binder_numbers_placeholders_and_casts() {
        let mut b = Binder::default();
        assert_eq!(b.str("u"), "$1::text");
        assert_eq!(b.cast(Some("7".into()), "integer"), "$2::text::integer");
        assert_eq!(b.text(None), "$3::text");
        assert_eq!(b.jsonb(&json!([1])), "$4::text::jsonb");
        let st = b.finish("SELECT 1".into());
        assert_eq!(
            st.params,
            vec![json!("u"), json!("7"), Value::Null, json!("[1]")]
        );
        assert_eq!(st.params_json(), r#"["u","7",null,"[1]"]"#);
    }

    #[test]
    fn exactly_one_json_object_row() {
        assert_eq!(single(&[]), Err(RowError::NoRow));
        let row = |t: &str| vec![json!(t)];
        assert_eq!(single(&[row(r#"{"a":1}"#)]).unwrap(), json!({"a": 1}));
        assert!(matches!(single(&[row("[1]")]), Err(RowError::Shape(_))));
        assert!(matches!(
            single(&[row("{}"), row("{}")]),
            Err(RowError::Shape(_))
        ));
        assert!(matches!(single(&[vec![json!(1)]]), Err(RowError::Shape(_))));
        assert_eq!(count(&[row(r#"{"count":3}"#)]), Ok(3));
        assert_eq!(rows_from_body(br#"[["{}"]]"#).unwrap(), vec![row("{}")]);
    }
}
