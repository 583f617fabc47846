//! The sandbox the kernel runs in: new user, mount, pid, net, ipc and uts namespaces, a new root
//! with read-only system and Python directories, Landlock, cgroup limits and rlimits.
//!
//! The runner (multi-task tokio) cannot create a user namespace itself, so it re-executes its own
//! binary as a single-threaded helper (`runner __sandbox PLAN`, see `helper`) that builds the
//! sandbox and executes the kernel inside it. The runner keeps the parts that need its privileges
//! or outlive the helper: the plan, the cgroup, and collecting the outputs afterwards.

mod cgroup;
mod helper;
mod launch;
mod layers;
mod mounts;
mod outputs;
mod restrict;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cgroup::{Cgroup, CgroupVersion};
pub use helper::main as helper_main;
pub use launch::{LaunchError, RunPaths, SandboxOptions, SandboxSettings, Staging, command, write_private};
pub use layers::{Layers, probe};
pub use outputs::{CollectError, Collected, collect};

/// The hidden subcommand that runs the helper.
pub const HELPER_COMMAND: &str = "__sandbox";

/// Where things are inside the sandbox.
pub const WORK_DIR: &str = "/work";
pub const HOME_DIR: &str = "/tmp/home";
pub const HOSTNAME: &str = "tiffin-sandbox";
/// Created in the staging dir (out of the kernel's sight) by the sandbox's PID 1 while it copies
/// `/work/out` to the host after the kernel exited: the runner then waits instead of killing it.
pub const COPYING_OUTPUTS_MARKER: &str = "copying-outputs";

/// The uid/gid the kernel has inside the sandbox.
pub const INSIDE_ID: u32 = 1000;
/// The host uid/gid the kernel runs as when the runner is root: used by nothing else, so the
/// kernel owns no host file and shares no process limit with anyone.
pub const HOST_ID_WHEN_ROOT: u32 = 61_000;

/// Limits and extra paths: the user-facing options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub memory_bytes: u64,
    pub pids: u64,
    pub tmp_bytes: u64,
    /// Size of `/work/out` (a tmpfs), which also bounds any single file the kernel writes.
    pub output_bytes: u64,
    pub open_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        Self { memory_bytes: 4 * GIB, pids: 512, tmp_bytes: GIB, output_bytes: GIB, open_files: 4096 }
    }
}

/// Everything the helper needs, written as JSON into the run dir by the runner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    /// The kernel command (already resolved to host paths, which are the same inside).
    pub argv: Vec<String>,
    /// The kernel's complete environment (the allow-list is applied by the runner).
    pub env: Vec<(String, String)>,
    /// Host dirs bound read-only at the same path inside.
    pub read_only: Vec<PathBuf>,
    /// The dir holding the connection file and sockets, bound read-write at the same path.
    pub ipc_dir: PathBuf,
    /// Host dir the new root's tmpfs is mounted on.
    pub root_mount_point: PathBuf,
    /// Host dirs bound at `/work/in` (read-only) and `/work/out` (read-write).
    pub in_dir: PathBuf,
    pub out_dir: PathBuf,
    pub limits: Limits,
    /// Host ids the kernel's inside ids map to.
    pub host_uid: u32,
    pub host_gid: u32,
    /// The runner's pid: the helper dies with it.
    pub runner_pid: u32,
    /// cgroup dirs (one for v2, one per controller for v1) the helper joins before forking.
    pub cgroup_procs: Vec<PathBuf>,
    /// The user accepted missing layers (`--sandbox-weaker-ok`): Landlock is best effort.
    pub weaker_ok: bool,
}

impl Plan {
    /// The host dir holding `in_dir` and `out_dir`; never mounted in the sandbox.
    pub fn staging_dir(&self) -> PathBuf {
        self.out_dir.parent().map_or_else(|| self.out_dir.clone(), Path::to_path_buf)
    }
}

/// The host directories a kernel needs to start: its environment's prefix, the interpreter a
/// venv points at, the kernelspec's own dir, and the system directories.
pub fn read_only_paths(argv: &[String], spec_dir: &Path, extra: &[PathBuf]) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"].iter().map(PathBuf::from).collect();
    if let Some(program) = argv.first().map(PathBuf::from) {
        paths.extend(env_prefix_of(&program));
        if let Ok(real) = std::fs::canonicalize(&program) {
            paths.extend(env_prefix_of(&real));
        }
        let venv_home =
            program.parent().and_then(Path::parent).map(|p| p.join("pyvenv.cfg")).and_then(|cfg| std::fs::read_to_string(cfg).ok());
        if let Some(home) = venv_home.as_deref().and_then(pyvenv_home) {
            paths.extend(env_prefix_of(&home.join("python3")));
        }
    }
    paths.push(spec_dir.to_path_buf());
    paths.extend(extra.iter().cloned());
    paths.retain(|p| p.exists());
    paths.sort();
    paths.dedup();
    // A path inside another bound path is covered by it.
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|other| other != p && p.starts_with(other)));
    paths
}

