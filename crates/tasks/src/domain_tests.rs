//! Create, update, list-query and event tests.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use todo_events::{TaskEventType, Topic};

use crate::*;
use todo_problem::{problem_json, ValidationErrors};

const SECRET: &[u8] = b"cursor-secret";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap() + Duration::microseconds(123_456)
}

fn create(body: Value) -> Result<Task, ValidationErrors> {
    validate_create(body.to_string().as_bytes(), Uuid::new_v4(), "user-1", now())
}

fn fields(e: &ValidationErrors) -> Vec<&str> {
    e.errors.iter().map(|f| f.field.as_str()).collect()
}

#[test]
fn create_applies_defaults_and_normalises() {
    let t = create(json!({"title": "  Buy milk  ", "tags": ["Shop", "shop ", "food"]})).unwrap();
    assert_eq!(t.title, "Buy milk");
    assert_eq!(t.tags, ["shop", "food"]);
    assert_eq!(t.priority, Priority::Normal);
    assert_eq!(t.timezone, "UTC");
    assert!(!t.completed && t.completed_at.is_none());
    assert_eq!(t.version, 1);
    assert_eq!(format_instant(t.created_at), "2026-05-01T08:00:00.123Z");
    assert!(t.recurrence.is_none() && t.recurrence_id.is_none());
}

#[test]
fn create_lists_every_problem_with_its_pointer() {
    let e = create(json!({
        "title": "",
        "description": "x".repeat(4001),
        "priority": "critical",
        "tags": ["ok", ""],
        "due_date": "next week",
        "timezone": "Mars/Base",
        "recurrence": "FREQ=HOURLY",
        "reminders": [{"remind_at": "2026-05-01T09:00:00Z", "before_minutes": 5}, {"when": 1}],
        "colour": "red",
    }))
    .unwrap_err();
    let f = fields(&e);
    for expected in [
        "/title",
        "/description",
        "/priority",
        "/tags/1",
        "/due_date",
        "/timezone",
        "/recurrence",
        "/reminders/1/when",
        "/colour",
    ] {
        assert!(f.contains(&expected), "{expected} missing from {f:?}");
    }
    let body = problem_json(&e);
    assert_eq!(body["status"], 400);
    assert_eq!(body["errors"].as_array().unwrap().len(), e.errors.len());
}

#[test]
fn create_refuses_wrong_types_missing_title_and_non_objects() {
    let e = create(json!({"title": 5, "completed": "yes", "tags": "home"})).unwrap_err();
    assert_eq!(fields(&e), ["/title", "/completed", "/tags"]);
    let e = create(json!({"description": "no title"})).unwrap_err();
    assert_eq!(fields(&e), ["/title"]);
    let e = create(json!(["title"])).unwrap_err();
    assert_eq!(fields(&e), [""]);
    let e = validate_create(b"{not json", Uuid::new_v4(), "u", now()).unwrap_err();
    assert_eq!(fields(&e), [""]);
}

#[test]
fn recurrence_needs_due_date_and_time_zone_and_is_canonical() {
    let e = create(json!({"title": "t", "recurrence": "FREQ=DAILY"})).unwrap_err();
    assert_eq!(fields(&e), ["/due_date", "/timezone"]);
    let t = create(json!({
        "title": "t", "recurrence": "rrule:freq=monthly;bymonthday=-1",
        "due_date": "2026-05-31T18:00:00+02:00", "timezone": "Europe/Berlin"
    }))
    .unwrap();
    assert_eq!(t.recurrence.as_deref(), Some("FREQ=MONTHLY;BYMONTHDAY=-1"));
    assert_eq!(t.recurrence_id, Some(t.id));
    assert_eq!(
        format_instant(t.due_date.unwrap()),
        "2026-05-31T16:00:00.000Z"
    );
    let e = create(json!({
        "title": "t", "recurrence": "FREQ=DAILY;BYSETPOS=1",
        "due_date": "2026-05-31T18:00:00Z", "timezone": "UTC"
    }))
    .unwrap_err();
    assert!(e.errors[0].message.starts_with("BYSETPOS"), "{e}");
}

