//! Papermill-compatible parameters: how command-line values are typed, and the
//! `injected-parameters` cell placed after the cell tagged `parameters`.

use serde_json::{Map, Number, Value};

use super::model::{Cell, CellType, Notebook};
use super::python;

pub const PARAMETERS_TAG: &str = "parameters";
pub const INJECTED_TAG: &str = "injected-parameters";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("parameter name `{0}` is not a Python identifier")]
    BadName(String),
    #[error("parameter `{0}`: NaN and infinity cannot be passed as values (use -r for the string)")]
    NonFinite(String),
    #[error("parameters must be a mapping of names to values, got {0}")]
    NotAMapping(String),
    #[error("cannot parse parameters as YAML/JSON: {0}")]
    Yaml(String),
}

/// Papermill's typing of `-p NAME VALUE`: True/False/None, then int, then float, else the string.
pub fn typed_value(name: &str, raw: &str) -> Result<Value, ParamError> {
    match raw {
        "True" => return Ok(Value::Bool(true)),
        "False" => return Ok(Value::Bool(false)),
        "None" => return Ok(Value::Null),
        _ => {}
    }
    // Python's int() and float() accept surrounding whitespace and digit-group underscores.
    let trimmed = raw.trim();
    let digits = trimmed.replace('_', "");
    let well_grouped = !trimmed.starts_with('_') && !trimmed.ends_with('_') && !trimmed.contains("__");
    if well_grouped && is_int_literal(&digits) {
        if let Ok(i) = digits.parse::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = digits.parse::<u64>() {
            return Ok(Value::from(u));
        }
    }
    if well_grouped
        && looks_like_float(&digits)
        && let Ok(f) = digits.parse::<f64>()
    {
        return Number::from_f64(f).map(Value::Number).ok_or_else(|| ParamError::NonFinite(name.to_owned()));
    }
    Ok(Value::String(raw.to_owned()))
}

fn is_int_literal(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit())
}

/// Rust's float parser also takes "inf"/"nan" spellings Python takes; both reject hex and others.
fn looks_like_float(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-'))
}

/// Parses a YAML (or JSON) document holding a mapping of parameters, as `-y` and `-f` take.
pub fn parse_mapping(text: &str) -> Result<Map<String, Value>, ParamError> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| ParamError::Yaml(e.to_string()))?;
    match value {
        serde_yaml_ng::Value::Mapping(_) => {}
        serde_yaml_ng::Value::Null => return Ok(Map::new()),
        other => return Err(ParamError::NotAMapping(yaml_kind(&other).to_owned())),
    }
    match serde_json::to_value(&value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ParamError::NotAMapping("a non-mapping".into())),
        Err(e) => Err(ParamError::Yaml(e.to_string())),
    }
}

fn yaml_kind(value: &serde_yaml_ng::Value) -> &'static str {
    match value {
        serde_yaml_ng::Value::Sequence(_) => "a list",
        serde_yaml_ng::Value::String(_) => "a string",
        serde_yaml_ng::Value::Number(_) => "a number",
        serde_yaml_ng::Value::Bool(_) => "a boolean",
        _ => "a value that is not a mapping",
    }
}

/// Checks every name before anything is injected.
pub fn validate(params: &Map<String, Value>) -> Result<(), ParamError> {
    match params.keys().find(|name| !python::is_identifier(name)) {
        Some(bad) => Err(ParamError::BadName(bad.clone())),
        None => Ok(()),
    }
}

/// Where the injected cell went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    AfterParametersCell,
    /// The notebook has no cell tagged `parameters`; papermill warns and injects at the top.
    AtTop,
}

/// Inserts the `injected-parameters` cell (replacing any earlier one) and returns where it went.
pub fn inject(notebook: &mut Notebook, params: &Map<String, Value>) -> Placement {
    notebook.cells.retain(|cell| !cell.has_tag(INJECTED_TAG));
    let mut source = String::from("# Parameters\n");
    for (name, value) in params {
        source.push_str(&format!("{name} = {}\n", python::literal(value)));
    }
    let cell = Cell::new_code(source, &[INJECTED_TAG], notebook.has_cell_ids());
    let parameters_cell = notebook.cells.iter().position(|c| c.cell_type == CellType::Code && c.has_tag(PARAMETERS_TAG));
    match parameters_cell {
        Some(index) => {
            notebook.cells.insert(index + 1, cell);
            Placement::AfterParametersCell
        }
        None => {
            notebook.cells.insert(0, cell);
            Placement::AtTop
        }
    }
}

