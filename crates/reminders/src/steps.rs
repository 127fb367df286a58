//! What the notification service does next, step by step, as pure decisions around its calls
//! (the component runs the statements, the Jobs API calls and the deliveries in between).
//!
//! An event of `reminders`: [`event_statement`] records it, then [`job_action`] says what the
//! Scheduler must hear (schedule, delete, nothing). A job callback: [`claim`](crate::claim)s the
//! reminder, [`after_claim`] says whether to deliver it, look again after another callback's
//! lease, or stop; after the delivery [`after_delivery`] says what to record and what to answer
//! the Scheduler; a record that fails transiently is tried again after [`record_backoff`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use todo_events::{Channel, EncodeError, ReminderEvent, ReminderEventType};
use todo_sql::Statement;

use crate::job::{follow_up_job_name, job, job_name, JobData, MAX_ATTEMPTS};
use crate::state::{
    apply_cancelled, apply_own, apply_scheduled, arrival_state, outcome_events, record_delivered,
    record_failure, Claim, Claimed, EventOutcome, State, CLAIM_SECONDS,
};

/// Why an event of `reminders` cannot be recorded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// `remind_at` is not an instant (the schema's `date-time` format makes this rare).
    #[error("remind_at {0:?} is not an RFC 3339 instant")]
    RemindAt(String),
    /// The `reminder.sent` of a missed reminder did not encode.
    #[error(transparent)]
    Encode(#[from] EncodeError),
}

/// The statement that records `event` (received at `received_at`, handled at `now`).
pub fn event_statement(
    event: &ReminderEvent,
    received_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Statement, EventError> {
    Ok(match event.event_type {
        ReminderEventType::Scheduled => {
            let at = todo_events::parse_timestamp(&event.remind_at)
                .map_err(|_| EventError::RemindAt(event.remind_at.clone()))?;
            apply_scheduled(event, arrival_state(at, now), received_at)?
        }
        ReminderEventType::Cancelled => apply_cancelled(event, received_at),
        ReminderEventType::Sent => apply_own(event, received_at),
    })
}

/// What the Scheduler must hear after an event was recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum JobAction {
    /// (Re)schedule the reminder's job: `body` is `POST /v1.0/jobs/<name>`'s. Idempotent
    /// (`overwrite`), so a redelivery after a crash between the statement and this call still
    /// gets its job.
    Schedule {
        /// The job's name.
        name: String,
        /// The job.
        body: Value,
        /// Whether the event changed the reminder now (worth a log line).
        applied: bool,
    },
    /// Delete the reminder's job (a deleted job that does not exist is fine).
    Delete {
        /// The job's name.
        name: String,
        /// Whether the event changed the reminder now.
        applied: bool,
    },
    /// The reminder arrived too late and was recorded as missed: its `reminder.sent` waits in
    /// the outbox.
    Missed {
        /// The job's name, for the log.
        name: String,
    },
    /// Nothing to tell the Scheduler.
    Nothing,
}

/// The [`JobAction`] for `event` whose statement answered `o`, at `now`.
pub fn job_action(event: &ReminderEvent, o: &EventOutcome, now: DateTime<Utc>) -> JobAction {
    let name = job_name(event.reminder_id);
    match (event.event_type, o.state, o.remind_at) {
        (
            ReminderEventType::Scheduled | ReminderEventType::Cancelled,
            Some(State::Scheduled),
            Some(at),
        ) => {
            let data = JobData {
                reminder_id: event.reminder_id,
                remind_at: todo_events::format_timestamp(at),
            };
            JobAction::Schedule {
                name,
                body: job(&data, at, now),
                applied: o.applied,
            }
        }
        (_, Some(State::Cancelled), _) => JobAction::Delete {
            name,
            applied: o.applied,
        },
        (ReminderEventType::Scheduled, Some(State::Missed), _) if o.applied => {
            JobAction::Missed { name }
        }
        _ => JobAction::Nothing,
    }
}

/// What a job callback does once its claim statement answered.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterClaim {
    /// It holds the reminder: deliver it on its channel, then record the outcome
    /// ([`after_delivery`]).
    Deliver(Box<Claimed>),
    /// Another callback holds it under a lease (delivering now, or died doing so): schedule this
    /// follow-up job, due after the lease, and end this callback. The Scheduler's own retries of
    /// this job could all fall inside the lease.
    FollowUp {
        /// The follow-up job's name.
        name: String,
        /// Its body.
        body: Value,
    },
    /// Nothing to deliver: already delivered, cancelled, moved to another time (a stale job),
    /// failed, missed, or unknown.
    Done(Option<State>),
}

