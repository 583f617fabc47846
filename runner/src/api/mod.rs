//! The HTTP API of `runner serve`, served by the daemon itself: what the JupyterLab extension
//! shows and does (schedules by notebook, runs, their records and live progress; run now, cancel,
//! retry, pause; preview, and submission for review with its trial run's progress). It reads and
//! changes the same state file as the CLI, through the same `serve::actions`; the daemon picks
//! changes up on its next turn. Described by `docs/api/openapi.json`.

mod auth;
mod error;
mod events;
mod listen;
mod openapi;
mod routes;
mod run_record;
mod state;
mod submissions;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::task::JoinHandle;

pub use listen::ListenError;
use state::ApiState;

use crate::serve::store::{Store, StoreError};

/// Where the API listens.
pub struct ApiOptions {
    /// The unix socket [default: `api.sock` in the state directory].
    pub socket: Option<PathBuf>,
    /// A loopback TCP address, and the file holding its bearer token.
    pub tcp: Option<(SocketAddr, PathBuf)>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Listen(#[from] ListenError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The API while it serves; dropping it stops the listeners and removes the socket file.
pub struct RunningApi {
    tasks: Vec<JoinHandle<()>>,
    socket: PathBuf,
}

impl Drop for RunningApi {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(error) = std::fs::remove_file(&self.socket) {
            tracing::warn!(socket = %self.socket.display(), %error, "cannot remove the API socket");
        }
    }
}

/// Binds the listeners and serves the API on background tasks. Call with the state lock held.
pub async fn start(options: &ApiOptions, state_dir: &Path, repo_root: &Path, branch: &str) -> Result<RunningApi, StartError> {
    let tcp = match &options.tcp {
        Some((addr, token_file)) => Some((listen::bind_tcp(*addr).await?, listen::read_token(token_file)?)),
        None => None,
    };
    let socket = options.socket.clone().unwrap_or_else(|| state_dir.join("api.sock"));
    let unix = listen::bind_unix(&socket)?;
    let state = ApiState::new(Store::open(state_dir)?, repo_root.to_path_buf(), branch);
    let mut tasks = Vec::new();
    eprintln!("runner serve: API on unix socket {}", socket.display());
    let app = routes::router(state.clone(), None);
    tasks.push(tokio::spawn(async move {
        if let Err(error) = axum::serve(unix, app).await {
            tracing::error!(%error, "the API's unix socket stopped");
        }
    }));
    if let Some((listener, token)) = tcp {
        if let Ok(addr) = listener.local_addr() {
            eprintln!("runner serve: API on http://{addr} (bearer token required)");
        }
        let app = routes::router(state, Some(token));
        tasks.push(tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the API's TCP listener stopped");
            }
        }));
    }
    Ok(RunningApi { tasks, socket })
}
