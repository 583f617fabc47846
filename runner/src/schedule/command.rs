//! `runner schedule show SPEC`: the checked spec, with its next run times and the parameters the
//! first of them gets; or every problem of the spec, each with its line. `runner schedule
//! notify-test` is in `notify::command`.

use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};

use super::spec::{Parameter, Spec, Target};
use super::trigger::{self, Readiness};
use super::{next_runs, template};
use crate::cli::{ScheduleArgs, ScheduleCommand};
use crate::data::config::Config;
use crate::exec::exit_code;
use crate::serve;

const SHOWN_RUNS: usize = 3;

pub async fn run(args: ScheduleArgs) -> u8 {
    match args.command {
        ScheduleCommand::Show { spec, json, now } => show(&spec, json, now.map_or_else(Utc::now, |t| t.with_timezone(&Utc))),
        ScheduleCommand::Ready { spec, logical_date, since } => ready(&spec, logical_date, since.map(|t| t.with_timezone(&Utc))).await,
        ScheduleCommand::List { repo, json } => serve::command::list(&repo, json),
        ScheduleCommand::Run { name, repo } => serve::command::run_now(&name, &repo),
        ScheduleCommand::Cancel { run, repo } => serve::command::cancel(&run, &repo),
        ScheduleCommand::Retry { run, repo } => serve::command::retry(&run, &repo),
        ScheduleCommand::Backfill { name, from, to, repo } => serve::command::backfill(&name, from, to, &repo),
        ScheduleCommand::Pause { name, repo } => serve::command::pause(&name, true, &repo),
        ScheduleCommand::Resume { name, repo } => serve::command::pause(&name, false, &repo),
        ScheduleCommand::NotifyTest(args) => crate::notify::command::run(args).await,
        ScheduleCommand::Notify(args) => crate::notify::command::notify(args).await,
        ScheduleCommand::Preview { spec, json } => crate::pipeline::command::preview(&spec, json).await,
        ScheduleCommand::Submit { spec, push, pull_request, json } => {
            crate::pipeline::command::submit(&spec, crate::pipeline::review::SubmitOptions { push, pull_request }, json).await
        }
    }
}

fn show(spec: &Path, json: bool, now: DateTime<Utc>) -> u8 {
    match super::load(spec, now.date_naive()) {
        Ok(checked) => {
            for warning in crate::notify::command::setup_warnings(spec, &checked) {
                eprintln!("warning: {warning}");
            }
            let view = view(&checked, now);
            if json {
                println!("{view:#}");
            } else {
                print!("{}", human(&checked, &view));
            }
            0
        }
        Err(error) => {
            eprintln!("{error}");
            exit_code::USAGE
        }
    }
}

/// `runner schedule ready`: 0 when every input arrived, 1 when some did not (named), 2 on errors.
async fn ready(spec_path: &Path, logical_date: NaiveDate, since: Option<DateTime<Utc>>) -> u8 {
    let spec = match super::load(spec_path, Utc::now().date_naive()) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("{error}");
            return exit_code::USAGE;
        }
    };
    let Some(trigger_spec) = &spec.trigger else {
        println!("{} has no [trigger]: nothing to wait for", spec.name);
        return 0;
    };
    let dir = spec_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let notebook_dir = dir.join(&spec.notebook).parent().map_or_else(|| dir.to_path_buf(), Path::to_path_buf);
    let config = match Config::for_dir(&notebook_dir, None) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("runner: {error}");
            return exit_code::USAGE;
        }
    };
    match trigger::check(trigger_spec, &config, &logical_date.to_string(), since).await {
        Ok(Readiness::Ready) => {
            println!("ready: every input of {} arrived for {logical_date}", spec.name);
            0
        }
        Ok(Readiness::Waiting(missing)) => {
            println!("waiting for {} input(s) of {} for {logical_date}:", missing.len(), spec.name);
            for input in missing {
                println!("  {input}");
            }
            1
        }
        Err(error) => {
            eprintln!("runner: {error}");
            exit_code::USAGE
        }
    }
}

fn parameter_value(parameter: &Parameter) -> Value {
    match parameter {
        Parameter::Text(text) => json!(text),
        Parameter::Int(i) => json!(i),
        Parameter::Float(f) => json!(f),
        Parameter::Bool(b) => json!(b),
    }
}

fn view(spec: &Spec, now: chrono::DateTime<Utc>) -> Value {
    let runs = next_runs(spec, now, SHOWN_RUNS);
    let first_run_parameters: serde_json::Map<String, Value> = spec
        .parameters
        .iter()
        .map(|(name, parameter)| {
            let value = match (parameter, runs.first()) {
                (Parameter::Text(text), Some(first)) => template::render(text, *first).map_or_else(|e| json!(e), |v| json!(v)),
                (other, _) => parameter_value(other),
            };
            (name.clone(), value)
        })
        .collect();
    json!({
        "name": spec.name,
        "notebook": spec.notebook,
        "owner": spec.owner,
        "purpose": spec.purpose,
        "cron": spec.cron,
        "timezone": spec.timezone.name(),
        "start_date": spec.start_date.to_string(),
        "catchup": spec.catchup,
        "next_runs": runs.iter().map(|t| t.to_rfc3339()).collect::<Vec<_>>(),
        "parameters": spec.parameters.iter().map(|(k, v)| (k.clone(), parameter_value(v))).collect::<serde_json::Map<_, _>>(),
        "first_run_parameters": first_run_parameters,
        "trigger": spec.trigger.as_ref().map(|t| json!({
            "inputs": t.inputs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "partition": t.partition,
            "timeout_seconds": t.timeout.as_secs(),
        })),
        "limits": {
            "timeout_seconds": spec.limits.timeout.map(|d| d.as_secs()),
            "cell_timeout_seconds": spec.limits.cell_timeout.map(|d| d.as_secs()),
            "memory_bytes": spec.limits.memory,
        },
        "retries": {"count": spec.retries.count, "delay_seconds": spec.retries.delay.as_secs()},
        "notify": spec.notify.iter().map(|n| json!({
            "email": match &n.target { Target::Email(e) => Some(e), Target::Webhook(_) => None },
            "webhook": match &n.target { Target::Webhook(w) => Some(w), Target::Email(_) => None },
            "on": n.on.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
            "slow_after_seconds": n.slow_after.map(|d| d.as_secs()),
        })).collect::<Vec<_>>(),
    })
}

fn human(spec: &Spec, view: &Value) -> String {
    let mut out = format!(
        "{}: {} (owner {}, purpose {})\ncadence: {} in {}, from {}{}\nnext runs:\n",
        spec.name,
        spec.notebook.display(),
        spec.owner,
        spec.purpose,
        spec.cron,
        spec.timezone.name(),
        spec.start_date,
        if spec.catchup { ", every missed time caught up" } else { "" }
    );
    for run in view["next_runs"].as_array().into_iter().flatten() {
        out.push_str(&format!("  {}\n", run.as_str().unwrap_or_default()));
    }
    if let Some(parameters) = view["first_run_parameters"].as_object().filter(|p| !p.is_empty()) {
        out.push_str("parameters (for the first run):\n");
        for (name, value) in parameters {
            out.push_str(&format!("  {name} = {value}\n"));
        }
    }
    if let Some(trigger) = &spec.trigger {
        let tables: Vec<String> = trigger.inputs.iter().map(ToString::to_string).collect();
        let partition = trigger.partition.as_ref().map(|p| format!(" (partition {p} = ds)")).unwrap_or_default();
        out.push_str(&format!("waits for: {}{partition}, at most {}s\n", tables.join(", "), trigger.timeout.as_secs()));
    }
    out
}
