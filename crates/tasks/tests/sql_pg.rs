//! Every statement builder's SQL against a real PostgreSQL, with real parameters.
//!
//! Needs `TODO_TEST_PG_URL` (e.g. `postgres://todo@127.0.0.1:5432/todo`; the user must be
//! able to create schemas, and the `pg_trgm` extension unless it is installed already) and
//! FAILS when it is unset. Each test applies the project's migrations into a fresh schema of
//! its own (`todo_test_<uuid>`, dropped afterwards), so it never touches the application's
//! tables. Statements run exactly as the Dapr binding runs them: SQL text plus the parameters
//! as text or NULL, one text column per row.

use std::sync::Mutex;

use chrono::{DateTime, Duration, TimeZone, Utc};
use postgres::types::ToSql;
use postgres::Client;
use serde_json::{json, Value};
use todo_tasks::sql::{self, decode, AuditRecord, Statement};
use todo_tasks::todo_events::TaskEvent;
use todo_tasks::{
    completed_recurring, events_for_change, validate_create, AuditQuery, Change, ListQuery, Order,
    Roll, SortField, Task, UpdateTask,
};
use uuid::Uuid;

const SECRET: &[u8] = b"test-cursor-secret";
static SETUP: Mutex<()> = Mutex::new(());

/// A connection whose `search_path` is a fresh, migrated schema; dropped with the value.
struct Db {
    client: Client,
    schema: String,
}

