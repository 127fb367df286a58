//! The outbox SQL on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated schema
//! per test): claims in order per key, concurrent drainers, publishing and purging. The rows come
//! from the task API's writes (todo-tasks), as in production.
//! Run with `cargo test -p todo-outbox --features pg --test sql_pg`.

use serde_json::json;
use todo_outbox::{self as outbox, OutboxRow};
use todo_pgtest::tasks::{at, insert, new_task};
use todo_pgtest::Db;
use todo_tasks::sql::{self, decode};
use todo_tasks::{events_for_change, Change, UpdateTask};
use uuid::Uuid;

#[test]
fn outbox_claims_keep_per_key_order() {
    let mut db = Db::new();
    let a = insert(&mut db, &new_task("alice", json!({"title": "a"}), at(0)));
    let b = insert(&mut db, &new_task("alice", json!({"title": "b"}), at(1)));
    let a2 = a
        .apply_update(&UpdateTask::completion(true), at(2))
        .unwrap();
    let msgs = events_for_change(Change::Updated, Some(&a), &a2).unwrap();
    assert!(decode::task(&db.run(&sql::update_task(&a2, &msgs)))
        .unwrap()
        .is_some());
    // Rows: a:task-events, a:task-updates, b:task-events, b:task-updates, a:task-events, a:task-updates
    let stats = outbox::outbox_stats_row(&db.run(&outbox::outbox_stats())).unwrap();
    assert_eq!(stats.pending, 6);
    assert!(stats.oldest_created_at.is_some());

    // Drainer 1 takes only the oldest head: a's task.created on task-events.
    let first = outbox::outbox_batch(&db.run(&outbox::claim_outbox(1, 30))).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].topic.as_str(), first[0].task_id),
        ("task-events", a.id)
    );
    assert_eq!(first[0].payload["event_type"], "task.created");

    // Drainer 2 gets every other key with its whole run (a's two task-updates rows in order),
    // but not a's task.completed: its key is held by drainer 1.
    let second = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30))).unwrap();
    let keys: Vec<(&str, Uuid, &str)> = second
        .iter()
        .map(|r| {
            (
                r.topic.as_str(),
                r.task_id,
                r.payload["event_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("task-updates", a.id, "task.created"),
            ("task-events", b.id, "task.created"),
            ("task-updates", b.id, "task.created"),
            ("task-updates", a.id, "task.completed"),
        ]
    );
    assert!(
        outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30)))
            .unwrap()
            .is_empty()
    );

    // Once a's head is published, its next row becomes claimable.
    let ids: Vec<i64> = first.iter().map(|r| r.id).collect();
    assert_eq!(
        todo_sql::count(&db.run(&outbox::mark_published(&ids))).unwrap(),
        1
    );
    assert_eq!(
        todo_sql::count(&db.run(&outbox::mark_published(&ids))).unwrap(),
        0
    );
    let third = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30))).unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].payload["event_type"], "task.completed");
    assert!(third[0].id > first[0].id);
    assert_eq!(
        todo_sql::count(&db.run(&outbox::mark_published(&[third[0].id]))).unwrap(),
        1
    );

    let ids2: Vec<i64> = second.iter().map(|r| r.id).collect();
    assert_eq!(
        todo_sql::count(&db.run(&outbox::release_outbox(&ids2))).unwrap(),
        4
    );
    let again = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 1))).unwrap();
    assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), ids2);
    // An expired claim is taken over.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let taken = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30))).unwrap();
    assert_eq!(taken.len(), 4);
    assert_eq!(
        todo_sql::count(&db.run(&outbox::mark_published(&ids2))).unwrap(),
        4
    );
    assert_eq!(
        outbox::outbox_stats_row(&db.run(&outbox::outbox_stats()))
            .unwrap()
            .pending,
        0
    );
    assert_eq!(
        todo_sql::count(&db.run(&outbox::purge_published(3600))).unwrap(),
        0
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        todo_sql::count(&db.run(&outbox::purge_published(0))).unwrap(),
        6
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
}

#[test]
fn concurrent_drainers_never_share_a_row_or_a_key() {
    let mut db = Db::new();
    for i in 0..30 {
        let t = insert(
            &mut db,
            &new_task("alice", json!({"title": format!("t{i}")}), at(i)),
        );
        if i % 3 == 0 {
            let done = t
                .apply_update(&UpdateTask::completion(true), at(100 + i))
                .unwrap();
            let msgs = events_for_change(Change::Updated, Some(&t), &done).unwrap();
            db.run(&sql::update_task(&done, &msgs));
        }
    }
    let total = db.count("SELECT count(*) FROM outbox");
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut conn = db.another();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let batch =
                        outbox::outbox_batch(&conn.run(&outbox::claim_outbox(3, 60))).unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    mine.extend(batch.into_iter().map(|r| (w, r)));
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<(usize, OutboxRow)> = workers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let mut ids: Vec<i64> = claimed.iter().map(|(_, r)| r.id).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "a row was claimed twice");
    let mut owner: std::collections::HashMap<(String, String), usize> = Default::default();
    for (w, r) in &claimed {
        let prev = owner.insert((r.topic.clone(), r.partition_key.clone()), *w);
        assert!(
            prev.is_none_or(|p| p == *w),
            "key {} held by two drainers",
            r.partition_key
        );
    }
    // Unclaimed rows are exactly the later rows of keys whose run did not fit in a batch.
    assert!(n as i64 <= total && n >= 60, "claimed {n} of {total}");
}
