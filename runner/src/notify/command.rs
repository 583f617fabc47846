//! `runner schedule notify-test SPEC`: sends a notice to every target of a spec that listens to
//! the event, so the SMTP settings and webhooks are known to work before a run fails;
//! `runner schedule notify SPEC`: the notice of a run another scheduler (Airflow) ran, the same
//! message `runner serve` sends; and the setup problems `runner schedule show` warns about.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;

use super::delivery::target_name;
use super::notice::{CellError, FailingCell, Notice, RunOf};
use super::settings::Settings;
use crate::cli::{NotifyArgs, NotifyTestArgs};
use crate::data::config::Config;
use crate::exec::exit_code;
use crate::notebook::CellType;
use crate::schedule::spec::{Event, Spec, Target};

const LOG_FILE_NAME: &str = "notifications.jsonl";
const SAMPLE_RUN_ID: &str = "notify-test";

pub async fn run(args: NotifyTestArgs) -> u8 {
    match prepare(&args) {
        Ok((spec, settings, notice, log)) => send(&spec, &settings, args.event, &notice, &log).await,
        Err(error) => {
            eprintln!("{error}");
            exit_code::USAGE
        }
    }
}

/// `runner schedule notify`: the notice of a finished run, from its manifest (or, for a run that
/// never started, from its id and message).
pub async fn notify(args: NotifyArgs) -> u8 {
    match prepare_run_notice(&args) {
        Ok((spec, settings, notice, log)) => send(&spec, &settings, args.event, &notice, &log).await,
        Err(error) => {
            eprintln!("runner: {error}");
            exit_code::USAGE
        }
    }
}

/// Delivers `notice` to the spec's targets that listen to `event` and prints each result.
async fn send(spec: &Spec, settings: &Settings, event: Event, notice: &Notice, log: &Path) -> u8 {
    let deliveries = super::deliver(settings, &spec.notify, event, notice, log).await;
    if deliveries.is_empty() {
        println!("no [[notify]] target of {} listens to `{}`", spec.name, event.as_str());
        return 0;
    }
    for delivery in &deliveries {
        let attempts = if delivery.attempts == 1 { "1 attempt".to_owned() } else { format!("{} attempts", delivery.attempts) };
        match &delivery.error {
            None => println!("delivered {} ({attempts})", target_name(&delivery.target)),
            Some(error) => println!("FAILED    {} ({attempts}): {error}", target_name(&delivery.target)),
        }
    }
    println!("delivery log: {}", log.display());
    if deliveries.iter().all(super::Delivery::delivered) { 0 } else { exit_code::CELL_ERROR }
}

fn prepare_run_notice(args: &NotifyArgs) -> Result<(Spec, Settings, Notice, PathBuf), String> {
    let spec = crate::schedule::load(&args.spec, Utc::now().date_naive()).map_err(|e| e.to_string())?;
    let (config, settings) = settings(&args.spec, &spec, args.config.as_deref())?;
    let run = RunOf { schedule: &spec.name, logical_date: &args.logical_date, attempt: args.attempt };
    let notice = match (&args.manifest, &args.run_id) {
        (Some(manifest), _) => Notice::from_manifest(manifest, &run).map_err(|e| e.to_string())?,
        (None, Some(run_id)) => Notice {
            schedule: spec.name.clone(),
            run_id: run_id.clone(),
            logical_date: args.logical_date.clone(),
            attempt: args.attempt,
            status: status_of(args.event).to_owned(),
            message: args.message.clone(),
            failing_cell: None,
            duration: Duration::ZERO,
        },
        (None, None) => return Err("either --manifest or --run-id is needed".into()),
    };
    let log = args.log.clone().unwrap_or_else(|| config.lineage.file.with_file_name(LOG_FILE_NAME));
    Ok((spec, settings, notice, log))
}

