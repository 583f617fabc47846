//! `runner cell`: one data cell's data movement on its own, for interactive use. The kernel
//! extension (`%load_ext tiffin`) sends each `%%sql`/`%%upload` cell here, so a notebook fetches
//! and writes through the same sources, policy check, types and code in JupyterLab as when it is
//! scheduled. Each command reads the whole cell (header line and body) on stdin and prints one
//! JSON object on stdout; errors go to stderr with the exit codes of `runner exec`.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::{CellArgs, CellCommand, CellOptions};
use crate::data::{self, DataError, Plan, cells, config::Config};
use crate::exec::exit_code;
use crate::policy::{self, PolicyError, RunCheck, RunCheckError, Violation};

#[derive(Debug, thiserror::Error)]
enum CellCommandError {
    #[error("{0}")]
    Usage(String),
    /// Shown without the cell number: in JupyterLab the failing cell is the one the user ran.
    #[error("{}", .0.message)]
    Data(DataError),
    #[error("refused by the purpose policy: {}", .0.join("; "))]
    Refused(Vec<String>),
    #[error("{0}")]
    Io(String),
}

impl CellCommandError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => exit_code::USAGE,
            Self::Data(_) => exit_code::DATA,
            Self::Refused(_) => exit_code::POLICY,
            Self::Io(_) => exit_code::INTERNAL,
        }
    }
}

pub async fn run(args: CellArgs) -> u8 {
    let result = match args.command {
        CellCommand::Sql(options) => sql(&options).await,
        CellCommand::Upload { options, code, write, inherit } => {
            let inherited: BTreeSet<String> = inherit.into_iter().collect();
            if code { upload_code(&options, &inherited).await } else { upload(&options, &inherited, write).await }
        }
    };
    match result {
        Ok(report) => {
            println!("{report}");
            0
        }
        Err(error) => {
            eprintln!("runner: {error}");
            error.exit_code()
        }
    }
}

/// Reads the cell from stdin and plans it like `runner exec` plans a notebook's data cells.
fn plan_cell(options: &CellOptions) -> Result<Plan, CellCommandError> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(|e| CellCommandError::Io(format!("reading the cell from stdin: {e}")))?;
    let cell = cells::parse(0, &text)
        .map_err(|e| CellCommandError::Usage(format!("`{}`: {}", e.header, e.problem)))?
        .ok_or_else(|| CellCommandError::Usage("stdin holds no `%%sql` or `%%upload` cell".into()))?;
    let dir = match &options.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|e| CellCommandError::Io(format!("the current directory: {e}")))?,
    };
    let config = Config::for_dir(&dir, options.config.as_deref()).map_err(|e| CellCommandError::Usage(e.to_string()))?;
    let values = options.parameters.collect().map_err(|e| CellCommandError::Usage(e.to_string()))?;
    data::plan(vec![cell], config, &values).map_err(|e| CellCommandError::Usage(e.message))
}

async fn checked(plan: &Plan, options: &CellOptions, inherited: &BTreeSet<String>) -> Result<RunCheck, CellCommandError> {
    let check = match policy::check(plan, options.purpose.as_deref(), inherited).await {
        Ok(check) => check,
        Err(RunCheckError::Policy(PolicyError::Unresolvable { reason, .. })) => {
            return Err(CellCommandError::Refused(vec![this_cell(&Violation::unresolvable(1, &reason))]));
        }
        Err(RunCheckError::Policy(error)) => return Err(CellCommandError::Usage(error.to_string())),
        Err(RunCheckError::Data(error)) => return Err(CellCommandError::Data(error)),
    };
    if check.refused() {
        return Err(CellCommandError::Refused(check.decision.violations.iter().map(this_cell).collect()));
    }
    for violation in &check.decision.violations {
        eprintln!("runner: policy violation (mode = \"log\", going ahead): {}", this_cell(violation));
    }
    Ok(check)
}

fn out_dir(options: &CellOptions) -> Result<PathBuf, CellCommandError> {
    std::fs::create_dir_all(&options.out).map_err(|e| CellCommandError::Io(format!("{}: {e}", options.out.display())))?;
    std::path::absolute(&options.out).map_err(|e| CellCommandError::Io(format!("{}: {e}", options.out.display())))
}

