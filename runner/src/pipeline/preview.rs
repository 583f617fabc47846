//! What a submission will commit, and whether the schedule may run: the spec, the generated DAG,
//! the notebook's lint findings, the policy's decision for the schedule's purpose, and the lineage
//! the notebook will have (the tables its `%%sql` cells read, the tables its `%%upload` cells
//! write, with their labels). Nothing runs and no data moves.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::assets;
use super::dag::{self, Paths};
use crate::data::{self, Plan};
use crate::git::{GitError, Repo};
use crate::lineage::manifest::{self, InputRecord, OutputRecord};
use crate::lint::{self, Finding};
use crate::notebook::{self, Notebook, NotebookFileError};
use crate::policy::{self, PolicyError, RunCheck, RunCheckError};
use crate::schedule::{self, Parameter, Spec, SpecError, next_runs, template};

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("{0} is outside the repository at {1}")]
    OutsideRepo(PathBuf, PathBuf),
    #[error(transparent)]
    Notebook(#[from] NotebookFileError),
    #[error("the schedule has no run time after now: its parameters cannot be rendered")]
    NoRun,
    #[error("parameter `{0}`: {1}")]
    Parameter(String, String),
}

/// The first scheduled run: its logical instant and the parameters it gets.
#[derive(Debug, Clone)]
pub struct FirstRun {
    pub logical: DateTime<Tz>,
    pub parameters: Map<String, Value>,
}

#[derive(Debug)]
pub struct Preview {
    pub spec: Spec,
    pub spec_text: String,
    pub repo: Repo,
    /// Paths relative to the repository's root, `/`-separated.
    pub spec_path: PathBuf,
    pub notebook_path: PathBuf,
    /// The notebook on disk.
    pub notebook_file: PathBuf,
    pub notebook_bytes: Vec<u8>,
    pub dag_path: String,
    pub dag: String,
    pub findings: Vec<Finding>,
    /// The policy's check of the data plan, or why none could be made (a malformed data cell, an
    /// unknown source, SQL that cannot be resolved, a database that cannot be read).
    pub policy: Result<RunCheck, String>,
    plan: Option<Plan>,
    pub first_run: FirstRun,
}

impl Preview {
    /// Reads the spec and its notebook and checks them, as of `now`.
    pub async fn build(spec_file: &Path, now: DateTime<Utc>) -> Result<Self, PreviewError> {
        let spec = schedule::load(spec_file, now.date_naive())?;
        let spec_text = std::fs::read_to_string(spec_file).map_err(|e| PreviewError::Read(spec_file.to_path_buf(), e))?;
        let spec_file = std::fs::canonicalize(spec_file).map_err(|e| PreviewError::Read(spec_file.to_path_buf(), e))?;
        let spec_dir = spec_file.parent().unwrap_or(Path::new("/")).to_path_buf();
        let repo = Repo::discover(&spec_dir)?;
        let notebook_file = spec_dir.join(&spec.notebook);
        let notebook_file = std::fs::canonicalize(&notebook_file).map_err(|e| PreviewError::Read(notebook_file.clone(), e))?;
        let spec_path = relative(&spec_file, repo.root())?;
        let notebook_path = relative(&notebook_file, repo.root())?;
        let notebook_bytes = std::fs::read(&notebook_file).map_err(|e| PreviewError::Read(notebook_file.clone(), e))?;
        let notebook = notebook::read(&notebook_file)?;
        let first_run = first_run(&spec, now)?;
        let findings = lint::lint(&notebook);
        let (policy, plan) = match data_plan(&notebook, &notebook_file, &first_run.parameters) {
            Ok(plan) => (check(&plan, &spec.purpose).await, Some(plan)),
            Err(error) => (Err(error), None),
        };
        let assets = dag_assets(&spec, plan.as_ref(), &notebook_file, repo.root());
        let dag = dag::generate(&spec, Paths { spec: &spec_path, notebook: &notebook_path }, &assets);
        Ok(Self {
            dag_path: dag::dag_path(&spec),
            spec,
            spec_text,
            repo,
            spec_path,
            notebook_path,
            notebook_file,
            notebook_bytes,
            dag,
            findings,
            policy,
            plan,
            first_run,
        })
    }