impl Db {
    fn new() -> Db {
        let url = std::env::var("TODO_TEST_PG_URL").unwrap_or_default();
        assert!(
            !url.trim().is_empty(),
            "TODO_TEST_PG_URL is not set: this test runs the task SQL against a real PostgreSQL. \
             Set it to a database URL, e.g. TODO_TEST_PG_URL=postgres://todo@127.0.0.1:5432/todo \
             (the dev stack's database), or start a throwaway server (see crates/tasks/README.md)."
        );
        let mut client = todo_migrate::connect(&url).expect("connect to TODO_TEST_PG_URL");
        let schema = format!("todo_test_{}", Uuid::new_v4().simple());
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

    /// Runs `st` like the binding does; every row must be exactly one text column.
    fn run(&mut self, st: &Statement) -> Vec<Vec<Value>> {
        let params: Vec<Option<String>> = st
            .params
            .iter()
            .map(|p| {
                assert!(p.is_string() || p.is_null());
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

    /// Another connection on the same test schema.
    fn another(&self) -> Db {
        let url = std::env::var("TODO_TEST_PG_URL").unwrap();
        let mut client = todo_migrate::connect(&url).unwrap();
        client
            .batch_execute(&format!("SET search_path TO {}, public", self.schema))
            .unwrap();
        // Empty schema name: Drop does nothing for this one.
        Db {
            client,
            schema: String::new(),
        }
    }

    fn count(&mut self, sql: &str) -> i64 {
        self.client.query_one(sql, &[]).unwrap().get(0)
    }

    fn texts(&mut self, sql: &str) -> Vec<String> {
        self.client
            .query(sql, &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
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

fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::seconds(secs)
}

fn new_task(user: &str, body: Value, created: DateTime<Utc>) -> Task {
    validate_create(body.to_string().as_bytes(), Uuid::new_v4(), user, created).unwrap()
}

/// Inserts `t` with its events and gives up the writer's hold on them (as after a failed
/// publish), so any drainer may claim them; answers the stored task.
fn insert(db: &mut Db, t: &Task) -> Task {
    let outbox = events_for_change(Change::Created, None, t).unwrap();
    let (task, ids) = decode::inserted(&db.run(&sql::insert_task(t, &outbox))).unwrap();
    assert_eq!(ids.len(), outbox.len());
    assert_eq!(
        decode::count(&db.run(&sql::release_outbox(&ids))).unwrap(),
        ids.len() as u64
    );
    task.expect("inserted")
}

#[test]
fn a_new_tasks_events_are_held_by_the_writer_that_created_it() {
    let mut db = Db::new();
    let t = new_task(
        "alice",
        json!({"title": "a", "reminders": [{"remind_at": "2026-05-30T08:00:00Z"}]}),
        at(0),
    );
    let outbox = events_for_change(Change::Created, None, &t).unwrap();
    let (task, ids) = decode::inserted(&db.run(&sql::insert_task(&t, &outbox))).unwrap();
    assert_eq!(task.as_ref(), Some(&t));
    // The ids come back in the messages' order.
    let stored: Vec<(i64, String, String)> = db
        .client
        .query(
            "SELECT id, topic, payload->>'event_type' FROM outbox WHERE claimed_until > now() ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let expected: Vec<(i64, String, String)> = ids
        .iter()
        .zip(&outbox)
        .map(|(id, m)| {
            let kind = m.payload["event_type"].as_str().unwrap().to_owned();
            (*id, m.topic.clone(), kind)
        })
        .collect();
    assert_eq!(stored, expected, "every row held, in order");
    assert_eq!(
        stored.iter().map(|r| r.1.as_str()).collect::<Vec<_>>(),
        ["task-events", "task-updates", "reminders"]
    );
    // No drainer takes them while the writer holds them.
    assert!(decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30)))
        .unwrap()
        .is_empty());
    assert_eq!(
        decode::count(&db.run(&sql::mark_published(&ids))).unwrap(),
        3
    );
    // The same id again: no task, no rows, nothing held.
    let (again, none) = decode::inserted(&db.run(&sql::insert_task(&t, &outbox))).unwrap();
    assert_eq!((again, none), (None, vec![]));
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 3);
}

#[test]
fn migrations_are_idempotent() {
    let mut db = Db::new();
    assert!(todo_migrate::apply(&mut db.client).unwrap().is_empty());
    assert_eq!(
        todo_migrate::current_version(&mut db.client).unwrap(),
        todo_migrate::migrations().last().map(|m| m.version)
    );
}

#[test]
fn create_and_get_round_trip_exactly() {
    let mut db = Db::new();
    let t = new_task(
        "alice",
        json!({
            "title": "O'Brien \"quoted\" — ünïcödé 🚀 %_\\", "description": "line1\nline2",
            "priority": "urgent", "tags": ["Home", "x y"], "due_date": "2026-05-31T18:00:00.5+02:00",
            "timezone": "Europe/Berlin", "recurrence": "FREQ=MONTHLY;BYDAY=-1FR",
            "reminders": [{"before_minutes": 30, "channel": "email"}, {"remind_at": "2026-05-30T08:00:00Z"}]
        }),
        at(0),
    );
    let stored = insert(&mut db, &t);
    assert_eq!(
        stored, t,
        "the row decodes to exactly the task that was written"
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 4);
    let order: Vec<String> = db
        .client
        .query("SELECT topic FROM outbox ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        order,
        ["task-events", "task-updates", "reminders", "reminders"]
    );
    let got = decode::task(&db.run(&sql::get_task("alice", t.id))).unwrap();
    assert_eq!(got, Some(t.clone()));
    // Another user gets nothing, not an error.
    assert_eq!(
        decode::task(&db.run(&sql::get_task("bob", t.id))).unwrap(),
        None
    );
    assert_eq!(
        decode::task(&db.run(&sql::get_task("alice", Uuid::new_v4()))).unwrap(),
        None
    );
    // Same id again: no task, no outbox rows.
    let again = db.run(&sql::insert_task(
        &t,
        &events_for_change(Change::Created, None, &t).unwrap(),
    ));
    assert_eq!(decode::task(&again).unwrap(), None);
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 4);
}

#[test]
fn update_and_delete_use_the_read_version() {
    let mut db = Db::new();
    let t = insert(
        &mut db,
        &new_task(
            "alice",
            json!({"title": "a", "due_date": "2026-05-02T10:00:00Z"}),
            at(0),
        ),
    );
    let outbox_before = db.count("SELECT count(*) FROM outbox");
    let done = t
        .apply_update(&UpdateTask::completion(true), at(60))
        .unwrap();
    let msgs = events_for_change(Change::Updated, Some(&t), &done).unwrap();
    let updated = decode::task(&db.run(&sql::update_task(&done, &msgs))).unwrap();
    assert_eq!(updated, Some(done.clone()));
    assert_eq!(updated.unwrap().version, 2);
    let outbox_after = db.count("SELECT count(*) FROM outbox");
    assert_eq!(outbox_after - outbox_before, msgs.len() as i64);

    // A stale write (read version 1 again) changes nothing and adds no outbox rows.
    let stale = t
        .apply_update(
            &UpdateTask {
                title: todo_tasks::Patch::Value("b".into()),
                ..Default::default()
            },
            at(61),
        )
        .unwrap();
    let msgs = events_for_change(Change::Updated, Some(&t), &stale).unwrap();
    assert_eq!(
        decode::task(&db.run(&sql::update_task(&stale, &msgs))).unwrap(),
        None
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), outbox_after);
    // Another user's write changes nothing either.
    let mut foreign = done
        .apply_update(&UpdateTask::completion(false), at(62))
        .unwrap();
    foreign.user_id = "mallory".into();
    assert_eq!(
        decode::task(&db.run(&sql::update_task(&foreign, &[]))).unwrap(),
        None
    );
    assert_eq!(
        db.count("SELECT count(*) FROM tasks WHERE completed AND version = 2"),
        1
    );

    let msgs = events_for_change(Change::Deleted, Some(&done), &done).unwrap();
    assert_eq!(
        decode::task(&db.run(&sql::delete_task("alice", t.id, 1, &msgs))).unwrap(),
        None,
        "wrong version"
    );
    assert_eq!(
        decode::task(&db.run(&sql::delete_task("mallory", t.id, 2, &msgs))).unwrap(),
        None,
        "wrong user"
    );
    assert_eq!(db.count("SELECT count(*) FROM outbox"), outbox_after);
    let deleted = decode::task(&db.run(&sql::delete_task("alice", t.id, 2, &msgs))).unwrap();
    assert_eq!(deleted, Some(done));
    assert_eq!(db.count("SELECT count(*) FROM tasks"), 0);
    assert_eq!(
        db.count("SELECT count(*) FROM outbox"),
        outbox_after + msgs.len() as i64
    );
}

/// Tasks of alice with varied keys, plus some of bob that must never show up.
fn seed(db: &mut Db) -> Vec<Task> {
    let words = [
        "kilo", "alpha", "same", "echo", "bravo", "same", "delta", "hotel", "golf", "india",
        "juliet", "charlie", "foxtrot", "lima", "same", "mike", "november", "oscar", "papa",
        "quebec", "romeo", "sierra",
    ];
    let prios = ["low", "normal", "high", "urgent"];
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let mut body = json!({
            "title": if i % 3 == 0 { w.to_uppercase() } else { w.to_string() },
            "priority": prios[i % 4],
            "tags": if i % 2 == 0 { json!(["even", "all"]) } else { json!(["odd", "all"]) },
            "description": if i == 7 { json!("contains 50% OFF deal") } else { json!(null) },
            "completed": i % 5 == 0,
        });
        if i % 4 != 3 {
            // Some share a due date, some have none.
            body["due_date"] = json!(format!("2026-06-{:02}T09:00:00Z", 1 + (i % 6)));
        }
        let t = new_task("alice", body, at(i as i64 * 10));
        out.push(insert(db, &t));
    }
    for i in 0..3 {
        insert(
            db,
            &new_task(
                "bob",
                json!({"title": format!("bob {i}"), "tags": ["all"]}),
                at(i),
            ),
        );
    }
    out
}

