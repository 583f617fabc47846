//! The Airflow 3 DAG of a schedule: a readable, deterministic Python file that runs the same
//! `runner exec` on an Airflow worker as the embedded scheduler does, through the `tiffin`
//! package's `TiffinNotebookOperator`, with a failure callback that sends the owner the notice
//! `runner serve` sends (`runner schedule notify`).
//!
//! A `[trigger]` becomes one of Airflow's two ways of waiting for data. With a `partition`, a
//! `BashSensor` asks `runner schedule ready` at the cron time, as the embedded scheduler does.
//! Without one (the inputs are Tiffin uploads), the DAG is scheduled on the inputs' Assets: every
//! run's `%%upload` tables are its outlet Assets, so a DAG that waits for them runs once they are
//! all uploaded again, on whatever worker.
//!
//! Airflow renders the operator's arguments and the sensor's `bash_command` with Jinja, so any
//! `{%`/`{#`/`{{` of user text is hidden from Jinja inside a Jinja string literal; the sensor's
//! command is also shell-quoted as `shlex.quote` does. The spec's date macros become Airflow's own
//! (`{{ ds }}`, `{{ macros.ds_add(ds, -1) }}`); Airflow's dates are in UTC, so for a schedule in
//! another zone the run's logical date is moved into that zone first (`logical_date.in_timezone
//! (...) | ds`). An Asset-triggered run has no logical date: its date is when it was triggered
//! (`dag_run.run_after`), in the schedule's zone.

use std::fmt::Write as _;
use std::path::Path;

use chrono_tz::Tz;
use serde_json::Value;

use super::assets::{Asset, Uri};
use super::exec_args::{Arg, exec_arguments};
use crate::notebook::python::literal;
use crate::schedule::Spec;
use crate::schedule::template::{self, Macro};

/// Where the generated file goes, relative to the repository root.
pub fn dag_path(spec: &Spec) -> String {
    format!("dags/{}.py", spec.name)
}

/// How often the sensor asks whether the inputs have arrived.
const POKE_INTERVAL_SECONDS: u64 = 300;
/// `runner schedule ready` exits 1 for "not yet"; any other failure fails the sensor.
const NOT_READY_EXIT_CODE: u8 = 1;

/// Repository-relative paths of what the DAG names.
#[derive(Debug, Clone, Copy)]
pub struct Paths<'a> {
    pub spec: &'a Path,
    pub notebook: &'a Path,
}

/// The tables a run writes (its `%%upload` cells) and those its trigger waits for, as Assets.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    pub outlets: Vec<Asset>,
    pub inputs: Vec<Asset>,
}

/// What a run's dates are taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Basis {
    /// A cron run: its logical date.
    Logical,
    /// An Asset-triggered run: when it was triggered.
    RunAfter,
}

/// Whether the DAG runs on its inputs' Assets rather than on the cron: a trigger that waits for
/// uploads only (no partition to look for).
fn on_assets(spec: &Spec) -> bool {
    spec.trigger.as_ref().is_some_and(|trigger| trigger.partition.is_none())
}

/// Whether a sensor waits for the inputs at the cron time: a trigger that looks for a partition.
fn has_sensor(spec: &Spec) -> bool {
    spec.trigger.is_some() && !on_assets(spec)
}

/// The DAG file's text.
pub fn generate(spec: &Spec, paths: Paths, assets: &Assets) -> String {
    let basis = if on_assets(spec) { Basis::RunAfter } else { Basis::Logical };
    let mut out = header(spec, paths, !assets.outlets.is_empty() || on_assets(spec));
    let inputs: &[Asset] = if basis == Basis::RunAfter { &assets.inputs } else { &[] };
    out.push_str(&asset_block(&assets.outlets, inputs));
    out.push_str(&dag_block(spec, assets));
    let mut tasks = Vec::new();
    if has_sensor(spec) {
        out.push_str(&wait_for_inputs_task(spec, paths));
        tasks.push("wait_for_inputs");
    }
    out.push_str(&run_notebook_task(spec, paths, assets, basis));
    tasks.push("run_notebook");
    if tasks.len() > 1 {
        let _ = writeln!(out, "\n    {}", tasks.join(" >> "));
    }
    out
}

