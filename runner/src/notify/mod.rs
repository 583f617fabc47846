//! Notifications: when a scheduled run fails (or succeeds, or runs slow), the targets of the
//! schedule's `[[notify]]` entries are told, by e-mail (SMTP) or a Slack-compatible webhook.
//! Each target is tried `attempts` times; every result goes to the delivery log.

pub mod command;
pub mod delivery;
pub mod notice;
pub mod render;
pub mod settings;
mod smtp;
mod webhook;

use std::path::Path;
use std::time::Duration;

pub use delivery::{Delivery, SendError};
pub use notice::{CellError, FailingCell, Notice, NoticeError, RunOf};
pub use settings::{Settings, SettingsError};

use crate::schedule::spec::{Event, Notify, Target};

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether `notify` wants to hear of `event` for a run that has taken `elapsed`: a slow notice
/// only once the run is past that target's `slow_after`.
pub fn listens(notify: &Notify, event: Event, elapsed: Duration) -> bool {
    notify.on.contains(&event) && (event != Event::Slow || notify.slow_after.is_some_and(|after| elapsed >= after))
}

/// Tells every target that listens to `event` (see `listens`, with `notice.duration`), all at
/// once: one failing target does not hold up or stop the others. Each result is appended to
/// `log` as one JSON line and returned, in the order of `targets`.
pub async fn deliver(settings: &Settings, targets: &[Notify], event: Event, notice: &Notice, log: &Path) -> Vec<Delivery> {
    let listening: Vec<&Target> = targets.iter().filter(|t| listens(t, event, notice.duration)).map(|t| &t.target).collect();
    if listening.is_empty() {
        return Vec::new();
    }
    let link = settings.run_url.as_ref().map(|url| url.link(&notice.schedule, &notice.run_id));
    let message = render::render(notice, event, link.as_deref());
    let client =
        reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build().map_err(|e| SendError::Permanent(format!("no HTTP client: {e}")));
    let sends = listening.into_iter().map(|target| {
        let (message, client) = (&message, &client);
        delivery::with_retries(target, settings.attempts, settings.retry_delay, async move || match target {
            Target::Email(address) => smtp::send(settings.smtp.as_ref(), address, message).await,
            Target::Webhook(url) => webhook::post(client.as_ref().map_err(Clone::clone)?, url, message).await,
        })
    });
    let deliveries = futures_util::future::join_all(sends).await;
    delivery::record(log, event, notice, &deliveries);
    deliveries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_notices_wait_for_each_targets_threshold() {
        let target = |on: Vec<Event>, slow_after: Option<u64>| Notify {
            target: Target::Email("a@b.io".into()),
            on,
            slow_after: slow_after.map(Duration::from_secs),
        };
        let slow = target(vec![Event::Failure, Event::Slow], Some(3600));
        assert!(!listens(&slow, Event::Slow, Duration::from_secs(3599)));
        assert!(listens(&slow, Event::Slow, Duration::from_secs(3600)));
        assert!(listens(&slow, Event::Failure, Duration::ZERO));
        assert!(!listens(&slow, Event::Success, Duration::from_secs(7200)));
        assert!(!listens(&target(vec![Event::Failure], None), Event::Slow, Duration::from_secs(7200)));
    }
}
