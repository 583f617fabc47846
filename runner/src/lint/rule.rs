//! The lint rules: stable codes and a fixed severity each, so a code alone says whether it blocks
//! scheduling.

use std::fmt;

/// Whether a finding makes the notebook ineligible for scheduling (`Error`) or only deserves a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One lint rule. The kebab-case codes are part of the interface (scripts and reviews quote them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `!cmd`, `x = !cmd`, `%sx`, `%system`, `%sc`, `%%sx`, `get_ipython().system(...)`.
    ShellEscape,
    /// A cell magic that runs the cell elsewhere (`%%bash`, `%%python3`, …) or writes it to a file.
    CellMagic,
    /// A magic the linter does not know, so it cannot tell what it does.
    UnknownMagic,
    /// A `%%sql` or `%%upload` cell whose header or body is malformed.
    BadDataCell,
    /// A line magic with side effects: `%run`, `%load`, `%store`, `%pip`, `%conda`, `%cd`, ….
    LineMagic,
    /// `%env`, `os.environ`, `os.getenv`: a scheduled run has a scrubbed environment.
    Environment,
    /// Running other programs: `subprocess`, `os.system`, `os.popen`, `os.exec*`, `os.spawn*`, `pty`.
    Subprocess,
    /// Python worker processes: `multiprocessing`, `os.fork`, `ProcessPoolExecutor`.
    ChildProcess,
    /// Network access: `socket`, `requests`, `urllib.request`, `boto3`, `read_csv("https://…")`, ….
    Network,
    /// Database access the runner cannot see: `sqlite3`, `sqlalchemy`, `pd.read_sql`, `.to_sql`, ….
    DynamicSql,
    /// Writing a literal path outside `out/`, `/work/out` and `/tmp`.
    WriteOutsideOutputs,
    /// Writing to a path that is not a literal, so where it goes cannot be told.
    UnknownWriteTarget,
}

impl Rule {
    pub const ALL: [Rule; 12] = [
        Self::ShellEscape,
        Self::CellMagic,
        Self::UnknownMagic,
        Self::BadDataCell,
        Self::LineMagic,
        Self::Environment,
        Self::Subprocess,
        Self::ChildProcess,
        Self::Network,
        Self::DynamicSql,
        Self::WriteOutsideOutputs,
        Self::UnknownWriteTarget,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::ShellEscape => "shell-escape",
            Self::CellMagic => "cell-magic",
            Self::UnknownMagic => "unknown-magic",
            Self::BadDataCell => "bad-data-cell",
            Self::LineMagic => "line-magic",
            Self::Environment => "environment",
            Self::Subprocess => "subprocess",
            Self::ChildProcess => "child-process",
            Self::Network => "network",
            Self::DynamicSql => "dynamic-sql",
            Self::WriteOutsideOutputs => "write-outside-outputs",
            Self::UnknownWriteTarget => "unknown-write-target",
        }
    }

    /// Warnings are things that are not data movement, or that the linter cannot decide; every
    /// side effect it can see is an error.
    pub fn severity(self) -> Severity {
        match self {
            Self::UnknownMagic | Self::Environment | Self::ChildProcess | Self::UnknownWriteTarget => Severity::Warning,
            _ => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case() {
        let codes: std::collections::HashSet<_> = Rule::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes.len(), Rule::ALL.len());
        assert!(codes.iter().all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '-')));
    }

    #[test]
    fn warnings_are_the_undecidable_ones() {
        let warnings: Vec<_> = Rule::ALL.iter().filter(|r| r.severity() == Severity::Warning).map(|r| r.code()).collect();
        assert_eq!(warnings, ["unknown-magic", "environment", "child-process", "unknown-write-target"]);
    }
}
