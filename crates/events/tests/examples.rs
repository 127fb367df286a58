//! Every example under `contracts/events/examples/` behaves as its directory and file name say:
//! `valid/*.json` validates and decodes; `invalid/<field>-<rule>.json` fails validation with a
//! violation at that field for that rule, and is dropped by the decoder.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use todo_events::{decode, validate, Decision, ReminderEvent, TaskEvent, TaskUpdate, Topic};

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
    ("-wrong-type", &["type"]),
];

/// Fields the seed's "missing required fields" example lacks.
const SEED_MISSING: &[&str] = &[
    "/event_id",
    "/user_id",
    "/timestamp",
    "/schema_version",
    "/task_data",
];

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
    if name == "seed-missing-required-fields" {
        return (
            SEED_MISSING.iter().map(|s| s.to_string()).collect(),
            vec!["required"],
        );
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
            assert!(
                decodes(topic, &bytes).is_err(),
                "{topic}/invalid/{name} was decoded"
            );
            count += 1;
        }
    }
    assert!(count >= 15, "{count}");
}

#[test]
fn the_seed_examples_exist_and_mean_what_the_seed_says() {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events/examples/task-events");
    let (_, _, seed) = read(&dir.join("valid/seed-task-created.json"));
    assert_eq!(seed["event_type"], "task.created");
    assert_eq!(seed["task_data"]["recurrence_id"], Value::Null);
    assert!(seed["task_data"]
        .as_object()
        .unwrap()
        .contains_key("recurrence_id"));
    let (_, _, missing) = read(&dir.join("invalid/seed-missing-required-fields.json"));
    let keys: Vec<&str> = missing
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["event_type", "task_id"]);
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
