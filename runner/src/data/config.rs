//! `tiffin.toml`: the sources a notebook may read and write, where lineage goes, and the purpose
//! policy. Found next to the notebook or in a parent directory up to the repository's root, or
//! given with `--config`. Without one, the embedded default applies: the SQLite database
//! `warehouse.db` in the notebook's directory is the source `warehouse`.
//!
//! ```toml
//! default_source = "warehouse"          # optional
//!
//! [sources.warehouse]
//! type = "sqlite"
//! path = "data/warehouse.db"            # relative to this file
//!
//! [sources.pg]
//! type = "postgres"
//! url = "postgresql://etl@127.0.0.1:5432/shop"   # no password here: this file is in git
//! password_env = "TIFFIN_PG_PASSWORD"            # or password_file = "/etc/tiffin/pg-password"
//!
//! [lineage]
//! file = ".tiffin/lineage.jsonl"        # default; relative to this file
//! url = "http://127.0.0.1:5000/api/v1/lineage"   # optional OpenLineage HTTP endpoint
//! namespace = "tiffin"
//!
//! [policy]                              # see `policy`
//!
//! [notify]                              # SMTP and delivery settings, see `notify::settings`
//! [review]                              # see `pipeline::settings`
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const FILE_NAME: &str = "tiffin.toml";
pub const DEFAULT_SOURCE: &str = "warehouse";
const DEFAULT_DATABASE: &str = "warehouse.db";
const DEFAULT_LINEAGE_FILE: &str = ".tiffin/lineage.jsonl";
const DEFAULT_NAMESPACE: &str = "tiffin";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error("{path}: source `{source_name}`: {problem}")]
    Source { path: PathBuf, source_name: String, problem: String },
    #[error("{0}: default_source `{1}` is not one of the [sources]")]
    UnknownDefault(PathBuf, String),
    #[error("{0}: [lineage] url `{1}` is not an http:// or https:// URL")]
    LineageUrl(PathBuf, String),
}

/// How to reach one source. Credentials are read by the runner only; the kernel never sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceConfig {
    Sqlite { path: PathBuf },
    Postgres { url: String, password: Option<Secret> },
}

impl SourceConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