/// The step after claiming the reminder of job `data` at `now`.
pub fn after_claim(claim: Claim, data: &JobData, now: DateTime<Utc>) -> AfterClaim {
    match claim {
        Claim::Claimed(c) => AfterClaim::Deliver(Box::new(c)),
        Claim::Busy => {
            let due = now + chrono::Duration::seconds(CLAIM_SECONDS + 1);
            AfterClaim::FollowUp {
                name: follow_up_job_name(data.reminder_id, due),
                body: job(data, due, now),
            }
        }
        Claim::Done(state) => AfterClaim::Done(state),
    }
}

/// What to record after a delivery attempt, and what the callback answers once it is recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recording {
    /// The statement ([`record_delivered`] or [`record_failure`]); it applies only while this
    /// callback's claim holds.
    pub statement: Statement,
    /// The state the reminder reaches: `sent`, `failed`, or `scheduled` again for a retry.
    pub state: State,
    /// `Some(why)`: answer the Scheduler with an error so it tries the job again (a failed try
    /// with tries left); `None`: the job is done.
    pub retry: Option<String>,
}

impl Recording {
    /// Whether the statement puts events in the outbox (a reminder that reached its end).
    pub fn has_events(&self) -> bool {
        matches!(self.state, State::Sent | State::Failed)
    }
}

/// Whether a failed delivery on `channel` is worth another try.
pub fn retryable(channel: Channel) -> bool {
    channel != Channel::Webhook
}

/// The [`Recording`] of claimed reminder `c` after its delivery answered `delivered`: sent; or,
/// after a failure, back to `scheduled` for the Scheduler's next try, or `failed` once
/// [`MAX_ATTEMPTS`] tries are spent (or the channel is not worth another).
pub fn after_delivery(
    c: &Claimed,
    delivered: Result<(), String>,
) -> Result<Recording, EncodeError> {
    Ok(match delivered {
        Ok(()) => Recording {
            statement: record_delivered(c, &outcome_events(c, State::Sent)?),
            state: State::Sent,
            retry: None,
        },
        Err(why) => {
            let last = c.attempts >= MAX_ATTEMPTS || !retryable(c.channel);
            if last {
                Recording {
                    statement: record_failure(c, &why, true, &outcome_events(c, State::Failed)?),
                    state: State::Failed,
                    retry: None,
                }
            } else {
                Recording {
                    statement: record_failure(c, &why, false, &[]),
                    state: State::Scheduled,
                    retry: Some(format!(
                        "delivery try {} of {MAX_ATTEMPTS} failed: {why}",
                        c.attempts
                    )),
                }
            }
        }
    })
}

/// How long after its claim a callback keeps trying to record what it did: well inside the
/// lease ([`CLAIM_SECONDS`]), so no other callback can have claimed the reminder meanwhile.
pub const RECORD_WITHIN: Duration = Duration::from_secs(CLAIM_SECONDS as u64 - 10);

/// The wait before the next try of a record that failed transiently on try `tries` (1 for the
/// first), `elapsed` after the claim: 100 ms doubling to 2 s, while the next try still starts
/// within [`RECORD_WITHIN`]; `None`: give up (the Scheduler's retry, after the lease, takes over).
/// The email has left by then: answering the Scheduler with an error at once would make a later
/// try send it again.
pub fn record_backoff(tries: u32, elapsed: Duration) -> Option<Duration> {
    let wait = Duration::from_millis(100)
        .saturating_mul(1 << tries.saturating_sub(1).min(5))
        .min(Duration::from_secs(2));
    (elapsed + wait < RECORD_WITHIN).then_some(wait)
}

