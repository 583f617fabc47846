//! The `[policy]` table of `tiffin.toml`: labels and the purposes they allow, the catalog of
//! labelled tables, reviewed reclassifications, and the mode.
//!
//! Parsing is strict: an unknown key is an error naming it (a misspelt `lables` must not silently
//! leave a table unlabelled), and every table name must parse.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::PolicyError;
use super::table::TableId;

/// What the runner does with violations: refuse the run, or run it and record them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Log,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Log => "log",
        }
    }
}

/// The validated `[policy]` table. `Default` is an empty policy in `enforce` mode: nothing is
/// labelled, so only runs reading unlabelled tables pass, which is all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyConfig {
    pub mode: Mode,
    /// Label → the purposes it allows. A label missing here allows no purpose.
    pub labels: BTreeMap<String, BTreeSet<String>>,
    pub tables: Vec<CatalogEntry>,
    pub reclassify: Vec<Reclassification>,
}

/// One `[[policy.tables]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    pub table: TableId,
    /// Labels of every read of the table.
    pub labels: BTreeSet<String>,
    /// Column (lowercase) → labels of the reads that reach that column.
    pub columns: BTreeMap<String, BTreeSet<String>>,
}

/// One `[[policy.reclassify]]` entry: a reviewed exception dropping labels from one output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reclassification {
    pub output: TableId,
    pub drop: BTreeSet<String>,
    pub reason: String,
}

