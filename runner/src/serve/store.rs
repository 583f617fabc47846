//! The scheduler's state: schedules seen on the main branch and every run, in one SQLite file in
//! WAL mode with full sync, so a crash of the daemon (kill -9, power loss) loses nothing that was
//! committed. Each state change is one transaction; a cron time becomes a run in the same
//! transaction that advances the schedule past it, and `(schedule, logical_time, attempt)` is unique,
//! so a run can be neither lost nor queued twice. The CLI and the HTTP API use the same file: they
//! queue and cancel runs here, and the daemon picks the change up on its next turn.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior, params};
use serde::Serialize;

// Instants are stored as text that sorts as time, the same way upload times are.
use crate::data::arrivals::timestamp;

pub const FILE_NAME: &str = "state.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("scheduler state {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("no schedule named `{0}` on the main branch (is `runner serve` running and the spec merged?)")]
    UnknownSchedule(String),
    #[error("no run `{0}`")]
    UnknownRun(String),
    #[error("run {id} is {status}: {action} only applies to {applies}")]
    WrongState { id: String, status: String, action: &'static str, applies: &'static str },
}

/// How a run came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Cron,
    Manual,
    Backfill,
    Retry,
    /// Requeued after the daemon stopped while it ran and its runner did not finish.
    Recovery,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cron => "cron",
            Self::Manual => "manual",
            Self::Backfill => "backfill",
            Self::Retry => "retry",
            Self::Recovery => "recovery",
        }
    }
}

/// Where a run is. `queued`, `waiting` (for its inputs) and `running` are live; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Waiting,
    Running,
    Succeeded,
    Failed,
    /// The purpose policy refused it: retrying cannot help.
    Refused,
    Cancelled,
    /// Its inputs did not arrive within the trigger's timeout.
    Expired,
    /// The daemon stopped while it ran and the runner did not finish (a new attempt is queued).
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Waiting => "waiting",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Refused => "refused",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Interrupted => "interrupted",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "queued" => Self::Queued,
            "waiting" => Self::Waiting,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "refused" => Self::Refused,
            "cancelled" => Self::Cancelled,
            "expired" => Self::Expired,
            "interrupted" => Self::Interrupted,
            _ => Self::Failed,
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Self::Queued | Self::Waiting | Self::Running)
    }
}

/// A schedule as the daemon last read it from the main branch.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleRow {
    pub name: String,
    /// The spec file, relative to the repository root.
    pub spec_path: String,
    /// The notebook, relative to the repository root.
    pub notebook: String,
    /// The main-branch commit the spec was read from.
    pub commit: String,
    #[serde(skip)]
    pub spec_text: String,
    /// The day the daemon first saw it on main (a spec without a start date starts the day after).
    pub first_seen: NaiveDate,
    /// Still on main.
    pub active: bool,
    pub paused: bool,
    /// The latest cron time already turned into a run.
    pub last_tick: Option<DateTime<Utc>>,
    /// Why the spec on main cannot run, if it cannot.
    pub problem: Option<String>,
}

/// One attempt at running a schedule for a logical time.
#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: String,
    pub schedule: String,
    /// The logical time, in the schedule's zone (its `{{ ds }}`).
    pub logical_time: String,
    pub trigger: Trigger,
    pub attempt: u32,
    pub status: RunStatus,
    pub commit: String,
    pub queued_at: DateTime<Utc>,
    /// A retry does not start before this.
    pub not_before: Option<DateTime<Utc>>,
    /// A run waiting for its inputs gives up at this time.
    pub wait_until: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub pid: Option<i32>,
    #[serde(skip)]
    pub pid_start: Option<u64>,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    /// 1-based index of the cell that failed.
    pub failing_cell: Option<u32>,
    pub cancel_requested: bool,
    pub slow_notified: bool,
    pub record_dir: String,
    /// The record was deleted by the retention policy.
    pub record_pruned: bool,
    /// It ended owing its owners a notice not sent yet.
    pub notice_pending: bool,
}

/// A run to queue.
pub struct NewRun<'a> {
    pub schedule: &'a str,
    pub logical_time: &'a str,
    pub trigger: Trigger,
    pub commit: &'a str,
    pub status: RunStatus,
    pub not_before: Option<DateTime<Utc>>,
    pub wait_until: Option<DateTime<Utc>>,
}

