//! Starting a kernel process: a private run dir, an ipc connection file, the process in its own
//! process group, and a watcher that reports its exit the moment it happens.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use jupyter_protocol::ConnectionInfo;
use jupyter_protocol::connection_info::Transport;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::KernelError;
use super::run_dir::RunDir;
use super::spec::KernelSpec;
use crate::sandbox::{self, Cgroup};

/// The five ipc "ports": with `transport: ipc` each names the socket file `{ip}-{port}`.
const PORTS: [u16; 5] = [1, 2, 3, 4, 5];

/// Connection info with a fresh random key, ipc sockets inside `run_dir`.
pub fn connection_info(run_dir: &RunDir, kernel_name: &str) -> Result<ConnectionInfo, KernelError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| KernelError::Random(e.to_string()))?;
    Ok(ConnectionInfo {
        ip: run_dir.ipc_dir().join("k").to_string_lossy().into_owned(),
        transport: Transport::IPC,
        shell_port: PORTS[0],
        iopub_port: PORTS[1],
        stdin_port: PORTS[2],
        control_port: PORTS[3],
        hb_port: PORTS[4],
        key: key.iter().map(|b| format!("{b:02x}")).collect(),
        signature_scheme: "hmac-sha256".into(),
        kernel_name: Some(kernel_name.to_owned()),
    })
}

/// The socket files the kernel binds; they exist once it listens.
pub fn socket_paths(info: &ConnectionInfo) -> Vec<PathBuf> {
    PORTS.iter().map(|port| PathBuf::from(format!("{}-{port}", info.ip))).collect()
}

/// Whether the kernel command starts ipykernel (`-m ipykernel_launcher`, `-m ipykernel`).
fn is_ipykernel(argv: &[String]) -> bool {
    argv.windows(2).any(|w| w[0] == "-m" && (w[1] == "ipykernel_launcher" || w[1] == "ipykernel"))
}

/// A running kernel process, leader of its own process group.
#[derive(Debug)]
pub struct KernelProcess {
    pgid: Pid,
    exit: watch::Receiver<Option<ExitStatus>>,
    /// Exists while a sandbox copies its outputs out (see `stop`).
    copy_marker: Option<PathBuf>,
    /// Removed after the process group is gone (declared after, so dropped after the kill).
    _cgroup: Option<Cgroup>,
}

/// How long a SIGTERMed kernel (or sandbox) gets before SIGKILL, unless it is copying outputs.
const TERMINATE_GRACE: Duration = Duration::from_secs(2);

/// Longest wait for a sandbox copying its outputs (at most `--output-size`, from memory).
const OUTPUT_COPY_LIMIT: Duration = Duration::from_secs(120);

/// How the kernel is started.
#[derive(Debug, Clone)]
pub enum Launch {
    /// Directly on the host, in `cwd` (`--no-sandbox`), without the environment variables in
    /// `hidden_env` (the data sources' passwords).
    Direct {
        cwd: PathBuf,
        hidden_env: Vec<String>,
    },
    Sandboxed(sandbox::SandboxOptions),
}

fn direct_command(spec: &KernelSpec, argv: &[String], cwd: &Path, hidden_env: &[String]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&argv[0]);
    for name in hidden_env {
        command.env_remove(name);
    }
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .envs(&spec.env)
        // ipykernel polls this pid and exits when its parent is gone, even after a SIGKILL.
        .env("JPY_PARENT_PID", std::process::id().to_string())
        // Keeps debugpy's frozen-modules warnings out of every run's stderr.
        .env("PYDEVD_DISABLE_FILE_VALIDATION", "1");
    command
}

/// What the kernel process prints outside of IOPub (start-up errors, native libraries' output)
/// goes to the runner's stderr.
async fn forward_to_stderr(mut from: impl tokio::io::AsyncRead + Unpin) {
    let mut stderr = tokio::io::stderr();
    if let Err(error) = tokio::io::copy(&mut from, &mut stderr).await {
        tracing::debug!(%error, "kernel output pipe closed");
    }
}

