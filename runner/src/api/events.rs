//! Live progress of a run as server-sent events: a `status` event (the run row) whenever its
//! status changes and a `log` event for every new line of its log, found by polling the store and
//! the log file (the run's output goes to files, not through the daemon). The stream ends after
//! the `status` event of a final status.

use std::convert::Infallible;
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

/// How often a live run is looked at.
const POLL: Duration = Duration::from_millis(300);

struct Follower {
    state: ApiState,
    id: String,
    log: PathBuf,
    /// Bytes of the log already sent (up to the end of the last whole line).
    offset: u64,
    last_status: Option<RunStatus>,
    finished: bool,
}

impl Follower {
    /// The events since the last poll; the final status sends what is left of the log first.
    async fn poll(&mut self) -> Result<Vec<Event>, ApiError> {
        let id = self.id.clone();
        let run: RunRow = self.state.with_store(move |store| Ok(store.run(&id)?)).await?;
        let done = run.status.is_final();
        let mut events: Vec<Event> = self.new_log_lines(done).into_iter().map(|line| Event::default().event("log").data(line)).collect();
        if self.last_status != Some(run.status) {
            self.last_status = Some(run.status);
            let status = Event::default().event("status").json_data(&run).map_err(|e| ApiError::Internal(e.to_string()))?;
            events.push(status);
        }
        self.finished = done;
        Ok(events)
    }

    /// Whole lines appended to the log since the last call (and a last partial one at the end).
    fn new_log_lines(&mut self, at_end: bool) -> Vec<String> {
        let Ok(mut file) = std::fs::File::open(&self.log) else { return Vec::new() };
        let mut fresh = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_err() || file.read_to_end(&mut fresh).is_err() {
            return Vec::new();
        }
        let whole = if at_end { fresh.len() } else { fresh.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) };
        self.offset += whole as u64;
        String::from_utf8_lossy(&fresh[..whole]).lines().map(str::to_owned).collect()
    }
}

/// The event stream of a run that exists (checked by the caller).
pub fn follow(state: ApiState, run: RunRow) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let follower = Follower {
        state,
        log: PathBuf::from(&run.record_dir).join(RecordFiles::LOG),
        id: run.id,
        offset: 0,
        last_status: None,
        finished: false,
    };
    let batches = stream::unfold((follower, true), |(mut follower, first)| async move {
        if follower.finished {
            return None;
        }
        if !first {
            tokio::time::sleep(POLL).await;
        }
        let events = match follower.poll().await {
            Ok(events) => events,
            Err(error) => {
                // The stream cannot go on without the store: say why and end it.
                follower.finished = true;
                vec![Event::default().event("error").data(error.to_string())]
            }
        };
        Some((stream::iter(events.into_iter().map(Ok)), (follower, false)))
    });
    Sse::new(batches.flatten()).keep_alive(KeepAlive::default())
}
