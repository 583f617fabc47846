//! Executing a notebook: parameters in, every code cell run on the kernel in order, outputs and
//! papermill metadata recorded, the executed notebook written however the run ends.

mod data_path;
mod outputs;
mod papermill;
mod progress;
mod terminal;

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::data::{self, DataError, Plan};
use crate::kernel::{self, Death, Kernel, KernelError, KernelEvent, Launch, Message, RunDir, Update};
use crate::lineage::manifest::Status;
use crate::lineage::{RunIdentity, RunRecord};
use crate::notebook::params::{self, ParamError, Placement};
use crate::notebook::{CellType, Destination, Notebook, NotebookFileError};
use crate::policy::{self, PolicyError, RunCheck, RunCheckError, Violation};
use crate::sandbox::{self, SandboxOptions, SandboxSettings};
use outputs::{Effect, OutputRecorder};
/// The tag of the banner cells a failed run's notebook gets; readers of executed notebooks skip them.
pub use papermill::ERROR_CELL_TAG;
use progress::Progress;

/// How long to wait for the IOPub `idle` after the execute_reply before moving on without it.
const IDLE_GRACE: Duration = Duration::from_secs(3);
/// How long an interrupted cell gets to stop before the kernel is killed.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Exit codes of `runner exec` and `runner lint`, documented in the README.
pub mod exit_code {
    pub const CELL_ERROR: u8 = 1;
    /// `runner lint` found an error-severity finding.
    pub const NOT_ELIGIBLE: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const TIMEOUT: u8 = 3;
    pub const KERNEL_DIED: u8 = 4;
    pub const INTERNAL: u8 = 5;
    /// A fetch or an upload failed; no target table changed.
    pub const DATA: u8 = 6;
    /// The purpose policy refused the run before any data moved.
    pub const POLICY: u8 = 7;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub kernel: Option<String>,
    /// The kernel's working directory; the notebook's directory when unset.
    pub cwd: Option<PathBuf>,
    pub cell_timeout: Option<Duration>,
    pub run_timeout: Option<Duration>,
    pub allow_errors: bool,
    pub log_output: bool,
    pub progress: bool,
    /// Save the partial notebook this often while cells run; never per cell.
    pub autosave: Option<Duration>,
    /// The sandbox's settings; `None` runs the kernel directly on the host (`--no-sandbox`).
    pub sandbox: Option<SandboxSettings>,
    /// Where to copy the regular files the notebook wrote to `/work/out`.
    pub outputs: Option<PathBuf>,
    /// `tiffin.toml` to use instead of the one found next to the notebook.
    pub config: Option<PathBuf>,
    /// Where to copy the run's input and output CSVs (else they are deleted with the run).
    pub keep_data: Option<PathBuf>,
    /// What the run's data is used for, checked against the purpose policy.
    pub purpose: Option<String>,
    /// Where to write the run manifest instead of `runs/<run id>.json` beside the lineage file.
    pub manifest: Option<PathBuf>,
    /// The notebook's own path when the input is a copy: it names the run and places it (config,
    /// default warehouse, default cwd).
    pub copy_of: Option<PathBuf>,
    /// The run's id in the manifest and lineage; a new one when unset.
    pub run_id: Option<uuid::Uuid>,
    /// A trial run (a schedule's review): uploads are loaded and rolled back, and the run leaves
    /// no lineage events, so no real table, label or lineage record changes.
    pub trial: bool,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub input: PathBuf,
    pub output: Destination,
    pub parameters: Map<String, Value>,
    pub options: Options,
}

impl Job {
    /// The notebook as the run names it: the input, or the original it is a copy of.
    fn notebook_path(&self) -> &Path {
        self.options.copy_of.as_deref().unwrap_or(&self.input)
    }

    /// The directory the notebook belongs to.
    fn notebook_dir(&self) -> PathBuf {
        self.notebook_path().parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
    }
}

/// How a run ended. Cell numbers are 1-based positions in the executed notebook (banners aside).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed,
    CellFailed {
        cell: usize,
        ename: String,
        evalue: String,
    },
    TimedOut {
        cell: usize,
        limit: Duration,
        whole_run: bool,
    },
    KernelDied {
        cell: usize,
        death: Death,
    },
    Interrupted {
        cell: Option<usize>,
    },
    /// A fetch (before any cell ran) or an upload (after all ran) failed.
    DataFailed(DataError),
    /// The purpose policy (enforce mode) refused the run before any data moved.
    PolicyRefused(Vec<Violation>),
}

