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

mod dead_letters {
    use super::*;
    use todo_consumer::deadletter::{record, Class, Letter, Position, MAX_ATTEMPTS};

    fn event(id: Uuid) -> Vec<u8> {
        json!({"specversion": "1.0", "data": {"event_id": id, "event_type": "task.created",
               "schema_version": "1.0.0", "user_id": "alice"}})
        .to_string()
        .into_bytes()
    }

    fn dead(v: Value) -> Vec<String> {
        serde_json::from_value(v["dead"].clone()).unwrap()
    }

    fn total(db: &mut Db, reason: &str) -> i64 {
        db.count(&format!(
            "SELECT COALESCE(sum(value), 0)::bigint FROM metric_counters \
             WHERE name = 'dead_letters_total' AND labels->>'reason' = '{reason}' \
             AND labels->>'consumer' = 'audit' AND labels->>'topic' = 'task-events'"
        ))
    }

    #[test]
    fn a_refused_event_is_dead_at_once_with_its_reason_position_and_payload() {
        let mut db = Db::new();
        let id = Uuid::new_v4();
        let body = event(id);
        let l = Letter::refused(
            &body,
            Class::BadVersion,
            "schema_version 2.0.0 has an unknown MAJOR".into(),
            Position::from_metadata(Some("1"), Some("17")),
        );
        let garbage = Letter::refused(
            b"\xffnot json",
            Class::NotJson,
            "not JSON".into(),
            Position::default(),
        );
        let out = db.one(&record("task-events", "audit", &[l, garbage.clone()]));
        let mut want = vec![id.to_string(), garbage.key.clone()];
        want.sort();
        assert_eq!(dead(out), want);
        assert_eq!(
            db.texts(&format!(
                "SELECT concat_ws('|', state, reason_class, attempts, kafka_partition, kafka_offset, \
                 event_type, user_id, convert_from(payload, 'UTF8') = '{}') FROM dead_letters \
                 WHERE key = '{id}'",
                String::from_utf8(body).unwrap()
            )),
            vec!["dead|bad_version|1|1|17|task.created|alice|t"]
        );
        assert_eq!(
            db.count(
                "SELECT count(*) FROM dead_letters WHERE payload = '\\xff6e6f74206a736f6e'::bytea"
            ),
            1,
            "bytes that are not text are kept exactly"
        );
        assert_eq!(total(&mut db, "bad_version"), 1);
        assert_eq!(total(&mut db, "not_json"), 1);
        // Dapr delivers it again (its DLQ publish failed): still one row, counted once.
        let again = Letter::refused(
            &event(id),
            Class::BadVersion,
            "again".into(),
            Position::default(),
        );
        assert_eq!(
            dead(db.one(&record("task-events", "audit", &[again]))),
            vec![id.to_string()]
        );
        assert_eq!(total(&mut db, "bad_version"), 1);
        assert_eq!(db.count("SELECT count(*) FROM dead_letters"), 2);
    }

    #[test]
    fn a_failing_event_is_dead_at_the_cap_and_counts_again_after_a_redrive() {
        let mut db = Db::new();
        let id = Uuid::new_v4();
        let fail = || Letter::failed(&event(id), "the statement failed", Position::default());
        for attempt in 1..MAX_ATTEMPTS {
            let out = db.one(&record("task-events", "audit", &[fail()]));
            assert!(dead(out).is_empty(), "attempt {attempt} is not the last");
        }
        assert_eq!(total(&mut db, "exhausted"), 0);
        assert_eq!(
            dead(db.one(&record("task-events", "audit", &[fail()]))),
            vec![id.to_string()]
        );
        assert_eq!(
            db.texts("SELECT concat_ws('|', state, attempts, reason) FROM dead_letters"),
            vec![format!(
                "dead|{MAX_ATTEMPTS}|retries exhausted: the statement failed"
            )]
        );
        assert_eq!(total(&mut db, "exhausted"), 1);
        // Re-driven, it fails again: counting starts over.
        db.count("WITH u AS (UPDATE dead_letters SET state = 'redriven' RETURNING 1) SELECT count(*) FROM u");
        assert!(dead(db.one(&record("task-events", "audit", &[fail()]))).is_empty());
        assert_eq!(
            db.texts("SELECT concat_ws('|', state, attempts) FROM dead_letters"),
            vec!["retrying|1"]
        );
        // Another consumer's failure of the same event is its own row.
        let other = db.one(&record("task-events", "recurring", &[fail()]));
        assert!(dead(other).is_empty());
        assert_eq!(db.count("SELECT count(*) FROM dead_letters"), 2);
    }
}
