//! The code the kernel runs in place of the data cells. A `%%sql` cell becomes
//! `name = pd.read_csv(...)` with its schema's types; an `%%upload` cell writes its DataFrame
//! with `to_csv` into the outputs dir. Both print what moved and show the first rows, so the
//! executed notebook, where the user's own cells are put back, says what happened.

use std::path::Path;

use super::cells::{SqlCell, UploadCell};
use super::schema::{Kind, NULL, Schema};
use crate::notebook::python::literal;

const UPLOAD_FRAME: &str = include_str!("upload_frame.py");
const PREVIEW_ROWS: usize = 10;
/// pandas 3 parses floats exactly by default and deprecates the option older versions need.
const ROUND_TRIP: &str = ", **({} if int(_tiffin_pd.__version__.split(\".\")[0]) >= 3 else {\"float_precision\": \"round_trip\"})";

fn py_str(text: &str) -> String {
    literal(&serde_json::Value::String(text.to_owned()))
}

fn py_path(path: &Path) -> String {
    py_str(&path.to_string_lossy())
}

/// The code for a SQL cell whose result is at `csv` (as the kernel sees it).
pub fn sql_cell(cell: &SqlCell, source: &str, csv: &Path, schema: &Schema) -> String {
    let name = &cell.name;
    let mut dtypes = Vec::new();
    let mut converters = Vec::new();
    let mut datetimes = Vec::new();
    let mut escaped = Vec::new();
    let mut missing = Vec::new();
    let null = py_str(NULL);
    for column in &schema.columns {
        let key = py_str(&column.name);
        // float64 has one missing value, NaN: a NaN from the database reads as one too.
        let markers = if column.kind == Kind::Float { format!("[{null}, \"NaN\"]") } else { format!("[{null}]") };
        missing.push(format!("{key}: {markers}"));
        match column.kind {
            Kind::Int => dtypes.push(format!("{key}: \"Int64\"")),
            Kind::Float => dtypes.push(format!("{key}: \"float64\"")),
            Kind::Bool => dtypes.push(format!("{key}: \"boolean\"")),
            Kind::Text | Kind::Date | Kind::Timestamp | Kind::Timestamptz => dtypes.push(format!("{key}: str")),
            Kind::Decimal => converters.push(format!("{key}: _tiffin_decimal")),
        }
        match column.kind {
            Kind::Date | Kind::Timestamp => datetimes.push(format!("({key}, False)")),
            Kind::Timestamptz => datetimes.push(format!("({key}, True)")),
            _ => {}
        }
        if column.escaped && column.kind == Kind::Text {
            escaped.push(key);
        }
    }
    let mut code = String::from("import pandas as _tiffin_pd\n");
    if !converters.is_empty() {
        code.push_str(&format!(
            "from decimal import Decimal as _tiffin_Decimal\n_tiffin_decimal = lambda text: None if text == {null} else _tiffin_Decimal(text)\n"
        ));
    }
    code.push_str(&format!(
        "{name} = _tiffin_pd.read_csv({}, dtype={{{}}}, converters={{{}}}, keep_default_na=False, na_values={{{}}}{ROUND_TRIP})\n",
        py_path(csv),
        dtypes.join(", "),
        converters.join(", "),
        missing.join(", "),
    ));
    if !datetimes.is_empty() {
        code.push_str(&format!(
            "for _tiffin_column, _tiffin_utc in [{}]:\n    {name}[_tiffin_column] = _tiffin_pd.to_datetime({name}[_tiffin_column], format=\"ISO8601\", utc=_tiffin_utc)\n",
            datetimes.join(", ")
        ));
    }
    if !escaped.is_empty() {
        // Undo the writer's extra backslash on text that looked like the NULL marker.
        code.push_str(&format!(
            "for _tiffin_column in [{}]:\n    {name}[_tiffin_column] = {name}[_tiffin_column].str.replace(r\"^\\\\(\\\\+N)$\", r\"\\1\", regex=True)\n",
            escaped.join(", ")
        ));
    }
    code.push_str(&format!(
        "print(f\"{name}: {{len({name}):,}} rows × {{{name}.shape[1]}} columns from {source}\")\ndisplay({name}.head({PREVIEW_ROWS}))\n",
    ));
    code.push_str("del _tiffin_pd");
    if !converters.is_empty() {
        code.push_str(", _tiffin_Decimal, _tiffin_decimal");
    }
    if !datetimes.is_empty() || !escaped.is_empty() {
        code.push_str(", _tiffin_column");
    }
    if !datetimes.is_empty() {
        code.push_str(", _tiffin_utc");
    }
    code.push('\n');
    code
}

/// The code for an upload cell writing to `csv` (as the kernel sees it).
pub fn upload_cell(cell: &UploadCell, source: &str, csv: &Path) -> String {
    let target = format!("{source}.{}", cell.table);
    let schema = super::schema::sidecar(csv);
    format!(
        "{UPLOAD_FRAME}\n_tiffin_upload((\n{}\n), {}, {}, {}, {})\ndel _tiffin_upload\n",
        cell.expression.trim_end(),
        py_path(csv),
        py_path(&schema),
        py_str(&target),
        py_str(cell.mode.name()),
    )
}
