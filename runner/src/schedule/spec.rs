//! The schedule spec: a small TOML file kept in git next to the notebook, e.g.
//! `daily_report.schedule.toml`. Every field is checked, and every problem is reported with the
//! line and column it is on (all of them at once, so one review round fixes them all).
//!
//! ```toml
//! name = "daily-sales"                 # letters, digits, - and _: the DAG id and branch name
//! notebook = "daily_report.ipynb"      # relative to this file
//! owner = "ana@example.com"            # notified of failures
//! purpose = "reporting"                # checked against the purpose policy
//! cadence = "daily"                    # hourly|daily|weekly|monthly, @-presets, or 5-field cron
//! timezone = "Europe/London"           # IANA zone (default UTC)
//! start_date = "2026-11-27"            # default: the day after it is read (in that zone)
//! catchup = false                      # true: every time missed since start_date runs (as
//!                                      # Airflow's catchup); false: only the latest missed one
//!
//! [parameters]                         # literals, or strings with {{ ds }}-style macros
//! run_date = "{{ ds }}"
//!
//! [trigger]                            # optional: wait for inputs before running
//! inputs = ["warehouse.orders"]        # tables, as the policy names them
//! partition = "day"                    # the input must have rows with day = {{ ds }}
//! timeout = "6h"                       # else: written by a Tiffin upload since the last run
//!
//! [limits]
//! timeout = "2h"
//! cell_timeout = "30m"
//! memory = "4G"
//!
//! [retries]
//! count = 2
//! delay = "10m"
//!
//! [[notify]]
//! email = "ana@example.com"            # or webhook = "https://..."
//! on = ["failure", "slow"]             # failure (default), success, slow
//! slow_after = "1h"
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use chrono::{Days, NaiveDate};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::Deserialize;
use toml::Spanned;

use super::template;
use crate::notebook::python::is_identifier;
use crate::policy::TableId;

/// A checked schedule.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    /// The notebook, as the spec names it (relative to the spec's directory).
    pub notebook: PathBuf,
    pub owner: String,
    pub purpose: String,
    /// The cadence as a 5-field cron expression (presets expanded).
    pub cron: String,
    pub timezone: Tz,
    pub start_date: NaiveDate,
    /// Every missed cron time runs, not only the latest.
    pub catchup: bool,
    pub parameters: BTreeMap<String, Parameter>,
    pub trigger: Option<Trigger>,
    pub limits: Limits,
    pub retries: Retries,
    pub notify: Vec<Notify>,
}

/// A parameter's value: a literal, or text whose macros are rendered for each run.
#[derive(Debug, Clone, PartialEq)]
pub enum Parameter {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub inputs: Vec<TableId>,
    pub partition: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub cell_timeout: Option<Duration>,
    pub memory: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retries {
    pub count: u32,
    pub delay: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Email(String),
    Webhook(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Event {
    Failure,
    Success,
    Slow,
}

impl Event {
    /// The name the spec's `notify.on` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failure => "failure",
            Self::Success => "success",
            Self::Slow => "slow",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub target: Target,
    pub on: Vec<Event>,
    pub slow_after: Option<Duration>,
}

/// One problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Every problem of a spec file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SpecError {
    pub path: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> =
            self.problems.iter().map(|p| format!("{}:{}:{}: {}", self.path.display(), p.line, p.column, p.message)).collect();
        f.write_str(&lines.join("\n"))
    }
}

const MAX_RETRIES: i64 = 10;
const DEFAULT_TRIGGER_TIMEOUT: Duration = Duration::from_secs(6 * 3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpec {
    name: Option<Spanned<String>>,
    notebook: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
    purpose: Option<Spanned<String>>,
    cadence: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    start_date: Option<Spanned<toml::Value>>,
    #[serde(default)]
    catchup: bool,
    parameters: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    trigger: Option<Spanned<RawTrigger>>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    retries: RawRetries,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrigger {
    inputs: Option<Spanned<Vec<Spanned<String>>>>,
    partition: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    timeout: Option<Spanned<String>>,
    cell_timeout: Option<Spanned<String>>,
    memory: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetries {
    count: Option<Spanned<i64>>,
    delay: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    email: Option<Spanned<String>>,
    webhook: Option<Spanned<String>>,
    on: Option<Spanned<Vec<Spanned<String>>>>,
    slow_after: Option<Spanned<String>>,
}

/// Collects problems against the source text, by byte span.
struct Checker<'a> {
    text: &'a str,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn at(&mut self, offset: usize, message: impl Into<String>) {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.problems.push(Problem { line, column, message: message.into() });
    }

    fn on<T>(&mut self, field: &Spanned<T>, message: impl Into<String>) {
        self.at(field.span().start, message);
    }

    /// A required field, or a problem at the top of the file.
    fn required<'s, T>(&mut self, field: &'s Option<Spanned<T>>, name: &str) -> Option<&'s Spanned<T>> {
        if field.is_none() {
            self.at(0, format!("`{name}` is missing"));
        }
        field.as_ref()
    }

