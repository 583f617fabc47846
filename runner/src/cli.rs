//! Command-line interface. `exec` takes papermill's options so papermill users feel at home.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::{Map, Value};

use crate::exec::{self, Job, Options};
use crate::notebook::Destination;
use crate::notebook::params::{self, ParamError};

#[derive(Debug, Parser)]
#[command(name = "runner", version, about = "Tiffin's notebook runner: executes Jupyter notebooks on a real kernel")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Execute every code cell of a notebook and write the executed notebook.
    Exec(ExecArgs),
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The notebook to execute (nbformat 4).
    pub notebook: PathBuf,
    /// Where to write the executed notebook (`-` for stdout) [default: <notebook stem>.out.ipynb].
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: Option<PathBuf>,
    /// A parameter, typed like papermill does: True/False/None, int, float, else a string.
    #[arg(short = 'p', long = "parameters", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub parameters: Vec<String>,
    /// A parameter whose value is always a string.
    #[arg(short = 'r', long = "parameters-raw", num_args = 2, value_names = ["NAME", "VALUE"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub raw_parameters: Vec<String>,
    /// Parameters as a YAML or JSON mapping.
    #[arg(short = 'y', long = "parameters-yaml", value_name = "YAML")]
    pub yaml_parameters: Vec<String>,
    /// Parameters from a YAML or JSON file holding a mapping.
    #[arg(short = 'f', long = "parameters-file", value_name = "FILE")]
    pub parameter_files: Vec<PathBuf>,
    /// Kernel to use instead of the notebook's kernelspec.
    #[arg(short = 'k', long, value_name = "NAME")]
    pub kernel: Option<String>,
    /// Working directory of the kernel [default: the notebook's directory].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// Seconds a cell may run before it is interrupted (then killed).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub cell_timeout: Option<Duration>,
    /// Seconds the whole run may take, kernel start-up included.
    #[arg(long, value_name = "SECS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Echo cells' stdout and stderr as they run.
    #[arg(long)]
    pub log_output: bool,
    /// No progress display on stderr.
    #[arg(long)]
    pub no_progress: bool,
    /// Keep running after a cell raises (papermill's --allow-errors / nbclient's allow_errors).
    #[arg(long)]
    pub allow_errors: bool,
    /// Seconds between saves of the partial notebook during a run; 0 disables.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_seconds_or_zero)]
    pub autosave: Duration,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    match parse_seconds_or_zero(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

fn parse_seconds_or_zero(text: &str) -> Result<Duration, String> {
    let secs: f64 = text.trim().parse().map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid number of seconds"))
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error("cannot read parameters file {0}: {1}")]
    ParamFile(PathBuf, std::io::Error),
    #[error("parameters file {0}: {1}")]
    ParamFileContent(PathBuf, ParamError),
}

impl ExecArgs {
    /// The job these arguments describe. Parameters merge in papermill's order: files, YAML,
    /// raw, then typed `-p` values, later ones winning.
    pub fn into_job(self) -> Result<Job, ArgsError> {
        let mut parameters = Map::new();
        for file in &self.parameter_files {
            let text = std::fs::read_to_string(file).map_err(|e| ArgsError::ParamFile(file.clone(), e))?;
            parameters.extend(params::parse_mapping(&text).map_err(|e| ArgsError::ParamFileContent(file.clone(), e))?);
        }
        for yaml in &self.yaml_parameters {
            parameters.extend(params::parse_mapping(yaml)?);
        }
        for pair in self.raw_parameters.chunks_exact(2) {
            parameters.insert(pair[0].clone(), Value::String(pair[1].clone()));
        }
        for pair in self.parameters.chunks_exact(2) {
            parameters.insert(pair[0].clone(), params::typed_value(&pair[0], &pair[1])?);
        }
        let output = match &self.output {
            Some(path) => Destination::parse(path),
            None => Destination::File(default_output(&self.notebook)),
        };
        Ok(Job {
            input: self.notebook,
            output,
            parameters,
            options: Options {
                kernel: self.kernel,
                cwd: self.cwd,
                cell_timeout: self.cell_timeout,
                run_timeout: self.timeout,
                allow_errors: self.allow_errors,
                log_output: self.log_output,
                progress: !self.no_progress,
                autosave: Some(self.autosave).filter(|d| !d.is_zero()),
            },
        })
    }
}

/// `report.ipynb` → `report.out.ipynb`, next to the input.
fn default_output(input: &Path) -> PathBuf {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "notebook".into());
    input.with_file_name(format!("{stem}.out.ipynb"))
}

pub use exec::exit_code;

#[cfg(test)]
mod tests {
    use super::*;

    fn job(args: &[&str]) -> Job {
        let cli = Cli::try_parse_from([&["runner", "exec", "nb.ipynb"], args].concat()).unwrap();
        let Command::Exec(exec) = cli.command;
        exec.into_job().unwrap()
    }

    #[test]
    fn parameters_merge_with_typed_values_last() {
        let job = job(&["-y", "a: 1\nb: x", "-r", "b", "7", "-p", "c", "2.5", "-p", "a", "None"]);
        assert_eq!(Value::Object(job.parameters), serde_json::json!({"a": null, "b": "7", "c": 2.5}));
    }

    #[test]
    fn default_output_sits_next_to_the_input() {
        assert_eq!(job(&[]).output, Destination::File("nb.out.ipynb".into()));
        assert_eq!(job(&["-o", "-"]).output, Destination::Stdout);
    }

    #[test]
    fn timeouts_must_be_positive_numbers() {
        assert!(Cli::try_parse_from(["runner", "exec", "nb.ipynb", "--cell-timeout", "0"]).is_err());
        assert!(Cli::try_parse_from(["runner", "exec", "nb.ipynb", "--timeout", "soon"]).is_err());
        assert_eq!(job(&["--cell-timeout", "1.5"]).options.cell_timeout, Some(Duration::from_millis(1500)));
    }
}
