//! Reading and writing notebook files, byte for byte the way nbformat writes them:
//! `json.dumps(nb, sort_keys=True, indent=1, separators=(",", ": "), ensure_ascii=False)` plus a
//! trailing newline.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::model::{ModelError, Notebook};
use super::python;

#[derive(Debug, thiserror::Error)]
pub enum NotebookFileError {
    #[error("cannot read notebook {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path} is not an nbformat v4 notebook: {source}")]
    Model { path: PathBuf, source: ModelError },
    #[error("cannot write notebook {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Reads and checks a notebook file.
pub fn read(path: &Path) -> Result<Notebook, NotebookFileError> {
    let bytes = std::fs::read(path).map_err(|source| NotebookFileError::Read { path: path.into(), source })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|source| NotebookFileError::Json { path: path.into(), source })?;
    Notebook::from_json(value).map_err(|source| NotebookFileError::Model { path: path.into(), source })
}

/// The file contents nbformat would write for this notebook.
pub fn to_file_text(notebook: &Notebook) -> String {
    let mut out = String::with_capacity(64 * 1024);
    write_value(&mut out, &notebook.to_json(), 0);
    out.push('\n');
    out
}

/// Where an executed notebook goes: a file, replaced atomically, or standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    File(PathBuf),
    Stdout,
}

impl Destination {
    pub fn parse(arg: &Path) -> Self {
        if arg == Path::new("-") { Self::Stdout } else { Self::File(arg.to_path_buf()) }
    }

    /// Writes the whole text; a file is replaced atomically so readers never see half a notebook.
    pub fn write(&self, text: &str) -> Result<(), NotebookFileError> {
        match self {
            Self::Stdout => {
                let mut stdout = std::io::stdout().lock();
                stdout
                    .write_all(text.as_bytes())
                    .and_then(|()| stdout.flush())
                    .map_err(|source| NotebookFileError::Write { path: "<stdout>".into(), source })
            }
            Self::File(path) => {
                write_atomically(path, text.as_bytes()).map_err(|source| NotebookFileError::Write { path: path.clone(), source })
            }
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    out.extend(std::iter::repeat_n(' ', level));
}

/// Python's `json.dumps` with `indent=1, sort_keys=True, ensure_ascii=False`.
fn write_value(out: &mut String, value: &Value, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&python::number_repr(n)),
        // serde_json escapes exactly the characters Python's json escapes with ensure_ascii=False.
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                write_value(out, item, level + 1);
            }
            indent(out, level);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(out, level + 1);
                out.push_str(&Value::String(key.clone()).to_string());
                out.push_str(": ");
                write_value(out, item, level + 1);
            }
            indent(out, level);
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_sorted_keys_with_one_space_indent() {
        let value = serde_json::json!({"b": [1, {"d": "é\u{1b}", "c": []}], "a": {}});
        let mut out = String::new();
        write_value(&mut out, &value, 0);
        // What json.dumps(value, sort_keys=True, indent=1, ensure_ascii=False) prints.
        assert_eq!(out, "{\n \"a\": {},\n \"b\": [\n  1,\n  {\n   \"c\": [],\n   \"d\": \"é\\u001b\"\n  }\n ]\n}");
    }
}
