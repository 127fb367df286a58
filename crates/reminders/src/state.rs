//! The state of one reminder and the statements that change it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use todo_consumer::Delivery;
use todo_events::{
    Channel, DueReminder, EncodeError, ReminderEvent, ReminderEventType, ReminderState,
    TaskReminder, TaskUpdate,
};
use todo_outbox::{outbox_cte, OutboxMessage};
use todo_sql::{field, shape, single, ts_ms, Binder, RowError, Statement};

use crate::job::JobData;

/// The consumer name in `processed_events` (the app-id).
pub const CONSUMER: &str = "notification";

/// How late a reminder may arrive and still fire (at once): later than this past its time it is
/// recorded as `missed` instead, so a backlog (a service down for hours) does not flood the user
/// with stale reminders.
pub const GRACE: Duration = Duration::minutes(15);

/// How long a callback holds a reminder while delivering it; a second callback within it waits
/// (the Scheduler retries it), one after it takes over (the first one died).
pub const CLAIM_SECONDS: i64 = 30;

/// A reminder's state in `reminder_states`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A job is due at its time.
    Scheduled,
    /// A callback is delivering it.
    Delivering,
    /// Delivered once.
    Sent,
    /// Every try failed.
    Failed,
    /// Its time had long passed when it arrived.
    Missed,
    /// Removed, or its task completed or deleted.
    Cancelled,
}

impl State {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Delivering => "delivering",
            State::Sent => "sent",
            State::Failed => "failed",
            State::Missed => "missed",
            State::Cancelled => "cancelled",
        }
    }

    /// The state of the same name; `None` for any other text.
    pub fn parse(text: &str) -> Option<State> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }
}

