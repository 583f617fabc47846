//! What the runner prepares for a sandboxed kernel: the staging dirs, their owner, the run's
//! cgroup, the plan the helper follows, and the command that starts the helper.

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Gid, Uid, chown};

use super::{Cgroup, CgroupVersion, HELPER_COMMAND, HOST_ID_WHEN_ROOT, Limits, Plan, kernel_env, read_only_paths};

/// The user's sandbox settings.
#[derive(Debug, Clone, Default)]
pub struct SandboxSettings {
    pub limits: Limits,
    /// Host paths the kernel may read, mounted read-only at the same path.
    pub extra_read_only: Vec<PathBuf>,
    /// Run even when a protection layer is missing (`--sandbox-weaker-ok`).
    pub weaker_ok: bool,
}

/// The user's settings with the cgroup hierarchy found on this host.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub settings: SandboxSettings,
    pub cgroup: Option<CgroupVersion>,
}

/// The run dir and the part of it the kernel sees (the connection file and sockets).
pub struct RunPaths {
    pub run_dir: PathBuf,
    pub ipc_dir: PathBuf,
}

/// The sandbox's dirs on the host, inside the run dir but never mounted in the sandbox as such.
pub struct Staging {
    pub dir: PathBuf,
    /// The new root's tmpfs is mounted here.
    pub root: PathBuf,
    /// Bound read-only at `/work/in`.
    pub in_dir: PathBuf,
    /// Where PID 1 copies `/work/out` after the kernel exits.
    pub out_dir: PathBuf,
    /// Exists while PID 1 copies (see `kernel::launch`'s `stop`).
    pub copy_marker: PathBuf,
}

impl Staging {
    pub fn of(run_dir: &Path) -> Self {
        let dir = run_dir.join("box");
        Self {
            root: dir.join("root"),
            in_dir: dir.join("in"),
            out_dir: dir.join("out"),
            copy_marker: dir.join(super::COPYING_OUTPUTS_MARKER),
            dir,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("preparing {0}: {1}")]
    Prepare(PathBuf, std::io::Error),
    #[error(transparent)]
    Cgroup(#[from] super::cgroup::CgroupError),
    #[error("writing the sandbox plan: {0}")]
    Plan(String),
}

/// `runner __sandbox PLAN`: the plan written into the run dir, the staging dirs owned by the
/// kernel's host id, and the run's cgroup (removed when dropped).
pub fn command(
    argv: Vec<String>,
    spec_env: &BTreeMap<String, String>,
    spec_dir: &Path,
    paths: &RunPaths,
    options: &SandboxOptions,
) -> Result<(tokio::process::Command, Option<Cgroup>), LaunchError> {
    let (host_uid, host_gid) = if Uid::effective().is_root() {
        (HOST_ID_WHEN_ROOT, HOST_ID_WHEN_ROOT)
    } else {
        (Uid::effective().as_raw(), Gid::effective().as_raw())
    };
    let staging = Staging::of(&paths.run_dir);
    for dir in [&staging.root, &staging.in_dir, &staging.out_dir] {
        std::fs::create_dir_all(dir).map_err(|e| LaunchError::Prepare(dir.clone(), e))?;
    }
    // The kernel's id must reach its sockets; PID 1 (same id) writes the outputs and the copy
    // marker. Nothing else of the run dir is visible inside.
    let owned =
        [paths.run_dir.clone(), paths.ipc_dir.clone(), paths.ipc_dir.join("kernel.json"), staging.dir.clone(), staging.out_dir.clone()];
    for path in owned {
        chown(&path, Some(Uid::from_raw(host_uid)), Some(Gid::from_raw(host_gid)))
            .map_err(|e| LaunchError::Prepare(path.clone(), e.into()))?;
    }
    let run_name = paths.run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let settings = &options.settings;
    let cgroup = options.cgroup.map(|version| Cgroup::create(version, &run_name, &settings.limits)).transpose()?;
    let plan = Plan {
        env: kernel_env(spec_env, &argv[0]),
        read_only: read_only_paths(&argv, spec_dir, &settings.extra_read_only),
        argv,
        ipc_dir: paths.ipc_dir.clone(),
        root_mount_point: staging.root,
        in_dir: staging.in_dir,
        out_dir: staging.out_dir,
        limits: settings.limits.clone(),
        host_uid,
        host_gid,
        runner_pid: std::process::id(),
        cgroup_procs: cgroup.as_ref().map(Cgroup::procs_files).unwrap_or_default(),
        weaker_ok: settings.weaker_ok,
    };
    let plan_path = paths.run_dir.join("sandbox.json");
    let json = serde_json::to_vec_pretty(&plan).map_err(|e| LaunchError::Plan(e.to_string()))?;
    write_private(&plan_path, &json).map_err(|e| LaunchError::Prepare(plan_path.clone(), e))?;
    let runner = std::env::current_exe().map_err(|e| LaunchError::Prepare("the runner's own executable".into(), e))?;
    let mut command = tokio::process::Command::new(runner);
    command.arg(HELPER_COMMAND).arg(&plan_path).env_clear().current_dir("/");
    if let Ok(filter) = std::env::var("RUNNER_LOG") {
        command.env("RUNNER_LOG", filter);
    }
    Ok((command, cgroup))
}

/// A new file only its owner may read (connection keys, plans).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
}
