//! Field values on their way from CSV into a table: each is checked against the target column's
//! type and converted, with errors that name the row, the column and the value.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use super::iso;

use super::schema::Kind;

/// A checked value, ready to bind.
#[derive(Debug, Clone, PartialEq)]
pub enum Typed {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(String),
    /// The decimal's text, validated.
    Decimal(String),
    Date(NaiveDate),
    Timestamp(NaiveDateTime),
    Timestamptz(DateTime<Utc>),
}

/// The value as SQLite stores it: dates and timestamps as ISO text; text borrowed, not copied.
impl rusqlite::ToSql for Typed {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as V, ValueRef};
        Ok(match self {
            Self::Null => ToSqlOutput::Owned(V::Null),
            Self::Int(i) => ToSqlOutput::Owned(V::Integer(*i)),
            Self::Float(f) => ToSqlOutput::Owned(V::Real(*f)),
            Self::Bool(b) => ToSqlOutput::Owned(V::Integer(i64::from(*b))),
            Self::Text(s) | Self::Decimal(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Self::Date(d) => ToSqlOutput::Owned(V::Text(iso::Date(*d).to_string())),
            Self::Timestamp(t) => ToSqlOutput::Owned(V::Text(iso::Timestamp(*t).to_string())),
            Self::Timestamptz(t) => ToSqlOutput::Owned(V::Text(iso::Utc00(*t).to_string())),
        })
    }
}

/// Which frame types may go into which column types; the values are checked one by one after.
pub fn compatible(frame: Kind, column: Kind) -> bool {
    use Kind::*;
    frame == column
        || matches!(
            (frame, column),
            (Int, Float | Decimal | Bool)
                | (Float, Int | Decimal)
                | (Decimal, Float | Int)
                | (Bool, Int)
                | (Text, Date | Timestamp | Timestamptz | Decimal)
                | (Date, Timestamp | Timestamptz)
                | (Timestamp, Date | Timestamptz)
        )
}

/// Parses one (already unescaped) CSV field as a value of the column's type.
pub fn parse(field: Option<&str>, column: Kind) -> Result<Typed, String> {
    let Some(text) = field else { return Ok(Typed::Null) };
    let bad = |what: &str| format!("`{text}` is not {what}");
    Ok(match column {
        Kind::Text => Typed::Text(text.to_owned()),
        Kind::Int => Typed::Int(parse_int(text).ok_or_else(|| bad("an integer"))?),
        Kind::Float => Typed::Float(text.parse().map_err(|_| bad("a number"))?),
        Kind::Bool => Typed::Bool(match text {
            "True" | "true" | "TRUE" | "1" | "1.0" => true,
            "False" | "false" | "FALSE" | "0" | "0.0" => false,
            _ => return Err(bad("a boolean")),
        }),
        Kind::Decimal => {
            let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
            let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
            let numeric = !(int.is_empty() && frac.is_empty()) && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
            if !numeric && text != "NaN" {
                return Err(bad("a decimal number"));
            }
            Typed::Decimal(text.to_owned())
        }
        Kind::Date => {
            let timestamp = parse_timestamp(text).ok_or_else(|| bad("a date"))?;
            if timestamp.time() != chrono::NaiveTime::MIN {
                return Err(format!("`{text}` has a time of day; the column holds dates"));
            }
            Typed::Date(timestamp.date())
        }
        Kind::Timestamp => Typed::Timestamp(parse_timestamp(text).ok_or_else(|| bad("a timestamp"))?),
        Kind::Timestamptz => {
            Typed::Timestamptz(iso::parse(text).and_then(|iso| iso.utc()).ok_or_else(|| bad("a timestamp with a time zone offset"))?)
        }
    })
}

/// An integer, also written as a float with no fraction (pandas writes an int column that held
/// NULLs as float64: `3.0`).
fn parse_int(text: &str) -> Option<i64> {
    text.parse().ok().or_else(|| {
        let whole = text.strip_suffix(".0")?;
        whole.parse().ok()
    })
}

/// `YYYY-MM-DD`, or with a time: `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` (ISO 8601 as pandas writes it).
pub fn parse_timestamp(text: &str) -> Option<NaiveDateTime> {
    iso::parse(text).filter(|iso| iso.offset.is_none()).map(|iso| iso.naive())
}

/// Whether a text value is a date or timestamp pandas reads with `format="ISO8601"`, and if
/// so whether it is a date alone and whether it carries a UTC offset.
pub fn timestamp_shape(text: &str) -> Option<(bool, bool)> {
    iso::parse(text).map(|iso| (iso.time.is_none(), iso.offset.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_column_type() {
        assert_eq!(parse(Some("42"), Kind::Int), Ok(Typed::Int(42)));
        assert_eq!(parse(Some("42.0"), Kind::Int), Ok(Typed::Int(42)));
        assert!(parse(Some("42.5"), Kind::Int).unwrap_err().contains("`42.5` is not an integer"));
        assert_eq!(parse(None, Kind::Int), Ok(Typed::Null));
        assert_eq!(parse(Some("0.1"), Kind::Float), Ok(Typed::Float(0.1)));
        assert_eq!(parse(Some("True"), Kind::Bool), Ok(Typed::Bool(true)));
        assert!(parse(Some("yes"), Kind::Bool).is_err());
        assert_eq!(parse(Some("-12.50"), Kind::Decimal), Ok(Typed::Decimal("-12.50".into())));
        assert!(parse(Some("1e5"), Kind::Decimal).is_err());
        assert_eq!(
            parse(Some("2024-02-29 00:00:00"), Kind::Date),
            Ok(Typed::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap_or_default()))
        );
        assert!(parse(Some("2024-02-29 10:00:00"), Kind::Date).unwrap_err().contains("time of day"));
        assert!(parse(Some("2023-02-29"), Kind::Date).is_err());
        let t = parse(Some("2024-01-02T03:04:05.25"), Kind::Timestamp);
        let stored = |t: Typed| match rusqlite::ToSql::to_sql(&t) {
            Ok(rusqlite::types::ToSqlOutput::Owned(rusqlite::types::Value::Text(text))) => text,
            other => panic!("{other:?}"),
        };
        assert_eq!(t.map(stored), Ok("2024-01-02 03:04:05.250".into()));
        let tz = parse(Some("2024-01-02 03:04:05+02:00"), Kind::Timestamptz);
        assert_eq!(tz.map(stored), Ok("2024-01-02 01:04:05+00:00".into()));
    }

    #[test]
    fn shapes_of_date_text() {
        assert_eq!(timestamp_shape("2024-01-02"), Some((true, false)));
        assert_eq!(timestamp_shape("2024-01-02 10:00"), Some((false, false)));
        assert_eq!(timestamp_shape("2024-01-02T10:00:00Z"), Some((false, true)));
        assert_eq!(timestamp_shape("yesterday"), None);
    }

    #[test]
    fn compatibility() {
        assert!(compatible(Kind::Int, Kind::Float));
        assert!(compatible(Kind::Text, Kind::Date));
        assert!(!compatible(Kind::Float, Kind::Date));
        assert!(!compatible(Kind::Int, Kind::Text));
        assert!(!compatible(Kind::Bool, Kind::Timestamp));
    }
}