/// The state a `reminder.scheduled` for `remind_at` starts in when it arrives at `now`.
pub fn arrival_state(remind_at: DateTime<Utc>, now: DateTime<Utc>) -> State {
    if remind_at < now - GRACE {
        State::Missed
    } else {
        State::Scheduled
    }
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// `expr` rendered as the stored instant format.
fn ts(expr: &str) -> String {
    ts_ms(expr)
}

/// The statement's binds of a reminder event: the row's columns.
struct Columns {
    rid: String,
    user: String,
    task: String,
    at: String,
    channel: String,
    email: String,
    title: String,
    due: String,
    event_at: String,
}

impl Columns {
    /// `INSERT INTO reminder_states (...) SELECT ... FROM pe`: the event's row in `state` (an
    /// SQL expression), inserted only when `pe` recorded the event.
    fn insert_from_pe(&self, state: &str) -> String {
        format!(
            "INSERT INTO reminder_states (reminder_id, user_id, task_id, remind_at, channel, \
             email, task_title, due_at, state, event_at) \
             SELECT {}, {}, {}, {}, {}, {}, {}, {}, {state}, {} FROM pe",
            self.rid,
            self.user,
            self.task,
            self.at,
            self.channel,
            self.email,
            self.title,
            self.due,
            self.event_at
        )
    }
}

fn columns(b: &mut Binder, e: &ReminderEvent) -> Columns {
    Columns {
        rid: b.cast(Some(e.reminder_id.to_string()), "uuid"),
        user: b.str(&e.user_id),
        task: b.cast(Some(e.task_id.to_string()), "uuid"),
        at: b.cast(Some(e.remind_at.clone()), "timestamptz"),
        channel: b.str(e.channel.as_str()),
        email: b.text(e.email.clone()),
        title: b.text(e.task_title.clone()),
        due: b.cast(e.due_date.clone(), "timestamptz"),
        event_at: b.cast(Some(e.timestamp.clone()), "timestamptz"),
    }
}

/// The row's outcome and current state, for a statement whose upsert CTE is `up`. The final
/// SELECT sees the table as it was before the statement, so `up` wins when it wrote.
fn outcome_select(rid: &str) -> String {
    format!(
        "SELECT jsonb_build_object('processed', EXISTS (SELECT 1 FROM pe), \
         'applied', EXISTS (SELECT 1 FROM up), \
         'state', COALESCE((SELECT state FROM up), \
         (SELECT state FROM reminder_states WHERE reminder_id = {rid})), \
         'remind_at', COALESCE((SELECT {} FROM up), \
         (SELECT {} FROM reminder_states WHERE reminder_id = {rid})))::text",
        ts("up.remind_at"),
        ts("remind_at"),
    )
}

/// The idempotency row of `event` with its metrics columns (todo-consumer), received at
/// `received_at`.
fn processed_cte(b: &mut Binder, event: &ReminderEvent, received_at: DateTime<Utc>) -> String {
    let c = b.str(CONSUMER);
    let e = b.cast(Some(event.event_id.to_string()), "uuid");
    todo_consumer::processed_cte(b, &c, &e, &Delivery::of(event, received_at))
}

/// The `reminder.sent` of a reminder reaching `state` (sent, failed, missed), and for a sent
/// `in_app` reminder the `reminder.due` update the user's browsers show.
fn terminal_events(
    user: &str,
    task_id: Uuid,
    reminder: TaskReminder,
    title: Option<String>,
    due: Option<String>,
    email: Option<String>,
    state: State,
) -> Result<Vec<OutboxMessage>, EncodeError> {
    let mut sent = ReminderEvent::new(ReminderEventType::Sent, user, task_id, &reminder);
    sent.state = match state {
        State::Failed => ReminderState::Failed,
        State::Missed => ReminderState::Missed,
        _ => ReminderState::Sent,
    };
    sent.task_title = title.clone();
    sent.due_date = due.clone();
    sent.email = email;
    let mut out = vec![OutboxMessage::encode(&sent)?];
    if state == State::Sent && reminder.channel == Channel::InApp {
        let update = TaskUpdate::reminder_due(
            user,
            task_id,
            DueReminder {
                reminder_id: reminder.reminder_id,
                remind_at: reminder.remind_at.clone(),
                channel: reminder.channel,
                task_title: title,
                due_date: due,
            },
        );
        out.push(OutboxMessage::encode(&update)?);
    }
    Ok(out)
}

/// Applies a `reminder.scheduled`: the reminder (re)starts in `state` ([`arrival_state`]) unless
/// a newer event already set it, or it was already delivered (or missed, or failed) for this
/// very time and channel. A reminder that starts `missed` has its `reminder.sent` (state
/// `missed`) written to the outbox in the same statement.
/// Row: [`EventOutcome`].
pub fn apply_scheduled(
    event: &ReminderEvent,
    state: State,
    received_at: DateTime<Utc>,
) -> Result<Statement, EncodeError> {
    let mut b = Binder::default();
    let pe = processed_cte(&mut b, event, received_at);
    let c = columns(&mut b, event);
    let s = b.str(state.as_str());
    let missed = if state == State::Missed {
        let reminder = TaskReminder {
            reminder_id: event.reminder_id,
            remind_at: event.remind_at.clone(),
            offset_minutes: None,
            channel: event.channel,
            email: None,
        };
        terminal_events(
            &event.user_id,
            event.task_id,
            reminder,
            event.task_title.clone(),
            event.due_date.clone(),
            event.email.clone(),
            State::Missed,
        )?
    } else {
        Vec::new()
    };
    let o = outbox_cte(&mut b, "w", &missed);
    let sql = format!(
        "WITH {pe}, \
         up AS ({insert} \
         ON CONFLICT (reminder_id) DO UPDATE SET task_id = EXCLUDED.task_id, \
         remind_at = EXCLUDED.remind_at, channel = EXCLUDED.channel, email = EXCLUDED.email, \
         task_title = EXCLUDED.task_title, due_at = EXCLUDED.due_at, state = EXCLUDED.state, \
         attempts = 0, claimed_until = NULL, last_error = NULL, sent_at = NULL, \
         event_at = EXCLUDED.event_at, updated_at = now() \
         WHERE reminder_states.user_id = EXCLUDED.user_id \
         AND reminder_states.event_at <= EXCLUDED.event_at \
         AND NOT (reminder_states.remind_at = EXCLUDED.remind_at \
         AND reminder_states.channel = EXCLUDED.channel \
         AND reminder_states.state IN ('delivering', 'sent', 'failed', 'missed')) \
         RETURNING reminder_id, task_id AS id, state, remind_at), \
         w AS (SELECT id FROM up WHERE state = 'missed'), {o} {}",
        outcome_select(&c.rid),
        insert = c.insert_from_pe(&s),
    );
    Ok(b.finish(sql))
}

/// Applies a `reminder.cancelled`: `cancelled` unless a newer event set the state or it was
/// already delivered, missed or failed (a cancellation that arrives first leaves a `cancelled`
/// row, so an older `reminder.scheduled` arriving late cannot revive it). Row: [`EventOutcome`].
pub fn apply_cancelled(event: &ReminderEvent, received_at: DateTime<Utc>) -> Statement {
    let mut b = Binder::default();
    let pe = processed_cte(&mut b, event, received_at);
    let c = columns(&mut b, event);
    let sql = format!(
        "WITH {pe}, \
         up AS ({insert} ON CONFLICT (reminder_id) DO UPDATE SET state = 'cancelled', \
         claimed_until = NULL, event_at = EXCLUDED.event_at, updated_at = now() \
         WHERE reminder_states.user_id = EXCLUDED.user_id \
         AND reminder_states.event_at <= EXCLUDED.event_at \
         AND reminder_states.state IN ('scheduled', 'delivering', 'cancelled') \
         RETURNING reminder_id, state, remind_at) {}",
        outcome_select(&c.rid),
        insert = c.insert_from_pe("'cancelled'"),
    );
    b.finish(sql)
}

/// Applies the service's own `reminder.sent` (the seed: "consumes own events for tracking"): a
/// reminder still waiting for that very time takes the state the event reports. Normally the
/// delivery already recorded it and nothing changes. Row: [`EventOutcome`].
pub fn apply_own(event: &ReminderEvent, received_at: DateTime<Utc>) -> Statement {
    let mut b = Binder::default();
    let pe = processed_cte(&mut b, event, received_at);
    let rid = b.cast(Some(event.reminder_id.to_string()), "uuid");
    let at = b.cast(Some(event.remind_at.clone()), "timestamptz");
    let state = b.str(event.state.as_str());
    let sql = format!(
        "WITH {pe}, \
         up AS (UPDATE reminder_states SET state = {state}, claimed_until = NULL, \
         updated_at = now() FROM pe WHERE reminder_id = {rid} AND remind_at = {at} \
         AND state IN ('scheduled', 'delivering') RETURNING reminder_id, state, remind_at) {}",
        outcome_select(&rid),
    );
    b.finish(sql)
}

/// What an event statement did.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventOutcome {
    /// The event was new to this service (false: a redelivery, nothing changed).
    pub processed: bool,
    /// The statement changed the reminder's row.
    pub applied: bool,
    /// The reminder's state now (`None`: the service never heard of it).
    pub state: Option<State>,
    /// The time its state is for.
    pub remind_at: Option<DateTime<Utc>>,
}

