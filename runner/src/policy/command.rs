//! `runner policy`: show and edit the `[policy]` table of `tiffin.toml`, check a query against it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::edit::{self, Op};
use super::{Catalog, Columns, Dialect, Input, Mode, PolicyConfig, PolicyError, TableId, decide};
use crate::cli::{AllowArgs, CheckArgs, LabelArgs, PolicyArgs, PolicyCommand, SqlDialect};
use crate::data::{self, LABELS_TABLE};
use crate::exec::exit_code;

/// The configuration file looked for when `--config` is not given.
pub const CONFIG_FILE: &str = "tiffin.toml";

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no {CONFIG_FILE} in {0} or any parent directory; name one with --config FILE")]
    NoConfig(PathBuf),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Policy(PathBuf, PolicyError),
    #[error("{0}")]
    Query(PolicyError),
    #[error("the query is refused: {0}")]
    Refused(String),
}

impl CommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Write(..) => exit_code::INTERNAL,
            _ => exit_code::USAGE,
        }
    }
}

/// Runs a `runner policy` subcommand; the exit code (see `PolicyCommand::Check` for `check`'s).
pub async fn run(args: PolicyArgs) -> u8 {
    match execute(args).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("runner: {error}");
            error.exit_code()
        }
    }
}

async fn execute(args: PolicyArgs) -> Result<u8, CommandError> {
    let path = match args.config {
        Some(path) => path,
        None => find_config()?,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| CommandError::Read(path.clone(), e))?;
    match args.command {
        PolicyCommand::Show { json } => {
            let config = PolicyConfig::from_toml(&text).map_err(|e| CommandError::Policy(path.clone(), e))?;
            let stored = stored_labels(&path).await;
            print!("{}", if json { show_json(&config, &path, &stored) } else { show(&config, &stored) });
            Ok(0)
        }
        PolicyCommand::Label(args) => label(&path, &text, args, Op::Add),
        PolicyCommand::Unlabel(args) => label(&path, &text, args, Op::Remove),
        PolicyCommand::Allow(args) => allow(&path, &text, args, Op::Add),
        PolicyCommand::Disallow(args) => allow(&path, &text, args, Op::Remove),
        PolicyCommand::Check(args) => {
            let config = PolicyConfig::from_toml(&text).map_err(|e| CommandError::Policy(path.clone(), e))?;
            check(&config, &args)
        }
    }
}

fn label(path: &Path, text: &str, LabelArgs { table, labels, column }: LabelArgs, op: Op) -> Result<u8, CommandError> {
    let table = TableId::parse(&table).map_err(CommandError::Query)?;
    let edit = edit::label(text, &table, column.as_deref(), &labels, op).map_err(|e| CommandError::Policy(path.to_owned(), e))?;
    save(path, &edit.text)?;
    let target = match &column {
        Some(column) => format!("{table} column {}", column.trim().to_lowercase()),
        None => table.to_string(),
    };
    report(op, &target, &labels, &edit.changed, path);
    if op == Op::Add {
        warn_undeclared(&edit.text, &edit.changed);
    }
    Ok(0)
}

fn allow(path: &Path, text: &str, AllowArgs { label, purposes }: AllowArgs, op: Op) -> Result<u8, CommandError> {
    let edit = edit::allow(text, &label, &purposes, op).map_err(|e| CommandError::Policy(path.to_owned(), e))?;
    save(path, &edit.text)?;
    report(op, &format!("label {}", label.trim()), &purposes, &edit.changed, path);
    Ok(0)
}

/// `tiffin.toml` in the current directory or the nearest parent that has one.
fn find_config() -> Result<PathBuf, CommandError> {
    let here = std::env::current_dir().map_err(|e| CommandError::Read(".".into(), e))?;
    here.ancestors().map(|dir| dir.join(CONFIG_FILE)).find(|path| path.is_file()).ok_or(CommandError::NoConfig(here))
}

/// Replaces the file through a rename, so an interrupted write never leaves half a policy.
fn save(path: &Path, text: &str) -> Result<(), CommandError> {
    let failed = |e| CommandError::Write(path.to_owned(), e);
    let name = path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_else(|| CONFIG_FILE.into());
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let permissions = std::fs::metadata(path).map_err(failed)?.permissions();
    let written = std::fs::write(&temporary, text).and_then(|()| std::fs::set_permissions(&temporary, permissions));
    if let Err(error) = written.and_then(|()| std::fs::rename(&temporary, path)) {
        let _ = std::fs::remove_file(&temporary);
        return Err(failed(error));
    }
    Ok(())
}

fn report(op: Op, target: &str, wanted: &[String], changed: &[String], path: &Path) {
    let (done, verb) = match op {
        Op::Add => ("added to", "already had"),
        Op::Remove => ("removed from", "did not have"),
    };
    if !changed.is_empty() {
        println!("{} {done} {target} in {}", changed.join(", "), path.display());
    }
    let untouched: Vec<&str> = wanted.iter().map(|s| s.trim()).filter(|item| !changed.iter().any(|c| c == item)).collect();
    if !untouched.is_empty() {
        println!("{target} {verb} {}", untouched.join(", "));
    }
}

fn warn_undeclared(text: &str, added: &[String]) {
    let Ok(config) = PolicyConfig::from_toml(text) else { return };
    for label in added.iter().filter(|label| !config.labels.contains_key(*label)) {
        eprintln!("runner: note: label `{label}` is not in [policy.labels], so it allows no purpose (see `runner policy allow`)");
    }
}

