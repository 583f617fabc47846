//! Import statements, and the names they bind across the notebook, so `sp.run` is known to be
//! `subprocess.run` and `np.save` to be `numpy.save`.

use std::collections::{HashMap, HashSet};

use super::modules;
use super::scan::{Kind, LogicalLine, Token};

/// One imported module or name: `import a.b` gives `a.b`; `from a import b` gives `a.b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub module: String,
    /// The name the import binds and what it stands for: `import a.b` binds `a` to `a`,
    /// `import a.b as x` binds `x` to `a.b`; `from a import *` binds none we can name.
    pub binds: Option<(String, String)>,
    pub line: usize,
}

/// The imports of a logical line (of each of its `;`-separated statements).
pub fn imports(line: &LogicalLine) -> Vec<Import> {
    line.tokens.split(|t| t.is_op(";")).flat_map(statement_imports).collect()
}

fn statement_imports(tokens: &[Token]) -> Vec<Import> {
    // `import` is a keyword: wherever it is (`try: import x`), it starts the import's name list.
    let Some(at) = tokens.iter().position(|t| t.is_name("import")) else { return Vec::new() };
    let (before, after) = (&tokens[..at], &tokens[at + 1..]);
    // `from a.b import c`: the dotted name right before `import`, with `from` before it.
    let mut start = before.len();
    while start > 0
        && (before[start - 1].is_op(".") || before[start - 1].is_op("...") || before[start - 1].name().is_some_and(|n| n != "from"))
    {
        start -= 1;
    }
    if start == 0 || !before[start - 1].is_name("from") {
        return import_names(after);
    }
    let module = &before[start..];
    if module.first().is_none_or(|t| t.name().is_none()) {
        return Vec::new(); // relative: the notebook's own package, nothing to check
    }
    from_names(&dotted(module), after)
}

fn dotted(tokens: &[Token]) -> String {
    tokens.iter().filter_map(Token::name).collect::<Vec<_>>().join(".")
}

/// `import a.b.c, d as e`.
fn import_names(tokens: &[Token]) -> Vec<Import> {
    let mut out = Vec::new();
    for item in tokens.split(|t| t.is_op(",")) {
        let (path, alias) = split_alias(item);
        let Some(first) = path.first() else { continue };
        let Some(root) = first.name() else { continue };
        let module = dotted(path);
        let binds = match alias {
            Some(alias) => (alias.to_owned(), module.clone()),
            None => (root.to_owned(), root.to_owned()),
        };
        out.push(Import { module, binds: Some(binds), line: first.line });
    }
    out
}

/// `from m import a, b as c`, `from m import (a, b)`, `from m import *`.
fn from_names(module: &str, tokens: &[Token]) -> Vec<Import> {
    let tokens = match tokens.first() {
        Some(t) if t.is_op("(") => &tokens[1..],
        _ => tokens,
    };
    let mut out = Vec::new();
    for item in tokens.split(|t| t.is_op(",") || t.is_op(")")) {
        let (path, alias) = split_alias(item);
        match path {
            [t] if t.is_op("*") => out.push(Import { module: module.to_owned(), binds: None, line: t.line }),
            [t @ Token { kind: Kind::Name(name), .. }] => {
                let full = format!("{module}.{name}");
                out.push(Import { binds: Some((alias.unwrap_or(name).to_owned(), full.clone())), module: full, line: t.line });
            }
            _ => {}
        }
    }
    out
}

/// `a.b as c` → (`a.b`, Some(`c`)).
fn split_alias(item: &[Token]) -> (&[Token], Option<&str>) {
    match item {
        [path @ .., as_kw, Token { kind: Kind::Name(alias), .. }] if as_kw.is_name("as") => (path, Some(alias)),
        _ => (item, None),
    }
}

/// The names imports bind anywhere in the notebook (cells run in any order, so the whole notebook
/// counts), and which of them came from an import that is itself a finding.
#[derive(Debug, Default)]
pub struct ImportTable {
    aliases: HashMap<String, String>,
    flagged: HashSet<String>,
}

