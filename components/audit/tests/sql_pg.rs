//! The audit log's SQL on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated
//! schema per test). Run with `cargo test -p audit --features pg --test sql_pg`.

use audit::log::{self, AuditRecord, Recorded};
use audit::query::AuditQuery;
use serde_json::json;
use todo_consumer::Delivery;
use todo_events::chrono::{Duration, TimeZone, Utc};
use todo_events::uuid::Uuid;
use todo_events::{format_timestamp, Topic};
use todo_pgtest::Db;

const SECRET: &[u8] = b"test-cursor-secret";

/// `secs` after 2026-05-01T08:00:00Z.
fn at(secs: i64) -> String {
    format_timestamp(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::seconds(secs))
}

fn record(user: &str, task: Uuid, kind: &str, secs: i64) -> AuditRecord {
    AuditRecord {
        event_id: Uuid::new_v4(),
        user_id: user.into(),
        task_id: task,
        occurred_at: at(secs),
        payload: json!({"event_type": kind, "unknown_minor_field": [1, 2]}),
        delivery: Delivery {
            topic: Topic::TaskEvents,
            event_type: kind.into(),
            schema_version: "1.1.0".into(),
            event_at: todo_events::parse_timestamp(&at(secs)).ok(),
            received_at: Utc::now(),
        },
    }
}

fn recorded(db: &mut Db, recs: &[AuditRecord]) -> Recorded {
    serde_json::from_value(db.one(&log::record("audit", recs))).unwrap()
}

#[test]
fn a_delivery_records_each_new_event_once_in_one_statement_in_order() {
    let mut db = Db::new();
    let task = Uuid::new_v4();
    let old = record("alice", task, "task.created", 0);
    assert_eq!(
        recorded(&mut db, std::slice::from_ref(&old)),
        Recorded {
            processed: 1,
            inserted: 1
        }
    );
    let b = record("alice", task, "task.updated", 60);
    let c = record("bob", Uuid::new_v4(), "task.created", 120);
    // The already recorded event, and one event twice in the same batch.
    let batch = [b.clone(), old.clone(), c.clone(), b.clone()];
    assert_eq!(
        recorded(&mut db, &batch),
        Recorded {
            processed: 2,
            inserted: 2
        }
    );
    assert_eq!(db.count("SELECT count(*) FROM audit_log"), 3);
    assert_eq!(db.count("SELECT count(*) FROM processed_events"), 3);
    // In the batch's order, after the earlier one.
    let order = db.count(&format!(
        "SELECT count(*) FROM audit_log a JOIN audit_log o ON o.event_id = '{}' \
         JOIN audit_log x ON x.event_id = '{}' JOIN audit_log y ON y.event_id = '{}' \
         WHERE o.seq < x.seq AND x.seq < y.seq AND a.event_id = y.event_id",
        old.event_id, b.event_id, c.event_id
    ));
    assert_eq!(order, 1, "audit rows are not in delivery order");
    let same = db.count(&format!(
        "SELECT count(*) FROM audit_log WHERE event_id = '{}' AND user_id = 'bob' \
         AND task_id = '{}' AND event_type = 'task.created' AND schema_version = '1.1.0' \
         AND occurred_at = '{}'::timestamptz AND payload = '{}'::jsonb",
        c.event_id, c.task_id, c.occurred_at, c.payload
    ));
    assert_eq!(same, 1);
    let pe = db.count(&format!(
        "SELECT count(*) FROM processed_events WHERE event_id = '{}' AND consumer = 'audit' \
         AND topic = 'task-events' AND event_type = 'task.created' AND event_at IS NOT NULL \
         AND received_at IS NOT NULL",
        c.event_id
    ));
    assert_eq!(pe, 1);
    // The whole batch redelivered: nothing more.
    assert_eq!(
        recorded(&mut db, &batch),
        Recorded {
            processed: 0,
            inserted: 0
        }
    );
    assert_eq!(db.count("SELECT count(*) FROM audit_log"), 3);
}

#[test]
fn two_replicas_recording_the_same_delivery_at_once_write_one_row_each() {
    let mut db = Db::new();
    let recs: Vec<AuditRecord> = (0..50)
        .map(|i| record("alice", Uuid::new_v4(), "task.created", i))
        .collect();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut other = db.another();
            let recs = recs.clone();
            std::thread::spawn(move || recorded(&mut other, &recs))
        })
        .collect();
    let outcomes: Vec<Recorded> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(
        outcomes.iter().map(|o| o.inserted).sum::<u64>(),
        50,
        "{outcomes:?}"
    );
    assert_eq!(db.count("SELECT count(*) FROM audit_log"), 50);
    assert_eq!(db.count("SELECT count(*) FROM processed_events"), 50);
}

#[test]
fn the_log_lists_a_users_events_newest_first_filtered_and_paged() {
    let mut db = Db::new();
    let t1 = Uuid::new_v4();
    let t2 = Uuid::new_v4();
    let mut recs = Vec::new();
    for (i, (task, kind)) in [
        (t1, "task.created"),
        (t2, "task.created"),
        (t1, "task.updated"),
        (t1, "task.completed"),
        (t2, "task.deleted"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = record("alice", task, kind, i as i64 * 60);
        assert_eq!(recorded(&mut db, std::slice::from_ref(&r)).inserted, 1);
        recs.push(r);
    }
    recorded(&mut db, &[record("bob", t1, "task.created", 0)]);

    let mut all = Vec::new();
    let mut q = AuditQuery::parse("limit=2", "alice", SECRET).unwrap();
    loop {
        let page = log::page(&db.run(&log::list(&q)), &q, SECRET).unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => {
                q = AuditQuery::parse(&format!("limit=2&cursor={c}"), "alice", SECRET).unwrap()
            }
            None => break,
        }
    }
    let got: Vec<Uuid> = all.iter().map(|e| e.event_id).collect();
    let want: Vec<Uuid> = recs.iter().rev().map(|r| r.event_id).collect();
    assert_eq!(got, want, "newest first, alice only");
    assert_eq!(all[0].payload["unknown_minor_field"], json!([1, 2]));
    assert_eq!(all[0].schema_version, "1.1.0");
    assert_eq!(all[4].occurred_at, at(0));

    let kinds = |db: &mut Db, query: &str, user: &str| -> Vec<String> {
        let q = AuditQuery::parse(query, user, SECRET).unwrap();
        let page = log::page(&db.run(&log::list(&q)), &q, SECRET).unwrap();
        assert!(page.next_cursor.is_none());
        page.items.into_iter().map(|e| e.event_type).collect()
    };
    assert_eq!(
        kinds(&mut db, &format!("task_id={t1}"), "alice"),
        ["task.completed", "task.updated", "task.created"]
    );
    assert_eq!(
        kinds(
            &mut db,
            "from=2026-05-01T08:01:00Z&to=2026-05-01T08:03:00Z",
            "alice"
        ),
        ["task.updated", "task.created"],
        "from inclusive, to exclusive"
    );
    assert!(kinds(&mut db, &format!("task_id={t1}"), "carol").is_empty());
}
