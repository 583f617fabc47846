//! Table names: how SQL and the catalog spell them, and the one canonical form they are compared in.
//!
//! A table is named by its source (the runner's name for a database) and its path inside it:
//! `orders`, `sales.orders`, `sales."Orders"`. Unquoted parts are folded to lowercase, as both
//! PostgreSQL and SQLite do; quoted parts keep their case in PostgreSQL. SQLite compares even quoted
//! names without regard to case, so its quoted parts are folded too. The canonical path writes a part
//! bare when reading it back bare gives the same part, and quoted otherwise, so the catalog can name
//! any table SQL can (`pg.sales."Orders"`).

use std::fmt;

use serde::{Serialize, Serializer};
use sqlparser::ast::Ident;

use super::PolicyError;

/// The SQL dialect of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// One table of one source. `table` is the canonical path (see the module comment); `Display`
/// gives `source.table`, the form the catalog uses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableId {
    pub source: String,
    pub table: String,
}

impl TableId {
    /// `source.table` as the catalog and the command line write it: the source is everything before
    /// the first dot, the rest is the table's path.
    pub fn parse(qualified: &str) -> Result<Self, PolicyError> {
        let bad = || PolicyError::TableName(qualified.to_owned());
        let (source, path) = qualified.trim().split_once('.').ok_or_else(bad)?;
        Self::new(source, path).map_err(|_| bad())
    }

    /// A table of `source`, its path written as SQL would write it (`orders`, `sales."Orders"`).
    pub fn new(source: &str, path: &str) -> Result<Self, PolicyError> {
        let bad = || PolicyError::TableName(format!("{source}.{path}"));
        if source.is_empty() || source.contains(['"', '.']) || source.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let parts = split_path(path).ok_or_else(bad)?;
        Ok(Self::from_parts(source, &parts))
    }

    /// From parts already normalized (folded or kept as quoted).
    pub(crate) fn from_parts(source: &str, parts: &[String]) -> Self {
        let table = parts.iter().map(|part| render_part(part)).collect::<Vec<_>>().join(".");
        Self { source: source.to_owned(), table }
    }

    /// The parts of the path: `sales."Orders"` → `["sales", "Orders"]`.
    pub(crate) fn parts(&self) -> Vec<String> {
        // The canonical form always splits; a hand-built TableId that does not is one part.
        split_path(&self.table).unwrap_or_else(|| vec![self.table.clone()])
    }
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.source, self.table)
    }
}

impl Serialize for TableId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The part an identifier of `dialect` names, folded as the database folds it.
pub(crate) fn ident_part(ident: &Ident, dialect: Dialect) -> String {
    match (ident.quote_style, dialect) {
        (Some(_), Dialect::Postgres) => ident.value.clone(),
        _ => ident.value.to_ascii_lowercase(),
    }
}

/// Splits a dotted path into parts, honouring double quotes (`""` is a quote inside them).
/// `None` for an empty part, an unterminated quote or text glued to a quoted part.
pub(crate) fn split_path(path: &str) -> Option<Vec<String>> {
    let mut parts = Vec::new();
    let mut chars = path.trim().chars().peekable();
    loop {
        let part = if chars.peek() == Some(&'"') {
            chars.next();
            let mut part = String::new();
            loop {
                match chars.next()? {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    '"' => break,
                    c => part.push(c),
                }
            }
            part
        } else {
            let mut part = String::new();
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' || c.is_whitespace() {
                    return None;
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            part
        };
        if part.is_empty() {
            return None;
        }
        parts.push(part);
        match chars.next() {
            None => return Some(parts),
            Some('.') => {}
            Some(_) => return None,
        }
    }
}

/// A part written bare when reading it bare gives it back, quoted otherwise.
fn render_part(part: &str) -> String {
    let bare =
        !part.is_empty() && part.to_ascii_lowercase() == part && !part.contains(['.', '"']) && !part.chars().any(char::is_whitespace);
    if bare { part.to_owned() } else { format!("\"{}\"", part.replace('"', "\"\"")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_names_split_at_the_first_dot_and_fold_unquoted_parts() {
        let id = TableId::parse("pg.Sales.ORDERS").unwrap();
        assert_eq!((id.source.as_str(), id.table.as_str()), ("pg", "sales.orders"));
        let quoted = TableId::parse(r#"pg.sales."Orders""#).unwrap();
        assert_eq!(quoted.table, r#"sales."Orders""#);
        assert_eq!(quoted.parts(), ["sales", "Orders"]);
        assert_eq!(TableId::parse(r#"pg."a.b""#).unwrap().parts(), ["a.b"]);
        assert_eq!(quoted.to_string(), r#"pg.sales."Orders""#);
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["customers", "warehouse.", ".customers", "w.a..b", r#"w."open"#, r#"w."a"b"#, "w.a b"] {
            assert!(TableId::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
