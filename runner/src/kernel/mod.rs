//! A Jupyter kernel driven over ZeroMQ: discovery, launch, messaging, shutdown.

mod client;
mod launch;
mod message;
mod run_dir;
pub mod spec;

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

pub use client::KernelEvent;
pub use message::Message;
pub use spec::{InterruptMode, KernelSpec, SpecError};

use client::Client;
use launch::KernelProcess;
pub use launch::Launch;
pub use run_dir::RunDir;

/// How long a kernel asked to shut down may take to exit before it is killed, as jupyter_client's
/// `shutdown_wait_time`. ipykernel usually exits in 0.2 s, slower with heavy imports (matplotlib),
/// and now and then hangs in a ZeroMQ send at exit (seen with jupyter_client too).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long messages still in flight from a kernel that just exited are waited for.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error("cannot create the kernel's run dir {0}: {1}")]
    RunDir(PathBuf, std::io::Error),
    #[error("no randomness for the connection key: {0}")]
    Random(String),
    #[error("cannot start kernel {0}: {1}")]
    Spawn(String, std::io::Error),
    #[error("kernel exited during start-up ({0})")]
    ExitedAtStartup(String),
    #[error("kernel did not become ready within {0:?}")]
    StartupTimeout(Duration),
    #[error("cannot connect to the kernel: {0}")]
    Connect(String),
    #[error("cannot send to the kernel: {0}")]
    Send(String),
    #[error("cannot set up the sandbox: {0}")]
    Sandbox(String),
}

/// Why the kernel is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Death {
    Exited(String),
    HeartbeatLost,
}

impl std::fmt::Display for Death {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited(status) => write!(f, "the kernel process exited ({status})"),
            Self::HeartbeatLost => write!(f, "the kernel stopped answering its heartbeat"),
        }
    }
}

/// What waiting on a running kernel yields.
#[derive(Debug)]
pub enum Update {
    Event(KernelEvent),
    Died(Death),
}

/// A kernel that is gone, and the run dir it leaves for the caller to collect outputs from.
pub struct Stopped {
    pub run_dir: RunDir,
    /// It exited by itself (a sandbox: after copying its outputs out), not killed.
    pub clean: bool,
}

/// A started, connected kernel. Dropping it kills the process group and removes the run dir.
pub struct Kernel {
    spec: KernelSpec,
    client: Client,
    // Field order matters for drop: the process is killed before its run dir is removed.
    process: KernelProcess,
    run_dir: RunDir,
    language_info: Value,
    sandboxed: bool,
}

impl Kernel {
    /// Launches the kernel and waits until it answers kernel_info and its IOPub is known to reach
    /// us (the JEP 65 `iopub_welcome`, or for older kernels an IOPub message about our request).
    /// `run_dir` is the run's private dir (see `RunDir`), removed when the kernel is done with.
    pub async fn start(spec: KernelSpec, launch: &Launch, run_dir: RunDir, timeout: Duration) -> Result<Self, KernelError> {
        let info = launch::connection_info(&run_dir, &spec.name)?;
        let process = KernelProcess::spawn(&spec, &info, &run_dir, launch)?;
        let sockets = launch::socket_paths(&info);
        let ready = async {
            tokio::select! {
                () = client::sockets_ready(&sockets) => {}
                status = process.exited() => return Err(KernelError::ExitedAtStartup(status.to_string())),
            }
            let mut client = Client::connect(&info).await?;
            let language_info = handshake(&mut client, &process).await?;
            Ok((client, language_info))
        };
        let launched = std::time::Instant::now();
        let (client, language_info) = tokio::time::timeout(timeout, ready).await.map_err(|_| KernelError::StartupTimeout(timeout))??;
        tracing::debug!(took = ?launched.elapsed(), "kernel ready");
        Ok(Self { spec, client, process, run_dir, language_info, sandboxed: matches!(launch, Launch::Sandboxed(_)) })
    }

    pub fn spec(&self) -> &KernelSpec {
        &self.spec
    }

