//! Command-line interface. `exec` takes papermill's options so papermill users feel at home;
//! `lint` checks a notebook before it is scheduled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{Map, Value};

use crate::exec::{self, Job, Options};
use crate::notebook::Destination;
use crate::notebook::params::{self, ParamError};
use crate::sandbox::{Limits, SandboxSettings};

#[derive(Debug, Parser)]
#[command(name = "runner", version, about = "Tiffin's notebook runner: executes Jupyter notebooks on a real kernel")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Execute every code cell of a notebook and write the executed notebook.
    Exec(Box<ExecArgs>),
    /// Show or edit the purpose policy in tiffin.toml, or check a query against it.
    Policy(PolicyArgs),
    /// Check that a notebook is eligible for scheduling: data moves only through %%sql/%%upload cells.
    Lint(LintArgs),
    /// Move one data cell's data (the kernel extension's interactive %%sql and %%upload): the
    /// cell is read from stdin, one JSON object is printed.
    Cell(CellArgs),
    /// Which notebooks read or wrote a table, for which purpose, when (from the lineage file).
    Lineage(LineageArgs),
    /// Schedules: check a spec, list the scheduled ones, run now, cancel, retry, backfill.
    Schedule(ScheduleArgs),
    /// The embedded scheduler: runs the schedules on the repository's main branch.
    Serve(ServeArgs),
    /// The runs of the schedules (newest first), or one run in full.
    Runs(RunsArgs),
    /// Internal: the single-threaded helper that builds the sandbox and starts the kernel in it.
    #[command(name = "__sandbox", hide = true)]
    SandboxHelper { plan: PathBuf },
}

/// Parameters, given as papermill takes them.
#[derive(Debug, Args)]
pub struct ParamArgs {
    /// A parameter, typed like papermill does: True/False/None, int, float, else a string.
    #[arg(short = 'p', long = "parameters", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub parameters: Vec<String>,
    /// A parameter whose value is always a string.
    #[arg(short = 'r', long = "parameters-raw", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub raw_parameters: Vec<String>,
    /// Parameters as a YAML or JSON mapping.
    #[arg(short = 'y', long = "parameters-yaml", value_name = "YAML")]
    pub yaml_parameters: Vec<String>,
    /// Parameters from a YAML or JSON file holding a mapping.
    #[arg(short = 'f', long = "parameters-file", value_name = "FILE")]
    pub parameter_files: Vec<PathBuf>,
}

