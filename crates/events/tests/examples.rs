//! Every example under `contracts/events/examples/` behaves as its directory and file name say:
//! `valid/*.json` validates and decodes; `invalid/<field>-<rule>.json` fails validation with a
//! violation at that field for that rule, and is dropped by the decoder. The seed's own events
//! (`seed-*.json`, copied unchanged from `../shared/seed/phase-v-event-contracts.md`) are listed
//! in [`SEED`] with what each must do.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use todo_events::{
    decode, validate, Decision, DecodeError, ReminderEvent, TaskEvent, TaskUpdate, Topic,
    VersionError, VersionStatus,
};

/// File-name rule suffixes and the JSON Schema keywords that may report them.
const RULES: &[(&str, &[&str])] = &[
    ("-not-in-enum", &["enum"]),
    ("-too-long", &["maxLength"]),
    ("-too-short", &["minLength"]),
    ("-too-many", &["maxItems"]),
    ("-not-unique", &["uniqueItems"]),
    ("-not-uuid", &["pattern", "format"]),
    ("-not-utc", &["pattern"]),
    ("-not-date-time", &["format", "pattern"]),
    ("-not-semver", &["pattern"]),
    ("-not-rrule", &["pattern"]),
    ("-not-iana", &["pattern"]),
    ("-negative", &["minimum"]),
    ("-too-large", &["maximum"]),
    ("-not-email", &["format"]),
    ("-not-const", &["const"]),
    ("-wrong-type", &["type"]),
];

/// Every (JSON pointer, keyword) an invalid example must violate, and no other.
type Violations = &'static [(&'static str, &'static str)];

/// The seed's events in `examples/task-events/`: file stem, where in the seed it comes from, and
/// for an invalid one every (pointer, keyword) it must violate (and no other).
const SEED: &[(&str, &str, Violations)] = &[
    (
        "seed-contract-test-task-created",
        "Contract Testing: test_task_created_event_validates (\"Should not raise\")",
        &[],
    ),
    (
        "seed-contract-test-missing-required-fields",
        "Contract Testing: test_task_created_event_rejects_invalid",
        &[
            ("/event_id", "required"),
            ("/user_id", "required"),
            ("/timestamp", "required"),
            ("/schema_version", "required"),
            ("/task_id", "required"),
            ("/task_data/completed", "required"),
            ("/task_data/priority", "required"),
        ],
    ),
    (
        "seed-integration-test-task-created",
        "Test Event Publishing: test_event_published_to_redpanda",
        &[],
    ),
    (
        "seed-schema-evolution-1.1.0-task-created",
        "Schema Evolution Example: Version 1.1.0, completed into a whole event",
        &[],
    ),
    (
        "seed-schema-evolution-2.0.0-task-created",
        "Schema Evolution Example: Version 2.0.0, completed into a whole event",
        &[("/task_data/priority", "required")],
    ),
];

/// The seed table's entry for an example file stem.
fn seed_entry(name: &str) -> Option<Violations> {
    SEED.iter()
        .find(|(stem, _, _)| *stem == name)
        .map(|(_, _, violations)| *violations)
}

