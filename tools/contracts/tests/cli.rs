//! The `todo-contracts` binary on temporary contracts directories.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};
use tempfile::TempDir;

/// A temporary project root with `contracts/events/`.
struct Repo {
    root: TempDir,
}

/// What a run of the binary produced.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    fn has_line(&self, line: &str) -> bool {
        self.stdout.lines().any(|l| l == line)
    }
}

impl Repo {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("contracts/events")).unwrap();
        Repo { root }
    }

    fn events(&self) -> PathBuf {
        self.root.path().join("contracts/events")
    }

    fn write(path: &Path, doc: &Value) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, serde_json::to_string_pretty(doc).unwrap() + "\n").unwrap();
    }

    fn working(&self, topic: &str, version: &str, schema: &Value) {
        let path = self.events().join(format!("{topic}.schema.json"));
        Self::write(&path, &doc(version, schema));
    }

    fn released(&self, topic: &str, version: &str, schema: &Value) {
        self.released_as(topic, version, version, schema);
    }

    /// A release file named `file_version` that declares `declared`.
    fn released_as(&self, topic: &str, file_version: &str, declared: &str, schema: &Value) {
        let path = self.release_file(topic, file_version);
        Self::write(&path, &doc(declared, schema));
    }

    fn release_file(&self, topic: &str, version: &str) -> PathBuf {
        self.events()
            .join(format!("releases/{topic}/{version}.schema.json"))
    }

    /// Runs the binary in the project root (so the default `--dir contracts/events` applies).
    fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_todo-contracts"))
            .args(args)
            .current_dir(self.root.path())
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8(out.stdout).unwrap(),
            stderr: String::from_utf8(out.stderr).unwrap(),
        }
    }
}

fn doc(version: &str, schema: &Value) -> Value {
    let mut doc = schema.clone();
    doc["x-schema-version"] = json!(version);
    doc
}

fn task_events(title_max: u64, description: &str) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["event_id", "task_data"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "task_data": {
                "type": "object",
                "description": description,
                "properties": {"title": {"type": "string", "maxLength": title_max}}
            }
        }
    })
}

fn simple(description: &str) -> Value {
    json!({"type": "object", "description": description, "properties": {"id": {"type": "string"}}})
}