/// The row of [`apply_scheduled`], [`apply_cancelled`] and [`apply_own`].
pub fn event_outcome(rows: &[Vec<Value>]) -> Result<EventOutcome, RowError> {
    serde_json::from_value(single(rows)?).map_err(|e| shape(e.to_string()))
}

/// A reminder a callback holds, to deliver it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Claimed {
    /// The reminder.
    pub reminder_id: Uuid,
    /// Its owner.
    pub user_id: String,
    /// Its task.
    pub task_id: Uuid,
    /// The time it is for.
    pub remind_at: String,
    /// How it is delivered.
    pub channel: Channel,
    /// Where an email reminder goes.
    pub email: Option<String>,
    /// The task's title.
    pub task_title: Option<String>,
    /// The task's due date.
    pub due_at: Option<String>,
    /// This delivery's number, 1 for the first try (the claim it holds).
    pub attempts: i32,
}

/// What a callback found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// It holds the reminder: deliver it, then record the outcome.
    Claimed(Claimed),
    /// Another callback holds it under a lease (delivering now, or died doing so): schedule a
    /// follow-up job for after the lease ([`crate::follow_up_job_name`]) and end this one.
    Busy,
    /// Nothing to deliver: already delivered, cancelled, moved to another time (a stale job),
    /// failed, missed, or unknown (`None`). Answer success: the job is done.
    Done(Option<State>),
}

