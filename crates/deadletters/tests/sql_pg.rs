//! The operator's statements on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh
//! migrated schema per test), with letters written by the consumers' own statement.
//! Run with `cargo test -p todo-deadletters --features pg --test sql_pg`.

use serde_json::{json, Value};
use todo_consumer::deadletter::{record, Class, Letter, Position};
use todo_deadletters::{list, redrive, show, Filter, Selection, REDRIVE_CAP};
use todo_pgtest::Db;
use uuid::Uuid;

fn dead_letter(db: &mut Db, consumer: &str) -> (Uuid, i64) {
    let id = Uuid::new_v4();
    let task = Uuid::new_v4();
    let body = json!({"specversion": "1.0", "data": {"event_id": id, "task_id": task,
        "event_type": "task.created", "schema_version": "2.0.0", "user_id": "alice"}});
    let l = Letter::refused(
        body.to_string().as_bytes(),
        Class::BadVersion,
        "unknown MAJOR 2".into(),
        Position::default(),
    );
    db.one(&record("task-events", consumer, &[l]));
    let n = db.count(&format!(
        "SELECT id FROM dead_letters WHERE key = '{id}' AND consumer = '{consumer}'"
    ));
    (id, n)
}

fn outcomes(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_redrive_publishes_once_through_the_outbox_and_stops_at_the_cap() {
    let mut db = Db::new();
    let (event, id) = dead_letter(&mut db, "audit");
    let dry = db.one(&redrive(&Selection::Ids(vec![id]), true));
    assert_eq!(outcomes(&dry), vec!["would_redrive"]);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox"),
        0,
        "a dry run writes nothing"
    );
    let done = db.one(&redrive(&Selection::Ids(vec![id]), false));
    assert_eq!(outcomes(&done), vec!["redriven"]);
    assert_eq!(done["published"], 1);
    assert_eq!(
        db.texts("SELECT payload->>'event_id' || '|' || topic || '|' || (partition_key = task_id::text) FROM outbox"),
        vec![format!("{event}|task-events|true")]
    );
    let again = db.one(&redrive(&Selection::Ids(vec![id]), false));
    assert_eq!(outcomes(&again), vec!["refused"]);
    assert_eq!(
        again["items"][0]["why"],
        "not pending: its state is redriven"
    );
    // It fails again and again: dead, re-driven, ... until the cap.
    for n in 2..=REDRIVE_CAP {
        dead_letter_again(&mut db, event);
        assert_eq!(
            outcomes(&db.one(&redrive(&Selection::Ids(vec![id]), false))),
            vec!["redriven"],
            "re-drive {n}"
        );
    }
    dead_letter_again(&mut db, event);
    let capped = db.one(&redrive(&Selection::Ids(vec![id]), false));
    assert_eq!(outcomes(&capped), vec!["refused"]);
    assert!(
        capped["items"][0]["why"]
            .as_str()
            .unwrap()
            .contains("the cap is 3"),
        "{capped}"
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), REDRIVE_CAP as i64);
}

fn dead_letter_again(db: &mut Db, event: Uuid) {
    let body = json!({"specversion": "1.0", "data": {"event_id": event}});
    let l = Letter::refused(
        body.to_string().as_bytes(),
        Class::Invalid,
        "again".into(),
        Position::default(),
    );
    db.one(&record("task-events", "audit", &[l]));
}

#[test]
fn two_redrives_at_once_publish_once_and_filters_list_newest_first() {
    let mut db = Db::new();
    let (_, a) = dead_letter(&mut db, "audit");
    let (_, b) = dead_letter(&mut db, "recurring");
    let sel = Selection::Filter(Filter {
        topic: Some("task-events".into()),
        ..Default::default()
    });
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let mut conn = db.another();
            let st = redrive(&sel, false);
            std::thread::spawn(move || conn.one(&st)["published"].as_i64().unwrap())
        })
        .collect();
    let published: i64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(
        published, 2,
        "each letter re-driven by exactly one of the two"
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 2);
    let all = Filter {
        state: Some("all".into()),
        ..Default::default()
    };
    let page = db.one(&list(&all, None, 1));
    let ids: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![b, a], "limit + 1 rows, newest first");
    let rest = db.one(&list(&all, Some(b), 10));
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    let pending = db.one(&list(&Filter::default(), None, 10));
    assert_eq!(
        pending["items"],
        json!([]),
        "nothing pending after the re-drive"
    );
    let one = db.one(&show(a));
    assert_eq!(one["consumer"], "audit");
    assert!(one["payload_base64"].is_string());
    assert_eq!(db.one(&show(999_999)), json!({"missing": true}));
}

#[test]
fn a_discarded_letter_is_no_longer_pending_and_cannot_be_redriven() {
    let mut db = Db::new();
    let (_, id) = dead_letter(&mut db, "audit");
    let out = db.one(&todo_deadletters::discard(&[id, 999_999], "ops-1"));
    assert_eq!(
        out["items"],
        json!([{"id": id, "outcome": "discarded", "why": null}]),
        "unknown ids are absent"
    );
    assert_eq!(
        db.texts("SELECT state || '|' || discarded_by FROM dead_letters"),
        vec!["discarded|ops-1"]
    );
    assert_eq!(
        db.one(&list(&Filter::default(), None, 10))["items"],
        json!([])
    );
    let again = db.one(&todo_deadletters::discard(&[id], "ops-2"));
    assert_eq!(
        again["items"][0]["why"],
        "not pending: its state is discarded"
    );
    let redrive_it = db.one(&redrive(&Selection::Ids(vec![id]), false));
    assert_eq!(outcomes(&redrive_it), vec!["refused"]);
}
