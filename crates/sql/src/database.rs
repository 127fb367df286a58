//! Running statements through the component's Dapr sidecar (feature `sidecar`).

use serde::de::DeserializeOwned;
use serde_json::Value;
use todo_sidecar::vars::VarError;
use todo_sidecar::{Sidecar, SidecarError};

use crate::{shape, single, RowError, Statement};

/// The name of the `bindings.postgresql` component every service keeps its data in
/// (`contracts/dapr-components/*/postgres-binding.yaml`).
pub const BINDING: &str = "tododb";

/// Why a statement gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The component's variables do not name its sidecar.
    #[error(transparent)]
    Config(#[from] VarError),
    /// The sidecar (or the binding behind it) failed or refused the call.
    #[error(transparent)]
    Sidecar(#[from] SidecarError),
    /// The statement answered no row (it failed in the database) or a row of another shape.
    #[error(transparent)]
    Row(#[from] RowError),
}

impl DbError {
    /// Whether trying again later may succeed: the sidecar or the database was unreachable, or
    /// the statement failed inside the database (a restart, a lock timeout: the binding reports
    /// every execution error the same way, so it counts as transient).
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Config(_) => false,
            DbError::Sidecar(e) => e.is_transient(),
            DbError::Row(e) => *e == RowError::NoRow,
        }
    }
}

/// The project's PostgreSQL as one component sees it: its sidecar and the binding [`BINDING`].
#[derive(Debug, Clone)]
pub struct Database {
    sidecar: Sidecar,
}

impl Database {
    /// The database behind `sidecar`.
    pub fn new(sidecar: Sidecar) -> Database {
        Database { sidecar }
    }

    /// The database behind the sidecar the component's variables name (`dapr_url`,
    /// `dapr_api_token`).
    pub fn from_vars() -> Result<Database, DbError> {
        Ok(Database::new(Sidecar::from_vars()?))
    }

    /// The sidecar, for the calls that are not SQL (publish, jobs, other bindings).
    pub fn sidecar(&self) -> &Sidecar {
        &self.sidecar
    }

    /// Runs `st` and answers its rows as the binding returns them.
    pub async fn rows(&self, st: &Statement) -> Result<Vec<Vec<Value>>, DbError> {
        Ok(self.sidecar.query(BINDING, &st.sql, &st.params).await?)
    }

    /// Runs `st` and reads its one JSON row as `T` (see [`crate::single`]).
    pub async fn one<T: DeserializeOwned>(&self, st: &Statement) -> Result<T, DbError> {
        let rows = self.rows(st).await?;
        decode(&rows)
    }
}

/// The one JSON row of `rows` as `T`.
pub fn decode<T: DeserializeOwned>(rows: &[Vec<Value>]) -> Result<T, DbError> {
    serde_json::from_value(single(rows)?).map_err(|e| DbError::Row(shape(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Counted {
        count: u64,
    }

    #[test]
    fn a_row_decodes_into_its_type_and_no_row_is_transient() {
        let rows = vec![vec![json!(r#"{"count": 2}"#)]];
        assert_eq!(decode::<Counted>(&rows).unwrap(), Counted { count: 2 });
        let none = decode::<Counted>(&[]).unwrap_err();
        assert!(none.is_transient(), "{none}");
        let wrong = decode::<Counted>(&[vec![json!(r#"{"n": 2}"#)]]).unwrap_err();
        assert!(!wrong.is_transient(), "{wrong}");
        let refused = DbError::Sidecar(SidecarError::Refused {
            call: "POST /v1.0/bindings/tododb".into(),
            status: 400,
            body: String::new(),
        });
        assert!(!refused.is_transient());
        assert!(DbError::Sidecar(SidecarError::Unavailable("down".into())).is_transient());
    }
}