impl ParamArgs {
    /// Merged in papermill's order: files, YAML, raw, then typed `-p` values, later ones winning.
    pub fn collect(&self) -> Result<Map<String, Value>, ArgsError> {
        let mut parameters = Map::new();
        for file in &self.parameter_files {
            let text = std::fs::read_to_string(file).map_err(|e| ArgsError::ParamFile(file.clone(), e))?;
            parameters.extend(params::parse_mapping(&text).map_err(|e| ArgsError::ParamFileContent(file.clone(), e))?);
        }
        for yaml in &self.yaml_parameters {
            parameters.extend(params::parse_mapping(yaml)?);
        }
        for pair in self.raw_parameters.chunks_exact(2) {
            parameters.insert(pair[0].clone(), Value::String(pair[1].clone()));
        }
        for pair in self.parameters.chunks_exact(2) {
            parameters.insert(pair[0].clone(), params::typed_value(&pair[0], &pair[1])?);
        }
        Ok(parameters)
    }
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The notebook to execute (nbformat 4).
    pub notebook: PathBuf,
    /// Where to write the executed notebook (`-` for stdout) [default: <notebook stem>.out.ipynb].
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub parameters: ParamArgs,
    /// Kernel to use instead of the notebook's kernelspec.
    #[arg(short = 'k', long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// Working directory of the kernel [default: the notebook's directory].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Seconds a cell may run before it is interrupted (then killed).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub cell_timeout: Option<Duration>,
    /// Seconds the whole run may take, kernel start-up included.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Echo cells' stdout and stderr as they run.
    #[arg(long)]
    pub log_output: bool,
    /// No progress display on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Keep running after a cell raises (papermill's --allow-errors / nbclient's allow_errors).
    #[arg(long)]
    pub allow_errors: bool,
    /// Seconds between saves of the partial notebook during a run; 0 disables.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds_or_zero)]
    pub autosave: Duration,
    /// Run the kernel directly on the host, without the sandbox. UNSAFE: for development only.
    #[arg(long)]
    pub no_sandbox: bool,
    /// Run even if this host cannot enforce every sandbox layer (each missing one is named).
    #[arg(long)]
    pub sandbox_weaker_ok: bool,
    /// Memory limit of the sandbox (bytes, or with K/M/G/T suffix).
    #[arg(long, value_name = "SIZE", default_value = "4G", value_parser = parse_size)]
    pub memory: u64,
    /// Processes and threads the sandbox may have at once.
    #[arg(long, value_name = "N", default_value = "512", value_parser = clap::value_parser!(u64).range(8..))]
    pub pids: u64,
    /// Size of the sandbox's private /tmp.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub tmp_size: u64,
    /// Largest file the notebook may write (outputs included).
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    pub output_size: u64,
    /// An extra host path the kernel may read, mounted read-only at the same path.
    #[arg(long = "sandbox-ro", value_name = "PATH", value_parser = parse_existing_path)]
    pub sandbox_read_only: Vec<PathBuf>,
    /// Copy the regular files the notebook wrote to /work/out into DIR after the run.
    #[arg(long, value_name = "DIR")]
    pub outputs: Option<PathBuf>,
    /// The tiffin.toml naming the sources [default: the nearest one from the notebook's dir up
    /// to the repository root; without one, warehouse.db beside the notebook].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Keep the run's fetched and uploaded CSVs (with their schemas) in DIR/in and DIR/out;
    /// otherwise they are deleted when the run ends.
    #[arg(long, value_name = "DIR")]
    pub keep_data: Option<PathBuf>,
    /// What the run's data is used for (e.g. `reporting`): each label of the tables its SQL cells
    /// read must allow it ([policy] in tiffin.toml). Without one, only unlabeled tables may be read.
    #[arg(long, value_name = "PURPOSE")]
    pub purpose: Option<String>,
    /// Write the run manifest to FILE [default: runs/<run id>.json beside the lineage file,
    /// .tiffin/runs/ without a tiffin.toml].
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The notebook's own path when NOTEBOOK is a copy of it (as `runner serve` runs the committed
    /// copy): tiffin.toml, the default warehouse and the kernel's working directory without the
    /// sandbox are found beside PATH, and the manifest and lineage name PATH.
    #[arg(long, value_name = "PATH")]
    pub copy_of: Option<PathBuf>,
    /// The run's id (a UUID) in its manifest and lineage events [default: a new random one]; lets
    /// a scheduler name the run before it starts.
    #[arg(long, value_name = "UUID")]
    pub run_id: Option<uuid::Uuid>,
    /// A trial run (what `runner schedule submit` does): uploads are checked against their tables,
    /// loaded and rolled back; no lineage event is emitted and no label stored. Its only record is
    /// the manifest, hence --manifest is required.
    #[arg(long, requires = "manifest")]
    pub trial: bool,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    #[command(subcommand)]
    pub command: ScheduleCommand,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Check a schedule spec (every problem with its line) and show it with its next run times
    /// and the parameters the first run gets. Exit code 0: valid, 2: not.
    Show {
        /// The spec file (TOML), e.g. daily_report.schedule.toml.
        spec: PathBuf,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
        /// Count the next runs from this instant (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// The schedules on the main branch as `runner serve` last read them, with their next run
    /// and their latest run.
    List {
        #[command(flatten)]
        repo: RepoArg,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Show what `submit` will commit: the spec, the generated Airflow DAG, the notebook's lint
    /// findings, the policy's decision for the purpose and the lineage (inputs, outputs).
    /// Exit code 0: schedulable, 1: not, 2: bad spec.
    Preview {
        spec: PathBuf,
        /// Print JSON instead (the shape the JupyterLab extension reads; see the README).
        #[arg(long)]
        json: bool,
    },
    /// Run the notebook once as a trial (uploads rolled back), then create the review branch
    /// tiffin/<name>: one commit on the base branch with the notebook, the spec, the DAG and a test
    /// plan. Exit code 0: created, 1: not schedulable or the trial failed, 2: bad spec or
    /// repository, 3: created but the push or pull request failed.
    Submit {
        spec: PathBuf,
        /// Push the branch to this remote (force-with-lease: a resubmission rewrites it).
        #[arg(long, value_name = "REMOTE")]
        push: Option<String>,
        /// Open a pull request through the code host's API ([review] in tiffin.toml); pushes to
        /// [review] remote unless --push names one.
        #[arg(long)]
        pull_request: bool,
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Run a schedule now (a new run with the current time as its logical time).
    Run {
        /// The schedule's name.
        name: String,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Cancel a run: one not started yet at once, a running one is interrupted by `runner serve`.
    Cancel {
        /// The run's id.
        run: String,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Run a finished run's logical time again (a new attempt).
    Retry {
        /// The run's id.
        run: String,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Queue a run for every scheduled time from FROM to TO (dates, inclusive, in the schedule's zone).
    Backfill {
        /// The schedule's name.
        name: String,
        #[arg(long, value_name = "DATE")]
        from: chrono::NaiveDate,
        #[arg(long, value_name = "DATE")]
        to: chrono::NaiveDate,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Stop starting new runs of a schedule (runs already going finish).
    Pause {
        name: String,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Start a paused schedule again (the latest time missed while paused runs once, as after a
    /// restart).
    Resume {
        name: String,
        #[command(flatten)]
        repo: RepoArg,
    },
    /// Whether a spec's trigger inputs have arrived for a logical date (the Airflow sensor's
    /// check). Exit code 0: arrived, 1: not yet (each missing input is named), 2: error.
    Ready {
        /// The spec file.
        spec: PathBuf,
        /// The run's logical date (`{{ ds }}`).
        #[arg(long, value_name = "DATE")]
        logical_date: chrono::NaiveDate,
        /// Uploads count only after this instant (RFC 3339) [default: any upload counts].
        #[arg(long, value_name = "TIME")]
        since: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Send a test notice to every [[notify]] target of a spec that listens to the event, and
    /// print each delivery's result. Exit code 0: all delivered, 1: some not, 2: bad spec or config.
    NotifyTest(NotifyTestArgs),
    /// Tell a spec's [[notify]] targets how a run that another scheduler ran ended (the generated
    /// Airflow DAG's failure callback): the same notice `runner serve` sends. Exit code 0: all
    /// delivered (or no target listens), 1: some not, 2: bad spec, config or manifest.
    Notify(NotifyArgs),
}

/// The repository `runner serve` schedules.
#[derive(Debug, Args)]
pub struct RepoArg {
    /// A directory inside the repository.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub repo: RepoArg,
    /// The branch whose schedules run: only reviewed, merged schedules.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Notebooks run at once, at most.
    #[arg(long, default_value = "2", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub workers: u64,
    /// Seconds between checks of a waiting run's inputs.
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = parse_seconds)]
    pub trigger_poll: Duration,
    /// Days a finished run's record (notebooks, log, manifest, lineage) is kept.
    #[arg(long, value_name = "DAYS", default_value = "90", value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_days: u32,
    /// Read the time from FILE (RFC 3339) instead of the system clock: for tests and rehearsals.
    #[arg(long, value_name = "FILE")]
    pub clock_file: Option<PathBuf>,
    /// The HTTP API's unix socket (mode 0600, no token) [default: <repo>/.tiffin/serve/api.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Serve the HTTP API on this loopback address too (e.g. 127.0.0.1:8765), with a token.
    #[arg(long, value_name = "ADDR", requires = "token_file")]
    pub listen: Option<std::net::SocketAddr>,
    /// The file holding the bearer token that requests on --listen must carry.
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only this schedule's runs.
    pub schedule: Option<String>,
    /// One run, in full.
    #[arg(long, value_name = "ID", conflicts_with = "schedule")]
    pub run: Option<String>,
    /// How many runs, newest first.
    #[arg(long, default_value = "20")]
    pub limit: u32,
    #[command(flatten)]
    pub repo: RepoArg,
    /// Print JSON instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The spec file (TOML), e.g. daily_report.schedule.toml.
    pub spec: PathBuf,
    /// The event the notice is about; only targets listening to it get it.
    #[arg(long, value_enum, default_value_t = crate::schedule::spec::Event::Failure)]
    pub event: crate::schedule::spec::Event,
    /// Build the notice from this run manifest (and the executed notebook it names) instead of a
    /// sample: what a real run's notice looks like.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The tiffin.toml with the [notify] settings [default: the nearest one from the notebook up
    /// to the repository root].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Append the delivery results to FILE [default: notifications.jsonl beside the lineage file].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The spec file (TOML).
    pub spec: PathBuf,
    /// The event the notice is about; only targets listening to it get it.
    #[arg(long, value_enum, default_value_t = crate::schedule::spec::Event::Failure)]
    pub event: crate::schedule::spec::Event,
    /// The run's manifest (the failing cell and its traceback come from the executed notebook it
    /// names); without one (the run never started, e.g. its inputs never came) the notice says
    /// `--message`.
    #[arg(long, value_name = "FILE", required_unless_present = "run_id")]
    pub manifest: Option<PathBuf>,
    /// The run's id, when there is no manifest.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
    /// What went wrong, when there is no manifest.
    #[arg(long, value_name = "TEXT")]
    pub message: Option<String>,
    /// The run's logical date and time as the schedule names it, e.g. 2026-11-27T06:00.
    #[arg(long, value_name = "TIME")]
    pub logical_date: String,
    /// 1 for the first try, 2 for the first retry, ...
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u32).range(1..))]
    pub attempt: u32,
    /// The tiffin.toml with the [notify] settings [default: the nearest one from the notebook up
    /// to the repository root].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Append the delivery results to FILE [default: notifications.jsonl beside the lineage file].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LineageArgs {
    /// The table, as <source>.<table> (a bare name: a table of the default source).
    pub table: String,
    /// The tiffin.toml naming the lineage file [default: the nearest one from the current
    /// directory; without one, .tiffin/lineage.jsonl here].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print JSON instead.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CellArgs {
    #[command(subcommand)]
    pub command: CellCommand,
}

#[derive(Debug, Subcommand)]
pub enum CellCommand {
    /// Fetch a `%%sql` cell's result into OUT/<name>.csv (+ schema); prints the fetch and the
    /// Python that reads it as `runner exec` would.
    Sql(CellOptions),
    /// Check an `%%upload` cell's DataFrame (written to OUT by the code `--code` prints) against
    /// its table and load it in a transaction that is rolled back unless `--write`.
    Upload {
        #[command(flatten)]
        options: CellOptions,
        /// Print the Python that writes the cell's DataFrame into OUT instead.
        #[arg(long, conflicts_with = "write")]
        code: bool,
        /// Commit the load (without it, the load is done and rolled back: a preview).
        #[arg(long)]
        write: bool,
        /// A label the DataFrame carries from earlier fetches of the session (repeatable).
        #[arg(long, value_name = "LABEL")]
        inherit: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct CellOptions {
    /// The notebook's directory: where tiffin.toml is looked for [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The tiffin.toml to use instead.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What the data is used for, checked against the purpose policy.
    #[arg(long, value_name = "PURPOSE")]
    pub purpose: Option<String>,
    /// The directory for the cell's CSV and schema.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    #[command(flatten)]
    pub parameters: ParamArgs,
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// The file holding the [policy] table [default: tiffin.toml in this directory or the nearest parent].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the labels and the purposes they allow, the catalog, the reclassifications and the mode.
    Show {
        /// Print JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Label a table of the catalog (or one of its columns), adding its entry if missing.
    Label(LabelArgs),
    /// Remove labels from a table of the catalog (or one of its columns).
    Unlabel(LabelArgs),
    /// Let a label allow purposes.
    Allow(AllowArgs),
    /// Stop a label allowing purposes.
    Disallow(AllowArgs),
    /// Print the tables and columns a query reads, their labels (as the catalog declares them) and
    /// whether the purpose may read them. Exit code 0: allowed, 1: refused, 2: the query cannot be
    /// read or resolved.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The table, as <source>.<table>: warehouse.customers, pg.sales.orders.
    pub table: String,
    #[arg(required = true)]
    pub labels: Vec<String>,
    /// Label this column of the table instead of the whole table.
    #[arg(long, value_name = "COL")]
    pub column: Option<String>,
}

#[derive(Debug, Args)]
pub struct AllowArgs {
    pub label: String,
    #[arg(required = true)]
    pub purposes: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The run's purpose; without it, only unlabelled tables may be read.
    #[arg(long)]
    pub purpose: Option<String>,
    /// The file holding the query (one SELECT), or `-` for stdin.
    #[arg(value_name = "SQL_FILE")]
    pub sql: PathBuf,
    /// The source the query runs on, as the catalog names it (the part before the first dot).
    #[arg(long)]
    pub source: String,
    #[arg(long, value_enum, default_value_t = SqlDialect::Sqlite)]
    pub dialect: SqlDialect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlDialect {
    Sqlite,
    Postgres,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    /// The notebook to check (nbformat 4).
    pub notebook: PathBuf,
    /// Print the findings as a JSON array instead of one line each.
    #[arg(long)]
    pub json: bool,
}

/// `4G`, `512M`, `64k`, `1GiB`, or plain bytes; binary multiples.
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits.parse().map_err(|_| format!("`{text}` is not a size (e.g. 4G, 512M)"))?;
    let shift = match unit.trim().to_ascii_lowercase().trim_end_matches('b').trim_end_matches('i') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("`{text}`: unknown size unit (use K, M, G or T)")),
    };
    match number.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("`{text}` is not a usable size")),
        Some(bytes) if bytes < 1 << 20 => Err(format!("`{text}` is below the 1M minimum")),
        Some(bytes) => Ok(bytes),
    }
}

fn parse_existing_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if !path.is_absolute() {
        return Err(format!("`{text}` must be an absolute path"));
    }
    std::fs::canonicalize(&path).map_err(|e| format!("`{text}`: {e}"))
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match parse_seconds_or_zero(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

fn parse_seconds_or_zero(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid number of seconds"))
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("cannot read parameters file {0}: {1}")]
    ParamFile(PathBuf, std::io::Error),
    #[error("parameters file {0}: {1}")]
    ParamFileContent(PathBuf, ParamError),
}

impl ExecArgs {
    /// The job these arguments describe.
    pub fn into_job(self) -> Result<Job, ArgsError> {
        let parameters = self.parameters.collect()?;
        let output = match &self.output {
            Some(path) => Destination::parse(path),
            None => Destination::File(default_output(&self.notebook)),
        };
        Ok(Job {
            input: self.notebook,
            output,
            parameters,
            options: Options {
                kernel: self.kernel,
                cwd: self.cwd,
                cell_timeout: self.cell_timeout,
                run_timeout: self.timeout,
                allow_errors: self.allow_errors,
                log_output: self.log_output,
                progress: !self.no_progress,
                autosave: Some(self.autosave).filter(|d| !d.is_zero()),
                sandbox: (!self.no_sandbox).then(|| SandboxSettings {
                    limits: Limits {
                        memory_bytes: self.memory,
                        pids: self.pids,
                        tmp_bytes: self.tmp_size,
                        output_bytes: self.output_size,
                        ..Limits::default()
                    },
                    extra_read_only: self.sandbox_read_only,
                    weaker_ok: self.sandbox_weaker_ok,
                }),
                outputs: self.outputs,
                config: self.config,
                keep_data: self.keep_data,
                purpose: self.purpose,
                manifest: self.manifest,
                run_id: self.run_id,
                copy_of: self.copy_of,
                trial: self.trial,
            },
        })
    }
}

/// `report.ipynb` → `report.out.ipynb`, next to the input.
fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "notebook".into());
    input.with_file_name(format!("{stem}.out.ipynb"))
}

pub use exec::exit_code;

#[cfg(test)]
mod tests {
    use super::*;

    fn job(args: &[&str]) -> Job {
        let cli = Cli::try_parse_from([&["runner", "exec", "nb.ipynb"], args].concat()).unwrap();
        let Command::Exec(exec) = cli.command else { panic!("not exec") };
        exec.into_job().unwrap()
    }

    #[test]
    fn parameters_merge_with_typed_values_last() {
        let job = job(&["-y", "a: 1\nb: x", "-r", "b", "7", "-p", "c", "2.5", "-p", "a", "None"]);
        assert_eq!(Value::Object(job.parameters), serde_json::json!({"a": null, "b": "7", "c": 2.5}));
    }

    #[test]
    fn default_output_sits_next_to_the_input() {
        assert_eq!(job(&[]).output, Destination::File("nb.out.ipynb".into()));
        assert_eq!(job(&["-o", "-"]).output, Destination::Stdout);
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2097152"), Ok(2 << 20));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("64k").is_err(), "below the minimum");
    }

    #[test]
    fn the_sandbox_is_on_unless_refused() {
        let limits = job(&["--memory", "256M", "--pids", "64"]).options.sandbox.unwrap().limits;
        assert_eq!((limits.memory_bytes, limits.pids), (256 << 20, 64));
        assert!(job(&["--no-sandbox"]).options.sandbox.is_none());
        for bad in [["--sandbox-ro", "relative/path"], ["--sandbox-ro", "/no/such/path"], ["--pids", "2"], ["--memory", "lots"]] {
            assert!(Cli::try_parse_from([&["runner", "exec", "nb.ipynb"][..], &bad[..]].concat()).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn lint_takes_a_notebook_and_json() {
        let cli = Cli::try_parse_from(["runner", "lint", "nb.ipynb", "--json"]).unwrap();
        let Command::Lint(args) = cli.command else { panic!("not lint") };
        assert_eq!((args.notebook, args.json), (PathBuf::from("nb.ipynb"), true));
        assert!(Cli::try_parse_from(["runner", "lint"]).is_err());
    }

    #[test]
    fn timeouts_must_be_positive_numbers() {
        assert!(Cli::try_parse_from(["runner", "exec", "nb.ipynb", "--cell-timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["runner", "exec", "nb.ipynb", "--timeout", "soon"]).is_err());
        assert_eq!(job(&["--cell-timeout", "1.5"]).options.cell_timeout, Some(Duration::from_millis(1500)));
    }
}