/// Fetches the `%%sql` cell into `--out` and prints the fetch with the code that reads it.
async fn sql(options: &CellOptions) -> Result<Value, CellCommandError> {
    let plan = plan_cell(options)?;
    let Some(query) = plan.queries.first() else {
        return Err(CellCommandError::Usage("`runner cell sql` takes a `%%sql` cell".into()));
    };
    let check = checked(&plan, options, &BTreeSet::new()).await?;
    let out = out_dir(options)?;
    let mut fetched = Vec::new();
    data::fetch_all(&plan, &out, &mut fetched).await.map_err(CellCommandError::Data)?;
    let Some(input) = fetched.into_iter().next() else {
        return Err(CellCommandError::Io("the fetch produced nothing".into()));
    };
    let code = data::rewrite::sql_cell(&query.cell, &query.source, &input.csv, &input.schema);
    let reads: Vec<String> = check.decision.inputs.iter().flat_map(|facts| &facts.reads).map(|read| read.table.to_string()).collect();
    let mut report = json!({
        "name": query.cell.name,
        "source": query.source,
        "query": query.cell.query,
        "parameters": query.parameters,
        "csv": input.csv,
        "reads": reads,
        "labels": check.input_labels(1),
        "purpose": options.purpose,
        "code": code,
    });
    extend(&mut report, &input)?;
    Ok(report)
}

fn the_upload(plan: &Plan) -> Result<&data::PlannedUpload, CellCommandError> {
    plan.uploads.first().ok_or_else(|| CellCommandError::Usage("`runner cell upload` takes an `%%upload` cell".into()))
}

/// The code that writes the `%%upload` cell's DataFrame into `--out`, checked against the policy
/// first so a refused upload stops before the kernel writes anything.
async fn upload_code(options: &CellOptions, inherited: &BTreeSet<String>) -> Result<Value, CellCommandError> {
    let plan = plan_cell(options)?;
    let upload = the_upload(&plan)?;
    let check = checked(&plan, options, inherited).await?;
    let csv = out_dir(options)?.join(format!("{}.csv", upload.cell.table.file_stem()));
    Ok(json!({
        "table": upload.cell.table.to_string(),
        "source": upload.source,
        "mode": upload.cell.mode.name(),
        "csv": csv,
        "labels": check.output_labels().into_values().next().unwrap_or_default(),
        "code": data::rewrite::upload_cell(&upload.cell, &upload.source, &csv),
    }))
}

/// Checks and loads what the upload code wrote, in one transaction that is committed only with
/// `--write` (otherwise rolled back: the preview of exactly what would be written).
async fn upload(options: &CellOptions, inherited: &BTreeSet<String>, write: bool) -> Result<Value, CellCommandError> {
    let plan = plan_cell(options)?;
    let upload = the_upload(&plan)?;
    let check = checked(&plan, options, inherited).await?;
    let run_id = format!("interactive-{}", uuid::Uuid::new_v4());
    let out: &Path = &options.out;
    let loaded = data::upload_all(&plan, out, &check.output_labels(), &run_id, write).await.map_err(CellCommandError::Data)?;
    let Some(uploaded) = loaded.into_iter().next() else {
        return Err(CellCommandError::Io("the upload loaded nothing".into()));
    };
    let mut report = json!({
        "table": upload.cell.table.to_string(),
        "source": upload.source,
        "mode": upload.cell.mode.name(),
        "partition": upload.partition_value,
        "labels": check.output_labels().into_values().next().unwrap_or_default(),
        "written": write,
    });
    extend(&mut report, &uploaded)?;
    Ok(report)
}

/// Adds the fields of what moved (rows, schema, ...) to the report.
fn extend(report: &mut Value, moved: &impl serde::Serialize) -> Result<(), CellCommandError> {
    let Value::Object(extra) = serde_json::to_value(moved).map_err(|e| CellCommandError::Io(e.to_string()))? else {
        return Ok(());
    };
    if let Value::Object(fields) = report {
        fields.extend(extra);
    }
    Ok(())
}

/// "this cell reads ...": there is one cell, the one the user ran.
fn this_cell(violation: &Violation) -> String {
    format!("this cell {}", violation.reason)
}
