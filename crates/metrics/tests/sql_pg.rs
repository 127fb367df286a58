//! The metrics on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh migrated schema per
//! test): the V7 triggers that count consumed and published events, the rare-path counters, each
//! consumer's lag and the scrape's cost. Inbox rows come from todo-consumer and outbox rows from the
//! task API's writes (todo-tasks), as in production.
//! Run with `cargo test -p todo-metrics --features pg --test sql_pg`.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use todo_consumer::deadletter::{self, Class, Letter, Position};
use todo_consumer::{counters, record_consumed_batch, Delivery};
use todo_events::Topic;
use todo_outbox::{self as outbox, OutboxRow, PublishFailure};
use todo_pgtest::tasks::{at, insert, new_task};
use todo_pgtest::Db;
use todo_tasks::sql::{self};
use todo_tasks::{events_for_change, Change, UpdateTask};
use uuid::Uuid;

/// A delivery of `task-events` of `kind` at `version`, received at `received`.
fn delivery(kind: &str, version: &str, received: DateTime<Utc>) -> Delivery {
    Delivery {
        topic: Topic::TaskEvents,
        event_type: kind.into(),
        schema_version: version.into(),
        event_at: Some(at(0)),
        received_at: received,
    }
}

/// `consumer`'s inbox row of event `id` (what every consumer statement writes first); answers
/// whether it was new.
fn consume(db: &mut Db, consumer: &str, id: Uuid, d: &Delivery) -> bool {
    let row = db.one(&record_consumed_batch(consumer, &[(id, d.clone())]));
    row["processed"] == json!(1)
}

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
    let now = Utc::now();
    // The MAJOR.MINOR this build's consumers know for task-events (1.1 since its 1.1.0).
    let v = todo_events::SemVer::parse(todo_events::Topic::TaskEvents.schema_version()).unwrap();
    let known = format!("{}.{}", v.major, v.minor);
    let mut recs = Vec::new();
    for (kind, version, late_ms) in [
        ("task.created", format!("{known}.0"), 200),
        ("task.created", "1.3.0".to_owned(), 0),
        ("task.updated", format!("{known}.2"), 0),
    ] {
        let id = Uuid::new_v4();
        let received = now - Duration::milliseconds(late_ms);
        assert!(consume(
            &mut db,
            "audit",
            id,
            &delivery(kind, &version, received)
        ));
        recs.push(id);
    }
    // A redelivery inserts no processed_events row, so it counts nothing.
    let again = delivery("task.created", "1.0.0", Utc::now());
    assert!(!consume(&mut db, "audit", recs[0], &again));
    let row = db.texts(&format!(
        "SELECT concat_ws('|', topic, event_type, schema_version, event_at IS NOT NULL, \
         received_at IS NOT NULL) FROM processed_events WHERE event_id = '{}'",
        recs[1]
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
    // 1.3.0 is a mismatch of the known MINOR; another PATCH of it is not.
    assert_eq!(
        sample(
            &text,
            &format!(
                r#"schema_version_mismatches_total{{actual="1.3",consumer="audit",expected="{known}",topic="task-events"}}"#
            )
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
    let mut d = delivery("task.created", "1.0.0", Utc::now());
    d.event_at = None;
    let once = record_consumed_batch("recurring", &[(recs[0], d)]);
    assert_eq!(single(&db.run(&once))["processed"], json!(1));
    assert_eq!(single(&db.run(&once))["processed"], json!(0));
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
                    let d = delivery("task.created", "1.0.0", Utc::now());
                    assert!(consume(&mut conn, "audit", Uuid::new_v4(), &d));
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
    let batch = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30))).unwrap();
    assert_eq!(batch.len(), 6, "both tasks' whole runs");
    let (ok, failed): (Vec<_>, Vec<_>) = batch.iter().partition(|r| r.topic == "task-events");
    let ids = |rows: &[&OutboxRow]| rows.iter().map(|r| r.id).collect::<Vec<_>>();
    db.run(&outbox::mark_published(&ids(&ok)));
    db.run(&outbox::mark_published(&ids(&ok))); // marking again counts nothing
    let failures: Vec<(&str, PublishFailure)> = failed
        .iter()
        .map(|r| (r.topic.as_str(), PublishFailure::Unavailable))
        .collect();
    let released = outbox::release_failed(&ids(&failed), &failures);
    assert_eq!(
        todo_sql::count(&db.run(&released)).unwrap(),
        failed.len() as u64
    );
    db.run(&outbox::release_failed(
        &[],
        &[("reminders", PublishFailure::Refused)],
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
    let topic = Topic::TaskEvents;
    for body in [
        &br#"{"schema_version":"2.0.0","event_type":"task.created"}"#[..],
        br#"{"schema_version":"2.0.0"}"#,
        b"not json",
    ] {
        let st = todo_metrics::counters_statement(&counters::refused("audit", topic, body));
        assert_eq!(todo_sql::count(&db.run(&st)).unwrap(), 2);
    }
    let failed = counters::failed("recurring", "task.completed");
    db.run(&todo_metrics::counters_statement(&[failed]));
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
    insert(&mut db, &new_task("alice", json!({"title": "a"}), at(0)));
    let batch = outbox::outbox_batch(&db.run(&outbox::claim_outbox(100, 30))).unwrap();
    let text = exposition(&mut db);
    assert!(
        text.contains(r#"event_consumer_pending_events{consumer="audit",topic="task-events"} 0"#),
        "claimed, not published: not lag yet"
    );
    db.run(&outbox::mark_published(
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
    let id = Uuid::parse_str(created.payload["event_id"].as_str().unwrap()).unwrap();
    assert!(consume(
        &mut db,
        "audit",
        id,
        &delivery("task.created", "1.0.0", Utc::now())
    ));
    let text = exposition(&mut db);
    assert_eq!(lag(&text, "audit", "task-events"), 0.0);
    assert_eq!(pending(&text, "audit", "task-events"), 0.0);
    assert!(lag(&text, "recurring", "task-events") > 0.0);

    // realtime gives its event up (a dead letter): it waits for an operator now, not for
    // realtime (dead_letters_pending counts it), so it is no longer realtime's lag.
    let update = batch.iter().find(|r| r.topic == "task-updates").unwrap();
    let body = json!({"specversion": "1.0", "data": update.payload}).to_string();
    let letter = Letter::refused(
        body.as_bytes(),
        Class::Invalid,
        "x".into(),
        Position::default(),
    );
    db.run(&deadletter::record("task-updates", "realtime", &[letter]));
    let text = exposition(&mut db);
    assert_eq!(pending(&text, "realtime", "task-updates"), 0.0, "{text}");
    assert_eq!(lag(&text, "realtime", "task-updates"), 0.0);

    // Events published before a consumer first recorded one with the V7 columns (an older build,
    // which did not record every event) are not its lag.
    let mut d = delivery("task.deleted", "1.0.0", Utc::now());
    d.event_at = None;
    assert!(consume(&mut db, "recurring", Uuid::new_v4(), &d));
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
            &[&db.schema().to_owned()],
        )
        .unwrap()
        .get(0);
    assert_eq!(config, vec!["jit=off".to_owned()]);
    let plan = db.explain(&todo_metrics::expose::scrape());
    assert!(!plan.contains("JIT"), "{plan}");
}
