//! Where lineage goes: every event appended as one line to the JSONL file of `[lineage] file`,
//! and, when `[lineage] url` is set, POSTed there as OpenLineage's HTTP transport does. The file
//! is the record of truth: an HTTP failure is retried, then reported, never fatal to the run.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const HTTP_ATTEMPTS: u32 = 3;
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot write {path}: {error}")]
    File { path: String, error: std::io::Error },
    #[error("POST {url} failed after {attempts} attempts: {error}")]
    Http { url: String, attempts: u32, error: String },
}

/// Appends each event as one line. The file is opened for appending and each line written with
/// one `write`, so concurrent runs appending to the same file do not interleave their lines.
pub fn append(path: &Path, events: &[Value]) -> Result<(), SinkError> {
    let failed = |error| SinkError::File { path: path.display().to_string(), error };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(failed)?;
    for event in events {
        let mut line = serde_json::to_vec(event).map_err(|e| failed(std::io::Error::other(e)))?;
        line.push(b'\n');
        file.write_all(&line).map_err(failed)?;
    }
    Ok(())
}

/// POSTs each event to `url`, retrying a failed one twice with a short back-off.
pub async fn post(url: &str, events: &[Value]) -> Result<(), SinkError> {
    let client = reqwest::Client::builder().timeout(HTTP_TIMEOUT).build().map_err(|e| SinkError::Http {
        url: url.to_owned(),
        attempts: 0,
        error: e.to_string(),
    })?;
    for event in events {
        let body = serde_json::to_vec(event).unwrap_or_default();
        let mut last_error = String::new();
        let mut delivered = false;
        for attempt in 1..=HTTP_ATTEMPTS {
            let sent = client.post(url).header("content-type", "application/json").body(body.clone()).send().await;
            match sent.map(|response| response.error_for_status()) {
                Ok(Ok(_)) => {
                    delivered = true;
                    break;
                }
                Ok(Err(error)) | Err(error) => last_error = error.to_string(),
            }
            if attempt < HTTP_ATTEMPTS {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
        if !delivered {
            return Err(SinkError::Http { url: url.to_owned(), attempts: HTTP_ATTEMPTS, error: last_error });
        }
    }
    Ok(())
}