fn expected(tasks: &[Task], q: &ListQuery) -> Vec<Uuid> {
    let mut v: Vec<&Task> = tasks
        .iter()
        .filter(|t| q.completed.is_none_or(|c| t.completed == c))
        .filter(|t| q.priorities.is_empty() || q.priorities.contains(&t.priority))
        .filter(|t| q.tags.iter().all(|g| t.tags.contains(g)))
        .filter(|t| {
            q.due_before
                .is_none_or(|d| t.due_date.is_some_and(|x| x < d))
        })
        .filter(|t| {
            q.due_after
                .is_none_or(|d| t.due_date.is_some_and(|x| x > d))
        })
        .filter(|t| {
            q.q.as_ref().is_none_or(|s| {
                let hay = format!("{} {}", t.title, t.description.clone().unwrap_or_default());
                hay.to_lowercase().contains(&s.to_lowercase())
            })
        })
        .collect();
    v.sort_by(|a, b| {
        let key = match q.sort {
            SortField::DueDate => a
                .due_date
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
                .cmp(&b.due_date.unwrap_or(DateTime::<Utc>::MAX_UTC)),
            SortField::Created => a.created_at.cmp(&b.created_at),
            SortField::Priority => a.priority_rank().cmp(&b.priority_rank()),
            SortField::Title => a.title.to_lowercase().cmp(&b.title.to_lowercase()),
        }
        .then(a.id.cmp(&b.id));
        match q.order {
            Order::Asc => key,
            Order::Desc => key.reverse(),
        }
    });
    v.into_iter().map(|t| t.id).collect()
}

/// Pages through `query` with the statement and cursors; answers the ids in page order.
fn page_all(db: &mut Db, query: &str) -> (Vec<Uuid>, ListQuery, usize) {
    let first = ListQuery::parse(query, "alice", SECRET).unwrap();
    let mut q = first.clone();
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = decode::task_page(&db.run(&sql::list_tasks(&q)), &q, SECRET).unwrap();
        pages += 1;
        assert!(page.items.len() <= q.limit as usize);
        assert!(page.items.iter().all(|t| t.user_id == "alice"));
        ids.extend(page.items.iter().map(|t| t.id));
        match page.next_cursor {
            Some(c) => {
                let sep = if query.is_empty() { "" } else { "&" };
                q = ListQuery::parse(&format!("{query}{sep}cursor={c}"), "alice", SECRET).unwrap();
            }
            None => break,
        }
        assert!(pages < 100, "paging does not end");
    }
    (ids, first, pages)
}

#[test]
fn list_sorts_filters_and_pages_like_the_reference() {
    let mut db = Db::new();
    let tasks = seed(&mut db);
    for sort in ["due_date", "priority", "created", "title"] {
        for order in ["asc", "desc"] {
            let query = format!("sort={sort}&order={order}&limit=4");
            let (ids, q, pages) = page_all(&mut db, &query);
            assert_eq!(ids, expected(&tasks, &q), "{query}");
            assert_eq!(pages, tasks.len().div_ceil(4), "{query}");
        }
    }
    for query in [
        "",
        "completed=false",
        "completed=true&sort=title",
        "priority=high,urgent&sort=priority",
        "tag=ODD",
        "tag=even&tag=all&limit=3",
        "due_before=2026-06-03T09:00:00Z&sort=due_date",
        "due_after=2026-06-02T09:00:00Z&due_before=2026-06-05T00:00:00Z&limit=2",
        "q=SAME&limit=1",
        "q=50%25 off",
        "q=lim",
        "q=%25",
        "q=_",
        "tag=missing",
    ] {
        let (ids, q, _) = page_all(&mut db, query);
        assert_eq!(ids, expected(&tasks, &q), "{query}");
    }
    let (ids, _, _) = page_all(&mut db, "q=50%25 off");
    assert_eq!(ids.len(), 1);
    let (ids, _, _) = page_all(&mut db, "q=%25");
    assert_eq!(
        ids.len(),
        1,
        "a literal % matches only the description with 50%"
    );
}

#[test]
fn list_queries_can_use_their_indexes() {
    let mut db = Db::new();
    seed(&mut db);
    // Enough rows of the same user that a selective index beats the user_id index.
    db.client
        .batch_execute(
            "INSERT INTO tasks (id, user_id, title, created_at, updated_at) \
             SELECT gen_random_uuid(), 'alice', 'filler ' || n, now(), now() \
             FROM generate_series(1, 5000) AS n",
        )
        .unwrap();
    // VACUUM merges the GIN indexes' pending lists, as autovacuum does on a live database.
    db.client.batch_execute("VACUUM ANALYZE tasks").unwrap();
    db.client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .unwrap();
    for (query, index) in [
        ("sort=due_date", "tasks_user_due_idx"),
        ("sort=priority", "tasks_user_priority_idx"),
        ("sort=created", "tasks_user_created_idx"),
        ("sort=title", "tasks_user_title_idx"),
    ] {
        let q = ListQuery::parse(query, "alice", SECRET).unwrap();
        let plan = explain(&mut db, &sql::list_tasks(&q));
        assert!(plan.contains(index), "{query}: {plan}");
    }
    db.client
        .batch_execute("SET enable_bitmapscan = on")
        .unwrap();
    for (query, index) in [
        ("q=foxtrot", "tasks_text_trgm_idx"),
        ("tag=odd", "tasks_tags_idx"),
    ] {
        let q = ListQuery::parse(query, "alice", SECRET).unwrap();
        let plan = explain(&mut db, &sql::list_tasks(&q));
        assert!(plan.contains(index), "{query}: {plan}");
    }
}

