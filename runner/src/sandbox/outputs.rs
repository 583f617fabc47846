//! Copying what the notebook wrote to `/work/out`: only regular files and directories, opened
//! without following links and created with `openat` below a directory descriptor, so a planted
//! symlink or fifo can neither leak a host file nor block the copy. The sandbox's PID 1 uses it to
//! move the outputs to the host; the runner uses it again for `--outputs DIR`.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::{Mode, mkdirat};

#[derive(Debug, thiserror::Error)]
#[error("copying outputs from {path}: {source}")]
pub struct CollectError {
    path: PathBuf,
    source: std::io::Error,
}

/// What was copied and what was refused (relative paths).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, &'static str)>,
}

impl Collected {
    /// Names on stderr what was left behind, and why.
    pub fn warn_skipped(&self) {
        for (path, why) in &self.skipped {
            eprintln!("runner: warning: output {} was not collected: it is {why}", path.display());
        }
    }
}

/// Copies the regular files below `from` into the directory `to` (created if missing).
pub fn collect(from: &Path, to: &Path) -> Result<Collected, CollectError> {
    std::fs::create_dir_all(to).map_err(err(to))?;
    let dir = open(to, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).map_err(|e| err(to)(e.into()))?;
    copy_tree(from, &dir)
}

/// Copies the regular files and directories below `from` into the directory open as `to`.
pub fn copy_tree(from: &Path, to: &OwnedFd) -> Result<Collected, CollectError> {
    let mut collected = Collected::default();
    copy_dir(from, to, Path::new(""), &mut collected)?;
    Ok(collected)
}

fn err(path: &Path) -> impl FnOnce(std::io::Error) -> CollectError + '_ {
    move |source| CollectError { path: path.to_path_buf(), source }
}

fn copy_dir(from: &Path, to: &OwnedFd, relative: &Path, collected: &mut Collected) -> Result<(), CollectError> {
    let dir = from.join(relative);
    let mut entries: Vec<_> = std::fs::read_dir(&dir).map_err(err(&dir))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let (path, name, rel) = (entry.path(), entry.file_name(), relative.join(entry.file_name()));
        let kind = entry.file_type().map_err(err(&path))?;
        if kind.is_dir() {
            match mkdirat(to, name.as_os_str(), Mode::from_bits_truncate(0o755)) {
                Ok(()) | Err(nix::Error::EEXIST) => {}
                Err(e) => return Err(err(&path)(e.into())),
            }
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let sub = openat(to, name.as_os_str(), flags, Mode::empty()).map_err(|e| err(&path)(e.into()))?;
            copy_dir(from, &sub, &rel, collected)?;
        } else if kind.is_file() {
            let mut source = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags((OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK).bits())
                .open(&path)
                .map_err(err(&path))?;
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let target = openat(to, name.as_os_str(), flags, Mode::from_bits_truncate(0o644)).map_err(|e| err(&path)(e.into()))?;
            std::io::copy(&mut source, &mut std::fs::File::from(target)).map_err(err(&path))?;
            collected.files.push(rel);
        } else {
            let what = if kind.is_symlink() { "a symlink" } else { "not a regular file" };
            collected.skipped.push((rel, what));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_regular_files_and_skips_links_and_fifos() {
        let out = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("a.csv"), "x\n1\n").unwrap();
        std::fs::create_dir(out.path().join("sub")).unwrap();
        std::fs::write(out.path().join("sub/b.txt"), "b").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", out.path().join("link")).unwrap();
        nix::unistd::mkfifo(&out.path().join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let collected = collect(out.path(), dest.path()).unwrap();
        assert_eq!(collected.files, vec![PathBuf::from("a.csv"), PathBuf::from("sub/b.txt")]);
        assert_eq!(collected.skipped, vec![(PathBuf::from("fifo"), "not a regular file"), (PathBuf::from("link"), "a symlink")]);
        assert_eq!(std::fs::read_to_string(dest.path().join("sub/b.txt")).unwrap(), "b");
        assert!(!dest.path().join("link").exists());
    }

    #[test]
    fn a_symlink_planted_in_the_destination_is_not_followed() {
        let out = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let victim = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(out.path().join("a.csv"), "new").unwrap();
        std::os::unix::fs::symlink(victim.path(), dest.path().join("a.csv")).unwrap();
        assert!(collect(out.path(), dest.path()).is_err());
        assert_eq!(std::fs::read_to_string(victim.path()).unwrap(), "");
    }
}