impl Outcome {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Completed => 0,
            Self::CellFailed { .. } => exit_code::CELL_ERROR,
            Self::TimedOut { .. } => exit_code::TIMEOUT,
            Self::KernelDied { .. } => exit_code::KERNEL_DIED,
            Self::Interrupted { .. } => exit_code::INTERRUPTED,
            Self::DataFailed(_) => exit_code::DATA,
            Self::PolicyRefused(_) => exit_code::POLICY,
        }
    }

    /// The run's status, as the manifest and the lineage record it.
    pub fn status(&self) -> Status {
        match self {
            Self::Completed => Status::Completed,
            Self::CellFailed { .. } | Self::TimedOut { .. } | Self::KernelDied { .. } => Status::Failed,
            Self::Interrupted { .. } => Status::Interrupted,
            Self::DataFailed(_) => Status::DataFailed,
            Self::PolicyRefused(_) => Status::Refused,
        }
    }

    fn failed_cell(&self) -> Option<usize> {
        match self {
            Self::Completed => None,
            Self::CellFailed { cell, .. } | Self::TimedOut { cell, .. } | Self::KernelDied { cell, .. } => Some(*cell),
            Self::Interrupted { cell } => *cell,
            Self::DataFailed(error) => error.cell,
            Self::PolicyRefused(violations) => violations.first().map(|v| v.cell),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Completed => write!(f, "all cells completed"),
            Self::CellFailed { cell, ename, evalue } => write!(f, "cell {cell} raised {ename}: {evalue}"),
            Self::TimedOut { cell, limit, whole_run: false } => {
                write!(f, "cell {cell} timed out after {}s (--cell-timeout)", limit.as_secs_f64())
            }
            Self::TimedOut { cell, limit, whole_run: true } => {
                write!(f, "the run timed out after {}s (--timeout) in cell {cell}", limit.as_secs_f64())
            }
            Self::KernelDied { cell, death } => write!(f, "the kernel died while running cell {cell}: {death}"),
            Self::Interrupted { cell: Some(cell) } => write!(f, "interrupted while running cell {cell}"),
            Self::Interrupted { cell: None } => write!(f, "interrupted before any cell ran"),
            Self::DataFailed(error) => write!(f, "{error}; no table was changed"),
            Self::PolicyRefused(violations) => {
                let reasons: Vec<String> = violations.iter().map(ToString::to_string).collect();
                write!(f, "refused by the purpose policy before any data moved: {}", reasons.join("; "))
            }
        }
    }
}

