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