    /// `language_info` from the kernel's kernel_info_reply.
    pub fn language_info(&self) -> &Value {
        &self.language_info
    }

    /// Sends the code for execution; returns the request's msg_id. With `stop_on_error` the
    /// kernel aborts requests queued behind a failing one.
    pub async fn execute(&mut self, code: &str, stop_on_error: bool) -> Result<String, KernelError> {
        self.client.execute(code, stop_on_error).await
    }

    /// The next message, or the kernel's death (noticed the moment the process exits, once the
    /// messages it sent before dying have been drained).
    pub async fn next(&mut self) -> Update {
        tokio::select! {
            biased;
            event = self.client.next_event() => Self::update_from(event),
            status = self.process.exited() => {
                match tokio::time::timeout(DRAIN_AFTER_EXIT, self.client.next_event()).await {
                    Ok(Some(event @ (KernelEvent::IoPub(_) | KernelEvent::ShellReply(_)))) => Update::Event(event),
                    _ => Update::Died(Death::Exited(status.to_string())),
                }
            }
        }
    }

    fn update_from(event: Option<KernelEvent>) -> Update {
        match event {
            Some(KernelEvent::HeartbeatLost) | None => Update::Died(Death::HeartbeatLost),
            Some(event) => Update::Event(event),
        }
    }

    /// Interrupts the running cell the way the kernelspec asks for; a sandboxed kernel is in a
    /// session of its own, out of reach of the runner's signals, so it gets the message.
    pub async fn interrupt(&mut self) {
        let mode = if self.sandboxed { InterruptMode::Message } else { self.spec.interrupt_mode };
        match mode {
            InterruptMode::Signal => self.process.signal(Signal::SIGINT),
            InterruptMode::Message => {
                if let Err(error) = self.client.interrupt().await {
                    tracing::warn!(%error, "interrupt request failed");
                }
            }
        }
    }

    /// Asks the kernel to shut down, then makes sure its whole process group is gone. The run
    /// dir is handed back so the caller can collect outputs before it is removed.
    pub async fn shutdown(mut self) -> Stopped {
        if !self.process.has_exited()
            && let Err(error) = self.client.shutdown().await
        {
            tracing::debug!(%error, "shutdown request failed");
        }
        let asked = std::time::Instant::now();
        let clean = self.process.stop(SHUTDOWN_GRACE).await;
        tracing::debug!(took = ?asked.elapsed(), clean, "kernel shut down");
        Stopped { run_dir: self.run_dir, clean }
    }

    /// Kills the kernel at once (timeouts that an interrupt did not end, a dead heartbeat).
    pub async fn kill(self) -> Stopped {
        self.process.stop(Duration::ZERO).await;
        Stopped { run_dir: self.run_dir, clean: false }
    }
}

async fn handshake(client: &mut Client, process: &KernelProcess) -> Result<Value, KernelError> {
    let mut request = client.kernel_info().await?;
    let mut iopub_seen = false;
    let mut language_info = None;
    loop {
        let event = tokio::select! {
            event = client.next_event() => event,
            status = process.exited() => return Err(KernelError::ExitedAtStartup(status.to_string())),
            // A reply without any IOPub traffic means our subscription was not in place yet.
            () = tokio::time::sleep(Duration::from_secs(1)), if language_info.is_some() => {
                request = client.kernel_info().await?;
                continue;
            }
        };
        match event {
            Some(KernelEvent::IoPub(message)) if message.msg_type == "iopub_welcome" || message.is_reply_to(&request) => iopub_seen = true,
            Some(KernelEvent::ShellReply(message)) if message.msg_type == "kernel_info_reply" => {
                language_info = Some(message.content.get("language_info").cloned().unwrap_or(Value::Null));
            }
            Some(KernelEvent::HeartbeatLost) | None => return Err(KernelError::Connect("the kernel stopped answering".into())),
            Some(_) => {}
        }
        if let (true, Some(info)) = (iopub_seen, &language_info) {
            return Ok(info.clone());
        }
    }
}
