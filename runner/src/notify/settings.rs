//! The `[notify]` table of tiffin.toml: how e-mail leaves (an SMTP server), what the link to a run
//! looks like, and how hard a delivery is tried. The file is kept in git, so the SMTP password is
//! never in it: `smtp_password_env` names the environment variable holding it.
//!
//! ```toml
//! [notify]
//! smtp_host = "smtp.example.com"
//! smtp_port = 587                       # default: 25 (none), 587 (starttls), 465 (tls)
//! smtp_tls = "starttls"                 # none | starttls (default) | tls
//! smtp_ca_file = "certs/mail-ca.pem"    # optional: a private CA to trust besides the public
//!                                       # ones (relative to this file)
//! smtp_username = "tiffin"              # optional; then smtp_password_env is required
//! smtp_password_env = "TIFFIN_SMTP_PASSWORD"
//! from = "Tiffin <tiffin@example.com>"  # required with smtp_host
//! run_url = "http://localhost:8888/tiffin/runs/{run_id}"   # {run_id} and {schedule}
//! attempts = 3                          # per target, 1 to 10
//! retry_delay = "5s"                    # between attempts
//! ```

use std::path::Path;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

use crate::data::config::{Config, FILE_NAME, Secret};
use crate::schedule::spec::parse_duration;

const DEFAULT_ATTEMPTS: u32 = 3;
const MAX_ATTEMPTS: i64 = 10;
const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(5);
const RUN_URL_PLACEHOLDERS: [&str; 2] = ["{run_id}", "{schedule}"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: [notify] {problem}")]
pub struct SettingsError {
    pub path: String,
    pub problem: String,
}

/// How notices are sent.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None`: no `smtp_host`, so e-mail targets cannot be delivered.
    pub smtp: Option<Smtp>,
    pub run_url: Option<RunUrl>,
    pub attempts: u32,
    pub retry_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub login: Option<Login>,
    pub from: Mailbox,
    /// PEM certificates of a private CA trusted for this server, besides the public roots.
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain SMTP: for a relay on loopback or a trusted network.
    None,
    /// Plain connection upgraded with STARTTLS (required, never skipped).
    StartTls,
    /// TLS from the first byte ("SMTPS").
    Implicit,
}

#[derive(Debug, Clone)]
pub struct Login {
    pub username: String,
    /// Read when a message is sent, never kept in the settings.
    pub password: Secret,
}

/// The link to a run: a URL with `{run_id}` and optionally `{schedule}` in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUrl(String);

impl RunUrl {
    pub fn link(&self, schedule: &str, run_id: &str) -> String {
        self.0.replace("{run_id}", run_id).replace("{schedule}", schedule)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    smtp_host: Option<String>,
    smtp_port: Option<i64>,
    smtp_tls: Option<String>,
    smtp_ca_file: Option<String>,
    smtp_username: Option<String>,
    smtp_password_env: Option<String>,
    from: Option<String>,
    run_url: Option<String>,
    attempts: Option<i64>,
    retry_delay: Option<String>,
}

impl Settings {
    /// The settings of a loaded config (its `[notify]` table; defaults without one).
    pub fn from_config(config: &Config) -> Result<Self, SettingsError> {
        let path = config.path.as_deref().unwrap_or(Path::new(FILE_NAME));
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&config.notify, dir).map_err(|problem| SettingsError { path: path.display().to_string(), problem })
    }

    /// Checks every field of a `[notify]` table; files it names are relative to `dir`.
    pub fn parse(table: &toml::Table, dir: &Path) -> Result<Self, String> {
        let raw: RawSettings = toml::Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| e.message().to_owned())?;
        let attempts = match raw.attempts {
            None => DEFAULT_ATTEMPTS,
            Some(n) if (1..=MAX_ATTEMPTS).contains(&n) => u32::try_from(n).unwrap_or(DEFAULT_ATTEMPTS),
            Some(n) => return Err(format!("attempts: {n} is not between 1 and {MAX_ATTEMPTS}")),
        };
        let retry_delay = match &raw.retry_delay {
            None => DEFAULT_RETRY_DELAY,
            Some(text) => parse_duration(text).map_err(|e| format!("retry_delay: {e}"))?,
        };
        let run_url = raw.run_url.as_deref().map(run_url).transpose()?;
        let smtp = smtp(&raw, dir)?;
        Ok(Self { smtp, run_url, attempts, retry_delay })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self { smtp: None, run_url: None, attempts: DEFAULT_ATTEMPTS, retry_delay: DEFAULT_RETRY_DELAY }
    }
}

