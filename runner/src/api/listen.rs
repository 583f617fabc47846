//! Where the API listens: a unix socket only its owner may use (the default), and on request a
//! TCP port on loopback guarded by a bearer token read from a file.

use std::net::SocketAddr;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, umask};
use tokio::net::{TcpListener, UnixListener};

use super::auth::Token;

#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0} exists and is not a socket: refusing to replace it")]
    NotASocket(PathBuf),
    #[error("--listen {0}: the API listens on loopback only (127.0.0.1 or ::1); reach it from elsewhere through a proxy")]
    NotLoopback(SocketAddr),
    #[error("--listen {addr}: {source}")]
    Tcp { addr: SocketAddr, source: std::io::Error },
    #[error("token file {0} is empty")]
    EmptyToken(PathBuf),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ListenError + '_ {
    move |source| ListenError::Io { path: path.to_path_buf(), source }
}

/// Binds the unix socket, mode 0600. A socket left at `path` is from a daemon that is gone (the
/// caller holds the state lock), so it is replaced; any other file is not touched.
pub fn bind_unix(path: &Path) -> Result<UnixListener, ListenError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(ListenError::NotASocket(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io(path))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    // The socket is created with the umask's mode: set it so that it is never open to others,
    // not even between bind and a chmod. Done at start-up, before any run or thread is started.
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = std::os::unix::net::UnixListener::bind(path);
    umask(previous);
    let listener = bound.map_err(io(path))?;
    listener.set_nonblocking(true).map_err(io(path))?;
    UnixListener::from_std(listener).map_err(io(path))
}

/// Binds the loopback TCP port; any other address is refused.
pub async fn bind_tcp(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    if !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback(addr));
    }
    TcpListener::bind(addr).await.map_err(|source| ListenError::Tcp { addr, source })
}

/// The token in `path`, without surrounding whitespace (a trailing newline is common).
pub fn read_token(path: &Path) -> Result<Token, ListenError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ListenError::EmptyToken(path.to_path_buf()));
    }
    Ok(Token(token.into()))
}