#[test]
fn reminders_resolve_against_the_due_date() {
    let t = create(json!({
        "title": "t", "due_date": "2026-05-02T10:00:00Z",
        "reminders": [
            {"before_minutes": 30, "channel": "email"},
            {"remind_at": "2026-05-01T20:00:00+02:00"}
        ]
    }))
    .unwrap();
    assert_eq!(t.reminders.len(), 2);
    assert_eq!(
        format_instant(t.reminders[0].remind_at),
        "2026-05-02T09:30:00.000Z"
    );
    assert_eq!(t.reminders[0].before_minutes, Some(30));
    assert_eq!(t.reminders[0].channel, Channel::Email);
    assert_eq!(
        format_instant(t.reminders[1].remind_at),
        "2026-05-01T18:00:00.000Z"
    );
    assert_eq!(t.reminders[1].channel, Channel::InApp);
    assert_ne!(t.reminders[0].id, t.reminders[1].id);

    let e = create(json!({"title": "t", "reminders": [{"before_minutes": 10}]})).unwrap_err();
    assert_eq!(fields(&e), ["/reminders/0/before_minutes"]);
    let e = create(json!({"title": "t", "reminders": [{}]})).unwrap_err();
    assert_eq!(fields(&e), ["/reminders/0"]);
    let many: Vec<Value> = (0..11)
        .map(|_| json!({"remind_at": "2026-05-01T20:00:00Z"}))
        .collect();
    let e = create(json!({"title": "t", "reminders": many})).unwrap_err();
    assert_eq!(fields(&e), ["/reminders"]);
    let e = create(json!({"title": "t", "due_date": "2026-05-02T10:00:00Z",
        "reminders": [{"before_minutes": -1}]}))
    .unwrap_err();
    assert_eq!(fields(&e), ["/reminders/0/before_minutes"]);
}

#[test]
fn serde_and_the_field_reader_accept_the_same_fields() {
    // serde's deny_unknown_fields error lists the fields it knows; compare with FIELDS.
    fn serde_fields<T: serde::de::DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
        let err = serde_json::from_value::<T>(json!({"title": "t", "zz_unknown": 1})).unwrap_err();
        let text = err.to_string();
        let list = text.split("expected one of ").nth(1).unwrap();
        let mut names: Vec<String> = list
            .split(", ")
            .map(|s| s.trim_matches(|c| c == '`' || c == ' ').to_owned())
            .collect();
        names.sort();
        names
    }
    let sorted = |f: &[&str]| {
        let mut v: Vec<String> = f.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(serde_fields::<CreateTask>(), sorted(CreateTask::FIELDS));
    assert_eq!(serde_fields::<UpdateTask>(), sorted(UpdateTask::FIELDS));
    assert_eq!(
        serde_fields::<ReminderInput>(),
        sorted(ReminderInput::FIELDS)
    );
}

fn base() -> Task {
    create(json!({
        "title": "Report", "description": "Quarterly", "tags": ["work"],
        "due_date": "2026-05-10T09:00:00Z", "timezone": "Europe/Berlin",
        "reminders": [{"before_minutes": 60}, {"remind_at": "2026-05-09T09:00:00Z"}]
    }))
    .unwrap()
}

fn update(t: &Task, body: Value) -> Result<Task, ValidationErrors> {
    validate_update(t, body.to_string().as_bytes(), now() + Duration::hours(1)).map(|(_, t)| t)
}

#[test]
fn update_distinguishes_absent_null_and_value() {
    let t = base();
    let u = update(&t, json!({"description": null, "priority": "urgent"})).unwrap();
    assert_eq!(u.description, None);
    assert_eq!(u.priority, Priority::Urgent);
    assert_eq!(u.title, "Report", "absent stays");
    assert_eq!(u.tags, ["work"]);
    assert_eq!(u.version, 2);
    assert!(u.updated_at > t.updated_at);
    assert!(u.content_differs(&t));
    let u = update(&t, json!({"tags": null, "timezone": null})).unwrap();
    assert!(u.tags.is_empty());
    assert_eq!(u.timezone, "UTC");
    let e = update(&t, json!({"title": null, "completed": null})).unwrap_err();
    assert_eq!(fields(&e), ["/title", "/completed"]);
    let e = update(&t, json!({"owner": "x"})).unwrap_err();
    assert_eq!(fields(&e), ["/owner"]);
    assert!(!update(&t, json!({})).unwrap().content_differs(&t));
}

