//! The seed's own schema-evolution example (`../shared/seed/phase-v-event-contracts.md`, "Schema
//! Evolution Example"), applied to the released task-events 1.0.0 (`tests/pairs/seed.json`):
//! 1.0.0 -> 1.1.0 adds the optional `assignee` (MINOR: it passes as a MINOR bump and fails as a
//! PATCH); 1.0.0 -> 2.0.0 replaces the string `priority` by the integer `priority_level` (MAJOR:
//! it fails unless the version is a MAJOR bump).

#[macro_use]
mod common;

use std::fs;
use std::process::Command;

use common::{pair, repo_root, versioned, TOPIC};
use serde_json::Value;
use todo_contracts::evaluate;

pair_tests!("seed.json":
    seed_1_1_0_adds_optional_assignee,
    seed_2_0_0_replaces_priority_by_priority_level,
);

const ASSIGNEE: &str = "seed_1_1_0_adds_optional_assignee";
const PRIORITY_LEVEL: &str = "seed_2_0_0_replaces_priority_by_priority_level";

/// `name`'s new schema checked as version `to` against its old schema released as 1.0.0:
/// (passed, report lines).
fn check_as(name: &str, to: &str) -> (bool, Vec<String>) {
    let (old, new, _, _) = pair("seed.json", name);
    let report = evaluate(TOPIC, &versioned(&old, "1.0.0"), &versioned(&new, to)).unwrap();
    (report.passed(), report.lines())
}

#[test]
fn the_old_side_is_the_released_task_events_1_0_0() {
    let (old, _, _, _) = pair("seed.json", ASSIGNEE);
    let release = repo_root().join("contracts/events/releases/task-events/1.0.0.schema.json");
    let released: Value = serde_json::from_str(&fs::read_to_string(release).unwrap()).unwrap();
    assert_eq!(old, released);
    assert_eq!(old["x-schema-version"], "1.0.0");
}

#[test]
fn adding_the_optional_assignee_passes_as_minor_and_fails_as_patch() {
    for (to, passes) in [
        ("1.0.0", false),
        ("1.0.1", false),
        ("1.1.0", true),
        ("2.0.0", true),
    ] {
        let (passed, lines) = check_as(ASSIGNEE, to);
        assert_eq!(passed, passes, "1.0.0 -> {to}: {lines:#?}");
    }
    let (_, lines) = check_as(ASSIGNEE, "1.0.1");
    let error = "task-events: error: the changes need MINOR but version 1.0.0 -> 1.0.1 is PATCH";
    assert!(lines.iter().any(|l| l == error), "{lines:#?}");
    let (_, lines) = check_as(ASSIGNEE, "1.1.0");
    assert_eq!(
        lines.last().unwrap(),
        "task-events: ok, version 1.0.0 -> 1.1.0 is MINOR, changes need MINOR"
    );
}

#[test]
fn replacing_priority_by_priority_level_fails_unless_major() {
    for (to, passes) in [
        ("1.0.0", false),
        ("1.0.1", false),
        ("1.1.0", false),
        ("1.9.0", false),
        ("2.0.0", true),
        ("3.0.0", true),
    ] {
        let (passed, lines) = check_as(PRIORITY_LEVEL, to);
        assert_eq!(passed, passes, "1.0.0 -> {to}: {lines:#?}");
    }
    let (_, lines) = check_as(PRIORITY_LEVEL, "1.1.0");
    let error = "task-events: error: the changes need MAJOR but version 1.0.0 -> 1.1.0 is MINOR";
    assert!(lines.iter().any(|l| l == error), "{lines:#?}");
}

/// `todo-contracts check` on a contracts directory holding the real 1.0.0 release and the seed's
/// change as the working schema, versioned `to`: (exit code, stdout).
fn check_dir_with(name: &str, to: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    fs::create_dir_all(events.join("releases/task-events")).unwrap();
    let release = repo_root().join("contracts/events/releases/task-events/1.0.0.schema.json");
    fs::copy(
        release,
        events.join("releases/task-events/1.0.0.schema.json"),
    )
    .unwrap();
    let (_, new, _, _) = pair("seed.json", name);
    let working = serde_json::to_string_pretty(&versioned(&new, to)).unwrap();
    fs::write(events.join("task-events.schema.json"), working).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_todo-contracts"))
        .args(["check", "--dir"])
        .arg(&events)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn the_checker_binary_says_so_too() {
    let (code, out) = check_dir_with(ASSIGNEE, "1.0.1");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("/$defs/task_data/properties/assignee added (added optional property) needs MINOR, version 1.0.0 -> 1.0.1 is PATCH"), "{out}");
    let (code, out) = check_dir_with(ASSIGNEE, "1.1.0");
    assert_eq!(code, 0, "{out}");
    let (code, out) = check_dir_with(PRIORITY_LEVEL, "1.1.0");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("/$defs/task_data/properties/priority removed (removed property) needs MAJOR"),
        "{out}"
    );
    let (code, out) = check_dir_with(PRIORITY_LEVEL, "2.0.0");
    assert_eq!(code, 0, "{out}");
}
