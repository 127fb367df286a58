//! The check compares the working schema with every release of its MAJOR, not only the newest
//! (issue 22): consumers of any MINOR of the MAJOR must accept what producers send.
//!
//! - A chain where the newest-only check passes and the full check fails: a release that was
//!   made outside today's rules (by hand, or under the rules before issue 7, when a widened enum
//!   was MINOR) sits between the oldest consumer and the working schema.
//! - A property test: chains in which every release was bumped as the checker requires against
//!   the release before it never fail the full check. Under the checker's rules a gap can only
//!   come from a release that did not follow them, which is what the full check is there to
//!   catch (and `todo-contracts release` now runs the full check, so it refuses such a release).

use std::fs;
use std::path::Path;
use std::process::Command;

use proptest::prelude::*;
use serde_json::{json, Value};
use todo_contracts::{
    check_dir, check_dir_in, diff_schemas, required_bump, Bump, SchemaVersion, Scope,
};

fn write(path: &Path, doc: &Value) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, serde_json::to_string_pretty(doc).unwrap() + "\n").unwrap();
}

fn versioned(schema: &Value, version: &str) -> Value {
    let mut doc = schema.clone();
    doc["x-schema-version"] = json!(version);
    doc
}

fn task(priorities: &[&str], description: &str) -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "description": description,
        "required": ["event_id", "priority"],
        "properties": {
            "event_id": {"type": "string", "format": "uuid"},
            "priority": {"type": "string", "enum": priorities}
        }
    })
}

/// Runs `todo-contracts check [args]` on `events`: (exit code, stdout).
fn check(events: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_todo-contracts"))
        .arg("check")
        .args(args)
        .arg("--dir")
        .arg(events)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn newest_only_passes_where_the_full_check_names_the_broken_release() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    let releases = events.join("releases/task-events");
    // 1.0.0; 1.1.0 widened `priority` as a MINOR (the rule before issue 7), so a 1.0 consumer
    // drops a 1.1 event with "urgent"; the working 1.1.1 only rewords the description.
    write(
        &releases.join("1.0.0.schema.json"),
        &versioned(&task(&["low", "normal", "high"], "a task event"), "1.0.0"),
    );
    let widened = task(&["low", "normal", "high", "urgent"], "a task event");
    write(
        &releases.join("1.1.0.schema.json"),
        &versioned(&widened, "1.1.0"),
    );
    let working = task(
        &["low", "normal", "high", "urgent"],
        "an event about a task",
    );
    write(
        &events.join("task-events.schema.json"),
        &versioned(&working, "1.1.1"),
    );

    let (code, out) = check(&events, &["--latest-only"]);
    assert_eq!(code, 0, "newest-only should pass:\n{out}");
    assert!(
        out.contains("task-events: ok, version 1.1.0 -> 1.1.1 is PATCH, changes need PATCH"),
        "{out}"
    );

    let (code, out) = check(&events, &[]);
    assert_eq!(code, 1, "the full check should fail:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.contains(&"task-events: since 1.0.0: /properties/priority/enum added \"urgent\" (widened enum) needs MAJOR"),
        "{out}"
    );
    assert!(
        lines.contains(&"task-events: error: breaks release 1.0.0: the changes since 1.0.0 need MAJOR but version 1.0.0 -> 1.1.1 is MINOR"),
        "{out}"
    );
    // the description change alone is covered by the step, so it is not listed as a cause
    assert!(!out.contains("since 1.0.0: /description"), "{out}");

    // and release refuses it
    let out = Command::new(env!("CARGO_BIN_EXE_todo-contracts"))
        .args(["release", "task-events", "--dir"])
        .arg(&events)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(!releases.join("1.1.1.schema.json").exists());
}

#[test]
fn releases_of_an_older_major_are_not_compared() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("contracts/events");
    let releases = events.join("releases/task-events");
    write(
        &releases.join("1.0.0.schema.json"),
        &versioned(&task(&["low", "normal"], "d"), "1.0.0"),
    );
    // 2.0.0 widened the enum as a MAJOR should
    write(
        &releases.join("2.0.0.schema.json"),
        &versioned(&task(&["low", "normal", "high"], "d"), "2.0.0"),
    );
    write(
        &events.join("task-events.schema.json"),
        &versioned(&task(&["low", "normal", "high"], "e"), "2.0.1"),
    );
    let report = check_dir(&events).unwrap();
    assert!(report.passed(), "{:#?}", report.lines());
}

