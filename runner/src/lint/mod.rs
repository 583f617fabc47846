//! `runner lint`: whether a notebook is eligible for scheduling.
//!
//! A scheduled notebook moves data only through its structured cells (`%%sql` in, `%%upload`
//! out), which the runner performs itself and can check and record. Everything else must be
//! ordinary code without side effects outside the run: no shell, no network, no database
//! connections of its own, no files written outside `out/` and `/tmp`. The linter reads code
//! cells only (markdown and raw cells never run) and reports each finding with its cell, line,
//! rule and a message saying why and what to do instead.
//!
//! It reads the code, it does not run it: names built at run time (`getattr`, `eval`, `exec`,
//! code imported from the notebook's own modules) are out of its sight; the sandbox still stops
//! what they try.

mod calls;
mod cell;
mod code;
mod imports;
mod magic;
mod modules;
pub mod report;
mod rule;
mod scan;
mod writes;

use std::collections::HashSet;

use crate::notebook::{CellType, Notebook};
use imports::ImportTable;
pub use rule::{Rule, Severity};

/// One finding: where (1-based cell index among all cells, the cell's id when it has one, 1-based
/// line within the cell's source), which rule, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub cell: usize,
    pub cell_id: Option<String>,
    pub line: usize,
    pub rule: Rule,
    pub message: String,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        self.rule.severity()
    }
}

/// A finding within one cell, before the cell is named.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hit {
    line: usize,
    rule: Rule,
    message: String,
}

/// Every finding of the notebook, in cell and line order.
pub fn lint(notebook: &Notebook) -> Vec<Finding> {
    let cells: Vec<_> = notebook
        .cells
        .iter()
        .enumerate()
        .filter(|(_, cell)| cell.cell_type == CellType::Code)
        .map(|(index, cell)| (index + 1, cell, cell::read(&cell.source)))
        .collect();
    // Cells may run in any order while the notebook is written, so an import anywhere counts.
    let imports = ImportTable::new(cells.iter().flat_map(|(_, _, code)| &code.python));
    let mut findings = Vec::new();
    for (index, cell, code) in cells {
        let mut hits = code.hits;
        for line in &code.python {
            code::check(line, &imports, &mut hits);
        }
        // Stable: within a line, findings keep the order they were found in (a data cell's
        // problems read header first, body last).
        hits.sort_by_key(|hit| hit.line);
        let mut seen = HashSet::new();
        hits.retain(|hit| seen.insert((hit.line, hit.rule, hit.message.clone())));
        findings.extend(hits.into_iter().map(|hit| Finding {
            cell: index,
            cell_id: cell.id.clone(),
            line: hit.line,
            rule: hit.rule,
            message: hit.message,
        }));
    }
    findings
}

/// Whether the notebook may be scheduled: no finding of error severity.
pub fn is_eligible(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.severity() != Severity::Error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notebook::Cell;

    fn notebook(cells: Vec<Cell>) -> Notebook {
        Notebook { nbformat_minor: 5, metadata: Default::default(), cells, extra: Default::default() }
    }

    fn code(source: &str, id: &str) -> Cell {
        let mut cell = Cell::new_code(source.into(), &[], false);
        cell.id = Some(id.into());
        cell
    }

    #[test]
    fn findings_name_cell_index_id_and_line() {
        let nb = notebook(vec![
            Cell::new_markdown("!rm -rf /\nimport socket".into(), &[], false),
            code("import pandas as pd\n\n!ls", "abc"),
            Cell::new_code("x = 1\nimport requests".into(), &[], false),
        ]);
        let found: Vec<_> = lint(&nb).into_iter().map(|f| (f.cell, f.cell_id, f.line, f.rule)).collect();
        assert_eq!(found, [(2, Some("abc".into()), 3, Rule::ShellEscape), (3, None, 2, Rule::Network)]);
    }

    #[test]
    fn an_import_in_one_cell_names_uses_in_another() {
        let nb = notebook(vec![code("import os as o", "a"), code("o.system('ls')", "b")]);
        let found: Vec<_> = lint(&nb).into_iter().map(|f| (f.cell, f.rule)).collect();
        assert_eq!(found, [(2, Rule::Subprocess)]);
    }

    #[test]
    fn a_clean_notebook_is_eligible() {
        let nb = notebook(vec![
            code("run_date = '2024-01-01'", "params"),
            code("%%sql sales --source warehouse\nSELECT region, amount FROM sales WHERE day = :run_date", "q"),
            code(
                "import pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline\ntotals = sales.groupby('region').sum()\n\
                 totals.plot.bar()\nplt.savefig('out/totals.png')\ntotals.to_csv(f'out/totals-{run_date}.csv')\nprint(\"!done\")",
                "work",
            ),
            code("%%upload analytics.region_totals --mode partition --partition day=:run_date\ntotals.reset_index()", "up"),
        ]);
        let findings = lint(&nb);
        assert!(findings.is_empty(), "{findings:#?}");
        assert!(is_eligible(&findings));
    }

    #[test]
    fn warnings_alone_keep_it_eligible() {
        let nb = notebook(vec![code("import multiprocessing\n%env X=1", "w")]);
        let findings = lint(&nb);
        assert_eq!(findings.len(), 2);
        assert!(is_eligible(&findings));
        assert!(!is_eligible(&lint(&notebook(vec![code("!ls", "e")]))));
    }

    #[test]
    fn the_same_finding_is_reported_once_per_line() {
        let nb = notebook(vec![code("import os\nos.system('a'); os.system('b')\nx = f'{os.environ}' + f'{os.environ}'", "d")]);
        let found: Vec<_> = lint(&nb).into_iter().map(|f| (f.line, f.rule)).collect();
        assert_eq!(found, [(2, Rule::Subprocess), (3, Rule::Environment)]);
    }
}