    pub fn eligible(&self) -> bool {
        lint::is_eligible(&self.findings)
    }

    /// The policy lets the runs go ahead (allowed, or mode = "log").
    pub fn allowed(&self) -> bool {
        self.policy.as_ref().is_ok_and(|check| !check.refused())
    }

    pub fn schedulable(&self) -> bool {
        self.eligible() && self.allowed()
    }

    pub fn inputs(&self) -> Vec<InputRecord> {
        self.plan.as_ref().map(|plan| manifest::inputs(plan, self.policy.as_ref().ok(), &[])).unwrap_or_default()
    }

    pub fn outputs(&self) -> Vec<OutputRecord> {
        self.plan.as_ref().map(|plan| manifest::outputs(plan, self.policy.as_ref().ok(), &[])).unwrap_or_default()
    }

    /// The policy's verdict as JSON: purpose, mode, allowed, violations, reclassified, error.
    pub fn policy_json(&self) -> Value {
        let record = manifest::policy(self.policy.as_ref().ok(), &[]);
        json!({
            "purpose": self.spec.purpose,
            "mode": record.mode,
            "allowed": self.allowed(),
            "violations": record.violations,
            "reclassified": record.reclassified,
            "error": self.policy.as_ref().err(),
        })
    }

    /// The shape documented in the README (`runner schedule preview --json`).
    pub fn to_json(&self) -> Value {
        json!({
            "schedulable": self.schedulable(),
            "spec": {"path": self.spec_path, "text": self.spec_text, "name": self.spec.name},
            "notebook": self.notebook_path,
            "repository": self.repo.root(),
            "dag": {"path": self.dag_path, "text": self.dag},
            "lint": {"eligible": self.eligible(), "findings": lint::report::values(&self.findings)},
            "policy": self.policy_json(),
            "inputs": self.inputs(),
            "outputs": self.outputs(),
            "first_run": {"logical_date": self.first_run.logical.to_rfc3339(), "parameters": self.first_run.parameters},
        })
    }

    /// Every section, for people.
    pub fn human(&self) -> String {
        let mut out = format!("== spec {}\n{}", self.spec_path.display(), with_newline(&self.spec_text));
        out.push_str(&format!("\n== DAG {} (generated)\n{}", self.dag_path, self.dag));
        out.push_str(&format!("\n== lint {}\n{}", self.notebook_path.display(), lint::report::human(&self.notebook_path, &self.findings)));
        out.push_str(&format!("\n== policy for purpose `{}`\n{}", self.spec.purpose, self.policy_lines()));
        out.push_str("\n== lineage\ninputs:\n");
        let inputs = self.inputs();
        if inputs.is_empty() {
            out.push_str("  (none)\n");
        }
        for input in inputs {
            for table in &input.tables {
                out.push_str(&format!("  cell {} `{}` reads {} (labels: {})\n", input.cell, input.name, table.table, list(&table.labels)));
            }
        }
        out.push_str("outputs:\n");
        let outputs = self.outputs();
        if outputs.is_empty() {
            out.push_str("  (none)\n");
        }
        for output in outputs {
            out.push_str(&format!(
                "  cell {} writes {}.{} ({}; labels: {})\n",
                output.cell,
                output.source,
                output.table,
                output.mode,
                list(&output.labels)
            ));
        }
        out.push_str(&format!("\n{}\n", self.verdict()));
        out
    }

    fn policy_lines(&self) -> String {
        match &self.policy {
            Err(error) => format!("cannot be checked: {error}\n"),
            Ok(check) => {
                let mut out = format!(
                    "mode {}: {}\n",
                    check.mode.as_str(),
                    if check.decision.violations.is_empty() {
                        "allowed"
                    } else if check.refused() {
                        "refused"
                    } else {
                        "violations logged, runs go ahead"
                    }
                );
                for violation in &check.decision.violations {
                    out.push_str(&format!("  {violation}\n"));
                }
                out
            }
        }
    }