/// How a run ended, as the daemon records it.
pub struct Ending {
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub message: Option<String>,
    pub failing_cell: Option<u32>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    spec_path TEXT NOT NULL,
    notebook TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    spec_text TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    active INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    last_tick TEXT,
    problem TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    logical_time TEXT NOT NULL,
    trigger TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    not_before TEXT,
    wait_until TEXT,
    started_at TEXT,
    finished_at TEXT,
    pid INTEGER,
    pid_start INTEGER,
    exit_code INTEGER,
    message TEXT,
    failing_cell INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    slow_notified INTEGER NOT NULL DEFAULT 0,
    record_dir TEXT NOT NULL,
    record_pruned INTEGER NOT NULL DEFAULT 0,
    notice_pending INTEGER NOT NULL DEFAULT 0,
    UNIQUE (schedule, logical_time, attempt)
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE INDEX IF NOT EXISTS runs_by_schedule ON runs (schedule, queued_at);
";

const RUN_COLUMNS: &str = "id, schedule, logical_time, trigger, attempt, status, commit_id, queued_at, not_before, wait_until, \
     started_at, finished_at, pid, pid_start, exit_code, message, failing_cell, cancel_requested, slow_notified, record_dir, \
     record_pruned, notice_pending";

const SCHEDULE_COLUMNS: &str = "name, spec_path, notebook, commit_id, spec_text, first_seen, active, paused, last_tick, problem";

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc))
}

fn trigger_of(text: &str) -> Trigger {
    match text {
        "manual" => Trigger::Manual,
        "backfill" => Trigger::Backfill,
        "retry" => Trigger::Retry,
        "recovery" => Trigger::Recovery,
        _ => Trigger::Cron,
    }
}

fn run_row(row: &Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: row.get(0)?,
        schedule: row.get(1)?,
        logical_time: row.get(2)?,
        trigger: trigger_of(&row.get::<_, String>(3)?),
        attempt: row.get(4)?,
        status: RunStatus::parse(&row.get::<_, String>(5)?),
        commit: row.get(6)?,
        queued_at: parse_time(row.get(7)?).unwrap_or_default(),
        not_before: parse_time(row.get(8)?),
        wait_until: parse_time(row.get(9)?),
        started_at: parse_time(row.get(10)?),
        finished_at: parse_time(row.get(11)?),
        pid: row.get(12)?,
        pid_start: row.get::<_, Option<i64>>(13)?.and_then(|v| u64::try_from(v).ok()),
        exit_code: row.get(14)?,
        message: row.get(15)?,
        failing_cell: row.get(16)?,
        cancel_requested: row.get(17)?,
        slow_notified: row.get(18)?,
        record_dir: row.get(19)?,
        record_pruned: row.get(20)?,
        notice_pending: row.get(21)?,
    })
}

fn schedule_row(row: &Row) -> rusqlite::Result<ScheduleRow> {
    Ok(ScheduleRow {
        name: row.get(0)?,
        spec_path: row.get(1)?,
        notebook: row.get(2)?,
        commit: row.get(3)?,
        spec_text: row.get(4)?,
        first_seen: row.get::<_, String>(5)?.parse().unwrap_or_default(),
        active: row.get(6)?,
        paused: row.get(7)?,
        last_tick: parse_time(row.get(8)?),
        problem: row.get(9)?,
    })
}

pub struct Store {
    connection: Connection,
    path: PathBuf,
    /// Where run records live: `<state>/runs/<schedule>/<run id>`.
    runs_dir: PathBuf,
}

