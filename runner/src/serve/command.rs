//! The command line of the scheduler: `runner serve`, `runner runs`, and the `runner schedule`
//! subcommands that read or change the scheduler's state (list, run, cancel, retry, backfill,
//! pause, resume). They work on the state file directly, so they work whether the daemon runs or
//! not; the daemon picks up queued runs and cancellations on its next turn.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{NaiveTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::store::{RunRow, RunStatus, Store, Trigger};
use super::{ServeError, ServeOptions, actions, checked_spec, clock::Clock, records, state_dir};
use crate::api::ApiOptions;
use crate::cli::{RepoArg, RunsArgs, ServeArgs};
use crate::exec::exit_code;
use crate::schedule::{cadence, spec as spec_file};

/// Most runs one backfill queues.
const BACKFILL_LIMIT: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Action(#[from] actions::ActionError),
    #[error("{0}")]
    Refused(String),
}

fn open(repo: &RepoArg) -> Result<Store, CommandError> {
    let root = crate::git::Repo::discover(&repo.repo)?.root().to_path_buf();
    let state = state_dir(&root);
    if !state.join(super::store::FILE_NAME).is_file() {
        return Err(CommandError::Refused(format!(
            "no scheduler state in {}: start `runner serve` in this repository first",
            state.display()
        )));
    }
    Ok(Store::open(&state)?)
}

fn report(result: Result<(), CommandError>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("runner: {error}");
            exit_code::USAGE
        }
    }
}

pub async fn serve(args: ServeArgs, stops: tokio::sync::watch::Receiver<u32>) -> u8 {
    let options = ServeOptions {
        repo: args.repo.repo,
        branch: args.branch,
        workers: usize::try_from(args.workers).unwrap_or(1),
        trigger_poll: args.trigger_poll,
        keep: chrono::Duration::days(i64::from(args.keep_days)),
        clock: args.clock_file.map_or(Clock::System, Clock::File),
        api: ApiOptions { socket: args.socket, tcp: args.listen.zip(args.token_file) },
    };
    match super::serve(options, stops).await {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("runner serve: {error}");
            exit_code::USAGE
        }
    }
}

pub fn list(repo: &RepoArg, as_json: bool) -> u8 {
    report((|| {
        let store = open(repo)?;
        let views = actions::schedules(&store, None)?;
        if as_json {
            println!("{:#}", json!(views));
            return Ok(());
        }
        let mut out = String::new();
        for view in &views {
            let text = |value: Option<&str>| value.unwrap_or("-").to_owned();
            let state = if view.paused { "paused".to_owned() } else { format!("next {}", text(view.next_run.as_deref())) };
            let latest = view.latest_run.as_ref().map(|run| format!(", last run {}", run.status.as_str())).unwrap_or_default();
            let _ = writeln!(
                out,
                "{}  {} ({} {}), {state}{latest}",
                view.name,
                view.notebook,
                text(view.cadence.as_deref()),
                text(view.timezone)
            );
            if let Some(problem) = &view.problem {
                let _ = writeln!(out, "  does not run: {problem}");
            }
        }
        if views.is_empty() {
            out.push_str("no schedules on the branch (specs are files named *.schedule.toml)\n");
        }
        print!("{out}");
        Ok(())
    })())
}

pub fn run_now(name: &str, repo: &RepoArg) -> u8 {
    report((|| {
        let run = actions::run_now(&mut open(repo)?, name)?;
        println!("queued run {} of {name} (logical time {})", run.id, run.logical_time);
        Ok(())
    })())
}

pub fn retry(id: &str, repo: &RepoArg) -> u8 {
    report((|| {
        let run = actions::retry(&mut open(repo)?, id)?;
        println!("queued run {} (attempt {} of {})", run.id, run.attempt, run.logical_time);
        Ok(())
    })())
}

pub fn cancel(id: &str, repo: &RepoArg) -> u8 {
    report((|| {
        let store = open(repo)?;
        let run = store.request_cancel(id)?;
        match run.status {
            RunStatus::Cancelled => println!("cancelled run {id}"),
            _ => println!("asked `runner serve` to stop run {id} ({})", run.status.as_str()),
        }
        Ok(())
    })())
}

