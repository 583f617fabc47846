//! Trying a target until it takes the notice (or the attempts run out), and the record of each
//! delivery: one JSON line per target in the delivery log, delivered or not.

use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use super::notice::Notice;
use crate::schedule::spec::{Event, Target};

/// Why one attempt failed, and whether another could succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The setup or the target is wrong (no SMTP server, bad address, rejected): not retried.
    #[error("{0}")]
    Permanent(String),
    /// The network or the server may do better in a moment.
    #[error("{0}")]
    Transient(String),
}

impl SendError {
    pub fn no_smtp() -> Self {
        Self::Permanent("no SMTP server is configured: set smtp_host and from under [notify] in tiffin.toml".into())
    }
}

/// The final result for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub target: Target,
    pub attempts: u32,
    /// The last attempt's error; `None` when delivered.
    pub error: Option<String>,
}

impl Delivery {
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }
}

/// How a target is named in logs and the delivery log.
pub fn target_name(target: &Target) -> String {
    match target {
        Target::Email(address) => format!("email:{address}"),
        Target::Webhook(url) => format!("webhook:{url}"),
    }
}

/// Calls `send` up to `attempts` times, `delay` apart, until it succeeds or fails permanently;
/// every failed attempt is logged.
pub async fn with_retries(
    target: &Target,
    attempts: u32,
    delay: Duration,
    mut send: impl AsyncFnMut() -> Result<(), SendError>,
) -> Delivery {
    let name = target_name(target);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match send().await {
            Ok(()) => {
                tracing::info!(target_name = %name, attempt, "notice delivered");
                return Delivery { target: target.clone(), attempts: attempt, error: None };
            }
            Err(error) => {
                let last = matches!(error, SendError::Permanent(_)) || attempt >= attempts;
                tracing::warn!(target_name = %name, attempt, of = attempts, "notice not delivered: {error}{}", if last { "" } else { "; trying again" });
                if last {
                    return Delivery { target: target.clone(), attempts: attempt, error: Some(error.to_string()) };
                }
            }
        }
        tokio::time::sleep(delay).await;
    }
}

/// Appends one line per delivery to `log`. When the log cannot be written the results go to the
/// error log instead, so none is lost silently.
pub fn record(log: &Path, event: Event, notice: &Notice, deliveries: &[Delivery]) {
    let at = Utc::now().to_rfc3339();
    let lines: Vec<_> = deliveries
        .iter()
        .map(|delivery| {
            json!({
                "at": at,
                "schedule": notice.schedule,
                "run_id": notice.run_id,
                "logical_date": notice.logical_date,
                "attempt": notice.attempt,
                "event": event.as_str(),
                "target": target_name(&delivery.target),
                "result": if delivery.delivered() { "delivered" } else { "failed" },
                "attempts": delivery.attempts,
                "error": delivery.error,
            })
        })
        .collect();
    if let Err(error) = crate::lineage::sink::append(log, &lines) {
        for line in &lines {
            tracing::error!("the delivery log is not written ({error}); this delivery: {line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn transient_errors_are_retried_and_permanent_ones_are_not() {
        let target = Target::Webhook("http://hook".into());
        let mut calls = 0;
        let flaky = with_retries(&target, 3, Duration::from_millis(1), async || {
            calls += 1;
            if calls < 3 { Err(SendError::Transient(format!("HTTP 500 #{calls}"))) } else { Ok(()) }
        })
        .await;
        assert_eq!((flaky.attempts, flaky.delivered()), (3, true));

        let down = with_retries(&target, 2, Duration::from_millis(1), async || Err(SendError::Transient("refused".into()))).await;
        assert_eq!((down.attempts, down.error.as_deref()), (2, Some("refused")));

        let wrong = with_retries(&target, 3, Duration::from_millis(1), async || Err(SendError::no_smtp())).await;
        assert_eq!(wrong.attempts, 1, "a permanent error is not retried");
        assert!(wrong.error.unwrap_or_default().contains("smtp_host"));
    }
}