/// Problems that stop a run before (or instead of) executing it.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Notebook(#[from] NotebookFileError),
    #[error(transparent)]
    Params(#[from] ParamError),
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("working directory {0} is not a directory")]
    Cwd(PathBuf),
    #[error("the run timed out after {0:?} while the kernel was starting")]
    StartupTimedOut(Duration),
    #[error("--cwd is for --no-sandbox runs: in the sandbox the kernel works in /work")]
    CwdInSandbox,
    #[error("--outputs collects the sandbox's /work/out: it has no meaning with --no-sandbox")]
    OutputsWithoutSandbox,
    #[error("this host cannot enforce the full sandbox; missing: {}. Pass --sandbox-weaker-ok to run without these layers", .0.join("; "))]
    SandboxLayers(Vec<&'static str>),
    #[error("cannot build a sandbox without user namespaces; use --no-sandbox to run unprotected")]
    NoNamespaces,
    #[error(transparent)]
    Outputs(#[from] sandbox::CollectError),
    #[error("the kernel did not exit after the run and was killed: its outputs are incomplete and were not collected")]
    OutputsIncomplete,
    #[error(transparent)]
    DataCell(#[from] data::cells::CellError),
    #[error(transparent)]
    Config(#[from] data::config::ConfigError),
    #[error(transparent)]
    DataPlan(DataError),
    #[error(transparent)]
    Policy(PolicyError),
    #[error("preparing the run's data dirs: {0}")]
    DataDirs(std::io::Error),
    #[error("--keep-data: {0}")]
    KeepData(std::io::Error),
}

impl ExecError {
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Notebook(NotebookFileError::Write { .. }) => exit_code::INTERNAL,
            Self::Notebook(_)
            | Self::Params(_)
            | Self::Cwd(_)
            | Self::Kernel(KernelError::Spec(_))
            | Self::CwdInSandbox
            | Self::OutputsWithoutSandbox
            | Self::SandboxLayers(_)
            | Self::NoNamespaces
            | Self::DataCell(_)
            | Self::Config(_)
            | Self::DataPlan(_)
            | Self::Policy(_) => exit_code::USAGE,
            Self::DataDirs(_) | Self::KeepData(_) => exit_code::INTERNAL,
            Self::Outputs(_) => exit_code::INTERNAL,
            Self::OutputsIncomplete => exit_code::KERNEL_DIED,
            Self::StartupTimedOut(_) => exit_code::TIMEOUT,
            Self::Kernel(_) => exit_code::KERNEL_DIED,
        }
    }
}

/// Executes the job and writes the executed notebook. `stop` turns true on SIGINT/SIGTERM.
/// Once the data plan is made, the run is recorded (manifest and lineage events) however it ends.
pub async fn run(job: &Job, stop: watch::Receiver<bool>) -> Result<Outcome, ExecError> {
    let mut notebook = crate::notebook::read(&job.input)?;
    params::validate(&job.parameters)?;
    if !job.parameters.is_empty() && params::inject(&mut notebook, &job.parameters) == Placement::AtTop {
        tracing::warn!("the notebook has no cell tagged `parameters`: parameters injected at the top");
        eprintln!("runner: warning: no cell is tagged `parameters`; the injected-parameters cell was put at the top");
    }
    let cwd = job.options.cwd.clone().unwrap_or_else(|| job.notebook_dir());
    let mut launch = launch_for(job, &mut notebook, cwd)?;
    let kernel_name = job.options.kernel.clone().or_else(|| kernelspec_name(&notebook)).unwrap_or_else(|| "python3".into());
    let spec = kernel::spec::find(&kernel_name).map_err(KernelError::from)?;
    let plan = data_plan(job, &notebook)?;
    if let Launch::Direct { hidden_env, .. } = &mut launch {
        *hidden_env = plan.config.password_env_vars();
    }
    let identity = RunIdentity {
        notebook: job.notebook_path(),
        read_from: &job.input,
        output: output_label(&job.output),
        parameters: job.parameters.clone(),
        purpose: job.options.purpose.clone(),
        manifest: job.options.manifest.clone(),
        run_id: job.options.run_id,
        trial: job.options.trial,
    };
    let mut record =
        RunRecord::new(identity, &plan).map_err(|e| ExecError::Notebook(NotebookFileError::Read { path: job.input.clone(), source: e }))?;
    let result = execute(job, stop, notebook, launch, spec, &plan, &mut record).await;
    let (status, message, exit) = match &result {
        Ok(outcome) => (outcome.status(), (*outcome != Outcome::Completed).then(|| outcome.to_string()), outcome.exit_code()),
        Err(error) => (Status::Error, Some(error.to_string()), error.exit_code()),
    };
    let refused = match &result {
        Ok(Outcome::PolicyRefused(violations)) => violations.iter().map(ToString::to_string).collect(),
        _ => Vec::new(),
    };
    record.finish(&plan, status, message, exit, &refused).await;
    result
}

async fn execute(
    job: &Job,
    stop: watch::Receiver<bool>,
    mut notebook: Notebook,
    launch: Launch,
    spec: kernel::spec::KernelSpec,
    plan: &Plan,
    record: &mut RunRecord,
) -> Result<Outcome, ExecError> {
    let started_at = Utc::now();
    let run_deadline = job.options.run_timeout.map(|t| Instant::now() + t);
    papermill::start_run(&mut notebook, &job.input.to_string_lossy(), &output_label(&job.output), &job.parameters, started_at);
    if let Some(Value::Object(kernelspec)) = notebook.metadata.get_mut("kernelspec") {
        kernelspec.insert("name".into(), spec.name.clone().into());
    }
    if let Some(refused) = check_policy(job, plan, record).await? {
        return finish(job, notebook, refused, record);
    }
    let output_labels = record.check.as_ref().map(RunCheck::output_labels).unwrap_or_default();
    record.start(plan).await;

    let run_dir = RunDir::create()?;
    let dirs = data_path::DataDirs::create(&run_dir, matches!(launch, Launch::Sandboxed(_))).map_err(ExecError::DataDirs)?;
    match data::fetch_all(plan, &dirs.host_in, &mut record.fetched).await {
        Ok(()) => {}
        Err(error) => {
            keep_data(job, &dirs)?;
            return finish(job, notebook, Outcome::DataFailed(error), record);
        }
    };
    let originals = data_path::rewrite(&mut notebook, plan, &record.fetched, &dirs);

    let mut stop = stop;
    let startup = async {
        match run_deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, Kernel::start(spec, &launch, run_dir, STARTUP_TIMEOUT))
                .await
                .map_err(|_| ExecError::StartupTimedOut(job.options.run_timeout.unwrap_or_default()))?
                .map_err(ExecError::from),
            None => Kernel::start(spec, &launch, run_dir, STARTUP_TIMEOUT).await.map_err(ExecError::from),
        }
    };
    let mut kernel = tokio::select! {
        kernel = startup => kernel?,
        _ = stop.wait_for(|stopped| *stopped) => {
            data_path::restore(&mut notebook, originals);
            return finish(job, notebook, Outcome::Interrupted { cell: None }, record);
        }
    };
    notebook.metadata.insert("language_info".into(), kernel.language_info().clone());

    let mut executor = Executor {
        kernel: &mut kernel,
        notebook: &mut notebook,
        recorder: OutputRecorder::default(),
        job,
        run_deadline,
        stop,
        last_save: Instant::now(),
    };
    let mut outcome = executor.run_cells().await;
    let stopped = match &outcome {
        Outcome::Completed | Outcome::CellFailed { .. } => kernel.shutdown().await,
        _ => kernel.kill().await,
    };
    data_path::restore(&mut notebook, originals);
    let sandboxed = matches!(launch, Launch::Sandboxed(_));
    if sandboxed && outcome == Outcome::Completed && !stopped.clean && (job.options.outputs.is_some() || !plan.uploads.is_empty()) {
        // Its PID 1 copies the outputs out after the kernel exits: killed, it may not have.
        keep_data(job, &dirs)?;
        finish(job, notebook, outcome, record)?;
        return Err(ExecError::OutputsIncomplete);
    }
    if outcome == Outcome::Completed && !plan.uploads.is_empty() {
        match data::upload_all(plan, &dirs.host_out, &output_labels, &record.run_id, !job.options.trial).await {
            Ok(uploaded) => {
                data_path::report_uploads(&mut notebook, plan, &uploaded, job.options.trial);
                record.uploaded = uploaded;
            }
            Err(error) => outcome = Outcome::DataFailed(error),
        }
    }
    keep_data(job, &dirs)?;
    if let (Some(dest), true) = (&job.options.outputs, sandboxed) {
        collect_outputs(&dirs.host_out, dest)?;
    }
    drop(stopped);
    finish(job, notebook, outcome, record)
}

