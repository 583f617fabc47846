//! The trial run of a submission: the runner's own binary runs `runner exec --trial` on the
//! notebook, sandboxed like any scheduled run, with the first run's parameters. Its uploads are
//! loaded and rolled back (types and rows checked against the real tables, nothing visible), it
//! leaves no lineage events and stores no labels; its manifest is its record.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::exec_args::{Arg, exec_arguments};
use super::preview::Preview;
use crate::schedule::template;

#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("cannot find the runner's own binary: {0}")]
    Binary(std::io::Error),
    #[error("cannot start the trial run: {0}")]
    Spawn(std::io::Error),
    #[error("the trial run's log {0}: {1}")]
    Log(PathBuf, std::io::Error),
    #[error("parameter value `{0}`: {1}")]
    Render(String, String),
}

/// How the trial run ended.
#[derive(Debug, Clone)]
pub struct TrialRun {
    pub exit_code: i32,
    /// The run manifest (`null` when the runner stopped before writing one).
    pub manifest: Value,
    /// The runner's own messages (its stderr, also in [`log_file`] while it runs).
    pub log: String,
    /// The executed notebook and the run's CSVs (in/, out/).
    pub notebook: PathBuf,
    pub data: PathBuf,
}

impl TrialRun {
    pub fn succeeded(&self) -> bool {
        self.exit_code == 0
    }

    /// `cell N raised ...`: the manifest's message, else the runner's last words.
    pub fn failure(&self) -> Option<String> {
        if self.succeeded() {
            return None;
        }
        let message = self.manifest["message"].as_str().map(str::to_owned);
        Some(message.unwrap_or_else(|| self.log.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("the runner failed").to_owned()))
    }
}

/// Where the trial run in `scratch` writes its messages as it goes (one line per finished cell),
/// for whoever follows its progress.
pub fn log_file(scratch: &Path) -> PathBuf {
    scratch.join("trial.log")
}

/// Runs the trial in `scratch` (the executed notebook, the manifest, the log and the data go there).
pub async fn run(preview: &Preview, scratch: &Path) -> Result<TrialRun, TrialError> {
    let binary = std::env::current_exe().map_err(TrialError::Binary)?;
    let notebook = scratch.join("trial.ipynb");
    let manifest = scratch.join("manifest.json");
    let data = scratch.join("data");
    let mut args = Vec::new();
    for arg in exec_arguments(&preview.spec, &preview.notebook_file.to_string_lossy()).into_iter().flatten() {
        args.push(match arg {
            Arg::Plain(text) => text,
            Arg::Template(text) => template::render(&text, preview.first_run.logical).map_err(|e| TrialError::Render(text, e))?,
        });
    }
    let trial_args =
        ["--trial".into(), "--manifest".into(), path(&manifest), "--keep-data".into(), path(&data), "-o".into(), path(&notebook)];
    args.extend(trial_args);
    tracing::info!(?args, "trial run");
    let log_path = log_file(scratch);
    let log = std::fs::File::create(&log_path).map_err(|e| TrialError::Log(log_path.clone(), e))?;
    let status = tokio::process::Command::new(binary)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .status()
        .await
        .map_err(TrialError::Spawn)?;
    let manifest = std::fs::read_to_string(&manifest).ok().and_then(|text| serde_json::from_str(&text).ok()).unwrap_or(Value::Null);
    let log = std::fs::read(&log_path).map_err(|e| TrialError::Log(log_path, e))?;
    Ok(TrialRun { exit_code: status.code().unwrap_or(-1), manifest, log: String::from_utf8_lossy(&log).into_owned(), notebook, data })
}

fn path(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
