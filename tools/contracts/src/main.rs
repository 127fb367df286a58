//! `todo-contracts`: checks that the event JSON Schemas evolve with the right version bumps.
//!
//! Exit status: 0 when the check passes, 1 when it fails (or, with `--check`, when a generated
//! file is stale), 2 on an error (unreadable file, invalid JSON, bad arguments). `accepts` exits
//! 0 once every line has its decision.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use todo_contracts::{
    changelog, check_dir_in, decide, diff_schemas, release, required_bump, to_draft07, Layout,
    Scope, Selection, VERSION_KEY,
};
use todo_events::{EventSchema, Topic};

/// Schema-evolution checker for the event contracts, like `buf breaking` for protobuf.
#[derive(Debug, Parser)]
#[command(name = "todo-contracts", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compare each working schema with its latest release and every other release of its
    /// MAJOR; fail when the version bump from any of them is too small, naming the release.
    Check {
        /// The contracts directory: <topic>.schema.json and releases/<topic>/<version>.schema.json.
        #[arg(long, default_value = "contracts/events")]
        dir: PathBuf,
        /// Compare with the latest release only, not every release of the MAJOR.
        #[arg(long)]
        latest_only: bool,
    },
    /// Write the changelog made from the releases (per topic and version: each change as the
    /// checker names it, and the bump it needed).
    Changelog {
        /// The contracts directory.
        #[arg(long, default_value = "contracts/events")]
        dir: PathBuf,
        /// The changelog file.
        #[arg(long, default_value = "contracts/CHANGELOG.md")]
        out: PathBuf,
        /// Write nothing; fail (exit 1) when the file is not what would be written.
        #[arg(long)]
        check: bool,
    },
    /// Write each working schema as JSON Schema draft-07 (<out>/<topic>.draft-07.json), the
    /// dialect the AsyncAPI tools read; contracts/asyncapi.yaml references these files.
    AsyncapiSchemas {
        /// The contracts directory.
        #[arg(long, default_value = "contracts/events")]
        dir: PathBuf,
        /// Where the draft-07 files go.
        #[arg(long, default_value = "contracts/asyncapi")]
        out: PathBuf,
        /// Write nothing; fail (exit 1) when a file is missing or not what would be written.
        #[arg(long)]
        check: bool,
    },
    /// Run the check and, if it passes, copy the working schema(s) into releases/.
    Release {
        /// The contracts directory.
        #[arg(long, default_value = "contracts/events")]
        dir: PathBuf,
        /// The topic to release.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        topic: Option<String>,
        /// Release every topic.
        #[arg(long)]
        all: bool,
    },
    /// Print the classified changes between two schema files.
    Diff {
        /// The old schema.
        old: PathBuf,
        /// The new schema.
        new: PathBuf,
    },
    /// Run the services' consumer path, built with SCHEMA, on events: one JSON event (or
    /// CloudEvent) per line on stdin, one JSON decision per line on stdout
    /// ({"decision":"SUCCESS","version":...} or {"decision":"DROP","reason":...}).
    Accepts {
        /// The schema the consumer is built with; its x-schema-version is the version it knows.
        #[arg(long)]
        schema: PathBuf,
        /// Also decode accepted events into this topic's Rust type (task-events, reminders,
        /// task-updates), as that topic's services do.
        #[arg(long = "as", value_name = "TOPIC")]
        as_topic: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("todo-contracts: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs one command; `Ok(false)` means the check failed.
fn run(command: Command) -> anyhow::Result<bool> {
    match command {
        Command::Check { dir, latest_only } => {
            let scope = if latest_only {
                Scope::LatestOnly
            } else {
                Scope::EveryReleaseOfMajor
            };
            let report =
                check_dir_in(&dir, scope).with_context(|| format!("checking {}", dir.display()))?;
            report.lines().iter().for_each(|l| println!("{l}"));
            Ok(report.passed())
        }
        Command::Changelog { dir, out, check } => {
            let text = changelog(&dir)
                .with_context(|| format!("making the changelog of {}", dir.display()))?;
            generated(
                &out,
                &text,
                check,
                "cargo run -p todo-contracts -- changelog",
            )
        }
        Command::AsyncapiSchemas { dir, out, check } => {
            let mut fresh = true;
            let working = Layout::new(&dir)
                .working()
                .with_context(|| format!("reading the working schemas in {}", dir.display()))?;
            anyhow::ensure!(
                !working.is_empty(),
                "no working schemas (*.schema.json) in {}",
                dir.display()
            );
            for w in working {
                let rendered = to_draft07(&w.doc)
                    .with_context(|| format!("rendering {} as draft-07", w.path.display()))?;
                let text = serde_json::to_string_pretty(&rendered)? + "\n";
                let path = out.join(format!("{}.draft-07.json", w.topic));
                let how = "cargo run -p todo-contracts -- asyncapi-schemas";
                fresh &= generated(&path, &text, check, how)?;
            }
            Ok(fresh)
        }
        Command::Release { dir, topic, all } => {
            let selection = match (topic, all) {
                (Some(t), false) => Selection::Topic(t),
                _ => Selection::All,
            };
            let (report, outcomes) = release(&dir, &selection)
                .with_context(|| format!("releasing from {}", dir.display()))?;
            report.lines().iter().for_each(|l| println!("{l}"));
            outcomes.iter().for_each(|o| println!("{o}"));
            Ok(report.passed())
        }
        Command::Diff { old, new } => {
            diff_files(&old, &new)?;
            Ok(true)
        }
        Command::Accepts { schema, as_topic } => {
            accepts(&schema, as_topic.as_deref())?;
            Ok(true)
        }
    }
}

/// Writes a generated file, or with `check` compares it: `Ok(false)` when it is stale.
fn generated(path: &Path, text: &str, check: bool, how: &str) -> anyhow::Result<bool> {
    if !check {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
        return Ok(true);
    }
    match std::fs::read_to_string(path) {
        Ok(current) if current == text => {
            println!("{} is current", path.display());
            Ok(true)
        }
        Ok(_) => {
            println!("{} is stale: regenerate it with `{how}`", path.display());
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("{} is missing: generate it with `{how}`", path.display());
            Ok(false)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn accepts(schema: &Path, as_topic: Option<&str>) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(schema).with_context(|| format!("reading {}", schema.display()))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", schema.display()))?;
    let name = schema
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("schema")
        .trim_end_matches(".json")
        .trim_end_matches(".schema");
    let compiled = EventSchema::new(name, &doc)?;
    let typed = match as_topic {
        None => None,
        Some(t) => Some(Topic::from_name(t).ok_or_else(|| {
            anyhow::anyhow!("--as {t}: not a topic (task-events, reminders, task-updates)")
        })?),
    };
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        writeln!(out, "{}", decide(&compiled, typed, &line))?;
    }
    out.flush()?;
    Ok(())
}

fn diff_files(old: &Path, new: &Path) -> anyhow::Result<()> {
    let read = |p: &Path| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    };
    let (a, b) = (read(old)?, read(new)?);
    let changes = diff_schemas(&a, &b)
        .with_context(|| format!("comparing {} with {}", old.display(), new.display()))?;
    for change in &changes {
        println!("{change}");
    }
    match required_bump(&changes) {
        None => println!("no changes"),
        Some(bump) => println!("{} change(s), required bump: {bump}", changes.len()),
    }
    let version = |v: &serde_json::Value| {
        v.get(VERSION_KEY)
            .and_then(|s| s.as_str())
            .map(str::to_owned)
    };
    if let (Some(from), Some(to)) = (version(&a), version(&b)) {
        println!("{VERSION_KEY}: {from} -> {to}");
    }
    Ok(())
}