#[test]
fn check_passes_for_unreleased_topics() {
    let repo = Repo::new();
    repo.working("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("reminders", "1.0.0", &simple("r"));
    repo.working("task-updates", "1.0.0", &simple("u"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.lines(),
        vec![
            "reminders: ok, 1.0.0 unreleased",
            "task-events: ok, 1.0.0 unreleased",
            "task-updates: ok, 1.0.0 unreleased",
            "checked 3 topic(s): 3 ok, 0 failed",
        ]
    );
}

#[test]
fn check_fails_when_changed_but_version_not_bumped() {
    let repo = Repo::new();
    repo.released("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("task-events", "1.0.0", &task_events(100, "d"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(
        run.lines(),
        vec![
            "task-events: /properties/task_data/properties/title/maxLength 200 -> 100 (tightened constraint) needs MAJOR, version 1.0.0 -> 1.0.0 is not bumped",
            "task-events: error: the schema changed (needs MAJOR) but version 1.0.0 was not bumped",
            "task-events: FAIL, version 1.0.0 -> 1.0.0 is not bumped, changes need MAJOR",
            "checked 1 topic(s): 0 ok, 1 failed",
        ]
    );
}

#[test]
fn description_change_without_bump_fails() {
    let repo = Repo::new();
    repo.released("reminders", "1.0.0", &simple("old"));
    repo.working("reminders", "1.0.0", &simple("new"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.has_line(
        "reminders: error: the schema changed (needs PATCH) but version 1.0.0 was not bumped"
    ));
}

#[test]
fn patch_only_bump_passes_for_description_change() {
    let repo = Repo::new();
    repo.released("task-events", "1.0.0", &task_events(200, "old words"));
    repo.working("task-events", "1.0.1", &task_events(200, "new words"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.lines(),
        vec![
            "task-events: /properties/task_data/description changed (annotation change) needs PATCH, version 1.0.0 -> 1.0.1 is PATCH",
            "task-events: ok, version 1.0.0 -> 1.0.1 is PATCH, changes need PATCH",
            "checked 1 topic(s): 1 ok, 0 failed",
        ]
    );
}

#[test]
fn minor_bump_for_a_major_change_fails_with_the_change_line() {
    let repo = Repo::new();
    repo.released("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("task-events", "1.1.0", &task_events(100, "d"));
    let run = repo.run(&["check", "--dir", "contracts/events"]);
    assert_eq!(run.code, 1);
    assert!(run.has_line("task-events: /properties/task_data/properties/title/maxLength 200 -> 100 (tightened constraint) needs MAJOR, version 1.0.0 -> 1.1.0 is MINOR"), "{}", run.stdout);
    assert!(run.has_line(
        "task-events: error: the changes need MAJOR but version 1.0.0 -> 1.1.0 is MINOR"
    ));
}

#[test]
fn major_bump_for_a_major_change_passes() {
    let repo = Repo::new();
    repo.released("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("task-events", "2.0.0", &task_events(100, "d"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.has_line("task-events: ok, version 1.0.0 -> 2.0.0 is MAJOR, changes need MAJOR"));
}

#[test]
fn unchanged_released_topic_passes() {
    let repo = Repo::new();
    repo.released("reminders", "1.0.0", &simple("r"));
    repo.working("reminders", "1.0.0", &simple("r"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 0);
    assert!(run.has_line("reminders: ok, 1.0.0 released, unchanged"));
}

#[test]
fn latest_release_is_chosen_in_semver_order() {
    let repo = Repo::new();
    repo.released("reminders", "1.9.0", &simple("r"));
    repo.released("reminders", "1.10.0", &simple("r"));
    // 1.9.1 is above 1.9.0 (the latest by file name) but below 1.10.0 (the latest by semver)
    repo.working("reminders", "1.9.1", &simple("r"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.has_line("reminders: error: version 1.9.1 is lower than the latest release 1.10.0"));
    assert!(run
        .has_line("reminders: FAIL, version 1.10.0 -> 1.9.1 is a downgrade, changes need nothing"));
}

#[test]
fn release_files_with_the_same_number_must_not_differ() {
    let repo = Repo::new();
    repo.released("reminders", "1.0.0", &simple("one"));
    // named 1.1.0 but declares 1.0.0, with other content
    repo.released_as("reminders", "1.1.0", "1.0.0", &simple("two"));
    repo.working("reminders", "1.1.0", &simple("two"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let dir = Path::new("contracts/events/releases/reminders");
    let (a, b) = (dir.join("1.0.0.schema.json"), dir.join("1.1.0.schema.json"));
    assert!(
        run.has_line(&format!(
            "reminders: error: {} is named 1.1.0 but declares x-schema-version 1.0.0",
            b.display()
        )),
        "{}",
        run.stdout
    );
    assert!(run.has_line(&format!(
        "reminders: error: {} and {} both stand for version 1.0.0 but differ",
        a.display(),
        b.display()
    )));
}

#[test]
fn released_topic_without_working_schema_fails() {
    let repo = Repo::new();
    repo.working("task-events", "1.0.0", &task_events(200, "d"));
    repo.released("reminders", "1.0.0", &simple("r"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 1);
    assert!(run.has_line("reminders: error: released (latest 1.0.0) but the working schema is missing; removing a topic breaks its consumers"));
    assert!(run.has_line("task-events: ok, 1.0.0 unreleased"));
}

#[test]
fn release_copies_then_is_a_no_op() {
    let repo = Repo::new();
    repo.released("reminders", "1.0.0", &simple("r"));
    repo.working(
        "reminders",
        "1.1.0",
        &doc(
            "1.1.0",
            &json!({
                "type": "object", "description": "r",
                "properties": {"id": {"type": "string"}, "note": {"type": "string"}}
            }),
        ),
    );
    let run = repo.run(&["release", "reminders"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let target = repo.release_file("reminders", "1.1.0");
    assert!(
        run.has_line(&format!(
            "reminders: released 1.1.0 as {}",
            Path::new("contracts/events")
                .join("releases/reminders/1.1.0.schema.json")
                .display()
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        fs::read(&target).unwrap(),
        fs::read(repo.events().join("reminders.schema.json")).unwrap()
    );
    let again = repo.run(&["release", "reminders"]);
    assert_eq!(again.code, 0);
    assert!(again.has_line("reminders: 1.1.0 is already released, nothing to do"));
    let check = repo.run(&["check"]);
    assert!(
        check.has_line("reminders: ok, 1.1.0 released, unchanged"),
        "{}",
        check.stdout
    );
}

#[test]
fn release_is_refused_when_the_check_fails() {
    let repo = Repo::new();
    repo.released("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("task-events", "1.1.0", &task_events(100, "d"));
    let run = repo.run(&["release", "task-events"]);
    assert_eq!(run.code, 1);
    assert!(run.has_line("task-events: not released, the check fails"));
    assert!(!repo.release_file("task-events", "1.1.0").exists());
}

#[test]
fn release_all_releases_every_passing_topic_or_none() {
    let repo = Repo::new();
    repo.working("task-events", "1.0.0", &task_events(200, "d"));
    repo.working("reminders", "1.0.0", &simple("r"));
    let run = repo.run(&["release", "--all", "--dir", "contracts/events"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(repo.release_file("task-events", "1.0.0").exists());
    assert!(repo.release_file("reminders", "1.0.0").exists());

    // one failing topic blocks the other's release
    repo.working("reminders", "1.0.1", &simple("r2"));
    repo.working("task-events", "1.0.0", &task_events(100, "d"));
    let run = repo.run(&["release", "--all"]);
    assert_eq!(run.code, 1);
    assert!(!repo.release_file("reminders", "1.0.1").exists());
    assert!(run.has_line("reminders: not released, another selected topic fails the check"));
    assert!(run.has_line("task-events: not released, the check fails"));
}

#[test]
fn release_of_unknown_topic_is_an_error() {
    let repo = Repo::new();
    repo.working("reminders", "1.0.0", &simple("r"));
    let run = repo.run(&["release", "nope"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("unknown topic \"nope\""),
        "{}",
        run.stderr
    );
}

#[test]
fn release_needs_a_topic_or_all() {
    let repo = Repo::new();
    let run = repo.run(&["release"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("<TOPIC>"), "{}", run.stderr);
}

#[test]
fn diff_prints_classified_changes() {
    let repo = Repo::new();
    let old = repo.root.path().join("old.json");
    let new = repo.root.path().join("new.json");
    Repo::write(&old, &doc("1.0.0", &task_events(200, "d")));
    Repo::write(&new, &doc("1.1.0", &task_events(100, "e")));
    let run = repo.run(&["diff", old.to_str().unwrap(), new.to_str().unwrap()]);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.lines(),
        vec![
            "/properties/task_data/description changed (annotation change) needs PATCH",
            "/properties/task_data/properties/title/maxLength 200 -> 100 (tightened constraint) needs MAJOR",
            "2 change(s), required bump: MAJOR",
            "x-schema-version: 1.0.0 -> 1.1.0",
        ]
    );
}

#[test]
fn invalid_json_is_an_error_naming_the_file() {
    let repo = Repo::new();
    fs::write(repo.events().join("reminders.schema.json"), "{ not json").unwrap();
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("reminders.schema.json: not valid JSON"),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_version_is_an_error() {
    let repo = Repo::new();
    Repo::write(&repo.events().join("reminders.schema.json"), &simple("r"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("missing top-level \"x-schema-version\""),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_version_is_an_error() {
    let repo = Repo::new();
    repo.working("reminders", "1.0", &simple("r"));
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("invalid version \"1.0\""),
        "{}",
        run.stderr
    );
}

#[test]
fn empty_directory_is_an_error() {
    let repo = Repo::new();
    let run = repo.run(&["check"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no working schemas"), "{}", run.stderr);
}
