//! The rules on Python code, one logical line at a time: imports of flagged modules, uses of
//! flagged names reached through an innocent import (`os.system`), and calls (`pd.read_sql`,
//! `.to_sql`, `read_csv("https://…")`, `get_ipython().system`, file writes).
//!
//! A flagged module is reported where it is imported, not again at each use; a name reached
//! through an import that is fine (`import os` … `os.system(…)`) is reported where it is used.

use super::Hit;
use super::calls::{CallSite, Segment, chains, literal};
use super::imports::{ImportTable, imports};
use super::magic::{self, Verdict};
use super::modules::{self, Kind as ModuleKind};
use super::rule::Rule;
use super::scan::{Kind, LogicalLine};
use super::writes;

/// pandas functions and methods that run SQL on a connection of their own.
const SQL_READERS: &[&str] = &["read_sql", "read_sql_query", "read_sql_table", "read_gbq"];
const SQL_WRITERS: &[&str] = &["to_sql", "to_gbq"];
/// Schemes that mean a remote read when a `read_*` function gets them (pandas and fsspec).
const REMOTE_SCHEMES: &[&str] =
    &["http://", "https://", "ftp://", "s3://", "s3a://", "gs://", "gcs://", "az://", "abfs://", "abfss://", "hdfs://", "hf://"];

pub fn check(line: &LogicalLine, imports_table: &ImportTable, hits: &mut Vec<Hit>) {
    for import in imports(line) {
        if let Some((kind, _)) = modules::classify(&import.module) {
            hits.push(Hit { line: import.line, rule: kind.rule(), message: kind.message(&import.module) });
        }
    }
    // An import statement's dotted names are module names, already checked above.
    let statements = line.tokens.split(|t| t.is_op(";")).filter(|s| !s.iter().any(|t| t.is_name("import")));
    for chain in statements.flat_map(chains) {
        if let Some(hit) = flagged_use(&chain.leading_names(), chain.line, imports_table) {
            hits.push(hit);
        }
        for call in chain.calls() {
            hits.extend(call_hit(&call, imports_table));
            if let Some((rule, message)) = writes::check(&call, imports_table) {
                hits.push(Hit { line: call.line, rule, message });
            }
        }
    }
}

/// `os.system`, `o.system` after `import os as o`, `urllib.request.urlopen` after `import urllib`.
fn flagged_use(names: &[&str], line: usize, imports: &ImportTable) -> Option<Hit> {
    let (root, _) = names.split_first()?;
    if names.len() < 2 || imports.bound_by_flagged_import(root) {
        return None;
    }
    let (kind, entry) = modules::classify(&imports.resolve(names))?;
    // Only what the names add to the root counts: `requests.get` is reported at `import requests`.
    let root_depth = modules::depth(imports.resolve_root(root));
    let entry_depth = modules::depth(entry);
    if entry_depth <= root_depth {
        return None;
    }
    let shown = names[..(entry_depth - root_depth + 1).min(names.len())].join(".");
    Some(Hit { line, rule: kind.rule(), message: kind.message(&shown) })
}

fn call_hit(call: &CallSite<'_>, imports: &ImportTable) -> Option<Hit> {
    let name = call.name()?;
    let shown = call.display();
    let hit = |rule: Rule, message: String| Some(Hit { line: call.line, rule, message });
    if SQL_READERS.contains(&name) || (SQL_WRITERS.contains(&name) && !call.receiver().is_empty()) {
        return hit(Rule::DynamicSql, ModuleKind::Database.message(&shown));
    }
    if name.starts_with("read_")
        && let Some(Kind::Str(url)) = call.arg(0, &[]).and_then(|tokens| tokens.first()).map(|t| &t.kind)
        && REMOTE_SCHEMES.iter().any(|scheme| url.text.to_ascii_lowercase().starts_with(scheme))
    {
        let more = if url.complete { "" } else { "…" };
        return hit(Rule::Network, ModuleKind::Network.message(&format!("{shown}(\"{}{more}\")", url.text)));
    }
    if let Some(dotted) = call.dotted()
        && matches!(imports.resolve(&dotted).as_str(), "__import__" | "importlib.import_module")
        && let Some(module) = call.arg(0, &["name"]).and_then(literal)
        && let Some((kind, _)) = modules::classify(&module)
    {
        return hit(kind.rule(), kind.message(&module));
    }
    ipython_call(call).and_then(|(rule, message)| hit(rule, message))
}

