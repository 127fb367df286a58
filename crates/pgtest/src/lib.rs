//! A real PostgreSQL for the statement builders' tests (each crate's `tests/sql_pg.rs`).
//!
//! [`Db::new`] connects to `TODO_TEST_PG_URL` (the tests FAIL, with a message saying how to set
//! it, when it is unset), creates a schema of its own (`todo_test_<uuid>`, dropped with the
//! value), applies the project's migrations into it, and runs statements exactly as Dapr's
//! `bindings.postgresql` runs them: the SQL text, every parameter as text or NULL, one text
//! column per row. `./dev test` points it at the dev stack's database; the schemas never touch
//! the application's tables.

use std::sync::Mutex;

#[cfg(feature = "tasks")]
pub mod tasks;

/// The PostgreSQL client crate, for checks the statements do not cover.
pub use postgres;

use postgres::types::ToSql;
use postgres::Client;
use serde_json::Value;
use todo_sql::Statement;

/// The environment variable naming the database.
pub const URL_VAR: &str = "TODO_TEST_PG_URL";

static SETUP: Mutex<()> = Mutex::new(());

/// A connection whose `search_path` is a fresh, migrated schema; the schema is dropped with the
/// value that created it.
pub struct Db {
    /// The connection, for checks in plain SQL.
    pub client: Client,
    schema: String,
}

fn url() -> String {
    let url = std::env::var(URL_VAR).unwrap_or_default();
    assert!(
        !url.trim().is_empty(),
        "{URL_VAR} is not set: this test runs SQL against a real PostgreSQL. Set it to a \
         database URL, e.g. {URL_VAR}='host=127.0.0.1 port=5432 user=todo password=... dbname=todo' \
         (the dev stack's database: ./dev up; the password is PG_PASSWORD in \
         ~/.cache/todo-events/run/secrets.env); ./dev test sets it."
    );
    url
}

impl Db {
    /// A fresh schema with every migration applied.
    pub fn new() -> Db {
        let mut client = todo_migrate::connect(&url()).expect("connect to TODO_TEST_PG_URL");
        let schema = format!("todo_test_{}", uuid::Uuid::new_v4().simple());
        {
            // One extension install at a time (CREATE EXTENSION is not concurrency-safe).
            let _guard = SETUP.lock().unwrap_or_else(|e| e.into_inner());
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                .expect("create extension pg_trgm");
        }
        client
            .batch_execute(&format!(
                "CREATE SCHEMA {schema}; SET search_path TO {schema}, public"
            ))
            .expect("create test schema");
        let applied = todo_migrate::apply(&mut client).expect("apply migrations");
        assert_eq!(applied.len(), todo_migrate::migrations().len());
        Db { client, schema }
    }

    /// The test's schema name.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Runs `st` like the binding does; every row must be exactly one text column.
    pub fn run(&mut self, st: &Statement) -> Vec<Vec<Value>> {
        let params: Vec<Option<String>> = st
            .params
            .iter()
            .map(|p| {
                assert!(
                    p.is_string() || p.is_null(),
                    "parameter {p} is not text or null"
                );
                p.as_str().map(str::to_owned)
            })
            .collect();
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = self
            .client
            .query(st.sql.as_str(), &refs)
            .unwrap_or_else(|e| panic!("{e:?}\nSQL: {}\nparams: {}", st.sql, st.params_json()));
        rows.iter()
            .map(|r| {
                assert_eq!(r.len(), 1, "one column");
                vec![Value::String(r.get::<_, String>(0))]
            })
            .collect()
    }

    /// The plan PostgreSQL makes for `st` (`EXPLAIN`), one line per row of the plan.
    pub fn explain(&mut self, st: &Statement) -> String {
        let explained = Statement {
            sql: format!("EXPLAIN {}", st.sql),
            params: st.params.clone(),
        };
        self.run(&explained)
            .iter()
            .map(|r| r[0].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Runs `st` and answers its one JSON row.
    pub fn one(&mut self, st: &Statement) -> Value {
        let rows = self.run(st);
        todo_sql::single(&rows).unwrap_or_else(|e| panic!("{e}: {rows:?}\nSQL: {}", st.sql))
    }

    /// Another connection on the same schema (for races); it drops nothing.
    pub fn another(&self) -> Db {
        let mut client = todo_migrate::connect(&url()).expect("connect to TODO_TEST_PG_URL");
        client
            .batch_execute(&format!("SET search_path TO {}, public", self.schema))
            .expect("set search_path");
        Db {
            client,
            schema: String::new(),
        }
    }

    /// The one `bigint` `sql` selects.
    pub fn count(&mut self, sql: &str) -> i64 {
        self.client
            .query_one(sql, &[])
            .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
            .get(0)
    }

    /// The text column of every row `sql` selects.
    pub fn texts(&mut self, sql: &str) -> Vec<String> {
        self.client
            .query(sql, &[])
            .unwrap_or_else(|e| panic!("{e}\nSQL: {sql}"))
            .iter()
            .map(|r| r.get(0))
            .collect()
    }
}

impl Default for Db {
    fn default() -> Db {
        Db::new()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        if self.schema.is_empty() {
            return;
        }
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
    }
}
