//! The nbformat v4 document model. Fields the runner does not interpret are kept verbatim in
//! `extra`, so a notebook survives a run with everything it came with.

use serde_json::{Map, Value};

use super::text::{join_multiline, split_lines};

/// The three cell kinds of nbformat v4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    Code,
    Markdown,
    Raw,
}

impl CellType {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "code" => Some(Self::Code),
            "markdown" => Some(Self::Markdown),
            "raw" => Some(Self::Raw),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Markdown => "markdown",
            Self::Raw => "raw",
        }
    }
}

/// One cell. Multi-line strings (source, stream text, text mime data) are held joined, as nbformat
/// holds them in memory; they are split into lines only when written.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub cell_type: CellType,
    pub id: Option<String>,
    pub source: String,
    pub metadata: Map<String, Value>,
    /// Output objects of a code cell, each a JSON object as nbformat stores it.
    pub outputs: Vec<Value>,
    pub execution_count: Option<u64>,
    /// Fields this model does not name (e.g. `attachments`), preserved as read.
    pub extra: Map<String, Value>,
}

/// A whole nbformat v4 notebook.
#[derive(Debug, Clone, PartialEq)]
pub struct Notebook {
    pub nbformat_minor: u64,
    pub metadata: Map<String, Value>,
    pub cells: Vec<Cell>,
    pub extra: Map<String, Value>,
}

/// Why a JSON document is not an nbformat v4 notebook.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("the top level is not a JSON object")]
    NotAnObject,
    #[error("it is nbformat {0}; the runner reads nbformat 4 (convert it with `jupyter nbconvert --to notebook --nbformat 4`)")]
    UnsupportedVersion(u64),
    #[error("`{0}` is missing or not {1}")]
    BadField(&'static str, &'static str),
    #[error("cell {index}: {problem}")]
    BadCell { index: usize, problem: String },
}

impl Cell {
    /// A new code cell with a fresh id (when the notebook's minor version has ids).
    pub fn new_code(source: String, tags: &[&str], with_id: bool) -> Self {
        Self::new(CellType::Code, source, tags, with_id)
    }

    pub fn new_markdown(source: String, tags: &[&str], with_id: bool) -> Self {
        Self::new(CellType::Markdown, source, tags, with_id)
    }

    fn new(cell_type: CellType, source: String, tags: &[&str], with_id: bool) -> Self {
        let mut metadata = Map::new();
        if !tags.is_empty() {
            metadata.insert("tags".into(), tags.iter().map(|t| Value::from(*t)).collect());
        }
        Self { cell_type, id: with_id.then(new_cell_id), source, metadata, outputs: Vec::new(), execution_count: None, extra: Map::new() }
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.metadata.get("tags").and_then(Value::as_array).is_some_and(|tags| tags.iter().any(|t| t.as_str() == Some(tag)))
    }

    /// A code cell whose source is empty or only whitespace: Jupyter clients skip it.
    pub fn is_blank_code(&self) -> bool {
        self.cell_type == CellType::Code && self.source.trim().is_empty()
    }

    fn from_json(index: usize, value: Value) -> Result<Self, ModelError> {
        let bad = |problem: &str| ModelError::BadCell { index, problem: problem.to_owned() };
        let Value::Object(mut map) = value else {
            return Err(bad("not a JSON object"));
        };
        let cell_type = map
            .remove("cell_type")
            .and_then(|v| v.as_str().and_then(CellType::parse))
            .ok_or_else(|| bad("`cell_type` must be \"code\", \"markdown\" or \"raw\""))?;
        let source = match map.remove("source") {
            Some(v) => join_multiline(&v).ok_or_else(|| bad("`source` must be a string or a list of strings"))?,
            None => return Err(bad("`source` is missing")),
        };
        let metadata = match map.remove("metadata") {
            Some(Value::Object(m)) => m,
            None => Map::new(),
            Some(_) => return Err(bad("`metadata` must be an object")),
        };
        let id = match map.remove("id") {
            Some(Value::String(s)) => Some(s),
            None => None,
            Some(_) => return Err(bad("`id` must be a string")),
        };
        let (outputs, execution_count) = if cell_type == CellType::Code {
            let outputs = match map.remove("outputs") {
                Some(Value::Array(outputs)) => outputs.into_iter().map(rejoin_output).collect(),
                None => Vec::new(),
                Some(_) => return Err(bad("`outputs` must be a list")),
            };
            let count = match map.remove("execution_count") {
                Some(Value::Number(n)) => Some(n.as_u64().ok_or_else(|| bad("`execution_count` must be a non-negative integer"))?),
                Some(Value::Null) | None => None,
                Some(_) => return Err(bad("`execution_count` must be an integer or null")),
            };
            (outputs, count)
        } else {
            (Vec::new(), None)
        };
        Ok(Self { cell_type, id, source, metadata, outputs, execution_count, extra: map })
    }