fn explain(db: &mut Db, st: &Statement) -> String {
    let explained = Statement {
        sql: format!("EXPLAIN {}", st.sql),
        params: st.params.clone(),
    };
    let params: Vec<Option<String>> = explained
        .params
        .iter()
        .map(|p| p.as_str().map(str::to_owned))
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    db.client
        .query(explained.sql.as_str(), &refs)
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

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
    let stats = decode::outbox_stats(&db.run(&sql::outbox_stats())).unwrap();
    assert_eq!(stats.pending, 6);
    assert!(stats.oldest_created_at.is_some());

    // Drainer 1 takes only the oldest head: a's task.created on task-events.
    let first = decode::outbox_batch(&db.run(&sql::claim_outbox(1, 30))).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].topic.as_str(), first[0].task_id),
        ("task-events", a.id)
    );
    assert_eq!(first[0].payload["event_type"], "task.created");

    // Drainer 2 gets every other key with its whole run (a's two task-updates rows in order),
    // but not a's task.completed: its key is held by drainer 1.
    let second = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30))).unwrap();
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
    assert!(decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30)))
        .unwrap()
        .is_empty());

    // Once a's head is published, its next row becomes claimable.
    let ids: Vec<i64> = first.iter().map(|r| r.id).collect();
    assert_eq!(
        decode::count(&db.run(&sql::mark_published(&ids))).unwrap(),
        1
    );
    assert_eq!(
        decode::count(&db.run(&sql::mark_published(&ids))).unwrap(),
        0
    );
    let third = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30))).unwrap();
    assert_eq!(third.len(), 1);
    assert_eq!(third[0].payload["event_type"], "task.completed");
    assert!(third[0].id > first[0].id);
    assert_eq!(
        decode::count(&db.run(&sql::mark_published(&[third[0].id]))).unwrap(),
        1
    );

    let ids2: Vec<i64> = second.iter().map(|r| r.id).collect();
    assert_eq!(
        decode::count(&db.run(&sql::release_outbox(&ids2))).unwrap(),
        4
    );
    let again = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 1))).unwrap();
    assert_eq!(again.iter().map(|r| r.id).collect::<Vec<_>>(), ids2);
    // An expired claim is taken over.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let taken = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30))).unwrap();
    assert_eq!(taken.len(), 4);
    assert_eq!(
        decode::count(&db.run(&sql::mark_published(&ids2))).unwrap(),
        4
    );
    assert_eq!(
        decode::outbox_stats(&db.run(&sql::outbox_stats()))
            .unwrap()
            .pending,
        0
    );
    assert_eq!(
        decode::count(&db.run(&sql::purge_published(3600))).unwrap(),
        0
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(decode::count(&db.run(&sql::purge_published(0))).unwrap(), 6);
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 0);
}

fn audit_record(user: &str, task: Uuid, kind: &str, secs: i64) -> AuditRecord {
    AuditRecord {
        event_id: Uuid::new_v4(),
        user_id: user.into(),
        task_id: task,
        event_type: kind.into(),
        occurred_at: at(secs),
        schema_version: "1.1.0".into(),
        payload: json!({"event_type": kind, "unknown_minor_field": [1, 2]}),
    }
}

