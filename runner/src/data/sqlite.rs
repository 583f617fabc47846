//! SQLite sources: queries run on a read-only connection; uploads in one transaction.
//!
//! SQLite's types are per value, so a fetched column's type is its declared type when every
//! value agrees with it, else what the values are (integers, numbers, else text). Dates and
//! timestamps, which SQLite keeps as ISO text, are typed from a DATE/DATETIME/TIMESTAMP
//! declaration when every value parses.

use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params_from_iter};
use serde_json::Value;

use super::csv_sink::{CsvSink, Written};
use super::schema::{Column, Kind, Schema};
use super::target::{TargetColumn, TargetTable};
use super::values::{Typed, timestamp_shape};

pub fn open_read_only(path: &Path) -> Result<Connection, String> {
    if !path.is_file() {
        return Err(format!("the database {} does not exist", path.display()));
    }
    let connection =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX).map_err(|e| e.to_string())?;
    connection.pragma_update(None, "query_only", true).map_err(|e| e.to_string())?;
    Ok(connection)
}

pub fn open_read_write(path: &Path) -> Result<Connection, String> {
    let connection = Connection::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    connection.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| e.to_string())?;
    Ok(connection)
}

/// The declared type's class, by SQLite's affinity rules plus the date words it leaves as text.
pub fn declared_kind(declared: &str) -> Option<Kind> {
    let upper = declared.to_ascii_uppercase();
    if upper.contains("INT") {
        Some(Kind::Int)
    } else if upper.contains("CHAR") || upper.contains("CLOB") || upper.contains("TEXT") {
        Some(Kind::Text)
    } else if upper.contains("BOOL") {
        Some(Kind::Bool)
    } else if upper.contains("TIMESTAMPTZ") || upper.contains("WITH TIME ZONE") {
        Some(Kind::Timestamptz)
    } else if upper.contains("DATETIME") || upper.contains("TIMESTAMP") {
        Some(Kind::Timestamp)
    } else if upper.contains("DATE") {
        Some(Kind::Date)
    } else if upper.contains("REAL")
        || upper.contains("FLOA")
        || upper.contains("DOUB")
        || upper.contains("NUMERIC")
        || upper.contains("DECIMAL")
    {
        Some(Kind::Float)
    } else {
        None
    }
}

/// What the values of one column have been so far.
struct Observed {
    declared: Option<Kind>,
    non_null: u64,
    all_int: bool,
    all_numeric: bool,
    all_zero_one: bool,
    all_dates: bool,
    all_naive_timestamps: bool,
    all_zoned_timestamps: bool,
    escaped: bool,
}

impl Observed {
    fn new(declared: Option<Kind>) -> Self {
        Self {
            declared,
            non_null: 0,
            all_int: true,
            all_numeric: true,
            all_zero_one: true,
            all_dates: true,
            all_naive_timestamps: true,
            all_zoned_timestamps: true,
            escaped: false,
        }
    }

    fn number(&mut self, int: Option<i64>) {
        self.non_null += 1;
        self.all_int &= int.is_some();
        self.all_zero_one &= matches!(int, Some(0 | 1));
        self.all_dates = false;
        self.all_naive_timestamps = false;
        self.all_zoned_timestamps = false;
    }

    fn text(&mut self, text: &str) {
        self.non_null += 1;
        self.all_int = false;
        self.all_numeric = false;
        self.all_zero_one = false;
        if matches!(self.declared, Some(Kind::Date | Kind::Timestamp | Kind::Timestamptz)) {
            let shape = timestamp_shape(text);
            self.all_dates &= matches!(shape, Some((true, false)));
            self.all_naive_timestamps &= matches!(shape, Some((_, false)));
            self.all_zoned_timestamps &= matches!(shape, Some((_, true)));
        }
        self.escaped |= super::schema::escape_text(text).len() != text.len();
    }

