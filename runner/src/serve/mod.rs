//! `runner serve`: the embedded scheduler. It runs the schedules committed on the repository's
//! main branch at their cron times (in their zones), waits for data-arrival triggers, runs at most
//! `workers` notebooks at once through `runner exec`, retries failures, and keeps every run's
//! record. All state is in SQLite (`store`), so a daemon that is killed and restarted neither loses
//! nor repeats a run: a run still going is adopted, one whose runner died is queued again.

pub mod actions;
pub mod clock;
pub mod command;
pub mod launch;
mod notices;
pub mod records;
pub mod repo;
pub mod store;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use futures_util::StreamExt;
use futures_util::future::LocalBoxFuture;
use futures_util::stream::FuturesUnordered;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::process::Child;
use tokio::sync::watch;

use crate::data::config::Config;
use crate::notify;
use crate::schedule::spec::Event;
use crate::schedule::trigger::{self, Readiness};
use crate::schedule::{ReadOn, Spec, cadence, spec as spec_file};
use clock::Clock;
use repo::Repo;
use store::{Ending, NewRun, RunRow, RunStatus, ScheduleRow, Store, StoreError, Trigger};

/// How often the daemon looks at the branch, the queue and its runs.
const TURN: Duration = Duration::from_millis(500);
/// How often the branch is read again for new or changed schedules.
const SYNC_EVERY: Duration = Duration::from_secs(5);
/// Missed cron times a catching-up schedule queues in one turn: a year of hourly runs arrives over
/// a minute of turns rather than in one long stall of the daemon.
const CATCHUP_BATCH: usize = 100;
/// How often the retention policy deletes old records.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another `runner serve` is using {0}")]
    Locked(PathBuf),
    #[error("the branch `{0}` does not exist in the repository")]
    NoBranch(String),
    #[error(transparent)]
    Api(#[from] crate::api::StartError),
}

pub struct ServeOptions {
    pub repo: PathBuf,
    pub branch: String,
    pub workers: usize,
    /// How often waiting runs ask whether their inputs arrived.
    pub trigger_poll: Duration,
    /// Records of runs finished longer ago than this are deleted.
    pub keep: chrono::Duration,
    pub clock: Clock,
    pub api: crate::api::ApiOptions,
}

/// The scheduler's state directory of a repository: `.tiffin/serve` at its root.
pub fn state_dir(repo_root: &Path) -> PathBuf {
    repo_root.join(".tiffin").join("serve")
}

/// Creates the state directory; `.tiffin/` gets a `.gitignore` so state never reaches a commit.
fn prepare_state_dir(repo_root: &Path) -> Result<PathBuf, ServeError> {
    let dir = state_dir(repo_root);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServeError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let ignore = repo_root.join(".tiffin").join(".gitignore");
    if !ignore.exists() {
        std::fs::write(&ignore, "*\n").map_err(io(&ignore))?;
    }
    Ok(dir)
}

/// Where every notice delivery is recorded, in the state directory.
const DELIVERY_LOG: &str = "notifications.jsonl";

/// A notice being delivered: the one a finished run owes, or a running run's slow notice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum NoticeKey {
    Ending(String),
    Slow(String),
}

/// A run this daemon watches: its own child, or one adopted from a daemon that died.
enum Watched {
    Child(Child),
    Adopted { pid: i32, start: u64 },
}

struct Daemon {
    repo: Repo,
    store: Store,
    options: ServeOptions,
    running: HashMap<String, Watched>,
    /// The state directory (the delivery log is there).
    state: PathBuf,
    /// Notices being delivered: driven by the daemon's own loop while it waits between turns
    /// (the notifier's futures are not `Send`, and need not be: the runtime has one thread).
    deliveries: FuturesUnordered<LocalBoxFuture<'static, NoticeKey>>,
    delivering: HashSet<NoticeKey>,
    /// Parsed specs by schedule name, with the text they were parsed from.
    specs: HashMap<String, (String, Spec)>,
    last_commit: Option<String>,
    last_sync: Option<std::time::Instant>,
    last_trigger_poll: Option<std::time::Instant>,
    last_prune: Option<std::time::Instant>,
}

