//! One code cell made ready for the rules: a cell magic or automagic recognised first (IPython's
//! own order), then the Python tokenized, with what its escapes and magics already tell.

use super::Hit;
use super::magic::{self, DataCell, Verdict};
use super::rule::Rule;
use super::scan::{Escape, Kind, LogicalLine, scan};
use crate::data::cells;
use crate::notebook::cell_magic;

#[derive(Debug, Default)]
pub struct CellCode {
    /// The cell's Python, magic bodies and arguments that are Python included.
    pub python: Vec<LogicalLine>,
    /// Findings of the cell's magics and escapes.
    pub hits: Vec<Hit>,
    /// How many magics with Python arguments the code being read is inside (`%time %time x`).
    nesting: usize,
}

/// Beyond this many (nobody writes more than two), the argument is not read.
const MAX_NESTING: usize = 8;

pub fn read(source: &str) -> CellCode {
    let mut code = CellCode::default();
    if let Some(header) = cell_magic::split(source) {
        let body_line = header.line + 1;
        match magic::cell_magic(header.name) {
            Verdict::Fine => {}
            Verdict::Python => code.add_python(header.body, body_line),
            Verdict::Data(kind) => {
                // The runner's own parser, so lint refuses exactly what `runner exec` would.
                if let Err(error) = cells::parse(0, source) {
                    let message = format!("malformed `%%{}` cell: {}", header.name, error.problem);
                    code.hits.push(Hit { line: header.line, rule: Rule::BadDataCell, message });
                }
                // An upload's body is a Python expression run in the kernel: the other rules apply.
                if kind == DataCell::Upload {
                    code.add_python(header.body, body_line);
                }
            }
            Verdict::Flagged(rule, message) => code.hits.push(Hit { line: header.line, rule, message }),
        }
    } else if let Some((line, name, args)) = magic::automagic(source) {
        code.line_magic(line, name, args);
    } else {
        code.add_python(source, 1);
    }
    code
}

impl CellCode {
    fn add_python(&mut self, source: &str, first_line: usize) {
        for line in scan(source, first_line) {
            for token in &line.tokens {
                match &token.kind {
                    Kind::Escape(Escape::Shell(command)) => {
                        self.hits.push(Hit { line: token.line, rule: Rule::ShellEscape, message: magic::shell_escape(command) })
                    }
                    Kind::Escape(Escape::Magic { name, args }) => self.line_magic(token.line, name, args),
                    _ => {}
                }
            }
            self.python.push(line);
        }
    }

    fn line_magic(&mut self, line: usize, name: &str, args: &str) {
        match magic::line_magic(name) {
            Verdict::Python if self.nesting < MAX_NESTING => {
                self.nesting += 1;
                self.add_python(args, line);
                self.nesting -= 1;
            }
            Verdict::Flagged(rule, message) => self.hits.push(Hit { line, rule, message }),
            Verdict::Python | Verdict::Fine | Verdict::Data(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(source: &str) -> Vec<(usize, &'static str)> {
        read(source).hits.iter().map(|h| (h.line, h.rule.code())).collect()
    }

    #[test]
    fn shell_escapes() {
        assert_eq!(hits("x = 1\n!ls -l\nfiles = !ls\n  !!date"), [(2, "shell-escape"), (3, "shell-escape"), (4, "shell-escape")]);
        assert_eq!(hits("%sx ls\n%system ls\nout = %sc -l ls"), [(1, "shell-escape"), (2, "shell-escape"), (3, "shell-escape")]);
        assert_eq!(hits("print('!rm -rf /')\n# !ls\nx = a != b\ns = '''\n!ls\n'''"), []);
    }

    #[test]
    fn cell_magics() {
        assert_eq!(hits("%%bash\nls"), [(1, "cell-magic")]);
        assert_eq!(hits("\n%%writefile x.py\nprint(1)"), [(2, "cell-magic")]);
        assert_eq!(hits("%%sparkle\nx"), [(1, "unknown-magic")]);
        assert_eq!(hits("%%html\n<b>!ls</b>"), []);
        assert_eq!(hits("# %%bash\nx = 1"), []);
    }

    #[test]
    fn python_bodies_of_magics_are_checked() {
        assert_eq!(hits("%%capture out\nx = 1\n!ls"), [(3, "shell-escape")]);
        assert_eq!(hits("%time !ls"), [(1, "shell-escape")]);
        let code = read("%%time\nimport socket");
        assert_eq!(code.python.first().map(|l| l.tokens[0].line), Some(2));
    }

    #[test]
    fn nested_python_magics_are_read_to_a_bound() {
        assert_eq!(hits("%time %timeit !ls"), [(1, "shell-escape")]);
        assert!(hits(&format!("{}!ls", "%time ".repeat(10_000))).is_empty(), "past the bound the argument is not read");
    }

    #[test]
    fn line_magics() {
        assert_eq!(hits("%pip install requests"), [(1, "line-magic")]);
        assert_eq!(hits("x = 1\nif x:\n    %cd /tmp"), [(3, "line-magic")]);
        assert_eq!(hits("%run other.ipynb\n%load x.py\n%store v"), [(1, "line-magic"), (2, "line-magic"), (3, "line-magic")]);
        assert_eq!(hits("%env KEY=1"), [(1, "environment")]);
        assert_eq!(hits("%matplotlib inline\n%load_ext autoreload\n%autoreload 2"), []);
        assert_eq!(hits("%frob"), [(1, "unknown-magic")]);
        assert_eq!(hits("pip install requests"), [(1, "line-magic")], "automagic");
        assert_eq!(hits("s = 'x'  # %pip install requests"), []);
    }

    #[test]
    fn data_cells() {
        assert!(hits("%%sql daily --source wh\nSELECT * FROM sales WHERE day = :day").is_empty());
        assert_eq!(hits("%%sql\nSELECT 1"), [(1, "bad-data-cell")]);
        assert_eq!(hits("%%sql daily\n"), [(1, "bad-data-cell")]);
        assert!(read("%%sql daily\nSELECT 1").python.is_empty(), "SQL is not Python");
        assert!(hits("%%upload report --mode replace\ndaily.groupby('region').sum()").is_empty());
        assert_eq!(hits("%%upload report --mode merge\ndf"), [(1, "bad-data-cell")]);
        assert_eq!(read("%%upload t\ndf").python.len(), 1, "an upload's body is Python");
    }
}
