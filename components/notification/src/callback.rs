//! `POST /job/<name>`: the Scheduler's callback, which delivers a reminder once.
//!
//! Claim the reminder (a lease), deliver it on its channel, record the outcome with its events in
//! one statement; each step's decision is `todo_reminders::steps`. 2xx ends the job's run;
//! anything else makes the Scheduler try again (bounded by the job's failure policy).

use std::time::Instant;

use anyhow::Context;
use spin_sdk::http::{Method, Request, Response};
use todo_events::chrono::Utc;
use todo_events::Channel;
use todo_reminders::steps::email;
use todo_reminders::{
    after_claim, after_delivery, claim, claim_outcome, is_job_of, record_backoff, recorded,
    AfterClaim, Claimed, JobData,
};
use todo_sql::{Database, DbError, Statement};

/// The SMTP output binding of the email channel.
const SMTP: &str = "smtp";

/// The callback: the sidecar's token and the method checked, the job's data read, the reminder
/// fired.
pub async fn on_job(req: &Request) -> Response {
    if let Err(refused) = todo_http::from_sidecar(req) {
        return refused;
    }
    if !matches!(req.method(), Method::Post) {
        return todo_http::method_not_allowed("POST");
    }
    let name = req.path().trim_start_matches("/job/");
    let Ok(data) = serde_json::from_slice::<JobData>(req.body()) else {
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
            eprintln!("notification: job {name}: {e:#}; the Scheduler tries again");
            todo_http::problem(&todo_http::Problem::unavailable(format!("{e:#}")))
        }
    }
}

/// Claims, delivers and records the reminder of job `data`.
async fn fire(data: &JobData) -> anyhow::Result<()> {
    let db = Database::from_vars()?;
    let claimed_at = Instant::now();
    let claim = claim_outcome(&db.rows(&claim(data)).await?)?;
    let c = match after_claim(claim, data, Utc::now()) {
        AfterClaim::Deliver(c) => c,
        AfterClaim::FollowUp { name, body } => {
            db.sidecar()
                .schedule_job(&name, &body)
                .await
                .with_context(|| format!("scheduling the follow-up job {name}"))?;
            eprintln!(
                "notification: reminder {} is held by another callback's lease; {name} looks again after it",
                data.reminder_id
            );
            return Ok(());
        }
        AfterClaim::Done(state) => {
            eprintln!(
                "notification: job for reminder {} at {}: nothing to deliver (state {state:?})",
                data.reminder_id, data.remind_at
            );
            return Ok(());
        }
    };
    let delivered = deliver(&db, &c).await;
    let rec = after_delivery(&c, delivered)?;
    let rows = record(&db, &rec.statement, &c, claimed_at)
        .await
        .with_context(|| format!("recording the reminder as {}", rec.state.as_str()))?;
    if recorded(&rows)? && rec.has_events() {
        eprintln!(
            "notification: reminder {} ({}) for {}: {} after try {}",
            c.reminder_id,
            c.channel.as_str(),
            c.remind_at,
            rec.state.as_str(),
            c.attempts
        );
        todo_outbox::drain_once(&db, "notification").await;
    }
    match rec.retry {
        Some(why) => Err(anyhow::anyhow!(why)),
        None => Ok(()),
    }
}

/// Runs the record of what this callback did, trying a transient failure again inside the lease
/// ([`record_backoff`]): the email has left, so answering the Scheduler with an error now would
/// make a later try send it again. The statement applies only while this callback's claim holds,
/// so a try after a lost answer of a committed one changes nothing.
async fn record(
    db: &Database,
    st: &Statement,
    c: &Claimed,
    claimed_at: Instant,
) -> Result<Vec<Vec<serde_json::Value>>, DbError> {
    let mut tries = 1;
    loop {
        match db.rows(st).await {
            Ok(rows) => {
                if tries > 1 {
                    eprintln!(
                        "notification: reminder {} recorded on try {tries}",
                        c.reminder_id
                    );
                }
                return Ok(rows);
            }
            Err(e) if e.is_transient() => match record_backoff(tries, claimed_at.elapsed()) {
                Some(wait) => {
                    eprintln!(
                        "notification: reminder {}: recording failed (try {tries}): {e}; again in {wait:?}",
                        c.reminder_id
                    );
                    // One request per instance: blocking here is what an async sleep would do.
                    std::thread::sleep(wait);
                    tries += 1;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

/// Delivers a claimed reminder on its channel. `in_app` needs nothing here: its delivery is the
/// `reminder.due` update recorded with the delivery.
async fn deliver(db: &Database, c: &Claimed) -> Result<(), String> {
    match c.channel {
        Channel::InApp => Ok(()),
        Channel::Email => {
            let to = c
                .email
                .as_deref()
                .ok_or("the reminder has no email address")?;
            let (subject, body) = email(c);
            db.sidecar()
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
