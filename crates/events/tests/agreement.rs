//! The WIT records (`wit/events.wit`), the Rust types and the JSON Schemas
//! (`contracts/events/`) agree on every field name, type class and optionality.
//!
//! Each source is normalised to the same model (record path -> field -> class, optional,
//! nullable) and the models are compared pairwise; every difference is printed.

#[path = "agreement/from_json.rs"]
mod from_json;
#[path = "agreement/from_wit.rs"]
mod from_wit;
#[path = "agreement/model.rs"]
mod model;

use std::path::Path;

use serde_json::{json, Value};
use todo_events::{ReminderEvent, TaskEvent, TaskUpdate, Topic};
use wit_parser::{InterfaceId, Resolve};

use model::{compare, Class, Model};

const WIT_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/events.wit");

/// Topic -> the WIT record of its events.
fn wit_record(topic: Topic) -> &'static str {
    match topic {
        Topic::TaskEvents => "task-event",
        Topic::Reminders => "reminder-event",
        Topic::TaskUpdates => "task-update",
    }
}

/// Topic -> the JSON Schema schemars derives from its Rust type.
fn rust_schema(topic: Topic) -> Value {
    let schema = match topic {
        Topic::TaskEvents => schemars::schema_for!(TaskEvent),
        Topic::Reminders => schemars::schema_for!(ReminderEvent),
        Topic::TaskUpdates => schemars::schema_for!(TaskUpdate),
    };
    serde_json::to_value(schema).unwrap()
}

fn parse_wit(text: &str) -> (Resolve, InterfaceId) {
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str(Path::new(WIT_PATH), text)
        .expect("WIT parses");
    let interface = resolve.packages[package].interfaces["types"];
    (resolve, interface)
}

fn wit_model(text: &str, topic: Topic) -> Model {
    let (resolve, interface) = parse_wit(text);
    from_wit::model(&resolve, interface, wit_record(topic), topic.name()).unwrap()
}

fn json_model(schema: &Value, topic: Topic) -> Model {
    from_json::model(schema, topic.name()).unwrap()
}

fn contract(topic: Topic) -> Value {
    serde_json::from_str(topic.schema_json()).unwrap()
}

fn wit_text() -> String {
    std::fs::read_to_string(WIT_PATH).unwrap()
}

/// All differences between the three sources of `topic`, given as models.
fn disagreements(topic: Topic, wit: &Model, rust: &Model, json: &Model) -> Vec<String> {
    let mut all = Vec::new();
    for (a, am, b, bm) in [
        ("JSON Schema", json, "WIT", wit),
        ("JSON Schema", json, "Rust", rust),
        ("WIT", wit, "Rust", rust),
    ] {
        all.extend(
            compare(a, am, b, bm)
                .into_iter()
                .map(|d| format!("{topic}: {d}")),
        );
    }
    all
}

#[test]
fn wit_rust_and_json_schemas_agree() {
    let wit = wit_text();
    let mut all = Vec::new();
    let mut fields = 0;
    for topic in Topic::ALL {
        let w = wit_model(&wit, topic);
        let r = json_model(&rust_schema(topic), topic);
        let j = json_model(&contract(topic), topic);
        fields += j.values().map(|record| record.len()).sum::<usize>();
        all.extend(disagreements(topic, &w, &r, &j));
    }
    assert!(all.is_empty(), "the sources disagree:\n{}", all.join("\n"));
    // 7 + 14 + 5 (task-events; task_data.completed_at since 1.1.0), 13 (reminders), 9 + 11 + 5 +
    // 5 (task-updates: the event, task, task.reminders[], reminder).
    assert_eq!(fields, 69, "the models lost fields");
}

/// The rule of `contracts/events/README.md`: a field that may be null may also be absent, and
/// the other way round (WIT `option<T>`, Rust `Option<T>` or a list defaulting to empty).
#[test]
fn optional_fields_are_nullable_and_nullable_fields_optional() {
    let mut optional = 0;
    for topic in Topic::ALL {
        for (path, fields) in json_model(&contract(topic), topic) {
            for (name, shape) in fields {
                assert_eq!(
                    shape.optional, shape.nullable,
                    "{path}.{name}: {shape} breaks the rule"
                );
                optional += usize::from(shape.optional);
            }
        }
    }
    // task-events: 11 in task_data (completed_at since 1.1.0) + offset_minutes and email of a
    // reminder; reminders:
    // task_title, due_date, email; task-updates: task and reminder, 7 in task, offset_minutes
    // and email of a task's reminder, task_title and due_date of the due reminder.
    assert_eq!(optional, 13 + 3 + 13, "optional fields");
}

/// What v1.0.0 requires (`contracts/README.md`, "Required fields"): the envelope, and in a task
/// only its core.
#[test]
fn required_fields_are_the_documented_core() {
    let required = |topic: Topic, path: &str| -> Vec<String> {
        let model = json_model(&contract(topic), topic);
        let mut names: Vec<String> = model[path]
            .iter()
            .filter(|(_, shape)| !shape.optional)
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    };
    let envelope = [
        "event_id",
        "event_type",
        "schema_version",
        "task_id",
        "timestamp",
        "user_id",
    ];
    let with = |extra: &[&str]| {
        let mut all: Vec<String> = envelope
            .iter()
            .chain(extra)
            .map(|s| s.to_string())
            .collect();
        all.sort();
        all
    };
    assert_eq!(
        required(Topic::TaskEvents, "task-events"),
        with(&["task_data"])
    );
    assert_eq!(
        required(Topic::TaskEvents, "task-events/task_data"),
        ["completed", "priority", "title"]
    );
    assert_eq!(
        required(Topic::TaskEvents, "task-events/task_data/reminders[]"),
        ["channel", "remind_at", "reminder_id"]
    );
    assert_eq!(
        required(Topic::Reminders, "reminders"),
        with(&["channel", "remind_at", "reminder_id", "state"])
    );
    assert_eq!(
        required(Topic::TaskUpdates, "task-updates"),
        with(&["sequence"])
    );
    assert_eq!(
        required(Topic::TaskUpdates, "task-updates/task"),
        ["completed", "id", "priority", "title"]
    );
    assert_eq!(
        required(Topic::TaskUpdates, "task-updates/task/reminders[]"),
        ["channel", "remind_at", "reminder_id"]
    );
    // Optional in the model; the schema requires it for `reminder.due` (its `then`).
    assert_eq!(
        required(Topic::TaskUpdates, "task-updates/reminder"),
        ["channel", "remind_at", "reminder_id"]
    );
}

