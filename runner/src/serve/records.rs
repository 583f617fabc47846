//! A finished run's record: `<state>/runs/<schedule>/<run id>/` holds the notebook as committed,
//! the executed notebook, the log, the manifest, the run's OpenLineage events and `run.json` (the
//! run as the scheduler saw it). Once finished the record is made read-only; only the retention
//! policy deletes it.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

use super::launch::RecordFiles;
use super::store::{Ending, RunRow, RunStatus};
use crate::exec::exit_code;
use crate::lineage::manifest::failed_cell;

/// How a run ended, from its manifest (the runner's own account) or, when the runner could not
/// write one, from its exit code and the end of its log.
pub fn ending(record: &Path, exit: Option<i32>, cancel_requested: bool) -> Ending {
    let manifest = manifest(record);
    let interrupted = |message: Option<String>| Ending {
        status: if cancel_requested { RunStatus::Cancelled } else { RunStatus::Interrupted },
        exit_code: exit,
        message,
        failing_cell: None,
    };
    let Some(manifest) = manifest else {
        return match exit {
            Some(0) => Ending { status: RunStatus::Succeeded, exit_code: exit, message: None, failing_cell: None },
            Some(code) if code == i32::from(exit_code::INTERRUPTED) => interrupted(log_tail(record)),
            None => interrupted(Some("the runner did not finish and left no manifest".into())),
            Some(_) => Ending { status: RunStatus::Failed, exit_code: exit, message: log_tail(record), failing_cell: None },
        };
    };
    let message = manifest["message"].as_str().map(str::to_owned);
    let exit_code = manifest["exit_code"].as_i64().and_then(|c| i32::try_from(c).ok()).or(exit);
    let failing_cell = failed_cell(&manifest).and_then(|c| u32::try_from(c).ok());
    let status = match manifest["status"].as_str() {
        Some("completed") => RunStatus::Succeeded,
        Some("refused") => RunStatus::Refused,
        Some("interrupted") => return interrupted(message),
        _ => RunStatus::Failed,
    };
    Ending { status, exit_code, message, failing_cell }
}

/// The run's manifest (the runner's account of it), if it wrote one that parses.
pub fn manifest(record: &Path) -> Option<Value> {
    std::fs::read(record.join(RecordFiles::MANIFEST)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// The last lines of the run's log: what the runner said before it stopped.
fn log_tail(record: &Path) -> Option<String> {
    let text = std::fs::read_to_string(record.join(RecordFiles::LOG)).ok()?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    (!tail.is_empty()).then_some(tail)
}

/// Copies the run's OpenLineage events out of the shared lineage file into the record.
pub fn keep_lineage(record: &Path, lineage_file: &Path, run_id: &str) -> std::io::Result<()> {
    let Ok(file) = std::fs::File::open(lineage_file) else { return Ok(()) };
    let mut kept = String::new();
    for line in BufReader::new(file).lines() {
        let line = line?;
        if !line.contains(run_id) {
            continue;
        }
        let event: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
        if event["run"]["runId"] == run_id {
            kept.push_str(&line);
            kept.push('\n');
        }
    }
    std::fs::write(record.join(RecordFiles::LINEAGE), kept)
}

/// Writes `run.json` and makes the record read-only.
pub fn seal(record: &Path, run: &RunRow) -> std::io::Result<()> {
    std::fs::create_dir_all(record)?;
    let json = serde_json::to_vec_pretty(run).map_err(std::io::Error::other)?;
    std::fs::write(record.join(RecordFiles::RUN), json)?;
    set_read_only(record, true)
}

fn set_read_only(dir: &Path, read_only: bool) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            set_read_only(&entry.path(), read_only)?;
        } else if kind.is_file() {
            let mode = if read_only { 0o444 } else { 0o644 };
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode))?;
        }
    }
    let mode = if read_only { 0o555 } else { 0o755 };
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
}

/// Deletes a record (retention).
pub fn remove(record: &Path) -> std::io::Result<()> {
    if !record.exists() {
        return Ok(());
    }
    set_read_only(record, false)?;
    std::fs::remove_dir_all(record)
}