impl KernelProcess {
    /// Spawns the kernel, directly or inside the sandbox, with the connection file written into
    /// the run dir.
    pub fn spawn(spec: &KernelSpec, info: &ConnectionInfo, run_dir: &RunDir, launch: &Launch) -> Result<Self, KernelError> {
        let connection_file = run_dir.ipc_dir().join("kernel.json");
        let json = serde_json::to_vec_pretty(info).map_err(|e| KernelError::Spawn(spec.name.clone(), std::io::Error::other(e)))?;
        sandbox::write_private(&connection_file, &json).map_err(|e| KernelError::RunDir(connection_file.clone(), e))?;

        let mut argv: Vec<String> = spec
            .argv
            .iter()
            .map(|arg| {
                arg.replace("{connection_file}", &connection_file.to_string_lossy()).replace("{resource_dir}", &spec.dir.to_string_lossy())
            })
            .collect();
        if is_ipykernel(&argv) {
            // As nbclient does: a batch run has no use for IPython's history database, and
            // closing it costs every run time at shutdown (and a write into $HOME).
            argv.push("--HistoryManager.hist_file=:memory:".into());
        }
        let (mut command, cgroup) = match launch {
            Launch::Direct { cwd, hidden_env } => (direct_command(spec, &argv, cwd, hidden_env), None),
            Launch::Sandboxed(options) => {
                let paths = sandbox::RunPaths { run_dir: run_dir.path().to_path_buf(), ipc_dir: run_dir.ipc_dir() };
                sandbox::command(argv.clone(), &spec.env, &spec.dir, &paths, options).map_err(|e| KernelError::Sandbox(e.to_string()))?
            }
        };
        // The kernel gets pipes, not our descriptors: it can reach no host file through them,
        // and its fd 1 never mixes into a notebook written to our stdout.
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| KernelError::Spawn(format!("{} ({})", spec.name, argv[0]), e))?;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward_to_stderr(out));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward_to_stderr(err));
        }
        let pid = child.id().ok_or_else(|| KernelError::Spawn(spec.name.clone(), std::io::Error::other("exited at once")))?;
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await;
            let _ = exit_tx.send(status.ok().or_else(|| Some(ExitStatus::default())));
        });
        tracing::debug!(pid, ?argv, sandboxed = matches!(launch, Launch::Sandboxed(_)), "kernel started");
        let copy_marker = matches!(launch, Launch::Sandboxed(_)).then(|| sandbox::Staging::of(run_dir.path()).copy_marker);
        Ok(Self { pgid: Pid::from_raw(pid as i32), exit, copy_marker, _cgroup: cgroup })
    }

    /// Resolves when the kernel process has exited.
    pub async fn exited(&self) -> ExitStatus {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(status) => status.unwrap_or_default(),
            Err(_) => ExitStatus::default(),
        }
    }

    pub fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    /// Signals the kernel's whole process group, as jupyter_client does.
    pub fn signal(&self, signal: Signal) {
        if let Err(error) = killpg(self.pgid, signal) {
            tracing::debug!(%error, ?signal, "signalling the kernel's process group");
        }
    }

    /// Waits up to `grace` for the kernel to exit; then terminates it: SIGTERM to the process
    /// group ends a direct kernel, and makes a sandbox's PID 1 kill its kernel, copy the outputs
    /// out and exit (it is given up to `OUTPUT_COPY_LIMIT` while its copy marker exists). Last,
    /// SIGKILL to the group. Returns whether it was gone before the SIGKILL, that is whether a
    /// sandbox's outputs are complete. With a zero grace it goes straight to SIGKILL.
    pub async fn stop(&self, grace: Duration) -> bool {
        let mut exited = tokio::time::timeout(grace, self.exited()).await.is_ok();
        if !exited && !grace.is_zero() {
            self.signal(Signal::SIGTERM);
            exited = tokio::time::timeout(TERMINATE_GRACE, self.exited()).await.is_ok();
            if !exited && self.copy_marker.as_deref().is_some_and(Path::exists) {
                exited = tokio::time::timeout(OUTPUT_COPY_LIMIT, self.exited()).await.is_ok();
            }
        }
        self.signal(Signal::SIGKILL);
        let _ = tokio::time::timeout(Duration::from_secs(2), self.exited()).await;
        exited
    }
}

impl Drop for KernelProcess {
    fn drop(&mut self) {
        // Every exit path, panics and cancelled runs included, ends the kernel's process group.
        self.signal(Signal::SIGKILL);
    }
}
