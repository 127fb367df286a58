//! `todo-contracts changelog`: contracts/CHANGELOG.md made from the releases, and its staleness
//! check; `todo-contracts asyncapi-schemas --check`.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

fn write(path: &Path, doc: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string_pretty(doc).unwrap() + "\n").unwrap();
}

fn release(events: &Path, topic: &str, version: &str, schema: &Value) {
    let mut doc = schema.clone();
    doc["x-schema-version"] = json!(version);
    write(
        &events.join(format!("releases/{topic}/{version}.schema.json")),
        &doc,
    );
}

fn task(extra: Option<&str>, priorities: &[&str]) -> Value {
    let mut properties = json!({
        "title": {"type": "string", "maxLength": 200},
        "priority": {"type": "string", "enum": priorities}
    });
    if let Some(name) = extra {
        properties[name] = json!({"type": ["string", "null"], "description": "new"});
    }
    json!({
        "type": "object",
        "required": ["task_data"],
        "properties": {"task_data": {"$ref": "#/$defs/task_data"}},
        "$defs": {"task_data": {"type": "object", "required": ["title"], "properties": properties}}
    })
}

fn run(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_todo-contracts"))
        .args(args)
        .current_dir(root)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn changelog_names_each_change_and_bump_per_topic_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    release(
        &events,
        "task-events",
        "1.0.0",
        &task(None, &["low", "high"]),
    );
    release(
        &events,
        "task-events",
        "1.1.0",
        &task(Some("assignee"), &["low", "high"]),
    );
    release(
        &events,
        "task-events",
        "2.0.0",
        &task(Some("assignee"), &["low", "high", "urgent"]),
    );
    release(&events, "reminders", "1.0.0", &task(None, &["low"]));
    let (code, out, err) = run(dir.path(), &["changelog"]);
    assert_eq!(code, 0, "{out}{err}");
    let text = fs::read_to_string(dir.path().join("contracts/CHANGELOG.md")).unwrap();
    let body = text.split_once("\n## ").unwrap().1;
    assert_eq!(
        body,
        "`reminders`\n\n### 1.0.0\n\nFirst release.\n\n\
         ## `task-events`\n\n\
         ### 2.0.0\n\nMAJOR from 1.1.0; the changes need MAJOR.\n\n\
         - widened enum `priority` (`/$defs/task_data/properties/priority/enum`): added \"urgent\"; needs MAJOR\n\n\
         ### 1.1.0\n\nMINOR from 1.0.0; the changes need MINOR.\n\n\
         - added optional property `assignee` (`/$defs/task_data/properties/assignee`): added; needs MINOR\n\n\
         ### 1.0.0\n\nFirst release.\n"
    );

    // current: --check passes and writes nothing
    let (code, out, _) = run(dir.path(), &["changelog", "--check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("contracts/CHANGELOG.md is current"), "{out}");

    // a new release makes it stale
    release(
        &events,
        "task-events",
        "2.0.1",
        &task(Some("assignee"), &["high", "low", "urgent"]),
    );
    let (code, out, _) = run(dir.path(), &["changelog", "--check"]);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out.trim(),
        "contracts/CHANGELOG.md is stale: regenerate it with `cargo run -p todo-contracts -- changelog`"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("contracts/CHANGELOG.md")).unwrap(),
        text
    );
    let (code, _, _) = run(dir.path(), &["changelog"]);
    assert_eq!(code, 0);
    let text = fs::read_to_string(dir.path().join("contracts/CHANGELOG.md")).unwrap();
    assert!(text.contains("### 2.0.1\n\nPATCH from 2.0.0; the changes need PATCH.\n\n- no effect on validation `(event)` (`(root)`): document changed; needs PATCH\n"), "{text}");
}

#[test]
fn a_release_bumped_too_little_is_marked() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    release(&events, "t", "1.0.0", &task(None, &["low"]));
    release(&events, "t", "1.1.0", &task(None, &["low", "high"]));
    let (code, _, _) = run(dir.path(), &["changelog"]);
    assert_eq!(code, 0);
    let text = fs::read_to_string(dir.path().join("contracts/CHANGELOG.md")).unwrap();
    assert!(
        text.contains("MINOR from 1.0.0; the changes need MAJOR (this release broke consumers of the earlier version).\n"),
        "{text}"
    );
}

#[test]
fn missing_changelog_and_bad_input_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    release(&events, "t", "1.0.0", &task(None, &["low"]));
    let (code, out, _) = run(dir.path(), &["changelog", "--check"]);
    assert_eq!(code, 1);
    assert!(out.contains("contracts/CHANGELOG.md is missing"), "{out}");
    fs::write(events.join("releases/t/1.0.0.schema.json"), "{not json").unwrap();
    let (code, _, err) = run(dir.path(), &["changelog"]);
    assert_eq!(code, 2);
    assert!(err.contains("1.0.0.schema.json: not valid JSON"), "{err}");
    let (code, _, err) = run(dir.path(), &["changelog", "--dir", "nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("nowhere: no such directory"), "{err}");
    let (code, _, err) = run(dir.path(), &["asyncapi-schemas", "--dir", "nowhere"]);
    assert_eq!(code, 2);
    assert!(err.contains("nowhere"), "{err}");
}

#[test]
fn asyncapi_schemas_are_written_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    let mut working = task(Some("assignee"), &["low"]);
    working["x-schema-version"] = json!("1.1.0");
    working["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    write(&events.join("task-events.schema.json"), &working);
    let (code, out, _) = run(dir.path(), &["asyncapi-schemas", "--check"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("contracts/asyncapi/task-events.draft-07.json is missing"),
        "{out}"
    );
    let (code, _, _) = run(dir.path(), &["asyncapi-schemas"]);
    assert_eq!(code, 0);
    let path = dir
        .path()
        .join("contracts/asyncapi/task-events.draft-07.json");
    let written: Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        written["$schema"],
        "http://json-schema.org/draft-07/schema#"
    );
    assert_eq!(
        written["properties"]["task_data"]["$ref"],
        "#/definitions/task_data"
    );
    assert_eq!(written["x-schema-version"], "1.1.0");
    let (code, _, _) = run(dir.path(), &["asyncapi-schemas", "--check"]);
    assert_eq!(code, 0);
    working["$defs"]["task_data"]["properties"]["title"]["maxLength"] = json!(100);
    write(&events.join("task-events.schema.json"), &working);
    let (code, out, _) = run(dir.path(), &["asyncapi-schemas", "--check"]);
    assert_eq!(code, 1);
    assert!(out.contains("task-events.draft-07.json is stale"), "{out}");
    // a keyword draft-07 cannot say is an error, not dropped
    working["$defs"]["task_data"]["unevaluatedProperties"] = json!(false);
    write(&events.join("task-events.schema.json"), &working);
    let (code, _, err) = run(dir.path(), &["asyncapi-schemas"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("/$defs/task_data: unevaluatedProperties has no draft-07 equivalent"),
        "{err}"
    );
}
