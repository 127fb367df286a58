//! The project's own contracts pass the check: a schema change in the repo without the right
//! version bump fails `cargo test`, the way `buf breaking` fails CI.

use std::path::Path;

use todo_contracts::check_dir;

#[test]
fn repo_event_schemas_pass_the_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contracts/events");
    let report = check_dir(&dir).expect("contracts/events is readable");
    let lines = report.lines();
    assert!(report.passed(), "{}", lines.join("\n"));
    let topics: Vec<&str> = report.topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(topics, ["reminders", "task-events", "task-updates"]);
    for topic in &report.topics {
        assert!(topic.latest.is_some(), "{} has no release", topic.topic);
    }
}

#[test]
fn repo_changelog_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let made = todo_contracts::changelog(&root.join("contracts/events")).unwrap();
    let file = std::fs::read_to_string(root.join("contracts/CHANGELOG.md")).unwrap_or_default();
    assert!(
        made == file,
        "contracts/CHANGELOG.md is stale or missing: run `cargo run -p todo-contracts -- changelog`"
    );
}

#[test]
fn repo_asyncapi_schemas_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let working = todo_contracts::Layout::new(root.join("contracts/events"))
        .working()
        .unwrap();
    for w in working {
        let made = serde_json::to_string_pretty(&todo_contracts::to_draft07(&w.doc).unwrap())
            .unwrap()
            + "\n";
        let path = root.join(format!("contracts/asyncapi/{}.draft-07.json", w.topic));
        let file = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            made == file,
            "{} is stale or missing: run `cargo run -p todo-contracts -- asyncapi-schemas`",
            path.display()
        );
    }
}
