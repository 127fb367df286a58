//! Rolling a recurring task forward: what the recurring service does with `task.completed`.
//!
//! The next occurrence is built from the event's own snapshot of the completed task (not from
//! the database, which may have changed since), so the outcome depends on the event alone and a
//! redelivery computes the same roll. Exactly one roll per (series, completed occurrence) is
//! enforced in SQL ([`crate::sql::roll_forward_once`]): a redelivered event, a second completion
//! after a reopen, or two completions racing all meet the same key.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use todo_events::{TaskEvent, TaskEventType};

use crate::task::{Channel, Reminder, Task, DEFAULT_TIMEZONE};
use crate::time::{parse_any_instant, truncate_ms};

/// What completing one occurrence of a series leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roll {
    /// The next occurrence, to be created.
    Next(Box<Task>),
    /// The rule has no occurrence after this one (COUNT used up, UNTIL passed).
    Exhausted,
}

/// The completed occurrence a roll follows: its series, due instant and task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    /// The completed task as the event describes it.
    pub task: Task,
    /// The series id (`recurrence_id`, or the task's own id for a series' first occurrence).
    pub series: Uuid,
    /// The due instant of the completed occurrence.
    pub due: DateTime<Utc>,
}

/// The completed recurring task of a `task.completed` event; `None` for any other event, a
/// task without a recurrence rule or due date, or an event whose snapshot cannot be read back
/// into a task (which the schema already prevents).
pub fn completed_recurring(event: &TaskEvent) -> Option<Completed> {
    if event.event_type != TaskEventType::Completed {
        return None;
    }
    let d = &event.task_data;
    let recurrence = d.recurrence.clone()?;
    let due = parse_any_instant(d.due_date.as_deref()?)?;
    let at = |t: &Option<String>| t.as_deref().and_then(parse_any_instant);
    let stamp = parse_any_instant(&event.timestamp).unwrap_or_else(Utc::now);
    let reminders = d
        .reminders
        .iter()
        .filter_map(|r| {
            Some(Reminder {
                id: r.reminder_id,
                remind_at: parse_any_instant(&r.remind_at)?,
                before_minutes: r.offset_minutes,
                channel: r.channel,
                email: r.email.clone().filter(|_| r.channel == Channel::Email),
            })
        })
        .collect();
    let task = Task {
        id: event.task_id,
        user_id: event.user_id.clone(),
        title: d.title.clone(),
        description: d.description.clone(),
        completed: true,
        completed_at: Some(truncate_ms(stamp)),
        priority: d.priority,
        tags: d.tags.clone(),
        due_date: Some(due),
        timezone: d
            .timezone
            .clone()
            .unwrap_or_else(|| DEFAULT_TIMEZONE.to_string()),
        recurrence: Some(recurrence),
        recurrence_id: d.recurrence_id,
        parent_task_id: d.parent_task_id,
        reminders,
        version: 1,
        created_at: at(&d.created_at).unwrap_or(stamp),
        updated_at: at(&d.updated_at).unwrap_or(stamp),
    };
    task.rule()?;
    Some(Completed {
        series: task.recurrence_id.unwrap_or(task.id),
        due,
        task,
    })
}

impl Completed {
    /// The roll: the next occurrence with id `id`, created at `now`, or the end of the series.
    pub fn roll(&self, id: Uuid, now: DateTime<Utc>) -> Roll {
        match self.task.next_occurrence_task(id, now) {
            Some(next) => Roll::Next(Box::new(next)),
            None => Roll::Exhausted,
        }
    }
}

/// What the recurring service does with one `task-events` event: roll a recurring task's
/// completion forward (one statement, [`crate::sql::roll_forward_once`]), or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RollPlan {
    /// The completed occurrence.
    pub completed: Completed,
    /// The next occurrence, or the end of the series.
    pub roll: Roll,
    /// The statement that applies the roll once, with the consumer's inbox row.
    pub statement: todo_sql::Statement,
}

/// The roll `consumer` applies for `event` (delivered as `delivery`): `None` when the event is
/// not a recurring task's completion. The next occurrence gets id `next_id` and is created at
/// `now`; its events are encoded (schema-validated) into the statement's outbox rows.
pub fn plan(
    consumer: &str,
    event: &TaskEvent,
    delivery: &todo_consumer::Delivery,
    next_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<RollPlan>, todo_events::EncodeError> {
    let Some(completed) = completed_recurring(event) else {
        return Ok(None);
    };
    let roll = completed.roll(next_id, now);
    let outbox = match &roll {
        Roll::Next(next) => crate::events_for_change(crate::Change::Created, None, next)?,
        Roll::Exhausted => Vec::new(),
    };
    let statement = crate::sql::roll_forward_once(
        consumer,
        event.event_id,
        &completed,
        &roll,
        &outbox,
        delivery,
    );
    Ok(Some(RollPlan {
        completed,
        roll,
        statement,
    }))
}

/// What a planned roll did once its statement ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rolled {
    /// The next occurrence was created now: its events wait in the outbox.
    Created(Box<Task>),
    /// The series has ended: recorded, nothing created.
    Ended,
    /// Nothing changed: the event was a redelivery, or the occurrence was rolled already (a
    /// second completion after a reopen, or a race).
    Already {
        /// Whether the event itself was new to the consumer.
        event_was_new: bool,
    },
}

impl RollPlan {
    /// What the statement's row says was done.
    pub fn conclude(&self, outcome: crate::sql::decode::RollOutcome) -> Rolled {
        match (outcome.task, &self.roll) {
            (Some(next), _) => Rolled::Created(Box::new(next)),
            (None, Roll::Exhausted) if outcome.rolled => Rolled::Ended,
            (None, _) => Rolled::Already {
                event_was_new: outcome.processed,
            },
        }
    }

