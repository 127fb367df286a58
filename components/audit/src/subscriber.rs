//! What the audit consumer does with the events of a delivery: one audit row per event id, with
//! its inbox row, all of a delivery's events in one statement (the runner, `todo-consumer`,
//! answers Dapr: SUCCESS when the statement ran, RETRY for all of them when it did not).
//!
//! The row keeps the event exactly as it was delivered, unknown fields of a newer MINOR included
//! ([`received_event`]). An event whose `timestamp` cannot be read as an instant is refused
//! ([`admit`]; the schema's `date-time` format already makes that rare).

use serde_json::Value;
use todo_consumer::Accepted;
use todo_events::uuid::Uuid;
use todo_events::{format_timestamp, parse_timestamp, TaskEvent};
use todo_sql::Statement;

use crate::log::{self, AuditRecord, Recorded};

/// The consumer's name in the inbox and the metrics: the app-id.
pub const CONSUMER: &str = "audit";

/// Whether `event` can be recorded: its `timestamp` must be an RFC 3339 instant.
pub fn admit(event: &TaskEvent) -> Result<(), String> {
    parse_timestamp(&event.timestamp)
        .map(drop)
        .map_err(|_| "timestamp is not an RFC 3339 instant".to_owned())
}

/// The audit record of an accepted event.
pub fn record_of(a: &Accepted<TaskEvent>) -> AuditRecord {
    let e = &a.event;
    AuditRecord {
        event_id: e.event_id,
        user_id: e.user_id.clone(),
        task_id: e.task_id,
        occurred_at: parse_timestamp(&e.timestamp)
            .map(format_timestamp)
            .unwrap_or_else(|_| e.timestamp.clone()),
        payload: received_event(&a.body, e),
        delivery: a.delivery.clone(),
    }
}

/// The one statement that records `events`.
pub fn statement(events: &[&Accepted<TaskEvent>]) -> Statement {
    let records: Vec<AuditRecord> = events.iter().map(|a| record_of(a)).collect();
    log::record(CONSUMER, &records)
}

/// What the log says of a recorded delivery of `n` events: how many were redeliveries.
pub fn redeliveries(recorded: &Recorded, n: usize) -> Option<String> {
    let again = (n as u64).saturating_sub(recorded.processed);
    (again > 0).then(|| format!("{again} of {n} events were recorded already (redeliveries)"))
}