fn run_url(template: &str) -> Result<RunUrl, String> {
    if !template.contains("{run_id}") {
        return Err(format!("run_url: `{template}` has no {{run_id}} to put the run's id in"));
    }
    let mut filled = template.to_owned();
    for placeholder in RUN_URL_PLACEHOLDERS {
        filled = filled.replace(placeholder, "x");
    }
    if filled.contains('{') || filled.contains('}') {
        return Err(format!("run_url: `{template}` has a placeholder other than {{run_id}} and {{schedule}}"));
    }
    match reqwest::Url::parse(&filled) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(RunUrl(template.to_owned())),
        _ => Err(format!("run_url: `{template}` is not an http:// or https:// URL")),
    }
}

fn smtp(raw: &RawSettings, dir: &Path) -> Result<Option<Smtp>, String> {
    let Some(host) = &raw.smtp_host else {
        let stray = [
            ("smtp_port", raw.smtp_port.is_some()),
            ("smtp_tls", raw.smtp_tls.is_some()),
            ("smtp_ca_file", raw.smtp_ca_file.is_some()),
            ("smtp_username", raw.smtp_username.is_some()),
            ("smtp_password_env", raw.smtp_password_env.is_some()),
            ("from", raw.from.is_some()),
        ];
        return match stray.iter().find(|(_, given)| *given) {
            Some((name, _)) => Err(format!("{name} is set but smtp_host is not: say which SMTP server sends the e-mail")),
            None => Ok(None),
        };
    };
    if host.trim().is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
        return Err(format!("smtp_host: `{host}` is not a host name or address"));
    }
    let tls = match raw.smtp_tls.as_deref() {
        None | Some("starttls") => Tls::StartTls,
        Some("none") => Tls::None,
        Some("tls") => Tls::Implicit,
        Some(other) => return Err(format!("smtp_tls: `{other}` is not one of none, starttls, tls")),
    };
    let port = match raw.smtp_port {
        None => match tls {
            Tls::None => 25,
            Tls::StartTls => 587,
            Tls::Implicit => 465,
        },
        Some(port) => u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| format!("smtp_port: {port} is not a port (1 to 65535)"))?,
    };
    let login = match (&raw.smtp_username, &raw.smtp_password_env) {
        (None, None) => None,
        (Some(username), Some(var)) if !var.is_empty() => Some(Login { username: username.clone(), password: Secret::Env(var.clone()) }),
        (Some(_), _) => return Err("smtp_username needs smtp_password_env: the environment variable holding the password".into()),
        (None, Some(_)) => return Err("smtp_password_env is set but smtp_username is not".into()),
    };
    let from = raw.from.as_deref().ok_or("from is missing: the sender of the e-mail, e.g. \"Tiffin <tiffin@example.com>\"")?;
    let from = from.parse::<Mailbox>().map_err(|e| format!("from: `{from}` is not an e-mail address ({e})"))?;
    let ca_pem = match (&raw.smtp_ca_file, tls) {
        (None, _) => None,
        (Some(_), Tls::None) => return Err("smtp_ca_file is set but smtp_tls is \"none\": no certificate is checked".into()),
        (Some(file), _) => Some(ca_certificates(&dir.join(file))?),
    };
    Ok(Some(Smtp { host: host.clone(), port, tls, login, from, ca_pem }))
}

