//! `runner schedule show SPEC`: the checked spec, with its next run times and the parameters the
//! first of them gets; or every problem of the spec, each with its line.

use chrono::Utc;
use serde_json::{Value, json};

use super::spec::{Event, Parameter, Spec, Target};
use super::{next_runs, template};
use crate::cli::{ScheduleArgs, ScheduleCommand};
use crate::exec::exit_code;

const SHOWN_RUNS: usize = 3;

pub async fn run(args: ScheduleArgs) -> u8 {
    match args.command {
        ScheduleCommand::Preview { spec, json } => crate::pipeline::command::preview(&spec, json).await,
        ScheduleCommand::Submit { spec, push, pull_request, json } => {
            crate::pipeline::command::submit(&spec, crate::pipeline::review::SubmitOptions { push, pull_request }, json).await
        }
        ScheduleCommand::Show { spec, json } => {
            let now = Utc::now();
            match super::load(&spec, now.date_naive()) {
                Ok(checked) => {
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
            "on": n.on.iter().map(|e| match e { Event::Failure => "failure", Event::Success => "success", Event::Slow => "slow" }).collect::<Vec<_>>(),
            "slow_after_seconds": n.slow_after.map(|d| d.as_secs()),
        })).collect::<Vec<_>>(),
    })
}

fn human(spec: &Spec, view: &Value) -> String {
    let mut out = format!(
        "{}: {} (owner {}, purpose {})\ncadence: {} in {}, from {}\nnext runs:\n",
        spec.name,
        spec.notebook.display(),
        spec.owner,
        spec.purpose,
        spec.cron,
        spec.timezone.name(),
        spec.start_date
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
