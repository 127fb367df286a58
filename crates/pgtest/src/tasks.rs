//! Task rows as the task API writes them, for the tests of the crates that read them (the task
//! SQL, the outbox, the metrics). Feature `tasks`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;
use todo_tasks::sql::{self, decode};
use todo_tasks::{events_for_change, validate_create, Change, Task};
use uuid::Uuid;

use crate::Db;

/// 2026-05-01T08:00:00Z plus `secs` seconds: the tests' clock.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::seconds(secs)
}

/// A valid new task of `user` from a create body, as the task API validates it.
pub fn new_task(user: &str, body: Value, created: DateTime<Utc>) -> Task {
    validate_create(body.to_string().as_bytes(), Uuid::new_v4(), user, created).unwrap()
}

/// Inserts `t` with its events and gives up the writer's hold on them (as after a failed
/// publish), so any drainer may claim them; answers the stored task.
pub fn insert(db: &mut Db, t: &Task) -> Task {
    let outbox = events_for_change(Change::Created, None, t).unwrap();
    let (task, ids) = decode::inserted(&db.run(&sql::insert_task(t, &outbox))).unwrap();
    assert_eq!(ids.len(), outbox.len());
    assert_eq!(
        todo_sql::count(&db.run(&todo_outbox::release_outbox(&ids))).unwrap(),
        ids.len() as u64
    );
    task.expect("inserted")
}
