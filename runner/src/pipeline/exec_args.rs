//! The `runner exec` command line of a scheduled run, shared by the generated DAG (which quotes
//! it for bash and Airflow) and the trial run (which renders the macros for the first run).

use crate::schedule::{Parameter, Spec};

/// One argument: fixed text, or a spec value whose macros are rendered for each run.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Plain(String),
    Template(String),
}

/// `exec NOTEBOOK -r/-p NAME VALUE ... --purpose P [--timeout S] [--cell-timeout S] [--memory M]`,
/// one option with its values per group. Text parameters go with `-r`, so they stay strings (`-p`
/// would make "10" an int); other literals with `-p`. The runner's line per finished cell is kept:
/// it is the progress in a task's log and a trial's. The last argument is a purpose name or a
/// number, never a path ending in `.sh`, which Airflow's BashOperator would take for a script.
pub fn exec_arguments(spec: &Spec, notebook: &str) -> Vec<Vec<Arg>> {
    let plain = |text: &str| Arg::Plain(text.to_owned());
    let mut groups = vec![vec![plain("exec"), plain(notebook)]];
    for (name, parameter) in &spec.parameters {
        let (flag, value) = match parameter {
            Parameter::Text(text) => ("-r", Arg::Template(text.clone())),
            Parameter::Int(i) => ("-p", plain(&i.to_string())),
            Parameter::Float(f) => ("-p", plain(&crate::notebook::python::float_repr(*f))),
            Parameter::Bool(b) => ("-p", plain(if *b { "True" } else { "False" })),
        };
        groups.push(vec![plain(flag), plain(name), value]);
    }
    groups.push(vec![plain("--purpose"), plain(&spec.purpose)]);
    if let Some(timeout) = spec.limits.timeout {
        groups.push(vec![plain("--timeout"), plain(&timeout.as_secs().to_string())]);
    }
    if let Some(cell_timeout) = spec.limits.cell_timeout {
        groups.push(vec![plain("--cell-timeout"), plain(&cell_timeout.as_secs().to_string())]);
    }
    if let Some(memory) = spec.limits.memory {
        groups.push(vec![plain("--memory"), plain(&size(memory))]);
    }
    groups
}

/// `4G`, `512M`, or bytes: as `--memory` reads it.
fn size(bytes: u64) -> String {
    match bytes {
        b if b % (1 << 30) == 0 => format!("{}G", b >> 30),
        b if b % (1 << 20) == 0 => format!("{}M", b >> 20),
        b => b.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_back_as_given() {
        assert_eq!((size(4 << 30), size(512 << 20), size((1 << 20) + 1)), ("4G".into(), "512M".into(), "1048577".into()));
    }
}