/// The labels runs propagated to their outputs, read from every source of the configuration, or
/// why they could not be read.
async fn stored_labels(path: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let config = data::config::Config::load(path, dir).map_err(|e| e.to_string())?;
    let sources: BTreeSet<&str> = config.sources.keys().map(String::as_str).collect();
    data::stored_labels(&config, &sources).await.map_err(|e| e.to_string())
}

fn show(config: &PolicyConfig, stored: &Result<BTreeMap<String, BTreeSet<String>>, String>) -> String {
    let mut out = String::new();
    let list = |items: &BTreeSet<String>| {
        if items.is_empty() { "(nothing)".to_owned() } else { items.iter().cloned().collect::<Vec<_>>().join(", ") }
    };
    let _ = writeln!(out, "mode: {}", config.mode().as_str());
    let _ = writeln!(out, "\nlabels (label: purposes it allows):");
    if config.labels.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for (label, purposes) in &config.labels {
        let _ = writeln!(out, "  {label}: {}", list(purposes));
    }
    let _ = writeln!(out, "\ncatalog (table: labels):");
    let catalog = Catalog::declared(config);
    let mut empty = true;
    for (table, labels, columns) in catalog.entries() {
        empty = false;
        let table_labels = if labels.is_empty() { "(only column labels)".to_owned() } else { list(labels) };
        let _ = writeln!(out, "  {table}: {table_labels}");
        for (column, labels) in columns {
            let _ = writeln!(out, "    column {column}: {}", list(labels));
        }
    }
    if empty {
        let _ = writeln!(out, "  (none)");
    }
    let _ = writeln!(out, "\nreclassifications (output: labels dropped, reason):");
    if config.reclassify.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for entry in &config.reclassify {
        let _ = writeln!(out, "  {}: drops {} ({})", entry.output, list(&entry.drop), entry.reason);
    }
    let _ = writeln!(out, "\nlabels runs gave their outputs (stored in each source's {LABELS_TABLE} table):");
    match stored {
        Ok(tables) if tables.is_empty() => {
            let _ = writeln!(out, "  (none)");
        }
        Ok(tables) => {
            for (table, labels) in tables {
                let _ = writeln!(out, "  {table}: {}", list(labels));
            }
        }
        Err(error) => {
            let _ = writeln!(out, "  (cannot be read: {error})");
        }
    }
    let undeclared = config.undeclared_labels();
    if !undeclared.is_empty() {
        let _ = writeln!(out, "\nlabels not in [policy.labels], which allow no purpose: {}", list(&undeclared));
    }
    out
}

fn show_json(config: &PolicyConfig, path: &Path, stored: &Result<BTreeMap<String, BTreeSet<String>>, String>) -> String {
    let catalog: Vec<_> = Catalog::declared(config)
        .entries()
        .map(|(table, labels, columns)| serde_json::json!({"table": table, "labels": labels, "columns": columns}))
        .collect();
    let value = serde_json::json!({
        "config": path,
        "mode": config.mode(),
        "labels": config.labels,
        "tables": catalog,
        "reclassify": config.reclassify,
        "undeclared_labels": config.undeclared_labels(),
        "stored_labels": match stored {
            Ok(tables) => serde_json::json!(tables),
            Err(error) => serde_json::json!({"error": error}),
        },
    });
    format!("{value:#}\n")
}

/// Prints what the query reads and the verdict: 0 allowed, 1 refused, 2 when the query cannot be
/// read or resolved.
fn check(config: &PolicyConfig, args: &CheckArgs) -> Result<u8, CommandError> {
    let sql = if args.sql == Path::new("-") {
        let mut sql = String::new();
        std::io::stdin().read_to_string(&mut sql).map_err(|e| CommandError::Read("stdin".into(), e))?;
        sql
    } else {
        std::fs::read_to_string(&args.sql).map_err(|e| CommandError::Read(args.sql.clone(), e))?
    };
    let dialect = match args.dialect {
        SqlDialect::Sqlite => Dialect::Sqlite,
        SqlDialect::Postgres => Dialect::Postgres,
    };
    let catalog = Catalog::declared(config);
    let input = Input { cell: 1, name: "query", source: &args.source, dialect, sql: &sql };
    let decision = match decide(config, &catalog, args.purpose.as_deref(), &[input], &[]) {
        Ok(decision) => decision,
        Err(PolicyError::Unresolvable { reason, .. }) => return Err(CommandError::Refused(reason)),
        Err(error) => return Err(CommandError::Query(error)),
    };
    println!("reads:");
    for read in decision.inputs.iter().flat_map(|facts| &facts.reads) {
        let columns = match &read.columns {
            Columns::All => "all columns".to_owned(),
            Columns::Some(names) => format!("columns among: {}", names.iter().cloned().collect::<Vec<_>>().join(", ")),
        };
        let labels = catalog.labels_read(read);
        let labels = if labels.is_empty() { "none".to_owned() } else { labels.into_iter().collect::<Vec<_>>().join(", ") };
        println!("  {} ({columns}); labels: {labels}", read.table);
    }
    if decision.inputs.iter().all(|facts| facts.reads.is_empty()) {
        println!("  (no tables)");
    }
    let purpose = args.purpose.as_deref().map_or("a run without a purpose".to_owned(), |purpose| format!("purpose `{purpose}`"));
    if decision.violations.is_empty() {
        println!("{purpose}: allowed");
        return Ok(0);
    }
    println!("{purpose}: refused");
    for violation in &decision.violations {
        println!("  {}", violation.reason);
    }
    if config.mode() == Mode::Log {
        println!("(mode is log: a run would go ahead and record these violations)");
    }
    Ok(1)
}
