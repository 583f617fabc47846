//! Kernelspec discovery, in the order Jupyter searches its data directories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// How a kernel is interrupted: a SIGINT to its process, or an `interrupt_request` message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InterruptMode {
    #[default]
    Signal,
    Message,
}

/// A kernel.json and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelSpec {
    pub name: String,
    pub dir: PathBuf,
    pub argv: Vec<String>,
    pub display_name: String,
    pub language: String,
    pub env: BTreeMap<String, String>,
    pub interrupt_mode: InterruptMode,
}

#[derive(Debug, Deserialize)]
struct KernelJson {
    argv: Vec<String>,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    interrupt_mode: InterruptMode,
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("no kernel named `{name}` is installed; kernels found: {}; searched: {}", list_or_none(found), searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound { name: String, found: Vec<String>, searched: Vec<PathBuf> },
    #[error("kernelspec {path} is unusable: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "none".into() } else { names.join(", ") }
}

/// The Jupyter data directories, highest priority first: `JUPYTER_PATH`, the user's data dir, the
/// environment's prefix, then the system-wide dirs (as `jupyter --paths` lists them).
pub fn data_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(path) = std::env::var_os("JUPYTER_PATH") {
        dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
    }
    if let Some(dir) = std::env::var_os("JUPYTER_DATA_DIR") {
        dirs.push(dir.into());
    } else if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        dirs.push(PathBuf::from(data).join("jupyter"));
    } else if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".local/share/jupyter"));
    }
    if let Some(prefix) = env_prefix() {
        dirs.push(prefix.join("share/jupyter"));
    }
    dirs.push("/usr/local/share/jupyter".into());
    dirs.push("/usr/share/jupyter".into());
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    dirs
}

/// The active Python environment: a virtualenv, a conda env, or the prefix of `python3` on PATH
/// (Jupyter uses `sys.prefix` of the Python it runs in; this is the closest equivalent).
pub fn env_prefix() -> Option<PathBuf> {
    for var in ["VIRTUAL_ENV", "CONDA_PREFIX"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return Some(dir.into());
        }
    }
    let python = find_on_path("python3")?;
    python.parent()?.parent().map(Path::to_path_buf)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Every installed kernel name with its directory; the first found wins, as in Jupyter.
pub fn installed() -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    for data_dir in data_dirs() {
        let Ok(entries) = std::fs::read_dir(data_dir.join("kernels")) else { continue };
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir.join("kernel.json").is_file() {
                let name = entry.file_name().to_string_lossy().to_lowercase();
                found.entry(name).or_insert(dir);
            }
        }
    }
    found
}

/// Finds and loads the kernelspec called `name` (case-insensitive, like jupyter_client).
pub fn find(name: &str) -> Result<KernelSpec, SpecError> {
    let mut installed = installed();
    let Some(dir) = installed.remove(&name.to_lowercase()) else {
        return Err(SpecError::NotFound {
            name: name.to_owned(),
            found: installed.into_iter().map(|(n, d)| format!("{n} ({})", d.display())).collect(),
            searched: data_dirs().into_iter().map(|d| d.join("kernels")).collect(),
        });
    };
    load(name, &dir)
}

fn load(name: &str, dir: &Path) -> Result<KernelSpec, SpecError> {
    let path = dir.join("kernel.json");
    let invalid = |problem: String| SpecError::Invalid { path: path.clone(), problem };
    let text = std::fs::read_to_string(&path).map_err(|e| invalid(e.to_string()))?;
    let json: KernelJson = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let Some(program) = json.argv.first() else {
        return Err(invalid("`argv` is empty".into()));
    };
    let mut argv = json.argv.clone();
    argv[0] = resolve_program(program, dir).to_string_lossy().into_owned();
    Ok(KernelSpec {
        name: name.to_owned(),
        dir: dir.to_path_buf(),
        argv,
        display_name: json.display_name,
        language: json.language,
        env: json.env,
        interrupt_mode: json.interrupt_mode,
    })
}

/// jupyter_client runs a bare `python`/`python3` argv[0] with its own interpreter. The runner is
/// not Python, so it uses the interpreter of the environment the kernelspec is installed in
/// (`<prefix>/share/jupyter/kernels/<name>` → `<prefix>/bin/python3`), then the active env's.
fn resolve_program(program: &str, spec_dir: &Path) -> PathBuf {
    let is_bare_python =
        program == "python" || program.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'));
    if !is_bare_python {
        return PathBuf::from(program);
    }
    let spec_prefix = spec_dir.ancestors().nth(4).map(Path::to_path_buf);
    spec_prefix
        .into_iter()
        .chain(env_prefix())
        .flat_map(|prefix| [prefix.join("bin").join(program), prefix.join("bin/python3")])
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(program))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_kernelspec_and_resolves_python_in_its_prefix() {
        let prefix = tempfile::tempdir().unwrap();
        let dir = prefix.path().join("share/jupyter/kernels/py");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(prefix.path().join("bin")).unwrap();
        std::fs::write(prefix.path().join("bin/python"), "").unwrap();
        std::fs::write(
            dir.join("kernel.json"),
            r#"{"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Py", "language": "python", "interrupt_mode": "message", "env": {"A": "1"}}"#,
        )
        .unwrap();
        let spec = load("py", &dir).unwrap();
        assert_eq!(spec.argv[0], prefix.path().join("bin/python").to_string_lossy());
        assert_eq!(spec.interrupt_mode, InterruptMode::Message);
        assert_eq!(spec.env["A"], "1");
    }

    #[test]
    fn rejects_a_kernelspec_without_argv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kernel.json"), r#"{"argv": []}"#).unwrap();
        assert!(matches!(load("x", dir.path()), Err(SpecError::Invalid { .. })));
    }
}
