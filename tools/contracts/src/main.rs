//! `todo-contracts`: checks that the event JSON Schemas evolve with the right version bumps.
//!
//! Exit status: 0 when the check passes, 1 when it fails, 2 on an error (unreadable file,
//! invalid JSON, bad arguments). `accepts` exits 0 once every line has its decision.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use todo_contracts::{
    check_dir, decide, diff_schemas, release, required_bump, Selection, VERSION_KEY,
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
    /// Compare each working schema with its latest release; fail when the version bump is too small.
    Check {
        /// The contracts directory: <topic>.schema.json and releases/<topic>/<version>.schema.json.
        #[arg(long, default_value = "contracts/events")]
        dir: PathBuf,
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
        Command::Check { dir } => {
            let report = check_dir(&dir).with_context(|| format!("checking {}", dir.display()))?;
            report.lines().iter().for_each(|l| println!("{l}"));
            Ok(report.passed())
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