fn header(spec: &Spec, paths: Paths, with_assets: bool) -> String {
    let spec_path = paths.spec.to_string_lossy();
    let sensor = has_sensor(spec);
    let mut imports = vec!["import pendulum"];
    if sensor {
        imports.push("from airflow.providers.standard.sensors.bash import BashSensor");
    }
    imports.push(if with_assets { "from airflow.sdk import DAG, Asset" } else { "from airflow.sdk import DAG" });
    if !on_assets(spec) {
        imports.push("from airflow.timetables.trigger import CronTriggerTimetable");
    }
    imports.push("from tiffin.airflow import TiffinFailureNotifier, TiffinNotebookOperator");
    let in_repo = if sensor { "IN_REPO = \"cd \" + shlex.quote(REPO_ROOT) + \" && \"\n" } else { "" };
    format!(
        r#""""Airflow DAG of the Tiffin schedule `{name}`.

Generated from {spec_doc}; do not edit.
Change the spec, then regenerate with `runner schedule preview SPEC`
(`runner schedule submit SPEC` commits it).

Notebook: {notebook}
Owner: {owner}
Purpose: {purpose}
"""

from __future__ import annotations

import os
{shlex}from datetime import timedelta

{imports}

# This file is dags/{name}.py in the repository: the commands run from the repository's root.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
{in_repo}SPEC = {spec_literal}

"#,
        name = spec.name,
        spec_doc = docstring_text(&spec_path),
        notebook = docstring_text(&paths.notebook.to_string_lossy()),
        owner = docstring_text(&spec.owner),
        purpose = docstring_text(&spec.purpose),
        shlex = if sensor { "import shlex\n" } else { "" },
        imports = imports.join("\n"),
        spec_literal = py(&spec_path),
    )
}

/// A Python string literal.
fn py(text: &str) -> String {
    literal(&Value::String(text.to_owned()))
}

/// Text for inside a `"""` docstring: escaped as a Python string literal's body is.
fn docstring_text(text: &str) -> String {
    let quoted = py(text);
    quoted[1..quoted.len() - 1].to_owned()
}

/// One `Asset(...)` per table the run uploads (`OUTLETS`) and, for a DAG scheduled on its
/// inputs, per input (`INPUTS`).
fn asset_block(outlets: &[Asset], inputs: &[Asset]) -> String {
    if outlets.is_empty() && inputs.is_empty() {
        return String::new();
    }
    let list = |items: &[Asset]| -> String { items.iter().map(|asset| format!("    {},\n", asset_expr(asset))).collect() };
    let mut out = String::from("# Tables as Airflow Assets, named as the runner's lineage names them.\n");
    for (name, items) in [("OUTLETS", outlets), ("INPUTS", inputs)] {
        if !items.is_empty() {
            let _ = write!(out, "{name} = [\n{}]\n", list(items));
        }
    }
    out.push('\n');
    out
}

fn asset_expr(asset: &Asset) -> String {
    let uri = match &asset.uri {
        Uri::Fixed(uri) => py(uri),
        Uri::SqliteInRepo { file, table } => {
            format!("\"sqlite://\" + os.path.join(REPO_ROOT, {}) + {}", py(&file.to_string_lossy()), py(&format!("/{table}")))
        }
    };
    format!("Asset(name={}, uri={uri})", py(&asset.name))
}

fn dag_block(spec: &Spec, assets: &Assets) -> String {
    let zone = py(spec.timezone.name());
    let date = spec.start_date;
    let mut default_args = vec![
        format!("\"owner\": {}", py(&spec.owner)),
        format!("\"retries\": {}", spec.retries.count),
        format!("\"retry_delay\": timedelta(seconds={})", spec.retries.delay.as_secs()),
    ];
    if let Some(timeout) = spec.limits.timeout {
        default_args.push(format!("\"execution_timeout\": timedelta(seconds={})", timeout.as_secs()));
    }
    // Airflow calls it once a task has failed for good (after its last retry), as serve notifies.
    default_args.push(format!("\"on_failure_callback\": TiffinFailureNotifier(REPO_ROOT, SPEC, timezone={zone})"));
    let default_args: String = default_args.iter().map(|arg| format!("        {arg},\n")).collect();
    let schedule = if on_assets(spec) {
        // Every input Asset updated since the DAG's last run: Airflow's form of "uploaded since
        // the last run".
        let all: Vec<String> = (0..assets.inputs.len()).map(|i| format!("INPUTS[{i}]")).collect();
        if all.len() == 1 { all.join("") } else { format!("({})", all.join(" & ")) }
    } else {
        format!("CronTriggerTimetable({}, timezone={zone})", py(&spec.cron))
    };
    format!(
        "with DAG(\n    dag_id={dag_id},\n    schedule={schedule},\n    \
         start_date=pendulum.datetime({y}, {m}, {d}, tz={zone}),\n    catchup={catchup},\n    default_args={{\n{default_args}    }},\n    \
         tags=[\"tiffin\"],\n):\n",
        dag_id = py(&spec.name),
        catchup = if spec.catchup { "True" } else { "False" },
        y = chrono::Datelike::year(&date),
        m = chrono::Datelike::month(&date),
        d = chrono::Datelike::day(&date),
    )
}

/// Uploads count from the start of the DAG's last successful run, as `runner serve` counts them
/// from its schedule's; Airflow leaves the variable unset before the first success (then any
/// upload counts). The rendered instant is ISO 8601 without spaces: no quoting needed.
const SINCE_LAST_SUCCESS: &str = "{% if prev_start_date_success %}--since {{ prev_start_date_success.isoformat() }}{% endif %}";

/// `runner schedule ready SPEC --logical-date DS [--since T]`: 0 when the inputs are there, 1 not
/// yet, 2 error.
fn wait_for_inputs_task(spec: &Spec, paths: Paths) -> String {
    let Some(trigger) = &spec.trigger else { return String::new() };
    let command = [
        vec![plain("runner"), plain("schedule"), plain("ready"), plain(&paths.spec.to_string_lossy())],
        vec![plain("--logical-date"), templated("{{ ds }}", spec.timezone)],
        vec![SINCE_LAST_SUCCESS.to_owned()],
    ];
    format!(
        "    wait_for_inputs = BashSensor(\n        task_id=\"wait_for_inputs\",\n        bash_command={},\n        \
         retry_exit_code={NOT_READY_EXIT_CODE},\n        poke_interval={POKE_INTERVAL_SECONDS},\n        timeout={},\n        \
         mode=\"reschedule\",\n    )\n",
        bash_command(&command),
        trigger.timeout.as_secs(),
    )
}

/// The run itself: `runner exec` with the arguments the trial run and the embedded scheduler
/// give it; the operator adds where the manifest and the executed notebook go.
fn run_notebook_task(spec: &Spec, paths: Paths, assets: &Assets, basis: Basis) -> String {
    let groups = exec_arguments(spec, &paths.notebook.to_string_lossy());
    let lines: String = groups
        .iter()
        .skip(1) // `exec NOTEBOOK`: the operator's own
        .map(|group| {
            let args: Vec<String> = group
                .iter()
                .map(|arg| match arg {
                    Arg::Plain(text) => py(&jinja_text(text)),
                    Arg::Template(text) => py(&jinja_value(text, spec.timezone, basis)),
                })
                .collect();
            format!("            {},\n", args.join(", "))
        })
        .collect();
    let outlets = if assets.outlets.is_empty() { "" } else { "        outlets=OUTLETS,\n" };
    format!(
        "    run_notebook = TiffinNotebookOperator(\n        task_id=\"run_notebook\",\n        repo=REPO_ROOT,\n        \
         notebook={},\n        arguments=[\n{lines}        ],\n{outlets}    )\n",
        py(&paths.notebook.to_string_lossy()),
    )
}

/// The Python expression of a command, one option with its values per line, run in the
/// repository (`IN_REPO`).
fn bash_command(groups: &[Vec<String>]) -> String {
    let lines: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let text = group.join(" ");
            if i == 0 { format!("IN_REPO + {}", literal(&Value::String(text))) } else { literal(&Value::String(format!(" {text}"))) }
        })
        .collect();
    format!("(\n            {}\n        )", lines.join("\n            "))
}

/// A literal argument, safe for bash and Jinja.
fn plain(text: &str) -> String {
    shell_quote(&[Ok(text)], Tz::UTC)
}

/// A spec value with macros, as Airflow renders it for the same run. The spec was checked, so its
/// macros parse; a value that does not is passed on as text.
fn templated(value: &str, zone: Tz) -> String {
    match template::pieces(value) {
        Ok(pieces) => shell_quote(&pieces, zone),
        Err(_) => plain(value),
    }
}

/// A spec value with macros as one Jinja template (an argument the operator passes as it is).
fn jinja_value(value: &str, zone: Tz, basis: Basis) -> String {
    match template::pieces(value) {
        Ok(pieces) => pieces
            .iter()
            .map(|piece| match piece {
                Ok(text) => jinja_text(text),
                Err(m) => airflow_macro(*m, zone, basis),
            })
            .collect(),
        Err(_) => jinja_text(value),
    }
}

/// Quoted as `shlex.quote` quotes, with macros as Jinja expressions (they render to dates and
/// times, which need no quoting inside single quotes).
fn shell_quote(pieces: &[Result<&str, Macro>], zone: Tz) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c);
    if let [Ok(text)] = pieces
        && !text.is_empty()
        && text.chars().all(safe)
    {
        return (*text).to_owned();
    }
    let mut out = String::from("'");
    for piece in pieces {
        match piece {
            Ok(text) => out.push_str(&jinja_text(&text.replace('\'', "'\"'\"'"))),
            Err(m) => out.push_str(&airflow_macro(*m, zone, Basis::Logical)),
        }
    }
    out.push('\'');
    out
}

/// Text Jinja leaves alone; text holding a Jinja opener (`{%`, `{#`, `{{`) goes in a Jinja string
/// literal.
fn jinja_text(text: &str) -> String {
    if ["{%", "{#", "{{"].iter().any(|opener| text.contains(opener)) {
        format!("{{{{ \"{}\" }}}}", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text.to_owned()
    }
}

/// A spec macro as Airflow's template: its own variables for a cron run in UTC, else the run's date
/// moved into the schedule's zone and formatted with Airflow's own filters.
fn airflow_macro(m: Macro, zone: Tz, basis: Basis) -> String {
    if zone == Tz::UTC && basis == Basis::Logical {
        return match m {
            Macro::Ds => "{{ ds }}".into(),
            Macro::DsNodash => "{{ ds_nodash }}".into(),
            Macro::Ts => "{{ ts }}".into(),
            Macro::DsAdd(days) => format!("{{{{ macros.ds_add(ds, {days}) }}}}"),
        };
    }
    // The logical date is a pendulum DateTime; `run_after` a plain datetime, moved with the
    // zone dateutil finds (Airflow's `macros.dateutil`).
    let local = match basis {
        Basis::Logical => format!("logical_date.in_timezone(\"{}\")", zone.name()),
        Basis::RunAfter => format!("dag_run.run_after.astimezone(macros.dateutil.tz.gettz(\"{}\"))", zone.name()),
    };
    match m {
        Macro::Ds => format!("{{{{ {local} | ds }}}}"),
        Macro::DsNodash => format!("{{{{ {local} | ds_nodash }}}}"),
        Macro::Ts => format!("{{{{ {local} | ts }}}}"),
        Macro::DsAdd(days) => format!("{{{{ macros.ds_add({local} | ds, {days}) }}}}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_quoted_as_shlex_quotes_them() {
        assert_eq!(plain("reports/daily.ipynb"), "reports/daily.ipynb");
        assert_eq!(plain(""), "''");
        assert_eq!(plain("it's"), "'it'\"'\"'s'");
        assert_eq!(plain("a b;$(rm)"), "'a b;$(rm)'");
        assert_eq!(templated("day={{ ds_nodash }}", Tz::UTC), "'day={{ ds_nodash }}'");
        assert_eq!(templated("{{ ds_add(ds, -1) }}", Tz::UTC), "'{{ macros.ds_add(ds, -1) }}'");
    }

    #[test]
    fn jinja_openers_in_text_are_hidden_from_jinja() {
        assert_eq!(plain("{% raw %}"), "'{{ \"{% raw %}\" }}'");
        assert_eq!(plain("a\\{#\"b"), "'{{ \"a\\\\{#\\\"b\" }}'");
    }

    #[test]
    fn other_zones_move_the_logical_date_first() {
        let london = chrono_tz::Europe::London;
        assert_eq!(airflow_macro(Macro::Ds, london, Basis::Logical), "{{ logical_date.in_timezone(\"Europe/London\") | ds }}");
        assert_eq!(
            airflow_macro(Macro::DsAdd(-1), london, Basis::Logical),
            "{{ macros.ds_add(logical_date.in_timezone(\"Europe/London\") | ds, -1) }}"
        );
    }

    #[test]
    fn asset_triggered_runs_take_their_date_from_the_trigger() {
        assert_eq!(
            airflow_macro(Macro::Ds, Tz::UTC, Basis::RunAfter),
            "{{ dag_run.run_after.astimezone(macros.dateutil.tz.gettz(\"UTC\")) | ds }}"
        );
        assert_eq!(jinja_value("day={{ ds_nodash }}", Tz::UTC, Basis::Logical), "day={{ ds_nodash }}");
        assert_eq!(jinja_value("{% raw %}", Tz::UTC, Basis::Logical), "{{ \"{% raw %}\" }}");
    }
}