    /// The log line of `rolled`.
    pub fn describe(&self, rolled: &Rolled) -> String {
        let series = self.completed.series;
        match rolled {
            Rolled::Created(next) => format!(
                "series={series} next occurrence {} due {:?}",
                next.id,
                next.due_date.map(crate::format_instant)
            ),
            Rolled::Ended => format!("series={series} has ended: no next occurrence"),
            Rolled::Already { event_was_new } => format!(
                "series={series} occurrence {} already rolled (event new: {event_was_new})",
                crate::format_instant(self.completed.due)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::decode::RollOutcome;
    use chrono::TimeZone;
    use serde_json::{json, Value};
    use todo_consumer::Delivery;

    const EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/events/examples/task-events/valid"
    );
    const COMPLETED: &str = include_str!(
        "../../../contracts/events/examples/task-events/valid/task-completed-recurring.json"
    );

    fn event(text: &str) -> TaskEvent {
        serde_json::from_str(text).unwrap()
    }

    fn plan_of(e: &TaskEvent) -> Option<RollPlan> {
        let now = Utc.with_ymd_and_hms(2026, 5, 2, 7, 10, 1).unwrap();
        plan(
            "recurring",
            e,
            &Delivery::of(e, now),
            Uuid::from_u128(7),
            now,
        )
        .unwrap()
    }

    #[test]
    fn only_a_recurring_tasks_completion_is_rolled() {
        let mut rolled = Vec::new();
        for entry in std::fs::read_dir(EXAMPLES).unwrap() {
            let path = entry.unwrap().path();
            let e = event(&std::fs::read_to_string(&path).unwrap());
            if plan_of(&e).is_some() {
                rolled.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
        rolled.sort();
        assert_eq!(
            rolled,
            [
                "task-completed-1.1.0-completed-at.json",
                "task-completed-recurring.json"
            ]
        );
        let mut not_recurring = event(COMPLETED);
        not_recurring.task_data.recurrence = None;
        assert!(plan_of(&not_recurring).is_none());
        let mut no_due = event(COMPLETED);
        no_due.task_data.due_date = None;
        assert!(plan_of(&no_due).is_none());
    }

    #[test]
    fn the_plan_is_one_statement_creating_the_next_saturday_with_its_events() {
        let e = event(COMPLETED);
        let p = plan_of(&e).unwrap();
        assert_eq!(
            p.completed.series.to_string(),
            "c3d2e1f0-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
        );
        let Roll::Next(next) = &p.roll else {
            panic!("{:?}", p.roll)
        };
        assert_eq!(next.id, Uuid::from_u128(7));
        assert_eq!(
            next.due_date.map(crate::format_instant).as_deref(),
            Some("2026-05-09T07:00:00.000Z")
        );
        assert_eq!(next.parent_task_id, Some(e.task_id));
        assert_eq!(next.title, "Water the plants");
        let sql = &p.statement.sql;
        for part in [
            "INSERT INTO processed_events",
            "INSERT INTO recurrence_rolls",
            "INSERT INTO tasks",
            "INSERT INTO outbox",
        ] {
            assert!(sql.contains(part), "{part}: {sql}");
        }
        let outbox: Value = p
            .statement
            .params
            .iter()
            .filter_map(|v| v.as_str())
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .find(|v| v.is_array() && v[0].get("topic").is_some())
            .expect("the outbox parameter");
        let topics: Vec<&str> = outbox
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["topic"].as_str().unwrap())
            .collect();
        assert_eq!(
            topics,
            ["task-events", "task-updates", "reminders", "reminders"]
        );
        assert_eq!(outbox[0]["payload"]["event_type"], "task.created");
    }

    #[test]
    fn a_series_at_its_end_is_recorded_and_creates_nothing() {
        let mut e = event(COMPLETED);
        e.task_data.recurrence = Some("FREQ=WEEKLY;BYDAY=SA;COUNT=1".into());
        let p = plan_of(&e).unwrap();
        assert_eq!(p.roll, Roll::Exhausted);
        assert!(
            !p.statement.sql.contains("INSERT INTO tasks"),
            "{}",
            p.statement.sql
        );
        let outcome = |v: Value| -> RollOutcome { serde_json::from_value(v).unwrap() };
        assert_eq!(
            p.conclude(outcome(
                json!({"processed": true, "rolled": true, "task": null})
            )),
            Rolled::Ended
        );
        assert_eq!(
            p.conclude(outcome(
                json!({"processed": true, "rolled": false, "task": null})
            )),
            Rolled::Already {
                event_was_new: true
            }
        );
    }

    #[test]
    fn what_the_statement_did_is_told_apart() {
        let p = plan_of(&event(COMPLETED)).unwrap();
        let Roll::Next(next) = &p.roll else { panic!() };
        let created = RollOutcome {
            processed: true,
            rolled: true,
            task: Some((**next).clone()),
        };
        let rolled = p.conclude(created);
        assert!(matches!(&rolled, Rolled::Created(t) if t.id == next.id));
        assert!(p
            .describe(&rolled)
            .contains("due Some(\"2026-05-09T07:00:00.000Z\")"));
        let again = RollOutcome {
            processed: false,
            rolled: false,
            task: None,
        };
        let rolled = p.conclude(again);
        assert_eq!(
            rolled,
            Rolled::Already {
                event_was_new: false
            }
        );
        assert!(
            p.describe(&rolled).contains("already rolled"),
            "{}",
            p.describe(&rolled)
        );
    }
}