#[test]
fn update_completion_sets_and_clears_completed_at() {
    let t = base();
    let done = t
        .apply_update(&UpdateTask::completion(true), now())
        .unwrap();
    assert!(done.completed && done.completed_at.is_some());
    assert_eq!(update_event_type(&t, &done), TaskEventType::Completed);
    let reopened = done
        .apply_update(&UpdateTask::completion(false), now())
        .unwrap();
    assert!(!reopened.completed && reopened.completed_at.is_none());
    assert_eq!(update_event_type(&done, &reopened), TaskEventType::Updated);
    // task-events 1.1.0: the events say when (issue 22)
    let data = |old: &Task, new: &Task| {
        let events = events_for_change(Change::Updated, Some(old), new).unwrap();
        events[0].payload["task_data"]["completed_at"].clone()
    };
    let at = done.completed_at.map(format_instant).unwrap();
    assert_eq!(data(&t, &done), Value::String(at));
    assert_eq!(data(&done, &reopened), Value::Null);
}

#[test]
fn relative_reminders_follow_the_due_date_and_keep_their_ids() {
    let t = base();
    let u = update(&t, json!({"due_date": "2026-05-11T09:00:00Z"})).unwrap();
    assert_eq!(u.reminders[0].id, t.reminders[0].id);
    assert_eq!(
        format_instant(u.reminders[0].remind_at),
        "2026-05-11T08:00:00.000Z"
    );
    assert_eq!(
        u.reminders[1], t.reminders[1],
        "absolute reminder unchanged"
    );
    let e = update(&t, json!({"due_date": null})).unwrap_err();
    assert_eq!(fields(&e), ["/due_date"]);
    // Replacing the list: an id keeps the reminder, a foreign id is refused.
    let keep = t.reminders[1].id;
    let u = update(
        &t,
        json!({"reminders": [{"id": keep, "remind_at": "2026-05-09T10:00:00Z"}]}),
    )
    .unwrap();
    assert_eq!(u.reminders.len(), 1);
    assert_eq!(u.reminders[0].id, keep);
    let e = update(
        &t,
        json!({"reminders": [{"id": Uuid::new_v4(), "before_minutes": 5}]}),
    )
    .unwrap_err();
    assert_eq!(fields(&e), ["/reminders/0/id"]);
}

#[test]
fn setting_a_recurrence_on_update_needs_a_time_zone_unless_one_is_set() {
    let t = create(json!({"title": "t", "due_date": "2026-05-10T09:00:00Z"})).unwrap();
    let e = update(&t, json!({"recurrence": "FREQ=DAILY"})).unwrap_err();
    assert_eq!(fields(&e), ["/timezone"]);
    let u = update(
        &t,
        json!({"recurrence": "FREQ=DAILY", "timezone": "Asia/Tokyo"}),
    )
    .unwrap();
    assert_eq!(u.recurrence_id, Some(t.id));
    let berlin = base();
    assert!(update(&berlin, json!({"recurrence": "FREQ=DAILY"})).is_ok());
    let e = update(&u, json!({"due_date": null})).unwrap_err();
    assert_eq!(fields(&e), ["/due_date"]);
}

/// Optional fields of the event schemas (issue 7) do not make the task API send less: every
/// event carries every field the task API knows, the timestamps as instants, not null.
#[test]
fn events_of_a_write_carry_every_field_the_task_api_knows() {
    let t = base();
    let created = events_for_change(Change::Created, None, &t).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let data = &created[0].payload["task_data"];
    assert_eq!(
        keys(data),
        [
            "completed",
            "completed_at",
            "created_at",
            "description",
            "due_date",
            "parent_task_id",
            "priority",
            "recurrence",
            "recurrence_id",
            "reminders",
            "tags",
            "timezone",
            "title",
            "updated_at"
        ]
    );
    for field in ["created_at", "updated_at", "timezone"] {
        assert!(data[field].is_string(), "{field}: {}", data[field]);
    }
    let view = &created[1].payload["task"];
    assert_eq!(
        keys(view),
        [
            "completed",
            "description",
            "due_date",
            "id",
            "priority",
            "recurrence",
            "reminders",
            "tags",
            "timezone",
            "title",
            "updated_at"
        ]
    );
    assert!(view["updated_at"].is_string());
    let reminder = &created[2].payload;
    for field in ["task_title", "due_date", "email"] {
        assert!(
            reminder.get(field).is_some(),
            "{field} is sent (null when unknown)"
        );
    }
    assert!(reminder["task_title"].is_string());
}

