//! What the API shows of a run's record. Files are read only from the record directory the store
//! names for the run, by the fixed names of `RecordFiles`: never by a path a client gives.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::notify::CellError;
use crate::serve::launch::RecordFiles;
use crate::serve::records;
use crate::serve::store::RunRow;

/// A run with its record: the runner's manifest (per-cell status and timing, inputs, outputs),
/// the failing cell's traceback and the run's lineage events.
#[derive(Debug, Serialize)]
pub struct RunDetail {
    pub run: RunRow,
    /// `null` until the runner has written it (or when the record was pruned).
    pub manifest: Option<Value>,
    pub cells: Value,
    pub inputs: Value,
    pub outputs: Value,
    pub failing_cell: Option<u32>,
    pub error: Option<CellError>,
    pub lineage: Vec<Value>,
}

pub fn detail(run: RunRow) -> RunDetail {
    let record = Path::new(&run.record_dir);
    let manifest = records::manifest(record);
    let field = |name: &str| manifest.as_ref().map_or(Value::Array(Vec::new()), |m| m[name].clone());
    RunDetail {
        cells: field("cells"),
        inputs: field("inputs"),
        outputs: field("outputs"),
        failing_cell: run.failing_cell,
        error: executed_notebook(record).as_ref().and_then(first_error),
        lineage: lineage_events(record),
        manifest,
        run,
    }
}

/// The executed notebook (the partial one while the run goes on).
pub fn executed_notebook(record: &Path) -> Option<Value> {
    std::fs::read(record.join(RecordFiles::EXECUTED)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// The first error output of the notebook: a run stops at its failing cell, so this is that cell's.
fn first_error(notebook: &Value) -> Option<CellError> {
    CellError::first_in(notebook["cells"].as_array()?.iter().filter_map(|cell| cell["outputs"].as_array()).flatten())
}

/// The run's OpenLineage events, kept in its record when it finished; lines that do not parse are skipped.
fn lineage_events(record: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(record.join(RecordFiles::LINEAGE)) else { return Vec::new() };
    text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

/// The run's log so far.
pub fn log(record: &Path) -> Option<Vec<u8>> {
    std::fs::read(record.join(RecordFiles::LOG)).ok()
}
