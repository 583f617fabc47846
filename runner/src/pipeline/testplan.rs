//! The test plan committed with a schedule (`<name>.testplan.md` beside the spec) and used as the
//! pull request's body: the trial run's result, timings per cell, rows in and out per table, the
//! lint findings, the policy's decision, the runner's version and the commit it is based on.

use std::fmt::Write as _;

use serde_json::Value;

use super::preview::Preview;
use super::trial::TrialRun;

/// Where the test plan goes: beside the spec, `<name>.testplan.md`.
pub fn path(preview: &Preview) -> String {
    let file = format!("{}.testplan.md", preview.spec.name);
    match preview.spec_path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        Some(dir) => format!("{}/{file}", dir.display()),
        None => file,
    }
}

/// The markdown text.
pub fn render(preview: &Preview, trial: &TrialRun, base: &str, base_commit: &str) -> String {
    let manifest = &trial.manifest;
    let mut out = String::new();
    let _ = writeln!(out, "# Test plan: schedule `{}`\n", preview.spec.name);
    let _ = writeln!(
        out,
        "Spec `{}`, notebook `{}`, generated DAG `{}`.  \nBased on `{base}` at `{base_commit}`; runner {}.\n",
        preview.spec_path.display(),
        preview.notebook_path.display(),
        preview.dag_path,
        env!("CARGO_PKG_VERSION"),
    );
    let status = manifest["status"].as_str().unwrap_or("error");
    let _ = writeln!(out, "## Trial run: {status}\n");
    let _ = writeln!(out, "- Exit code {}, {} s.", trial.exit_code, seconds(&manifest["seconds"]));
    let _ = writeln!(
        out,
        "- Parameters of the first scheduled run ({}): {}.",
        preview.first_run.logical.to_rfc3339(),
        if preview.first_run.parameters.is_empty() {
            "none".to_owned()
        } else {
            preview.first_run.parameters.iter().map(|(k, v)| format!("`{k} = {v}`")).collect::<Vec<_>>().join(", ")
        }
    );
    let sandbox = if manifest["sandbox"]["enforced"].as_bool() == Some(true) { "enforced" } else { "NOT enforced" };
    let _ = writeln!(out, "- Sandbox {sandbox}. Uploads were loaded and rolled back: no table changed.");
    if let Some(failure) = trial.failure() {
        let _ = writeln!(out, "- **Failed**: {}", one_line(&failure));
    }
    out.push_str(
        "\n### Cells\n\nNumbered as in the executed notebook (with its injected-parameters cell).\n\n\
         | cell | status | seconds |\n|---:|---|---:|\n",
    );
    for cell in manifest["cells"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "| {} | {} | {} |", cell["cell"], text(&cell["status"]), seconds(&cell["seconds"]));
    }
    out.push_str("\n### Data\n\n| | cell | table | rows | labels |\n|---|---:|---|---:|---|\n");
    for input in manifest["inputs"].as_array().into_iter().flatten() {
        let tables: Vec<String> = input["tables"].as_array().into_iter().flatten().map(|t| text(&t["table"])).collect();
        let _ = writeln!(
            out,
            "| in | {} | {} (as `{}`) | {} | {} |",
            input["cell"],
            cell_text(&tables.join(", ")),
            text(&input["name"]),
            rows(&input["fetch"]),
            labels(&input["labels"])
        );
    }
    for output in manifest["outputs"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "| out | {} | {}.{} ({}) | {} | {} |",
            output["cell"],
            text(&output["source"]),
            text(&output["table"]),
            text(&output["mode"]),
            rows(&output["upload"]),
            labels(&output["labels"])
        );
    }
    let _ = writeln!(out, "\n## Lint\n\n```\n{}```\n", crate::lint::report::human(&preview.notebook_path, &preview.findings));
    let _ = writeln!(out, "## Policy\n");
    let policy = preview.policy_json();
    let _ = writeln!(
        out,
        "Purpose `{}`, mode {}: {}.",
        preview.spec.purpose,
        policy["mode"].as_str().unwrap_or("unknown"),
        if preview.allowed() { "allowed" } else { "refused" }
    );
    for violation in policy["violations"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "- {}", one_line(&text(violation)));
    }
    if let Some(error) = policy["error"].as_str() {
        let _ = writeln!(out, "- cannot be checked: {}", one_line(error));
    }
    out
}

fn text(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

fn seconds(value: &Value) -> String {
    value.as_f64().map_or_else(|| "-".into(), |s| format!("{s:.3}"))
}

fn rows(done: &Value) -> String {
    done["rows"].as_u64().map_or_else(|| "-".into(), |n| n.to_string())
}

fn labels(value: &Value) -> String {
    let labels: Vec<String> = value.as_array().into_iter().flatten().map(text).collect();
    if labels.is_empty() { "none".into() } else { cell_text(&labels.join(", ")) }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Text for a markdown table cell.
fn cell_text(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}