    fn kind(&self) -> Kind {
        let by_values = if self.all_int {
            Kind::Int
        } else if self.all_numeric {
            Kind::Float
        } else {
            Kind::Text
        };
        let Some(declared) = self.declared else { return if self.non_null == 0 { Kind::Text } else { by_values } };
        if self.non_null == 0 {
            return declared;
        }
        match declared {
            Kind::Bool if self.all_zero_one => Kind::Bool,
            Kind::Float | Kind::Decimal if self.all_numeric => Kind::Float,
            Kind::Date if self.all_dates => Kind::Date,
            Kind::Timestamp | Kind::Date if self.all_naive_timestamps => Kind::Timestamp,
            Kind::Timestamp | Kind::Timestamptz if self.all_zoned_timestamps => Kind::Timestamptz,
            Kind::Text => Kind::Text,
            _ => by_values,
        }
    }
}

/// Runs the (bound) query and streams its rows to `csv`; returns the schema and what was written.
pub fn fetch(path: &Path, sql: &str, params: &[Value], csv: &Path) -> Result<(Schema, Written), String> {
    let connection = open_read_only(path)?;
    let mut statement = connection.prepare(sql).map_err(|e| e.to_string())?;
    if !statement.readonly() {
        return Err("the query would change the database; a %%sql cell only reads".into());
    }
    let names: Vec<String> = statement.column_names().map(str::to_owned).collect();
    let declared: Vec<(Option<Kind>, String)> =
        statement.columns().map(|c| (c.decl_type().and_then(declared_kind), c.decl_type().unwrap_or_default().to_owned())).collect();
    let mut observed: Vec<Observed> = declared.iter().map(|(kind, _)| Observed::new(*kind)).collect();
    let values = params.iter().map(to_sqlite_param).collect::<Result<Vec<_>, _>>()?;
    let mut sink = CsvSink::create(csv, &names).map_err(|e| format!("cannot write {}: {e}", csv.display()))?;
    let io = |e: std::io::Error| format!("cannot write {}: {e}", csv.display());
    let mut rows = statement.query(params_from_iter(values)).map_err(|e| e.to_string())?;
    while let Some(row) = rows.next().map_err(|e| e.to_string())? {
        for (i, seen) in observed.iter_mut().enumerate() {
            match row.get_ref(i).map_err(|e| e.to_string())? {
                ValueRef::Null => sink.null().map_err(io)?,
                ValueRef::Integer(v) => {
                    seen.number(Some(v));
                    sink.display(v).map_err(io)?;
                }
                ValueRef::Real(v) => {
                    seen.number(None);
                    sink.float(v).map_err(io)?;
                }
                ValueRef::Text(bytes) => {
                    let text = std::str::from_utf8(bytes).map_err(|_| format!("column `{}` holds text that is not UTF-8", names[i]))?;
                    seen.text(text);
                    sink.text(text).map_err(io)?;
                }
                ValueRef::Blob(_) => {
                    return Err(format!(
                        "column `{}` holds binary data (BLOB), which CSV cannot carry; convert it in the query, e.g. hex({})",
                        names[i], names[i]
                    ));
                }
            }
        }
        sink.end_row().map_err(io)?;
    }
    let written = sink.finish().map_err(io)?;
    let columns = names
        .into_iter()
        .zip(declared)
        .zip(&observed)
        .map(|((name, (_, db_type)), seen)| Column { name, kind: seen.kind(), db_type, escaped: seen.escaped })
        .collect();
    Ok((Schema { columns, rows: written.rows }, written))
}

fn to_sqlite_param(value: &Value) -> Result<rusqlite::types::Value, String> {
    use rusqlite::types::Value as V;
    Ok(match value {
        Value::Null => V::Null,
        Value::Bool(b) => V::Integer(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => V::Integer(i),
            (None, Some(f)) if !n.to_string().bytes().all(|b| b.is_ascii_digit() || b == b'-') => V::Real(f),
            _ => return Err(format!("the integer {n} does not fit in 64 bits")),
        },
        Value::String(s) => V::Text(s.clone()),
        Value::Array(_) | Value::Object(_) => return Err("only single values (not lists or mappings) can be bound to a query".into()),
    })
}