/// The parameters' default values: the simple literal assignments (`name = 3`,
/// `name: str = "x"`) of the cell tagged `parameters`. Other lines are skipped.
pub fn defaults(notebook: &Notebook) -> Map<String, Value> {
    let mut values = Map::new();
    let Some(cell) = notebook.cells.iter().find(|c| c.cell_type == CellType::Code && c.has_tag(PARAMETERS_TAG)) else { return values };
    for line in cell.source.lines() {
        let Some((target, value)) = line.split_once('=') else { continue };
        let name = target.split_once(':').map_or(target, |(name, _annotation)| name).trim();
        let value = strip_comment(value);
        if let (true, Some(value)) = (python::is_identifier(name), python::parse_literal(value)) {
            values.insert(name.to_owned(), value);
        }
    }
    values
}

/// The text before a trailing `#` comment that is outside any string.
fn strip_comment(text: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') => return &text[..i],
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_typed_like_papermill() {
        let t = |raw| typed_value("x", raw).unwrap();
        assert_eq!(t("True"), json!(true));
        assert_eq!(t("None"), json!(null));
        assert_eq!(t("42"), json!(42));
        assert_eq!(t(" -7 "), json!(-7));
        assert_eq!(t("1_000"), json!(1000));
        assert_eq!(t("3.5"), json!(3.5));
        assert_eq!(t("1e3"), json!(1000.0));
        assert_eq!(t("true"), json!("true"));
        assert_eq!(t("2024-01-01"), json!("2024-01-01"));
        assert_eq!(t("1__0"), json!("1__0"));
        assert_eq!(t("abc"), json!("abc"));
        assert_eq!(t(""), json!(""));
        assert_eq!(typed_value("x", "nan"), Err(ParamError::NonFinite("x".into())));
    }

    #[test]
    fn yaml_mappings_only() {
        let m = parse_mapping("a: 1\nb: [x, 2.5]\nc: null\nd: 'q\"'").unwrap();
        assert_eq!(Value::Object(m), json!({"a": 1, "b": ["x", 2.5], "c": null, "d": "q\""}));
        assert_eq!(parse_mapping("{\"a\": true}").unwrap()["a"], json!(true));
        assert!(matches!(parse_mapping("- 1"), Err(ParamError::NotAMapping(_))));
        assert!(matches!(parse_mapping("a: [1"), Err(ParamError::Yaml(_))));
    }

    fn notebook(cells: Vec<Cell>) -> Notebook {
        Notebook { nbformat_minor: 5, metadata: Map::new(), cells, extra: Map::new() }
    }

    #[test]
    fn injects_after_parameters_and_replaces_old_injection() {
        let mut nb = notebook(vec![
            Cell::new_code("x = 1".into(), &[], true),
            Cell::new_code("a = 1".into(), &[PARAMETERS_TAG], true),
            Cell::new_code("# old".into(), &[INJECTED_TAG], true),
            Cell::new_code("print(a)".into(), &[], true),
        ]);
        let params = parse_mapping("a: 2").unwrap();
        assert_eq!(inject(&mut nb, &params), Placement::AfterParametersCell);
        let sources: Vec<_> = nb.cells.iter().map(|c| c.source.as_str()).collect();
        assert_eq!(sources, ["x = 1", "a = 1", "# Parameters\na = 2\n", "print(a)"]);
        assert!(nb.cells[2].has_tag(INJECTED_TAG) && nb.cells[2].id.is_some());
    }

    #[test]
    fn injects_at_top_without_parameters_cell() {
        let mut nb = notebook(vec![Cell::new_code("print(1)".into(), &[], false)]);
        assert_eq!(inject(&mut nb, &parse_mapping("s: hi").unwrap()), Placement::AtTop);
        assert_eq!(nb.cells[0].source, "# Parameters\ns = \"hi\"\n");
    }

    #[test]
    fn rejects_names_python_cannot_assign() {
        assert_eq!(validate(&parse_mapping("ok: 1\n'a-b': 2").unwrap()), Err(ParamError::BadName("a-b".into())));
    }
    #[test]
    fn defaults_are_the_literal_assignments_of_the_parameters_cell() {
        let nb = notebook(vec![
            Cell::new_code("x = 1".into(), &[], false),
            Cell::new_code(
                "day = \"2024-01-01\"  # the day\nn: int = -3\nratio = 1e-3\nflag = True\nnothing = None\nraw = r'a\\b'\n\
                 s = 'it\\'s # not a comment'\nlater = compute()\nmany = [1, 2]\nbig = 1_000\n"
                    .into(),
                &[PARAMETERS_TAG],
                false,
            ),
        ]);
        let values = Value::Object(defaults(&nb));
        assert_eq!(
            values,
            json!({"day": "2024-01-01", "n": -3, "ratio": 0.001, "flag": true, "nothing": null, "raw": "a\\b", "s": "it's # not a comment", "big": 1000})
        );
    }
}
