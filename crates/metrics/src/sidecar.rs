//! Running a counter statement of a rare path through the component's sidecar.

use todo_sidecar::Sidecar;
use todo_sql::Statement;

/// Runs counter statement `st` ([`crate::refused`], [`crate::failed`]) through the PostgreSQL
/// binding `binding` of `sidecar`. Best effort: a failure is logged (`<who>: metrics: ...`) and
/// the increment is lost; it never changes what the caller answers. It fails exactly when the
/// sidecar or the database is unreachable, which is then also why the delivery failed.
pub async fn count(sidecar: &Sidecar, binding: &str, st: &Statement, who: &str) {
    let outcome = match sidecar.query(binding, &st.sql, &st.params).await {
        Ok(rows) => todo_sql::count(&rows).map(drop).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = outcome {
        eprintln!("{who}: metrics: a counter increment is lost: {e}");
    }
}