/// The PEM certificates of `smtp_ca_file`, checked now rather than at the first failure.
fn ca_certificates(path: &Path) -> Result<Vec<u8>, String> {
    const BEGIN: &[u8] = b"-----BEGIN CERTIFICATE-----";
    let pem = std::fs::read(path).map_err(|e| format!("smtp_ca_file: cannot read {}: {e}", path.display()))?;
    let parsed = lettre::transport::smtp::client::Certificate::from_pem(&pem);
    if parsed.is_err() || !pem.windows(BEGIN.len()).any(|window| window == BEGIN) {
        return Err(format!("smtp_ca_file: {} holds no PEM certificate", path.display()));
    }
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, String> {
        parse_in(text, Path::new("."))
    }

    fn parse_in(text: &str, dir: &Path) -> Result<Settings, String> {
        Settings::parse(&text.parse::<toml::Table>().map_err(|e| e.to_string())?, dir)
    }

    #[test]
    fn a_ca_file_must_be_readable_pem_and_needs_tls() {
        let dir = std::env::temp_dir().join(format!("tiffin-notify-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("not-a-cert.pem"), "hello\n").unwrap_or_else(|e| panic!("{e}"));
        let with = |file: &str, tls: &str| {
            parse_in(&format!("smtp_host = \"mail\"\nfrom = \"t@example.com\"\nsmtp_tls = \"{tls}\"\nsmtp_ca_file = \"{file}\""), &dir)
        };
        let missing = with("missing.pem", "starttls").err().unwrap_or_default();
        assert!(missing.starts_with("smtp_ca_file: cannot read ") && missing.contains("missing.pem"), "{missing}");
        let junk = with("not-a-cert.pem", "tls").err().unwrap_or_default();
        assert!(junk.ends_with("not-a-cert.pem holds no PEM certificate"), "{junk}");
        let plain = with("not-a-cert.pem", "none").err().unwrap_or_default();
        assert!(plain.contains("smtp_tls is \"none\""), "{plain}");
        let stray = parse("smtp_ca_file = \"ca.pem\"").err().unwrap_or_default();
        assert!(stray.starts_with("smtp_ca_file is set but smtp_host is not"), "{stray}");
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn an_empty_table_gives_the_defaults_and_no_smtp() {
        let settings = parse("").unwrap_or_else(|e| panic!("{e}"));
        assert!(settings.smtp.is_none() && settings.run_url.is_none());
        assert_eq!((settings.attempts, settings.retry_delay), (3, Duration::from_secs(5)));
    }

    #[test]
    fn a_full_table() {
        let settings = parse(
            "smtp_host = \"smtp.example.com\"\nsmtp_tls = \"tls\"\nsmtp_username = \"tiffin\"\nsmtp_password_env = \"PW\"\n\
             from = \"Tiffin <tiffin@example.com>\"\nrun_url = \"https://lab.example.com/tiffin/{schedule}/runs/{run_id}\"\n\
             attempts = 5\nretry_delay = \"1m\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let smtp = settings.smtp.unwrap_or_else(|| panic!("no smtp"));
        assert_eq!((smtp.host.as_str(), smtp.port, smtp.tls), ("smtp.example.com", 465, Tls::Implicit), "implicit TLS defaults to 465");
        assert_eq!(smtp.from.email.to_string(), "tiffin@example.com");
        assert!(matches!(smtp.login, Some(Login { username, password: Secret::Env(var) }) if username == "tiffin" && var == "PW"));
        let link = settings.run_url.map(|url| url.link("daily-sales", "r-1"));
        assert_eq!(link.as_deref(), Some("https://lab.example.com/tiffin/daily-sales/runs/r-1"));
        assert_eq!((settings.attempts, settings.retry_delay), (5, Duration::from_secs(60)));
        let plain = parse("smtp_host = \"127.0.0.1\"\nsmtp_tls = \"none\"\nfrom = \"t@example.com\"\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(plain.smtp.map(|s| (s.port, s.tls)), Some((25, Tls::None)));
    }

    #[test]
    fn every_bad_field_is_named() {
        let smtp = "smtp_host = \"mail\"\nfrom = \"t@example.com\"\n";
        let cases = [
            ("smtp_hots = \"x\"\n".to_owned(), "unknown field `smtp_hots`"),
            ("from = \"t@example.com\"\n".to_owned(), "from is set but smtp_host is not"),
            ("smtp_host = \"mail\"\n".to_owned(), "from is missing"),
            ("smtp_host = \"mail\"\nfrom = \"not an address\"\n".to_owned(), "from: `not an address` is not an e-mail address"),
            (format!("{smtp}smtp_tls = \"ssl\"\n"), "smtp_tls: `ssl` is not one of none, starttls, tls"),
            (format!("{smtp}smtp_port = 70000\n"), "smtp_port: 70000 is not a port"),
            (format!("{smtp}smtp_username = \"u\"\n"), "smtp_username needs smtp_password_env"),
            (format!("{smtp}smtp_password_env = \"PW\"\n"), "smtp_password_env is set but smtp_username is not"),
            ("smtp_host = \"a b\"\nfrom = \"t@example.com\"\n".to_owned(), "smtp_host: `a b` is not a host"),
            ("run_url = \"http://lab/runs\"\n".to_owned(), "has no {run_id}"),
            ("run_url = \"http://lab/{id}/{run_id}\"\n".to_owned(), "a placeholder other than"),
            ("run_url = \"lab/{run_id}\"\n".to_owned(), "is not an http:// or https:// URL"),
            ("attempts = 0\n".to_owned(), "attempts: 0 is not between 1 and 10"),
            ("retry_delay = \"soon\"\n".to_owned(), "retry_delay: `soon` is not a duration"),
            ("attempts = \"3\"\n".to_owned(), "invalid type"),
        ];
        for (text, expected) in cases {
            let error = parse(&text).err().unwrap_or_default();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
