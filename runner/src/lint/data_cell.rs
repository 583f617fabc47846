//! `bad-data-cell`: the header syntax of `%%sql` and `%%upload` cells, and their bodies.
//!
//! `%%sql <name> [--source S]` (body: one SELECT) and
//! `%%upload <table> [--source S] [--mode append|replace|partition] [--partition col=:param]`
//! (body: one expression giving a DataFrame). Table names are literal, never templated: that is
//! what makes the notebook's lineage static.

use std::collections::HashMap;

use super::magic::DataCell;
use crate::notebook::python::is_identifier;

const SQL_USAGE: &str = "%%sql <name> [--source S]";
const UPLOAD_USAGE: &str = "%%upload <table> [--source S] [--mode append|replace|partition] [--partition col=:param]";
const MODES: &[&str] = &["append", "replace", "partition"];

/// The problems of a data cell, each a sentence naming it; empty when the cell is well formed.
pub fn problems(kind: DataCell, args: &str, body: &str) -> Vec<String> {
    let (usage, options): (&str, &[&str]) = match kind {
        DataCell::Sql => (SQL_USAGE, &["source"]),
        DataCell::Upload => (UPLOAD_USAGE, &["source", "mode", "partition"]),
    };
    let mut problems = Vec::new();
    let mut option_problems = Vec::new();
    let (positional, given) = parse(args, options, &mut option_problems);
    match (kind, positional.as_slice()) {
        (DataCell::Sql, []) => problems.push(format!("the result needs a name: `{SQL_USAGE}`")),
        (DataCell::Sql, [name, ..]) if !is_identifier(name) => {
            problems.push(format!("`{name}` is not a Python identifier, and the result is bound to that name in the notebook"))
        }
        (DataCell::Upload, []) => problems.push(format!("the target table is missing: `{UPLOAD_USAGE}`")),
        (DataCell::Upload, [table, ..]) if !is_table_name(table) => {
            problems.push(format!("`{table}` is not a table name: write `name` or `schema.name`, literally"))
        }
        _ => {}
    }
    if let Some(extra) = positional.get(1) {
        problems.push(format!("unexpected `{extra}`: `{usage}`"));
    }
    problems.append(&mut option_problems);
    if let Some(source) = given.get("source")
        && !is_source_name(source)
    {
        problems.push(format!("`{source}` is not a source name (letters, digits, `_`, `-`, `.`)"));
    }
    if kind == DataCell::Upload {
        check_mode(given.get("mode").copied(), given.get("partition").copied(), &mut problems);
    }
    if body.trim().is_empty() {
        problems.push(match kind {
            DataCell::Sql => "the body is empty: a `%%sql` cell holds one SELECT".to_owned(),
            DataCell::Upload => "the body is empty: an `%%upload` cell holds one expression giving a DataFrame".to_owned(),
        });
    }
    problems
}

/// Splits the header's arguments into positionals and `--option value` / `--option=value` pairs.
fn parse<'a>(args: &'a str, options: &[&str], problems: &mut Vec<String>) -> (Vec<&'a str>, HashMap<&'a str, &'a str>) {
    let mut positional = Vec::new();
    let mut given = HashMap::new();
    let mut words = args.split_whitespace();
    while let Some(word) = words.next() {
        let Some(option) = word.strip_prefix("--") else {
            positional.push(word);
            continue;
        };
        let (option, inline) = match option.split_once('=') {
            Some((option, value)) => (option, Some(value)),
            None => (option, None),
        };
        if !options.contains(&option) {
            let known = options.iter().map(|o| format!("`--{o}`")).collect::<Vec<_>>().join(", ");
            problems.push(format!("unknown option `--{option}` (known: {known})"));
            // Its value, if it has one, is not a second problem.
            if inline.is_none() && words.clone().next().is_some_and(|w| !w.starts_with("--")) {
                words.next();
            }
            continue;
        }
        let Some(value) = inline.or_else(|| words.next()) else {
            problems.push(format!("`--{option}` needs a value"));
            continue;
        };
        if given.insert(option, value).is_some() {
            problems.push(format!("`--{option}` is given twice"));
        }
    }
    (positional, given)
}