/// The data cells' plan: sources resolved and parameters bound, before anything runs.
fn data_plan(job: &Job, notebook: &Notebook) -> Result<Plan, ExecError> {
    let cells = data::cells::find(notebook)?;
    let config = data::config::Config::for_dir(&job.notebook_dir(), job.options.config.as_deref())?;
    let mut values = params::defaults(notebook);
    values.extend(job.parameters.clone());
    data::plan(cells, config, &values).map_err(ExecError::DataPlan)
}

/// The purpose policy's verdict on the plan, kept in the record. `Ok(Some(outcome))`: the run is
/// refused (or its data cannot be checked) and must not move any data.
async fn check_policy(job: &Job, plan: &Plan, record: &mut RunRecord) -> Result<Option<Outcome>, ExecError> {
    let purpose = job.options.purpose.as_deref();
    let check = match policy::check(plan, purpose, &Default::default()).await {
        Ok(check) => check,
        Err(RunCheckError::Policy(PolicyError::Unresolvable { cell, reason })) => {
            return Ok(Some(Outcome::PolicyRefused(vec![Violation::unresolvable(cell, &reason)])));
        }
        Err(RunCheckError::Policy(error)) => return Err(ExecError::Policy(error)),
        Err(RunCheckError::Data(error)) => return Ok(Some(Outcome::DataFailed(error))),
    };
    if !check.refused() {
        for violation in &check.decision.violations {
            eprintln!("runner: policy violation (mode = \"log\", the run goes ahead): {violation}");
        }
    }
    for (table, dropped, reason) in &check.decision.reclassified {
        tracing::info!(%table, ?dropped, reason, "reclassified");
    }
    let refused = check.refused().then(|| Outcome::PolicyRefused(check.decision.violations.clone()));
    record.check = Some(check);
    Ok(refused)
}