    fn duration(&mut self, field: &Option<Spanned<String>>, name: &str) -> Option<Duration> {
        let field = field.as_ref()?;
        match parse_duration(field.get_ref()) {
            Ok(duration) => Some(duration),
            Err(error) => {
                self.on(field, format!("`{name}`: {error}"));
                None
            }
        }
    }
}

/// `90s`, `30m`, `2h`, `1d`, or combinations like `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration (e.g. 90s, 30m, 2h, 1d, 1h30m)");
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let value: u64 = number.parse().map_err(|_| bad())?;
        total = value.checked_mul(unit).and_then(|s| total.checked_add(s)).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// The cron expression of a cadence: a preset or 5 fields (minute hour day month weekday).
pub fn parse_cadence(text: &str) -> Result<String, String> {
    let expression = match text.trim() {
        "hourly" | "@hourly" => "0 * * * *",
        "daily" | "@daily" | "@midnight" => "0 0 * * *",
        "weekly" | "@weekly" => "0 0 * * 0",
        "monthly" | "@monthly" => "0 0 1 * *",
        "yearly" | "@yearly" | "@annually" => "0 0 1 1 *",
        other => other,
    };
    if expression.split_whitespace().count() != 5 {
        return Err(format!(
            "`{text}` is neither a preset (hourly, daily, weekly, monthly, yearly) nor a cron expression of 5 fields \
             (minute hour day-of-month month day-of-week)"
        ));
    }
    cron(expression).map_err(|e| format!("`{text}`: {e}"))?;
    Ok(expression.to_owned())
}

/// Five-field cron, as Airflow and crontab read it.
pub fn cron(expression: &str) -> Result<Cron, String> {
    CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build().parse(expression).map_err(|e| e.to_string())
}

fn is_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Reads and checks a spec. `today` is the date the spec is read on (UTC), for the default start.
pub fn load(path: &Path, today: NaiveDate) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        path: path.to_owned(),
        problems: vec![Problem { line: 1, column: 1, message: format!("cannot read the file: {e}") }],
    })?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parse(&text, dir, ReadOn::Authoring(today), &|notebook| notebook.is_file())
        .map_err(|problems| SpecError { path: path.to_owned(), problems })
}

/// When a spec is read: while it is written (a start date in the past is a mistake), or once it is
/// committed and scheduled (its start date passes, and that is fine).
#[derive(Debug, Clone, Copy)]
pub enum ReadOn {
    /// Today's date.
    Authoring(NaiveDate),
    /// The day the scheduler first saw the spec: a spec without a start date starts the day after.
    Scheduled(NaiveDate),
}