#[test]
fn events_of_a_write_are_schema_valid_and_keyed_by_task() {
    let t = base();
    let created = events_for_change(Change::Created, None, &t).unwrap();
    let topics: Vec<&str> = created.iter().map(|m| m.topic.as_str()).collect();
    assert_eq!(
        topics,
        ["task-events", "task-updates", "reminders", "reminders"]
    );
    assert!(created.iter().all(|m| m.partition_key == t.id.to_string()));
    for m in &created {
        let topic = Topic::from_name(&m.topic).unwrap();
        todo_events::validate(topic, &m.payload).unwrap();
    }
    assert_eq!(created[0].payload["event_type"], "task.created");
    assert_eq!(
        created[0].payload["task_data"]["reminders"][0]["offset_minutes"],
        60
    );
    assert_eq!(created[1].payload["sequence"], 1);
    assert_eq!(created[2].payload["event_type"], "reminder.scheduled");

    let done = t
        .apply_update(&UpdateTask::completion(true), now())
        .unwrap();
    let msgs = events_for_change(Change::Updated, Some(&t), &done).unwrap();
    assert_eq!(msgs[0].payload["event_type"], "task.completed");
    assert_eq!(msgs[1].payload["sequence"], 2);
    let cancelled: Vec<&Value> = msgs[2..].iter().map(|m| &m.payload["event_type"]).collect();
    assert_eq!(
        cancelled,
        [&json!("reminder.cancelled"), &json!("reminder.cancelled")]
    );

    let deleted = events_for_change(Change::Deleted, Some(&t), &t).unwrap();
    assert_eq!(deleted[0].payload["event_type"], "task.deleted");
    assert_eq!(deleted[1].payload["task"], Value::Null);
    assert_eq!(deleted[1].payload["sequence"], 2);
    assert_eq!(deleted.len(), 4);
}

#[test]
fn reminder_changes_schedule_new_and_moved_and_cancel_removed() {
    let t = base();
    let u = update(&t, json!({"due_date": "2026-05-12T09:00:00Z"})).unwrap();
    let c = reminder_changes(Some(&t), Some(&u));
    assert_eq!(c.scheduled.len(), 1, "only the relative reminder moved");
    assert!(c.cancelled.is_empty());
    let u = update(&t, json!({"reminders": []})).unwrap();
    let c = reminder_changes(Some(&t), Some(&u));
    assert_eq!(c.cancelled.len(), 2);
    assert!(c.scheduled.is_empty());
}

#[test]
fn next_occurrence_task_rolls_a_series_forward() {
    let t = create(json!({
        "title": "Standup", "due_date": "2026-03-27T09:00:00+01:00", "timezone": "Europe/Berlin",
        "recurrence": "FREQ=DAILY;COUNT=3", "reminders": [{"before_minutes": 15}]
    }))
    .unwrap();
    let next_id = Uuid::new_v4();
    let n = t.next_occurrence_task(next_id, now()).unwrap();
    assert_eq!(
        format_instant(n.due_date.unwrap()),
        "2026-03-28T08:00:00.000Z"
    );
    assert_eq!(n.recurrence.as_deref(), Some("FREQ=DAILY;COUNT=2"));
    assert_eq!(
        (n.recurrence_id, n.parent_task_id),
        (Some(t.id), Some(t.id))
    );
    assert_eq!(
        format_instant(n.reminders[0].remind_at),
        "2026-03-28T07:45:00.000Z"
    );
    assert_ne!(n.reminders[0].id, t.reminders[0].id);
    let n2 = n.next_occurrence_task(Uuid::new_v4(), now()).unwrap();
    // Across the DST change: still 09:00 in Berlin.
    assert_eq!(
        format_instant(n2.due_date.unwrap()),
        "2026-03-29T07:00:00.000Z"
    );
    assert_eq!(n2.recurrence.as_deref(), Some("FREQ=DAILY;COUNT=1"));
    assert_eq!(n2.recurrence_id, Some(t.id));
    assert!(
        n2.next_occurrence_task(Uuid::new_v4(), now()).is_none(),
        "COUNT reached"
    );
}