fn keep_data(job: &Job, dirs: &data_path::DataDirs) -> Result<(), ExecError> {
    match &job.options.keep_data {
        Some(dest) => data_path::keep(dirs, dest).map_err(ExecError::KeepData),
        None => Ok(()),
    }
}

/// How the kernel will run, after checking what this host can enforce; records the sandbox's
/// layers in the notebook's metadata.
fn launch_for(job: &Job, notebook: &mut Notebook, cwd: PathBuf) -> Result<Launch, ExecError> {
    let Some(settings) = &job.options.sandbox else {
        if job.options.outputs.is_some() {
            return Err(ExecError::OutputsWithoutSandbox);
        }
        if !cwd.is_dir() {
            return Err(ExecError::Cwd(cwd));
        }
        eprintln!("runner: warning: --no-sandbox is UNSAFE: the kernel runs with this user's full access to the network and files");
        record_sandbox(notebook, false, None);
        return Ok(Launch::Direct { cwd, hidden_env: Vec::new() });
    };
    if job.options.cwd.is_some() {
        return Err(ExecError::CwdInSandbox);
    }
    let layers = sandbox::probe();
    if !layers.namespaces {
        return Err(ExecError::NoNamespaces);
    }
    let missing = layers.missing();
    if !missing.is_empty() {
        if !settings.weaker_ok {
            return Err(ExecError::SandboxLayers(missing));
        }
        for layer in missing {
            eprintln!("runner: warning: --sandbox-weaker-ok: running without {layer}");
        }
    }
    record_sandbox(notebook, true, Some(&layers));
    Ok(Launch::Sandboxed(SandboxOptions { settings: settings.clone(), cgroup: layers.cgroup }))
}

fn record_sandbox(notebook: &mut Notebook, enforced: bool, layers: Option<&sandbox::Layers>) {
    let layers = layers.map_or(Value::Null, |l| serde_json::to_value(l).unwrap_or(Value::Null));
    let tiffin = notebook.metadata.entry("tiffin").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(tiffin) = tiffin {
        tiffin.insert("sandbox".into(), serde_json::json!({"enforced": enforced, "layers": layers}));
    }
}

/// Copies the notebook's outputs out of the sandbox's staging dir; refused entries are named.
fn collect_outputs(out_dir: &Path, dest: &Path) -> Result<(), ExecError> {
    let collected = sandbox::collect(out_dir, dest)?;
    collected.warn_skipped();
    tracing::info!(files = collected.files.len(), dest = %dest.display(), "outputs collected");
    Ok(())
}

fn kernelspec_name(notebook: &Notebook) -> Option<String> {
    notebook.metadata.get("kernelspec")?.get("name")?.as_str().map(str::to_owned)
}

fn output_label(output: &Destination) -> String {
    match output {
        Destination::File(path) => path.to_string_lossy().into_owned(),
        Destination::Stdout => "-".into(),
    }
}

/// Stamps the end of the run, adds the error banner, writes the notebook.
fn finish(job: &Job, mut notebook: Notebook, outcome: Outcome, record: &mut RunRecord) -> Result<Outcome, ExecError> {
    papermill::finish_run(&mut notebook, Utc::now(), outcome != Outcome::Completed);
    record.observe(&notebook);
    if let Some(cell) = outcome.failed_cell() {
        papermill::insert_error_banner(&mut notebook, cell - 1, &outcome.to_string());
    }
    job.output.write(&crate::notebook::to_file_text(&notebook))?;
    Ok(outcome)
}

/// How one cell ended.
enum CellEnd {
    Ok,
    Error { ename: String, evalue: String },
    TimedOut { whole_run: bool },
    Died(Death),
    Interrupted,
}