const POLICY_KEYS: &[&str] = &["mode", "labels", "tables", "reclassify"];
const TABLE_KEYS: &[&str] = &["table", "labels", "columns"];
const RECLASSIFY_KEYS: &[&str] = &["output", "drop", "reason"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    labels: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    tables: Vec<RawTable>,
    #[serde(default)]
    reclassify: Vec<RawReclassify>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    table: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    columns: BTreeMap<String, Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReclassify {
    output: String,
    drop: Vec<String>,
    reason: String,
}

impl PolicyConfig {
    /// From the parsed `[policy]` table.
    pub fn from_table(table: &toml::Table) -> Result<Self, PolicyError> {
        check_keys(table)?;
        let raw: RawPolicy = toml::Value::Table(table.clone()).try_into().map_err(|e| PolicyError::Config(e.to_string()))?;
        let labels = raw
            .labels
            .into_iter()
            .map(|(label, purposes)| Ok((name("label", label)?, names("purpose", purposes)?)))
            .collect::<Result<_, PolicyError>>()?;
        let tables = raw
            .tables
            .into_iter()
            .map(|entry| {
                Ok(CatalogEntry {
                    table: TableId::parse(&entry.table)?,
                    labels: names("label", entry.labels)?,
                    columns: entry
                        .columns
                        .into_iter()
                        .map(|(column, labels)| Ok((name("column", column)?.to_lowercase(), names("label", labels)?)))
                        .collect::<Result<_, PolicyError>>()?,
                })
            })
            .collect::<Result<_, PolicyError>>()?;
        let reclassify = raw
            .reclassify
            .into_iter()
            .map(|entry| {
                let output = TableId::parse(&entry.output)?;
                if entry.drop.is_empty() || entry.reason.trim().is_empty() {
                    return Err(PolicyError::Config(format!(
                        "[[policy.reclassify]] for {output} needs the labels to `drop` and the review's `reason`"
                    )));
                }
                Ok(Reclassification { output, drop: names("label", entry.drop)?, reason: entry.reason.trim().to_owned() })
            })
            .collect::<Result<_, PolicyError>>()?;
        Ok(Self { mode: raw.mode, labels, tables, reclassify })
    }

    /// From the text of a whole `tiffin.toml`; no `[policy]` table gives the default policy.
    pub fn from_toml(text: &str) -> Result<Self, PolicyError> {
        let document: toml::Table = text.parse().map_err(|e: toml::de::Error| PolicyError::Config(e.to_string()))?;
        match document.get("policy") {
            None => Ok(Self::default()),
            Some(toml::Value::Table(policy)) => Self::from_table(policy),
            Some(_) => Err(PolicyError::Config("`policy` must be a table".into())),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Labels the catalog or a reclassification uses without declaring them in `[policy.labels]`:
    /// they allow no purpose.
    pub fn undeclared_labels(&self) -> BTreeSet<String> {
        let used = self.tables.iter().flat_map(|entry| entry.labels.iter().chain(entry.columns.values().flatten()));
        used.chain(self.reclassify.iter().flat_map(|entry| &entry.drop))
            .filter(|label| !self.labels.contains_key(*label))
            .cloned()
            .collect()
    }
}

/// Names every unknown key with where it is, before serde's less precise messages could.
fn check_keys(policy: &toml::Table) -> Result<(), PolicyError> {
    check_table(policy, "[policy]", POLICY_KEYS)?;
    for (key, allowed) in [("tables", TABLE_KEYS), ("reclassify", RECLASSIFY_KEYS)] {
        if let Some(toml::Value::Array(entries)) = policy.get(key) {
            for (index, entry) in entries.iter().enumerate() {
                if let toml::Value::Table(entry) = entry {
                    check_table(entry, &format!("[[policy.{key}]] entry {}", index + 1), allowed)?;
                }
            }
        }
    }
    Ok(())
}

fn check_table(table: &toml::Table, place: &str, allowed: &[&str]) -> Result<(), PolicyError> {
    match table.keys().find(|key| !allowed.contains(&key.as_str())) {
        Some(key) => Err(PolicyError::Config(format!("unknown key `{key}` in {place} (known keys: {})", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn name(what: &str, text: String) -> Result<String, PolicyError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(PolicyError::Config(format!("an empty {what} name")));
    }
    Ok(trimmed.to_owned())
}

fn names(what: &str, texts: Vec<String>) -> Result<BTreeSet<String>, PolicyError> {
    texts.into_iter().map(|text| name(what, text)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[policy]
mode = "log"

[policy.labels]
pii = ["fraud_detection", "billing"]
finance = ["reporting", "billing"]

[[policy.tables]]
table = "warehouse.Customers"
labels = ["pii"]
[policy.tables.columns]
Email = ["pii"]

[[policy.tables]]
table = "pg.sales.orders"
labels = ["finance", "secret"]

[[policy.reclassify]]
output = "warehouse.daily_totals"
drop = ["pii"]
reason = "aggregates only (review #12)"
"#;

    #[test]
    fn the_example_parses_with_names_normalized() {
        let config = PolicyConfig::from_toml(EXAMPLE).unwrap();
        assert_eq!(config.mode(), Mode::Log);
        assert_eq!(config.labels["pii"], BTreeSet::from(["fraud_detection".to_owned(), "billing".to_owned()]));
        assert_eq!(config.tables[0].table.to_string(), "warehouse.customers");
        assert!(config.tables[0].columns.contains_key("email"));
        assert_eq!(config.tables[1].table.table, "sales.orders");
        assert_eq!(config.reclassify[0].reason, "aggregates only (review #12)");
        assert_eq!(config.undeclared_labels(), BTreeSet::from(["secret".to_owned()]));
    }

    #[test]
    fn no_policy_table_is_the_default() {
        let config = PolicyConfig::from_toml("[other]\nx = 1\n").unwrap();
        assert_eq!(config, PolicyConfig::default());
        assert_eq!(config.mode(), Mode::Enforce);
    }

    #[test]
    fn unknown_keys_are_named() {
        for (text, key) in [
            ("[policy]\nmod = \"log\"", "`mod`"),
            ("[[policy.tables]]\ntable = \"w.t\"\nlables = [\"pii\"]", "`lables`"),
            ("[[policy.reclassify]]\noutput = \"w.t\"\ndrop = [\"pii\"]\nreason = \"r\"\nreviewer = \"x\"", "`reviewer`"),
        ] {
            let error = PolicyConfig::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(key), "{error}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for text in [
            "[policy]\nmode = \"lenient\"",
            "[[policy.tables]]\ntable = \"customers\"",
            "[[policy.tables]]\ntable = \"w.t\"\nlabels = [\"\"]",
            "[[policy.reclassify]]\noutput = \"w.t\"\ndrop = [\"pii\"]\nreason = \" \"",
            "[policy.labels]\npii = \"billing\"",
            "policy = 3",
        ] {
            assert!(PolicyConfig::from_toml(text).is_err(), "{text} accepted");
        }
    }
}