/// The event object as received, unknown fields kept: the CloudEvent's `data` (an object or
/// JSON text) or the bare body. For other envelopes (`data_base64`) the decoded event,
/// re-serialised.
pub fn received_event(body: &[u8], event: &TaskEvent) -> Value {
    let received =
        serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| match v.get("specversion") {
                None => Some(v),
                Some(_) => match v.get("data") {
                    Some(Value::Object(_)) => v.get("data").cloned(),
                    Some(Value::String(text)) => serde_json::from_str(text).ok(),
                    _ => None,
                },
            });
    let same_event = |v: &Value| {
        v.get("event_id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok())
            == Some(event.event_id)
    };
    match received {
        Some(v) if same_event(&v) => v,
        _ => serde_json::to_value(event).unwrap_or(Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::json;
    use todo_consumer::Read;
    use todo_events::chrono::Utc;
    use todo_events::counters;

    const EXAMPLES: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/events/examples/task-events"
    );
    const EXAMPLE: &str =
        include_str!("../../../contracts/events/examples/task-events/valid/task-created-optional-fields-null.json");
    const NEWER: &str = include_str!(
        "../../../contracts/events/examples/task-events/valid/newer-minor-with-unknown-fields.json"
    );

    fn example() -> Value {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    fn cloud_event(field: &str, data: Value) -> Vec<u8> {
        let mut ce = json!({
            "specversion": "1.0", "id": "ce-1", "source": "task-api",
            "type": "com.dapr.event.sent", "datacontenttype": "application/json",
            "topic": "task-events", "pubsubname": "pubsub",
        });
        ce[field] = data;
        serde_json::to_vec(&ce).unwrap()
    }

    fn with(key: &str, value: Value) -> Vec<u8> {
        let mut e = example();
        e[key] = value;
        serde_json::to_vec(&e).unwrap()
    }

    fn example_files(kind: &str) -> Vec<(String, Vec<u8>)> {
        let dir = format!("{EXAMPLES}/{kind}");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no examples in {dir}");
        files
    }

    /// The delivery `body` as the runner reads it for this consumer.
    fn read(body: &[u8]) -> Read<TaskEvent> {
        Read::new(CONSUMER, body, Utc::now(), admit)
    }

    /// The one record of a single delivery.
    fn record(body: &[u8]) -> AuditRecord {
        let read = read(body);
        let accepted = read.accepted();
        assert_eq!(accepted.len(), 1, "{}", String::from_utf8_lossy(body));
        record_of(accepted[0])
    }

    /// The records parameter of a statement (its one JSON array parameter).
    fn records_param(st: &Statement) -> Value {
        st.params
            .iter()
            .filter_map(|p| p.as_str())
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .find(|v| v.is_array())
            .expect("the records parameter")
    }

    #[test]
    fn a_valid_event_is_recorded_with_its_inbox_row_in_one_statement() {
        let body = cloud_event("data", example());
        let read = read(&body);
        let st = statement(&read.accepted());
        assert!(
            st.sql.contains("INSERT INTO processed_events"),
            "{}",
            st.sql
        );
        assert!(st.sql.contains("INSERT INTO audit_log"), "{}", st.sql);
        assert!(
            st.sql.contains("ON CONFLICT (event_id) DO NOTHING"),
            "{}",
            st.sql
        );
        assert!(
            st.sql.contains("JOIN pe ON pe.event_id = s.event_id"),
            "{}",
            st.sql
        );
        assert_eq!(st.params[0], json!(CONSUMER));
        let rows = records_param(&st);
        assert_eq!(rows[0]["event_id"], example()["event_id"]);
        assert_eq!(rows[0]["user_id"], example()["user_id"]);
        assert_eq!(rows[0]["topic"], "task-events");
        assert_eq!(rows[0]["payload"], example());
    }

    #[test]
    fn every_valid_example_is_recorded_as_received_in_any_envelope() {
        for (name, body) in example_files("valid") {
            let event: Value = serde_json::from_slice(&body).unwrap();
            for delivery in [
                body.clone(),
                cloud_event("data", event.clone()),
                cloud_event("data", json!(event.to_string())),
            ] {
                assert_eq!(record(&delivery).payload, event, "{name}");
            }
        }
    }

    #[test]
    fn unknown_fields_are_kept_in_the_payload() {
        let event: Value = serde_json::from_str(NEWER).unwrap();
        let r = record(&cloud_event("data", event.clone()));
        assert_eq!(r.payload, event);
        let extra = event
            .as_object()
            .unwrap()
            .keys()
            .any(|k| example().get(k).is_none());
        assert!(extra, "the example has no unknown top-level field");
    }

    #[test]
    fn data_base64_is_recorded_with_the_decoded_event() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(EXAMPLE);
        let r = record(&cloud_event("data_base64", json!(b64)));
        assert_eq!(r.payload["event_id"], example()["event_id"]);
        assert_eq!(
            r.payload["task_data"]["title"],
            example()["task_data"]["title"]
        );
    }

    #[test]
    fn a_newer_minor_is_recorded_under_its_own_version_and_counted() {
        let before = counters().version_mismatches;
        let r = record(&with("schema_version", json!("1.3.0")));
        assert!(counters().version_mismatches > before);
        assert_eq!(r.payload["schema_version"], "1.3.0");
        assert_eq!(r.delivery.schema_version, "1.3.0");
    }

    #[test]
    fn an_unknown_major_and_invalid_events_are_refused() {
        for v in ["2.0.0", "0.9.0", "garbage"] {
            let before = counters().dropped;
            assert!(
                read(&with("schema_version", json!(v)))
                    .accepted()
                    .is_empty(),
                "{v}"
            );
            assert!(counters().dropped > before, "{v} not counted");
        }
        for (name, body) in example_files("invalid") {
            assert!(read(&body).accepted().is_empty(), "{name}");
        }
    }

    #[test]
    fn the_seeds_own_events_are_recorded_or_refused_as_written() {
        let file = |name: &str| std::fs::read(format!("{EXAMPLES}/{name}")).unwrap();
        for name in [
            "valid/seed-contract-test-task-created.json",
            "valid/seed-integration-test-task-created.json",
            "valid/seed-schema-evolution-1.1.0-task-created.json",
        ] {
            let body = file(name);
            let event: Value = serde_json::from_slice(&body).unwrap();
            // as the seed's Dapr SDK publisher sends it: the JSON text as text/plain `data`
            let mut ce: Value =
                serde_json::from_slice(&cloud_event("data", json!(event.to_string()))).unwrap();
            ce["datacontenttype"] = json!("text/plain");
            let r = record(&serde_json::to_vec(&ce).unwrap());
            assert_eq!(r.payload, event, "{name}");
            assert_eq!(r.user_id, event["user_id"].as_str().unwrap(), "{name}");
        }
        for name in [
            "invalid/seed-contract-test-missing-required-fields.json",
            "invalid/seed-schema-evolution-2.0.0-task-created.json",
        ] {
            assert!(read(&file(name)).accepted().is_empty(), "{name}");
        }
    }

    #[test]
    fn the_occurrence_is_stored_as_utc_milliseconds() {
        let r = record(&with("timestamp", json!("2026-05-01T10:00:00.123456Z")));
        assert_eq!(r.occurred_at, "2026-05-01T10:00:00.123Z");
        assert!(admit(&serde_json::from_str::<TaskEvent>(EXAMPLE).unwrap()).is_ok());
        let mut odd: TaskEvent = serde_json::from_str(EXAMPLE).unwrap();
        odd.timestamp = "yesterday".into();
        assert!(admit(&odd).is_err());
    }

    #[test]
    fn a_bulk_is_one_statement_for_its_valid_entries_in_order() {
        let mut second = example();
        second["event_id"] = json!("7f0c9a52-1f43-4d2b-9a67-1c3b2a8e0f11");
        let entries: Vec<Value> = [
            serde_json::from_slice::<Value>(&cloud_event("data", example())).unwrap(),
            json!({"not": "an event"}),
            serde_json::from_slice::<Value>(&cloud_event("data", second)).unwrap(),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, event)| json!({"entryId": i.to_string(), "event": event}))
        .collect();
        let body = serde_json::to_vec(&json!({
            "type": "com.dapr.event.sent.bulk", "id": "b", "topic": "task-events",
            "pubsubname": "pubsub", "entries": entries,
        }))
        .unwrap();
        let read = read(&body);
        let st = statement(&read.accepted());
        assert!(st.sql.contains("jsonb_to_recordset"), "{}", st.sql);
        let list = records_param(&st);
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["event_id"], example()["event_id"]);
        assert_eq!(list[0]["ord"], 0);
        assert_eq!(list[1]["event_id"], "7f0c9a52-1f43-4d2b-9a67-1c3b2a8e0f11");
        assert_eq!(list[1]["ord"], 1);
    }

    #[test]
    fn redeliveries_are_told_apart_and_odd_answers_do_not_decode() {
        assert_eq!(
            redeliveries(
                &Recorded {
                    processed: 3,
                    inserted: 3
                },
                3
            ),
            None
        );
        assert_eq!(
            redeliveries(
                &Recorded {
                    processed: 1,
                    inserted: 1
                },
                3
            )
            .as_deref(),
            Some("2 of 3 events were recorded already (redeliveries)")
        );
        for bad in [
            vec![],
            vec![vec![json!(1)]],
            vec![vec![json!("not json")]],
            vec![vec![json!(r#"{"processed": "yes"}"#)]],
            vec![vec![json!("{}")], vec![json!("{}")]],
        ] {
            assert!(todo_sql::decode::<Recorded>(&bad).is_err(), "{bad:?}");
        }
    }
}
