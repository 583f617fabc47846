//! Data-arrival triggers: a run waits until every input table has arrived for its logical date:
//! it has rows in the partition for that date (`partition = "day"`: rows with day = ds), or a
//! Tiffin upload wrote it since the schedule's last successful run. The warehouse answers both
//! (`data::arrivals`), so the embedded scheduler and an Airflow sensor ask the same question.

use chrono::{DateTime, Utc};

use super::spec::Trigger;
use crate::data::arrivals;
use crate::data::cells::TableName;
use crate::data::config::Config;

/// Whether a run may start, and if not, which inputs it still waits for (and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    Waiting(Vec<String>),
}

/// Asks every input of `trigger` whether it has arrived for the logical date `ds`; `since` is the
/// start of the schedule's last successful run (any upload counts when there is none).
pub async fn check(trigger: &Trigger, config: &Config, ds: &str, since: Option<DateTime<Utc>>) -> Result<Readiness, String> {
    let since = since.map(arrivals::timestamp);
    let mut missing = Vec::new();
    for input in &trigger.inputs {
        let (_, source) = config
            .source(Some(&input.source))
            .ok_or_else(|| format!("trigger input {input}: no source `{}` in the configuration", input.source))?;
        let table = TableName::parse(&input.table).ok_or_else(|| format!("trigger input {input}: not a table name"))?;
        let partition_there = match &trigger.partition {
            Some(column) => arrivals::has_partition(source, &table, column, ds).await.map_err(|e| format!("trigger input {input}: {e}"))?,
            None => false,
        };
        if partition_there {
            continue;
        }
        let uploaded = arrivals::last_upload(source, &table).await.map_err(|e| format!("trigger input {input}: {e}"))?;
        let fresh = match (&uploaded, &since) {
            (Some(at), Some(since)) => at > since,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !fresh {
            let partition = trigger.partition.as_ref().map(|column| format!("no rows with {column} = {ds}, and ")).unwrap_or_default();
            let upload = match (&uploaded, &since) {
                (Some(at), Some(since)) => format!("last uploaded at {at}, before the last successful run ({since})"),
                _ => "never uploaded by Tiffin".to_owned(),
            };
            missing.push(format!("{input}: {partition}{upload}"));
        }
    }
    Ok(if missing.is_empty() { Readiness::Ready } else { Readiness::Waiting(missing) })
}
