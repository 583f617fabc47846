//! Collecting what the notebook wrote to `/work/out`, after the sandbox is gone: only regular
//! files, opened without following links, so a planted symlink or fifo can neither leak a host
//! file nor block the runner.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("collecting outputs from {path}: {source}")]
pub struct CollectError {
    path: PathBuf,
    source: std::io::Error,
}

/// What was copied and what was refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// Copies the regular files below `from` into `to` (same relative paths).
pub fn collect(from: &Path, to: &Path) -> Result<Collected, CollectError> {
    let mut collected = Collected::default();
    copy_dir(from, to, Path::new(""), &mut collected)?;
    Ok(collected)
}

fn copy_dir(from: &Path, to: &Path, relative: &Path, collected: &mut Collected) -> Result<(), CollectError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| CollectError { path, source }
    };
    let dir = from.join(relative);
    std::fs::create_dir_all(to.join(relative)).map_err(err(&to.join(relative)))?;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).map_err(err(&dir))?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = relative.join(entry.file_name());
        let kind = entry.file_type().map_err(err(&entry.path()))?;
        if kind.is_dir() {
            copy_dir(from, to, &rel, collected)?;
        } else if kind.is_file() {
            let mut source = OpenOptions::new()
                .read(true)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(entry.path())
                .map_err(err(&entry.path()))?;
            let mut target = std::fs::File::create(to.join(&rel)).map_err(err(&to.join(&rel)))?;
            std::io::copy(&mut source, &mut target).map_err(err(&entry.path()))?;
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
}