impl ImportTable {
    pub fn new<'a>(lines: impl IntoIterator<Item = &'a LogicalLine>) -> Self {
        let mut table = Self::default();
        for import in lines.into_iter().flat_map(imports) {
            let Some((name, target)) = import.binds else { continue };
            if modules::classify(&import.module).is_some() {
                table.flagged.insert(name.clone());
            }
            table.aliases.insert(name, target);
        }
        table
    }

    /// What the first name means: `np` → `numpy`; an unbound name means itself.
    pub fn resolve_root<'a>(&'a self, root: &'a str) -> &'a str {
        self.aliases.get(root).map_or(root, String::as_str)
    }

    /// The full dotted name: `sp.run` → `subprocess.run`.
    pub fn resolve(&self, names: &[&str]) -> String {
        match names.split_first() {
            Some((root, rest)) => std::iter::once(self.resolve_root(root)).chain(rest.iter().copied()).collect::<Vec<_>>().join("."),
            None => String::new(),
        }
    }

    /// Whether `name` was bound by an import that is reported itself (uses need no second finding).
    pub fn bound_by_flagged_import(&self, name: &str) -> bool {
        self.flagged.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::scan::scan;

    fn all(source: &str) -> Vec<(String, Option<String>, usize)> {
        scan(source, 1)
            .iter()
            .flat_map(imports)
            .map(|i| (i.module, i.binds.map(|(name, target)| format!("{name}={target}")), i.line))
            .collect()
    }

    fn import(module: &str, binds: Option<&str>, line: usize) -> (String, Option<String>, usize) {
        (module.into(), binds.map(Into::into), line)
    }

    #[test]
    fn plain_imports() {
        assert_eq!(
            all("import os, urllib.request as ur"),
            [import("os", Some("os=os"), 1), import("urllib.request", Some("ur=urllib.request"), 1)]
        );
        assert_eq!(all("import a.b.c"), [import("a.b.c", Some("a=a"), 1)]);
        assert_eq!(all("x = 1; import socket"), [import("socket", Some("socket=socket"), 1)]);
        assert_eq!(all("try: import requests\nexcept ImportError: pass"), [import("requests", Some("requests=requests"), 1)]);
    }

    #[test]
    fn from_imports() {
        assert_eq!(
            all("from os import system as s, popen"),
            [import("os.system", Some("s=os.system"), 1), import("os.popen", Some("popen=os.popen"), 1)]
        );
        assert_eq!(
            all("from urllib import (\n  parse,\n  request,\n)"),
            [import("urllib.parse", Some("parse=urllib.parse"), 2), import("urllib.request", Some("request=urllib.request"), 3)]
        );
        assert_eq!(all("from subprocess import *"), [import("subprocess", None, 1)]);
        assert_eq!(all("if x: from a.b import c"), [import("a.b.c", Some("c=a.b.c"), 1)]);
        assert_eq!(all("from . import helpers\nfrom .m import x"), []);
    }

    #[test]
    fn not_imports() {
        assert_eq!(all("raise E from e\nprint('import socket')\n# import socket"), []);
    }

    #[test]
    fn the_table_resolves_aliases() {
        let lines = scan("import numpy as np\nimport os.path\nfrom subprocess import run as r\nimport urllib", 1);
        let table = ImportTable::new(&lines);
        assert_eq!(table.resolve(&["np", "save"]), "numpy.save");
        assert_eq!(table.resolve(&["os", "system"]), "os.system");
        assert_eq!(table.resolve(&["r"]), "subprocess.run");
        assert_eq!(table.resolve(&["df", "to_csv"]), "df.to_csv");
        assert!(table.bound_by_flagged_import("r"));
        assert!(!table.bound_by_flagged_import("urllib"));
        assert!(!table.bound_by_flagged_import("np"));
    }
}