/// The table's columns, or `None` if it does not exist.
pub fn describe(connection: &Connection, table: &super::cells::TableName) -> Result<Option<TargetTable>, String> {
    if table.schema.is_some() {
        return Err(format!("{table}: SQLite sources have no schemas; write to a plain table name"));
    }
    let mut statement = connection
        .prepare("SELECT name, type, \"notnull\", dflt_value IS NOT NULL FROM pragma_table_info(?1)")
        .map_err(|e| e.to_string())?;
    let columns = statement
        .query_map([&table.name], |row| {
            let db_type: String = row.get(1)?;
            Ok(TargetColumn {
                name: row.get::<_, String>(0)?.to_ascii_lowercase(),
                kind: declared_kind(&db_type).unwrap_or(Kind::Text),
                db_type,
                required: row.get::<_, bool>(2)? && !row.get::<_, bool>(3)?,
            })
        })
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(if columns.is_empty() { None } else { Some(TargetTable { columns }) })
}

pub fn type_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Int => "INTEGER",
        Kind::Float => "REAL",
        Kind::Bool => "BOOLEAN",
        Kind::Text => "TEXT",
        Kind::Decimal => "NUMERIC",
        Kind::Date => "DATE",
        Kind::Timestamp => "TIMESTAMP",
        Kind::Timestamptz => "TIMESTAMPTZ",
    }
}

/// Inserts rows with one prepared statement (the caller holds the transaction).
pub fn insert(
    connection: &Connection,
    table: &str,
    columns: &[String],
    rows: impl Iterator<Item = Result<Vec<Typed>, String>>,
) -> Result<u64, String> {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let quoted: Vec<String> = columns.iter().map(|c| format!("\"{c}\"")).collect();
    let sql = format!("INSERT INTO {table} ({}) VALUES ({})", quoted.join(", "), placeholders.join(", "));
    let mut statement = connection.prepare(&sql).map_err(|e| e.to_string())?;
    let mut count = 0;
    for row in rows {
        let row = row?;
        statement.execute(params_from_iter(row.iter())).map_err(|e| format!("row {}: {e}", count + 1))?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types() {
        assert_eq!(declared_kind("BIGINT"), Some(Kind::Int));
        assert_eq!(declared_kind("varchar(20)"), Some(Kind::Text));
        assert_eq!(declared_kind("DATETIME"), Some(Kind::Timestamp));
        assert_eq!(declared_kind("date"), Some(Kind::Date));
        assert_eq!(declared_kind("DOUBLE PRECISION"), Some(Kind::Float));
        assert_eq!(declared_kind("boolean"), Some(Kind::Bool));
        assert_eq!(declared_kind(""), None);
        assert_eq!(declared_kind("BLOB"), None);
    }

    #[test]
    fn values_decide_when_they_disagree_with_the_declaration() {
        let mut ints = Observed::new(Some(Kind::Int));
        ints.number(Some(3));
        assert_eq!(ints.kind(), Kind::Int);
        ints.number(None);
        assert_eq!(ints.kind(), Kind::Float);
        ints.text("x");
        assert_eq!(ints.kind(), Kind::Text);
        let mut dates = Observed::new(Some(Kind::Date));
        dates.text("2024-01-01");
        assert_eq!(dates.kind(), Kind::Date);
        dates.text("2024-01-01 10:00");
        assert_eq!(dates.kind(), Kind::Timestamp);
        dates.text("soon");
        assert_eq!(dates.kind(), Kind::Text);
        let mut flags = Observed::new(Some(Kind::Bool));
        flags.number(Some(1));
        flags.number(Some(0));
        assert_eq!(flags.kind(), Kind::Bool);
        flags.number(Some(2));
        assert_eq!(flags.kind(), Kind::Int);
        assert_eq!(Observed::new(None).kind(), Kind::Text);
        assert_eq!(Observed::new(Some(Kind::Date)).kind(), Kind::Date);
    }
}
