//! The CSV files the runner and the kernel exchange, and their schema sidecars.
//!
//! CSV alone loses types, so every `<name>.csv` has a `<name>.schema.json` beside it naming each
//! column's type. NULL is the unquoted field `\N` (PostgreSQL's COPY spelling), so NULL stays
//! distinct from the empty string. A text value that itself looks like `\N` (one or more
//! backslashes, then `N`) is written with one more backslash, and the column is marked `escaped`
//! so the reader strips it again; no other value is altered.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const NULL: &str = "\\N";

/// The types that survive the trip to pandas and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// pandas `Int64` (nullable).
    Int,
    /// pandas `float64`, read back with `float_precision="round_trip"`.
    Float,
    /// pandas `boolean` (nullable).
    Bool,
    Text,
    /// Exact decimals as Python `decimal.Decimal` objects.
    Decimal,
    Date,
    Timestamp,
    /// A timestamp with time zone, in UTC.
    Timestamptz,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The database's own name for the type, for people reading the manifest.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub db_type: String,
    /// Some text value was escaped (see the module comment).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escaped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub columns: Vec<Column>,
    pub rows: u64,
}

/// The sidecar of a CSV file: `x.csv` → `x.schema.json`.
pub fn sidecar(csv: &Path) -> PathBuf {
    csv.with_extension("schema.json")
}

impl Schema {
    pub fn write(&self, csv: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(sidecar(csv), json)
    }

    pub fn read(csv: &Path) -> Result<Self, String> {
        let path = sidecar(csv);
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{} is not a schema sidecar: {e}", path.display()))
    }
}

/// Whether a text value needs the extra backslash: it is `\N` preceded by any backslashes.
fn looks_like_null(value: &str) -> bool {
    value.len() >= 2 && value.ends_with('N') && value[..value.len() - 1].bytes().all(|b| b == b'\\')
}

/// A text value as written to CSV.
pub fn escape_text(value: &str) -> Cow<'_, str> {
    if looks_like_null(value) { Cow::Owned(format!("\\{value}")) } else { Cow::Borrowed(value) }
}

/// A field as read from CSV: `None` for NULL, else the value with any escape removed.
pub fn decode_field(field: &str) -> Option<&str> {
    if field == NULL {
        None
    } else if looks_like_null(field) {
        Some(&field[1..])
    } else {
        Some(field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_lookalikes_round_trip() {
        for value in ["\\N", "\\\\N", "\\\\\\N", "N", "", "\\", "\\n", "a\\N", "\\Nx", "NULL"] {
            let written = escape_text(value);
            assert_ne!(written, NULL, "{value:?} must not be written as NULL");
            assert_eq!(decode_field(&written), Some(value), "{value:?}");
        }
        assert_eq!(decode_field(NULL), None);
    }

    #[test]
    fn sidecar_names() {
        assert_eq!(sidecar(Path::new("/in/orders.csv")), Path::new("/in/orders.schema.json"));
        assert_eq!(sidecar(Path::new("/out/sales.daily.csv")), Path::new("/out/sales.daily.schema.json"));
    }
}
