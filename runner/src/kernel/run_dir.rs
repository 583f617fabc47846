//! A run's private directory under /tmp: the connection file and the ipc socket files (the only
//! part a sandbox sees), and the staging of its data. Its runner holds a lock on it while it
//! lives; a runner that was killed (SIGKILL, a crash) cannot remove it, so every new run removes
//! the directories, and the cgroups of the same name, whose lock nobody holds any more.

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::KernelError;
use crate::sandbox::Cgroup;

const PREFIX: &str = "tiffin-";
const NAME_LEN: usize = 10;
const LOCK_FILE: &str = "lock";
/// A run dir younger than this is never taken for stale: its runner may be between creating the
/// lock file and locking it.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// A 0700 directory holding the connection file and the ipc socket files; removed on drop
/// (ipykernel leaves its socket files behind).
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Held while the run lives: it tells a later run this directory is not stale.
    _lock: Flock<File>,
}

fn base_dir() -> PathBuf {
    let base = std::env::temp_dir();
    // ipc socket paths must fit in `sun_path` (108 bytes).
    if base.as_os_str().len() > 60 { PathBuf::from("/tmp") } else { base }
}

impl RunDir {
    /// Creates a short private dir (after removing the ones killed runs left).
    pub fn create() -> Result<Self, KernelError> {
        let base = base_dir();
        remove_stale(&base);
        let mut last_error = None;
        for _ in 0..8 {
            let suffix = &uuid::Uuid::new_v4().simple().to_string()[..NAME_LEN];
            let path = base.join(format!("{PREFIX}{suffix}"));
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let lock = lock(&path).map_err(|e| KernelError::RunDir(path.join(LOCK_FILE), e))?;
                    let run_dir = Self { path, _lock: lock };
                    DirBuilder::new().mode(0o700).create(run_dir.ipc_dir()).map_err(|e| KernelError::RunDir(run_dir.ipc_dir(), e))?;
                    return Ok(run_dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last_error = Some(e),
                Err(e) => return Err(KernelError::RunDir(path, e)),
            }
        }
        Err(KernelError::RunDir(base, last_error.unwrap_or_else(|| std::io::Error::other("no free name"))))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Holds the connection file and the socket files (the only part a sandbox sees).
    pub fn ipc_dir(&self) -> PathBuf {
        self.path.join("ipc")
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), %error, "could not remove the kernel's run dir");
        }
    }
}

/// Takes the run's lock, or fails at once if another process holds it.
fn lock(dir: &Path) -> std::io::Result<Flock<File>> {
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK_FILE))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| std::io::Error::from(errno))
}

/// Removes the run dirs (and same-named cgroups) whose runner is gone: their lock is free.
/// Dirs without a lock file (from runners before the lock) and young ones are left alone.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let is_run_dir =
            name.strip_prefix(PREFIX).is_some_and(|suffix| suffix.len() == NAME_LEN && suffix.bytes().all(|b| b.is_ascii_hexdigit()));
        let path = entry.path();
        let age = std::fs::metadata(path.join(LOCK_FILE)).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if !is_run_dir || age.is_none_or(|age| age < STALE_AFTER) {
            continue;
        }
        // Held: a live run. Free: its runner died; holding it now keeps two cleaners apart.
        let Ok(_held) = lock(&path) else { continue };
        Cgroup::remove_stale(&name);
        match std::fs::remove_dir_all(&path) {
            Ok(()) => tracing::info!(dir = %path.display(), "removed the run dir of a runner that was killed"),
            Err(error) => tracing::warn!(dir = %path.display(), %error, "could not remove a stale run dir"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_dir(base: &Path, name: &str, age: std::time::Duration) -> PathBuf {
        let dir = base.join(name);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = File::create(dir.join(LOCK_FILE)).unwrap_or_else(|e| panic!("{e}"));
        file.set_modified(std::time::SystemTime::now() - age).unwrap_or_else(|e| panic!("{e}"));
        dir
    }

    #[test]
    fn only_old_dirs_whose_lock_is_free_are_removed() {
        let base = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let old = STALE_AFTER * 2;
        let dead = run_dir(base.path(), "tiffin-0123456789", old);
        let live = run_dir(base.path(), "tiffin-abcdef0123", old);
        let starting = run_dir(base.path(), "tiffin-0000000000", std::time::Duration::ZERO);
        let foreign = run_dir(base.path(), "tiffin-notours", old);
        let _held = lock(&live).unwrap_or_else(|e| panic!("{e}"));
        remove_stale(base.path());
        assert!(!dead.exists());
        assert!(live.exists());
        assert!(starting.exists(), "a run dir being set up is not stale");
        assert!(foreign.exists());
    }
}
