//! Telling a schedule's owners how its runs went. A run that ends owing a notice (a failure after
//! its last retry, or a success some target asked for) is marked so in the store in the same
//! transaction that ends it; the mark is cleared once every target was tried. A daemon that dies
//! in between sends the notice when it comes back: a notice is never lost silently (each
//! delivery, failed ones included, is also in the delivery log).

use std::path::Path;
use std::time::Duration;

use super::launch::RecordFiles;
use super::store::{RunRow, RunStatus};
use crate::notify::{Notice, RunOf};
use crate::schedule::Spec;
use crate::schedule::spec::Event;

/// The event a run's ending is, for its notices: failures only once no retry follows.
pub fn event_of(status: RunStatus, retried: bool) -> Option<Event> {
    match status {
        RunStatus::Succeeded => Some(Event::Success),
        RunStatus::Failed | RunStatus::Expired | RunStatus::Refused if !retried => Some(Event::Failure),
        _ => None,
    }
}

/// Whether any target of the spec wants this event.
pub fn wanted(spec: &Spec, event: Event) -> bool {
    spec.notify.iter().any(|target| target.on.contains(&event))
}

fn elapsed(run: &RunRow, until: chrono::DateTime<chrono::Utc>) -> Duration {
    run.started_at.and_then(|start| (until - start).to_std().ok()).unwrap_or_default()
}

/// The notice of a run: from its manifest when the runner wrote one (failing cell, traceback),
/// else from what the scheduler knows (a run whose inputs never came, one still running).
pub fn notice(run: &RunRow, now: chrono::DateTime<chrono::Utc>) -> Notice {
    let of = RunOf { schedule: &run.schedule, logical_date: &run.logical_time, attempt: run.attempt };
    let manifest = Path::new(&run.record_dir).join(RecordFiles::MANIFEST);
    if run.status.is_final()
        && manifest.is_file()
        && let Ok(notice) =
            Notice::from_manifest(&manifest, &of).inspect_err(|e| tracing::warn!(run = run.id, %e, "reading the manifest for the notice"))
    {
        return notice;
    }
    Notice {
        schedule: run.schedule.clone(),
        run_id: run.id.clone(),
        logical_date: run.logical_time.clone(),
        attempt: run.attempt,
        status: run.status.as_str().to_owned(),
        message: run.message.clone(),
        failing_cell: None,
        duration: elapsed(run, run.finished_at.unwrap_or(now)),
    }
}

/// Whether a running run has become slow for some target that asked to hear of it.
pub fn is_slow(spec: &Spec, run: &RunRow, now: chrono::DateTime<chrono::Utc>) -> bool {
    let took = elapsed(run, now);
    spec.notify.iter().any(|target| crate::notify::listens(target, Event::Slow, took))
}