/// What woke the cell loop.
enum Wake {
    Kernel(Update),
    Deadline,
    IdleOverdue,
    Autosave,
    Stop,
}

struct Executor<'a> {
    kernel: &'a mut Kernel,
    notebook: &'a mut Notebook,
    recorder: OutputRecorder,
    job: &'a Job,
    run_deadline: Option<Instant>,
    stop: watch::Receiver<bool>,
    last_save: Instant,
}

impl Executor<'_> {
    async fn run_cells(&mut self) -> Outcome {
        let to_run: Vec<usize> = (0..self.notebook.cells.len()).filter(|&i| self.notebook.cells[i].cell_type == CellType::Code).collect();
        let progress = Progress::new(self.job.options.progress, to_run.len());
        for (done, &index) in to_run.iter().enumerate() {
            let started = Utc::now();
            let clock = Instant::now();
            papermill::start_cell(&mut self.notebook.cells[index], started);
            let end = if self.notebook.cells[index].is_blank_code() { CellEnd::Ok } else { self.run_cell(index).await };
            let allowed_error = self.job.options.allow_errors || self.notebook.cells[index].has_tag("raises-exception");
            let failed = !matches!(end, CellEnd::Ok);
            papermill::finish_cell(&mut self.notebook.cells[index], started, Utc::now(), failed);
            progress.cell_done(done + 1, to_run.len(), clock.elapsed());
            let cell = index + 1;
            let outcome = match end {
                CellEnd::Ok => continue,
                CellEnd::Error { .. } if allowed_error => continue,
                CellEnd::Error { ename, evalue } => Outcome::CellFailed { cell, ename, evalue },
                CellEnd::TimedOut { whole_run } => {
                    let limit = if whole_run { self.job.options.run_timeout } else { self.job.options.cell_timeout };
                    Outcome::TimedOut { cell, limit: limit.unwrap_or_default(), whole_run }
                }
                CellEnd::Died(death) => Outcome::KernelDied { cell, death },
                CellEnd::Interrupted => Outcome::Interrupted { cell: Some(cell) },
            };
            progress.finish();
            return outcome;
        }
        progress.finish();
        Outcome::Completed
    }

    async fn run_cell(&mut self, index: usize) -> CellEnd {
        self.recorder.start_cell();
        let cell = &self.notebook.cells[index];
        let stop_on_error = !(self.job.options.allow_errors || cell.has_tag("raises-exception"));
        let request = match self.kernel.execute(&cell.source, stop_on_error).await {
            Ok(id) => id,
            Err(error) => return CellEnd::Died(Death::Exited(error.to_string())),
        };
        let cell_deadline = self.job.options.cell_timeout.map(|t| Instant::now() + t);
        let (mut deadline, whole_run) = earliest(cell_deadline, self.run_deadline);
        let mut interrupted = false;
        let mut reply: Option<Message> = None;
        let mut idle_by: Option<Instant> = None;
        let mut idle = false;
        let autosave = self.job.options.autosave.filter(|_| matches!(self.job.output, Destination::File(_)));

        while !(idle && reply.is_some()) {
            let next_save = autosave.map(|every| self.last_save + every);
            let wake = tokio::select! {
                update = self.kernel.next() => Wake::Kernel(update),
                () = sleep_until_opt(deadline) => Wake::Deadline,
                () = sleep_until_opt(idle_by) => Wake::IdleOverdue,
                () = sleep_until_opt(next_save) => Wake::Autosave,
                _ = self.stop.wait_for(|stopped| *stopped) => Wake::Stop,
            };
            match wake {
                Wake::Kernel(Update::Died(death)) => {
                    self.recorder.finish_cell(&mut self.notebook.cells, index);
                    return CellEnd::Died(death);
                }
                Wake::Kernel(Update::Event(KernelEvent::IoPub(message))) if message.is_reply_to(&request) => {
                    idle |= self.on_iopub(index, &message);
                }
                Wake::Kernel(Update::Event(KernelEvent::ShellReply(message)))
                    if message.is_reply_to(&request) && message.msg_type == "execute_reply" =>
                {
                    record_timing(&mut self.notebook.cells[index].metadata, "shell.execute_reply", &message);
                    idle_by = Some(Instant::now() + IDLE_GRACE);
                    reply = Some(message);
                }
                Wake::Kernel(Update::Event(_)) => {}
                Wake::Deadline if interrupted => {
                    self.recorder.finish_cell(&mut self.notebook.cells, index);
                    return CellEnd::TimedOut { whole_run };
                }
                Wake::Deadline => {
                    tracing::info!(cell = index + 1, "time limit reached: interrupting the kernel");
                    self.kernel.interrupt().await;
                    interrupted = true;
                    deadline = Some(Instant::now() + INTERRUPT_GRACE);
                }
                Wake::IdleOverdue => {
                    tracing::warn!(cell = index + 1, "no IOPub idle within {IDLE_GRACE:?} of the execute_reply; moving on");
                    break;
                }
                Wake::Autosave => self.autosave(index),
                Wake::Stop => {
                    self.recorder.finish_cell(&mut self.notebook.cells, index);
                    return CellEnd::Interrupted;
                }
            }
        }
        self.recorder.finish_cell(&mut self.notebook.cells, index);
        if interrupted {
            return CellEnd::TimedOut { whole_run };
        }
        let content = reply.map(|r| r.content).unwrap_or(Value::Null);
        match content.get("status").and_then(Value::as_str) {
            Some("ok") => CellEnd::Ok,
            Some("aborted") => CellEnd::Error { ename: "Aborted".into(), evalue: "the kernel aborted the request".into() },
            _ => CellEnd::Error {
                ename: content.get("ename").and_then(Value::as_str).unwrap_or("Error").to_owned(),
                evalue: content.get("evalue").and_then(Value::as_str).unwrap_or_default().to_owned(),
            },
        }
    }

    /// Handles an IOPub message of the running cell; returns true for its `idle` status.
    fn on_iopub(&mut self, index: usize, message: &Message) -> bool {
        let cells = &mut self.notebook.cells;
        match message.execution_state() {
            Some("idle") => {
                record_timing(&mut cells[index].metadata, "iopub.status.idle", message);
                return true;
            }
            Some("busy") => record_timing(&mut cells[index].metadata, "iopub.status.busy", message),
            _ => {}
        }
        if message.msg_type == "execute_input" {
            record_timing(&mut cells[index].metadata, "iopub.execute_input", message);
        }
        match self.recorder.handle(cells, &message.msg_type, &message.content) {
            Effect::ExecutionCount(count) => cells[index].execution_count = Some(count),
            Effect::Stream { name, text } if self.job.options.log_output => echo(&name, &text, &self.job.output),
            Effect::Stream { .. } | Effect::None => {}
        }
        false
    }

    /// Writes the notebook as it stands, the running cell's outputs so far included.
    fn autosave(&mut self, index: usize) {
        self.last_save = Instant::now();
        let mut snapshot = self.notebook.clone();
        snapshot.cells[index].outputs = self.recorder.snapshot();
        if let Err(error) = self.job.output.write(&crate::notebook::to_file_text(&snapshot)) {
            tracing::warn!(%error, "autosave failed");
        }
    }
}

/// `--log-output`: the cell's streams go to the runner's own, except that stdout goes to stderr
/// when the notebook itself is being written to stdout.
fn echo(name: &str, text: &str, output: &Destination) {
    use std::io::Write;
    let to_stderr = name == "stderr" || *output == Destination::Stdout;
    let result = if to_stderr { std::io::stderr().write_all(text.as_bytes()) } else { std::io::stdout().write_all(text.as_bytes()) };
    if let Err(error) = result {
        tracing::debug!(%error, "cannot echo cell output");
    }
}

fn record_timing(metadata: &mut Map<String, Value>, key: &str, message: &Message) {
    let Some(date) = &message.date else { return };
    let execution = metadata.entry("execution").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(execution) = execution {
        execution.insert(key.into(), date.clone().into());
    }
}

/// The earlier of the cell's and the run's deadlines, and whether it is the run's.
fn earliest(cell: Option<Instant>, run: Option<Instant>) -> (Option<Instant>, bool) {
    match (cell, run) {
        (Some(c), Some(r)) if r < c => (Some(r), true),
        (None, Some(r)) => (Some(r), true),
        (c, _) => (c, false),
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}
