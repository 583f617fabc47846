//! IPython magics: which are fine in a scheduled notebook, which are the structured data cells,
//! and which move data or act outside the run, with why and what to do instead.

use super::rule::Rule;

/// What a magic means for scheduling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Harmless (display, timing, configuration).
    Fine,
    /// Harmless itself, but its argument (line magic) or body (cell magic) is Python to check.
    Python,
    /// `%%sql` or `%%upload`: a structured data cell.
    Data(DataCell),
    Flagged(Rule, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataCell {
    Sql,
    Upload,
}

const SHELL: &str = "runs a shell command: the sandbox of a scheduled run has no shell tools or network, and the \
                     runner cannot see what the command reads or writes; do it in Python, fetch data with a `%%sql` \
                     cell and write results with an `%%upload` cell";

/// The message for a shell escape (`!cmd`), naming the command.
pub fn shell_escape(command: &str) -> String {
    let mut shown: String = command.chars().take(60).collect();
    if shown.len() < command.len() {
        shown.push('…');
    }
    format!("`!{shown}` {SHELL}")
}

/// A line magic (`%name`), or a cell magic written on a later line, which IPython runs as one.
pub fn line_magic(name: &str) -> Verdict {
    let flagged = |rule: Rule, why: &str| Verdict::Flagged(rule, format!("`%{name}` {why}"));
    match name {
        "sx" | "system" | "sc" => flagged(Rule::ShellEscape, SHELL),
        "alias" | "rehashx" => flagged(Rule::ShellEscape, "makes shell commands callable as magics; do the work in Python"),
        "pip" | "conda" | "mamba" | "micromamba" => flagged(
            Rule::LineMagic,
            "installs packages from the network while the notebook runs, and a scheduled run has no network; add \
             the package to the kernel's environment instead",
        ),
        "cd" | "pushd" | "popd" | "bookmark" => flagged(
            Rule::LineMagic,
            "changes the working directory, which a scheduled run relies on (inputs are read from `in/`, outputs \
             written to `out/`); use paths relative to it instead",
        ),
        "run" => flagged(
            Rule::LineMagic,
            "runs code from another file, which is not part of the reviewed notebook and may do anything; put the code \
             in the notebook, or import it from a package installed in the kernel's environment",
        ),
        "load" | "loadpy" => {
            flagged(Rule::LineMagic, "pulls code from a file or URL into the cell at run time; paste the code into the cell instead")
        }
        "store" => flagged(
            Rule::LineMagic,
            "saves or reads variables in IPython's database, outside the run; pass values in as notebook parameters, \
             or write them under `out/`",
        ),
        "writefile" | "save" | "logstart" | "notebook" => flagged(
            Rule::LineMagic,
            "writes files outside the run's outputs; write under `out/` from Python, or use an `%%upload` cell for \
             table data",
        ),
        "env" | "set_env" => flagged(
            Rule::Environment,
            "reads or sets environment variables, and a scheduled run gets a scrubbed environment (no credentials, no \
             host settings); make the value a notebook parameter instead",
        ),
        "time" | "timeit" | "prun" | "capture" => Verdict::Python,
        "matplotlib" | "config" | "load_ext" | "reload_ext" | "unload_ext" | "autoreload" | "aimport" | "precision" | "who" | "whos"
        | "who_ls" | "pinfo" | "pinfo2" | "pdef" | "pdoc" | "psource" | "xmode" | "pdb" | "debug" | "lsmagic" | "magic" | "history"
        | "reset" | "reset_selective" | "xdel" | "colors" | "doctest_mode" | "pprint" | "page" | "quickref" | "tb" | "automagic"
        | "autocall" | "autoawait" | "html" | "javascript" | "js" | "latex" | "markdown" | "svg" => Verdict::Fine,
        // The kernel extension's session switches (purpose, dry-run uploads): a scheduled run's
        // data cells never reach the magics, so they change nothing there.
        "tiffin" => Verdict::Fine,
        _ => unknown(&format!("%{name}")),
    }
}

/// A cell magic (`%%name` on the cell's first line).
pub fn cell_magic(name: &str) -> Verdict {
    let flagged = |rule: Rule, why: &str| Verdict::Flagged(rule, format!("`%%{name}` {why}"));
    match name {
        "sql" => Verdict::Data(DataCell::Sql),
        "upload" => Verdict::Data(DataCell::Upload),
        "sx" | "system" | "!" => flagged(Rule::ShellEscape, SHELL),
        "bash" | "sh" | "script" | "perl" | "ruby" | "python" | "python2" | "python3" | "pypy" => flagged(
            Rule::CellMagic,
            "runs the cell in another program, outside the kernel: the sandbox of a scheduled run has no such \
             programs, and the runner cannot see what it reads or writes; rewrite the cell in the notebook's Python",
        ),
        "writefile" | "file" => flagged(
            Rule::CellMagic,
            "writes the cell to a file, outside the run's outputs; keep code in the notebook, and write results under \
             `out/` from Python",
        ),
        "capture" | "time" | "timeit" | "prun" | "debug" => Verdict::Python,
        "html" | "javascript" | "js" | "markdown" | "latex" | "svg" => Verdict::Fine,
        _ => unknown(&format!("%%{name}")),
    }
}

fn unknown(magic: &str) -> Verdict {
    Verdict::Flagged(
        Rule::UnknownMagic,
        format!(
            "`{magic}` is not a magic the linter knows, so it cannot tell whether it moves data or acts outside the \
             run; use plain Python, and `%%sql`/`%%upload` cells for data"
        ),
    )
}

/// IPython's automagic: a cell that is one line such as `pip install x` runs as `%pip install x`.
/// Only magics the linter flags are looked for, so a line of Python is never mistaken for one.
pub fn automagic(source: &str) -> Option<(usize, &str, &str)> {
    let mut lines = source.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (index, line) = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    let (name, args) = line.trim().split_once(char::is_whitespace)?;
    let args = args.trim_start();
    // `cd = 1` and `env, x = …` are Python (IPython's own test).
    if args.starts_with(['=', ',']) || !matches!(line_magic(name), Verdict::Flagged(rule, _) if rule != Rule::UnknownMagic) {
        return None;
    }
    Some((index + 1, name, args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule_of(verdict: Verdict) -> Option<Rule> {
        match verdict {
            Verdict::Flagged(rule, _) => Some(rule),
            _ => None,
        }
    }

    #[test]
    fn line_magics() {
        assert_eq!(line_magic("tiffin"), Verdict::Fine);
        assert_eq!(rule_of(line_magic("pip")), Some(Rule::LineMagic));
        assert_eq!(rule_of(line_magic("cd")), Some(Rule::LineMagic));
        assert_eq!(rule_of(line_magic("sx")), Some(Rule::ShellEscape));
        assert_eq!(rule_of(line_magic("env")), Some(Rule::Environment));
        assert_eq!(rule_of(line_magic("frobnicate")), Some(Rule::UnknownMagic));
        assert_eq!(line_magic("matplotlib"), Verdict::Fine);
        assert_eq!(line_magic("timeit"), Verdict::Python);
    }

    #[test]
    fn cell_magics() {
        assert_eq!(rule_of(cell_magic("bash")), Some(Rule::CellMagic));
        assert_eq!(rule_of(cell_magic("writefile")), Some(Rule::CellMagic));
        assert_eq!(rule_of(cell_magic("system")), Some(Rule::ShellEscape));
        assert_eq!(rule_of(cell_magic("sparkle")), Some(Rule::UnknownMagic));
        assert_eq!(cell_magic("capture"), Verdict::Python);
        assert_eq!(cell_magic("html"), Verdict::Fine);
        assert_eq!(cell_magic("sql"), Verdict::Data(DataCell::Sql));
    }

    #[test]
    fn automagic_single_lines() {
        assert_eq!(automagic("pip install requests"), Some((1, "pip", "install requests")));
        assert_eq!(automagic("\ncd /tmp\n"), Some((2, "cd", "/tmp")));
        assert_eq!(automagic("cd = 1"), None);
        assert_eq!(automagic("pip install a\nx = 1"), None, "only one-line cells");
        assert_eq!(automagic("matplotlib inline"), None, "fine magics are not looked for");
        assert_eq!(automagic("print(1)"), None);
    }

    #[test]
    fn long_commands_are_shortened() {
        let message = shell_escape(&"x".repeat(100));
        assert!(message.starts_with(&format!("`!{}…`", "x".repeat(60))));
    }
}
