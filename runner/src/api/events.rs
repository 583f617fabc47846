//! Live progress as server-sent events, found by polling (a run's output goes to files, not
//! through the daemon): a run's `status` whenever it changes and a `log` event for every new line
//! of its log, ending after the status event of a final status. [`stream`] turns any such poller
//! into the event stream; [`LogTail`] reads the lines a log file gained.

use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};

use super::error::ApiError;
use super::state::ApiState;
use crate::serve::launch::RecordFiles;
use crate::serve::store::{RunRow, RunStatus};

/// How often a live run or submission is looked at.
const POLL: Duration = Duration::from_millis(300);

/// Something followed by polling: each poll gives the events since the last one, and whether
/// that was the last.
pub trait Poll: Send + 'static {
    fn poll(&mut self) -> impl Future<Output = Result<(Vec<Event>, bool), ApiError>> + Send;
}

/// The event stream of `poller`: polled at once, then every [`POLL`] until it says it is done;
/// an error ends the stream with an `error` event saying why.
pub fn stream<P: Poll>(poller: P) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let batches = stream::unfold((poller, true, false), |(mut poller, first, finished)| async move {
        if finished {
            return None;
        }
        if !first {
            tokio::time::sleep(POLL).await;
        }
        let (events, done) = match poller.poll().await {
            Ok(polled) => polled,
            Err(error) => (vec![Event::default().event("error").data(error.to_string())], true),
        };
        Some((stream::iter(events.into_iter().map(Ok)), (poller, false, done)))
    });
    Sse::new(batches.flatten()).keep_alive(KeepAlive::default())
}

/// The lines a log file gained since the last look.
pub struct LogTail {
    path: PathBuf,
    /// Bytes already given out (up to the end of the last whole line).
    offset: u64,
}

impl LogTail {
    pub fn new(path: PathBuf) -> Self {
        Self { path, offset: 0 }
    }

    /// Whole lines appended since the last call (and a last partial one `at_end`); none while
    /// the file does not exist.
    pub fn lines(&mut self, at_end: bool) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.path) else { return Vec::new() };
        let mut fresh = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut fresh).is_err() {
            return Vec::new();
        }
        let whole = if at_end { fresh.len() } else { fresh.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) };
        self.offset += whole as u64;
        String::from_utf8_lossy(&fresh[..whole]).lines().map(str::to_owned).collect()
    }
}

/// One line of a log as an event.
pub fn log_event(line: String) -> Event {
    Event::default().event("log").data(line)
}

/// An event carrying JSON.
pub fn json_event(name: &str, data: &impl serde::Serialize) -> Result<Event, ApiError> {
    Event::default().event(name).json_data(data).map_err(|e| ApiError::Internal(e.to_string()))
}

struct RunFollower {
    state: ApiState,
    id: String,
    log: LogTail,
    last_status: Option<RunStatus>,
}

impl Poll for RunFollower {
    /// The final status sends what is left of the log first.
    async fn poll(&mut self) -> Result<(Vec<Event>, bool), ApiError> {
        let id = self.id.clone();
        let run: RunRow = self.state.with_store(move |store| Ok(store.run(&id)?)).await?;
        let done = run.status.is_final();
        let mut events: Vec<Event> = self.log.lines(done).into_iter().map(log_event).collect();
        if self.last_status != Some(run.status) {
            self.last_status = Some(run.status);
            events.push(json_event("status", &run)?);
        }
        Ok((events, done))
    }
}

/// The event stream of a run that exists (checked by the caller).
pub fn follow_run(state: ApiState, run: RunRow) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let log = LogTail::new(PathBuf::from(&run.record_dir).join(RecordFiles::LOG));
    stream(RunFollower { state, id: run.id, log, last_status: None })
}