/// Runs the daemon until the first stop signal (`stops` counts them); then it starts nothing new
/// and waits for its runs. A second signal leaves them running for the next daemon to adopt.
pub async fn serve(options: ServeOptions, mut stops: watch::Receiver<u32>) -> Result<(), ServeError> {
    let git = crate::git::Repo::discover(&options.repo)?;
    let state = prepare_state_dir(git.root())?;
    let lock_path = state.join("serve.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ServeError::Io { path: lock_path.clone(), source })?;
    let _lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock).map_err(|_| ServeError::Locked(state.clone()))?;
    let repo = Repo { git, branch: options.branch.clone() };
    if repo.head()?.is_none() {
        return Err(ServeError::NoBranch(options.branch.clone()));
    }
    let store = Store::open(&state)?;
    // Served until the daemon returns; dropping it stops the API and removes its socket.
    let _api = crate::api::start(&options.api, &state, repo.root(), &repo.branch).await?;
    let mut daemon = Daemon {
        repo,
        store,
        options,
        running: HashMap::new(),
        state: state.clone(),
        deliveries: FuturesUnordered::new(),
        delivering: HashSet::new(),
        specs: HashMap::new(),
        last_commit: None,
        last_sync: None,
        last_trigger_poll: None,
        last_prune: None,
    };
    daemon.recover()?;
    tracing::info!(repo = %daemon.repo.root().display(), branch = daemon.repo.branch, "serving");
    eprintln!("runner serve: scheduling {} ({}), state in {}", daemon.repo.root().display(), daemon.repo.branch, state.display());
    loop {
        let signals = *stops.borrow();
        let stopping = signals > 0;
        if signals > 1 {
            eprintln!("runner serve: stopping now; {} running run(s) go on and the next daemon adopts them", daemon.running.len());
            return daemon.finish_notices().await;
        }
        if let Err(error) = daemon.turn(stopping).await {
            tracing::error!(%error, "scheduler turn failed");
            eprintln!("runner serve: {error}");
        }
        if stopping && daemon.running.is_empty() {
            return daemon.finish_notices().await;
        }
        tokio::select! {
            _ = tokio::time::sleep(TURN) => {}
            Some(key) = daemon.deliveries.next(), if !daemon.deliveries.is_empty() => daemon.delivered(key)?,
            _ = stops.changed() => {
                if !stopping {
                    eprintln!(
                        "runner serve: stopping: no new runs; waiting for {} running (signal again to leave them running)",
                        daemon.running.len()
                    );
                }
            }
        }
    }
}

/// A schedule's spec as committed, checked; a spec without a start date starts the day after the
/// daemon first saw it on the branch.
pub fn checked_spec(row: &ScheduleRow) -> Result<Spec, String> {
    if let Some(problem) = &row.problem {
        return Err(problem.clone());
    }
    let dir = Path::new(&row.spec_path).parent().unwrap_or(Path::new(""));
    crate::schedule::parse(&row.spec_text, dir, ReadOn::Scheduled(row.first_seen), &|_| true).map_err(|problems| {
        problems.iter().map(|p| format!("{}:{}:{}: {}", row.spec_path, p.line, p.column, p.message)).collect::<Vec<_>>().join("\n")
    })
}

fn due(last: Option<std::time::Instant>, every: Duration) -> bool {
    last.is_none_or(|at| at.elapsed() >= every)
}

impl Daemon {
    async fn turn(&mut self, stopping: bool) -> Result<(), ServeError> {
        let now = self.options.clock.now();
        if due(self.last_sync, SYNC_EVERY) {
            self.sync(now.date_naive())?;
            self.last_sync = Some(std::time::Instant::now());
        }
        self.reap(now).await?;
        self.stop_cancelled()?;
        self.send_notices(now)?;
        if stopping {
            return Ok(());
        }
        self.tick(now)?;
        if due(self.last_trigger_poll, self.options.trigger_poll) {
            self.poll_triggers(now).await?;
            self.last_trigger_poll = Some(std::time::Instant::now());
        }
        self.start_queued(now)?;
        if due(self.last_prune, PRUNE_EVERY) {
            self.prune(now)?;
            self.last_prune = Some(std::time::Instant::now());
        }
        Ok(())
    }

    /// Reads the branch again when it moved.
    fn sync(&mut self, today: NaiveDate) -> Result<(), ServeError> {
        let Some(commit) = self.repo.head()? else {
            tracing::warn!(branch = self.repo.branch, "the branch is gone: the schedules read last keep running");
            return Ok(());
        };
        if self.last_commit.as_deref() == Some(commit.as_str()) {
            return Ok(());
        }
        let seen = self.repo.schedules(&commit, today)?;
        self.store.sync_schedules(&commit, &seen, today)?;
        tracing::info!(%commit, schedules = seen.len(), "read the schedules on the branch");
        self.last_commit = Some(commit);
        Ok(())
    }