#[test]
fn list_query_defaults_and_errors_name_the_parameter() {
    let q = ListQuery::parse("", "u", SECRET).unwrap();
    assert_eq!(
        (q.sort, q.order, q.limit),
        (SortField::Created, Order::Desc, 20)
    );
    let q = ListQuery::parse("?sort=title", "u", SECRET).unwrap();
    assert_eq!(q.order, Order::Asc);
    let e = ListQuery::parse(
        "completed=yes&priority=top&due_before=soon&sort=size&order=up&limit=0&cursor=x&foo=1&q=",
        "u",
        SECRET,
    )
    .unwrap_err();
    let f = fields(&e);
    for p in [
        "completed",
        "priority",
        "due_before",
        "sort",
        "order",
        "limit",
        "foo",
    ] {
        assert!(f.contains(&p), "{p} missing from {f:?}");
    }
    assert!(ListQuery::parse("limit=101", "u", SECRET)
        .unwrap_err()
        .has("limit"));
    assert!(ListQuery::parse("limit=1&limit=2", "u", SECRET)
        .unwrap_err()
        .has("limit"));
    assert!(ListQuery::parse("cursor=abc", "u", SECRET)
        .unwrap_err()
        .has("cursor"));
    // A '+' offset sent unencoded arrives as a space and is still understood.
    let q = ListQuery::parse("due_after=2026-05-01T10:00:00+02:00", "u", SECRET).unwrap();
    assert_eq!(
        format_instant(q.due_after.unwrap()),
        "2026-05-01T08:00:00.000Z"
    );
}

#[test]
fn task_json_round_trips_through_serde() {
    let t = base();
    let v = serde_json::to_value(&t).unwrap();
    assert_eq!(v["priority"], "normal");
    assert_eq!(v["due_date"], "2026-05-10T09:00:00.000Z");
    assert_eq!(v["reminders"][0]["before_minutes"], 60);
    let back: Task = serde_json::from_value(v).unwrap();
    assert_eq!(back, t);
}

/// Random and mutated inputs never panic the parsers (a cheap, deterministic fuzz run).
#[test]
fn parsers_never_panic_on_garbage() {
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet: Vec<char> =
        "aZ09=;,:+-_.%&?/\\\"'{}[] \t\n\0éß🚀TFREQDAILYWEKMONTHBYDAUNTILCOUNT"
            .chars()
            .collect();
    let seeds = [
        json!({"title": "t", "due_date": "2026-05-02T10:00:00Z", "timezone": "Europe/Berlin",
               "recurrence": "FREQ=MONTHLY;BYDAY=-1FR", "tags": ["a"],
               "reminders": [{"before_minutes": 5}, {"remind_at": "2026-05-01T00:00:00Z"}]}),
        json!({"title": null, "reminders": [null, 1, "x", {"id": "nope"}], "tags": [1, null]}),
    ];
    let base = base();
    for i in 0..3000 {
        let len = (next() % 60) as usize;
        let text: String = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let _ = text.parse::<Recurrence>();
        let _ = ListQuery::parse(&text, "u", SECRET);
        let _ = validate_create(text.as_bytes(), Uuid::new_v4(), "u", now());
        // Mutate one field of a valid body with the random text or a random JSON value.
        let mut body = seeds[i % 2].clone();
        let keys = [
            "title",
            "due_date",
            "timezone",
            "recurrence",
            "tags",
            "reminders",
            "priority",
        ];
        let key = keys[(next() % keys.len() as u64) as usize];
        body[key] = match next() % 4 {
            0 => json!(text),
            1 => json!(next() as i64),
            2 => json!([text]),
            _ => json!({"remind_at": text, "before_minutes": next() % 1_000_000}),
        };
        let bytes = body.to_string();
        let _ = validate_create(bytes.as_bytes(), Uuid::new_v4(), "u", now());
        let _ = validate_update(&base, bytes.as_bytes(), now());
    }
}

