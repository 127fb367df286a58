//! The migrations on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh schema per test).
//! Run with `cargo test -p todo-migrate --features pg --test sql_pg`.

use todo_pgtest::Db;

#[test]
fn migrations_are_idempotent() {
    let mut db = Db::new();
    assert!(todo_migrate::apply(&mut db.client).unwrap().is_empty());
    assert_eq!(
        todo_migrate::current_version(&mut db.client).unwrap(),
        todo_migrate::migrations().last().map(|m| m.version)
    );
}
