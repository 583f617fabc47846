//! The Airflow 3 DAG of a schedule: a readable, deterministic Python file that runs the same
//! `runner exec` on an Airflow worker as the embedded scheduler does, after a `BashSensor` that
//! waits for the inputs when the spec has a `[trigger]`.
//!
//! Airflow renders `bash_command` with Jinja before bash runs it, so every argument is written to
//! survive both: shell-quoted as `shlex.quote` does, and any `{%`/`{#` of user text hidden from
//! Jinja inside a Jinja string literal. The spec's date macros become Airflow's own (`{{ ds }}`,
//! `{{ macros.ds_add(ds, -1) }}`); Airflow's dates are in UTC, so for a schedule in another zone
//! the run's logical date is moved into that zone first (`logical_date.in_timezone(...) | ds`).
//!
//! One function per task: a later operator (issue 7) replaces a function, not the file.

use std::fmt::Write as _;
use std::path::Path;

use chrono_tz::Tz;
use serde_json::Value;

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

/// The DAG file's text.
pub fn generate(spec: &Spec, paths: Paths) -> String {
    let mut out = header(spec, paths);
    out.push_str(&dag_block(spec));
    let mut tasks = Vec::new();
    if spec.trigger.is_some() {
        out.push_str(&wait_for_inputs_task(spec, paths));
        tasks.push("wait_for_inputs");
    }
    out.push_str(&run_notebook_task(spec, paths));
    tasks.push("run_notebook");
    if tasks.len() > 1 {
        let _ = writeln!(out, "\n    {}", tasks.join(" >> "));
    }
    out
}

fn header(spec: &Spec, paths: Paths) -> String {
    let spec_path = docstring_text(&paths.spec.to_string_lossy());
    let mut imports = vec![
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.providers.standard.sensors.bash import BashSensor",
        "from airflow.sdk import DAG",
        "from airflow.timetables.trigger import CronTriggerTimetable",
    ];
    if spec.trigger.is_none() {
        imports.retain(|line| !line.contains("BashSensor"));
    }
    format!(
        r#""""Airflow DAG of the Tiffin schedule `{name}`.

Generated from {spec_path}; do not edit.
Change the spec, then regenerate with `runner schedule preview SPEC`
(`runner schedule submit SPEC` commits it).

Notebook: {notebook}
Owner: {owner}
Purpose: {purpose}
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta

import pendulum
{imports}

# This file is dags/{name}.py in the repository: the commands run from the repository's root.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_REPO = "cd " + shlex.quote(REPO_ROOT) + " && "

"#,
        name = spec.name,
        notebook = docstring_text(&paths.notebook.to_string_lossy()),
        owner = docstring_text(&spec.owner),
        purpose = docstring_text(&spec.purpose),
        imports = imports.join("\n"),
    )
}

/// Text for inside a `"""` docstring: escaped as a Python string literal's body is.
fn docstring_text(text: &str) -> String {
    let quoted = literal(&Value::String(text.to_owned()));
    quoted[1..quoted.len() - 1].to_owned()
}

fn dag_block(spec: &Spec) -> String {
    let zone = literal(&Value::String(spec.timezone.name().to_owned()));
    let date = spec.start_date;
    let mut default_args = vec![
        format!("\"owner\": {}", literal(&Value::String(spec.owner.clone()))),
        format!("\"retries\": {}", spec.retries.count),
        format!("\"retry_delay\": timedelta(seconds={})", spec.retries.delay.as_secs()),
    ];
    if let Some(timeout) = spec.limits.timeout {
        default_args.push(format!("\"execution_timeout\": timedelta(seconds={})", timeout.as_secs()));
    }
    let default_args: String = default_args.iter().map(|arg| format!("        {arg},\n")).collect();
    format!(
        "with DAG(\n    dag_id={dag_id},\n    schedule=CronTriggerTimetable({cron}, timezone={zone}),\n    \
         start_date=pendulum.datetime({y}, {m}, {d}, tz={zone}),\n    catchup=False,\n    default_args={{\n{default_args}    }},\n    \
         tags=[\"tiffin\"],\n):\n",
        dag_id = literal(&Value::String(spec.name.clone())),
        cron = literal(&Value::String(spec.cron.clone())),
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

/// The run itself: `runner exec` as the trial run and the embedded scheduler call it.
fn run_notebook_task(spec: &Spec, paths: Paths) -> String {
    let mut command: Vec<Vec<String>> = exec_arguments(spec, &paths.notebook.to_string_lossy())
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|arg| match arg {
                    Arg::Plain(text) => plain(text),
                    Arg::Template(text) => templated(text, spec.timezone),
                })
                .collect()
        })
        .collect();
    if let Some(first) = command.first_mut() {
        first.insert(0, plain("runner"));
    }
    format!(
        "    run_notebook = BashOperator(\n        task_id=\"run_notebook\",\n        bash_command={},\n    )\n",
        bash_command(&command)
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
            Err(m) => out.push_str(&airflow_macro(*m, zone)),
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

/// A spec macro as Airflow's template: its own variables in UTC, else the logical date moved into
/// the schedule's zone and formatted with Airflow's own filters.
fn airflow_macro(m: Macro, zone: Tz) -> String {
    if zone == Tz::UTC {
        return match m {
            Macro::Ds => "{{ ds }}".into(),
            Macro::DsNodash => "{{ ds_nodash }}".into(),
            Macro::Ts => "{{ ts }}".into(),
            Macro::DsAdd(days) => format!("{{{{ macros.ds_add(ds, {days}) }}}}"),
        };
    }
    let local = format!("logical_date.in_timezone(\"{}\")", zone.name());
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
        assert_eq!(airflow_macro(Macro::Ds, london), "{{ logical_date.in_timezone(\"Europe/London\") | ds }}");
        assert_eq!(airflow_macro(Macro::DsAdd(-1), london), "{{ macros.ds_add(logical_date.in_timezone(\"Europe/London\") | ds, -1) }}");
    }
}