#[test]
fn email_reminders_keep_the_address_they_were_set_with() {
    let body = json!({"title": "t", "due_date": "2026-05-02T10:00:00Z",
                      "reminders": [{"before_minutes": 5, "channel": "email"}, {"before_minutes": 1}]});
    let mut t = validate_create(body.to_string().as_bytes(), Uuid::new_v4(), "u", now()).unwrap();
    let e = t.clone().attach_email(None).unwrap_err();
    assert!(e.has("/reminders/0/channel"), "{e:?}");
    t.attach_email(Some("u@example.com")).unwrap();
    assert_eq!(t.reminders[0].email.as_deref(), Some("u@example.com"));
    assert_eq!(
        t.reminders[1].email, None,
        "in_app reminders carry no address"
    );
    // An update by a token with another address keeps the reminder's own.
    let keep =
        json!({"reminders": [{"id": t.reminders[0].id, "before_minutes": 10, "channel": "email"}]});
    let mut next = t
        .apply_update(&UpdateTask::from_value(&keep).unwrap(), now())
        .unwrap();
    next.attach_email(Some("other@example.com")).unwrap();
    assert_eq!(next.reminders[0].email.as_deref(), Some("u@example.com"));
    // The reminder event carries it, and so does the task event's reminder (the recurring
    // service rolls the reminder, address included, into the next occurrence).
    let outbox = events_for_change(Change::Created, None, &t).unwrap();
    let scheduled: Vec<&Value> = outbox
        .iter()
        .filter(|m| m.payload["event_type"] == "reminder.scheduled")
        .map(|m| &m.payload)
        .collect();
    assert!(scheduled.iter().any(|e| e["email"] == "u@example.com"));
    let task_event = &outbox[0].payload;
    assert_eq!(
        task_event["task_data"]["reminders"][0]["email"],
        "u@example.com"
    );
}

/// The roll-forward matrix the end-to-end suite used to run through the stack, one case per rule
/// shape: the next occurrence's due date follows the rule in the task's time zone (no drift on
/// the 31st or on 29 February, BYDAY, INTERVAL, 09:00 local kept across the change to summer
/// time in New York and Berlin). `tests/e2e/test_recurring.py` keeps one case per entry point
/// (REST, MCP).
#[test]
fn the_next_occurrence_follows_the_rule_in_the_tasks_time_zone() {
    for (rule, zone, due, expected) in [
        (
            "FREQ=DAILY",
            "UTC",
            "2030-01-10T09:00:00Z",
            "2030-01-11T09:00:00.000Z",
        ),
        (
            "FREQ=WEEKLY;BYDAY=MO,TH",
            "Europe/Berlin",
            "2030-01-07T08:00:00Z",
            "2030-01-10T08:00:00.000Z",
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "UTC",
            "2030-01-31T10:00:00Z",
            "2030-03-31T10:00:00.000Z",
        ),
        (
            "FREQ=YEARLY",
            "UTC",
            "2028-02-29T12:00:00Z",
            "2032-02-29T12:00:00.000Z",
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=FR",
            "UTC",
            "2030-01-04T17:00:00Z",
            "2030-01-18T17:00:00.000Z",
        ),
        (
            "FREQ=DAILY",
            "America/New_York",
            "2030-03-09T14:00:00Z",
            "2030-03-10T13:00:00.000Z",
        ),
        (
            "FREQ=DAILY",
            "Europe/Berlin",
            "2030-03-30T08:00:00Z",
            "2030-03-31T07:00:00.000Z",
        ),
    ] {
        let t = create(json!({
            "title": "Water the plants", "due_date": due, "timezone": zone, "recurrence": rule,
            "reminders": [{"before_minutes": 30}],
        }))
        .unwrap();
        let next = t
            .next_occurrence_task(Uuid::new_v4(), now())
            .unwrap_or_else(|| panic!("{rule} in {zone}: no next occurrence"));
        let got = next.due_date.map(format_instant);
        assert_eq!(
            got.as_deref(),
            Some(expected),
            "{rule} in {zone} from {due}"
        );
        let gap = next.due_date.unwrap() - next.reminders[0].remind_at;
        assert_eq!(
            gap,
            Duration::minutes(30),
            "{rule}: the reminder moves with the due date"
        );
        assert_eq!(next.recurrence.as_deref(), Some(rule));
        assert_eq!(next.parent_task_id, Some(t.id));
    }
}