/// Claims the reminder of a job callback for [`CLAIM_SECONDS`]: only while it is `scheduled`
/// for the job's time, or `delivering` under a lease that has run out. Row: see
/// [`claim_outcome`].
pub fn claim(data: &JobData) -> Statement {
    let mut b = Binder::default();
    let rid = b.cast(Some(data.reminder_id.to_string()), "uuid");
    let at = b.cast(Some(data.remind_at.clone()), "timestamptz");
    let lease = b.cast(Some(CLAIM_SECONDS.to_string()), "integer");
    let sql = format!(
        "WITH c AS (UPDATE reminder_states SET state = 'delivering', attempts = attempts + 1, \
         claimed_until = now() + make_interval(secs => {lease}), updated_at = now() \
         WHERE reminder_id = {rid} AND remind_at = {at} AND (state = 'scheduled' \
         OR (state = 'delivering' AND claimed_until < now())) RETURNING *) \
         SELECT jsonb_build_object('claimed', (SELECT jsonb_build_object('reminder_id', \
         c.reminder_id, 'user_id', c.user_id, 'task_id', c.task_id, 'remind_at', {}, \
         'channel', c.channel, 'email', c.email, 'task_title', c.task_title, 'due_at', {}, \
         'attempts', c.attempts) FROM c), \
         'state', (SELECT state FROM reminder_states WHERE reminder_id = {rid}), \
         'same_time', (SELECT remind_at = {at} FROM reminder_states WHERE reminder_id = {rid}))::text",
        ts("c.remind_at"),
        ts("c.due_at"),
    );
    b.finish(sql)
}

/// The row of [`claim`].
pub fn claim_outcome(rows: &[Vec<Value>]) -> Result<Claim, RowError> {
    let v = single(rows)?;
    if let Some(c) = field::<Option<Claimed>>(&v, "claimed")? {
        return Ok(Claim::Claimed(c));
    }
    let state: Option<State> = field(&v, "state")?;
    let same_time: Option<bool> = field(&v, "same_time")?;
    Ok(match (state, same_time) {
        (Some(State::Delivering), Some(true)) => Claim::Busy,
        // Still `scheduled` for this time in the statement's snapshot, yet not claimed by it: a
        // callback claiming at the same moment won the row (the update re-read it after that
        // one committed; the snapshot predates it).
        (Some(State::Scheduled), Some(true)) => Claim::Busy,
        (state, _) => Claim::Done(state),
    })
}

/// The events of a claimed reminder reaching `state`: `reminder.sent` with that state, and for
/// a delivered `in_app` reminder the user's `reminder.due` on `task-updates` (that update is the
/// in-app delivery: realtime pushes it to the browsers).
pub fn outcome_events(c: &Claimed, state: State) -> Result<Vec<OutboxMessage>, EncodeError> {
    let reminder = TaskReminder {
        reminder_id: c.reminder_id,
        remind_at: c.remind_at.clone(),
        offset_minutes: None,
        channel: c.channel,
        email: None,
    };
    terminal_events(
        &c.user_id,
        c.task_id,
        reminder,
        c.task_title.clone(),
        c.due_at.clone(),
        c.email.clone(),
        state,
    )
}

fn held(b: &mut Binder, c: &Claimed) -> String {
    let rid = b.cast(Some(c.reminder_id.to_string()), "uuid");
    let n = b.cast(Some(c.attempts.to_string()), "integer");
    format!("reminder_id = {rid} AND state = 'delivering' AND attempts = {n}")
}

/// Records the delivery of a reminder this callback still holds, with its `outbox` events
/// ([`outcome_events`] with [`State::Sent`]) in the same statement. Row: see [`recorded`].
pub fn record_delivered(c: &Claimed, outbox: &[OutboxMessage]) -> Statement {
    let mut b = Binder::default();
    let cond = held(&mut b, c);
    let o = outbox_cte(&mut b, "w", outbox);
    let sql = format!(
        "WITH w AS (UPDATE reminder_states SET state = 'sent', sent_at = now(), \
         claimed_until = NULL, last_error = NULL, updated_at = now() WHERE {cond} \
         RETURNING task_id AS id), {o} \
         SELECT jsonb_build_object('recorded', EXISTS (SELECT 1 FROM w))::text"
    );
    b.finish(sql)
}