/// `get_ipython().system(…)` and friends: the escapes, written as calls.
fn ipython_call(call: &CallSite<'_>) -> Option<(Rule, String)> {
    let [Segment::Name("get_ipython", _), Segment::Call(_), Segment::Name(method, _)] = call.callee else { return None };
    let first_literal = || call.arg(0, &[]).and_then(literal);
    let verdict = match *method {
        "system" | "getoutput" => return Some((Rule::ShellEscape, magic::shell_escape(&first_literal().unwrap_or_else(|| "…".into())))),
        "run_line_magic" | "magic" => magic::line_magic(first_literal()?.split_whitespace().next()?.trim_start_matches('%')),
        "run_cell_magic" => magic::cell_magic(&first_literal()?),
        _ => return None,
    };
    match verdict {
        Verdict::Flagged(rule, message) => Some((rule, message)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::scan::scan;

    /// (line, rule code) of every finding in `source`.
    fn hits(source: &str) -> Vec<(usize, &'static str)> {
        let lines = scan(source, 1);
        let table = ImportTable::new(&lines);
        let mut out = Vec::new();
        for line in &lines {
            check(line, &table, &mut out);
        }
        out.into_iter().map(|h| (h.line, h.rule.code())).collect()
    }

    #[test]
    fn network() {
        assert_eq!(hits("import pandas as pd\nimport requests\nr = requests.get(url)"), [(2, "network")]);
        assert_eq!(hits("from urllib.request import urlopen"), [(1, "network")]);
        assert_eq!(hits("import urllib\n\nurllib.request.urlopen(u)"), [(3, "network")]);
        assert_eq!(hits("import socket as s"), [(1, "network")]);
        assert_eq!(hits("df = pd.read_csv(\"https://example.com/x.csv\")"), [(1, "network")]);
        assert_eq!(hits("df = pd.read_parquet(f\"s3://bucket/{day}.parquet\")"), [(1, "network")]);
        assert_eq!(hits("from google.cloud import bigquery"), [(1, "network")]);
        assert_eq!(hits("mod = __import__('socket')"), [(1, "network")]);
    }

    #[test]
    fn not_network() {
        assert_eq!(hits("print('import requests')\n# import socket\nx = \"\"\"\nimport httpx\n\"\"\""), []);
        assert_eq!(hits("df = pd.read_csv('in/sales.csv')\nurl = 'https://x'\nimport urllib.parse"), []);
        assert_eq!(hits("requests = []\nrequests.append(1)"), [], "an unimported local is not the module");
    }

    #[test]
    fn dynamic_sql() {
        assert_eq!(hits("import sqlite3\ncon = sqlite3.connect('x.db')"), [(1, "dynamic-sql")]);
        assert_eq!(hits("from sqlalchemy import create_engine"), [(1, "dynamic-sql")]);
        assert_eq!(hits("df = pd.read_sql('SELECT 1', con)"), [(1, "dynamic-sql")]);
        assert_eq!(hits("x = read_sql_query(q, con)"), [(1, "dynamic-sql")]);
        assert_eq!(hits("(df\n  .to_sql('t', engine))"), [(2, "dynamic-sql")]);
        assert_eq!(hits("import duckdb, psycopg2"), [(1, "dynamic-sql"), (1, "dynamic-sql")]);
        assert_eq!(hits("s = 'pd.read_sql(q)'  # df.to_sql('t')"), []);
        assert_eq!(hits("to_sql = 1"), []);
    }

    #[test]
    fn subprocess_and_child_processes() {
        assert_eq!(hits("import subprocess\nsubprocess.run(['ls'])"), [(1, "subprocess")]);
        assert_eq!(hits("import os\nos.system('ls')\nos.popen('ls')"), [(2, "subprocess"), (3, "subprocess")]);
        assert_eq!(hits("import os as o\no.execvp('ls', [])"), [(2, "subprocess")]);
        assert_eq!(hits("from os import spawnl"), [(1, "subprocess")]);
        assert_eq!(hits("import pty"), [(1, "subprocess")]);
        assert_eq!(hits("import multiprocessing as mp\nmp.Pool(4)"), [(1, "child-process")]);
        assert_eq!(hits("from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor"), [(1, "child-process")]);
        assert_eq!(hits("import os\nos.path.join('a', 'b')\nos.listdir('in')"), []);
        assert_eq!(hits("print(\"os.system('rm -rf /')\")"), []);
    }

    #[test]
    fn environment() {
        assert_eq!(hits("import os\nkey = os.environ['KEY']\nos.getenv('X')"), [(2, "environment"), (3, "environment")]);
        assert_eq!(hits("from os import environ"), [(1, "environment")]);
    }

    #[test]
    fn ipython_calls() {
        assert_eq!(hits("get_ipython().system('ls')"), [(1, "shell-escape")]);
        assert_eq!(hits("get_ipython().run_line_magic('pip', 'install x')"), [(1, "line-magic")]);
        assert_eq!(hits("get_ipython().run_cell_magic('bash', '', 'ls')"), [(1, "cell-magic")]);
        assert_eq!(hits("get_ipython().run_line_magic('matplotlib', 'inline')"), []);
    }

    #[test]
    fn code_in_fstring_fields_is_checked() {
        assert_eq!(hits("import os\nprint(f\"{os.system('ls')}\")"), [(2, "subprocess")]);
        assert_eq!(hits("print(f\"os.system('ls')\")"), []);
    }
}