#[test]
fn models_have_the_expected_records() {
    let j = json_model(&contract(Topic::TaskEvents), Topic::TaskEvents);
    let paths: Vec<&str> = j.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            "task-events",
            "task-events/task_data",
            "task-events/task_data/reminders[]"
        ]
    );
    let data = &j["task-events/task_data"];
    assert!(!data["title"].optional);
    assert!(data["recurrence_id"].optional && data["recurrence_id"].nullable);
    assert_eq!(
        data["priority"].class,
        Class::Enum(["high", "low", "normal", "urgent"].map(String::from).into())
    );
    assert_eq!(
        data["reminders"].class,
        Class::List(Box::new(Class::Record))
    );
    let u = json_model(&contract(Topic::TaskUpdates), Topic::TaskUpdates);
    assert!(u["task-updates"]["task"].nullable && u["task-updates"]["task"].optional);
    assert_eq!(u["task-updates"]["sequence"].class, Class::Integer);
}

#[test]
fn comparison_reports_every_kind_of_difference() {
    let original = json_model(&contract(Topic::TaskEvents), Topic::TaskEvents);
    let mut altered = original.clone();
    let data = altered.get_mut("task-events/task_data").unwrap();
    data.remove("title");
    data.get_mut("completed").unwrap().class = Class::String;
    data.get_mut("due_date").unwrap().optional = false;
    if let Class::Enum(values) = &mut data.get_mut("priority").unwrap().class {
        values.insert("critical".into());
    }
    altered.remove("task-events/task_data/reminders[]");
    let differences = compare("original", &original, "altered", &altered);
    let text = differences.join("\n");
    assert_eq!(differences.len(), 5, "{text}");
    assert!(
        text.contains("task_data.title: in original, missing in altered"),
        "{text}"
    );
    assert!(
        text.contains("task_data.completed: original has boolean (required), altered has string"),
        "{text}"
    );
    assert!(text.contains("task_data.due_date: original has string (optional, nullable), altered has string (required, nullable)"), "{text}");
    assert!(text.contains("critical"), "{text}");
    assert!(
        text.contains("record task-events/task_data/reminders[]: in original, missing in altered"),
        "{text}"
    );
    assert!(compare("a", &original, "b", &original.clone()).is_empty());
}

#[test]
fn an_altered_contract_schema_is_caught() {
    let topic = Topic::TaskEvents;
    let wit = wit_model(&wit_text(), topic);
    let rust = json_model(&rust_schema(topic), topic);
    let mut schema = contract(topic);
    let data = &mut schema["$defs"]["task_data"];
    data["required"]
        .as_array_mut()
        .unwrap()
        .retain(|f| f != "title");
    data["properties"]["estimate_minutes"] = json!({"type": "integer", "description": "new"});
    schema["$defs"]["reminder"]["properties"]["offset_minutes"]["type"] = json!("string");
    let altered = json_model(&schema, topic);
    let text = disagreements(topic, &wit, &rust, &altered).join("\n");
    for needle in [
        "task_data.title",
        "task_data.estimate_minutes",
        "reminders[].offset_minutes",
    ] {
        assert!(text.contains(needle), "{needle} not reported:\n{text}");
    }
}

#[test]
fn an_altered_wit_is_caught() {
    let topic = Topic::TaskUpdates;
    let text = wit_text()
        .replace("offset-minutes: option<u32>", "offset-minutes: u32")
        .replace("sequence: u64", "sequence: string")
        .replace("        updated-at: option<timestamp>,\n    }\n\n    /// A reminder that fell due", "        updated-at: option<timestamp>,\n        pinned: bool,\n    }\n\n    /// A reminder that fell due")
        .replace("        reminder-due,\n", "")
        .replace("        task-title: option<string>,\n        /// Due date of the task, for", "        task-title: string,\n        /// Due date of the task, for");
    assert_ne!(text, wit_text());
    let wit = wit_model(&text, topic);
    let rust = json_model(&rust_schema(topic), topic);
    let json = json_model(&contract(topic), topic);
    let report = disagreements(topic, &wit, &rust, &json).join("\n");
    for needle in [
        "reminders[].offset_minutes",
        "task-updates.sequence",
        "task.pinned",
        "task-updates.event_type",
        "reminder.task_title",
    ] {
        assert!(report.contains(needle), "{needle} not reported:\n{report}");
    }
}

#[test]
fn wit_package_is_named_and_versioned() {
    let (resolve, interface) = parse_wit(&wit_text());
    let package = resolve.interfaces[interface].package.unwrap();
    assert_eq!(
        resolve.packages[package].name.to_string(),
        "todo:events@1.0.0"
    );
    assert!(resolve.packages[package].worlds.contains_key("event-types"));
}