fn prepare(args: &NotifyTestArgs) -> Result<(Spec, Settings, Notice, PathBuf), String> {
    let now = Utc::now();
    let spec = crate::schedule::load(&args.spec, now.date_naive()).map_err(|e| e.to_string())?;
    let (config, settings) = settings(&args.spec, &spec, args.config.as_deref())?;
    let listening: Vec<_> = spec.notify.iter().filter(|n| n.on.contains(&args.event)).collect();
    if listening.is_empty() {
        return Err(format!("{}: no [[notify]] entry has `{}` in its `on`", args.spec.display(), args.event.as_str()));
    }
    let logical_date = crate::schedule::next_runs(&spec, now, 1)
        .first()
        .map_or_else(|| spec.start_date.to_string(), |run| run.format("%Y-%m-%dT%H:%M").to_string());
    let run = RunOf { schedule: &spec.name, logical_date: &logical_date, attempt: 1 };
    let mut notice = match &args.manifest {
        Some(manifest) => Notice::from_manifest(manifest, &run).map_err(|e| e.to_string())?,
        None => sample(&run, args.event, &notebook_path(&args.spec, &spec)),
    };
    if args.event == Event::Slow {
        // Past every target's threshold, so that each listening target gets the test.
        notice.duration = notice.duration.max(listening.iter().filter_map(|n| n.slow_after).max().unwrap_or_default());
    }
    let log = args.log.clone().unwrap_or_else(|| config.lineage.file.with_file_name(LOG_FILE_NAME));
    Ok((spec, settings, notice, log))
}

/// The config the spec's notebook runs with (`explicit`, or the nearest tiffin.toml), and its
/// `[notify]` settings.
fn settings(spec_path: &Path, spec: &Spec, explicit: Option<&Path>) -> Result<(Config, Settings), String> {
    let config = Config::for_notebook(&notebook_path(spec_path, spec), explicit).map_err(|e| e.to_string())?;
    let settings = Settings::from_config(&config).map_err(|e| e.to_string())?;
    Ok((config, settings))
}

/// What would keep the spec's notices from being sent, found without sending any.
pub fn setup_warnings(spec_path: &Path, spec: &Spec) -> Vec<String> {
    if spec.notify.is_empty() {
        return Vec::new();
    }
    match settings(spec_path, spec, None) {
        Err(error) => vec![format!("notices cannot be sent: {error}")],
        Ok((config, settings)) if settings.smtp.is_none() => spec
            .notify
            .iter()
            .filter_map(|n| match &n.target {
                Target::Email(address) => Some(format!(
                    "e-mail to {address} cannot be sent: {} has no [notify] smtp_host and from",
                    config.path.as_deref().map_or_else(|| "no tiffin.toml was found, so it".to_owned(), |p| p.display().to_string())
                )),
                Target::Webhook(_) => None,
            })
            .collect(),
        Ok(_) => Vec::new(),
    }
}

/// A run's status as its manifest would say it, for a notice about `event` built without one.
fn status_of(event: Event) -> &'static str {
    match event {
        Event::Failure => "failed",
        Event::Success => "completed",
        Event::Slow => "running",
    }
}

fn notebook_path(spec_path: &Path, spec: &Spec) -> PathBuf {
    spec_path.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(&spec.notebook)
}

/// A notice that looks like a real one, says it is a test, and shows the notebook's first code
/// cell where a failing cell would be.
fn sample(run: &RunOf, event: Event, notebook: &Path) -> Notice {
    let message = match event {
        Event::Failure => "This is a test notice from `runner schedule notify-test`: no run failed.",
        Event::Success => "This is a test notice from `runner schedule notify-test`: no run took place.",
        Event::Slow => "This is a test notice from `runner schedule notify-test`: no run is slow.",
    };
    let failing_cell = (event == Event::Failure)
        .then(|| crate::notebook::read(notebook).ok())
        .flatten()
        .and_then(|nb| nb.cells.iter().position(|c| c.cell_type == CellType::Code).map(|index| (index, nb.cells[index].source.clone())))
        .map(|(index, source)| FailingCell {
            cell: index + 1,
            source,
            error: Some(CellError {
                ename: "NotifyTest".into(),
                evalue: "a sample error; this cell did not run".into(),
                traceback: Vec::new(),
            }),
        });
    Notice {
        schedule: run.schedule.to_owned(),
        run_id: SAMPLE_RUN_ID.into(),
        logical_date: run.logical_date.to_owned(),
        attempt: run.attempt,
        status: status_of(event).into(),
        message: Some(message.into()),
        failing_cell,
        duration: Duration::ZERO,
    }
}