    /// `schedulable`, or why not.
    pub fn verdict(&self) -> String {
        let mut reasons = Vec::new();
        if !self.eligible() {
            reasons.push("the notebook is not eligible (see lint)");
        }
        if !self.allowed() {
            reasons.push("the policy does not allow it (see policy)");
        }
        if reasons.is_empty() { "schedulable".into() } else { format!("not schedulable: {}", reasons.join("; ")) }
    }
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') { text.to_owned() } else { format!("{text}\n") }
}

fn list(labels: &std::collections::BTreeSet<String>) -> String {
    if labels.is_empty() { "none".into() } else { labels.iter().cloned().collect::<Vec<_>>().join(", ") }
}

/// `path` relative to `root`, both canonical.
fn relative(path: &Path, root: &Path) -> Result<PathBuf, PreviewError> {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    path.strip_prefix(&root).map(Path::to_path_buf).map_err(|_| PreviewError::OutsideRepo(path.to_path_buf(), root))
}

fn first_run(spec: &Spec, now: DateTime<Utc>) -> Result<FirstRun, PreviewError> {
    let logical = *next_runs(spec, now, 1).first().ok_or(PreviewError::NoRun)?;
    let mut parameters = Map::new();
    for (name, parameter) in &spec.parameters {
        let value = match parameter {
            Parameter::Text(text) => json!(template::render(text, logical).map_err(|e| PreviewError::Parameter(name.clone(), e))?),
            Parameter::Int(i) => json!(i),
            Parameter::Float(f) => json!(f),
            Parameter::Bool(b) => json!(b),
        };
        parameters.insert(name.clone(), value);
    }
    Ok(FirstRun { logical, parameters })
}

/// The tables the run uploads and those its trigger waits for, as Airflow Assets. Without a plan
/// (a notebook that cannot be scheduled yet) the run has no outlets.
fn dag_assets(spec: &Spec, plan: Option<&Plan>, notebook_file: &Path, repo_root: &Path) -> dag::Assets {
    let Ok(config) = data::config::Config::for_notebook(notebook_file, None) else { return dag::Assets::default() };
    let mut outlets: Vec<assets::Asset> = Vec::new();
    for output in plan.map(|plan| manifest::outputs(plan, None, &[])).unwrap_or_default() {
        let asset = assets::asset(&config, repo_root, &output.source, &output.table);
        // Two cells may upload to one table (two partitions, say): one Asset.
        if !outlets.contains(&asset) {
            outlets.push(asset);
        }
    }
    let inputs = spec
        .trigger
        .iter()
        .flat_map(|trigger| &trigger.inputs)
        .map(|input| assets::asset(&config, repo_root, &input.source, &input.table))
        .collect();
    dag::Assets { outlets, inputs }
}

/// The data plan as `runner exec` makes it, with the first run's parameters.
fn data_plan(notebook: &Notebook, file: &Path, parameters: &Map<String, Value>) -> Result<Plan, String> {
    let cells = data::cells::find(notebook).map_err(|e| e.to_string())?;
    let config = data::config::Config::for_notebook(file, None).map_err(|e| e.to_string())?;
    let mut values = notebook::params::defaults(notebook);
    values.extend(parameters.clone());
    data::plan(cells, config, &values).map_err(|e| e.to_string())
}

async fn check(plan: &Plan, purpose: &str) -> Result<RunCheck, String> {
    match policy::check(plan, Some(purpose), &Default::default()).await {
        Ok(check) => Ok(check),
        Err(RunCheckError::Policy(PolicyError::Unresolvable { cell, reason })) => Err(format!("cell {cell}: {reason}")),
        Err(error) => Err(error.to_string()),
    }
}