/// The 400 tables of the end-to-end suite, at the level that decides them: every bad create body,
/// patch body and list parameter is refused naming its field (the JSON pointer, or the parameter).
/// `tests/e2e/test_task_api.py` keeps one case of each to show the HTTP answer.
#[test]
fn every_bad_create_body_names_its_field() {
    let many_tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({"remind_at": "2030-01-01T10:00:00Z"}))
        .collect();
    for (body, field) in [
        (json!({}), "/title"),
        (json!({"title": null}), "/title"),
        (json!({"title": "x".repeat(201)}), "/title"),
        (json!({"title": 42}), "/title"),
        (json!({"title": "x", "tags": "home"}), "/tags"),
        (json!({"title": "x", "tags": many_tags}), "/tags"),
        (json!({"title": "x", "completed": "yes"}), "/completed"),
        (
            json!({"title": "x", "due_date": "2030-01-01T10:00:00"}),
            "/due_date",
        ),
        (
            json!({"title": "x", "recurrence": "FREQ=DAILY"}),
            "/due_date",
        ),
        (
            json!({"title": "x", "reminders": [{"before_minutes": 10}]}),
            "/reminders/0/before_minutes",
        ),
        (
            json!({"title": "x", "due_date": "2030-01-01T10:00:00Z", "reminders": [{"before_minutes": -1}]}),
            "/reminders/0/before_minutes",
        ),
        (
            json!({"title": "x", "reminders": [{"remind_at": "2030-01-01T10:00:00Z", "channel": "sms"}]}),
            "/reminders/0/channel",
        ),
        (json!({"title": "x", "reminders": eleven}), "/reminders"),
        (json!({"title": "x", "estimate": 3}), "/estimate"),
        (
            json!({"title": "x", "reminders": [{"remind_at": "2030-01-01T10:00:00Z", "snooze": 1}]}),
            "/reminders/0/snooze",
        ),
        (json!([{"title": "x"}]), ""),
    ] {
        let e = create(body.clone()).expect_err(&body.to_string());
        assert!(fields(&e).contains(&field), "{body}: {:?}", fields(&e));
    }
}

#[test]
fn every_bad_patch_body_names_its_field() {
    let t = create(json!({"title": "Keep me", "priority": "low"})).unwrap();
    for (body, field) in [
        (json!({"title": null}), "/title"),
        (json!({"title": "   "}), "/title"),
        (json!({"completed": null}), "/completed"),
        (json!({"completed": "yes"}), "/completed"),
        (json!({"version": "one"}), "/version"),
        (json!({"priority": "extreme"}), "/priority"),
        (json!({"colour": "red"}), "/colour"),
        (
            json!({"recurrence": "FREQ=WEEKLY;BYSETPOS=1"}),
            "/recurrence",
        ),
    ] {
        let e = update(&t, body.clone()).expect_err(&body.to_string());
        assert!(fields(&e).contains(&field), "{body}: {:?}", fields(&e));
    }
}

#[test]
fn every_bad_list_parameter_is_named() {
    let long_tag = "x".repeat(51);
    let long_q = "x".repeat(201);
    for (name, value) in [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "ten"),
        ("sort", "size"),
        ("order", "up"),
        ("completed", "maybe"),
        ("priority", "extreme"),
        ("due_before", "tomorrow"),
        ("due_after", "2030-01-01"),
        ("tag", long_tag.as_str()),
        ("q", long_q.as_str()),
        ("cursor", "garbage"),
        ("colour", "red"),
    ] {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair(name, value)
            .finish();
        let e = ListQuery::parse(&query, "u", SECRET).expect_err(&query);
        assert!(e.has(name), "{query}: {:?}", fields(&e));
    }
}
