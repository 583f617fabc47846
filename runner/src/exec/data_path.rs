//! The data path inside a run: where the kernel finds its inputs and leaves its outputs, the
//! data cells swapped for the code the kernel runs and put back afterwards, and what the
//! upload did, shown under each upload cell.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::data::{self, Fetched, Plan, Uploaded};
use crate::kernel::RunDir;
use crate::notebook::Notebook;
use crate::sandbox::{self, WORK_DIR};

/// The inputs and outputs dirs, as the host and as the kernel see them.
pub struct DataDirs {
    pub host_in: PathBuf,
    pub host_out: PathBuf,
    kernel_in: PathBuf,
    kernel_out: PathBuf,
}

impl DataDirs {
    /// In the sandbox the kernel sees the staging dirs at /work/in and /work/out; on the host
    /// it reads and writes dirs of the run dir directly.
    pub fn create(run_dir: &RunDir, sandboxed: bool) -> std::io::Result<Self> {
        let dirs = if sandboxed {
            let staging = sandbox::Staging::of(run_dir.path());
            let work = Path::new(WORK_DIR);
            Self { host_in: staging.in_dir, host_out: staging.out_dir, kernel_in: work.join("in"), kernel_out: work.join("out") }
        } else {
            let base = run_dir.path().join("data");
            Self { host_in: base.join("in"), host_out: base.join("out"), kernel_in: base.join("in"), kernel_out: base.join("out") }
        };
        std::fs::create_dir_all(&dirs.host_in)?;
        std::fs::create_dir_all(&dirs.host_out)?;
        Ok(dirs)
    }
}

/// The user's own sources of the cells that were swapped, by cell index.
pub struct Originals(Vec<(usize, String)>);

/// Swaps each data cell's source for the code the kernel runs.
pub fn rewrite(notebook: &mut Notebook, plan: &Plan, fetched: &[Fetched], dirs: &DataDirs) -> Originals {
    let mut originals = Vec::new();
    for (query, input) in plan.queries.iter().zip(fetched) {
        let csv = dirs.kernel_in.join(format!("{}.csv", query.cell.name));
        let code = data::rewrite::sql_cell(&query.cell, &query.source, &csv, &input.schema);
        originals.push((query.cell.index, std::mem::replace(&mut notebook.cells[query.cell.index].source, code)));
    }
    for upload in &plan.uploads {
        let csv = dirs.kernel_out.join(format!("{}.csv", upload.cell.table.file_stem()));
        let code = data::rewrite::upload_cell(&upload.cell, &upload.source, &csv);
        originals.push((upload.cell.index, std::mem::replace(&mut notebook.cells[upload.cell.index].source, code)));
    }
    Originals(originals)
}

pub fn restore(notebook: &mut Notebook, originals: Originals) {
    for (index, source) in originals.0 {
        notebook.cells[index].source = source;
    }
}

/// Adds "loaded N rows into ..." under each upload cell.
/// `trial`: the loads were rolled back, and the text says so.
pub fn report_uploads(notebook: &mut Notebook, plan: &Plan, uploaded: &[Uploaded], trial: bool) {
    for done in uploaded {
        let Some(upload) = plan.uploads.iter().find(|upload| upload.cell.index + 1 == done.cell) else { continue };
        let verb = match (trial, done.created) {
            (true, _) => "trial run: checked and rolled back",
            (false, true) => "created and loaded",
            (false, false) => "loaded",
        };
        let partition = upload.partition_value.as_ref().map(|p| format!(", partition {p}")).unwrap_or_default();
        let (source, table, mode) = (&upload.source, &upload.cell.table, upload.cell.mode.name());
        let text = format!("{verb} {} rows into {source}.{table} ({mode}{partition})\n", done.rows);
        notebook.cells[upload.cell.index].outputs.push(json!({"name": "stdout", "output_type": "stream", "text": text}));
    }
}

/// `--keep-data DIR`: the run's CSVs and schemas, moved out before the run dir is removed.
pub fn keep(dirs: &DataDirs, dest: &Path) -> std::io::Result<()> {
    for (from, to) in [(&dirs.host_in, dest.join("in")), (&dirs.host_out, dest.join("out"))] {
        std::fs::create_dir_all(&to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name()))?;
            }
        }
    }
    Ok(())
}
