//! What the handlers share: the scheduler's state file (the API's own connection to it), used
//! off the async thread since SQLite blocks.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::error::ApiError;
use super::submissions::Submissions;
use crate::serve::store::Store;

#[derive(Clone)]
pub struct ApiState {
    store: Arc<Mutex<Store>>,
    /// The repository's work tree: specs given by the client are looked for under it only.
    pub root: Arc<PathBuf>,
    /// The branch schedules run from.
    pub branch: Arc<str>,
    pub submissions: Submissions,
}

impl ApiState {
    pub fn new(store: Store, root: PathBuf, branch: &str) -> Self {
        Self { store: Arc::new(Mutex::new(store)), root: Arc::new(root), branch: branch.into(), submissions: Submissions::default() }
    }

    /// Runs `work` on the store on a blocking thread.
    pub async fn with_store<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, ApiError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || {
            let mut store = store.lock().map_err(|_| ApiError::Internal("the state connection is poisoned".into()))?;
            work(&mut store)
        })
        .await
        .map_err(|e| ApiError::Internal(format!("the state task failed: {e}")))?
    }
}