fn examples(topic: Topic, kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/events/examples")
        .join(topic.name())
        .join(kind);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn read(path: &Path) -> (String, Vec<u8>, Value) {
    let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
    let bytes = fs::read(path).unwrap();
    let value = serde_json::from_slice(&bytes).unwrap();
    (name, bytes, value)
}

fn decodes(topic: Topic, body: &[u8]) -> Result<(), String> {
    let result = match topic {
        Topic::TaskEvents => decode::<TaskEvent>(body).map(drop),
        Topic::Reminders => decode::<ReminderEvent>(body).map(drop),
        Topic::TaskUpdates => decode::<TaskUpdate>(body).map(drop),
    };
    result.map_err(|e| {
        assert_eq!(e.decision(), Decision::Drop);
        e.to_string()
    })
}

/// The (JSON pointer suffix, allowed keywords) a file name announces.
fn expectation(name: &str) -> (Vec<String>, Vec<&'static str>) {
    if name.starts_with("seed-") {
        panic!("{name}: seed examples are checked against the SEED table");
    }
    if let Some(field) = name.strip_prefix("missing-") {
        return (
            vec![format!("/{}", field.replace('-', "_"))],
            vec!["required"],
        );
    }
    for (suffix, keywords) in RULES {
        if let Some(field) = name.strip_suffix(suffix) {
            return (
                vec![format!("/{}", field.replace('-', "_"))],
                keywords.to_vec(),
            );
        }
    }
    panic!("invalid example {name:?} does not name a known rule (see RULES in tests/examples.rs)");
}

#[test]
fn valid_examples_validate_and_decode() {
    let mut count = 0;
    for topic in Topic::ALL {
        let files = examples(topic, "valid");
        assert!(files.len() >= 3, "{topic}: too few valid examples");
        for path in files {
            let (name, bytes, value) = read(&path);
            if let Err(e) = validate(topic, &value) {
                panic!("{topic}/valid/{name}: {e}");
            }
            if let Err(e) = decodes(topic, &bytes) {
                panic!("{topic}/valid/{name} was not decoded: {e}");
            }
            count += 1;
        }
    }
    assert!(count >= 12, "{count}");
}

#[test]
fn invalid_examples_fail_at_the_named_field() {
    let mut count = 0;
    for topic in Topic::ALL {
        let files = examples(topic, "invalid");
        assert!(files.len() >= 5, "{topic}: fewer than 5 invalid examples");
        for path in files {
            let (name, bytes, value) = read(&path);
            let error = validate(topic, &value)
                .err()
                .unwrap_or_else(|| panic!("{topic}/invalid/{name} is valid"));
            assert!(
                decodes(topic, &bytes).is_err(),
                "{topic}/invalid/{name} was decoded"
            );
            count += 1;
            if let Some(expected) = seed_entry(&name) {
                let mut found: Vec<(&str, &str)> = error
                    .violations
                    .iter()
                    .map(|v| (v.pointer.as_str(), v.rule.as_str()))
                    .collect();
                found.sort();
                let mut expected = expected.to_vec();
                expected.sort();
                assert_eq!(found, expected, "{topic}/invalid/{name}: {error}");
                continue;
            }
            let (pointers, keywords) = expectation(&name);
            for pointer in &pointers {
                let hit = error.violations.iter().any(|v| {
                    v.pointer.ends_with(pointer.as_str()) && keywords.contains(&v.rule.as_str())
                });
                assert!(
                    hit,
                    "{topic}/invalid/{name}: expected {keywords:?} at *{pointer}, got: {error}"
                );
            }
        }
    }
    assert!(count >= 15, "{count}");
}

#[test]
fn the_seed_examples_exist_and_mean_what_the_seed_says() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events/examples/task-events");
    for (stem, origin, violations) in SEED {
        let kind = if violations.is_empty() {
            "valid"
        } else {
            "invalid"
        };
        let path = dir.join(kind).join(format!("{stem}.json"));
        assert!(
            path.is_file(),
            "{} (the seed's {origin}) is missing",
            path.display()
        );
    }
    let seed_files = [
        examples(Topic::TaskEvents, "valid"),
        examples(Topic::TaskEvents, "invalid"),
    ];
    for path in seed_files.iter().flatten() {
        let (name, _, _) = read(path);
        if name.starts_with("seed-") {
            assert!(
                seed_entry(&name).is_some(),
                "{name} is not in the SEED table"
            );
        }
    }

    // The contract test's event: v1.0.0 accepts it as the seed writes it, with its `null`.
    let (_, bytes, event) = read(&dir.join("valid/seed-contract-test-task-created.json"));
    assert_eq!(event["task_data"]["recurrence_id"], Value::Null);
    let data = event["task_data"].as_object().unwrap();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    // (serde_json's map is sorted by key)
    assert_eq!(
        keys,
        [
            "completed",
            "due_date",
            "priority",
            "recurrence_id",
            "tags",
            "title"
        ]
    );
    let decoded = decode::<TaskEvent>(&bytes).unwrap();
    let task = decoded.event.task_data;
    assert_eq!(task.tags, ["work"]);
    assert!(task.reminders.is_empty(), "default: no reminders");
    assert_eq!((task.created_at, task.updated_at), (None, None));
    assert_eq!(task.description, None);

    // The integration test's event: the core fields only, a microsecond timestamp.
    let (_, bytes, event) = read(&dir.join("valid/seed-integration-test-task-created.json"));
    let timestamp = event["timestamp"].as_str().unwrap();
    assert_eq!(
        timestamp.len(),
        "2026-01-06T10:00:00.123456Z".len(),
        "{timestamp}"
    );
    assert_eq!(event["user_id"], "test-user");
    let keys: Vec<&str> = event["task_data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["completed", "priority", "title"]);
    assert_eq!(
        decode::<TaskEvent>(&bytes).unwrap().event.timestamp,
        timestamp
    );

    // 1.1.0 (optional `assignee`): a 1.0 consumer (built with the released 1.0.0) accepts it as
    // a newer MINOR; since task-events 1.1.0 the services' own consumer takes it as current.
    let (_, bytes, event) = read(&dir.join("valid/seed-schema-evolution-1.1.0-task-created.json"));
    let release = dir.join("../../releases/task-events/1.0.0.schema.json");
    let v1_0: Value = serde_json::from_str(&fs::read_to_string(release).unwrap()).unwrap();
    let v1_0 = todo_events::EventSchema::new("task-events@1.0.0", &v1_0).unwrap();
    assert_eq!(
        v1_0.decode_value::<TaskEvent>(event).unwrap().version,
        VersionStatus::NewerMinor
    );
    assert_eq!(
        decode::<TaskEvent>(&bytes).unwrap().version,
        VersionStatus::Current
    );

    // 2.0.0 (`priority` replaced by `priority_level`): dropped for its MAJOR.
    let (_, bytes, event) =
        read(&dir.join("invalid/seed-schema-evolution-2.0.0-task-created.json"));
    assert!(event["task_data"]["priority_level"].is_u64());
    let error = decode::<TaskEvent>(&bytes).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::Version(VersionError::UnknownMajor { .. })
        ),
        "{error}"
    );
}

#[test]
fn schema_examples_are_valid() {
    for topic in Topic::ALL {
        let schema: Value = serde_json::from_str(topic.schema_json()).unwrap();
        let examples = schema["examples"].as_array().expect("schema has examples");
        assert!(!examples.is_empty());
        for example in examples {
            if let Err(e) = validate(topic, example) {
                panic!("{topic}: schema example invalid: {e}");
            }
        }
    }
}
