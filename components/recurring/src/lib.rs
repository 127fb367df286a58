//! `recurring`: rolls recurring tasks forward.
//!
//! `POST /recurring/events` (from the sidecar; subscription to `task-events`, dead letters to
//! `task-events.dlq`). For a `task.completed` of a task with a recurrence rule it creates the
//! next occurrence (same title, description, priority, tags, rule with COUNT reduced by one,
//! time zone, reminders moved with the due date, the series id and a link to the task it
//! follows), due when the rule says in the task's time zone: the task row, its outbox events and
//! the inbox and roll records in one statement ([`todo_tasks::roll_plan`]), so one completed
//! occurrence gives exactly one next occurrence whatever is redelivered or raced; an exhausted
//! series is recorded and creates nothing. Every other event: its inbox row only. Events are
//! applied in delivery order (`todo-consumer`'s [`InOrder`] runner answers Dapr).

use spin_sdk::http::{Request, Response};
use todo_consumer::{serve_in_order, Accepted, Effect, InOrder};
use todo_events::chrono::Utc;
use todo_events::uuid::Uuid;
use todo_events::TaskEvent;
use todo_sql::Database;
use todo_tasks::sql::decode::RollOutcome;
use todo_tasks::Rolled;

/// Pre-initialisation (todo-host --preinit): the task-events validator and those of the next
/// occurrence's events, compiled once at build time instead of in every request.
fn preinit() {
    for topic in [
        todo_events::Topic::TaskEvents,
        todo_events::Topic::TaskUpdates,
        todo_events::Topic::Reminders,
    ] {
        todo_events::EventSchema::of(topic);
    }
}
todo_preinit::export!(preinit);

todo_http::export!(handle);

/// The routes.
async fn handle(req: Request) -> Response {
    match req.path() {
        "/recurring/events" => serve_in_order(&Recurring, &req).await,
        _ => todo_http::problem(&todo_problem::Problem::not_found("no such resource")),
    }
}

/// The subscriber of `task-events`.
struct Recurring;

impl InOrder for Recurring {
    type Event = TaskEvent;
    const NAME: &'static str = "recurring";

    async fn apply(&self, db: &Database, a: &Accepted<TaskEvent>) -> anyhow::Result<Effect> {
        let plan = todo_tasks::roll_plan(
            Self::NAME,
            &a.event,
            &a.delivery,
            Uuid::new_v4(),
            Utc::now(),
        )?;
        let Some(plan) = plan else {
            return Ok(Effect::Nothing);
        };
        let rolled = plan.conclude(db.one::<RollOutcome>(&plan.statement).await?);
        eprintln!(
            "recurring: event_id={} {}",
            a.event.event_id,
            plan.describe(&rolled)
        );
        if let Rolled::Created(_) = rolled {
            todo_outbox::drain_once(db, Self::NAME).await;
        }
        Ok(Effect::Applied)
    }
}