/// The subject and HTML body of an email reminder.
pub fn email(c: &Claimed) -> (String, String) {
    let title = c.task_title.as_deref().unwrap_or("a task");
    let subject = format!("Reminder: {title}");
    let due = c
        .due_at
        .as_deref()
        .map(|d| format!("<p>Due {}</p>", escape(d)))
        .unwrap_or_default();
    let body = format!("<p>Reminder: {}</p>{due}", escape(title));
    (subject, body)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    const EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/events/examples/reminders/valid"
    );

    fn example(name: &str) -> ReminderEvent {
        let text = std::fs::read_to_string(format!("{EXAMPLES}/{name}")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn claimed(channel: Channel, attempts: i32) -> Claimed {
        Claimed {
            reminder_id: Uuid::nil(),
            user_id: "u".into(),
            task_id: Uuid::nil(),
            remind_at: "2026-05-01T08:00:00.000Z".into(),
            channel,
            email: Some("u@example.com".into()),
            task_title: Some("Pay <rent> & bills".into()),
            due_at: Some("2026-05-01T09:00:00.000Z".into()),
            attempts,
        }
    }

    fn outcome(applied: bool, state: Option<State>, at: Option<DateTime<Utc>>) -> EventOutcome {
        EventOutcome {
            processed: true,
            applied,
            state,
            remind_at: at,
        }
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap()
    }

    #[test]
    fn every_example_event_is_recorded_by_its_own_statement() {
        let now = at(7, 0);
        for (name, marker) in [
            (
                "reminder-scheduled.json",
                "ON CONFLICT (reminder_id) DO UPDATE SET task_id",
            ),
            (
                "reminder-scheduled-email.json",
                "ON CONFLICT (reminder_id) DO UPDATE SET task_id",
            ),
            (
                "reminder-cancelled-optional-fields-absent.json",
                "SET state = 'cancelled'",
            ),
            ("reminder-sent.json", "UPDATE reminder_states SET state"),
            (
                "reminder-sent-failed.json",
                "UPDATE reminder_states SET state",
            ),
        ] {
            let st = event_statement(&example(name), now, now).unwrap();
            assert!(
                st.sql
                    .starts_with("WITH pe AS (INSERT INTO processed_events"),
                "{name}"
            );
            assert!(st.sql.contains(marker), "{name}: {}", st.sql);
        }
        let mut odd = example("reminder-scheduled.json");
        odd.remind_at = "soon".into();
        assert!(matches!(
            event_statement(&odd, now, now),
            Err(EventError::RemindAt(_))
        ));
    }

    #[test]
    fn a_waiting_reminder_gets_its_job_and_a_cancelled_one_loses_it() {
        let e = example("reminder-scheduled.json");
        let now = at(7, 0);
        let when = at(8, 0);
        let JobAction::Schedule {
            name,
            body,
            applied,
        } = job_action(&e, &outcome(true, Some(State::Scheduled), Some(when)), now)
        else {
            panic!("no job")
        };
        assert_eq!(name, job_name(e.reminder_id));
        assert_eq!(body["dueTime"], "2026-05-01T08:00:00.000Z");
        assert_eq!(body["data"]["remind_at"], "2026-05-01T08:00:00.000Z");
        assert!(applied);
        // A redelivery schedules again (overwrite), so a crash between statement and call heals.
        assert!(matches!(
            job_action(&e, &outcome(false, Some(State::Scheduled), Some(when)), now),
            JobAction::Schedule { applied: false, .. }
        ));
        let c = example("reminder-cancelled-optional-fields-absent.json");
        assert_eq!(
            job_action(&c, &outcome(true, Some(State::Cancelled), None), now),
            JobAction::Delete {
                name: job_name(c.reminder_id),
                applied: true
            }
        );
        // A scheduled event that lost to a cancellation deletes the job too.
        assert!(matches!(
            job_action(&e, &outcome(false, Some(State::Cancelled), None), now),
            JobAction::Delete { .. }
        ));
        assert_eq!(
            job_action(&e, &outcome(true, Some(State::Missed), None), now),
            JobAction::Missed {
                name: job_name(e.reminder_id)
            }
        );
        assert_eq!(
            job_action(&e, &outcome(false, Some(State::Missed), None), now),
            JobAction::Nothing
        );
        for state in [State::Sent, State::Delivering, State::Failed] {
            assert_eq!(
                job_action(&e, &outcome(true, Some(state), Some(when)), now),
                JobAction::Nothing,
                "{state:?}"
            );
        }
        let own = example("reminder-sent.json");
        assert_eq!(
            job_action(&own, &outcome(true, Some(State::Sent), Some(when)), now),
            JobAction::Nothing
        );
    }

    #[test]
    fn a_claim_delivers_waits_for_the_lease_or_stops() {
        let data = JobData {
            reminder_id: Uuid::from_u128(9),
            remind_at: "2026-05-01T08:00:00.000Z".into(),
        };
        let now = at(8, 0);
        let c = claimed(Channel::Email, 1);
        assert_eq!(
            after_claim(Claim::Claimed(c.clone()), &data, now),
            AfterClaim::Deliver(Box::new(c))
        );
        let AfterClaim::FollowUp { name, body } = after_claim(Claim::Busy, &data, now) else {
            panic!()
        };
        let due = now + chrono::Duration::seconds(CLAIM_SECONDS + 1);
        assert_eq!(name, follow_up_job_name(data.reminder_id, due));
        assert_eq!(body["dueTime"], "2026-05-01T08:00:31.000Z");
        assert_eq!(body["data"]["reminder_id"], data.reminder_id.to_string());
        assert_eq!(
            after_claim(Claim::Done(Some(State::Sent)), &data, now),
            AfterClaim::Done(Some(State::Sent))
        );
    }

    #[test]
    fn a_delivery_is_recorded_sent_retried_or_failed_at_the_last_try() {
        let sent = after_delivery(&claimed(Channel::InApp, 1), Ok(())).unwrap();
        assert_eq!((sent.state, sent.retry.clone()), (State::Sent, None));
        assert!(sent.has_events());
        assert!(
            sent.statement.sql.contains("SET state = 'sent'"),
            "{}",
            sent.statement.sql
        );
        let outbox: String = sent
            .statement
            .params
            .iter()
            .filter_map(|p| p.as_str())
            .collect();
        assert!(
            outbox.contains("reminder.due"),
            "an in-app delivery is its update"
        );
        assert!(outbox.contains("reminder.sent"));

        let again = after_delivery(&claimed(Channel::Email, 1), Err("smtp down".into())).unwrap();
        assert_eq!(again.state, State::Scheduled);
        assert_eq!(
            again.retry.as_deref(),
            Some("delivery try 1 of 4 failed: smtp down")
        );
        assert!(!again.has_events());
        assert!(again.statement.sql.contains("SET state = 'scheduled'"));

        let last = after_delivery(
            &claimed(Channel::Email, MAX_ATTEMPTS),
            Err("smtp down".into()),
        )
        .unwrap();
        assert_eq!((last.state, last.retry.clone()), (State::Failed, None));
        assert!(last.statement.sql.contains("SET state = 'failed'"));
        let webhook =
            after_delivery(&claimed(Channel::Webhook, 1), Err("no webhook".into())).unwrap();
        assert_eq!(webhook.state, State::Failed, "a webhook is not tried again");
        assert!(retryable(Channel::Email) && retryable(Channel::InApp));
        assert!(!retryable(Channel::Webhook));
    }

    #[test]
    fn a_failed_record_is_tried_again_with_backoff_inside_the_lease() {
        let ms = |n| Duration::from_millis(n);
        assert_eq!(record_backoff(1, ms(0)), Some(ms(100)));
        assert_eq!(record_backoff(2, ms(150)), Some(ms(200)));
        assert_eq!(record_backoff(5, ms(3_000)), Some(ms(1_600)));
        assert_eq!(record_backoff(6, ms(5_000)), Some(ms(2_000)));
        assert_eq!(record_backoff(40, ms(5_000)), Some(ms(2_000)));
        assert_eq!(record_backoff(9, RECORD_WITHIN - ms(1_000)), None);
        assert!(RECORD_WITHIN < Duration::from_secs(CLAIM_SECONDS as u64));
        let mut elapsed = Duration::ZERO;
        let mut tries = 1;
        while let Some(wait) = record_backoff(tries, elapsed) {
            elapsed += wait;
            tries += 1;
        }
        assert!(
            elapsed < RECORD_WITHIN && tries > 10,
            "{tries} tries in {elapsed:?}"
        );
    }

    #[test]
    fn an_email_names_the_task_escaped() {
        let (subject, body) = email(&claimed(Channel::Email, 1));
        assert_eq!(subject, "Reminder: Pay <rent> & bills");
        assert!(body.contains("Pay &lt;rent&gt; &amp; bills"), "{body}");
        assert!(body.contains("Due 2026-05-01T09:00:00.000Z"), "{body}");
    }
}