/// Checks a spec's text; `dir` is where the spec lives, and `exists` says whether the notebook
/// (`dir` joined with the spec's `notebook`) is there: on disk, or in a git tree.
pub fn parse(text: &str, dir: &Path, read_on: ReadOn, exists: &dyn Fn(&Path) -> bool) -> Result<Spec, Vec<Problem>> {
    let (today, reject_past) = match read_on {
        ReadOn::Authoring(today) => (today, true),
        ReadOn::Scheduled(first_seen) => (first_seen, false),
    };
    let mut check = Checker { text, problems: Vec::new() };
    let raw: RawSpec = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(error) => {
            let message = error.message().trim().to_owned();
            check.at(error.span().map_or(0, |s| s.start), message);
            return Err(check.problems);
        }
    };

    let name = check.required(&raw.name, "name").and_then(|name| {
        let ok = is_name(name.get_ref());
        if !ok {
            check.on(
                name,
                format!("`name`: `{}` must be 1 to 64 letters, digits, `-` or `_`, starting with a letter or digit", name.get_ref()),
            );
        }
        ok.then(|| name.get_ref().clone())
    });
    let notebook = check.required(&raw.notebook, "notebook").and_then(|notebook| {
        let relative = Path::new(notebook.get_ref());
        let problem = if relative.is_absolute() || relative.components().any(|c| matches!(c, Component::ParentDir)) {
            Some("must be a path relative to the spec's directory, inside it".to_owned())
        } else if relative.extension().is_none_or(|e| e != "ipynb") {
            Some("must name an .ipynb notebook".to_owned())
        } else if !exists(&dir.join(relative)) {
            Some(format!("{} does not exist", dir.join(relative).display()))
        } else {
            None
        };
        match problem {
            Some(problem) => {
                check.on(notebook, format!("`notebook`: `{}` {problem}", notebook.get_ref()));
                None
            }
            None => Some(relative.to_path_buf()),
        }
    });
    let owner = check.required(&raw.owner, "owner").and_then(|owner| {
        let ok = owner
            .get_ref()
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && host.contains('.') && !owner.get_ref().chars().any(char::is_whitespace));
        if !ok {
            check.on(owner, format!("`owner`: `{}` is not an e-mail address", owner.get_ref()));
        }
        ok.then(|| owner.get_ref().clone())
    });
    let purpose = check.required(&raw.purpose, "purpose").and_then(|purpose| {
        let ok = is_name(purpose.get_ref());
        if !ok {
            check.on(purpose, format!("`purpose`: `{}` must be letters, digits, `-` or `_`", purpose.get_ref()));
        }
        ok.then(|| purpose.get_ref().clone())
    });
    let cron = check.required(&raw.cadence, "cadence").and_then(|cadence| match parse_cadence(cadence.get_ref()) {
        Ok(cron) => Some(cron),
        Err(error) => {
            check.on(cadence, format!("`cadence`: {error}"));
            None
        }
    });
    let timezone = match &raw.timezone {
        None => Some(Tz::UTC),
        Some(zone) => match Tz::from_str(zone.get_ref()) {
            Ok(tz) => Some(tz),
            Err(_) => {
                check.on(zone, format!("`timezone`: `{}` is not an IANA time zone (e.g. Europe/London, UTC)", zone.get_ref()));
                None
            }
        },
    };
    let start_date = match &raw.start_date {
        None => today.checked_add_days(Days::new(1)),
        Some(start) => {
            let text = match start.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Datetime(d) => d.to_string(),
                other => other.to_string(),
            };
            match NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
                Ok(date) if reject_past && date < today => {
                    check.on(start, format!("`start_date`: {date} is in the past (today is {today})"));
                    None
                }
                Ok(date) => Some(date),
                Err(_) => {
                    check.on(start, format!("`start_date`: `{text}` is not a date (YYYY-MM-DD)"));
                    None
                }
            }
        }
    };
    let mut parameters = BTreeMap::new();
    for (key, value) in raw.parameters.iter().flatten() {
        if !is_identifier(key.get_ref()) {
            check.on(key, format!("parameter `{}` is not a Python identifier", key.get_ref()));
            continue;
        }
        let parameter = match value.get_ref() {
            toml::Value::String(s) => match template::check(s) {
                Ok(()) => Parameter::Text(s.clone()),
                Err(error) => {
                    check.on(value, format!("parameter `{}`: {error}", key.get_ref()));
                    continue;
                }
            },
            toml::Value::Integer(i) => Parameter::Int(*i),
            toml::Value::Float(f) => Parameter::Float(*f),
            toml::Value::Boolean(b) => Parameter::Bool(*b),
            other => {
                check.on(
                    value,
                    format!("parameter `{}`: a {} is not a parameter value (text, number or boolean)", key.get_ref(), other.type_str()),
                );
                continue;
            }
        };
        parameters.insert(key.get_ref().clone(), parameter);
    }
    let trigger = raw.trigger.as_ref().and_then(|trigger| {
        let raw = trigger.get_ref();
        let Some(inputs) = &raw.inputs else {
            check.on(trigger, "`trigger.inputs` is missing: the tables to wait for");
            return None;
        };
        if inputs.get_ref().is_empty() {
            check.on(inputs, "`trigger.inputs` is empty");
        }
        let mut tables = Vec::new();
        for input in inputs.get_ref() {
            match TableId::parse(input.get_ref()) {
                Ok(table) => tables.push(table),
                Err(error) => check.on(input, format!("`trigger.inputs`: {error}")),
            }
        }
        if let Some(partition) = &raw.partition
            && !is_identifier(partition.get_ref())
        {
            check.on(partition, format!("`trigger.partition`: `{}` is not a column name", partition.get_ref()));
        }
        let timeout = check.duration(&raw.timeout, "trigger.timeout").unwrap_or(DEFAULT_TRIGGER_TIMEOUT);
        Some(Trigger { inputs: tables, partition: raw.partition.as_ref().map(|p| p.get_ref().clone()), timeout })
    });
    let memory = raw.limits.memory.as_ref().and_then(|memory| match crate::cli::parse_size(memory.get_ref()) {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            check.on(memory, format!("`limits.memory`: {error}"));
            None
        }
    });
    let limits = Limits {
        timeout: check.duration(&raw.limits.timeout, "limits.timeout"),
        cell_timeout: check.duration(&raw.limits.cell_timeout, "limits.cell_timeout"),
        memory,
    };
    let count = match &raw.retries.count {
        None => 0,
        Some(count) if (0..=MAX_RETRIES).contains(count.get_ref()) => u32::try_from(*count.get_ref()).unwrap_or_default(),
        Some(count) => {
            check.on(count, format!("`retries.count`: {} is not between 0 and {MAX_RETRIES}", count.get_ref()));
            0
        }
    };
    let retries = Retries { count, delay: check.duration(&raw.retries.delay, "retries.delay").unwrap_or(Duration::from_secs(300)) };
    let notify = raw.notify.iter().filter_map(|entry| notify(&mut check, entry)).collect();

    if !check.problems.is_empty() {
        check.problems.sort_by_key(|p| (p.line, p.column));
        return Err(check.problems);
    }
    match (name, notebook, owner, purpose, cron, timezone, start_date) {
        (Some(name), Some(notebook), Some(owner), Some(purpose), Some(cron), Some(timezone), Some(start_date)) => Ok(Spec {
            name,
            notebook,
            owner,
            purpose,
            cron,
            timezone,
            start_date,
            catchup: raw.catchup,
            parameters,
            trigger,
            limits,
            retries,
            notify,
        }),
        _ => Err(vec![Problem { line: 1, column: 1, message: "the spec is incomplete".into() }]),
    }
}