    /// The cell as nbformat writes it: multi-line strings split, transient fields dropped.
    fn to_json(&self) -> Value {
        let mut map = self.extra.clone();
        map.insert("cell_type".into(), self.cell_type.as_str().into());
        if let Some(id) = &self.id {
            map.insert("id".into(), id.clone().into());
        }
        map.insert("source".into(), split_lines_value(&self.source));
        let mut metadata = self.metadata.clone();
        metadata.remove("trusted");
        map.insert("metadata".into(), Value::Object(metadata));
        if let Some(Value::Object(attachments)) = map.get_mut("attachments") {
            for bundle in attachments.values_mut() {
                split_mimebundle(bundle);
            }
        }
        if self.cell_type == CellType::Code {
            map.insert("outputs".into(), self.outputs.iter().map(split_output).collect());
            map.insert("execution_count".into(), self.execution_count.map_or(Value::Null, Value::from));
        }
        Value::Object(map)
    }
}

impl Notebook {
    /// Builds the model from a parsed JSON document, checking the parts the runner relies on.
    pub fn from_json(value: Value) -> Result<Self, ModelError> {
        let Value::Object(mut map) = value else {
            return Err(ModelError::NotAnObject);
        };
        let major = map.remove("nbformat").and_then(|v| v.as_u64()).ok_or(ModelError::BadField("nbformat", "an integer"))?;
        if major != 4 {
            return Err(ModelError::UnsupportedVersion(major));
        }
        let nbformat_minor =
            map.remove("nbformat_minor").and_then(|v| v.as_u64()).ok_or(ModelError::BadField("nbformat_minor", "an integer"))?;
        let metadata = match map.remove("metadata") {
            Some(Value::Object(m)) => m,
            _ => return Err(ModelError::BadField("metadata", "an object")),
        };
        let cells = match map.remove("cells") {
            Some(Value::Array(cells)) => {
                cells.into_iter().enumerate().map(|(i, c)| Cell::from_json(i + 1, c)).collect::<Result<Vec<_>, _>>()?
            }
            _ => return Err(ModelError::BadField("cells", "a list")),
        };
        let mut notebook = Self { nbformat_minor, metadata, cells, extra: map };
        for key in ["orig_nbformat", "orig_nbformat_minor", "signature"] {
            notebook.metadata.remove(key);
        }
        Ok(notebook)
    }

    /// The notebook as nbformat writes it (before key sorting and indentation).
    pub fn to_json(&self) -> Value {
        let mut map = self.extra.clone();
        map.insert("nbformat".into(), 4.into());
        map.insert("nbformat_minor".into(), self.nbformat_minor.into());
        map.insert("metadata".into(), Value::Object(self.metadata.clone()));
        map.insert("cells".into(), self.cells.iter().map(Cell::to_json).collect());
        Value::Object(map)
    }

    /// Cell ids are required from nbformat 4.5 on, and not allowed before.
    pub fn has_cell_ids(&self) -> bool {
        self.nbformat_minor >= 5
    }
}

/// A random cell id in the shape nbformat generates (8 hex characters).
fn new_cell_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// Mime types whose values nbformat leaves alone: JSON data, not text.
fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Mime types nbformat splits into lines on write.
fn is_split_mime(mime: &str) -> bool {
    mime.starts_with("text/") || mime == "application/javascript" || mime == "image/svg+xml"
}

fn rejoin_output(mut output: Value) -> Value {
    if let Some(obj) = output.as_object_mut() {
        if let Some(Value::Object(data)) = obj.get_mut("data") {
            for (mime, value) in data.iter_mut() {
                if !is_json_mime(mime)
                    && value.is_array()
                    && let Some(joined) = join_multiline(value)
                {
                    *value = Value::String(joined);
                }
            }
        }
        if let Some(text @ Value::Array(_)) = obj.get_mut("text")
            && let Some(joined) = join_multiline(text)
        {
            *text = Value::String(joined);
        }
    }
    output
}

fn split_output(output: &Value) -> Value {
    let mut output = output.clone();
    if let Some(obj) = output.as_object_mut() {
        match obj.get("output_type").and_then(Value::as_str) {
            Some("execute_result" | "display_data") => {
                if let Some(data) = obj.get_mut("data") {
                    split_mimebundle(data);
                }
            }
            Some("stream") => {
                if let Some(Value::String(text)) = obj.get("text") {
                    let split = split_lines_value(text);
                    obj.insert("text".into(), split);
                }
            }
            _ => {}
        }
    }
    output
}

fn split_mimebundle(bundle: &mut Value) {
    if let Value::Object(data) = bundle {
        for (mime, value) in data.iter_mut() {
            if let Value::String(text) = value
                && is_split_mime(mime)
            {
                *value = split_lines_value(text);
            }
        }
    }
}

fn split_lines_value(text: &str) -> Value {
    Value::Array(split_lines(text).into_iter().map(|s| Value::String(s.to_owned())).collect())
}