// ---- the property ---------------------------------------------------------------------------

/// One edit of an event schema: an object with properties `p0`, `p1`, ... (strings with an
/// enum, strings with a maxLength, integers), some required, and `$defs`.
#[derive(Debug, Clone)]
enum Edit {
    AddOptional(u8),
    AddRequired(u8),
    Remove(usize),
    Require(usize),
    Unrequire(usize),
    WidenEnum(usize),
    NarrowEnum(usize),
    ReorderEnum(usize),
    MaxLength(usize, i8),
    Describe(usize, u8),
    ChangeType(usize),
    AddDef(u8),
    MoveBehindRef(usize),
    CloseObject,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => any::<u8>().prop_map(Edit::AddOptional),
        1 => any::<u8>().prop_map(Edit::AddRequired),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => any::<usize>().prop_map(Edit::Require),
        1 => any::<usize>().prop_map(Edit::Unrequire),
        1 => any::<usize>().prop_map(Edit::WidenEnum),
        1 => any::<usize>().prop_map(Edit::NarrowEnum),
        2 => any::<usize>().prop_map(Edit::ReorderEnum),
        1 => (any::<usize>(), -3i8..=3).prop_map(|(i, d)| Edit::MaxLength(i, d)),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(i, t)| Edit::Describe(i, t)),
        1 => any::<usize>().prop_map(Edit::ChangeType),
        2 => any::<u8>().prop_map(Edit::AddDef),
        2 => any::<usize>().prop_map(Edit::MoveBehindRef),
        1 => Just(Edit::CloseObject),
    ]
}

fn base() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["p0"],
        "properties": {
            "p0": {"type": "string", "enum": ["a", "b"]},
            "p1": {"type": "string", "maxLength": 10},
            "p2": {"type": "integer"}
        },
        "$defs": {}
    })
}

