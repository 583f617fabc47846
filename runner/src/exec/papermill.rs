//! The metadata papermill writes, so tools that read papermill's output keep working: run-level
//! `metadata.papermill`, per-cell status and timing, and the error banner cells.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::notebook::{Cell, Notebook};

pub const ERROR_CELL_TAG: &str = "papermill-error-cell-tag";
const BANNER_STYLE: &str = "color:red; font-family:Helvetica Neue, Helvetica, Arial, sans-serif; font-size:2em;";

/// Papermill's timestamp format: `datetime.isoformat()` of an aware UTC time.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

fn seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    let micros = (to - from).num_microseconds().unwrap_or(0);
    json!(micros as f64 / 1e6)
}

/// Resets the notebook for a run, as papermill does: old banners removed, code cells cleared,
/// every cell pending.
pub fn start_run(notebook: &mut Notebook, input_path: &str, output_path: &str, parameters: &Map<String, Value>, started: DateTime<Utc>) {
    notebook.cells.retain(|c| !c.has_tag(ERROR_CELL_TAG));
    for cell in &mut notebook.cells {
        if cell.cell_type == crate::notebook::CellType::Code {
            cell.outputs.clear();
            cell.execution_count = None;
        }
        cell.metadata.insert(
            "papermill".into(),
            json!({"status": "pending", "start_time": null, "end_time": null, "duration": null, "exception": null}),
        );
    }
    notebook.metadata.insert(
        "papermill".into(),
        json!({
            "default_parameters": {},
            "environment_variables": {},
            "parameters": parameters,
            "input_path": input_path,
            "output_path": output_path,
            "start_time": timestamp(started),
            "end_time": null,
            "duration": null,
            "exception": null,
            "version": concat!("tiffin-runner ", env!("CARGO_PKG_VERSION")),
        }),
    );
}

pub fn start_cell(cell: &mut Cell, at: DateTime<Utc>) {
    cell.metadata.insert(
        "papermill".into(),
        json!({"status": "running", "start_time": timestamp(at), "end_time": null, "duration": null, "exception": null}),
    );
}

pub fn finish_cell(cell: &mut Cell, started: DateTime<Utc>, ended: DateTime<Utc>, failed: bool) {
    cell.metadata.insert(
        "papermill".into(),
        json!({
            "status": if failed { "failed" } else { "completed" },
            "start_time": timestamp(started),
            "end_time": timestamp(ended),
            "duration": seconds(started, ended),
            "exception": failed,
        }),
    );
}

pub fn finish_run(notebook: &mut Notebook, ended: DateTime<Utc>, failed: bool) {
    if let Some(Value::Object(meta)) = notebook.metadata.get_mut("papermill") {
        let started = meta.get("start_time").and_then(Value::as_str).and_then(|s| DateTime::parse_from_rfc3339(s).ok());
        meta.insert("end_time".into(), timestamp(ended).into());
        if let Some(started) = started {
            meta.insert("duration".into(), seconds(started.with_timezone(&Utc), ended));
        }
        // papermill leaves null here unless a cell raised.
        meta.insert("exception".into(), if failed { Value::Bool(true) } else { Value::Null });
    }
}

/// Papermill's two banner cells: one at the top linking to a marker placed right before the cell
/// that stopped the run. `cell_index` is the failing cell's position before insertion.
pub fn insert_error_banner(notebook: &mut Notebook, cell_index: usize, reason: &str) {
    let label = match notebook.cells.get(cell_index).and_then(|c| c.execution_count) {
        Some(count) => format!("In [{count}]"),
        None => format!("cell {}", cell_index + 1),
    };
    let with_ids = notebook.has_cell_ids();
    let marker = format!(
        "<span id=\"papermill-error-cell\" style=\"{BANNER_STYLE}\">Execution using papermill encountered an exception here and stopped:</span>"
    );
    notebook.cells.insert(cell_index, Cell::new_markdown(marker, &[ERROR_CELL_TAG], with_ids));
    let top = format!(
        "<span style=\"{BANNER_STYLE}\">An Exception was encountered at '<a href=\"#papermill-error-cell\">{label}</a>'.</span>\n\n{}",
        html_escape(reason)
    );
    notebook.cells.insert(0, Cell::new_markdown(top, &[ERROR_CELL_TAG], with_ids));
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