    /// The checked spec of a schedule, parsed once per text.
    fn spec(&mut self, row: &ScheduleRow) -> Option<Spec> {
        if let Some((text, spec)) = self.specs.get(&row.name)
            && *text == row.spec_text
        {
            return Some(spec.clone());
        }
        let spec = checked_spec(row).ok()?;
        self.specs.insert(row.name.clone(), (row.spec_text.clone(), spec.clone()));
        Some(spec)
    }

    /// A schedule on the branch with its checked spec; `None` when it is gone or does not check.
    fn scheduled(&mut self, name: &str) -> Option<(ScheduleRow, Spec)> {
        let row = self.store.schedule(name).ok()?;
        let spec = self.spec(&row)?;
        Some((row, spec))
    }

    /// Turns each schedule's due cron times into runs: the latest, once, however many were
    /// missed; or, with `catchup`, every one (at most [`CATCHUP_BATCH`] a turn).
    fn tick(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        for row in self.store.schedules()? {
            if !row.active || row.paused {
                continue;
            }
            let Some(spec) = self.spec(&row) else { continue };
            let Ok(cron) = spec_file::cron(&spec.cron) else { continue };
            let after = row.last_tick.unwrap_or(DateTime::<Utc>::MIN_UTC);
            let due: Vec<DateTime<Tz>> = if spec.catchup {
                cadence::runs_after(&spec, &cron, after).take_while(|t| t.with_timezone(&Utc) <= now).take(CATCHUP_BATCH).collect()
            } else {
                cadence::latest_due(&spec, &cron, after, now).into_iter().collect()
            };
            for tick in due {
                self.queue_tick(&row, &spec, tick, now)?;
            }
        }
        Ok(())
    }

    /// One cron time of a schedule as a run, and the schedule's last tick moved to it.
    fn queue_tick(&mut self, row: &ScheduleRow, spec: &Spec, tick: DateTime<Tz>, now: DateTime<Utc>) -> Result<(), ServeError> {
        let logical = tick.to_rfc3339();
        let (status, wait_until) = match &spec.trigger {
            Some(trigger) => (RunStatus::Waiting, chrono::Duration::from_std(trigger.timeout).ok().map(|t| now + t)),
            None => (RunStatus::Queued, None),
        };
        let run = NewRun {
            schedule: &row.name,
            logical_time: &logical,
            trigger: Trigger::Cron,
            commit: &row.commit,
            status,
            not_before: None,
            wait_until,
        };
        if let Some(queued) = self.store.queue_tick(&run, tick.with_timezone(&Utc))? {
            tracing::info!(schedule = row.name, run = queued.id, logical, "queued");
        }
        Ok(())
    }