fn notify(check: &mut Checker, entry: &Spanned<RawNotify>) -> Option<Notify> {
    let raw = entry.get_ref();
    let target = match (&raw.email, &raw.webhook) {
        (Some(email), None) => {
            if !email.get_ref().contains('@') {
                check.on(email, format!("`notify.email`: `{}` is not an e-mail address", email.get_ref()));
            }
            Target::Email(email.get_ref().clone())
        }
        (None, Some(webhook)) => {
            if !reqwest::Url::parse(webhook.get_ref()).is_ok_and(|url| matches!(url.scheme(), "http" | "https")) {
                check.on(webhook, format!("`notify.webhook`: `{}` is not an http(s) URL", webhook.get_ref()));
            }
            Target::Webhook(webhook.get_ref().clone())
        }
        _ => {
            check.on(entry, "a [[notify]] entry needs exactly one of `email` and `webhook`");
            return None;
        }
    };
    let mut on = Vec::new();
    for event in raw.on.iter().flat_map(|on| on.get_ref()) {
        match event.get_ref().as_str() {
            "failure" => on.push(Event::Failure),
            "success" => on.push(Event::Success),
            "slow" => on.push(Event::Slow),
            other => check.on(event, format!("`notify.on`: unknown event `{other}` (failure, success, slow)")),
        }
    }
    if raw.on.is_none() {
        on.push(Event::Failure);
    }
    on.sort();
    on.dedup();
    let slow_after = check.duration(&raw.slow_after, "notify.slow_after");
    if on.contains(&Event::Slow) && slow_after.is_none() && raw.slow_after.is_none() {
        check.on(entry, "`notify.on` has `slow`: say after how long with `slow_after`");
    }
    Some(Notify { target, on, slow_after })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"name = "daily-sales"
notebook = "report.ipynb"
owner = "ana@example.com"
purpose = "reporting"
cadence = "30 6 * * 1-5"
timezone = "Europe/London"
start_date = 2026-12-01

[parameters]
run_date = "{{ ds }}"
region = "EU"
top = 10
share = 0.5
dry = false

[trigger]
inputs = ["warehouse.orders", "pg.sales.refunds"]
partition = "day"

[limits]
timeout = "2h"
cell_timeout = "30m"
memory = "4G"

[retries]
count = 2
delay = "10m"

[[notify]]
email = "ana@example.com"
on = ["failure", "slow"]
slow_after = "1h30m"

[[notify]]
webhook = "https://hooks.example.com/T0/B0"
"#;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap_or_default()
    }

    fn dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("report.ipynb"), "{}").unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    fn problems(text: &str) -> Vec<(usize, String)> {
        let dir = dir();
        match parse(text, dir.path(), ReadOn::Authoring(today()), &|p| p.is_file()) {
            Ok(spec) => panic!("accepted: {spec:?}"),
            Err(problems) => problems.into_iter().map(|p| (p.line, p.message)).collect(),
        }
    }

    #[test]
    fn a_full_spec() {
        let dir = dir();
        let spec = parse(FULL, dir.path(), ReadOn::Authoring(today()), &|p| p.is_file()).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!((spec.name.as_str(), spec.cron.as_str(), spec.timezone), ("daily-sales", "30 6 * * 1-5", chrono_tz::Europe::London));
        assert_eq!(spec.start_date, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default());
        assert_eq!(spec.parameters["run_date"], Parameter::Text("{{ ds }}".into()));
        assert_eq!(spec.parameters["top"], Parameter::Int(10));
        let trigger = spec.trigger.unwrap_or_else(|| panic!("no trigger"));
        assert_eq!(trigger.inputs.iter().map(ToString::to_string).collect::<Vec<_>>(), ["warehouse.orders", "pg.sales.refunds"]);
        assert_eq!(trigger.timeout, DEFAULT_TRIGGER_TIMEOUT);
        assert_eq!(spec.limits.memory, Some(4 << 30));
        assert_eq!(spec.retries, Retries { count: 2, delay: Duration::from_secs(600) });
        assert_eq!(spec.notify[0].on, [Event::Failure, Event::Slow]);
        assert_eq!(spec.notify[0].slow_after, Some(Duration::from_secs(5400)));
        assert_eq!(spec.notify[1].on, [Event::Failure], "failure is the default");
    }

    #[test]
    fn defaults_start_the_next_day_in_utc() {
        let dir = dir();
        let text = "name = \"x\"\nnotebook = \"report.ipynb\"\nowner = \"a@b.io\"\npurpose = \"p\"\ncadence = \"daily\"\n";
        let spec = parse(text, dir.path(), ReadOn::Authoring(today()), &|p| p.is_file()).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!((spec.cron.as_str(), spec.timezone), ("0 0 * * *", Tz::UTC));
        assert_eq!(spec.start_date, NaiveDate::from_ymd_opt(2026, 11, 27).unwrap_or_default());
        assert!(spec.trigger.is_none() && spec.notify.is_empty() && spec.parameters.is_empty());
        assert!(!spec.catchup, "only the latest missed time runs by default");
        let caught = format!("{text}catchup = true\n");
        let spec = parse(&caught, dir.path(), ReadOn::Authoring(today()), &|p| p.is_file()).unwrap_or_else(|p| panic!("{p:?}"));
        assert!(spec.catchup);
        let wrong = problems(&format!("{text}catchup = \"yes\"\n"));
        assert_eq!(wrong[0].0, 6, "{wrong:?}");
        assert!(wrong[0].1.contains("invalid type"), "{wrong:?}");
    }

    #[test]
    fn every_problem_is_named_on_its_line() {
        let text = r#"name = "daily sales"
notebook = "../elsewhere.ipynb"
owner = "ana"
purpose = "reporting"
cadence = "0 6 * *"
timezone = "Europe/Londn"
start_date = "2026-11-01"

[parameters]
run_date = "{{ yesterday }}"
"2x" = 1
nested = [1, 2]

[trigger]
inputs = ["orders"]
timeout = "soon"

[limits]
memory = "lots"

[retries]
count = 99

[[notify]]
on = ["failure"]
"#;
        let got = problems(text);
        let lines: Vec<usize> = got.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2, 3, 5, 6, 7, 10, 11, 12, 15, 16, 19, 22, 24], "{got:#?}");
        let all = got.iter().map(|(line, message)| format!("{line}: {message}")).collect::<Vec<_>>().join("\n");
        for expected in [
            "1: `name`: `daily sales` must be",
            "2: `notebook`: `../elsewhere.ipynb` must be a path relative",
            "3: `owner`: `ana` is not an e-mail address",
            "5: `cadence`: `0 6 * *` is neither a preset",
            "6: `timezone`: `Europe/Londn` is not an IANA time zone",
            "7: `start_date`: 2026-11-01 is in the past (today is 2026-11-26)",
            "10: parameter `run_date`: unknown macro `{{ yesterday }}`",
            "11: parameter `2x` is not a Python identifier",
            "12: parameter `nested`: a array is not a parameter value",
            "15: `trigger.inputs`: `orders` is not a table name",
            "16: `trigger.timeout`: `soon` is not a duration",
            "19: `limits.memory`: `lots` is not a size",
            "22: `retries.count`: 99 is not between 0 and 10",
            "24: a [[notify]] entry needs exactly one of `email` and `webhook`",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in\n{all}");
        }
    }

    #[test]
    fn missing_fields_syntax_errors_and_unknown_keys() {
        let missing = problems("name = \"x\"\n");
        assert_eq!(missing.iter().filter(|(line, m)| *line == 1 && m.ends_with("is missing")).count(), 4, "{missing:?}");
        let syntax = problems("name = \"x\"\nowner = \n");
        assert_eq!(syntax.len(), 1);
        assert_eq!(syntax[0].0, 2, "{syntax:?}");
        let unknown = problems("name = \"x\"\n\n[limits]\nmemroy = \"4G\"\n");
        assert_eq!(unknown[0].0, 4, "{unknown:?}");
        assert!(unknown[0].1.contains("unknown field `memroy`"), "{unknown:?}");
        let bad_cron = problems(FULL.replace("30 6 * * 1-5", "61 6 * * *").as_str());
        assert!(bad_cron[0].1.starts_with("`cadence`: `61 6 * * *`"), "{bad_cron:?}");
        let missing_notebook = problems(FULL.replace("report.ipynb", "other.ipynb").as_str());
        assert!(missing_notebook[0].1.contains("other.ipynb does not exist"), "{missing_notebook:?}");
    }

    #[test]
    fn durations_and_cadences() {
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("0m").is_err() && parse_duration("5").is_err() && parse_duration("1w").is_err());
        assert_eq!(parse_cadence("@hourly").as_deref(), Ok("0 * * * *"));
        assert_eq!(parse_cadence("monthly").as_deref(), Ok("0 0 1 * *"));
        assert!(parse_cadence("0 0 6 * * *").is_err(), "no seconds field");
        assert!(parse_cadence("every day").is_err());
    }
}
