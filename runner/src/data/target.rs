//! The table an upload writes, and the check of a DataFrame's columns against it.

use super::schema::{Column, Kind};
use super::values::compatible;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetColumn {
    /// Lower case, as unquoted SQL names fold.
    pub name: String,
    pub kind: Kind,
    pub db_type: String,
    /// NOT NULL without a default: the DataFrame must provide it.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetTable {
    pub columns: Vec<TargetColumn>,
}

/// For each DataFrame column, the target column it goes to; or every mismatch, named.
pub fn match_columns<'t>(frame: &[Column], table: &'t TargetTable, table_name: &str) -> Result<Vec<&'t TargetColumn>, String> {
    let mut problems = Vec::new();
    let mut matched = Vec::new();
    for column in frame {
        let wanted = column.name.to_ascii_lowercase();
        match table.columns.iter().find(|c| c.name == wanted) {
            Some(target) if compatible(column.kind, target.kind) => matched.push(target),
            Some(target) => problems.push(format!(
                "column `{}` is {} in the DataFrame but {} ({}) in {table_name}",
                column.name,
                kind_name(column.kind),
                kind_name(target.kind),
                target.db_type
            )),
            None => problems.push(format!("column `{}` is not in {table_name}", column.name)),
        }
    }
    for target in &table.columns {
        if target.required && !frame.iter().any(|c| c.name.eq_ignore_ascii_case(&target.name)) {
            problems.push(format!("{table_name}.{} is NOT NULL without a default, and the DataFrame has no such column", target.name));
        }
    }
    if problems.is_empty() {
        Ok(matched)
    } else {
        let existing: Vec<String> = table.columns.iter().map(|c| format!("{} {}", c.name, c.db_type)).collect();
        Err(format!("{} (the table has: {})", problems.join("; "), existing.join(", ")))
    }
}

pub fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "integer",
        Kind::Float => "float",
        Kind::Bool => "boolean",
        Kind::Text => "text",
        Kind::Decimal => "decimal",
        Kind::Date => "date",
        Kind::Timestamp => "timestamp",
        Kind::Timestamptz => "timestamp with time zone",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, kind: Kind) -> Column {
        Column { name: name.into(), kind, db_type: String::new(), escaped: false }
    }

    fn target(name: &str, kind: Kind, required: bool) -> TargetColumn {
        TargetColumn { name: name.into(), kind, db_type: format!("{kind:?}").to_uppercase(), required }
    }

    #[test]
    fn mismatches_are_all_named() {
        let table = TargetTable {
            columns: vec![target("id", Kind::Int, true), target("day", Kind::Date, false), target("note", Kind::Text, false)],
        };
        assert_eq!(match_columns(&[column("ID", Kind::Int), column("day", Kind::Text)], &table, "t").map(|m| m.len()), Ok(2));
        let error = match_columns(&[column("day", Kind::Float), column("extra", Kind::Int)], &table, "t").unwrap_err();
        assert!(error.contains("column `day` is float in the DataFrame but date (DATE) in t"), "{error}");
        assert!(error.contains("column `extra` is not in t"), "{error}");
        assert!(error.contains("t.id is NOT NULL without a default"), "{error}");
        assert!(error.contains("the table has: id INT, day DATE, note TEXT"), "{error}");
    }
}