/// Where a password comes from; read at connect time, never stored in the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Secret {
    Env(String),
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineageConfig {
    pub file: PathBuf,
    pub url: Option<String>,
    pub namespace: String,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file read, if any.
    pub path: Option<PathBuf>,
    pub default_source: String,
    pub sources: BTreeMap<String, SourceConfig>,
    pub lineage: LineageConfig,
    /// The `[policy]` table, interpreted by the policy module.
    pub policy: toml::Table,
    /// The `[notify]` table, interpreted by the notify module.
    pub notify: toml::Table,
    /// The `[review]` table, interpreted by the pipeline module.
    pub review: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_source: Option<String>,
    #[serde(default)]
    sources: BTreeMap<String, RawSource>,
    #[serde(default)]
    lineage: RawLineage,
    #[serde(default)]
    policy: toml::Table,
    #[serde(default)]
    notify: toml::Table,
    #[serde(default)]
    review: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLineage {
    file: Option<PathBuf>,
    url: Option<String>,
    namespace: Option<String>,
}

impl Config {
    /// The config for a notebook: `explicit`, else the nearest `tiffin.toml` up to the
    /// repository root, else the embedded default.
    pub fn for_notebook(notebook: &Path, explicit: Option<&Path>) -> Result<Self, ConfigError> {
        Self::for_dir(notebook.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")), explicit)
    }

    /// The configuration of notebooks in `notebook_dir`.
    pub fn for_dir(notebook_dir: &Path, explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let notebook_dir = std::path::absolute(notebook_dir).unwrap_or_else(|_| notebook_dir.to_path_buf());
        match explicit.map(Path::to_path_buf).or_else(|| find_upwards(&notebook_dir)) {
            Some(path) => Self::load(&path, &notebook_dir),
            None => Ok(Self::embedded(&notebook_dir)),
        }
    }

    /// The embedded default: `warehouse.db` beside the notebook; the lineage in the user's state
    /// dir, so that a run without a tiffin.toml writes nothing beside the notebook but its output.
    pub fn embedded(notebook_dir: &Path) -> Self {
        let mut sources = BTreeMap::new();
        sources.insert(DEFAULT_SOURCE.to_owned(), SourceConfig::Sqlite { path: notebook_dir.join(DEFAULT_DATABASE) });
        Self {
            path: None,
            default_source: DEFAULT_SOURCE.into(),
            sources,
            lineage: LineageConfig {
                file: state_dir(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
                    .map_or_else(|| notebook_dir.join(DEFAULT_LINEAGE_FILE), |dir| dir.join("lineage.jsonl")),
                url: None,
                namespace: DEFAULT_NAMESPACE.into(),
            },
            policy: toml::Table::new(),
            notify: toml::Table::new(),
            review: toml::Table::new(),
        }
    }

    pub fn load(path: &Path, notebook_dir: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
        Self::parse(&text, path, notebook_dir)
    }

    fn parse(text: &str, path: &Path, notebook_dir: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e.to_string()))?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let mut config = Self::embedded(notebook_dir);
        config.path = Some(path.to_path_buf());
        for (name, source) in raw.sources {
            let problem = |problem: String| ConfigError::Source { path: path.to_path_buf(), source_name: name.clone(), problem };
            if !crate::notebook::python::is_identifier(&name) {
                return Err(problem("source names are identifiers (letters, digits, _)".into()));
            }
            let parsed = source.resolve(base).map_err(problem)?;
            config.sources.insert(name, parsed);
        }
        if let Some(default) = raw.default_source {
            if !config.sources.contains_key(&default) {
                return Err(ConfigError::UnknownDefault(path.to_path_buf(), default));
            }
            config.default_source = default;
        }
        if let Some(file) = raw.lineage.file {
            config.lineage.file = base.join(file);
        } else {
            config.lineage.file = base.join(DEFAULT_LINEAGE_FILE);
        }
        if let Some(url) = &raw.lineage.url {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                _ => return Err(ConfigError::LineageUrl(path.to_path_buf(), url.clone())),
            }
        }
        config.lineage.url = raw.lineage.url;
        if let Some(namespace) = raw.lineage.namespace {
            config.lineage.namespace = namespace;
        }
        config.policy = raw.policy;
        config.notify = raw.notify;
        config.review = raw.review;
        Ok(config)
    }

    /// The environment variables holding the sources' passwords: the kernel must not inherit them.
    pub fn password_env_vars(&self) -> Vec<String> {
        self.sources
            .values()
            .filter_map(|source| match source {
                SourceConfig::Postgres { password: Some(Secret::Env(name)), .. } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }

    /// The source a cell names, or the default one.
    pub fn source(&self, name: Option<&str>) -> Option<(&str, &SourceConfig)> {
        let name = name.unwrap_or(&self.default_source);
        self.sources.get_key_value(name).map(|(name, source)| (name.as_str(), source))
    }
}

impl RawSource {
    fn resolve(self, base: &Path) -> Result<SourceConfig, String> {
        let password = match (self.password_env, self.password_file) {
            (Some(_), Some(_)) => return Err("give password_env or password_file, not both".into()),
            (Some(var), None) => Some(Secret::Env(var)),
            (None, Some(file)) => Some(Secret::File(base.join(file))),
            (None, None) => None,
        };
        match self.kind.as_str() {
            "sqlite" => {
                if self.url.is_some() || password.is_some() {
                    return Err("a sqlite source takes only `path`".into());
                }
                let path = self.path.ok_or("a sqlite source needs `path`")?;
                Ok(SourceConfig::Sqlite { path: base.join(path) })
            }
            "postgres" => {
                if self.path.is_some() {
                    return Err("a postgres source takes `url`, not `path`".into());
                }
                let url = self.url.ok_or("a postgres source needs `url` (postgresql://user@host:port/db or host=... user=...)")?;
                let parsed: tokio_postgres::Config = url.parse().map_err(|e| format!("bad url: {e}"))?;
                if parsed.get_password().is_some() {
                    return Err("the url holds a password; tiffin.toml is kept in git: use password_env or password_file".into());
                }
                Ok(SourceConfig::Postgres { url, password })
            }
            other => Err(format!("unknown type `{other}`: use sqlite or postgres")),
        }
    }
}

impl Secret {
    pub fn read(&self) -> Result<String, String> {
        match self {
            Self::Env(var) => std::env::var(var).map_err(|_| format!("the environment variable {var} (password_env) is not set")),
            Self::File(path) => std::fs::read_to_string(path)
                .map(|text| text.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|e| format!("cannot read the password file {}: {e}", path.display())),
        }
    }
}

/// The nearest `tiffin.toml` from `dir` upwards, stopping at a repository root (`.git`).
fn find_upwards(dir: &Path) -> Option<PathBuf> {
    for ancestor in dir.ancestors() {
        let candidate = ancestor.join(FILE_NAME);
        if candidate.is_file() {
            return Some(candidate);
        }
        if ancestor.join(".git").exists() {
            break;
        }
    }
    None
}

/// `$XDG_STATE_HOME/tiffin`, else `~/.local/state/tiffin` (the XDG base directory spec's place
/// for logs and history); `None` when neither variable is set to an absolute path.
fn state_dir(xdg_state_home: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |value: Option<std::ffi::OsString>| value.map(PathBuf::from).filter(|path| path.is_absolute());
    absolute(xdg_state_home).or_else(|| absolute(home).map(|home| home.join(".local/state"))).map(|dir| dir.join("tiffin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/repo/tiffin.toml"), Path::new("/repo/nb")).map_err(|e| e.to_string())
    }

    #[test]
    fn embedded_default_is_warehouse_db_beside_the_notebook() {
        let config = Config::embedded(Path::new("/repo/nb"));
        assert_eq!(config.source(None), Some(("warehouse", &SourceConfig::Sqlite { path: "/repo/nb/warehouse.db".into() })));
        assert!(config.lineage.file.ends_with("tiffin/lineage.jsonl"));
    }

    #[test]
    fn the_lineage_of_zero_config_runs_goes_to_the_users_state_dir() {
        let dir = |xdg: Option<&str>, home: Option<&str>| state_dir(xdg.map(Into::into), home.map(Into::into));
        assert_eq!(dir(Some("/s"), Some("/h")), Some(PathBuf::from("/s/tiffin")));
        assert_eq!(dir(None, Some("/h")), Some(PathBuf::from("/h/.local/state/tiffin")));
        assert_eq!(dir(Some("relative"), Some("/h")), Some(PathBuf::from("/h/.local/state/tiffin")), "the spec ignores relative paths");
        assert_eq!(dir(None, None), None);
    }

    #[test]
    fn sources_resolve_relative_to_the_file() {
        let config = parse(
            "default_source = \"pg\"\n[sources.pg]\ntype = \"postgres\"\nurl = \"host=127.0.0.1 user=etl dbname=shop\"\npassword_env = \"PGPW\"\n\
             [sources.local]\ntype = \"sqlite\"\npath = \"data/w.db\"\n[lineage]\nurl = \"http://x/api/v1/lineage\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.default_source, "pg");
        assert_eq!(config.source(Some("local")).map(|s| s.1), Some(&SourceConfig::Sqlite { path: "/repo/data/w.db".into() }));
        assert!(matches!(config.source(None), Some(("pg", SourceConfig::Postgres { password: Some(Secret::Env(v)), .. })) if v == "PGPW"));
        assert!(config.source(Some("warehouse")).is_some(), "the embedded default stays available");
        assert_eq!(config.lineage.file, Path::new("/repo/.tiffin/lineage.jsonl"));
        assert_eq!(config.lineage.url.as_deref(), Some("http://x/api/v1/lineage"));
    }

    #[test]
    fn bad_configs_are_named() {
        let cases = [
            ("[sources.pg]\ntype = \"postgres\"\nurl = \"postgresql://u:secret@h/db\"\n", "holds a password"),
            ("[sources.pg]\ntype = \"mysql\"\n", "unknown type `mysql`"),
            ("[sources.s]\ntype = \"sqlite\"\n", "needs `path`"),
            ("[sources.s]\ntype = \"sqlite\"\npath = \"a\"\nusr = 1\n", "unknown field `usr`"),
            ("default_source = \"nope\"\n", "default_source `nope`"),
            ("colour = 1\n", "unknown field `colour`"),
            ("[sources.\"a-b\"]\ntype = \"sqlite\"\npath = \"a\"\n", "identifiers"),
            ("[sources.pg]\ntype = \"postgres\"\nurl = \"h\"\npassword_env = \"A\"\npassword_file = \"f\"\n", "not both"),
            ("[lineage]\nurl = \"marquez:5000\"\n", "[lineage] url `marquez:5000` is not an http"),
            ("[lineage]\nurl = \"ftp://x/y\"\n", "is not an http:// or https:// URL"),
        ];
        for (text, expected) in cases {
            let error = parse(text).err().unwrap_or_default();
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(error.starts_with("/repo/tiffin.toml"), "{error}");
        }
    }
}
