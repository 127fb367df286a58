//! The feed's SQL on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated schema
//! per test): sequences per user without gaps or duplicates, a redelivery that finds its sequence,
//! two replicas appending the same delivery at once, replay after a position.
//! Run with `cargo test -p realtime --features pg --test sql_pg`.

use realtime::feed::{self, Appended, Pending};
use serde_json::{json, Value};
use todo_consumer::Delivery;
use todo_events::chrono::Utc;
use todo_events::uuid::Uuid;
use todo_events::Topic;
use todo_pgtest::Db;

fn delivery() -> Delivery {
    Delivery {
        topic: Topic::TaskUpdates,
        event_type: "task.updated".into(),
        schema_version: "1.0.0".into(),
        event_at: None,
        received_at: Utc::now(),
    }
}

/// Updates `(user, id, payload)` appended in one statement; their sequences.
fn append(db: &mut Db, updates: &[(&str, Uuid, Value)]) -> Vec<Option<i64>> {
    let d = delivery();
    let pending: Vec<Pending<'_>> = updates
        .iter()
        .map(|(user, id, payload)| Pending {
            user,
            event_id: *id,
            payload,
            delivery: &d,
        })
        .collect();
    let appended: Appended = serde_json::from_value(db.one(&feed::append(&pending))).unwrap();
    appended.seqs
}

fn seqs_of(db: &mut Db, user: &str) -> Vec<i64> {
    db.texts(&format!(
        "SELECT f.seq::text FROM realtime_feed f WHERE f.user_id = '{user}' ORDER BY f.seq"
    ))
    .iter()
    .map(|s| s.parse().unwrap())
    .collect()
}

#[test]
fn each_user_gets_consecutive_sequences_and_a_redelivery_finds_its_own() {
    let mut db = Db::new();
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let batch = [
        ("alice", ids[0], json!({"n": 0})),
        ("bob", ids[1], json!({"n": 1})),
        ("alice", ids[2], json!({"n": 2})),
        ("alice", ids[0], json!({"n": 0})), // twice in one delivery
    ];
    assert_eq!(
        append(&mut db, &batch),
        [Some(1), Some(1), Some(2), Some(1)]
    );
    let next = [
        ("alice", ids[3], json!({"n": 3})),
        ("bob", ids[4], json!({"n": 4})),
    ];
    assert_eq!(append(&mut db, &next), [Some(3), Some(2)]);
    // The whole first delivery again: the sequences it got, nothing appended.
    assert_eq!(
        append(&mut db, &batch),
        [Some(1), Some(1), Some(2), Some(1)]
    );
    assert_eq!(seqs_of(&mut db, "alice"), [1, 2, 3]);
    assert_eq!(seqs_of(&mut db, "bob"), [1, 2]);
    assert_eq!(
        db.count("SELECT count(*) FROM processed_events WHERE consumer = 'realtime'"),
        5
    );
}

#[test]
fn two_replicas_appending_the_same_delivery_at_once_leave_no_gap_and_no_duplicate() {
    let mut db = Db::new();
    for round in 0..10 {
        let updates: Vec<(String, Uuid, Value)> = (0..20)
            .map(|i| {
                (
                    format!("user-{}", i % 3),
                    Uuid::new_v4(),
                    json!({"round": round, "i": i}),
                )
            })
            .collect();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut conn = db.another();
                let updates = updates.clone();
                std::thread::spawn(move || {
                    let borrowed: Vec<(&str, Uuid, Value)> = updates
                        .iter()
                        .map(|(u, id, p)| (u.as_str(), *id, p.clone()))
                        .collect();
                    append(&mut conn, &borrowed)
                })
            })
            .collect();
        let answers: Vec<Vec<Option<i64>>> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        // The replica that lost the race to an update may not see its row yet (its statement's
        // snapshot predates the winner's commit): it answers no sequence and does not publish it;
        // the winner does. Never two different sequences for one update.
        for (i, (a, b)) in answers[0].iter().zip(&answers[1]).enumerate() {
            assert!(
                a.is_some() || b.is_some(),
                "update {i} got no sequence at all"
            );
            if let (Some(a), Some(b)) = (a, b) {
                assert_eq!(a, b, "update {i} got two sequences");
            }
        }
    }
    for u in 0..3 {
        let seqs = seqs_of(&mut db, &format!("user-{u}"));
        let want: Vec<i64> = (1..=seqs.len() as i64).collect();
        assert_eq!(seqs, want, "user-{u}: a gap or a duplicate");
    }
    assert_eq!(db.count("SELECT count(*) FROM realtime_feed"), 200);
}

#[test]
fn a_replay_gives_what_came_after_a_position_with_the_feeds_bounds() {
    let mut db = Db::new();
    let updates: Vec<(&str, Uuid, Value)> = (0..4)
        .map(|i| ("carol", Uuid::new_v4(), json!({"i": i})))
        .collect();
    append(&mut db, &updates);
    let replay = feed::replayed(&db.run(&feed::replay("carol", Some(2)))).unwrap();
    assert_eq!((replay.first, replay.last), (Some(1), Some(4)));
    let seqs: Vec<i64> = replay.items.iter().map(|i| i.seq).collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(replay.items[0].event, json!({"i": 2}));
    assert!(!replay.needs_reset(2));
    let fresh = feed::replayed(&db.run(&feed::replay("carol", None))).unwrap();
    assert!(fresh.items.is_empty() && fresh.position() == 4);
    let nobody = feed::replayed(&db.run(&feed::replay("dave", Some(0)))).unwrap();
    assert_eq!((nobody.last, nobody.items.len()), (None, 0));
}
