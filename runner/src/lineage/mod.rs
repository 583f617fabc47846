//! Lineage: every run (refused and failed ones included) leaves a run manifest and OpenLineage
//! RunEvents, so which notebook read or wrote which table, for which purpose and when, is known
//! (`runner lineage TABLE`).

pub mod manifest;
pub mod openlineage;
pub mod query;
pub(crate) mod sink;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::data::{Fetched, Plan, Uploaded};
use crate::notebook::Notebook;
use crate::policy::RunCheck;
use manifest::{CellRecord, Manifest, NotebookRecord, Status};
use openlineage::EventType;

/// What a run did so far, recorded as it goes and written out when it ends.
pub struct RunRecord {
    pub run_id: String,
    started_at: DateTime<Utc>,
    notebook: NotebookRecord,
    parameters: Map<String, Value>,
    purpose: Option<String>,
    manifest_path: PathBuf,
    pub check: Option<RunCheck>,
    pub fetched: Vec<Fetched>,
    pub uploaded: Vec<Uploaded>,
    cells: Vec<CellRecord>,
    sandbox: Value,
    start_sent: bool,
    schemas: Option<openlineage::Schemas>,
    /// A trial run emits no lineage events: its manifest is its only record.
    trial: bool,
}

/// Who is running what: the run's identity before anything runs.
pub struct RunIdentity<'a> {
    /// The notebook as the run names it (the original when it runs from a copy).
    pub notebook: &'a Path,
    /// The file actually read: its SHA-256 is recorded.
    pub read_from: &'a Path,
    pub output: String,
    pub parameters: Map<String, Value>,
    pub purpose: Option<String>,
    /// `--manifest FILE`; by default `runs/<run id>.json` beside the lineage file.
    pub manifest: Option<PathBuf>,
    pub run_id: Option<uuid::Uuid>,
    /// A trial run: the manifest is written, no lineage event is emitted.
    pub trial: bool,
}

impl RunRecord {
    pub fn new(identity: RunIdentity, plan: &Plan) -> std::io::Result<Self> {
        let run_id = identity.run_id.unwrap_or_else(uuid::Uuid::new_v4).to_string();
        let path = std::path::absolute(identity.notebook)?;
        let sha256 = manifest::file_sha256(identity.read_from)?;
        let manifest_path = identity
            .manifest
            .unwrap_or_else(|| plan.config.lineage.file.parent().unwrap_or(Path::new(".")).join("runs").join(format!("{run_id}.json")));
        Ok(Self {
            run_id,
            started_at: Utc::now(),
            notebook: NotebookRecord { path, sha256, output: identity.output },
            parameters: identity.parameters,
            purpose: identity.purpose,
            manifest_path,
            check: None,
            fetched: Vec::new(),
            uploaded: Vec::new(),
            cells: Vec::new(),
            sandbox: Value::Null,
            start_sent: false,
            schemas: None,
            trial: identity.trial,
        })
    }

    /// Takes the per-cell timings and the sandbox's layers from the executed notebook.
    pub fn observe(&mut self, notebook: &Notebook) {
        self.cells = manifest::cells(notebook);
        self.sandbox = manifest::sandbox(notebook);
    }

    /// Emits the START event: the data is about to move.
    pub async fn start(&mut self, plan: &Plan) {
        let manifest = self.manifest(plan, Status::Completed, None, 0, &[]);
        let schemas = self.schemas(plan, &manifest).await;
        self.emit(plan, &[openlineage::event(EventType::Start, Utc::now(), &manifest, &plan.config, &schemas)]).await;
        self.start_sent = true;
    }

    /// Writes the manifest and emits the run's last event (a START first if none went out).
    /// `refused`: the policy's reasons when the check itself refused the run.
    pub async fn finish(&mut self, plan: &Plan, status: Status, message: Option<String>, exit_code: u8, refused: &[String]) {
        let manifest = self.manifest(plan, status, message, exit_code, refused);
        if let Err(error) = write_manifest(&self.manifest_path, &manifest) {
            tracing::error!(%error, "the run manifest could not be written");
            eprintln!("runner: warning: the run manifest could not be written to {}: {error}", self.manifest_path.display());
        }
        let schemas = self.schemas(plan, &manifest).await;
        let mut events = Vec::new();
        if !self.start_sent {
            events.push(openlineage::event(EventType::Start, self.started_at, &manifest, &plan.config, &schemas));
        }
        events.push(openlineage::event(EventType::ending(status), manifest.ended_at, &manifest, &plan.config, &schemas));
        self.emit(plan, &events).await;
    }

    /// The PostgreSQL schemas of the run's tables, asked of the servers once per run: the same
    /// tables are named in every event, and a table an upload creates lands in the schema the
    /// server already named for it (its `current_schema`).
    async fn schemas(&mut self, plan: &Plan, manifest: &Manifest) -> openlineage::Schemas {
        if self.schemas.is_none() {
            self.schemas = Some(crate::data::postgres_schemas(plan, &openlineage::datasets(manifest)).await);
        }
        self.schemas.clone().unwrap_or_default()
    }

    fn manifest(&self, plan: &Plan, status: Status, message: Option<String>, exit_code: u8, refused: &[String]) -> Manifest {
        let ended_at = Utc::now();
        let check = self.check.as_ref();
        Manifest {
            manifest_version: manifest::MANIFEST_VERSION,
            run_id: self.run_id.clone(),
            runner_version: env!("CARGO_PKG_VERSION"),
            notebook: self.notebook.clone(),
            parameters: self.parameters.clone(),
            purpose: self.purpose.clone(),
            status,
            message,
            exit_code,
            started_at: self.started_at,
            ended_at,
            seconds: (ended_at - self.started_at).num_microseconds().unwrap_or_default() as f64 / 1e6,
            sandbox: self.sandbox.clone(),
            policy: manifest::policy(check, refused),
            inputs: manifest::inputs(plan, check, &self.fetched),
            outputs: manifest::outputs(plan, check, &self.uploaded),
            cells: self.cells.clone(),
        }
    }

    async fn emit(&self, plan: &Plan, events: &[Value]) {
        if self.trial {
            return;
        }
        if let Err(error) = sink::append(&plan.config.lineage.file, events) {
            tracing::error!(%error, "lineage events could not be recorded");
            eprintln!("runner: warning: lineage events could not be recorded: {error}");
        }
        if let Some(url) = &plan.config.lineage.url
            && let Err(error) = sink::post(url, events).await
        {
            tracing::error!(%error, "lineage events could not be sent");
            eprintln!("runner: warning: lineage events could not be sent (they are in {}): {error}", plan.config.lineage.file.display());
        }
    }
}

fn write_manifest(path: &Path, manifest: &Manifest) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(manifest).map_err(std::io::Error::other)?;
    // Written whole, then renamed, so a reader never sees half a manifest.
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text + "\n")?;
    std::fs::rename(&partial, path)
}
