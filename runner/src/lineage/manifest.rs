//! The run manifest: one JSON document per run, refused and failed runs included, saying what ran
//! (notebook hash, parameters, purpose, sandbox), what data moved (inputs with query, tables,
//! labels, rows and file hash; outputs with mode and rows), how long each cell took, and how the
//! run ended.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::data::{Fetched, Plan, Uploaded};
use crate::notebook::{CellType, Notebook};
use crate::policy::{Columns, RunCheck};

pub const MANIFEST_VERSION: u32 = 1;

/// How a run ended, as the manifest and `runner lineage` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    /// A cell raised, timed out, or the kernel died.
    Failed,
    /// A fetch or an upload failed.
    DataFailed,
    /// The purpose policy refused the run before any data moved.
    Refused,
    Interrupted,
    /// The runner itself could not carry the run through (kernel start-up, I/O).
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub run_id: String,
    pub runner_version: &'static str,
    pub notebook: NotebookRecord,
    pub parameters: Map<String, Value>,
    pub purpose: Option<String>,
    pub status: Status,
    /// What went wrong, for every status but `completed`.
    pub message: Option<String>,
    pub exit_code: u8,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    pub seconds: f64,
    /// `metadata.tiffin.sandbox` of the executed notebook: enforced or not, and each layer.
    pub sandbox: Value,
    pub policy: PolicyRecord,
    pub inputs: Vec<InputRecord>,
    pub outputs: Vec<OutputRecord>,
    pub cells: Vec<CellRecord>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NotebookRecord {
    pub path: PathBuf,
    pub sha256: String,
    /// Where the executed notebook went (`-`: stdout).
    pub output: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyRecord {
    pub mode: Option<&'static str>,
    pub violations: Vec<String>,
    pub reclassified: Vec<Reclassified>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Reclassified {
    pub output: String,
    pub dropped: Vec<String>,
    pub reason: String,
}

/// One table an input reads: `source.table`, the columns when the query names them all, and the
/// labels the read carries.
#[derive(Debug, Clone, Serialize)]
pub struct TableRecord {
    pub table: String,
    pub columns: Option<Vec<String>>,
    pub labels: BTreeSet<String>,
}

/// One `%%sql` cell: what it asks for, and what the fetch gave when it ran.
#[derive(Debug, Clone, Serialize)]
pub struct InputRecord {
    /// 1-based, as users count cells.
    pub cell: usize,
    pub name: String,
    pub source: String,
    pub source_type: &'static str,
    pub query: String,
    pub parameters: Map<String, Value>,
    pub tables: Vec<TableRecord>,
    pub labels: BTreeSet<String>,
    /// `null` when the run never fetched it (refused, or an earlier fetch failed).
    pub fetch: Option<Fetched>,
}

/// One `%%upload` cell: its target and mode, and what the load did when it ran.
#[derive(Debug, Clone, Serialize)]
pub struct OutputRecord {
    pub cell: usize,
    pub table: String,
    pub source: String,
    pub source_type: &'static str,
    pub mode: &'static str,
    pub partition: Option<Value>,
    pub labels: BTreeSet<String>,
    /// `null` when nothing was loaded (the run failed, or was refused).
    pub upload: Option<Uploaded>,
}

/// One code cell's run, from the papermill metadata the runner records.
#[derive(Debug, Clone, Serialize)]
pub struct CellRecord {
    pub cell: usize,
    pub status: String,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub seconds: Option<f64>,
}

/// The 1-based number of the cell that failed, read back from a manifest's JSON.
pub fn failed_cell(manifest: &Value) -> Option<u64> {
    manifest["cells"].as_array()?.iter().find(|cell| cell["status"] == "failed")?["cell"].as_u64()
}

/// The SHA-256 of the notebook file as it was read.
pub fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        match std::io::Read::read(&mut file, &mut buffer)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
    }
    Ok(crate::data::csv_sink::hex(&hasher.finalize()))
}

pub fn inputs(plan: &Plan, check: Option<&RunCheck>, fetched: &[Fetched]) -> Vec<InputRecord> {
    plan.queries
        .iter()
        .map(|query| {
            let cell = query.cell.index + 1;
            let facts = check.and_then(|c| c.decision.inputs.iter().find(|facts| facts.cell == cell));
            let tables = facts
                .map(|facts| {
                    facts
                        .reads
                        .iter()
                        .map(|read| TableRecord {
                            table: read.table.to_string(),
                            columns: match &read.columns {
                                Columns::All => None,
                                Columns::Some(names) => Some(names.iter().cloned().collect()),
                            },
                            labels: check.map(|c| c.catalog.labels_read(read)).unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            InputRecord {
                cell,
                name: query.cell.name.clone(),
                source: query.source.clone(),
                source_type: plan.config.source(Some(&query.source)).map_or("", |(_, s)| s.kind()),
                query: query.cell.query.clone(),
                parameters: query.parameters.clone(),
                tables,
                labels: facts.map(|facts| facts.labels.clone()).unwrap_or_default(),
                fetch: fetched.iter().find(|f| f.cell == cell).cloned(),
            }
        })
        .collect()
}

pub fn outputs(plan: &Plan, check: Option<&RunCheck>, uploaded: &[Uploaded]) -> Vec<OutputRecord> {
    let labels = check.map(RunCheck::output_labels).unwrap_or_default();
    plan.uploads
        .iter()
        .map(|upload| {
            let cell = upload.cell.index + 1;
            let table = format!("{}.{}", upload.source, upload.cell.table);
            OutputRecord {
                cell,
                table: upload.cell.table.to_string(),
                source: upload.source.clone(),
                source_type: plan.config.source(Some(&upload.source)).map_or("", |(_, s)| s.kind()),
                mode: upload.cell.mode.name(),
                partition: upload.partition_value.clone(),
                labels: labels.get(&table).cloned().unwrap_or_default(),
                upload: uploaded.iter().find(|u| u.cell == cell).cloned(),
            }
        })
        .collect()
}

/// Each code cell's status and timing (papermill's per-cell metadata).
pub fn cells(notebook: &Notebook) -> Vec<CellRecord> {
    notebook
        .cells
        .iter()
        .enumerate()
        .filter(|(_, cell)| cell.cell_type == CellType::Code)
        .map(|(index, cell)| {
            let papermill = cell.metadata.get("papermill");
            let text = |key: &str| papermill.and_then(|p| p.get(key)).and_then(Value::as_str).map(str::to_owned);
            CellRecord {
                cell: index + 1,
                status: text("status").unwrap_or_else(|| "pending".into()),
                start_time: text("start_time"),
                end_time: text("end_time"),
                seconds: papermill.and_then(|p| p.get("duration")).and_then(Value::as_f64),
            }
        })
        .collect()
}

pub fn sandbox(notebook: &Notebook) -> Value {
    notebook.metadata.get("tiffin").and_then(|t| t.get("sandbox")).cloned().unwrap_or(Value::Null)
}

pub fn policy(check: Option<&RunCheck>, refused: &[String]) -> PolicyRecord {
    let Some(check) = check else {
        return PolicyRecord { mode: None, violations: refused.to_vec(), reclassified: Vec::new() };
    };
    PolicyRecord {
        mode: Some(check.mode.as_str()),
        violations: check.decision.violations.iter().map(ToString::to_string).collect(),
        reclassified: check
            .decision
            .reclassified
            .iter()
            .map(|(output, dropped, reason)| Reclassified { output: output.to_string(), dropped: dropped.clone(), reason: reason.clone() })
            .collect(),
    }
}