/// How long a connection waits for another's lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// WAL, durable commits and the tables. When two processes open a new state file at once (the
/// daemon starting, a CLI command asking it), SQLite can answer "busy" here at once, without
/// waiting: switching to WAL and a schema read turning into a write are not covered by its busy
/// handler. So the tables are created in an IMMEDIATE transaction (which waits like any writer)
/// and the whole step is tried again until the busy timeout.
fn prepare(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        let attempt = connection
            .pragma_update(None, "journal_mode", "WAL")
            // FULL: a committed transaction survives power loss, not only a crash of the process.
            .and_then(|()| connection.pragma_update(None, "synchronous", "FULL"))
            .and_then(|()| connection.execute_batch(&format!("BEGIN IMMEDIATE;{SCHEMA}COMMIT;")));
        match attempt {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if matches!(error.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) && Instant::now() < deadline =>
            {
                if !connection.is_autocommit() {
                    connection.execute_batch("ROLLBACK")?;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

impl Store {
    /// Opens (creating if needed) the state in `state_dir`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        let path = state_dir.join(FILE_NAME);
        let fail = |source| StoreError::Sqlite { path: path.clone(), source };
        let connection = Connection::open(&path).map_err(fail)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
        prepare(&connection).map_err(fail)?;
        Ok(Self { connection, path, runs_dir: state_dir.join("runs") })
    }

    fn fail(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite { path: self.path.clone(), source }
    }

    /// Runs `work` in one transaction (given the runs directory), committed if it succeeds.
    /// IMMEDIATE: the write lock is taken (waiting for it) at the start, so a transaction that
    /// reads first is never refused at once when another process wrote meanwhile.
    fn in_transaction<T>(&mut self, work: impl FnOnce(&rusqlite::Transaction, &Path) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let fail = |source| StoreError::Sqlite { path: self.path.clone(), source };
        let transaction = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(fail)?;
        let done = work(&transaction, &self.runs_dir).map_err(fail)?;
        transaction.commit().map_err(fail)?;
        Ok(done)
    }

    pub fn runs_dir(&self) -> &Path {
        &self.runs_dir
    }

    pub fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        let mut statement =
            self.connection.prepare(&format!("SELECT {SCHEDULE_COLUMNS} FROM schedules ORDER BY name")).map_err(self.fail())?;
        let rows = statement.query_map([], schedule_row).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// A schedule main holds now.
    pub fn schedule(&self, name: &str) -> Result<ScheduleRow, StoreError> {
        self.find_schedule(name, false)
    }

    /// A schedule as main last held it, also after it left main: its runs may still owe notices.
    pub fn schedule_as_last_seen(&self, name: &str) -> Result<ScheduleRow, StoreError> {
        self.find_schedule(name, true)
    }

    fn find_schedule(&self, name: &str, also_removed: bool) -> Result<ScheduleRow, StoreError> {
        self.connection
            .query_row(
                &format!("SELECT {SCHEDULE_COLUMNS} FROM schedules WHERE name = ?1 AND (active OR ?2)"),
                params![name, also_removed],
                schedule_row,
            )
            .optional()
            .map_err(self.fail())?
            .ok_or_else(|| StoreError::UnknownSchedule(name.to_owned()))
    }

    /// Records what main holds now: `seen` (name, spec path, notebook, spec text, problem); the
    /// schedules no longer there become inactive and their live runs that have not started are
    /// cancelled. A schedule keeps its first-seen day and its last cron time across changes.
    pub fn sync_schedules(&mut self, commit: &str, seen: &[SeenSchedule], today: NaiveDate) -> Result<(), StoreError> {
        self.in_transaction(|transaction, _| {
            transaction.execute("UPDATE schedules SET active = 0", [])?;
            for schedule in seen {
                transaction.execute(
                    "INSERT INTO schedules (name, spec_path, notebook, commit_id, spec_text, first_seen, active, problem) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7) \
                     ON CONFLICT (name) DO UPDATE SET spec_path = excluded.spec_path, notebook = excluded.notebook, \
                     commit_id = excluded.commit_id, spec_text = excluded.spec_text, active = 1, problem = excluded.problem",
                    params![
                        schedule.name,
                        schedule.spec_path,
                        schedule.notebook,
                        commit,
                        schedule.spec_text,
                        today.to_string(),
                        schedule.problem
                    ],
                )?;
            }
            transaction.execute(
                "UPDATE runs SET status = 'cancelled', finished_at = ?1, message = 'the schedule was removed from the main branch' \
                 WHERE status IN ('queued', 'waiting') AND schedule IN (SELECT name FROM schedules WHERE NOT active)",
                [timestamp(Utc::now())],
            )?;
            Ok(())
        })
    }

    pub fn set_paused(&self, name: &str, paused: bool) -> Result<(), StoreError> {
        let changed = self
            .connection
            .execute("UPDATE schedules SET paused = ?2 WHERE name = ?1 AND active", params![name, paused])
            .map_err(self.fail())?;
        if changed == 0 {
            return Err(StoreError::UnknownSchedule(name.to_owned()));
        }
        Ok(())
    }

    /// Queues the run of a cron time and moves the schedule past that time, in one transaction.
    pub fn queue_tick(&mut self, run: &NewRun, tick: DateTime<Utc>) -> Result<Option<RunRow>, StoreError> {
        self.in_transaction(|transaction, runs_dir| {
            transaction.execute("UPDATE schedules SET last_tick = ?2 WHERE name = ?1", params![run.schedule, timestamp(tick)])?;
            insert_run(transaction, runs_dir, run, 1)
        })
    }

    /// Queues a new attempt for a logical time (run now, backfill, retry): one more than the
    /// latest attempt of that time.
    pub fn queue_attempt(&mut self, run: &NewRun) -> Result<RunRow, StoreError> {
        let queued = self.in_transaction(|transaction, runs_dir| insert_next_attempt(transaction, runs_dir, run))?;
        queued.ok_or_else(|| StoreError::UnknownRun(format!("{} at {}", run.schedule, run.logical_time)))
    }

    pub fn run(&self, id: &str) -> Result<RunRow, StoreError> {
        self.connection
            .query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [id], run_row)
            .optional()
            .map_err(self.fail())?
            .ok_or_else(|| StoreError::UnknownRun(id.to_owned()))
    }

    /// Runs, newest first: of one schedule, or of all.
    pub fn runs(&self, schedule: Option<&str>, limit: u32) -> Result<Vec<RunRow>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!(
                "SELECT {RUN_COLUMNS} FROM runs WHERE ?1 IS NULL OR schedule = ?1 ORDER BY queued_at DESC, attempt DESC LIMIT ?2"
            ))
            .map_err(self.fail())?;
        let rows = statement.query_map(params![schedule, limit], run_row).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn runs_with_status(&self, status: RunStatus) -> Result<Vec<RunRow>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE status = ?1 ORDER BY queued_at, attempt"))
            .map_err(self.fail())?;
        let rows = statement.query_map([status.as_str()], run_row).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    /// The start time of the schedule's latest successful run, if any.
    pub fn last_success(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let started: Option<String> = self
            .connection
            .query_row("SELECT max(started_at) FROM runs WHERE schedule = ?1 AND status = 'succeeded'", [schedule], |r| r.get(0))
            .map_err(self.fail())?;
        Ok(parse_time(started))
    }

    /// A waiting run's inputs are there: it may start.
    pub fn release(&self, id: &str) -> Result<(), StoreError> {
        self.connection.execute("UPDATE runs SET status = 'queued' WHERE id = ?1 AND status = 'waiting'", [id]).map_err(self.fail())?;
        Ok(())
    }

    pub fn mark_running(&self, id: &str, started: DateTime<Utc>, pid: i32, pid_start: u64) -> Result<(), StoreError> {
        self.connection
            .execute(
                "UPDATE runs SET status = 'running', started_at = ?2, pid = ?3, pid_start = ?4 WHERE id = ?1",
                params![id, timestamp(started), pid, i64::try_from(pid_start).unwrap_or(i64::MAX)],
            )
            .map_err(self.fail())?;
        Ok(())
    }

    /// Records how a run ended (and whether it owes a notice), and queues `next` (a retry) in the
    /// same transaction.
    pub fn finish(
        &mut self,
        id: &str,
        ending: &Ending,
        finished: DateTime<Utc>,
        notice: bool,
        next: Option<&NewRun>,
    ) -> Result<Option<RunRow>, StoreError> {
        self.in_transaction(|transaction, runs_dir| {
            transaction.execute(
                "UPDATE runs SET status = ?2, finished_at = ?3, exit_code = ?4, message = ?5, failing_cell = ?6, notice_pending = ?7 \
                 WHERE id = ?1",
                params![id, ending.status.as_str(), timestamp(finished), ending.exit_code, ending.message, ending.failing_cell, notice],
            )?;
            match next {
                Some(next) => insert_next_attempt(transaction, runs_dir, next),
                None => Ok(None),
            }
        })
    }

    /// Asks for a run to be cancelled: one that has not started is cancelled at once; a running
    /// one is stopped by the daemon.
    pub fn request_cancel(&self, id: &str) -> Result<RunRow, StoreError> {
        let run = self.run(id)?;
        if run.status.is_final() {
            return Err(StoreError::WrongState {
                id: id.to_owned(),
                status: run.status.as_str().into(),
                action: "cancel",
                applies: "queued, waiting or running runs",
            });
        }
        self.connection
            .execute(
                "UPDATE runs SET cancel_requested = 1, \
                 status = CASE WHEN status IN ('queued', 'waiting') THEN 'cancelled' ELSE status END, \
                 finished_at = CASE WHEN status IN ('queued', 'waiting') THEN ?2 ELSE finished_at END, \
                 message = CASE WHEN status IN ('queued', 'waiting') THEN 'cancelled before it started' ELSE message END \
                 WHERE id = ?1",
                params![id, timestamp(Utc::now())],
            )
            .map_err(self.fail())?;
        self.run(id)
    }

    /// Finished runs whose notice is not sent yet.
    pub fn notices_pending(&self) -> Result<Vec<RunRow>, StoreError> {
        let mut statement =
            self.connection.prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE notice_pending")).map_err(self.fail())?;
        let rows = statement.query_map([], run_row).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn mark_noticed(&self, id: &str) -> Result<(), StoreError> {
        self.connection.execute("UPDATE runs SET notice_pending = 0 WHERE id = ?1", [id]).map_err(self.fail())?;
        Ok(())
    }

    pub fn mark_slow_notified(&self, id: &str) -> Result<(), StoreError> {
        self.connection.execute("UPDATE runs SET slow_notified = 1 WHERE id = ?1", [id]).map_err(self.fail())?;
        Ok(())
    }

    /// Finished runs whose record is older than `before` and still on disk.
    pub fn prunable(&self, before: DateTime<Utc>) -> Result<Vec<RunRow>, StoreError> {
        let mut statement = self
            .connection
            .prepare(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE finished_at < ?1 AND NOT record_pruned"))
            .map_err(self.fail())?;
        let rows = statement.query_map([timestamp(before)], run_row).map_err(self.fail())?;
        rows.collect::<Result<_, _>>().map_err(self.fail())
    }

    pub fn mark_pruned(&self, id: &str) -> Result<(), StoreError> {
        self.connection.execute("UPDATE runs SET record_pruned = 1 WHERE id = ?1", [id]).map_err(self.fail())?;
        Ok(())
    }
}

/// A schedule spec found on main.
pub struct SeenSchedule {
    pub name: String,
    pub spec_path: String,
    pub notebook: String,
    pub spec_text: String,
    pub problem: Option<String>,
}

/// Inserts a run as the attempt after the latest one of its logical time.
fn insert_next_attempt(transaction: &rusqlite::Transaction, runs_dir: &Path, run: &NewRun) -> rusqlite::Result<Option<RunRow>> {
    let latest: Option<u32> = transaction.query_row(
        "SELECT max(attempt) FROM runs WHERE schedule = ?1 AND logical_time = ?2",
        params![run.schedule, run.logical_time],
        |r| r.get(0),
    )?;
    insert_run(transaction, runs_dir, run, latest.unwrap_or(0) + 1)
}

/// Inserts a run unless that attempt of that time exists already (then `None`).
fn insert_run(transaction: &rusqlite::Transaction, runs_dir: &Path, run: &NewRun, attempt: u32) -> rusqlite::Result<Option<RunRow>> {
    let id = uuid::Uuid::new_v4().to_string();
    let record_dir = runs_dir.join(run.schedule).join(&id);
    let inserted = transaction.execute(
        "INSERT INTO runs (id, schedule, logical_time, trigger, attempt, status, commit_id, queued_at, not_before, wait_until, record_dir) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT DO NOTHING",
        params![
            id,
            run.schedule,
            run.logical_time,
            run.trigger.as_str(),
            attempt,
            run.status.as_str(),
            run.commit,
            timestamp(Utc::now()),
            run.not_before.map(timestamp),
            run.wait_until.map(timestamp),
            record_dir.to_string_lossy(),
        ],
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    transaction.query_row(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"), [&id], run_row).optional()
}
