//! `write-outside-outputs`: calls that write or remove files, and where their path points.
//!
//! In a scheduled run the kernel works in `/work`: what it writes under `out/` (`/work/out`) is
//! kept as the run's outputs and `/tmp` is scratch; nothing else is writable. A literal path (or
//! the literal start of one: `f"out/{name}.csv"`, `Path("out") / name`) is checked; any other path
//! gets a warning, since where it goes cannot be told before the run.

use super::calls::{CallSite, Segment, leading_chain, literal};
use super::imports::ImportTable;
use super::rule::Rule;
use super::scan::{Kind, Token};

/// The kernel's working directory in the sandbox.
const WORKDIR: &str = "/work";
/// Where a scheduled notebook may write: its outputs, and scratch space.
const WRITABLE: &[&str] = &["/work/out", "/tmp"];

/// Functions that take a path, by resolved dotted name: where the path is (position, keywords),
/// and for `open`-like ones where the mode is.
struct Writer {
    name: &'static str,
    path: (usize, &'static [&'static str]),
    mode: Option<(usize, &'static str)>,
}

const fn writer(name: &'static str, position: usize, keywords: &'static [&'static str]) -> Writer {
    Writer { name, path: (position, keywords), mode: None }
}

const fn opener(name: &'static str) -> Writer {
    Writer { name, path: (0, &["file", "filename"]), mode: Some((1, "mode")) }
}

const FUNCTIONS: &[Writer] = &[
    opener("open"),
    opener("io.open"),
    opener("codecs.open"),
    opener("gzip.open"),
    opener("bz2.open"),
    opener("lzma.open"),
    writer("numpy.save", 0, &["file"]),
    writer("numpy.savez", 0, &["file"]),
    writer("numpy.savez_compressed", 0, &["file"]),
    writer("numpy.savetxt", 0, &["fname"]),
    writer("joblib.dump", 1, &["filename"]),
    writer("shutil.copy", 1, &["dst"]),
    writer("shutil.copy2", 1, &["dst"]),
    writer("shutil.copyfile", 1, &["dst"]),
    writer("shutil.copytree", 1, &["dst"]),
    writer("shutil.move", 1, &["dst"]),
    writer("shutil.rmtree", 0, &["path"]),
    writer("shutil.make_archive", 0, &["base_name"]),
    writer("shutil.unpack_archive", 1, &["extract_dir"]),
    writer("os.remove", 0, &["path"]),
    writer("os.unlink", 0, &["path"]),
    writer("os.rmdir", 0, &["path"]),
    writer("os.removedirs", 0, &["name"]),
    writer("os.mkdir", 0, &["path"]),
    writer("os.makedirs", 0, &["name"]),
    writer("os.rename", 1, &["dst"]),
    writer("os.replace", 1, &["dst"]),
    writer("os.symlink", 1, &["dst"]),
    writer("os.link", 1, &["dst"]),
    writer("os.truncate", 0, &["path"]),
];

/// Methods that write to the path given as their first argument, whatever they are called on
/// (DataFrames, figures). Without a path most of them return the text instead: nothing written.
const METHODS: &[&str] = &[
    "to_csv",
    "to_parquet",
    "to_excel",
    "to_json",
    "to_feather",
    "to_hdf",
    "to_pickle",
    "to_stata",
    "to_orc",
    "to_xml",
    "to_html",
    "to_latex",
    "to_markdown",
    "savefig",
    "write_image",
    "write_html",
];
const METHOD_PATH_KEYWORDS: &[&str] = &["path_or_buf", "path", "excel_writer", "buf", "fname", "file", "path_or_buffer"];

/// `pathlib` methods that write to the path they are called on; `write_text` and `write_bytes`
/// are only ever Path methods, the others only count on a `Path(…)` built in place.
const PATH_WRITERS: &[&str] = &["write_text", "write_bytes"];
const PATH_METHODS: &[&str] = &["open", "touch", "mkdir", "unlink", "rmdir"];
const PATH_TYPES: &[&str] = &["Path", "PurePath", "PosixPath", "PurePosixPath"];

/// What is known of a path before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Exact(String),
    /// The path starts with this text; the rest is computed.
    Prefix(String),
    Unknown,
}

