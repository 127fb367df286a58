//! The subscriber rules: what to answer Dapr for a delivery of `task-events`.
//!
//! A delivery is handled in two pure steps around one binding call:
//! [`prepare`] decodes it (the shared event crate applies the version policy and the schema) and
//! builds the one statement that records the audit row together with its idempotency record;
//! [`conclude`] maps the binding's answer to the Dapr status.
//!
//! | delivery | answer |
//! |---|---|
//! | not JSON, bad envelope, invalid event, unknown MAJOR, missing/garbage version | DROP |
//! | valid (any MINOR of MAJOR 1), recorded now or already | SUCCESS |
//! | valid, sidecar unreachable / 5xx / refused / unreadable, or zero rows (statement failed) | RETRY |
//!
//! RETRY is the answer to every failure to record a valid event, so none is lost; Dapr's
//! Resiliency policy bounds the retries.
//!
//! A bulk delivery (the subscription's `bulkSubscribe`) is the same rules per entry with one
//! statement for the whole batch: [`prepare_batch`] decodes every entry and builds
//! `record_audit_batch` of the recordable ones; [`conclude_batch`] answers each entry (the
//! statement is one transaction, so its recordable entries are all SUCCESS or all RETRY).

use serde_json::Value;
use todo_events::bulk::{Entry, Statuses};
use todo_events::chrono::{DateTime, Utc};
use todo_events::uuid::Uuid;
use todo_events::{decode, report_drop, Decision, TaskEvent, Topic};
use todo_sidecar::SidecarError;
use todo_tasks::sql::{self, AuditRecord, Statement};

/// The consumer name in `processed_events` (the app-id).
pub const CONSUMER: &str = "audit";

/// A decoded event and the statement that records it.
#[derive(Debug)]
pub struct Pending {
    /// The event's id, for the log.
    pub event_id: Uuid,
    /// `task.created`, ..., for the log.
    pub event_type: &'static str,
    /// `record_audit` for this event.
    pub statement: Statement,
}

/// Decodes a delivery body that arrived at `received_at` (the processing duration starts there).
/// `Err` is the answer for an event that can never be recorded ([`Decision::Drop`]; already
/// logged with its id and reason; the caller counts it with [`refusal`]).
pub fn prepare(body: &[u8], received_at: DateTime<Utc>) -> Result<Pending, Decision> {
    let (event_type, record) = decode_record(body)?;
    Ok(Pending {
        event_id: record.event_id,
        event_type,
        statement: sql::record_audit(CONSUMER, &record, received_at),
    })
}

/// The audit record of a delivery body and its event type, or the DROP (already logged).
fn decode_record(body: &[u8]) -> Result<(&'static str, AuditRecord), Decision> {
    let decoded = decode::<TaskEvent>(body).map_err(|e| e.decision())?;
    let event = decoded.event;
    let payload = received_event(body, &event);
    let Some(record) = AuditRecord::from_event(&event, payload) else {
        let reason = "timestamp is not an RFC 3339 instant";
        report_drop(Topic::TaskEvents, &event.event_id.to_string(), reason);
        return Err(Decision::Drop);
    };
    Ok((event.event_type.as_str(), record))
}

