//! How findings are shown: one line each for people, a JSON array for tools.

use std::path::Path;

use serde_json::{Value, json};

use super::{Finding, Severity, is_eligible};

/// `notebook.ipynb: cell 3 (id abc), line 2: [shell-escape] error: …`, then a verdict line.
pub fn human(path: &Path, findings: &[Finding]) -> String {
    let path = path.display();
    let mut out = String::new();
    for f in findings {
        let id = f.cell_id.as_deref().map(|id| format!(" (id {id})")).unwrap_or_default();
        out.push_str(&format!("{path}: cell {}{id}, line {}: [{}] {}: {}\n", f.cell, f.line, f.rule, f.severity(), f.message));
    }
    let errors = findings.iter().filter(|f| f.severity() == Severity::Error).count();
    let warnings = findings.len() - errors;
    let counts = match (errors, warnings) {
        (0, 0) => String::new(),
        (0, w) => format!(" ({})", plural(w, "warning")),
        (e, 0) => format!(": {}", plural(e, "error")),
        (e, w) => format!(": {}, {}", plural(e, "error"), plural(w, "warning")),
    };
    let verdict = if is_eligible(findings) { "eligible for scheduling" } else { "not eligible for scheduling" };
    out.push_str(&format!("{path}: {verdict}{counts}\n"));
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// The findings as a JSON array of objects: cell, cell_id (or null), line, rule, severity, message.
pub fn json(findings: &[Finding]) -> String {
    let mut text = serde_json::to_string_pretty(&values(findings)).unwrap_or_else(|_| "[]".into());
    text.push('\n');
    text
}

/// The array [`json`] prints.
pub fn values(findings: &[Finding]) -> Value {
    let items: Vec<Value> = findings
        .iter()
        .map(|f| {
            json!({
                "cell": f.cell,
                "cell_id": f.cell_id,
                "line": f.line,
                "rule": f.rule.code(),
                "severity": f.severity().as_str(),
                "message": f.message,
            })
        })
        .collect();
    Value::Array(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::Rule;

    fn finding(cell: usize, id: Option<&str>, rule: Rule) -> Finding {
        Finding { cell, cell_id: id.map(Into::into), line: 2, rule, message: "why".into() }
    }

    #[test]
    fn human_lines_and_verdict() {
        let findings = [finding(3, Some("abc"), Rule::ShellEscape), finding(4, None, Rule::UnknownMagic)];
        assert_eq!(
            human(Path::new("nb.ipynb"), &findings),
            "nb.ipynb: cell 3 (id abc), line 2: [shell-escape] error: why\n\
             nb.ipynb: cell 4, line 2: [unknown-magic] warning: why\n\
             nb.ipynb: not eligible for scheduling: 1 error, 1 warning\n"
        );
        assert_eq!(human(Path::new("nb.ipynb"), &[]), "nb.ipynb: eligible for scheduling\n");
        assert_eq!(
            human(Path::new("a"), &findings[1..]),
            "a: cell 4, line 2: [unknown-magic] warning: why\na: eligible for scheduling (1 warning)\n"
        );
    }

    #[test]
    fn json_array() {
        let value: Value = serde_json::from_str(&json(&[finding(1, None, Rule::Network)])).unwrap();
        assert_eq!(value, json!([{"cell": 1, "cell_id": null, "line": 2, "rule": "network", "severity": "error", "message": "why"}]));
        assert_eq!(json(&[]), "[]\n");
    }
}