/// Records a failed delivery: back to `scheduled` for the job's next try, or, when `last`,
/// `failed` with its `outbox` events ([`outcome_events`] with [`State::Failed`]).
/// Row: see [`recorded`].
pub fn record_failure(c: &Claimed, error: &str, last: bool, outbox: &[OutboxMessage]) -> Statement {
    let mut b = Binder::default();
    let cond = held(&mut b, c);
    let err = b.str(&error.chars().take(500).collect::<String>());
    let state = if last { "failed" } else { "scheduled" };
    let o = outbox_cte(&mut b, "w", if last { outbox } else { &[] });
    let sql = format!(
        "WITH w AS (UPDATE reminder_states SET state = '{state}', last_error = {err}, \
         claimed_until = NULL, updated_at = now() WHERE {cond} RETURNING task_id AS id), {o} \
         SELECT jsonb_build_object('recorded', EXISTS (SELECT 1 FROM w))::text"
    );
    b.finish(sql)
}

/// The row of [`record_delivered`] / [`record_failure`]: whether this callback still held the
/// reminder (false: another callback took it over after the lease ran out).
pub fn recorded(rows: &[Vec<Value>]) -> Result<bool, RowError> {
    field(&single(rows)?, "recorded")
}

impl Claimed {
    /// The time the reminder is for.
    pub fn remind_at(&self) -> Option<DateTime<Utc>> {
        instant(&self.remind_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap()
    }

    #[test]
    fn late_arrivals_fire_within_the_grace_period_and_are_missed_after_it() {
        assert_eq!(arrival_state(at(9, 0), at(8, 0)), State::Scheduled);
        assert_eq!(arrival_state(at(9, 0), at(9, 14)), State::Scheduled);
        assert_eq!(arrival_state(at(9, 0), at(9, 16)), State::Missed);
    }

    #[test]
    fn states_round_trip() {
        for s in [
            State::Scheduled,
            State::Delivering,
            State::Sent,
            State::Failed,
            State::Missed,
            State::Cancelled,
        ] {
            assert_eq!(State::parse(s.as_str()), Some(s));
        }
        assert_eq!(State::parse("upcoming"), None);
    }

    fn claim_row(v: serde_json::Value) -> Vec<Vec<Value>> {
        vec![vec![Value::String(v.to_string())]]
    }

    #[test]
    fn a_callback_delivers_only_what_it_claimed() {
        let busy = claim_row(
            serde_json::json!({"claimed": null, "state": "delivering", "same_time": true}),
        );
        assert_eq!(claim_outcome(&busy).unwrap(), Claim::Busy);
        let sent =
            claim_row(serde_json::json!({"claimed": null, "state": "sent", "same_time": true}));
        assert_eq!(
            claim_outcome(&sent).unwrap(),
            Claim::Done(Some(State::Sent))
        );
        let moved = claim_row(
            serde_json::json!({"claimed": null, "state": "delivering", "same_time": false}),
        );
        assert_eq!(
            claim_outcome(&moved).unwrap(),
            Claim::Done(Some(State::Delivering))
        );
        let raced = claim_row(
            serde_json::json!({"claimed": null, "state": "scheduled", "same_time": true}),
        );
        assert_eq!(
            claim_outcome(&raced).unwrap(),
            Claim::Busy,
            "a concurrent claim won"
        );
        let stale = claim_row(
            serde_json::json!({"claimed": null, "state": "scheduled", "same_time": false}),
        );
        assert_eq!(
            claim_outcome(&stale).unwrap(),
            Claim::Done(Some(State::Scheduled))
        );
        let unknown =
            claim_row(serde_json::json!({"claimed": null, "state": null, "same_time": null}));
        assert_eq!(claim_outcome(&unknown).unwrap(), Claim::Done(None));
        assert_eq!(claim_outcome(&[]), Err(RowError::NoRow));
    }
}