/// A bulk delivery decoded: what each entry is, and the one statement that records every
/// recordable entry (`None` when there is none).
#[derive(Debug)]
pub struct Batch {
    /// Per entry, in delivery order: its id and its event type, or the DROP [`prepare`] would
    /// have answered it (already logged; the caller counts it with [`refusal`]).
    pub entries: Vec<(String, Result<&'static str, Decision>)>,
    /// `record_audit_batch` of the recordable entries, in order.
    pub statement: Option<Statement>,
}

/// Decodes every entry of a bulk delivery received at `received_at`.
pub fn prepare_batch(entries: &[Entry], received_at: DateTime<Utc>) -> Batch {
    let mut records = Vec::new();
    let entries = entries
        .iter()
        .map(|e| {
            let kind = decode_record(&e.body).map(|(kind, record)| {
                records.push(record);
                kind
            });
            (e.entry_id.clone(), kind)
        })
        .collect();
    let statement =
        (!records.is_empty()).then(|| sql::record_audit_batch(CONSUMER, &records, received_at));
    Batch { entries, statement }
}

/// The answers to a bulk delivery once its statement ran (or failed to): SUCCESS for every
/// recorded entry (new or a redelivery), RETRY for all of them when the statement failed (one
/// transaction: nothing of it was recorded), DROP as decoded.
pub fn conclude_batch(
    batch: &Batch,
    rows: Option<Result<Vec<Vec<Value>>, SidecarError>>,
) -> Statuses {
    let recorded = match rows {
        None => Ok(None),
        Some(rows) => rows
            .map_err(|e| e.to_string())
            .and_then(|rows| sql::decode::audit_batch_outcome(&rows).map_err(|e| e.to_string()))
            .map(Some),
    };
    let valid = batch.entries.iter().filter(|(_, k)| k.is_ok()).count();
    match &recorded {
        Ok(Some(o)) if (o.processed as usize) < valid => eprintln!(
            "audit: bulk of {valid}: {} recorded, {} already recorded (redeliveries)",
            o.processed,
            valid - o.processed as usize
        ),
        Err(reason) => {
            eprintln!("audit: retry bulk of {valid} events reason={reason}")
        }
        _ => {}
    }
    Statuses::settled(
        batch
            .entries
            .iter()
            .map(|(id, kind)| (id.as_str(), kind.err())),
        recorded.is_ok(),
    )
}

/// The counter of the entries [`conclude_batch`] answered RETRY: `event_processing_errors_total`
/// once per entry; `None` when there is none.
pub fn batch_retries(batch: &Batch, statuses: &Statuses) -> Option<Statement> {
    let kinds: Vec<&str> = batch
        .entries
        .iter()
        .zip(statuses.decisions())
        .filter(|(_, (_, d))| *d == Decision::Retry)
        .map(|((_, kind), _)| (*kind).unwrap_or("unknown"))
        .collect();
    (!kinds.is_empty()).then(|| todo_metrics::failed_all(CONSUMER, &kinds))
}

/// The counters of a delivery [`prepare`] refused: `event_processing_errors_total` and
/// `schema_validation_errors_total` (todo-metrics).
pub fn refusal(body: &[u8]) -> Statement {
    todo_metrics::refused(CONSUMER, Topic::TaskEvents, body)
}

/// The counter of a delivery [`conclude`] answered RETRY: `event_processing_errors_total`.
pub fn retry(pending: &Pending) -> Statement {
    todo_metrics::failed(CONSUMER, pending.event_type)
}

/// The answer once the statement of `pending` ran (or failed to).
pub fn conclude(pending: &Pending, rows: Result<Vec<Vec<Value>>, SidecarError>) -> Decision {
    let outcome = rows
        .map_err(|e| e.to_string())
        .and_then(|rows| sql::decode::audit_outcome(&rows).map_err(|e| e.to_string()));
    match outcome {
        Ok(o) => {
            if !o.processed {
                eprintln!(
                    "audit: duplicate event_id={} type={} (already recorded)",
                    pending.event_id, pending.event_type
                );
            }
            Decision::Success
        }
        Err(reason) => {
            eprintln!(
                "audit: retry event_id={} type={} reason={reason}",
                pending.event_id, pending.event_type
            );
            Decision::Retry
        }
    }
}

/// The event object as received, unknown fields kept: the CloudEvent's `data` (an object or
/// JSON text) or the bare body. For other envelopes (`data_base64`) the decoded event,
/// re-serialised.
fn received_event(body: &[u8], event: &TaskEvent) -> Value {
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

    /// The JSON payload parameter of the statement (the only jsonb parameter).
    fn payload(p: &Pending) -> Value {
        let text = p.statement.params.last().unwrap().as_str().unwrap();
        serde_json::from_str(text).unwrap()
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

    /// [`super::prepare`] of a delivery received now.
    fn prepare(body: &[u8]) -> Result<Pending, Decision> {
        super::prepare(body, todo_events::chrono::Utc::now())
    }

    fn rows(json_text: &str) -> Result<Vec<Vec<Value>>, SidecarError> {
        Ok(vec![vec![json!(json_text)]])
    }

    #[test]
    fn a_valid_event_is_recorded_once_per_event_id_for_this_consumer() {
        let body = cloud_event("data", example());
        let p = prepare(&body).unwrap();
        assert_eq!(p.event_id.to_string(), example()["event_id"]);
        assert_eq!(p.event_type, "task.created");
        let sql = &p.statement.sql;
        assert!(sql.contains("INSERT INTO processed_events"), "{sql}");
        assert!(sql.contains("INSERT INTO audit_log"), "{sql}");
        assert!(sql.contains("ON CONFLICT DO NOTHING"), "{sql}");
        assert_eq!(p.statement.params[0], json!(CONSUMER));
        assert_eq!(p.statement.params[1], example()["event_id"]);
        assert_eq!(p.statement.params[2], example()["user_id"]);
        assert_eq!(payload(&p), example());
    }

    #[test]
    fn every_valid_example_is_recorded_in_any_envelope() {
        for (name, body) in example_files("valid") {
            let event: Value = serde_json::from_slice(&body).unwrap();
            for delivery in [
                body.clone(),
                cloud_event("data", event.clone()),
                cloud_event("data", json!(event.to_string())),
            ] {
                let p = prepare(&delivery).unwrap_or_else(|d| panic!("{name}: {d:?}"));
                assert_eq!(payload(&p), event, "{name}");
            }
        }
    }

    #[test]
    fn unknown_fields_are_kept_in_the_payload() {
        let event: Value = serde_json::from_str(NEWER).unwrap();
        let p = prepare(&cloud_event("data", event.clone())).unwrap();
        assert_eq!(payload(&p), event);
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
        let p = prepare(&cloud_event("data_base64", json!(b64))).unwrap();
        assert_eq!(payload(&p)["event_id"], example()["event_id"]);
        assert_eq!(
            payload(&p)["task_data"]["title"],
            example()["task_data"]["title"]
        );
    }

    #[test]
    fn a_newer_minor_is_accepted_and_counted() {
        let before = counters().version_mismatches;
        let p = prepare(&with("schema_version", json!("1.3.0"))).unwrap();
        assert!(counters().version_mismatches > before);
        assert_eq!(payload(&p)["schema_version"], "1.3.0");
        assert!(p.statement.params.contains(&json!("1.3.0")));
    }

    #[test]
    fn an_unknown_major_is_dropped() {
        for v in ["2.0.0", "0.9.0"] {
            let before = counters().dropped;
            assert_eq!(
                prepare(&with("schema_version", json!(v))).unwrap_err(),
                Decision::Drop
            );
            assert!(counters().dropped > before, "{v} not counted");
        }
    }

    #[test]
    fn every_invalid_example_is_dropped() {
        for (name, body) in example_files("invalid") {
            assert_eq!(prepare(&body).unwrap_err(), Decision::Drop, "{name}");
            let event: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(
                prepare(&cloud_event("data", event)).unwrap_err(),
                Decision::Drop,
                "{name} in a CloudEvent"
            );
        }
    }

    #[test]
    fn garbage_is_dropped() {
        for body in [
            &b""[..],
            b"not json",
            b"null",
            b"[]",
            b"{}",
            b"\xff\xfe",
            br#"{"specversion":"1.0"}"#,
            br#"{"specversion":"9.0","data":{}}"#,
        ] {
            assert_eq!(prepare(body).unwrap_err(), Decision::Drop, "{body:?}");
        }
        assert_eq!(
            prepare(&with("schema_version", json!("garbage"))).unwrap_err(),
            Decision::Drop
        );
        let mut e = example();
        e.as_object_mut().unwrap().remove("schema_version");
        assert_eq!(
            prepare(&serde_json::to_vec(&e).unwrap()).unwrap_err(),
            Decision::Drop
        );
    }

    #[test]
    fn the_seeds_own_events_are_recorded_or_dropped_as_written() {
        let read = |name: &str| std::fs::read(format!("{EXAMPLES}/{name}")).unwrap();
        for name in [
            "valid/seed-contract-test-task-created.json",
            "valid/seed-integration-test-task-created.json",
            "valid/seed-schema-evolution-1.1.0-task-created.json",
        ] {
            let body = read(name);
            let event: Value = serde_json::from_slice(&body).unwrap();
            // as the seed's Dapr SDK publisher sends it: the JSON text as text/plain `data`
            let mut ce: Value =
                serde_json::from_slice(&cloud_event("data", json!(event.to_string()))).unwrap();
            ce["datacontenttype"] = json!("text/plain");
            let p = prepare(&serde_json::to_vec(&ce).unwrap())
                .unwrap_or_else(|d| panic!("{name}: {d:?}"));
            assert_eq!(payload(&p), event, "{name}");
            assert_eq!(p.statement.params[2], event["user_id"], "{name}");
        }
        for name in [
            "invalid/seed-contract-test-missing-required-fields.json",
            "invalid/seed-schema-evolution-2.0.0-task-created.json",
        ] {
            assert_eq!(prepare(&read(name)).unwrap_err(), Decision::Drop, "{name}");
        }
    }

    #[test]
    fn the_statement_records_the_delivery_for_the_metrics() {
        let received = todo_events::chrono::Utc::now();
        let p = super::prepare(&with("schema_version", json!("1.3.0")), received).unwrap();
        let sql = &p.statement.sql;
        assert!(
            sql.starts_with("WITH pe AS (INSERT INTO processed_events (consumer, event_id, topic, event_type, schema_version, event_at, received_at)"),
            "{sql}"
        );
        let params = &p.statement.params;
        assert!(params.contains(&json!("task-events")));
        assert!(params.contains(&json!(
            received.to_rfc3339_opts(todo_events::chrono::SecondsFormat::Micros, true)
        )));
    }

    #[test]
    fn refused_and_retried_deliveries_are_counted() {
        let st = refusal(&with("schema_version", json!("2.0.0")));
        let counters = st.params[0].as_str().unwrap();
        assert!(
            counters.contains(r#""schema_version":"2.0.0""#),
            "{counters}"
        );
        assert!(counters.contains(r#""consumer":"audit""#), "{counters}");
        let p = prepare(EXAMPLE.as_bytes()).unwrap();
        let st = retry(&p);
        assert!(st.params[0]
            .as_str()
            .unwrap()
            .contains(r#""event_type":"task.created""#));
    }

    #[test]
    fn recorded_or_duplicate_is_success() {
        let p = prepare(EXAMPLE.as_bytes()).unwrap();
        let first = rows(r#"{"processed": true, "inserted": true}"#);
        assert_eq!(conclude(&p, first), Decision::Success);
        let again = rows(r#"{"processed": false, "inserted": false}"#);
        assert_eq!(conclude(&p, again), Decision::Success);
    }

    #[test]
    fn zero_rows_means_the_statement_failed_and_is_retried() {
        let p = prepare(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(conclude(&p, Ok(vec![])), Decision::Retry);
    }

    #[test]
    fn sidecar_failures_are_retried() {
        let p = prepare(EXAMPLE.as_bytes()).unwrap();
        let failures = [
            SidecarError::Unavailable("connection refused".into()),
            SidecarError::Unavailable("HTTP 500".into()),
            SidecarError::Refused {
                call: "Post /v1.0/bindings/tododb".into(),
                status: 403,
                body: String::new(),
            },
            SidecarError::Decode("query on tododb".into(), "EOF".into()),
        ];
        for e in failures {
            let shown = e.to_string();
            assert_eq!(conclude(&p, Err(e)), Decision::Retry, "{shown}");
        }
    }

    #[test]
    fn unexpected_rows_are_retried() {
        let p = prepare(EXAMPLE.as_bytes()).unwrap();
        for bad in [
            Ok(vec![vec![json!(1)]]),
            rows("not json"),
            rows(r#"{"processed": "yes"}"#),
            Ok(vec![vec![json!("{}")], vec![json!("{}")]]),
        ] {
            assert_eq!(conclude(&p, bad), Decision::Retry);
        }
    }

    fn entries(bodies: &[Vec<u8>]) -> Vec<Entry> {
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| Entry {
                entry_id: i.to_string(),
                body: b.clone(),
            })
            .collect()
    }

    fn answers(s: &Statuses) -> Vec<Decision> {
        s.decisions().map(|(_, d)| d).collect()
    }

    #[test]
    fn a_bulk_is_one_statement_for_its_valid_entries_and_drops_the_others() {
        let mut second = example();
        second["event_id"] = json!("7f0c9a52-1f43-4d2b-9a67-1c3b2a8e0f11");
        let bodies = vec![
            cloud_event("data", example()),
            br#"{"not": "an event"}"#.to_vec(),
            cloud_event("data", second),
        ];
        let batch = prepare_batch(&entries(&bodies), Utc::now());
        let st = batch.statement.as_ref().expect("one statement");
        assert!(st.sql.contains("jsonb_to_recordset"), "{}", st.sql);
        assert!(
            st.sql.contains("INSERT INTO processed_events"),
            "{}",
            st.sql
        );
        assert!(st.sql.contains("INSERT INTO audit_log"), "{}", st.sql);
        let list: Value = st
            .params
            .iter()
            .filter_map(|p| p.as_str())
            .filter_map(|t| serde_json::from_str::<Value>(t).ok())
            .find(|v| v.is_array())
            .expect("the records parameter");
        assert_eq!(list.as_array().unwrap().len(), 2);
        assert_eq!(list[0]["event_id"], example()["event_id"]);
        assert_eq!(list[1]["event_id"], "7f0c9a52-1f43-4d2b-9a67-1c3b2a8e0f11");

        let ok = Some(rows(r#"{"processed": 2, "inserted": 2}"#));
        let s = conclude_batch(&batch, ok);
        assert_eq!(
            answers(&s),
            [Decision::Success, Decision::Drop, Decision::Success]
        );
        assert!(batch_retries(&batch, &s).is_none());
    }

    #[test]
    fn a_failed_bulk_statement_retries_every_valid_entry_and_still_drops_the_invalid() {
        let bodies = vec![
            br#"not json"#.to_vec(),
            cloud_event("data", example()),
            with("schema_version", json!("2.0.0")),
        ];
        let batch = prepare_batch(&entries(&bodies), Utc::now());
        for failed in [
            Err(SidecarError::Unavailable("connection refused".into())),
            Ok(vec![]),
            rows(r#"{"processed": "x"}"#),
        ] {
            let s = conclude_batch(&batch, Some(failed));
            assert_eq!(
                answers(&s),
                [Decision::Drop, Decision::Retry, Decision::Drop]
            );
            let counter = batch_retries(&batch, &s).expect("the retry is counted");
            assert!(counter.sql.contains("metric_counters"), "{}", counter.sql);
        }
    }

    #[test]
    fn a_bulk_of_only_invalid_entries_runs_no_statement() {
        let bodies = vec![b"x".to_vec(), with("schema_version", json!("9.0.0"))];
        let batch = prepare_batch(&entries(&bodies), Utc::now());
        assert!(batch.statement.is_none());
        assert_eq!(
            answers(&conclude_batch(&batch, None)),
            [Decision::Drop, Decision::Drop]
        );
    }
}
