//! `notification`: fires reminders.
//!
//! | route | from | |
//! |---|---|---|
//! | `POST /notification/events` | the sidecar (subscription to `reminders`, dead letters to `reminders.dlq`) | `reminder.scheduled`: record it and schedule its Dapr job (`reminder-<id>`, due at `remind_at`; a time already passed fires at once, one more than 15 minutes past is recorded as missed); `reminder.cancelled`: record it and delete the job; `reminder.sent` (its own): confirm the state. In delivery order (`todo-consumer`'s [`InOrder`] runner answers Dapr) |
//! | `POST /job/<name>` | the Scheduler, through the sidecar | deliver the reminder once ([`callback`]): `in_app` as a `reminder.due` on `task-updates`, `email` through the SMTP binding `smtp`; record it and publish `reminder.sent`; a failed delivery answers 500 so the Scheduler retries (the job's bounded failure policy), the last failure is recorded as `failed` |
//! | `GET /api/reminders` | the user (JWT) | the user's reminders: `state` (upcoming, sent, missed, failed, cancelled), `task_id`, `order`, `limit`, `cursor` |
//!
//! Calls from the sidecar need its `dapr-api-token` (401 otherwise). What each step decides is in
//! `todo_reminders::steps`; exactly once is the claim and its lease (docs/decisions.md).

mod callback;

use anyhow::Context;
use spin_sdk::http::{Method, Request, Response};
use todo_consumer::{serve_in_order, Accepted, Effect, InOrder};
use todo_events::chrono::Utc;
use todo_events::ReminderEvent;
use todo_reminders::{event_outcome, event_statement, job_action, JobAction, ReminderQuery};
use todo_sql::Database;

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

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    match (req.method(), req.path()) {
        (_, "/notification/events") => serve_in_order(&Notification, &req).await,
        (_, p) if p.starts_with("/job/") => callback::on_job(&req).await,
        (Method::Get, "/api/reminders" | "/api/reminders/") => list(&req).await,
        (_, "/api/reminders" | "/api/reminders/") => todo_http::method_not_allowed("GET"),
        _ => todo_http::problem(&todo_http::Problem::not_found("no such resource")),
    }
}

/// The subscriber of `reminders`.
struct Notification;

impl InOrder for Notification {
    type Event = ReminderEvent;
    const NAME: &'static str = todo_reminders::CONSUMER;

    async fn apply(&self, db: &Database, a: &Accepted<ReminderEvent>) -> anyhow::Result<Effect> {
        let now = Utc::now();
        let e = &a.event;
        let o = event_outcome(
            &db.rows(&event_statement(e, a.delivery.received_at, now)?)
                .await?,
        )?;
        let sidecar = db.sidecar();
        match job_action(e, &o, now) {
            JobAction::Schedule {
                name,
                body,
                applied,
            } => {
                sidecar
                    .schedule_job(&name, &body)
                    .await
                    .with_context(|| format!("scheduling job {name}"))?;
                if applied {
                    eprintln!("notification: scheduled {name} for {}", body["dueTime"]);
                }
            }
            JobAction::Delete { name, applied } => {
                sidecar
                    .delete_job(&name)
                    .await
                    .with_context(|| format!("deleting job {name}"))?;
                if applied {
                    eprintln!("notification: cancelled {name}");
                }
            }
            JobAction::Missed { name } => {
                eprintln!(
                    "notification: missed {name}: {} is more than the grace period past",
                    e.remind_at
                );
                todo_outbox::drain_once(db, Self::NAME).await;
            }
            JobAction::Nothing => {}
        }
        Ok(Effect::Applied)
    }
}

/// `GET /api/reminders`: one page of the caller's reminders.
async fn list(req: &Request) -> Response {
    let (claims, secret) = match todo_http::user(req) {
        Ok(u) => u,
        Err(resp) => return resp,
    };
    let q = match ReminderQuery::parse(req.query(), &claims.sub, secret.as_bytes()) {
        Ok(q) => q,
        Err(e) => return todo_http::problem(&e.to_problem()),
    };
    let page = async {
        let rows = Database::from_vars()?.rows(&q.statement()).await?;
        anyhow::Ok(todo_reminders::reminder_page(&rows, &q, secret.as_bytes())?)
    };
    match page.await {
        Ok(page) => todo_http::json(200, &page),
        Err(e) => {
            eprintln!("notification: listing reminders: {e:#}");
            todo_http::problem(&todo_http::Problem::unavailable(
                "the reminders are unavailable; retry later",
            ))
        }
    }
}
