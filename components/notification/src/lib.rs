//! `notification`: fires reminders.
//!
//! | route | from | |
//! |---|---|---|
//! | `POST /notification/events` | the sidecar (subscription to `reminders`, dead letters to `reminders.dlq`) | `reminder.scheduled`: record it and schedule its Dapr job (`reminder-<id>`, due at `remind_at`; a time already passed fires at once, one more than 15 minutes past is recorded as missed); `reminder.cancelled`: record it and delete the job; `reminder.sent` (its own): confirm the state; a bulk delivery (`bulkSubscribe`) per entry, in order ([`todo_http::deliveries`]) |
//! | `POST /job/<name>` | the Scheduler, through the sidecar | deliver the reminder once: `in_app` as a `reminder.due` on `task-updates` (realtime pushes it to the browsers), `email` through the SMTP binding `smtp`; record it and publish `reminder.sent`; a failed delivery answers 500 so the Scheduler retries (the job's bounded failure policy), the last failure is recorded as `failed` |
//! | `GET /api/reminders` | the user (JWT) | the user's reminders: `state` (upcoming, sent, missed, failed, cancelled), `task_id`, `order`, `limit`, `cursor` |
//!
//! Calls from the sidecar need its `dapr-api-token` (401 otherwise). Exactly once: a callback
//! claims the reminder for its time before delivering (a second callback finds it claimed or
//! delivered), and records the delivery with its events in one statement. If the process dies
//! after an email left and before the delivery is recorded, the claim runs out and a retry sends
//! it again: at least once in that window (docs/decisions.md). A record that fails while the
//! process lives is retried inside the lease instead ([`record`]).

use spin_sdk::http::{Method, Request, Response};
use std::time::{Duration, Instant};
use todo_events::chrono::{DateTime, Utc};
use todo_events::{decode, Channel, Decision, ReminderEvent, ReminderEventType, Topic};
use todo_reminders::{
    apply_cancelled, apply_own, apply_scheduled, arrival_state, claim, claim_outcome,
    event_outcome, follow_up_job_name, is_job_of, job, job_name, outcome_events, record_delivered,
    record_failure, recorded, reminder_page, Claim, Claimed, JobData, ReminderQuery, State,
    CLAIM_SECONDS, CONSUMER, MAX_ATTEMPTS,
};
use todo_sidecar::{Sidecar, SidecarError};

/// Pre-initialisation (todo-host --preinit): the reminders validator and the task-updates one
/// (`reminder.due`), compiled once at build time instead of in every request.
fn preinit() {
    for topic in [
        todo_events::Topic::Reminders,
        todo_events::Topic::TaskUpdates,
    ] {
        todo_events::EventSchema::of(topic);
    }
}
todo_preinit::export!(preinit);

/// The PostgreSQL binding holding reminder states and the outbox.
const DB: &str = "tododb";
/// The SMTP output binding of the email channel.
const SMTP: &str = "smtp";

// Exported only in the wasm build: natively the crate links as an ordinary library for tests.
#[cfg_attr(target_arch = "wasm32", spin_sdk::http_component)]
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
async fn handle(req: Request) -> Response {
    let path = req.path().to_string();
    match path.as_str() {
        "/notification/events" => {
            from_sidecar(&req, |body| async move {
                todo_http::deliveries(&body, |b| async move { on_event(&b).await }).await
            })
            .await
        }
        p if p.starts_with("/job/") => {
            let name = p.trim_start_matches("/job/").to_string();
            from_sidecar(&req, |body| async move { on_job(&name, &body).await }).await
        }
        "/api/reminders" | "/api/reminders/" => list(&req).await,
        _ => todo_http::problem(&todo_http::Problem::not_found("no such resource")),
    }
}

/// A POST from this app's sidecar: its token checked, then `f` on the body.
async fn from_sidecar<F, Fut>(req: &Request, f: F) -> Response
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    if let Err(resp) = todo_http::from_sidecar(req) {
        return resp;
    }
    if !matches!(req.method(), Method::Post) {
        return todo_http::method_not_allowed("POST");
    }
    f(req.body().to_vec()).await
}