    /// Releases the waiting runs whose inputs arrived; expires those that waited too long.
    async fn poll_triggers(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        for run in self.store.runs_with_status(RunStatus::Waiting)? {
            let Some((row, spec)) = self.scheduled(&run.schedule) else { continue };
            let Some(trigger_spec) = &spec.trigger else {
                self.store.release(&run.id)?;
                continue;
            };
            let ds = launch::logical_time(&run, &spec).map(|t| t.date_naive().to_string()).unwrap_or_default();
            let since = self.store.last_success(&run.schedule)?;
            let readiness = match self.config_of(&row) {
                Ok(config) => trigger::check(trigger_spec, &config, &ds, since).await,
                Err(error) => Err(error),
            };
            match readiness {
                Ok(Readiness::Ready) => {
                    tracing::info!(run = run.id, "inputs arrived");
                    self.store.release(&run.id)?;
                }
                Ok(Readiness::Waiting(missing)) => {
                    if run.wait_until.is_some_and(|limit| now >= limit) {
                        let message = format!("the inputs did not arrive in time: {}", missing.join("; "));
                        self.end(
                            &run,
                            Ending { status: RunStatus::Expired, exit_code: None, message: Some(message), failing_cell: None },
                            now,
                        )?;
                    }
                }
                Err(error) => {
                    tracing::warn!(run = run.id, %error, "cannot check the inputs");
                    if run.wait_until.is_some_and(|limit| now >= limit) {
                        let message = format!("the inputs could not be checked: {error}");
                        self.end(
                            &run,
                            Ending { status: RunStatus::Expired, exit_code: None, message: Some(message), failing_cell: None },
                            now,
                        )?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The configuration a run of this schedule reads (the work tree's, checked against main).
    fn config_of(&self, row: &ScheduleRow) -> Result<Config, String> {
        let explicit = self.repo.config_for(&row.commit, &row.notebook)?;
        let home = self.repo.home(&row.notebook);
        Config::for_dir(&home, explicit.as_deref()).map_err(|e| e.to_string())
    }

    /// Starts queued runs, oldest first, while workers are free.
    fn start_queued(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        for run in self.store.runs_with_status(RunStatus::Queued)? {
            if self.running.len() >= self.options.workers {
                break;
            }
            if run.not_before.is_some_and(|at| at > now) {
                continue;
            }
            let started = self
                .store
                .schedule(&run.schedule)
                .map_err(|e| e.to_string())
                .and_then(|row| {
                    self.spec(&row).map(|spec| (row, spec)).ok_or_else(|| "the schedule's spec on the branch does not check".to_owned())
                })
                .and_then(|(row, spec)| {
                    let logical = launch::logical_time(&run, &spec)?;
                    launch::start(&self.repo, &run, &spec, &row.notebook, logical)
                });
            match started {
                Ok(started) => {
                    let start = launch::process_start(started.pid).unwrap_or_default();
                    self.store.mark_running(&run.id, now, started.pid, start)?;
                    tracing::info!(run = run.id, schedule = run.schedule, pid = started.pid, "started");
                    self.running.insert(run.id.clone(), Watched::Child(started.child));
                }
                Err(message) => {
                    self.end(&run, Ending { status: RunStatus::Failed, exit_code: None, message: Some(message), failing_cell: None }, now)?;
                }
            }
        }
        Ok(())
    }

    /// Collects the runs that ended.
    async fn reap(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        let mut ended = Vec::new();
        for (id, watched) in &mut self.running {
            match watched {
                Watched::Child(child) => match child.try_wait() {
                    Ok(Some(status)) => ended.push((id.clone(), status.code())),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(run = id, %error, "cannot wait for the runner");
                        ended.push((id.clone(), None));
                    }
                },
                Watched::Adopted { pid, start } => {
                    if !launch::still_running(*pid, *start) {
                        ended.push((id.clone(), None));
                    }
                }
            }
        }
        for (id, exit) in ended {
            self.running.remove(&id);
            let run = self.store.run(&id)?;
            let ending = records::ending(Path::new(&run.record_dir), exit, run.cancel_requested);
            self.end(&run, ending, now)?;
        }
        Ok(())
    }

    /// Records how a run ended, keeps its record, and queues the next attempt when it may retry.
    fn end(&mut self, run: &RunRow, ending: Ending, now: DateTime<Utc>) -> Result<(), ServeError> {
        let scheduled = self.scheduled(&run.schedule);
        let spec = scheduled.as_ref().map(|(_, spec)| spec);
        let retry_delay = spec.as_ref().and_then(|spec| {
            let retryable = matches!(ending.status, RunStatus::Failed) && run.attempt <= spec.retries.count;
            retryable.then(|| chrono::Duration::from_std(spec.retries.delay).unwrap_or_default())
        });
        let next = match (ending.status, retry_delay) {
            (RunStatus::Interrupted, _) => Some((Trigger::Recovery, None)),
            (_, Some(delay)) => Some((Trigger::Retry, Some(now + delay))),
            _ => None,
        };
        let next_run = next.map(|(trigger, not_before)| NewRun {
            schedule: &run.schedule,
            logical_time: &run.logical_time,
            trigger,
            commit: &run.commit,
            status: RunStatus::Queued,
            not_before,
            wait_until: None,
        });
        let notice =
            notices::event_of(ending.status, next_run.is_some()).is_some_and(|event| spec.is_some_and(|spec| notices::wanted(spec, event)));
        let queued = self.store.finish(&run.id, &ending, now, notice, next_run.as_ref())?;
        let finished = self.store.run(&run.id)?;
        tracing::info!(run = run.id, status = finished.status.as_str(), "finished");
        let record = Path::new(&finished.record_dir);
        if let Some((row, _)) = &scheduled
            && let Ok(config) = self.config_of(row)
            && record.is_dir()
            && let Err(error) = records::keep_lineage(record, &config.lineage.file, &run.id)
        {
            tracing::warn!(run = run.id, %error, "cannot copy the run's lineage into its record");
        }
        if let Err(error) = records::seal(record, &finished) {
            tracing::warn!(run = run.id, %error, "cannot seal the run record");
        }
        if let Some(queued) = queued {
            tracing::info!(run = queued.id, attempt = queued.attempt, trigger = ?queued.trigger, "queued again");
        }
        Ok(())
    }

    /// Sends the notices finished runs owe (one delivery per run at a time; the mark is cleared
    /// when every target was tried) and the slow-run notices of running runs.
    fn send_notices(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        for run in self.store.notices_pending()? {
            let key = NoticeKey::Ending(run.id.clone());
            if self.delivering.contains(&key) {
                continue;
            }
            if let Some(event) = notices::event_of(run.status, false) {
                self.dispatch_notice(&run, event, key, now)?;
            }
        }
        for run in self.store.runs_with_status(RunStatus::Running)? {
            if run.slow_notified {
                continue;
            }
            let Some((_, spec)) = self.scheduled(&run.schedule) else { continue };
            if notices::is_slow(&spec, &run, now) {
                self.store.mark_slow_notified(&run.id)?;
                self.dispatch_notice(&run, Event::Slow, NoticeKey::Slow(run.id.clone()), now)?;
            }
        }
        Ok(())
    }

    /// Every target of a notice was tried.
    fn delivered(&mut self, key: NoticeKey) -> Result<(), ServeError> {
        self.delivering.remove(&key);
        if let NoticeKey::Ending(id) = key {
            self.store.mark_noticed(&id)?;
        }
        Ok(())
    }

    /// Starts delivering one notice to the targets of the run's schedule, as main last held it
    /// (a run owes its notice also when its schedule has left main since).
    fn dispatch_notice(&mut self, run: &RunRow, event: Event, key: NoticeKey, now: DateTime<Utc>) -> Result<(), ServeError> {
        let row = match self.store.schedule_as_last_seen(&run.schedule) {
            Ok(row) => Some(row),
            Err(StoreError::UnknownSchedule(_)) => None,
            Err(error) => return Err(error.into()),
        };
        let Some((row, spec)) = row.and_then(|row| self.spec(&row).map(|spec| (row, spec))) else {
            // Nobody to tell: keeping the notice owed would only ask again on every turn.
            tracing::error!(run = run.id, schedule = run.schedule, "no readable spec for the run's notice; not sent");
            return self.delivered(key);
        };
        let settings = self
            .config_of(&row)
            .and_then(|config| notify::Settings::from_config(&config).map_err(|e| e.to_string()))
            .unwrap_or_else(|error| {
                // Webhooks need no settings: they still go; e-mail fails in the delivery log.
                tracing::error!(schedule = row.name, %error, "the [notify] settings cannot be used");
                notify::Settings::default()
            });
        let notice = notices::notice(run, now);
        let log = self.state.join(DELIVERY_LOG);
        let targets = spec.notify;
        self.delivering.insert(key.clone());
        self.deliveries.push(Box::pin(async move {
            notify::deliver(&settings, &targets, event, &notice, &log).await;
            key
        }));
        Ok(())
    }

    /// Waits for the notices being delivered (when the daemon stops).
    async fn finish_notices(&mut self) -> Result<(), ServeError> {
        while let Some(key) = self.deliveries.next().await {
            self.delivered(key)?;
        }
        Ok(())
    }

    /// Sends SIGTERM to running runs whose cancellation was asked: the runner interrupts the
    /// cell, saves the partial notebook and exits; `reap` records it as cancelled.
    fn stop_cancelled(&mut self) -> Result<(), ServeError> {
        for run in self.store.runs_with_status(RunStatus::Running)? {
            if !run.cancel_requested {
                continue;
            }
            let pid = match self.running.get(&run.id) {
                Some(Watched::Child(child)) => child.id().and_then(|id| i32::try_from(id).ok()),
                Some(Watched::Adopted { pid, .. }) => Some(*pid),
                None => None,
            };
            if let Some(pid) = pid {
                // Repeated each turn until it exits: harmless, the runner handles the first.
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        Ok(())
    }

    /// After a restart: runs the dead daemon had started are adopted while their runner lives,
    /// or ended from their record (a runner that died without finishing: queued again).
    fn recover(&mut self) -> Result<(), ServeError> {
        let now = self.options.clock.now();
        for run in self.store.runs_with_status(RunStatus::Running)? {
            match (run.pid, run.pid_start) {
                (Some(pid), Some(start)) if launch::still_running(pid, start) => {
                    eprintln!("runner serve: run {} is still going (pid {pid}): watching it", run.id);
                    self.running.insert(run.id.clone(), Watched::Adopted { pid, start });
                }
                _ => {
                    let ending = records::ending(Path::new(&run.record_dir), None, run.cancel_requested);
                    eprintln!("runner serve: run {} ended while no daemon watched it: {}", run.id, ending.status.as_str());
                    self.end(&run, ending, now)?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the records of runs finished before the retention period (their rows stay).
    fn prune(&mut self, now: DateTime<Utc>) -> Result<(), ServeError> {
        for run in self.store.prunable(now - self.options.keep)? {
            match records::remove(Path::new(&run.record_dir)) {
                Ok(()) => self.store.mark_pruned(&run.id)?,
                Err(error) => tracing::warn!(run = run.id, %error, "cannot delete an old run record"),
            }
        }
        Ok(())
    }
}
