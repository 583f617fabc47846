//! What a user can ask of the scheduler, shared by the command line (`runner schedule ...`,
//! `runner runs`) and the HTTP API: each action works on the state file and returns typed
//! results; the callers only present them (text or JSON) and map the errors.

use chrono::Utc;
use serde::Serialize;

use super::checked_spec;
use super::store::{NewRun, RunRow, RunStatus, ScheduleRow, Store, StoreError, Trigger};
use crate::schedule::cadence;

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The schedule's spec on the branch does not check, so it cannot run.
    #[error("{0}")]
    SpecProblem(String),
}

/// A schedule with its next time and latest run.
#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub name: String,
    pub spec: String,
    pub notebook: String,
    pub commit: String,
    pub active: bool,
    pub paused: bool,
    pub cadence: Option<String>,
    pub timezone: Option<&'static str>,
    pub next_run: Option<String>,
    pub latest_run: Option<RunRow>,
    /// Why the schedule does not run, if it does not.
    pub problem: Option<String>,
}

pub fn schedule_view(store: &Store, row: &ScheduleRow) -> Result<ScheduleView, StoreError> {
    let spec = checked_spec(row);
    let next = spec.as_ref().ok().and_then(|spec| cadence::next_runs(spec, Utc::now(), 1).first().map(chrono::DateTime::to_rfc3339));
    let latest = store.runs(Some(&row.name), 1)?.into_iter().next();
    Ok(ScheduleView {
        name: row.name.clone(),
        spec: row.spec_path.clone(),
        notebook: row.notebook.clone(),
        commit: row.commit.clone(),
        active: row.active,
        paused: row.paused,
        cadence: spec.as_ref().ok().map(|s| s.cron.clone()),
        timezone: spec.as_ref().ok().map(|s| s.timezone.name()),
        next_run: if row.paused || !row.active { None } else { next },
        latest_run: latest,
        problem: spec.err(),
    })
}

/// The schedules on the branch; with `notebook` (repository-relative, normalized), only those
/// that run that notebook.
pub fn schedules(store: &Store, notebook: Option<&str>) -> Result<Vec<ScheduleView>, StoreError> {
    store
        .schedules()?
        .iter()
        .filter(|row| row.active && notebook.is_none_or(|n| row.notebook == n))
        .map(|row| schedule_view(store, row))
        .collect()
}

/// Queues a new attempt of one logical time of a schedule.
pub fn queue(store: &mut Store, row: &ScheduleRow, logical_time: &str, trigger: Trigger) -> Result<RunRow, StoreError> {
    let run = NewRun {
        schedule: &row.name,
        logical_time,
        trigger,
        commit: &row.commit,
        status: RunStatus::Queued,
        not_before: None,
        wait_until: None,
    };
    store.queue_attempt(&run)
}

/// Queues a run of the schedule now, with the current time (in its zone) as the logical time.
pub fn run_now(store: &mut Store, name: &str) -> Result<RunRow, ActionError> {
    let row = store.schedule(name)?;
    let spec = checked_spec(&row).map_err(ActionError::SpecProblem)?;
    let logical = Utc::now().with_timezone(&spec.timezone).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    Ok(queue(store, &row, &logical, Trigger::Manual)?)
}

/// Queues a new attempt of a finished run's logical time.
pub fn retry(store: &mut Store, id: &str) -> Result<RunRow, ActionError> {
    let finished = store.run(id)?;
    if !finished.status.is_final() {
        return Err(StoreError::WrongState {
            id: id.to_owned(),
            status: finished.status.as_str().into(),
            action: "retry",
            applies: "finished runs",
        }
        .into());
    }
    let row = store.schedule(&finished.schedule)?;
    Ok(queue(store, &row, &finished.logical_time, Trigger::Retry)?)
}