/// The property names, sorted.
fn names(doc: &Value) -> Vec<String> {
    doc["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// The schema of property `name`, following a `$ref` into `$defs` (edits apply where it is).
fn target<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    let r = doc["properties"][name]["$ref"].as_str().map(str::to_owned);
    match r {
        Some(r) => {
            let def = r.trim_start_matches("#/$defs/").to_owned();
            &mut doc["$defs"][def]
        }
        None => &mut doc["properties"][name],
    }
}

/// Applies an edit; `None` when it does not apply to this schema.
fn apply(doc: &Value, edit: &Edit, fresh: &mut u32) -> Option<Value> {
    let mut doc = doc.clone();
    let props = names(&doc);
    let pick = |i: usize| props.get(i % props.len().max(1)).cloned();
    let mut new_name = || {
        *fresh += 1;
        format!("n{fresh}")
    };
    match edit {
        Edit::AddOptional(k) | Edit::AddRequired(k) => {
            let name = new_name();
            let schema = match k % 3 {
                0 => json!({"type": "string", "enum": ["x", "y"]}),
                1 => json!({"type": "string", "maxLength": 5}),
                _ => json!({"type": "integer"}),
            };
            doc["properties"][&name] = schema;
            if matches!(edit, Edit::AddRequired(_)) {
                doc["required"].as_array_mut()?.push(json!(name));
            }
        }
        Edit::Remove(i) => {
            let name = pick(*i)?;
            doc["properties"].as_object_mut()?.remove(&name);
            doc["required"]
                .as_array_mut()?
                .retain(|n| n != &json!(name));
        }
        Edit::Require(i) => {
            let name = pick(*i)?;
            let required = doc["required"].as_array_mut()?;
            if required.contains(&json!(name)) {
                return None;
            }
            required.push(json!(name));
        }
        Edit::Unrequire(i) => {
            let name = pick(*i)?;
            let required = doc["required"].as_array_mut()?;
            let before = required.len();
            required.retain(|n| n != &json!(name));
            if required.len() == before {
                return None;
            }
        }
        Edit::WidenEnum(i) | Edit::NarrowEnum(i) | Edit::ReorderEnum(i) => {
            let name = pick(*i)?;
            let values = target(&mut doc, &name).get_mut("enum")?.as_array_mut()?;
            match edit {
                Edit::WidenEnum(_) => values.push(json!(format!("v{}", values.len()))),
                Edit::NarrowEnum(_) if values.len() > 1 => {
                    values.pop();
                }
                Edit::ReorderEnum(_) if values.len() > 1 => values.reverse(),
                _ => return None,
            }
        }
        Edit::MaxLength(i, d) => {
            let name = pick(*i)?;
            let max = target(&mut doc, &name).get_mut("maxLength")?;
            let now = max.as_i64()? + i64::from(*d);
            if *d == 0 || now < 0 {
                return None;
            }
            *max = json!(now);
        }
        Edit::Describe(i, t) => {
            let name = pick(*i)?;
            target(&mut doc, &name)["description"] = json!(format!("words {t}"));
        }
        Edit::ChangeType(i) => {
            let name = pick(*i)?;
            let schema = target(&mut doc, &name);
            let ty = if schema["type"] == "integer" {
                "string"
            } else {
                "integer"
            };
            *schema = json!({ "type": ty });
        }
        Edit::AddDef(k) => {
            let name = format!("d{}", new_name());
            doc["$defs"][name] = json!({"type": "string", "maxLength": k});
        }
        Edit::MoveBehindRef(i) => {
            let name = pick(*i)?;
            let inline = doc["properties"][&name].clone();
            if inline.get("$ref").is_some() {
                return None;
            }
            let def = format!("d{}", new_name());
            doc["$defs"][&def] = inline;
            doc["properties"][&name] = json!({ "$ref": format!("#/$defs/{def}") });
        }
        Edit::CloseObject => {
            if doc.get("additionalProperties").is_some() {
                return None;
            }
            doc["additionalProperties"] = json!(false);
        }
    }
    Some(doc)
}

/// The next version after `v` for a change needing `bump`.
fn bumped(v: SchemaVersion, bump: Option<Bump>) -> SchemaVersion {
    match bump {
        None | Some(Bump::Patch) => SchemaVersion::new(v.major, v.minor, v.patch + 1),
        Some(Bump::Minor) => SchemaVersion::new(v.major, v.minor + 1, 0),
        Some(Bump::Major) => SchemaVersion::new(v.major + 1, 0, 0),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every release of the chain and the working schema are bumped as the checker requires
    /// against the release before them; then the full check passes too.
    #[test]
    fn chains_released_by_the_rules_pass_the_full_check(edits in prop::collection::vec(edit(), 1..10)) {
        let dir = tempfile::tempdir().unwrap();
        let events = dir.path().join("contracts/events");
        let mut fresh = 0;
        let mut doc = base();
        let mut version = SchemaVersion::new(1, 0, 0);
        let mut chain = vec![(version, doc.clone())];
        for e in &edits {
            let Some(next) = apply(&doc, e, &mut fresh) else { continue };
            let changes = diff_schemas(&doc, &next).unwrap();
            if changes.is_empty() {
                continue;
            }
            version = bumped(version, required_bump(&changes));
            doc = next;
            chain.push((version, doc.clone()));
        }
        let (working_version, working) = chain.pop().unwrap();
        for (v, d) in &chain {
            write(&events.join(format!("releases/t/{v}.schema.json")), &versioned(d, &v.to_string()));
        }
        write(&events.join("t.schema.json"), &versioned(&working, &working_version.to_string()));
        let newest = check_dir_in(&events, Scope::LatestOnly).unwrap();
        prop_assert!(newest.passed(), "{:#?}", newest.lines());
        let full = check_dir(&events).unwrap();
        prop_assert!(full.passed(), "chain {:?}\n{:#?}", chain.iter().map(|c| c.0.to_string()).collect::<Vec<_>>(), full.lines());
    }
}