fn sidecar() -> Result<Sidecar, SidecarError> {
    Sidecar::from_vars().map_err(|e| SidecarError::Unavailable(e.to_string()))
}

fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One delivery of `reminders`, received at request start (the processing duration starts
/// there); refused and retried deliveries are counted (best effort, todo-metrics).
async fn on_event(body: &[u8]) -> Decision {
    let received_at = Utc::now();
    let event = match decode::<ReminderEvent>(body) {
        Ok(d) => d.event,
        Err(e) => {
            count(&todo_metrics::refused(CONSUMER, Topic::Reminders, body)).await;
            return e.decision();
        }
    };
    match handle_event(&event, received_at).await {
        Ok(()) => Decision::Success,
        Err(e) => {
            eprintln!(
                "notification: retry event_id={} {} reminder={}: {e}",
                event.event_id,
                event.event_type.as_str(),
                event.reminder_id
            );
            count(&todo_metrics::failed(CONSUMER, event.event_type.as_str())).await;
            Decision::Retry
        }
    }
}

/// Runs a counter statement (a failure only loses the increment).
async fn count(st: &todo_sql::Statement) {
    match sidecar() {
        Ok(s) => todo_metrics::count(&s, DB, st, "notification").await,
        Err(e) => eprintln!("notification: metrics: a counter increment is lost: {e}"),
    }
}

async fn handle_event(event: &ReminderEvent, received_at: DateTime<Utc>) -> Result<(), String> {
    let sidecar = sidecar().map_err(|e| e.to_string())?;
    let now = Utc::now();
    let st = match event.event_type {
        ReminderEventType::Scheduled => {
            let at = instant(&event.remind_at).ok_or("remind_at is not an instant")?;
            apply_scheduled(event, arrival_state(at, now), received_at)
                .map_err(|e| e.to_string())?
        }
        ReminderEventType::Cancelled => apply_cancelled(event, received_at),
        ReminderEventType::Sent => apply_own(event, received_at),
    };
    let rows = sidecar
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    let o = event_outcome(&rows).map_err(|e| e.to_string())?;
    let name = job_name(event.reminder_id);
    match (event.event_type, o.state, o.remind_at) {
        // (Re)schedule whenever the reminder waits: idempotent (overwrite), so a redelivery
        // after a crash between the statement and this call still gets its job.
        (
            ReminderEventType::Scheduled | ReminderEventType::Cancelled,
            Some(State::Scheduled),
            Some(at),
        ) => {
            let data = JobData {
                reminder_id: event.reminder_id,
                remind_at: todo_events::format_timestamp(at),
            };
            sidecar
                .schedule_job(&name, &job(&data, at, now))
                .await
                .map_err(|e| format!("scheduling job {name}: {e}"))?;
            if o.applied {
                let when = if at <= now {
                    "now (its time has passed)"
                } else {
                    "at its time"
                };
                eprintln!(
                    "notification: scheduled {name} for {} ({when})",
                    data.remind_at
                );
            }
        }
        (_, Some(State::Cancelled), _) => {
            sidecar
                .delete_job(&name)
                .await
                .map_err(|e| format!("deleting job {name}: {e}"))?;
            if o.applied {
                eprintln!("notification: cancelled {name}");
            }
        }
        (ReminderEventType::Scheduled, Some(State::Missed), _) if o.applied => {
            eprintln!(
                "notification: missed {name}: {} is more than the grace period past",
                event.remind_at
            );
            todo_outbox::drain_once(&sidecar, DB, "notification").await;
        }
        _ => {}
    }
    Ok(())
}

/// `POST /job/<name>`: the Scheduler's callback. 2xx ends the job's run; anything else makes the
/// Scheduler try again (bounded by the job's failure policy).
async fn on_job(name: &str, body: &[u8]) -> Response {
    let Ok(data) = serde_json::from_slice::<JobData>(body) else {
        eprintln!("notification: job {name}: unreadable data; nothing to do");
        return todo_http::no_content();
    };
    if !is_job_of(name, data.reminder_id) {
        eprintln!(
            "notification: job {name} carries reminder {}; ignored",
            data.reminder_id
        );
        return todo_http::no_content();
    }
    match fire(&data).await {
        Ok(()) => todo_http::no_content(),
        Err(e) => {
            eprintln!("notification: job {name}: {e}; the Scheduler tries again");
            todo_http::problem(&todo_http::Problem::unavailable(e))
        }
    }
}

async fn fire(data: &JobData) -> Result<(), String> {
    let sidecar = sidecar().map_err(|e| e.to_string())?;
    let st = claim(data);
    let claimed_at = Instant::now();
    let rows = sidecar
        .query(DB, &st.sql, &st.params)
        .await
        .map_err(|e| e.to_string())?;
    let c = match claim_outcome(&rows).map_err(|e| e.to_string())? {
        Claim::Claimed(c) => c,
        Claim::Busy => {
            // The lease holder may have died between claiming and recording (its sidecar killed):
            // the Scheduler's retries of this job could all fall inside the lease, so a follow-up
            // job for after it makes sure the reminder is looked at again.
            let now = Utc::now();
            let due = now + todo_events::chrono::Duration::seconds(CLAIM_SECONDS + 1);
            let name = follow_up_job_name(data.reminder_id, due);
            sidecar
                .schedule_job(&name, &job(data, due, now))
                .await
                .map_err(|e| format!("scheduling the follow-up job {name}: {e}"))?;
            eprintln!(
                "notification: reminder {} is held by another callback's lease; {name} looks again after it",
                data.reminder_id
            );
            return Ok(());
        }
        Claim::Done(state) => {
            eprintln!(
                "notification: job for reminder {} at {}: nothing to deliver (state {:?})",
                data.reminder_id, data.remind_at, state
            );
            return Ok(());
        }
    };
    match deliver(&sidecar, &c).await {
        Ok(()) => {
            let outbox = outcome_events(&c, State::Sent).map_err(|e| e.to_string())?;
            let st = record_delivered(&c, &outbox);
            let rows = record(&sidecar, &st, &c, claimed_at)
                .await
                .map_err(|e| format!("recording the delivery: {e}"))?;
            if recorded(&rows).map_err(|e| e.to_string())? {
                eprintln!(
                    "notification: sent reminder {} ({}) for {}, try {}",
                    c.reminder_id,
                    c.channel.as_str(),
                    c.remind_at,
                    c.attempts
                );
                todo_outbox::drain_once(&sidecar, DB, "notification").await;
            }
            Ok(())
        }
        Err(why) => {
            let last = c.attempts >= MAX_ATTEMPTS || !retryable(c.channel);
            let outbox = if last {
                outcome_events(&c, State::Failed).map_err(|e| e.to_string())?
            } else {
                Vec::new()
            };
            let st = record_failure(&c, &why, last, &outbox);
            record(&sidecar, &st, &c, claimed_at)
                .await
                .map_err(|e| format!("recording the failure ({why}): {e}"))?;
            if last {
                eprintln!(
                    "notification: reminder {} failed after {} tries: {why}",
                    c.reminder_id, c.attempts
                );
                todo_outbox::drain_once(&sidecar, DB, "notification").await;
                Ok(())
            } else {
                Err(format!(
                    "delivery try {} of {MAX_ATTEMPTS} failed: {why}",
                    c.attempts
                ))
            }
        }
    }
}

/// How long after its claim a callback keeps trying to record what it did: well inside the
/// lease ([`CLAIM_SECONDS`]), so no other callback can have claimed the reminder meanwhile.
const RECORD_WITHIN: Duration = Duration::from_secs(CLAIM_SECONDS as u64 - 10);

/// Records the outcome of a claimed reminder (`st`: [`record_delivered`] or [`record_failure`]),
/// retrying a transient failure (the database restarting, the sidecar's binding erroring) with
/// backoff until [`RECORD_WITHIN`] after the claim. The email has left by now: answering the
/// Scheduler with an error instead would make a later try, after the lease, send it again. The
/// statement only applies while this callback's claim holds, so a retry after a lost answer of a
/// committed one changes nothing (it reads `recorded: false`).
async fn record(
    sidecar: &Sidecar,
    st: &todo_sql::Statement,
    c: &Claimed,
    claimed_at: Instant,
) -> Result<Vec<Vec<serde_json::Value>>, SidecarError> {
    let mut wait = Duration::from_millis(100);
    let mut tries = 1;
    loop {
        match sidecar.query(DB, &st.sql, &st.params).await {
            Ok(rows) => {
                if tries > 1 {
                    eprintln!(
                        "notification: reminder {} recorded on try {tries}",
                        c.reminder_id
                    );
                }
                return Ok(rows);
            }
            Err(e) if e.is_transient() && claimed_at.elapsed() + wait < RECORD_WITHIN => {
                eprintln!(
                    "notification: reminder {}: recording failed (try {tries}): {e}; again in {wait:?}",
                    c.reminder_id
                );
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_secs(2));
                tries += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a failed delivery on `channel` is worth another try.
fn retryable(channel: Channel) -> bool {
    channel != Channel::Webhook
}

/// Delivers a claimed reminder on its channel. `in_app` needs nothing here: its delivery is the
/// `reminder.due` update recorded with the delivery.
async fn deliver(sidecar: &Sidecar, c: &Claimed) -> Result<(), String> {
    match c.channel {
        Channel::InApp => Ok(()),
        Channel::Email => {
            let to = c
                .email
                .as_deref()
                .ok_or("the reminder has no email address")?;
            let (subject, body) = email(c);
            sidecar
                .invoke_binding(
                    SMTP,
                    "create",
                    &serde_json::Value::String(body),
                    &serde_json::json!({ "emailTo": to, "subject": subject }),
                )
                .await
                .map_err(|e| e.to_string())
        }
        Channel::Webhook => Err("the webhook channel is not configured in this deployment".into()),
    }
}

/// The subject and HTML body of an email reminder.
fn email(c: &Claimed) -> (String, String) {
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

/// `GET /api/reminders`.
async fn list(req: &Request) -> Response {
    if !matches!(req.method(), Method::Get) {
        return todo_http::method_not_allowed("GET");
    }
    let (claims, secret) = match todo_http::user(req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let q = match ReminderQuery::parse(req.query(), &claims.sub, secret.as_bytes()) {
        Ok(q) => q,
        Err(e) => return todo_http::problem(&e.to_problem()),
    };
    let st = q.statement();
    let rows = match sidecar() {
        Ok(s) => s.query(DB, &st.sql, &st.params).await,
        Err(e) => Err(e),
    };
    match rows
        .map_err(|e| e.to_string())
        .and_then(|rows| reminder_page(&rows, &q, secret.as_bytes()).map_err(|e| e.to_string()))
    {
        Ok(page) => todo_http::json(200, &page),
        Err(e) => {
            eprintln!("notification: listing reminders: {e}");
            todo_http::problem(&todo_http::Problem::unavailable(
                "the reminders are unavailable; retry later",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use todo_events::uuid::Uuid;

    fn claimed(channel: Channel) -> Claimed {
        Claimed {
            reminder_id: Uuid::nil(),
            user_id: "u".into(),
            task_id: Uuid::nil(),
            remind_at: "2026-05-01T08:00:00.000Z".into(),
            channel,
            email: Some("u@example.com".into()),
            task_title: Some("Pay <rent> & bills".into()),
            due_at: Some("2026-05-01T09:00:00.000Z".into()),
            attempts: 1,
        }
    }

    #[test]
    fn an_email_names_the_task_escaped() {
        let (subject, body) = email(&claimed(Channel::Email));
        assert_eq!(subject, "Reminder: Pay <rent> & bills");
        assert!(body.contains("Pay &lt;rent&gt; &amp; bills"), "{body}");
        assert!(body.contains("Due 2026-05-01T09:00:00.000Z"), "{body}");
    }

    #[test]
    fn only_webhooks_give_up_at_once() {
        assert!(retryable(Channel::Email) && retryable(Channel::InApp));
        assert!(!retryable(Channel::Webhook));
    }
}