#[test]
fn a_bulk_delivery_records_each_new_event_once_in_one_statement_in_order() {
    let mut db = Db::new();
    let task = Uuid::new_v4();
    let old = audit_record("alice", task, "task.created", 0);
    db.run(&sql::record_audit("audit", &old, Utc::now()));
    let b = audit_record("alice", task, "task.updated", 60);
    let c = audit_record("bob", Uuid::new_v4(), "task.created", 120);
    // The already recorded event, and one event twice in the same batch.
    let batch = [b.clone(), old.clone(), c.clone(), b.clone()];
    let o =
        decode::audit_batch_outcome(&db.run(&sql::record_audit_batch("audit", &batch, Utc::now())))
            .unwrap();
    assert_eq!((o.processed, o.inserted), (2, 2));
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
    // The columns are those of the single statement.
    let same = db.count(&format!(
        "SELECT count(*) FROM audit_log WHERE event_id = '{}' AND user_id = 'bob' \
         AND task_id = '{}' AND event_type = 'task.created' AND schema_version = '1.1.0' \
         AND occurred_at = '{}'::timestamptz AND payload = '{}'::jsonb",
        c.event_id,
        c.task_id,
        c.occurred_at.to_rfc3339(),
        c.payload
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
    let o =
        decode::audit_batch_outcome(&db.run(&sql::record_audit_batch("audit", &batch, Utc::now())))
            .unwrap();
    assert_eq!((o.processed, o.inserted), (0, 0));
    assert_eq!(db.count("SELECT count(*) FROM audit_log"), 3);
}

#[test]
fn a_bulk_of_events_without_an_effect_is_recorded_once_in_one_statement() {
    let mut db = Db::new();
    let d = todo_metrics::Delivery {
        topic: todo_tasks::todo_events::Topic::TaskEvents,
        event_type: "task.updated".into(),
        schema_version: "1.0.0".into(),
        event_at: Some(at(0)),
        received_at: Utc::now(),
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let st =
        todo_metrics::record_consumed_batch("recurring", &[(a, d.clone()), (b, d.clone()), (a, d)]);
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
fn audit_records_each_event_once_and_lists_newest_first() {
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
        let r = audit_record("alice", task, kind, i as i64 * 60);
        let o =
            decode::audit_outcome(&db.run(&sql::record_audit("audit", &r, Utc::now()))).unwrap();
        assert!(o.processed && o.inserted);
        recs.push(r);
    }
    // Redelivery changes nothing.
    let o =
        decode::audit_outcome(&db.run(&sql::record_audit("audit", &recs[2], Utc::now()))).unwrap();
    assert!(!o.processed && !o.inserted);
    assert_eq!(db.count("SELECT count(*) FROM audit_log"), 5);
    assert_eq!(db.count("SELECT count(*) FROM processed_events"), 5);
    let bobs = audit_record("bob", t1, "task.created", 0);
    db.run(&sql::record_audit("audit", &bobs, Utc::now()));

    let q = AuditQuery::parse("limit=2", "alice", SECRET).unwrap();
    let mut all = Vec::new();
    let mut q2 = q.clone();
    loop {
        let page = decode::audit_page(&db.run(&sql::list_audit(&q2)), &q2, SECRET).unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => {
                q2 = AuditQuery::parse(&format!("limit=2&cursor={c}"), "alice", SECRET).unwrap()
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

    let q = AuditQuery::parse(&format!("task_id={t1}"), "alice", SECRET).unwrap();
    let page = decode::audit_page(&db.run(&sql::list_audit(&q)), &q, SECRET).unwrap();
    let kinds: Vec<&str> = page.items.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["task.completed", "task.updated", "task.created"]);
    assert!(page.next_cursor.is_none());

    let q = AuditQuery::parse(
        "from=2026-05-01T08:01:00Z&to=2026-05-01T08:03:00Z",
        "alice",
        SECRET,
    )
    .unwrap();
    let page = decode::audit_page(&db.run(&sql::list_audit(&q)), &q, SECRET).unwrap();
    let kinds: Vec<&str> = page.items.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["task.updated", "task.created"],
        "from inclusive, to exclusive"
    );

    let q = AuditQuery::parse(&format!("task_id={t1}"), "carol", SECRET).unwrap();
    assert!(
        decode::audit_page(&db.run(&sql::list_audit(&q)), &q, SECRET)
            .unwrap()
            .items
            .is_empty()
    );
}

/// The task.completed event of completing `t` (as the task API writes it).
fn completion_event(t: &Task, when: DateTime<Utc>) -> (Task, TaskEvent) {
    let mut done = t.clone();
    done.completed = true;
    done.completed_at = Some(when);
    done.updated_at = when;
    done.version += 1;
    let msgs = events_for_change(Change::Updated, Some(t), &done).unwrap();
    (
        done,
        serde_json::from_value(msgs[0].payload.clone()).unwrap(),
    )
}

/// Rolls `event` forward as the recurring service does.
fn roll(db: &mut Db, event: &TaskEvent, now: DateTime<Utc>) -> decode::RollOutcome {
    let completed = completed_recurring(event).expect("a recurring completion");
    let roll = completed.roll(Uuid::new_v4(), now);
    let outbox = match &roll {
        Roll::Next(next) => events_for_change(Change::Created, None, next).unwrap(),
        Roll::Exhausted => Vec::new(),
    };
    let delivery = todo_metrics::Delivery::of(event, Utc::now());
    let st = sql::roll_forward_once(
        "recurring",
        event.event_id,
        &completed,
        &roll,
        &outbox,
        &delivery,
    );
    decode::roll_outcome(&db.run(&st)).unwrap()
}

#[test]
fn one_next_occurrence_per_completed_occurrence() {
    let mut db = Db::new();
    let t = insert(
        &mut db,
        &new_task(
            "alice",
            json!({"title": "water", "due_date": "2026-05-02T07:00:00Z", "timezone": "Europe/Berlin",
                   "recurrence": "FREQ=WEEKLY;BYDAY=SA", "reminders": [{"before_minutes": 30}]}),
            at(0),
        ),
    );
    let (_, first) = completion_event(&t, at(10));
    let out = roll(&mut db, &first, at(11));
    assert!(out.processed && out.rolled);
    let next = out.task.expect("the next occurrence");
    assert_eq!(next.due_date, Some("2026-05-09T07:00:00Z".parse().unwrap()));
    assert_eq!(
        (next.recurrence_id, next.parent_task_id),
        (Some(t.id), Some(t.id))
    );
    assert_eq!(next.reminders.len(), 1);
    assert_ne!(
        next.reminders[0].id, t.reminders[0].id,
        "a new reminder, a new job"
    );
    // Redelivery of the same event: nothing.
    let again = roll(&mut db, &first, at(12));
    assert!(!again.processed && !again.rolled && again.task.is_none());
    // Reopen and complete again: another event, the same occurrence: nothing.
    let (_, second) = completion_event(&t, at(20));
    let again = roll(&mut db, &second, at(21));
    assert!(again.processed && !again.rolled && again.task.is_none());
    assert_eq!(db.count("SELECT count(*) FROM tasks"), 2);
    assert_eq!(db.count("SELECT count(*) FROM recurrence_rolls"), 1);
    // The created task's events went to the outbox with it, in order.
    let topics = db.texts(&format!(
        "SELECT topic FROM outbox WHERE task_id = '{}' ORDER BY id",
        next.id
    ));
    assert_eq!(topics, ["task-events", "task-updates", "reminders"]);
}

#[test]
fn racing_completions_roll_once() {
    let mut db = Db::new();
    let t = insert(
        &mut db,
        &new_task(
            "alice",
            json!({"title": "standup", "due_date": "2026-05-04T07:00:00Z", "timezone": "UTC", "recurrence": "FREQ=DAILY"}),
            at(0),
        ),
    );
    let events: Vec<TaskEvent> = (0..8).map(|i| completion_event(&t, at(10 + i)).1).collect();
    let start = std::sync::Arc::new(std::sync::Barrier::new(events.len()));
    let handles: Vec<_> = events
        .into_iter()
        .map(|e| {
            let mut conn = db.another();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                roll(&mut conn, &e, at(30)).rolled
            })
        })
        .collect();
    let rolled: usize = handles
        .into_iter()
        .map(|h| usize::from(h.join().unwrap()))
        .sum();
    assert_eq!(rolled, 1);
    assert_eq!(
        db.count("SELECT count(*) FROM tasks WHERE parent_task_id IS NOT NULL"),
        1
    );
}

#[test]
fn an_exhausted_series_is_recorded_and_creates_nothing() {
    let mut db = Db::new();
    let t = insert(
        &mut db,
        &new_task(
            "alice",
            json!({"title": "twice", "due_date": "2026-05-04T07:00:00Z", "timezone": "UTC", "recurrence": "FREQ=DAILY;COUNT=1"}),
            at(0),
        ),
    );
    let (_, event) = completion_event(&t, at(10));
    let out = roll(&mut db, &event, at(11));
    assert!(out.processed && out.rolled && out.task.is_none());
    assert_eq!(
        db.count("SELECT count(*) FROM recurrence_rolls WHERE outcome = 'exhausted' AND next_task_id IS NULL"),
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM tasks"), 1);
}

#[test]
fn the_schema_refuses_inconsistent_rows() {
    // The binding hides execution errors as "no rows"; the decoders turn that into NoRow.
    let mut db = Db::new();
    let mut t = new_task("alice", json!({"title": "x"}), at(0));
    t.completed = true; // completed without completed_at breaks a CHECK
    let st = sql::insert_task(&t, &[]);
    let params: Vec<Option<String>> = st
        .params
        .iter()
        .map(|p| p.as_str().map(str::to_owned))
        .collect();
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
    let err = db.client.query(st.sql.as_str(), &refs).unwrap_err();
    assert!(
        err.to_string().contains("check") || format!("{err:?}").contains("23514"),
        "{err:?}"
    );
    assert_eq!(decode::task(&[]), Err(decode::RowError::NoRow));
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
                    let batch = decode::outbox_batch(&conn.run(&sql::claim_outbox(3, 60))).unwrap();
                    if batch.is_empty() {
                        break;
                    }
                    mine.extend(batch.into_iter().map(|r| (w, r)));
                }
                mine
            })
        })
        .collect();
    let claimed: Vec<(usize, decode::OutboxRow)> = workers
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

