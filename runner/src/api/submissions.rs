//! Submissions for review as jobs of the daemon: a trial run takes as long as the notebook, so
//! `POST /api/v1/submissions` checks the spec, starts the trial and the review branch on a task
//! and answers at once; `GET .../{id}` says where the job is, and `GET .../{id}/events` streams
//! its phases, the trial run's log lines as they are written and, last, its result. Jobs live in
//! the daemon's memory: a restart forgets them (a review branch they made stays in git).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use super::error::ApiError;
use super::events::{self, LogTail, Poll};
use crate::pipeline::command::submitted_json;
use crate::pipeline::preview::Preview;
use crate::pipeline::review::{self, Phase, ReviewError, SubmitOptions, Submitted};

/// Finished jobs kept for late readers; the oldest go first.
const KEEP_FINISHED: usize = 50;

/// How a job ended: the HTTP status the synchronous answer would have had, and its body.
#[derive(Debug, Clone)]
struct Outcome {
    status: u16,
    result: Value,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    phase: Option<Phase>,
    /// The trial run's log, kept after the trial for late readers.
    trial_log: Option<PathBuf>,
    outcome: Option<Outcome>,
}

pub struct Job {
    id: String,
    spec: String,
    schedule: String,
    progress: watch::Sender<Progress>,
}

/// What the API says of a job.
#[derive(Debug, Serialize)]
pub struct JobView {
    pub id: String,
    spec: String,
    /// `running` or `done`.
    state: &'static str,
    /// `trial`, `branch`, `push`, `pull_request`, or `done`.
    phase: &'static str,
    status: Option<u16>,
    result: Option<Value>,
}

impl Job {
    pub fn view(&self) -> JobView {
        let progress = self.progress.borrow();
        let done = progress.outcome.is_some();
        JobView {
            id: self.id.clone(),
            spec: self.spec.clone(),
            state: if done { "done" } else { "running" },
            phase: if done { "done" } else { progress.phase.as_ref().map_or("trial", Phase::name) },
            status: progress.outcome.as_ref().map(|o| o.status),
            result: progress.outcome.as_ref().map(|o| o.result.clone()),
        }
    }

    fn running(&self) -> bool {
        self.progress.borrow().outcome.is_none()
    }
}

/// The daemon's submission jobs.
#[derive(Clone, Default)]
pub struct Submissions {
    jobs: Arc<Mutex<VecDeque<Arc<Job>>>>,
}

impl Submissions {
    /// Starts submitting a schedulable `preview`; one job at a time per schedule, since a trial
    /// run's directory is the schedule's.
    pub fn start(&self, spec: String, preview: Preview, options: SubmitOptions) -> Result<Arc<Job>, ApiError> {
        let schedule = preview.spec.name.clone();
        let job = {
            let mut jobs = self.jobs.lock().map_err(|_| ApiError::Internal("the submission list is poisoned".into()))?;
            if let Some(running) = jobs.iter().find(|job| job.schedule == schedule && job.running()) {
                return Err(ApiError::Conflict(format!("schedule `{schedule}` is being submitted already (submission {})", running.id)));
            }
            let job = Arc::new(Job {
                id: Uuid::new_v4().hyphenated().to_string(),
                spec,
                schedule,
                progress: watch::Sender::new(Progress::default()),
            });
            jobs.push_back(Arc::clone(&job));
            forget_old(&mut jobs);
            job
        };
        let worker = Arc::clone(&job);
        tokio::spawn(async move {
            let report = |phase: Phase| {
                worker.progress.send_modify(|progress| {
                    if let Phase::Trial { log } = &phase {
                        progress.trial_log = Some(log.clone());
                    }
                    progress.phase = Some(phase);
                });
            };
            let outcome = match review::submit(&preview, &options, &report).await {
                Ok(submitted) => Outcome { status: status(&submitted).as_u16(), result: submitted_json(&preview, &submitted) },
                Err(error) => {
                    let status = match error {
                        ReviewError::Trial(_) | ReviewError::Scratch(..) => StatusCode::INTERNAL_SERVER_ERROR,
                        _ => StatusCode::UNPROCESSABLE_ENTITY,
                    };
                    tracing::warn!(schedule = %preview.spec.name, %error, "submission failed");
                    Outcome { status: status.as_u16(), result: json!({ "error": error.to_string() }) }
                }
            };
            worker.progress.send_modify(|progress| progress.outcome = Some(outcome));
        });
        Ok(job)
    }

    pub fn find(&self, id: &str) -> Result<Arc<Job>, ApiError> {
        let jobs = self.jobs.lock().map_err(|_| ApiError::Internal("the submission list is poisoned".into()))?;
        jobs.iter()
            .find(|job| job.id == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound(format!("no submission {id} (the daemon keeps them until it restarts)")))
    }
}

/// Drops the oldest finished jobs past [`KEEP_FINISHED`].
fn forget_old(jobs: &mut VecDeque<Arc<Job>>) {
    let mut finished = jobs.iter().filter(|job| !job.running()).count();
    jobs.retain(|job| {
        if finished > KEEP_FINISHED && !job.running() {
            finished -= 1;
            return false;
        }
        true
    });
}

/// The status the answer of a finished submission has: 201 for a review branch, 422 for a
/// failed trial run (nothing created).
fn status(submitted: &Submitted) -> StatusCode {
    match submitted {
        Submitted::TrialFailed { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        Submitted::Created(_) => StatusCode::CREATED,
    }
}

struct JobFollower {
    job: Arc<Job>,
    log: Option<LogTail>,
    last_phase: Option<&'static str>,
}

impl Poll for JobFollower {
    async fn poll(&mut self) -> Result<(Vec<Event>, bool), ApiError> {
        let (phase, trial_log, outcome) = {
            let progress = self.job.progress.borrow();
            (progress.phase.as_ref().map(Phase::name), progress.trial_log.clone(), progress.outcome.is_some())
        };
        let mut events = Vec::new();
        if let Some(phase) = phase
            && self.last_phase != Some(phase)
        {
            self.last_phase = Some(phase);
            events.push(events::json_event("phase", &json!({ "phase": phase }))?);
        }
        if let (None, Some(path)) = (&self.log, trial_log) {
            self.log = Some(LogTail::new(path));
        }
        if let Some(log) = &mut self.log {
            events.extend(log.lines(outcome).into_iter().map(events::log_event));
        }
        if outcome {
            events.push(events::json_event("result", &self.job.view())?);
        }
        Ok((events, outcome))
    }
}

/// The event stream of a job: its phases, the trial run's log from its first line, its result.
pub fn follow(job: Arc<Job>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    events::stream(JobFollower { job, log: None, last_phase: None })
}
