//! A JSON POST of the Slack-shaped body to a webhook (Slack incoming webhooks, Mattermost,
//! Rocket.Chat).

use std::error::Error;

use super::delivery::SendError;
use super::render;

/// Posts `message`'s webhook body to `url`, once.
pub async fn post(client: &reqwest::Client, url: &str, message: &render::Message) -> Result<(), SendError> {
    let body = serde_json::to_vec(&message.webhook).map_err(|e| SendError::Permanent(format!("cannot encode the body: {e}")))?;
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| SendError::Transient(format!("POST {url}: {}", with_causes(&e))))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let answer: String = response.text().await.unwrap_or_default().chars().take(200).collect();
    let message = format!("POST {url}: HTTP {status} {}", answer.trim());
    // A 4xx (but a timeout or rate limit) says the request itself is wrong: a retry gets the same.
    let permanent = status.is_client_error() && !matches!(status.as_u16(), 408 | 429);
    Err(if permanent { SendError::Permanent(message) } else { SendError::Transient(message) })
}

/// reqwest's message with its causes ("error sending request" alone does not say why).
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
