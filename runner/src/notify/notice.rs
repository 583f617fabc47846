//! The facts a notice tells: which schedule and run, how it ended, and for a failure the cell that
//! failed with its error. Built from the run manifest (see `lineage::manifest`) and the executed
//! notebook it names, or directly by the scheduler (a slow run has no manifest yet).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::exec::ERROR_CELL_TAG;
use crate::lineage::manifest::failed_cell;
use crate::notebook::CellType;

#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub schedule: String,
    pub run_id: String,
    /// The run's logical date and time as the schedule names it, e.g. `2026-11-27T06:00`.
    pub logical_date: String,
    /// 1 for the first try, 2 for the first retry, ...
    pub attempt: u32,
    /// As the manifest says it (`completed`, `failed`, `data_failed`, ...), or `running`.
    pub status: String,
    /// What went wrong, as the runner said it (the manifest's `message`).
    pub message: Option<String>,
    pub failing_cell: Option<FailingCell>,
    /// How long the run took (or has been running, for a slow run).
    pub duration: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingCell {
    /// 1-based, as users count cells (the manifest's numbering).
    pub cell: usize,
    pub source: String,
    pub error: Option<CellError>,
}

/// The error output of a cell, as the kernel sent it (the traceback may hold ANSI colour codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

impl CellError {
    /// The first error among notebook cell outputs (nbformat JSON).
    pub fn first_in<'a>(outputs: impl IntoIterator<Item = &'a Value>) -> Option<Self> {
        let error = outputs.into_iter().find(|output| output["output_type"] == "error")?;
        let text = |key: &str| error[key].as_str().unwrap_or_default().to_owned();
        let traceback = error["traceback"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect();
        Some(Self { ename: text("ename"), evalue: text("evalue"), traceback })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("cannot read the run manifest {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("the run manifest {0} is not a manifest: {1}")]
    Shape(PathBuf, String),
}

/// Which run of which schedule a manifest belongs to: the manifest itself does not know.
#[derive(Debug, Clone)]
pub struct RunOf<'a> {
    pub schedule: &'a str,
    pub logical_date: &'a str,
    pub attempt: u32,
}

impl Notice {
    /// The notice of a finished run, from its manifest file. The failing cell's source and error
    /// come from the executed notebook the manifest names; when that cannot be read (written to
    /// stdout, or gone) the notice still says which cell failed and the runner's message.
    pub fn from_manifest(path: &Path, run: &RunOf) -> Result<Self, NoticeError> {
        let text = std::fs::read_to_string(path).map_err(|e| NoticeError::Read(path.to_owned(), e))?;
        let manifest: Value = serde_json::from_str(&text).map_err(|e| NoticeError::Shape(path.to_owned(), e.to_string()))?;
        let shape = |problem: &str| NoticeError::Shape(path.to_owned(), problem.to_owned());
        let run_id = manifest["run_id"].as_str().ok_or_else(|| shape("no `run_id`"))?;
        let status = manifest["status"].as_str().ok_or_else(|| shape("no `status`"))?;
        let seconds = manifest["seconds"].as_f64().ok_or_else(|| shape("no `seconds`"))?;
        manifest["cells"].as_array().ok_or_else(|| shape("no `cells`"))?;
        let failed = failed_cell(&manifest).and_then(|cell| usize::try_from(cell).ok());
        let executed = manifest["notebook"]["output"].as_str().filter(|output| *output != "-").map(Path::new);
        let failing_cell = failed.map(|cell| match executed.map(|notebook| failing_cell(notebook, cell)) {
            Some(Ok(found)) => found,
            Some(Err(error)) => {
                tracing::warn!("the notice of run {run_id} has no source or traceback for cell {cell}: {error}");
                FailingCell { cell, source: String::new(), error: None }
            }
            None => FailingCell { cell, source: String::new(), error: None },
        });
        Ok(Self {
            schedule: run.schedule.to_owned(),
            run_id: run_id.to_owned(),
            logical_date: run.logical_date.to_owned(),
            attempt: run.attempt,
            status: status.to_owned(),
            message: manifest["message"].as_str().map(str::to_owned),
            failing_cell,
            duration: Duration::try_from_secs_f64(seconds).unwrap_or_default(),
        })
    }
}

/// Cell `cell` (1-based, counted without the error banners the runner adds) of the executed
/// notebook, with its error output.
fn failing_cell(notebook: &Path, cell: usize) -> Result<FailingCell, String> {
    let executed = crate::notebook::read(notebook).map_err(|e| e.to_string())?;
    let found = executed
        .cells
        .iter()
        .filter(|c| !c.has_tag(ERROR_CELL_TAG))
        .nth(cell.saturating_sub(1))
        .filter(|c| c.cell_type == CellType::Code)
        .ok_or_else(|| format!("{} has no code cell {cell}", notebook.display()))?;
    Ok(FailingCell { cell, source: found.source.clone(), error: CellError::first_in(&found.outputs) })
}