/// A finding for `call` if it writes outside the outputs, or somewhere that cannot be told.
pub fn check(call: &CallSite<'_>, imports: &ImportTable) -> Option<(Rule, String)> {
    let (target, mode) = written_path(call, imports)?;
    let what = call.display();
    match mode {
        Mode::Reads => None,
        Mode::Writes => match place(&target) {
            Place::Writable => None,
            Place::Outside(path) => Some((Rule::WriteOutsideOutputs, outside(&what, &path))),
            Place::Unknown => Some((Rule::UnknownWriteTarget, unknown(&what, "where it writes"))),
        },
        Mode::Unknown => match place(&target) {
            Place::Writable => None,
            _ => Some((Rule::UnknownWriteTarget, unknown(&what, "whether and where it writes"))),
        },
    }
}

fn outside(what: &str, path: &str) -> String {
    format!(
        "`{what}` writes to `{path}`, outside the run's outputs: a scheduled run may write only under `out/` (kept as \
         its outputs) or `/tmp` (scratch); write under `out/` instead, or use an `%%upload` cell for table data"
    )
}

fn unknown(what: &str, question: &str) -> String {
    format!(
        "`{what}`: cannot tell {question}, as the path is not a literal; a scheduled run may write only under `out/` \
         or `/tmp`, so build the path from one, e.g. `f\"out/{{name}}.csv\"`"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Reads,
    Writes,
    Unknown,
}

/// The path a call writes to, if it is a call that writes (or may, depending on its mode).
fn written_path(call: &CallSite<'_>, imports: &ImportTable) -> Option<(Target, Mode)> {
    let name = call.name()?;
    let receiver = call.receiver();
    if let Some(dotted) = call.dotted() {
        let resolved = imports.resolve(&dotted);
        if let Some(w) = FUNCTIONS.iter().find(|w| w.name == resolved) {
            let path = call.arg(w.path.0, w.path.1)?;
            let mode = w.mode.map_or(Mode::Writes, |(position, keyword)| open_mode(call.arg(position, &[keyword])));
            return Some((target(path, imports), mode));
        }
    }
    if !receiver.is_empty() && METHODS.contains(&name) {
        return Some((target(call.arg(0, METHOD_PATH_KEYWORDS)?, imports), Mode::Writes));
    }
    let built_path = path_receiver(receiver, imports);
    if PATH_WRITERS.contains(&name) && !receiver.is_empty() {
        return Some((built_path.unwrap_or(Target::Unknown), Mode::Writes));
    }
    if PATH_METHODS.contains(&name) {
        let mode = if name == "open" { open_mode(call.arg(0, &["mode"])) } else { Mode::Writes };
        return Some((built_path?, mode));
    }
    None
}

/// `open`'s mode: it writes with `w`, `a`, `x` or `+`; the default is to read.
fn open_mode(arg: Option<&[Token]>) -> Mode {
    match arg {
        None => Mode::Reads,
        Some(tokens) => match literal(tokens) {
            Some(mode) if mode.contains(['w', 'a', 'x', '+']) => Mode::Writes,
            Some(_) => Mode::Reads,
            None => Mode::Unknown,
        },
    }
}

/// The path a method is called on, when it is built in place: `Path("out/x")`, `(base / "x")`.
fn path_receiver(receiver: &[Segment<'_>], imports: &ImportTable) -> Option<Target> {
    match receiver {
        [Segment::Group(tokens)] => Some(target(tokens, imports)),
        [names @ .., Segment::Call(args)] if is_path_type(names, imports) => Some(
            args.first().filter(|a| a.keyword.is_none()).map_or(Target::Unknown, |a| joined(target(a.tokens, imports), args.len() > 1)),
        ),
        _ => None,
    }
}

fn is_path_type(names: &[Segment<'_>], imports: &ImportTable) -> bool {
    let dotted: Option<Vec<&str>> = names
        .iter()
        .map(|s| match s {
            Segment::Name(name, _) => Some(*name),
            _ => None,
        })
        .collect();
    dotted.is_some_and(|d| {
        let resolved = imports.resolve(&d);
        PATH_TYPES.iter().any(|t| resolved == *t || resolved == format!("pathlib.{t}"))
    })
}

/// How deep paths built from paths are followed (`Path(Path("out"))`); deeper is unknown.
const MAX_NESTING: usize = 8;

/// What a path expression is known to be: a literal, or the literal it starts with.
fn target(tokens: &[Token], imports: &ImportTable) -> Target {
    nested_target(tokens, imports, 0)
}

fn nested_target(tokens: &[Token], imports: &ImportTable, nesting: usize) -> Target {
    if let Some(text) = literal(tokens) {
        return Target::Exact(text);
    }
    match tokens.first().map(|t| &t.kind) {
        // `"out/" + name`, `f"out/{name}.csv"`, `"out/%s.csv" % name`
        Some(Kind::Str(lit)) => Target::Prefix(lit.text.clone()),
        Some(Kind::Name(_)) if nesting < MAX_NESTING => {
            // `Path("out") / name`, `os.path.join("out", name)`
            let Some(chain) = leading_chain(tokens) else { return Target::Unknown };
            let Some(call) = chain.calls().next() else { return Target::Unknown };
            let is_join = call.dotted().is_some_and(|d| matches!(imports.resolve(&d).as_str(), "os.path.join" | "posixpath.join"));
            if !(is_join || is_path_type(call.callee, imports)) {
                return Target::Unknown;
            }
            // `Path("out").parent` and the like: the path is changed after it is built.
            if chain.segments.len() != call.callee.len() + 1 {
                return Target::Unknown;
            }
            let Some(first) = call.args.first().filter(|a| a.keyword.is_none()) else { return Target::Unknown };
            joined(nested_target(first.tokens, imports, nesting + 1), call.args.len() > 1 || chain.end < tokens.len())
        }
        _ => Target::Unknown,
    }
}

/// A base path with more parts joined after it: `Path("out") / x` is somewhere under `out/`.
fn joined(base: Target, more: bool) -> Target {
    match base {
        Target::Exact(path) if more => Target::Prefix(format!("{}/", path.trim_end_matches('/'))),
        other => other,
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Place {
    Writable,
    Outside(String),
    Unknown,
}

fn place(target: &Target) -> Place {
    match target {
        Target::Exact(path) if is_writable(path) => Place::Writable,
        Target::Exact(path) => Place::Outside(path.clone()),
        // Only the directory part of a prefix is certain: `f"out{x}"` could be `out/…` or `outer`.
        Target::Prefix(prefix) => match prefix.rfind('/') {
            Some(end) if is_writable(&prefix[..=end]) => Place::Writable,
            Some(_) => Place::Outside(format!("{prefix}…")),
            None => Place::Unknown,
        },
        Target::Unknown => Place::Unknown,
    }
}

/// Whether `path`, taken from the working directory, stays under a writable directory.
fn is_writable(path: &str) -> bool {
    let absolute = if path.starts_with('/') { path.to_owned() } else { format!("{WORKDIR}/{path}") };
    let mut parts: Vec<&str> = Vec::new();
    for part in absolute.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    let normal = format!("/{}", parts.join("/"));
    WRITABLE.iter().any(|dir| normal == *dir || normal.strip_prefix(dir).is_some_and(|rest| rest.starts_with('/')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::calls::chains;
    use crate::lint::scan::scan;

    /// The findings of every call in `source`, as (rule code, path or question).
    fn check_all(source: &str) -> Vec<(&'static str, String)> {
        let lines = scan(source, 1);
        let imports = ImportTable::new(&lines);
        let mut out = Vec::new();
        for line in &lines {
            for chain in chains(&line.tokens) {
                for call in chain.calls() {
                    if let Some((rule, message)) = check(&call, &imports) {
                        let detail = message.split('`').nth(3).unwrap_or(&message).to_owned();
                        out.push((rule.code(), detail));
                    }
                }
            }
        }
        out
    }

    fn outside(path: &str) -> (&'static str, String) {
        ("write-outside-outputs", path.to_owned())
    }

    #[test]
    fn writable_places() {
        for path in ["out/a.csv", "./out/a.csv", "out", "/work/out/x", "/tmp/x", "/tmp", "out/sub/../b"] {
            assert!(is_writable(path), "{path}");
        }
        for path in ["a.csv", "in/x", "/etc/passwd", "out/../a", "/work/output", "/tmpx", "../tmp/../etc", "~/x", ""] {
            assert!(!is_writable(path), "{path}");
        }
    }

    #[test]
    fn open_checks_path_and_mode() {
        assert_eq!(check_all("open('report.txt', 'w')"), [outside("report.txt")]);
        assert_eq!(check_all("open('/etc/x', mode='a')"), [outside("/etc/x")]);
        assert_eq!(check_all("with open('out/r.txt', 'w') as f: pass"), []);
        assert_eq!(check_all("open('data.csv')\nopen('data.csv', 'rb')"), []);
        assert_eq!(check_all("open(path, 'w')")[0].0, "unknown-write-target");
        assert_eq!(check_all("open('x.txt', mode)")[0].0, "unknown-write-target");
        assert_eq!(check_all("open('out/x.txt', mode)"), []);
        assert_eq!(check_all("import gzip\ngzip.open('a.gz', 'wt')"), [outside("a.gz")]);
    }

    #[test]
    fn dataframe_and_figure_writers() {
        assert_eq!(check_all("df.to_csv('report.csv', index=False)"), [outside("report.csv")]);
        assert_eq!(check_all("df.to_parquet(path='/data/x.parquet')"), [outside("/data/x.parquet")]);
        assert_eq!(check_all("plt.savefig('out/chart.png')\ndf.to_excel(f'out/{day}.xlsx')"), []);
        assert_eq!(check_all("text = df.to_csv()\nhtml = df.to_html()"), [], "no path: returns text");
        assert_eq!(check_all("fig.savefig(f'{name}.png')")[0].0, "unknown-write-target");
        assert_eq!(check_all("df.to_csv(f'/srv/{name}.csv')"), [outside("/srv/…")]);
        assert_eq!(check_all("df.to_csv('out/' + name)\ndf.to_csv('/tmp/%s.csv' % name)"), []);
    }

    #[test]
    fn pathlib_writers() {
        assert_eq!(check_all("from pathlib import Path\nPath('notes.txt').write_text('x')"), [outside("notes.txt")]);
        assert_eq!(check_all("Path('out/notes.txt').write_text('x')\n(Path('out') / name).write_bytes(b)"), []);
        assert_eq!(check_all("pathlib.Path('a').touch()\nPath('b').open('w')"), [outside("a"), outside("b")]);
        assert_eq!(check_all("Path('b').open()\np.mkdir()\nPath('out/d').mkdir()"), []);
        assert_eq!(check_all("p.write_text('x')")[0].0, "unknown-write-target");
        assert_eq!(check_all("(Path.home() / 'x').write_text('y')")[0].0, "unknown-write-target");
        assert_eq!(check_all("(Path('out').parent / 'x').write_text('y')")[0].0, "unknown-write-target");
        assert_eq!(check_all("Path(Path('out/x')).write_text('y')\nPath(Path('x')).write_text('y')"), [outside("x")]);
    }

    #[test]
    fn file_operations() {
        assert_eq!(check_all("import shutil\nshutil.copy('out/a', '/srv/a')\nshutil.rmtree('data')"), [outside("/srv/a"), outside("data")]);
        assert_eq!(check_all("import shutil as sh\nsh.move(src, 'out/b')\nos.makedirs('out/x', exist_ok=True)"), []);
        assert_eq!(check_all("from shutil import copy\ncopy('a', 'b')"), [outside("b")]);
        assert_eq!(check_all("import numpy as np\nnp.save(os.path.join('out', name), arr)"), []);
        assert_eq!(check_all("import numpy as np\nnp.save(os.path.join('res', name), arr)"), [outside("res/…")]);
        assert_eq!(check_all("os.remove(f)")[0].0, "unknown-write-target");
    }

    #[test]
    fn strings_mentioning_writers_are_not_calls() {
        assert_eq!(check_all("print(\"df.to_csv('x.csv')\")  # open('a', 'w')"), []);
    }
}
