//! The consumer inbox on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated
//! schema per test). Run with `cargo test -p todo-consumer --features pg --test sql_pg`.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use todo_consumer::{record_consumed_batch, Delivery};
use todo_events::Topic;
use todo_pgtest::Db;
use uuid::Uuid;

fn delivery() -> Delivery {
    Delivery {
        topic: Topic::TaskEvents,
        event_type: "task.updated".into(),
        schema_version: "1.0.0".into(),
        event_at: Some(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()),
        received_at: Utc::now(),
    }
}

#[test]
fn a_bulk_of_events_without_an_effect_is_recorded_once_in_one_statement() {
    let mut db = Db::new();
    let d = delivery();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let st = record_consumed_batch("recurring", &[(a, d.clone()), (b, d.clone()), (a, d)]);
    let processed = |rows: Vec<Vec<Value>>| todo_sql::single(&rows).unwrap()["processed"].clone();
    assert_eq!(processed(db.run(&st)), json!(2));
    assert_eq!(
        processed(db.run(&st)),
        json!(0),
        "a redelivery records nothing"
    );
    assert_eq!(
        db.count(
            "SELECT count(*) FROM processed_events WHERE consumer = 'recurring' \
             AND topic = 'task-events' AND event_type = 'task.updated' AND event_at IS NOT NULL"
        ),
        2
    );
}

#[test]
fn two_replicas_recording_the_same_events_at_once_record_each_once() {
    let mut db = Db::new();
    let events: Vec<(Uuid, Delivery)> = (0..200).map(|_| (Uuid::new_v4(), delivery())).collect();
    let st = record_consumed_batch("recurring", &events);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut conn = db.another();
            let st = st.clone();
            std::thread::spawn(move || conn.one(&st)["processed"].as_i64().unwrap())
        })
        .collect();
    let processed: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(processed, 200, "each event new to exactly one of the two");
    assert_eq!(db.count("SELECT count(*) FROM processed_events"), 200);
}