fn check_mode(mode: Option<&str>, partition: Option<&str>, problems: &mut Vec<String>) {
    if let Some(mode) = mode
        && !MODES.contains(&mode)
    {
        problems.push(format!("`--mode {mode}`: the mode is one of append, replace, partition"));
    }
    match (mode == Some("partition"), partition) {
        (true, None) => problems.push("`--mode partition` needs `--partition col=:param` to say which partition is replaced".into()),
        (false, Some(_)) => problems.push("`--partition` is only for `--mode partition`".into()),
        (true, Some(spec)) if !is_partition_spec(spec) => problems
            .push(format!("`--partition {spec}`: write `col=:param`, a column of the table and the notebook parameter giving its value")),
        _ => {}
    }
}

/// A plain SQL identifier: what the runner can quote safely and record as lineage.
fn is_sql_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn is_table_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((schema, table)) => is_sql_identifier(schema) && is_sql_identifier(table),
        None => is_sql_identifier(name),
    }
}

fn is_source_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

fn is_partition_spec(spec: &str) -> bool {
    spec.split_once("=:").is_some_and(|(column, param)| is_sql_identifier(column) && is_identifier(param))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(args: &str, body: &str) -> Vec<String> {
        problems(DataCell::Sql, args, body)
    }

    fn upload(args: &str) -> Vec<String> {
        problems(DataCell::Upload, args, "df")
    }

    #[test]
    fn good_headers() {
        assert!(sql("daily", "SELECT 1").is_empty());
        assert!(sql("daily --source warehouse", "SELECT 1").is_empty());
        assert!(sql("daily --source=wh-2", "SELECT 1").is_empty());
        assert!(upload("report").is_empty());
        assert!(upload("analytics.report --source wh --mode replace").is_empty());
        assert!(upload("t --mode partition --partition ds=:run_date").is_empty());
    }

    #[test]
    fn sql_problems() {
        assert_eq!(sql("", "SELECT 1"), ["the result needs a name: `%%sql <name> [--source S]`"]);
        assert_eq!(sql("1day", "SELECT 1")[0], "`1day` is not a Python identifier, and the result is bound to that name in the notebook");
        assert_eq!(sql("daily", "  \n"), ["the body is empty: a `%%sql` cell holds one SELECT"]);
        assert_eq!(sql("a b", "SELECT 1"), ["unexpected `b`: `%%sql <name> [--source S]`"]);
        assert_eq!(sql("a --mode replace", "SELECT 1"), ["unknown option `--mode` (known: `--source`)"]);
        assert_eq!(sql("a --source", "SELECT 1"), ["`--source` needs a value"]);
        assert_eq!(sql("a --source x --source y", "SELECT 1"), ["`--source` is given twice"]);
        assert_eq!(sql("a --source 'x'", "SELECT 1").len(), 1);
    }

    #[test]
    fn upload_problems() {
        assert_eq!(upload(""), [format!("the target table is missing: `{UPLOAD_USAGE}`")]);
        assert_eq!(upload("a.b.c"), ["`a.b.c` is not a table name: write `name` or `schema.name`, literally"]);
        assert_eq!(upload("{table}").len(), 1, "templated names are refused");
        assert_eq!(upload("t --mode upsert"), ["`--mode upsert`: the mode is one of append, replace, partition"]);
        assert_eq!(upload("t --mode partition"), ["`--mode partition` needs `--partition col=:param` to say which partition is replaced"]);
        assert_eq!(upload("t --partition ds=:d"), ["`--partition` is only for `--mode partition`"]);
        assert_eq!(upload("t --mode replace --partition ds=:d"), ["`--partition` is only for `--mode partition`"]);
        assert_eq!(upload("t --mode partition --partition ds=d").len(), 1);
        assert_eq!(
            problems(DataCell::Upload, "t", "\n"),
            ["the body is empty: an `%%upload` cell holds one expression giving a DataFrame"]
        );
    }
}
