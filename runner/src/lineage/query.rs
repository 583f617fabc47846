//! `runner lineage TABLE`: which notebooks read or wrote a table, for which purpose, when, and how
//! the run ended, from the lineage file's events (each run's last event and its `tiffin` facet).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::data::config::Config;
use crate::policy::TableId;

#[derive(Debug, thiserror::Error)]
pub enum LineageError {
    #[error(transparent)]
    Config(#[from] crate::data::config::ConfigError),
    #[error(transparent)]
    Table(#[from] crate::policy::PolicyError),
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
}

/// One run that touched the table.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub time: String,
    pub job: String,
    pub notebook: String,
    pub run_id: String,
    /// `read`, `write` or `read+write`.
    pub access: &'static str,
    pub purpose: Option<String>,
    pub status: String,
}

/// The file the lineage is in and the table asked about, `source.table` (a bare name is a table of
/// the default source).
pub fn resolve(table: &str, dir: &Path, config: Option<&Path>) -> Result<(PathBuf, TableId), LineageError> {
    let config = Config::for_dir(dir, config)?;
    let qualified = if table.contains('.') && config.sources.contains_key(table.split('.').next().unwrap_or_default()) {
        table.to_owned()
    } else {
        format!("{}.{table}", config.default_source)
    };
    Ok((config.lineage.file, TableId::parse(&qualified)?))
}

/// Every finished run in the lineage file that read or wrote `table`, oldest first. Lines that are
/// not events are skipped with a warning naming them.
pub fn accesses(file: &Path, table: &TableId) -> Result<Vec<Access>, LineageError> {
    let reader = match std::fs::File::open(file) {
        Ok(f) => std::io::BufReader::new(f),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(LineageError::Read(file.to_owned(), error)),
    };
    let wanted = table.to_string();
    let mut found = Vec::new();
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| LineageError::Read(file.to_owned(), e))?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            eprintln!("runner: warning: {} line {} is not JSON; skipped", file.display(), number + 1);
            continue;
        };
        if event["eventType"] == "START" {
            continue;
        }
        let facet = &event["run"]["facets"]["tiffin"];
        let touches = |key: &str| facet[key].as_array().is_some_and(|tables| tables.iter().any(|t| same_table(t, &wanted)));
        let access = match (touches("reads"), touches("writes")) {
            (true, true) => "read+write",
            (true, false) => "read",
            (false, true) => "write",
            (false, false) => continue,
        };
        let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
        found.push(Access {
            time: text(&event["eventTime"]),
            job: text(&event["job"]["name"]),
            notebook: text(&facet["notebook"]),
            run_id: text(&event["run"]["runId"]),
            access,
            purpose: facet["purpose"].as_str().map(str::to_owned),
            status: text(&facet["status"]),
        });
    }
    found.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(found)
}

fn same_table(recorded: &Value, wanted: &str) -> bool {
    recorded.as_str().and_then(|t| TableId::parse(t).ok()).is_some_and(|t| t.to_string() == wanted)
}

/// The accesses as a table for people.
pub fn render(table: &TableId, accesses: &[Access]) -> String {
    if accesses.is_empty() {
        return format!("no recorded run read or wrote {table}\n");
    }
    let rows: Vec<[String; 6]> = accesses
        .iter()
        .map(|a| {
            let run: String = a.run_id.chars().take(8).collect();
            [a.time.clone(), a.job.clone(), a.access.to_owned(), a.purpose.clone().unwrap_or_else(|| "-".into()), a.status.clone(), run]
        })
        .collect();
    let header = ["time", "notebook", "access", "purpose", "status", "run"].map(str::to_owned);
    let widths: Vec<usize> = (0..6).map(|i| rows.iter().chain([&header]).map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    let line = |r: &[String; 6]| {
        let cells: Vec<String> = r.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        cells.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = format!("{table}\n");
    out.push_str(&line(&header));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}