// --- metrics: the V7 triggers, the rare-path counters and the exposition (todo-metrics) ---------

/// The exposition of the test schema's counters.
fn exposition(db: &mut Db) -> String {
    let scrape = todo_metrics::expose::decode(&db.run(&todo_metrics::expose::scrape())).unwrap();
    todo_metrics::expose::render(&scrape)
}

/// The value of sample `series` (`name{labels}` exactly as rendered), `None` if absent.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

#[test]
fn consumed_events_are_counted_once_with_duration_and_version() {
    let mut db = Db::new();
    let task = Uuid::new_v4();
    let now = Utc::now();
    let mut recs = Vec::new();
    for (kind, version, late_ms) in [
        ("task.created", "1.0.0", 200),
        ("task.created", "1.3.0", 0),
        ("task.updated", "1.0.2", 0),
    ] {
        let mut r = audit_record("alice", task, kind, 0);
        r.schema_version = version.into();
        let received = now - Duration::milliseconds(late_ms);
        let o = decode::audit_outcome(&db.run(&sql::record_audit("audit", &r, received))).unwrap();
        assert!(o.processed);
        recs.push(r);
    }
    // A redelivery inserts no processed_events row, so it counts nothing.
    db.run(&sql::record_audit("audit", &recs[0], Utc::now()));
    let row = db.texts(&format!(
        "SELECT concat_ws('|', topic, event_type, schema_version, event_at IS NOT NULL, \
         received_at IS NOT NULL) FROM processed_events WHERE event_id = '{}'",
        recs[1].event_id
    ));
    assert_eq!(row, ["task-events|task.created|1.3.0|t|t"]);

    let text = exposition(&mut db);
    let consumed = |kind: &str| {
        sample(
            &text,
            &format!(
                r#"events_consumed_total{{consumer="audit",event_type="{kind}",topic="task-events"}}"#
            ),
        )
    };
    assert_eq!(consumed("task.created"), Some(2.0), "{text}");
    assert_eq!(consumed("task.updated"), Some(1.0), "{text}");
    // 1.3.0 is a mismatch of the known 1.0; 1.0.2 (another PATCH) is not.
    assert_eq!(
        sample(
            &text,
            r#"schema_version_mismatches_total{actual="1.3",consumer="audit",expected="1.0",topic="task-events"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(text.matches("schema_version_mismatches_total{").count(), 1);
    // The histogram: the 200 ms delivery is above 0.1 s and within 0.25 s, the fresh one below.
    let bucket = |le: &str| {
        sample(
            &text,
            &format!(
                r#"event_processing_duration_seconds_bucket{{consumer="audit",event_type="task.created",le="{le}"}}"#
            ),
        )
    };
    assert_eq!(bucket("0.1"), Some(1.0), "{text}");
    assert_eq!(bucket("0.25"), Some(2.0), "{text}");
    assert_eq!(bucket("+Inf"), Some(2.0), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"event_processing_duration_seconds_count{consumer="audit",event_type="task.created"}"#
        ),
        Some(2.0)
    );
    let sum = sample(
        &text,
        r#"event_processing_duration_seconds_sum{consumer="audit",event_type="task.created"}"#,
    )
    .unwrap();
    assert!((0.2..1.0).contains(&sum), "{sum}");

    // The recurring service's record of an event it has nothing to do with counts the same way.
    let d = todo_metrics::Delivery {
        topic: todo_tasks::todo_events::Topic::TaskEvents,
        event_type: "task.created".into(),
        schema_version: "1.0.0".into(),
        event_at: None,
        received_at: Utc::now(),
    };
    let once = todo_metrics::record_consumed("recurring", recs[0].event_id, &d);
    assert_eq!(single(&db.run(&once))["processed"], json!(true));
    assert_eq!(single(&db.run(&once))["processed"], json!(false));
    let text = exposition(&mut db);
    assert_eq!(
        sample(
            &text,
            r#"events_consumed_total{consumer="recurring",event_type="task.created",topic="task-events"}"#
        ),
        Some(1.0)
    );
}

/// The one JSON object a statement answers.
fn single(rows: &[Vec<Value>]) -> Value {
    assert_eq!(rows.len(), 1);
    serde_json::from_str(rows[0][0].as_str().unwrap()).unwrap()
}

#[test]
fn concurrent_consumers_add_up() {
    let db = Db::new();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let mut conn = db.another();
            std::thread::spawn(move || {
                for _ in 0..25 {
                    let r = audit_record("alice", Uuid::new_v4(), "task.created", 0);
                    conn.run(&sql::record_audit("audit", &r, Utc::now()));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let mut db = db;
    let text = exposition(&mut db);
    assert_eq!(
        sample(
            &text,
            r#"events_consumed_total{consumer="audit",event_type="task.created",topic="task-events"}"#
        ),
        Some(100.0),
        "{text}"
    );
}

#[test]
fn publishes_and_their_failures_are_counted() {
    let mut db = Db::new();
    let a = insert(&mut db, &new_task("alice", json!({"title": "a"}), at(0)));
    insert(&mut db, &new_task("alice", json!({"title": "b"}), at(1)));
    let done = a
        .apply_update(&UpdateTask::completion(true), at(2))
        .unwrap();
    let msgs = events_for_change(Change::Updated, Some(&a), &done).unwrap();
    db.run(&sql::update_task(&done, &msgs));
    let batch = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30))).unwrap();
    assert_eq!(batch.len(), 6, "both tasks' whole runs");
    let (ok, failed): (Vec<_>, Vec<_>) = batch.iter().partition(|r| r.topic == "task-events");
    let ids = |rows: &[&decode::OutboxRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    db.run(&sql::mark_published(&ids(&ok)));
    db.run(&sql::mark_published(&ids(&ok))); // marking again counts nothing
    let failures: Vec<(&str, todo_outbox::PublishFailure)> = failed
        .iter()
        .map(|r| (r.topic.as_str(), todo_outbox::PublishFailure::Unavailable))
        .collect();
    let released = todo_outbox::release_failed(&ids(&failed), &failures);
    assert_eq!(
        decode::count(&db.run(&released)).unwrap(),
        failed.len() as u64
    );
    db.run(&todo_outbox::release_failed(
        &[],
        &[("reminders", todo_outbox::PublishFailure::Refused)],
    ));

    let text = exposition(&mut db);
    assert_eq!(
        sample(
            &text,
            r#"events_published_total{event_type="task.created",topic="task-events"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"events_published_total{event_type="task.completed",topic="task-events"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(text.matches("events_published_total{").count(), 2, "{text}");
    assert_eq!(
        sample(
            &text,
            r#"event_publish_errors_total{error_type="unavailable",topic="task-updates"}"#
        ),
        Some(failed.len() as f64),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"event_publish_errors_total{error_type="refused",topic="reminders"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn refused_and_retried_deliveries_are_counted() {
    let mut db = Db::new();
    let topic = todo_tasks::todo_events::Topic::TaskEvents;
    for body in [
        &br#"{"schema_version":"2.0.0","event_type":"task.created"}"#[..],
        br#"{"schema_version":"2.0.0"}"#,
        b"not json",
    ] {
        let n = decode::count(&db.run(&todo_metrics::refused("audit", topic, body))).unwrap();
        assert_eq!(n, 2);
    }
    db.run(&todo_metrics::failed("recurring", "task.completed"));
    let text = exposition(&mut db);
    assert_eq!(
        sample(
            &text,
            r#"event_processing_errors_total{consumer="audit",event_type="unknown"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"schema_validation_errors_total{consumer="audit",schema_version="2.0.0",topic="task-events"}"#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"schema_validation_errors_total{consumer="audit",schema_version="unknown",topic="task-events"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"event_processing_errors_total{consumer="recurring",event_type="task.completed"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn lag_is_the_age_of_the_oldest_published_event_a_consumer_has_not_recorded() {
    let mut db = Db::new();
    let text = exposition(&mut db);
    for (consumer, topic) in todo_metrics::expose::CONSUMERS {
        let series = format!(
            r#"event_consumer_lag_seconds{{consumer="{consumer}",topic="{}"}}"#,
            topic.name()
        );
        assert_eq!(sample(&text, &series), Some(0.0), "{text}");
    }
    let t = insert(&mut db, &new_task("alice", json!({"title": "a"}), at(0)));
    let batch = decode::outbox_batch(&db.run(&sql::claim_outbox(100, 30))).unwrap();
    let text = exposition(&mut db);
    assert!(
        text.contains(r#"event_consumer_pending_events{consumer="audit",topic="task-events"} 0"#),
        "claimed, not published: not lag yet"
    );
    db.run(&sql::mark_published(
        &batch.iter().map(|r| r.id).collect::<Vec<_>>(),
    ));
    std::thread::sleep(std::time::Duration::from_millis(50));
    let text = exposition(&mut db);
    let lag = |text: &str, c: &str, topic: &str| {
        sample(
            text,
            &format!(r#"event_consumer_lag_seconds{{consumer="{c}",topic="{topic}"}}"#),
        )
        .unwrap()
    };
    let pending = |text: &str, c: &str, topic: &str| {
        sample(
            text,
            &format!(r#"event_consumer_pending_events{{consumer="{c}",topic="{topic}"}}"#),
        )
        .unwrap()
    };
    assert!(lag(&text, "audit", "task-events") >= 0.05, "{text}");
    assert_eq!(pending(&text, "audit", "task-events"), 1.0);
    assert_eq!(pending(&text, "recurring", "task-events"), 1.0);
    assert_eq!(pending(&text, "realtime", "task-updates"), 1.0);
    assert_eq!(pending(&text, "notification", "reminders"), 0.0);

    // audit records it: its lag is gone, recurring's stays.
    let created = batch.iter().find(|r| r.topic == "task-events").unwrap();
    let mut r = audit_record("alice", t.id, "task.created", 0);
    r.event_id = Uuid::parse_str(created.payload["event_id"].as_str().unwrap()).unwrap();
    db.run(&sql::record_audit("audit", &r, Utc::now()));
    let text = exposition(&mut db);
    assert_eq!(lag(&text, "audit", "task-events"), 0.0);
    assert_eq!(pending(&text, "audit", "task-events"), 0.0);
    assert!(lag(&text, "recurring", "task-events") > 0.0);

    // Events published before a consumer first recorded one with the V7 columns (an older build,
    // which did not record every event) are not its lag.
    let d = todo_metrics::Delivery {
        topic: todo_tasks::todo_events::Topic::TaskEvents,
        event_type: "task.deleted".into(),
        schema_version: "1.0.0".into(),
        event_at: None,
        received_at: Utc::now(),
    };
    db.run(&todo_metrics::record_consumed(
        "recurring",
        Uuid::new_v4(),
        &d,
    ));
    let text = exposition(&mut db);
    assert_eq!(pending(&text, "recurring", "task-events"), 0.0);
    assert_eq!(lag(&text, "recurring", "task-events"), 0.0);
}

/// The buffers (shared hit + read) a statement's execution touched, from EXPLAIN (ANALYZE,
/// BUFFERS): the first node's, which include what the functions it calls touched.
fn buffers_touched(db: &mut Db, sql: &str) -> (u64, String) {
    let plan: Vec<String> = db
        .client
        .query(&format!("EXPLAIN (ANALYZE, BUFFERS) {sql}"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    // The first such line is the top node's (planning's own comes after the plan). A missing one
    // fails here rather than reading as zero buffers.
    let line = plan
        .iter()
        .find(|l| l.trim_start().starts_with("Buffers: shared"))
        .unwrap_or_else(|| panic!("no Buffers line in the plan:\n{}", plan.join("\n")))
        .clone();
    let count = |key: &str| -> u64 {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map_or(0, |n| n.trim_end_matches(',').parse().unwrap())
    };
    (count("hit=") + count("read="), plan.join("\n"))
}

#[test]
fn a_scrape_reads_only_what_was_published_since_the_consumers_checkpoint() {
    let mut db = Db::new();
    // 3,000 events published a minute ago (inside the 5-minute window), each recorded by audit,
    // which has been recording since before them.
    db.client
        .batch_execute(
            "INSERT INTO outbox (task_id, topic, partition_key, payload, published_at) \
             SELECT t, 'task-events', t::text, jsonb_build_object('event_id', gen_random_uuid()), \
                    now() - interval '60 seconds' \
             FROM (SELECT gen_random_uuid() AS t FROM generate_series(1, 3000)) g; \
             INSERT INTO processed_events (consumer, event_id, topic, event_type, schema_version, \
                                           event_at, received_at) \
             SELECT 'audit', (payload->>'event_id')::uuid, 'task-events', 'task.created', '1.0.0', \
                    published_at, published_at FROM outbox; \
             UPDATE metric_consumed SET first_at = now() - interval '1 hour'; \
             ANALYZE outbox; ANALYZE processed_events",
        )
        .unwrap();
    let lag = "SELECT * FROM metric_consumer_lag('audit', 'task-events', 300)";
    let (first, plan) = buffers_touched(&mut db, lag);
    assert!(
        first > 3000,
        "the first scan probes every event in the window: {plan}"
    );
    let (second, plan) = buffers_touched(&mut db, lag);
    assert!(
        second < 50,
        "after the checkpoint only the last 15 s are scanned ({first} buffers before): {plan}"
    );

    // An event audit has not recorded holds the checkpoint: it stays pending, scrape after
    // scrape, and only it and what came after it are scanned.
    db.client
        .batch_execute(
            "INSERT INTO outbox (task_id, topic, partition_key, payload, published_at) \
             VALUES (gen_random_uuid(), 'task-events', 'late', \
                     jsonb_build_object('event_id', gen_random_uuid()), now() - interval '40 seconds')",
        )
        .unwrap();
    // (Published 40 s ago, before the checkpoint the last scan set: only a statement still
    // running could do that, and the 15 s margin is for it; a fresh checkpoint shows the rule.)
    db.client
        .batch_execute("DELETE FROM metric_lag_checkpoint")
        .unwrap();
    for _ in 0..3 {
        let text = exposition(&mut db);
        assert_eq!(
            sample(
                &text,
                r#"event_consumer_pending_events{consumer="audit",topic="task-events"}"#
            ),
            Some(1.0),
            "{text}"
        );
        let seconds = sample(
            &text,
            r#"event_consumer_lag_seconds{consumer="audit",topic="task-events"}"#,
        )
        .unwrap();
        assert!((39.0..60.0).contains(&seconds), "lag {seconds}: {text}");
    }
    let (held, plan) = buffers_touched(&mut db, lag);
    assert!(
        held < 50,
        "only the pending event onward is scanned: {plan}"
    );

    // Not JIT-compiled, whatever the planner estimates for the outbox.
    let config: Vec<String> = db
        .client
        .query_one(
            // This test's schema only: the dev stack's `public` has the function too.
            "SELECT proconfig FROM pg_proc \
             WHERE proname = 'metric_consumer_lag' AND pronamespace = $1::text::regnamespace",
            &[&db.schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(config, vec!["jit=off".to_owned()]);
    let plan = explain(&mut db, &todo_metrics::expose::scrape());
    assert!(!plan.contains("JIT"), "{plan}");
}