pub fn backfill(name: &str, from: chrono::NaiveDate, to: chrono::NaiveDate, repo: &RepoArg) -> u8 {
    report((|| {
        if from > to {
            return Err(CommandError::Refused(format!("--from {from} is after --to {to}")));
        }
        let mut store = open(repo)?;
        let row = store.schedule(name)?;
        let spec = checked_spec(&row).map_err(CommandError::Refused)?;
        let cron = spec_file::cron(&spec.cron).map_err(CommandError::Refused)?;
        let zone = spec.timezone;
        let bound = |day: chrono::NaiveDate, time: NaiveTime| {
            zone.from_local_datetime(&day.and_time(time)).earliest().map(|t| t.with_timezone(&Utc))
        };
        let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).unwrap_or(NaiveTime::MIN);
        let (Some(start), Some(end)) = (bound(from, NaiveTime::MIN), bound(to, end_of_day)) else {
            return Err(CommandError::Refused(format!("{from}..{to} has no valid times in {}", zone.name())));
        };
        let times = cadence::runs_between(&spec, &cron, start, end, BACKFILL_LIMIT + 1);
        if times.len() > BACKFILL_LIMIT {
            return Err(CommandError::Refused(format!(
                "{from}..{to} holds more than {BACKFILL_LIMIT} runs of {name}: backfill a shorter range"
            )));
        }
        if times.is_empty() {
            return Err(CommandError::Refused(format!(
                "{name} has no scheduled time from {from} to {to} (on or after its start date {})",
                spec.start_date
            )));
        }
        for time in &times {
            actions::queue(&mut store, &row, &time.to_rfc3339(), Trigger::Backfill)?;
        }
        println!("queued {} runs of {name}, {} to {}", times.len(), times[0].to_rfc3339(), times[times.len() - 1].to_rfc3339());
        Ok(())
    })())
}

pub fn pause(name: &str, paused: bool, repo: &RepoArg) -> u8 {
    report((|| {
        let store = open(repo)?;
        store.set_paused(name, paused)?;
        println!("{name} {}", if paused { "paused" } else { "resumed" });
        Ok(())
    })())
}

pub fn runs(args: &RunsArgs) -> u8 {
    report((|| {
        let store = open(&args.repo)?;
        if let Some(id) = &args.run {
            let run = store.run(id)?;
            let manifest = records::manifest(Path::new(&run.record_dir)).unwrap_or(Value::Null);
            if args.json {
                println!("{:#}", json!({"run": run, "manifest": manifest}));
            } else {
                print!("{}", run_detail(&run, &manifest));
            }
            return Ok(());
        }
        let runs = store.runs(args.schedule.as_deref(), args.limit)?;
        if args.json {
            println!("{:#}", json!(runs));
            return Ok(());
        }
        let mut out = String::new();
        for run in &runs {
            let seconds = match (run.started_at, run.finished_at) {
                (Some(start), Some(end)) => format!("{:.1}s", (end - start).as_seconds_f64()),
                _ => "-".to_owned(),
            };
            let _ = writeln!(
                out,
                "{}  {:<10} {:<11} {}  attempt {}  {:?}  {seconds}",
                run.id,
                run.schedule,
                run.status.as_str(),
                run.logical_time,
                run.attempt,
                run.trigger
            );
        }
        if runs.is_empty() {
            out.push_str("no runs yet\n");
        }
        print!("{out}");
        Ok(())
    })())
}

fn run_detail(run: &RunRow, manifest: &Value) -> String {
    let mut out = format!(
        "run {}\nschedule {} (logical time {}), attempt {}, trigger {:?}\nstatus {}\n",
        run.id,
        run.schedule,
        run.logical_time,
        run.attempt,
        run.trigger,
        run.status.as_str()
    );
    if let Some(message) = &run.message {
        let _ = writeln!(out, "message: {message}");
    }
    if let Some(cell) = run.failing_cell {
        let _ = writeln!(out, "failing cell: {cell}");
    }
    for cell in manifest["cells"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "  cell {:>3}  {:<9} {}",
            cell["cell"],
            cell["status"].as_str().unwrap_or("-"),
            cell["seconds"].as_f64().map(|s| format!("{s:.2}s")).unwrap_or_default()
        );
    }
    let _ = writeln!(out, "record: {}", run.record_dir);
    out
}
