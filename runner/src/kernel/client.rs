//! The ZeroMQ side: sockets to a started kernel, a reader task per incoming channel so IOPub is
//! drained continuously (ipykernel drops messages for a stalled reader), and a heartbeat.

use std::path::PathBuf;
use std::time::Duration;

use jupyter_protocol::{ConnectionInfo, ExecuteRequest, InterruptRequest, JupyterMessage, KernelInfoRequest, ShutdownRequest};
use jupyter_zmq_client::{
    ClientControlConnection, ClientHeartbeatConnection, Connection, DealerSendConnection, RawMessage, create_client_control_connection,
    create_client_heartbeat_connection, create_client_iopub_connection, create_client_shell_connection_with_identity,
    peer_identity_for_session,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use zeromq::SocketRecv;

use super::KernelError;
use super::message::Message;

/// Something the kernel said or did, in the order the runner learned of it.
#[derive(Debug)]
pub enum KernelEvent {
    IoPub(Message),
    ShellReply(Message),
    /// The heartbeat went unanswered for `HEARTBEAT_MISSES` periods in a row.
    HeartbeatLost,
}

const HEARTBEAT_PERIOD: Duration = Duration::from_millis(500);
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);
const HEARTBEAT_MISSES: u32 = 3;

/// Connected sockets; the reader tasks stop when this is dropped.
pub struct Client {
    session: String,
    shell: DealerSendConnection,
    control: ClientControlConnection,
    events: mpsc::UnboundedReceiver<KernelEvent>,
    tasks: Vec<JoinHandle<()>>,
}

impl Client {
    /// Connects all channels. The caller has checked that the socket files exist: zeromq's
    /// connect otherwise retries with a backoff that costs hundreds of milliseconds.
    pub async fn connect(info: &ConnectionInfo) -> Result<Self, KernelError> {
        let session = uuid::Uuid::new_v4().to_string();
        let zmq = |e: jupyter_zmq_client::RuntimeError| KernelError::Connect(e.to_string());
        let iopub = create_client_iopub_connection(info, "", &session).await.map_err(zmq)?;
        let identity = peer_identity_for_session(&session).map_err(zmq)?;
        let shell = create_client_shell_connection_with_identity(info, &session, identity).await.map_err(zmq)?;
        let control = create_client_control_connection(info, &session).await.map_err(zmq)?;
        let (shell, shell_replies) = shell.split();

        let (tx, events) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(read_channel(iopub, tx.clone(), KernelEvent::IoPub)),
            tokio::spawn(read_channel(shell_replies, tx.clone(), KernelEvent::ShellReply)),
            tokio::spawn(watch_heartbeat(info.clone(), tx)),
        ];
        Ok(Self { session, shell, control, events, tasks })
    }

    pub async fn next_event(&mut self) -> Option<KernelEvent> {
        self.events.recv().await
    }

    /// Sends an execute request and returns its msg_id.
    pub async fn execute(&mut self, code: &str, stop_on_error: bool) -> Result<String, KernelError> {
        let request = ExecuteRequest {
            code: code.to_owned(),
            silent: false,
            store_history: true,
            user_expressions: None,
            allow_stdin: false,
            stop_on_error,
        };
        self.send_shell(request.into()).await
    }

    pub async fn kernel_info(&mut self) -> Result<String, KernelError> {
        self.send_shell(KernelInfoRequest {}.into()).await
    }

    async fn send_shell(&mut self, message: JupyterMessage) -> Result<String, KernelError> {
        let id = message.header.msg_id.clone();
        self.shell.send(message).await.map_err(|e| KernelError::Send(e.to_string()))?;
        Ok(id)
    }

    /// For kernels whose spec asks for `interrupt_mode: message`.
    pub async fn interrupt(&mut self) -> Result<(), KernelError> {
        self.send_control(InterruptRequest {}.into()).await
    }

    pub async fn shutdown(&mut self) -> Result<(), KernelError> {
        self.send_control(ShutdownRequest { restart: false }.into()).await
    }

    async fn send_control(&mut self, message: JupyterMessage) -> Result<(), KernelError> {
        let message = message.with_session(&self.session);
        self.control.send(message).await.map_err(|e| KernelError::Send(e.to_string()))
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Forwards every decodable message of one channel. A frame that fails to decode has already
/// been consumed: it is logged and the reader goes on.
async fn read_channel<S: SocketRecv>(
    mut connection: Connection<S>,
    tx: mpsc::UnboundedSender<KernelEvent>,
    wrap: fn(Message) -> KernelEvent,
) {
    loop {
        let frames = match connection.socket.recv().await {
            Ok(frames) => frames,
            Err(error) => {
                tracing::debug!(%error, "kernel channel closed");
                return;
            }
        };
        let decoded = RawMessage::from_multipart(frames, &connection.mac)
            .map_err(|e| e.to_string())
            .and_then(|raw| Message::from_raw(&raw).map_err(|e| e.to_string()));
        match decoded {
            Ok(message) => {
                if tx.send(wrap(message)).is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "dropping an undecodable kernel message"),
        }
    }
}

/// Pings the kernel's heartbeat. Connecting is inside the time limit too: zeromq's connect waits
/// for the peer's greeting, which a frozen kernel never sends. A REQ socket that timed out is out
/// of step, so each miss gets a fresh socket.
async fn watch_heartbeat(info: ConnectionInfo, tx: mpsc::UnboundedSender<KernelEvent>) {
    let mut misses = 0;
    let mut socket: Option<ClientHeartbeatConnection> = None;
    loop {
        tokio::time::sleep(HEARTBEAT_PERIOD).await;
        let beat = tokio::time::timeout(HEARTBEAT_TIMEOUT, async {
            let hb = match socket.as_mut() {
                Some(hb) => hb,
                None => socket.insert(create_client_heartbeat_connection(&info).await?),
            };
            hb.single_heartbeat().await
        })
        .await;
        if matches!(beat, Ok(Ok(()))) {
            misses = 0;
            continue;
        }
        socket = None;
        misses += 1;
        tracing::debug!(misses, "heartbeat missed");
        if misses >= HEARTBEAT_MISSES {
            let _ = tx.send(KernelEvent::HeartbeatLost);
            return;
        }
    }
}

/// Polls for the kernel's socket files (the caller bounds the wait).
pub async fn sockets_ready(paths: &[PathBuf]) {
    while !paths.iter().all(|p| p.exists()) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
