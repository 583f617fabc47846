//! Starting one run: its record directory gets the notebook as committed on main, and the same
//! `runner exec` a user or an Airflow worker would type runs it in the sandbox, with its output
//! going straight to files in the record (not through the daemon), so a run outlives a daemon that
//! is killed and its record stays whole.

use std::fs::File;
use std::path::Path;
use std::process::Stdio;

use chrono::DateTime;
use chrono_tz::Tz;
use tokio::process::{Child, Command};

use super::repo::Repo;
use super::store::RunRow;
use crate::schedule::{Parameter, Spec, template};

/// The files of a run's record.
pub struct RecordFiles;

impl RecordFiles {
    pub const NOTEBOOK: &'static str = "notebook.ipynb";
    pub const EXECUTED: &'static str = "executed.ipynb";
    pub const LOG: &'static str = "log.txt";
    pub const MANIFEST: &'static str = "manifest.json";
    pub const LINEAGE: &'static str = "lineage.jsonl";
    pub const OUTPUTS: &'static str = "out";
    pub const RUN: &'static str = "run.json";
}

/// What a started run needs to be finished later.
pub struct Started {
    pub child: Child,
    pub pid: i32,
}

/// The parameters of a run, macros rendered for its logical time, as `runner exec` arguments:
/// text with `-r` (always a string), other literals with `-p` (typed as papermill types them).
fn parameter_args(spec: &Spec, logical: DateTime<Tz>) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    for (name, value) in &spec.parameters {
        let (flag, text) = match value {
            Parameter::Text(text) => ("-r", template::render(text, logical).map_err(|e| format!("parameter {name}: {e}"))?),
            Parameter::Int(i) => ("-p", i.to_string()),
            Parameter::Float(f) => ("-p", format!("{f:?}")),
            Parameter::Bool(b) => ("-p", if *b { "True" } else { "False" }.to_owned()),
        };
        args.extend([flag.to_owned(), name.clone(), text]);
    }
    Ok(args)
}

/// Writes the record's notebook and starts `runner exec` on it.
pub fn start(repo: &Repo, run: &RunRow, spec: &Spec, notebook: &str, logical: DateTime<Tz>) -> Result<Started, String> {
    let record = Path::new(&run.record_dir);
    std::fs::create_dir_all(record).map_err(|e| format!("creating the run record {}: {e}", record.display()))?;
    let committed = repo.git.show(&run.commit, notebook).map_err(|e| e.to_string())?;
    let input = record.join(RecordFiles::NOTEBOOK);
    std::fs::write(&input, committed).map_err(|e| format!("writing {}: {e}", input.display()))?;
    let config = repo.config_for(&run.commit, notebook)?;
    let home = repo.home(notebook);
    if !home.is_dir() {
        return Err(format!("{} is not in the work tree {}: check out {} there", home.display(), repo.root().display(), repo.branch));
    }
    let exe = std::env::current_exe().map_err(|e| format!("finding the runner binary: {e}"))?;
    let log = File::create(record.join(RecordFiles::LOG)).map_err(|e| format!("creating the run log: {e}"))?;
    let log_err = log.try_clone().map_err(|e| format!("creating the run log: {e}"))?;
    let mut command = Command::new(exe);
    command
        .arg("exec")
        .arg(&input)
        .arg("--output")
        .arg(record.join(RecordFiles::EXECUTED))
        .arg("--copy-of")
        .arg(repo.root().join(notebook))
        .arg("--manifest")
        .arg(record.join(RecordFiles::MANIFEST))
        .arg("--outputs")
        .arg(record.join(RecordFiles::OUTPUTS))
        .arg("--run-id")
        .arg(&run.id)
        .arg("--purpose")
        .arg(&spec.purpose)
        .arg("--log-output");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    if let Some(timeout) = spec.limits.timeout {
        command.arg("--timeout").arg(timeout.as_secs().to_string());
    }
    if let Some(timeout) = spec.limits.cell_timeout {
        command.arg("--cell-timeout").arg(timeout.as_secs().to_string());
    }
    if let Some(memory) = spec.limits.memory {
        command.arg("--memory").arg(memory.to_string());
    }
    command.args(parameter_args(spec, logical)?);
    // The run is not killed with the daemon: a restarted daemon adopts it (see `recover`).
    command.stdin(Stdio::null()).stdout(log).stderr(log_err).kill_on_drop(false);
    let child = command.spawn().map_err(|e| format!("starting runner exec: {e}"))?;
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).ok_or("runner exec exited before it could be watched")?;
    Ok(Started { child, pid })
}

/// A process's state (field 3 of /proc/PID/stat) and start time (field 22, clock ticks since
/// boot): with the pid, the start time names the process, so a pid reused by another process is
/// not taken for the run after a restart.
fn stat(pid: i32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time of process `pid`, recorded to recognise it after a restart.
pub fn process_start(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// Whether the process that ran as `pid` since `start` is still there (and not a zombie).
pub fn still_running(pid: i32, start: u64) -> bool {
    stat(pid).is_some_and(|(state, started)| state != 'Z' && started == start)
}

/// The run's logical time, parsed back from the store.
pub fn logical_time(run: &RunRow, spec: &Spec) -> Result<DateTime<Tz>, String> {
    DateTime::parse_from_rfc3339(&run.logical_time)
        .map(|t| t.with_timezone(&spec.timezone))
        .map_err(|e| format!("logical time `{}`: {e}", run.logical_time))
}
