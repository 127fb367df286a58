//! The task SQL on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated schema
//! per test): writes and their outbox rows, reads, lists and their indexes, the recurring roll.
//! Run with `cargo test -p todo-tasks --features pg --test sql_pg`.

use chrono::{DateTime, Utc};
use serde_json::json;
use todo_events::TaskEvent;
use todo_pgtest::postgres::types::ToSql;
use todo_pgtest::tasks::{at, insert, new_task};
use todo_pgtest::Db;
use todo_tasks::sql::{self, decode};
use todo_tasks::{
    completed_recurring, events_for_change, Change, ListQuery, Order, Roll, SortField, Task,
    UpdateTask,
};
use uuid::Uuid;

const SECRET: &[u8] = b"test-cursor-secret";

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
    assert!(
        todo_outbox::outbox_batch(&db.run(&todo_outbox::claim_outbox(100, 30)))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        todo_sql::count(&db.run(&todo_outbox::mark_published(&ids))).unwrap(),
        3
    );
    // The same id again: no task, no rows, nothing held.
    let (again, none) = decode::inserted(&db.run(&sql::insert_task(&t, &outbox))).unwrap();
    assert_eq!((again, none), (None, vec![]));
    assert_eq!(db.count("SELECT count(*) FROM outbox"), 3);
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
        let plan = db.explain(&sql::list_tasks(&q));
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
        let plan = db.explain(&sql::list_tasks(&q));
        assert!(plan.contains(index), "{query}: {plan}");
    }
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
    let delivery = todo_consumer::Delivery::of(event, Utc::now());
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
    assert_eq!(decode::task(&[]), Err(todo_sql::RowError::NoRow));
}