/// `<prefix>/bin/python` → `<prefix>`, unless the prefix is a system dir bound anyway.
fn env_prefix_of(program: &Path) -> Option<PathBuf> {
    let prefix = program.parent()?.parent()?;
    (prefix != Path::new("/") && prefix != Path::new("/usr")).then(|| prefix.to_path_buf())
}

/// The `home = …/bin` line of a venv's pyvenv.cfg.
fn pyvenv_home(cfg: &str) -> Option<PathBuf> {
    cfg.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == "home").then(|| PathBuf::from(value.trim()))
    })
}

/// The kernel's environment: an allow-list of the runner's, the kernelspec's, and the scratch
/// locations that make ordinary libraries work without a real home.
pub fn kernel_env(spec_env: &std::collections::BTreeMap<String, String>, argv0: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars().filter(|(key, _)| is_allowed_env(key)).collect();
    let bin = Path::new(argv0).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let path = if bin.is_empty() { "/usr/local/bin:/usr/bin:/bin".to_owned() } else { format!("{bin}:/usr/local/bin:/usr/bin:/bin") };
    env.push(("PATH".into(), path));
    for (key, value) in [
        ("HOME", HOME_DIR.to_owned()),
        ("TMPDIR", "/tmp".to_owned()),
        ("MPLCONFIGDIR", format!("{HOME_DIR}/.config/matplotlib")),
        ("IPYTHONDIR", format!("{HOME_DIR}/.ipython")),
        ("XDG_CACHE_HOME", format!("{HOME_DIR}/.cache")),
        ("XDG_CONFIG_HOME", format!("{HOME_DIR}/.config")),
        ("JUPYTER_DATA_DIR", format!("{HOME_DIR}/.local/share/jupyter")),
        ("PYDEVD_DISABLE_FILE_VALIDATION", "1".to_owned()),
        // The kernel's parent is the sandbox's PID 1; ipykernel prints its connection banner
        // to the terminal unless it knows it has a parent.
        ("JPY_PARENT_PID", "1".to_owned()),
        // ipykernel's pipe for output of forked children needs TCP on 127.0.0.1, which the
        // sandbox denies; without this its warning would land in the first cell's output.
        ("PYTHONWARNINGS", "ignore:Couldn't bind IOPub Pipe:UserWarning".to_owned()),
    ] {
        env.push((key.into(), value));
    }
    env.extend(spec_env.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Later entries win, as with a shell's `export`.
    let mut seen = std::collections::HashSet::new();
    let mut deduped: Vec<_> = env.into_iter().rev().filter(|(k, _)| seen.insert(k.clone())).collect();
    deduped.reverse();
    deduped
}

fn is_allowed_env(key: &str) -> bool {
    matches!(key, "LANG" | "LANGUAGE" | "TZ" | "TERM" | "PYTHONHASHSEED" | "PYTHONIOENCODING") || key.starts_with("LC_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venv_home_is_read_from_pyvenv_cfg() {
        assert_eq!(pyvenv_home("home = /opt/py/bin\ninclude-system-site-packages = false\n"), Some(PathBuf::from("/opt/py/bin")));
        assert_eq!(pyvenv_home("version = 3.11\n"), None);
    }

    #[test]
    fn nested_paths_collapse_into_their_parent() {
        let dir = tempfile::tempdir().unwrap();
        let env = dir.path().join("env");
        std::fs::create_dir_all(env.join("bin")).unwrap();
        std::fs::create_dir_all(env.join("share/jupyter/kernels/py")).unwrap();
        std::fs::write(env.join("bin/python"), "").unwrap();
        let argv = vec![env.join("bin/python").to_string_lossy().into_owned()];
        let paths = read_only_paths(&argv, &env.join("share/jupyter/kernels/py"), &[]);
        assert!(paths.contains(&env));
        assert!(!paths.iter().any(|p| p.starts_with(&env) && p != &env));
        assert!(paths.contains(&PathBuf::from("/usr")));
    }

    #[test]
    fn environment_is_an_allow_list() {
        // SAFETY-free: only reads the process environment the test runs in.
        let env = kernel_env(&[("K".to_owned(), "v".to_owned())].into_iter().collect(), "/env/bin/python");
        let keys: Vec<_> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"HOME") && keys.contains(&"K") && keys.contains(&"PATH"));
        assert!(!keys.iter().any(|k| matches!(*k, "USER" | "PWD" | "SSH_AUTH_SOCK" | "CARGO_HOME")));
        assert!(env.iter().any(|(k, v)| k == "PATH" && v.starts_with("/env/bin:")));
    }
}
