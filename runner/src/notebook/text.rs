//! Multi-line strings the way nbformat stores them: a string or a list of lines when read, a list
//! of lines (Python's `str.splitlines(keepends=True)`) when written.

use serde_json::Value;

/// Joins a string or a list of strings; `None` for anything else.
pub fn join_multiline(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => parts.iter().map(Value::as_str).collect::<Option<String>>(),
        _ => None,
    }
}

/// Python's line boundaries for `str.splitlines`; `\r\n` counts as one.
fn is_line_boundary(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `str.splitlines(keepends=True)`: every piece keeps its line ending.
pub fn split_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !is_line_boundary(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r'
            && let Some(&(j, '\n')) = chars.peek()
        {
            end = j + 1;
            chars.next();
        }
        lines.push(&text[start..end]);
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_python_splitlines_keepends() {
        // Expected values from CPython: "a\nb\r\nc\rd\x0be\u2028f".splitlines(True)
        assert_eq!(split_lines("a\nb\r\nc\rd\u{0b}e\u{2028}f"), vec!["a\n", "b\r\n", "c\r", "d\u{0b}", "e\u{2028}", "f"]);
        assert_eq!(split_lines("x\n"), vec!["x\n"]);
        assert!(split_lines("").is_empty());
        assert_eq!(split_lines("\n\n"), vec!["\n", "\n"]);
    }

    #[test]
    fn joins_strings_and_lists_only() {
        assert_eq!(join_multiline(&serde_json::json!(["a\n", "b"])), Some("a\nb".into()));
        assert_eq!(join_multiline(&serde_json::json!("s")), Some("s".into()));
        assert_eq!(join_multiline(&serde_json::json!(["a", 1])), None);
        assert_eq!(join_multiline(&serde_json::json!(3)), None);
    }
}
