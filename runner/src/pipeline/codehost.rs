//! Pull requests through a code host's REST API, in GitHub's shape: `POST /repos/{owner}/{repo}/pulls`;
//! when one is already open for the branch (422 "A pull request already exists"), it is looked up
//! (`GET /repos/{owner}/{repo}/pulls?head=owner:branch`) and reported instead.

use std::time::Duration;

use serde_json::{Value, json};

use super::settings::ReviewSettings;

const TIMEOUT: Duration = Duration::from_secs(30);
const ACCEPT: &str = "application/vnd.github+json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub url: String,
    pub number: Option<u64>,
    /// It was open already (a resubmission updates it by pushing the branch).
    pub existing: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CodeHostError {
    #[error("--pull-request needs `repository = \"owner/name\"` in [review] of tiffin.toml")]
    NoRepository,
    #[error("--pull-request needs `token_env` in [review] of tiffin.toml: the variable holding the API token")]
    NoTokenEnv,
    #[error("--pull-request: the variable {0} (token_env in [review]) is not set")]
    NoToken(String),
    #[error("{method} {url}: {error}")]
    Http { method: &'static str, url: String, error: String },
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status { method: &'static str, url: String, status: u16, body: String },
    #[error("{0}: a pull request for the branch already exists, but it was not found among the open ones")]
    ExistingNotFound(String),
}

/// The repository (`owner/name`) and the API token the settings name: checked before anything is
/// created, so a missing token stops a submission early.
pub fn credentials(settings: &ReviewSettings) -> Result<(&str, String), CodeHostError> {
    let repository = settings.repository.as_deref().ok_or(CodeHostError::NoRepository)?;
    let token_env = settings.token_env.as_deref().ok_or(CodeHostError::NoTokenEnv)?;
    let token = std::env::var(token_env).ok().filter(|t| !t.is_empty()).ok_or_else(|| CodeHostError::NoToken(token_env.to_owned()))?;
    Ok((repository, token))
}

/// Opens a pull request of `head` onto `base`, or finds the one already open.
pub async fn open_pull_request(
    settings: &ReviewSettings,
    head: &str,
    base: &str,
    title: &str,
    body: &str,
) -> Result<PullRequest, CodeHostError> {
    let (repository, token) = credentials(settings)?;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("tiffin-runner/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CodeHostError::Http { method: "POST", url: settings.api_url.clone(), error: e.to_string() })?;
    let url = format!("{}/repos/{repository}/pulls", settings.api_url);
    let payload = json!({"title": title, "head": head, "base": base, "body": body});
    let response = client
        .post(&url)
        .bearer_auth(&token)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .body(payload.to_string())
        .send()
        .await
        .map_err(|e| CodeHostError::Http { method: "POST", url: url.clone(), error: e.to_string() })?;
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200 | 201 => Ok(PullRequest { url: html_url(&answer), number: answer["number"].as_u64(), existing: false }),
        422 if text.contains("A pull request already exists") => {
            let owner = repository.split('/').next().unwrap_or_default();
            let query = format!("{url}?head={owner}:{head}&base={base}&state=open");
            let found = client.get(&query).bearer_auth(&token).header("accept", ACCEPT).send().await.map_err(|e| CodeHostError::Http {
                method: "GET",
                url: query.clone(),
                error: e.to_string(),
            })?;
            let status = found.status().as_u16();
            let text = found.text().await.unwrap_or_default();
            if status != 200 {
                return Err(CodeHostError::Status { method: "GET", url: query, status, body: text });
            }
            let list: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            let first = list.as_array().and_then(|items| items.first()).ok_or(CodeHostError::ExistingNotFound(query))?;
            Ok(PullRequest { url: html_url(first), number: first["number"].as_u64(), existing: true })
        }
        _ => Err(CodeHostError::Status { method: "POST", url, status, body: text }),
    }
}

fn html_url(pull: &Value) -> String {
    pull["html_url"].as_str().or_else(|| pull["url"].as_str()).unwrap_or_default().to_owned()
}
