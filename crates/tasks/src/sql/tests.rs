//! Statement builder tests: parameter order, casts, user filter, one JSON text column.

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::*;
use crate::events::{events_for_change, Change};
use crate::query::ListQuery;
use crate::task::Task;
use crate::validate_create;

const SECRET: &[u8] = b"cursor-secret";

fn task() -> Task {
    let body = json!({
        "title": "Water plants", "tags": ["home"], "due_date": "2026-05-02T07:00:00Z",
        "timezone": "Europe/Berlin", "recurrence": "FREQ=WEEKLY;BYDAY=SA",
        "reminders": [{"before_minutes": 30}]
    });
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
    validate_create(body.to_string().as_bytes(), Uuid::new_v4(), "user-42", now).unwrap()
}

use todo_sql::conventions::{check, param_after};

#[test]
fn insert_writes_the_task_and_its_outbox_in_one_statement() {
    let t = task();
    let outbox = events_for_change(Change::Created, None, &t).unwrap();
    assert_eq!(outbox.len(), 3, "task event, ui update, reminder scheduled");
    let st = insert_task(&t, &outbox);
    check(&st);
    assert!(st.sql.starts_with("WITH w AS (INSERT INTO tasks"));
    assert!(st.sql.contains("INSERT INTO outbox"));
    assert!(st.sql.contains("ON CONFLICT (id) DO NOTHING"));
    // Column order: id, user_id, title, ...
    assert_eq!(st.params[0], json!(t.id.to_string()));
    assert!(st
        .sql
        .contains("VALUES ($1::text::uuid, $2::text, $3::text, $4::text, $5::text::boolean"));
    assert_eq!(st.params[1], json!("user-42"));
    assert_eq!(st.params[2], json!("Water plants"));
    assert_eq!(st.params[6], json!("1"), "priority normal = 1");
    assert_eq!(st.params[7], json!(r#"["home"]"#));
    assert_eq!(st.params[8], json!("2026-05-02T07:00:00.000Z"));
    let n = st.params.len();
    let messages: Value = serde_json::from_str(st.params[n - 2].as_str().unwrap()).unwrap();
    assert_eq!(messages.as_array().unwrap().len(), 3);
    assert_eq!(messages[0]["topic"], "task-events");
    assert_eq!(messages[0]["partition_key"], t.id.to_string());
    // The new task's rows are inserted held by the writer, and their ids come back in order.
    assert!(st.sql.contains("claimed_until) SELECT"), "{}", st.sql);
    assert_eq!(
        st.params[n - 1],
        json!(todo_outbox::CLAIM_SECONDS.to_string())
    );
    assert!(st
        .sql
        .contains("'outbox', (SELECT COALESCE(jsonb_agg(o.id ORDER BY o.id)"));
}

#[test]
fn get_filters_on_user_and_id() {
    let id = Uuid::new_v4();
    let st = get_task("alice", id);
    check(&st);
    assert!(st
        .sql
        .contains("WHERE t.user_id = $1::text AND t.id = $2::text::uuid"));
    assert_eq!(st.params, vec![json!("alice"), json!(id.to_string())]);
}

#[test]
fn update_checks_id_user_and_read_version() {
    let old = task();
    let mut new = old.clone();
    new.title = "Water all plants".into();
    new.version = old.version + 1;
    let outbox = events_for_change(Change::Updated, Some(&old), &new).unwrap();
    let st = update_task(&new, &outbox);
    check(&st);
    assert!(st.sql.contains(
        "WHERE id = $1::text::uuid AND user_id = $2::text AND version = $3::text::integer"
    ));
    assert_eq!(st.params[0], json!(new.id.to_string()));
    assert_eq!(st.params[1], json!("user-42"));
    assert_eq!(st.params[2], json!("1"), "the version that was read");
    assert_eq!(param_after(&st, "SET title = "), &json!("Water all plants"));
    assert_eq!(param_after(&st, ", version = "), &json!("2"));
    assert!(
        !st.sql.contains("created_at ="),
        "created_at is never updated"
    );
    assert!(
        st.sql.contains("FROM w, jsonb_array_elements("),
        "outbox only if updated"
    );
}

#[test]
fn delete_checks_id_user_and_version() {
    let id = Uuid::new_v4();
    let st = delete_task("bob", id, 7, &[]);
    check(&st);
    assert!(st.sql.contains(
        "DELETE FROM tasks WHERE id = $1::text::uuid AND user_id = $2::text AND version = $3::text::integer"
    ));
    assert_eq!(
        st.params[..3],
        [json!(id.to_string()), json!("bob"), json!("7")]
    );
    assert_eq!(st.params[3], json!("[]"));
}

#[test]
fn a_roll_records_the_event_and_the_occurrence_in_the_same_statement() {
    let open = task();
    let mut done = open.clone();
    done.completed = true;
    done.completed_at = Some(done.updated_at);
    done.version += 1;
    let msgs = events_for_change(Change::Updated, Some(&open), &done).unwrap();
    let event: todo_events::TaskEvent = serde_json::from_value(msgs[0].payload.clone()).unwrap();
    let completed = crate::completed_recurring(&event).unwrap();
    assert_eq!(completed.series, open.id);
    let roll = completed.roll(Uuid::new_v4(), done.updated_at);
    let crate::Roll::Next(next) = &roll else {
        panic!("a weekly task has a next occurrence")
    };
    let outbox = events_for_change(Change::Created, None, next).unwrap();
    let delivery = todo_consumer::Delivery::of(&event, Utc::now());
    let st = roll_forward_once(
        "recurring",
        event.event_id,
        &completed,
        &roll,
        &outbox,
        &delivery,
    );
    check(&st);
    assert!(st
        .sql
        .starts_with("WITH pe AS (INSERT INTO processed_events"));
    assert!(st.sql.contains("INSERT INTO recurrence_rolls"));
    assert!(st.sql.contains("FROM r WHERE r.next_task_id IS NOT NULL"));
    assert!(st.sql.contains("INSERT INTO outbox"));
    assert_eq!(st.params[0], json!("recurring"));
    assert_eq!(st.params[1], json!(event.event_id.to_string()));
    let ended = roll_forward_once(
        "recurring",
        event.event_id,
        &completed,
        &crate::Roll::Exhausted,
        &[],
        &delivery,
    );
    check(&ended);
    assert!(!ended.sql.contains("INSERT INTO tasks"));
    assert!(!ended.sql.contains("INSERT INTO outbox"));
}

#[test]
fn list_binds_filters_in_order_and_always_filters_on_user() {
    let q = ListQuery::parse(
        "completed=false&priority=high,urgent&tag=Home&tag=work&due_before=2026-06-01T00:00:00Z\
         &due_after=2026-05-01T00:00:00%2B02:00&q=50%25_off&sort=due_date&order=asc&limit=10",
        "carol",
        SECRET,
    )
    .unwrap();
    let st = list_tasks(&q);
    check(&st);
    assert!(st.sql.contains("WHERE t.user_id = $1::text AND"));
    assert_eq!(st.params[0], json!("carol"));
    assert_eq!(param_after(&st, "t.completed = "), &json!("false"));
    assert_eq!(
        param_after(&st, "t.priority = ANY("),
        &json!(r#"["2","3"]"#)
    );
    assert_eq!(param_after(&st, "t.tags @> "), &json!(r#"["home","work"]"#));
    assert_eq!(
        param_after(&st, "t.due_at < "),
        &json!("2026-06-01T00:00:00.000Z")
    );
    assert_eq!(
        param_after(&st, "t.due_at > "),
        &json!("2026-04-30T22:00:00.000Z")
    );
    assert_eq!(param_after(&st, "ILIKE "), &json!(r"%50\%\_off%"));
    assert_eq!(param_after(&st, "LIMIT "), &json!("11"), "limit + 1");
    assert!(st
        .sql
        .contains("ORDER BY COALESCE(t.due_at, 'infinity'::timestamptz) ASC, t.id ASC"));
}

#[test]
fn list_with_a_cursor_seeks_past_it() {
    let q = ListQuery::parse("sort=priority", "dave", SECRET).unwrap();
    let id = Uuid::new_v4();
    let cursor = q.cursor_after("2", &id.to_string(), SECRET);
    let q = ListQuery::parse(&format!("sort=priority&cursor={cursor}"), "dave", SECRET).unwrap();
    let st = list_tasks(&q);
    check(&st);
    assert!(st
        .sql
        .contains("(t.priority, t.id) < ($2::text::smallint, $3::text::uuid)"));
    assert_eq!(st.params[1..3], [json!("2"), json!(id.to_string())]);
    assert!(st.sql.contains("ORDER BY t.priority DESC, t.id DESC"));
}

#[test]
fn a_cursor_only_works_for_its_user_and_query() {
    let q = ListQuery::parse("sort=title", "erin", SECRET).unwrap();
    let c = q.cursor_after("abc", &Uuid::new_v4().to_string(), SECRET);
    assert!(ListQuery::parse(&format!("sort=title&cursor={c}"), "erin", SECRET).is_ok());
    for (query, user) in [
        (format!("sort=title&cursor={c}"), "mallory"),
        (format!("sort=title&order=desc&cursor={c}"), "erin"),
        (format!("sort=title&q=x&cursor={c}"), "erin"),
        (format!("sort=created&cursor={c}"), "erin"),
        (format!("sort=title&cursor={c}x"), "erin"),
    ] {
        let e = ListQuery::parse(&query, user, SECRET).unwrap_err();
        assert!(e.has("cursor"), "{query} as {user}: {e}");
    }
}
