//! `todo-migrate [--url <postgres url>]`: applies the project's SQL migrations.
//!
//! The URL comes from `--url` or else the environment variable `TODO_PG_URL` (the same variable
//! the self-hosted Dapr components read). Prints each applied version and the current one;
//! running it again applies nothing.

use std::process::ExitCode;

use anyhow::{bail, Context, Result};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todo-migrate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let url = parse_args(std::env::args().skip(1))?;
    let mut client = todo_migrate::connect(&url)?;
    let applied = todo_migrate::apply(&mut client)?;
    if applied.is_empty() {
        println!("todo-migrate: database is up to date");
    }
    for m in &applied {
        println!("todo-migrate: applied V{}__{}", m.version, m.name);
    }
    let current = todo_migrate::current_version(&mut client)?;
    match current {
        Some(v) => println!("todo-migrate: current version V{v}"),
        None => bail!("no migration recorded after applying them"),
    }
    Ok(())
}

const USAGE: &str = "usage: todo-migrate [--url <postgres url>] (or set TODO_PG_URL)";

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<String> {
    let mut url = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => url = Some(args.next().context(USAGE)?),
            "--list" => {
                for m in todo_migrate::migrations() {
                    println!("V{}__{}", m.version, m.name);
                }
                std::process::exit(0);
            }
            "-h" | "--help" => {
                println!("{USAGE}\n       todo-migrate --list   (the embedded migrations)");
                std::process::exit(0);
            }
            other => {
                if let Some(v) = other.strip_prefix("--url=") {
                    url = Some(v.to_owned());
                } else {
                    bail!("unknown argument {other:?}\n{USAGE}");
                }
            }
        }
    }
    match url.or_else(|| std::env::var("TODO_PG_URL").ok()) {
        Some(u) if !u.trim().is_empty() => Ok(u),
        _ => bail!("no database URL\n{USAGE}"),
    }
}
