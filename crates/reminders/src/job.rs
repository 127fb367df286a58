//! The Dapr job that fires a reminder (Jobs API on the Scheduler).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// Seconds between the Scheduler's tries of a failed callback (the job's failure policy).
pub const FAILURE_INTERVAL: &str = "3s";
/// Deliveries tried before a reminder is recorded as failed (counted in its claim, so only tries
/// that reached the database count): the first try and 3 more. The job's failure policy itself
/// has no `maxRetries` (the Scheduler tries forever): a callback fails without counting only
/// while the database or its sidecar is down, and a reminder due during such an outage, however
/// long, fires once it is back (late by more than `GRACE`: recorded `missed`). Until issue 19 the
/// policy gave up after 3 retries, and 6 reminders due in a 90 s PostgreSQL outage never fired.
pub const MAX_ATTEMPTS: i32 = 4;

/// The job's name: one per reminder, so scheduling it again replaces it.
pub fn job_name(reminder_id: Uuid) -> String {
    format!("reminder-{reminder_id}")
}

/// The name of a follow-up job: a callback that finds the reminder under another callback's lease
/// (that one may have died between claiming and recording) schedules one due after the lease, so
/// the reminder is not left `delivering` once the Scheduler's own retries of the job are spent.
/// Unique per due time, so it never replaces the job whose callback schedules it.
pub fn follow_up_job_name(reminder_id: Uuid, due: DateTime<Utc>) -> String {
    format!("{}-after-{}", job_name(reminder_id), due.timestamp_millis())
}

/// Whether `name` is a job of this reminder: [`job_name`] or one of its [`follow_up_job_name`]s.
pub fn is_job_of(name: &str, reminder_id: Uuid) -> bool {
    let base = job_name(reminder_id);
    name == base
        || name
            .strip_prefix(base.as_str())
            .and_then(|rest| rest.strip_prefix("-after-"))
            .is_some_and(|ms| !ms.is_empty() && ms.bytes().all(|c| c.is_ascii_digit()))
}

/// What the Scheduler posts back to `POST /job/<name>`: the reminder and the time it was
/// scheduled for (a callback for an older time is stale and does nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobData {
    /// The reminder.
    pub reminder_id: Uuid,
    /// The time the job was scheduled for, as stored (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
    pub remind_at: String,
}

/// The body of `POST /v1.0/jobs/<name>`: due at `due` (a reminder whose time has passed is due
/// now: `due` is the later of its time and `now`), once, replacing any job of that name, tried
/// again every [`FAILURE_INTERVAL`] until a callback answers 2xx (see [`MAX_ATTEMPTS`]).
pub fn job(data: &JobData, remind_at: DateTime<Utc>, now: DateTime<Utc>) -> Value {
    let due = remind_at.max(now);
    json!({
        "dueTime": due.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
        "overwrite": true,
        "failurePolicy": { "constant": { "interval": FAILURE_INTERVAL } },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn follow_up_jobs_belong_to_their_reminder_only() {
        let id = Uuid::nil();
        let other = Uuid::from_u128(7);
        let due = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 31).unwrap();
        let name = follow_up_job_name(id, due);
        assert_eq!(
            name,
            format!("reminder-{id}-after-{}", due.timestamp_millis())
        );
        assert!(is_job_of(&name, id));
        assert!(is_job_of(&job_name(id), id));
        assert!(!is_job_of(&name, other));
        assert!(!is_job_of(&format!("{}-after-", job_name(id)), id));
        assert!(!is_job_of(&format!("{}-after-12x", job_name(id)), id));
        assert!(!is_job_of(&format!("{}x", job_name(id)), id));
    }

    #[test]
    fn a_job_per_reminder_due_at_its_time_or_now() {
        let id = Uuid::nil();
        assert_eq!(job_name(id), format!("reminder-{id}"));
        let data = JobData {
            reminder_id: id,
            remind_at: "2026-05-01T08:00:00.000Z".into(),
        };
        let at = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
        let body = job(&data, at, at - chrono::Duration::minutes(5));
        assert_eq!(body["dueTime"], "2026-05-01T08:00:00.000Z");
        assert_eq!(body["overwrite"], true);
        assert_eq!(body["data"]["reminder_id"], id.to_string());
        assert_eq!(body["failurePolicy"]["constant"]["interval"], "3s");
        assert!(
            body["failurePolicy"]["constant"]
                .get("maxRetries")
                .is_none(),
            "the Scheduler tries until a callback answers (go-etcd-cron: no maxRetries, no limit)"
        );
        let late = job(&data, at, at + chrono::Duration::seconds(7));
        assert_eq!(
            late["dueTime"], "2026-05-01T08:00:07.000Z",
            "a passed time fires at once"
        );
        assert_eq!(MAX_ATTEMPTS, 4);
    }
}
