//! The reminder SQL and its lease on a real PostgreSQL (todo-pgtest: `TODO_TEST_PG_URL`, a fresh
//! migrated schema per test): events applied once and in `timestamp` order, two callbacks claiming
//! at once, a lease that runs out, a stale job. Run with
//! `cargo test -p todo-reminders --features pg --test sql_pg`.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use todo_events::{ReminderEvent, ReminderEventType};
use todo_pgtest::Db;
use todo_reminders::{
    after_delivery, claim, claim_outcome, event_outcome, event_statement, recorded, Claim, Claimed,
    EventOutcome, JobData, State,
};
use uuid::Uuid;

const SCHEDULED: &str =
    include_str!("../../../contracts/events/examples/reminders/valid/reminder-scheduled.json");

/// A `reminder.scheduled` of a fresh reminder, due `in_secs` from now, stamped `stamp`.
fn scheduled(in_secs: i64, stamp: DateTime<Utc>) -> ReminderEvent {
    let mut e: ReminderEvent = serde_json::from_str(SCHEDULED).unwrap();
    e.event_id = Uuid::new_v4();
    e.reminder_id = Uuid::new_v4();
    e.remind_at = todo_events::format_timestamp(Utc::now() + Duration::seconds(in_secs));
    e.timestamp = todo_events::format_timestamp(stamp);
    e
}

/// `e`'s `reminder.cancelled`, stamped `stamp`.
fn cancelled(e: &ReminderEvent, stamp: DateTime<Utc>) -> ReminderEvent {
    let mut c = e.clone();
    c.event_id = Uuid::new_v4();
    c.event_type = ReminderEventType::Cancelled;
    c.timestamp = todo_events::format_timestamp(stamp);
    c
}

fn apply(db: &mut Db, e: &ReminderEvent) -> EventOutcome {
    let now = Utc::now();
    event_outcome(&db.run(&event_statement(e, now, now).unwrap())).unwrap()
}

fn job_of(e: &ReminderEvent, db: &mut Db) -> JobData {
    let at = db.texts(&format!(
        "SELECT to_char(remind_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') \
         FROM reminder_states WHERE reminder_id = '{}'",
        e.reminder_id
    ));
    JobData {
        reminder_id: e.reminder_id,
        remind_at: at[0].clone(),
    }
}

fn claimed(db: &mut Db, data: &JobData) -> Claim {
    claim_outcome(&db.run(&claim(data))).unwrap()
}

fn state_of(db: &mut Db, id: Uuid) -> String {
    db.texts(&format!(
        "SELECT state FROM reminder_states WHERE reminder_id = '{id}'"
    ))[0]
        .clone()
}

fn outbox_events(db: &mut Db) -> Vec<String> {
    db.texts("SELECT payload->>'event_type' FROM outbox ORDER BY id")
}

#[test]
fn an_event_is_applied_once_and_a_redelivery_changes_nothing() {
    let mut db = Db::new();
    let e = scheduled(600, Utc::now());
    let first = apply(&mut db, &e);
    assert!(first.processed && first.applied, "{first:?}");
    assert_eq!(first.state, Some(State::Scheduled));
    let again = apply(&mut db, &e);
    assert!(!again.processed && !again.applied, "{again:?}");
    assert_eq!(
        again.state,
        Some(State::Scheduled),
        "the redelivery still sees the state"
    );
    assert_eq!(db.count("SELECT count(*) FROM processed_events"), 1);
}

#[test]
fn an_older_event_arriving_late_never_overwrites_a_newer_one() {
    let mut db = Db::new();
    let t0 = Utc::now() - Duration::seconds(60);
    let e = scheduled(600, t0);
    // The cancellation (newer) arrives first, the scheduling (older) after it.
    let c = apply(&mut db, &cancelled(&e, t0 + Duration::seconds(5)));
    assert_eq!(c.state, Some(State::Cancelled));
    let late = apply(&mut db, &e);
    assert!(late.processed && !late.applied, "{late:?}");
    assert_eq!(
        late.state,
        Some(State::Cancelled),
        "a late scheduling revived a cancelled reminder"
    );
    assert_eq!(state_of(&mut db, e.reminder_id), "cancelled");
}

