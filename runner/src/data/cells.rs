//! The structured data cells of the notebook contract:
//!
//! ```text
//! %%sql <name> [--source S]                      body: one SELECT; `:param` binds a parameter
//! %%upload <table> [--source S] [--mode append|replace|partition] [--partition col=:param]
//!                                                body: one expression giving a DataFrame
//! ```
//!
//! Table names are literal identifiers (`name` or `schema.name`), folded to lower case as SQL
//! folds unquoted names, so the tables a notebook touches are known before it runs.

use std::fmt;

use crate::notebook::cell_magic;
use crate::notebook::python::is_identifier;
use crate::notebook::{CellType, Notebook};

/// A table a notebook writes: `name` or `schema.name`, lower case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn parse(text: &str) -> Option<Self> {
        let plain = |part: &str| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic()) && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        };
        let lower = text.to_ascii_lowercase();
        match lower.split_once('.') {
            Some((schema, name)) if plain(schema) && plain(name) => Some(Self { schema: Some(schema.into()), name: name.into() }),
            None if plain(&lower) => Some(Self { schema: None, name: lower }),
            _ => None,
        }
    }

    /// The name as SQL text, each part double-quoted (the parts are plain identifiers).
    pub fn quoted(&self) -> String {
        match &self.schema {
            Some(schema) => format!("\"{schema}\".\"{}\"", self.name),
            None => format!("\"{}\"", self.name),
        }
    }

    /// The file name stem of this table's output CSV.
    pub fn file_stem(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadMode {
    Append,
    Replace,
    /// Replaces the rows whose `column` equals the parameter's value.
    Partition {
        column: String,
        param: String,
    },
}

impl UploadMode {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Append => "append",
            Self::Replace => "replace",
            Self::Partition { .. } => "partition",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlCell {
    /// Position of the cell in the notebook (0-based).
    pub index: usize,
    /// The DataFrame variable the result is bound to.
    pub name: String,
    pub source: Option<String>,
    pub query: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadCell {
    pub index: usize,
    pub table: TableName,
    pub source: Option<String>,
    pub mode: UploadMode,
    pub expression: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataCell {
    Sql(SqlCell),
    Upload(UploadCell),
}

impl DataCell {
    pub fn index(&self) -> usize {
        match self {
            Self::Sql(cell) => cell.index,
            Self::Upload(cell) => cell.index,
        }
    }
}

/// A malformed data cell; `cell` is 1-based, as users count.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("cell {cell} (`{header}`): {problem}")]
pub struct CellError {
    pub cell: usize,
    pub header: String,
    pub problem: String,
}

/// Every `%%sql` and `%%upload` cell of the notebook, in order. Two SQL cells may not bind the
/// same name, and two upload cells may not write the same table of a source.
pub fn find(notebook: &Notebook) -> Result<Vec<DataCell>, CellError> {
    let mut cells = Vec::new();
    for (index, cell) in notebook.cells.iter().enumerate() {
        if cell.cell_type != CellType::Code {
            continue;
        }
        if let Some(found) = parse(index, &cell.source)? {
            cells.push(found);
        }
    }
    for (i, cell) in cells.iter().enumerate() {
        for earlier in &cells[..i] {
            let clash = match (earlier, cell) {
                (DataCell::Sql(a), DataCell::Sql(b)) if a.name == b.name => {
                    Some(format!("`{}` is already fetched by cell {}", b.name, a.index + 1))
                }
                (DataCell::Upload(a), DataCell::Upload(b)) if a.table == b.table && a.source == b.source => {
                    Some(format!("table {} is already written by cell {}", b.table, a.index + 1))
                }
                _ => None,
            };
            if let Some(problem) = clash {
                return Err(CellError { cell: cell.index() + 1, header: header_of(&notebook.cells[cell.index()].source), problem });
            }
        }
    }
    Ok(cells)
}

fn header_of(source: &str) -> String {
    cell_magic::split(source).map(|magic| magic.header.to_owned()).unwrap_or_default()
}

/// The data cell in this source, if it starts with a `%%sql` or `%%upload` magic.
pub fn parse(index: usize, source: &str) -> Result<Option<DataCell>, CellError> {
    let Some(magic) = cell_magic::split(source) else {
        return Ok(None);
    };
    let (first, body) = (magic.header, magic.body);
    let mut words = first.split_whitespace();
    let magic = words.next().unwrap_or_default();
    if magic != "%%sql" && magic != "%%upload" {
        return Ok(None);
    }
    let error = |problem: String| CellError { cell: index + 1, header: first.to_owned(), problem };
    let Some(target) = words.next() else {
        return Err(error(if magic == "%%sql" {
            "name the DataFrame the result goes to: `%%sql <name> [--source S]`".into()
        } else {
            "name the table to write: `%%upload <table> [--source S] [--mode append|replace|partition]`".into()
        }));
    };
    let options = Options::parse(words, magic == "%%upload").map_err(error)?;
    if body.trim().is_empty() {
        return Err(error(if magic == "%%sql" { "the cell has no query".into() } else { "the cell has no expression".into() }));
    }
    if magic == "%%sql" {
        if !is_identifier(target) {
            return Err(error(format!("`{target}` is not a Python variable name")));
        }
        return Ok(Some(DataCell::Sql(SqlCell { index, name: target.into(), source: options.source, query: body.to_owned() })));
    }
    let table = TableName::parse(target)
        .ok_or_else(|| error(format!("`{target}` is not a table name (`name` or `schema.name`, letters, digits and _)")))?;
    let mode = match (options.mode.as_deref(), options.partition) {
        (None | Some("append"), None) => UploadMode::Append,
        (Some("replace"), None) => UploadMode::Replace,
        (Some("partition"), Some((column, param))) => UploadMode::Partition { column, param },
        (Some("partition"), None) => return Err(error("--mode partition needs --partition <column>=:<parameter>".into())),
        (Some(mode @ ("append" | "replace")), Some(_)) => {
            return Err(error(format!("--partition goes with --mode partition, not --mode {mode}")));
        }
        (None, Some(_)) => return Err(error("--partition goes with --mode partition".into())),
        (Some(other), _) => return Err(error(format!("unknown --mode `{other}`: use append, replace or partition"))),
    };
    Ok(Some(DataCell::Upload(UploadCell { index, table, source: options.source, mode, expression: body.to_owned() })))
}

#[derive(Default)]
struct Options {
    source: Option<String>,
    mode: Option<String>,
    partition: Option<(String, String)>,
}

impl Options {
    fn parse<'a>(mut words: impl Iterator<Item = &'a str>, upload: bool) -> Result<Self, String> {
        let mut options = Self::default();
        while let Some(word) = words.next() {
            let (flag, inline) = match word.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
                _ => (word, None),
            };
            let known = matches!(flag, "--source") || (upload && matches!(flag, "--mode" | "--partition"));
            if !known {
                return Err(if flag.starts_with('-') { format!("unknown option `{flag}`") } else { format!("unexpected `{word}`") });
            }
            let value = match inline {
                Some(value) => value,
                None => words.next().ok_or_else(|| format!("`{flag}` needs a value"))?,
            };
            let slot_taken = match flag {
                "--source" => options.source.replace(value.to_owned()).is_some(),
                "--mode" => options.mode.replace(value.to_owned()).is_some(),
                _ => options.partition.replace(partition_spec(value)?).is_some(),
            };
            if slot_taken {
                return Err(format!("`{flag}` is given twice"));
            }
        }
        if let Some(source) = &options.source
            && !is_identifier(source)
        {
            return Err(format!("`{source}` is not a source name"));
        }
        Ok(options)
    }
}

/// `col=:param`: the partition column and the parameter giving its value.
fn partition_spec(value: &str) -> Result<(String, String), String> {
    let bad = || format!("--partition `{value}` must be <column>=:<parameter>, e.g. day=:run_date");
    let (column, param) = value.split_once("=:").ok_or_else(bad)?;
    let column = column.to_ascii_lowercase();
    if TableName::parse(&column).is_none_or(|t| t.schema.is_some()) || !is_identifier(param) {
        return Err(bad());
    }
    Ok((column, param.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(source: &str) -> SqlCell {
        match parse(0, source) {
            Ok(Some(DataCell::Sql(cell))) => cell,
            other => panic!("not a SQL cell: {other:?}"),
        }
    }

    fn upload(source: &str) -> UploadCell {
        match parse(0, source) {
            Ok(Some(DataCell::Upload(cell))) => cell,
            other => panic!("not an upload cell: {other:?}"),
        }
    }

    fn problem(source: &str) -> String {
        match parse(4, source) {
            Err(error) => {
                assert_eq!(error.cell, 5);
                error.to_string()
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn sql_cells() {
        let cell = sql("%%sql orders\nSELECT * FROM orders WHERE day = :day\n");
        assert_eq!((cell.name.as_str(), cell.source, cell.query.as_str()), ("orders", None, "SELECT * FROM orders WHERE day = :day\n"));
        assert_eq!(sql("%%sql o --source pg\nSELECT 1").source.as_deref(), Some("pg"));
        assert_eq!(sql("%%sql o --source=pg\nSELECT 1").source.as_deref(), Some("pg"));
    }

    #[test]
    fn upload_cells() {
        let cell = upload("%%upload Sales.Daily --mode partition --partition day=:run_date\nreport");
        assert_eq!(cell.table, TableName { schema: Some("sales".into()), name: "daily".into() });
        assert_eq!(cell.mode, UploadMode::Partition { column: "day".into(), param: "run_date".into() });
        assert_eq!(upload("%%upload t\ndf").mode, UploadMode::Append);
        assert_eq!(upload("%%upload t --mode replace --source w\ndf").mode, UploadMode::Replace);
        assert_eq!(cell.table.quoted(), "\"sales\".\"daily\"");
    }

    #[test]
    fn other_cells_are_not_data_cells() {
        for source in ["print(1)", "%%time\n1", " %%sql x\nSELECT 1", "%%sqlite x\n", ""] {
            assert_eq!(parse(0, source), Ok(None), "{source:?}");
        }
    }

    #[test]
    fn malformed_cells_are_named() {
        assert!(problem("%%sql\nSELECT 1").contains("name the DataFrame"));
        assert!(problem("%%sql 1x\nSELECT 1").contains("not a Python variable name"));
        assert!(problem("%%sql class\nSELECT 1").contains("not a Python variable name"));
        assert!(problem("%%sql x\n  \n").contains("no query"));
        assert!(problem("%%sql x --where y\nSELECT 1").contains("unknown option `--where`"));
        assert!(problem("%%sql x --mode replace\nSELECT 1").contains("unknown option `--mode`"));
        assert!(problem("%%sql x --source\nSELECT 1").contains("needs a value"));
        assert!(problem("%%sql x --source a --source b\nSELECT 1").contains("given twice"));
        assert!(problem("%%sql x --source a;b\nSELECT 1").contains("not a source name"));
        assert!(problem("%%upload t;x\ndf").contains("not a table name"));
        assert!(problem("%%upload t; DROP TABLE x\ndf").contains("unexpected `DROP`"));
        assert!(problem("%%upload a.b.c\ndf").contains("not a table name"));
        assert!(problem("%%upload t --mode upsert\ndf").contains("unknown --mode `upsert`"));
        assert!(problem("%%upload t --mode partition\ndf").contains("needs --partition"));
        assert!(problem("%%upload t --partition day=:d\ndf").contains("goes with --mode partition"));
        assert!(problem("%%upload t --mode replace --partition day=:d\ndf").contains("not --mode replace"));
        assert!(problem("%%upload t --mode partition --partition day=d\ndf").contains("<column>=:<parameter>"));
        assert!(problem("%%upload t\n").contains("no expression"));
        let error = parse(4, "%%upload t --mode upsert\ndf").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.starts_with("cell 5 (`%%upload t --mode upsert`): "), "{error}");
    }

    #[test]
    fn clashes_between_cells() {
        let notebook = |sources: &[&str]| Notebook {
            nbformat_minor: 5,
            metadata: Default::default(),
            cells: sources.iter().map(|s| crate::notebook::Cell::new_code((*s).into(), &[], false)).collect(),
            extra: Default::default(),
        };
        let cells = find(&notebook(&["%%sql a\nSELECT 1", "x = 1", "%%upload t\na"])).unwrap_or_default();
        assert_eq!(cells.iter().map(DataCell::index).collect::<Vec<_>>(), [0, 2]);
        let error = find(&notebook(&["%%sql a\nSELECT 1", "%%sql a\nSELECT 2"])).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("cell 2") && error.contains("already fetched by cell 1"), "{error}");
        let error = find(&notebook(&["%%upload T\na", "%%upload t\nb"])).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("already written by cell 1"), "{error}");
    }
}