#[test]
fn two_callbacks_claiming_at_once_deliver_once() {
    let mut db = Db::new();
    for _ in 0..20 {
        let e = scheduled(0, Utc::now());
        apply(&mut db, &e);
        let data = job_of(&e, &mut db);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let mut conn = db.another();
                let data = data.clone();
                std::thread::spawn(move || claimed(&mut conn, &data))
            })
            .collect();
        let claims: Vec<Claim> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let won = claims
            .iter()
            .filter(|c| matches!(c, Claim::Claimed(_)))
            .count();
        let busy = claims.iter().filter(|c| **c == Claim::Busy).count();
        assert_eq!((won, busy), (1, 1), "{claims:?}");
    }
}

#[test]
fn a_lease_that_runs_out_is_taken_over_and_the_first_holder_records_nothing() {
    let mut db = Db::new();
    let e = scheduled(0, Utc::now());
    apply(&mut db, &e);
    let data = job_of(&e, &mut db);
    let Claim::Claimed(first) = claimed(&mut db, &data) else {
        panic!("not claimed")
    };
    assert_eq!(first.attempts, 1);
    assert_eq!(claimed(&mut db, &data), Claim::Busy, "the lease holds");
    // The first holder died: its lease runs out.
    db.client
        .batch_execute(&format!(
            "UPDATE reminder_states SET claimed_until = now() - interval '1 second' \
             WHERE reminder_id = '{}'",
            e.reminder_id
        ))
        .unwrap();
    let Claim::Claimed(second) = claimed(&mut db, &data) else {
        panic!("not taken over")
    };
    assert_eq!(second.attempts, 2);
    // The first holder comes back and records: nothing changes.
    let late: Claimed = first;
    let rec = after_delivery(&late, Ok(())).unwrap();
    assert!(!recorded(&db.run(&rec.statement)).unwrap());
    assert_eq!(state_of(&mut db, e.reminder_id), "delivering");
    assert!(outbox_events(&mut db).is_empty());
    // The second records the delivery once, with its events.
    let rec = after_delivery(&second, Ok(())).unwrap();
    assert!(recorded(&db.run(&rec.statement)).unwrap());
    assert!(
        !recorded(&db.run(&rec.statement)).unwrap(),
        "recorded twice"
    );
    assert_eq!(state_of(&mut db, e.reminder_id), "sent");
    assert_eq!(outbox_events(&mut db), ["reminder.sent", "reminder.due"]);
    assert_eq!(claimed(&mut db, &data), Claim::Done(Some(State::Sent)));
}

#[test]
fn a_failed_try_goes_back_for_the_next_and_the_last_one_fails_it() {
    let mut db = Db::new();
    let e = scheduled(0, Utc::now());
    apply(&mut db, &e);
    let data = job_of(&e, &mut db);
    for attempt in 1..=4 {
        let Claim::Claimed(c) = claimed(&mut db, &data) else {
            panic!("try {attempt}")
        };
        assert_eq!(c.attempts, attempt);
        let rec = after_delivery(&c, Err("smtp down".into())).unwrap();
        assert!(recorded(&db.run(&rec.statement)).unwrap());
        let want = if attempt < 4 { "scheduled" } else { "failed" };
        assert_eq!(
            state_of(&mut db, e.reminder_id),
            want,
            "after try {attempt}"
        );
    }
    assert_eq!(
        outbox_events(&mut db),
        ["reminder.sent"],
        "one reminder.sent saying failed"
    );
    let sent: Vec<Value> = db
        .texts("SELECT payload::text FROM outbox")
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(sent[0]["state"], "failed");
}

#[test]
fn a_stale_job_and_a_cancelled_reminder_deliver_nothing() {
    let mut db = Db::new();
    let e = scheduled(0, Utc::now());
    apply(&mut db, &e);
    let mut stale = job_of(&e, &mut db);
    stale.remind_at = "2026-01-01T00:00:00.000Z".into();
    assert!(matches!(
        claimed(&mut db, &stale),
        Claim::Done(Some(State::Scheduled))
    ));
    let later = Utc::now() + Duration::seconds(1);
    apply(&mut db, &cancelled(&e, later));
    let data = job_of(&e, &mut db);
    assert_eq!(claimed(&mut db, &data), Claim::Done(Some(State::Cancelled)));
    let unknown = JobData {
        reminder_id: Uuid::new_v4(),
        remind_at: data.remind_at.clone(),
    };
    assert_eq!(claimed(&mut db, &unknown), Claim::Done(None));
}
