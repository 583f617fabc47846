//! Memory and process limits through a cgroup per run: cgroup v2 where the host has it, else the
//! v1 `memory` and `pids` controllers. The runner creates and removes it; the helper joins it
//! before forking, so every process of the sandbox is counted.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::Limits;

const ROOT: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupVersion {
    V1,
    V2,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the cgroup {path}: {source}")]
pub struct CgroupError {
    path: PathBuf,
    source: std::io::Error,
}

/// Which hierarchy this host offers for memory and pids limits, if any is writable.
pub fn available() -> Option<CgroupVersion> {
    available_in(Path::new(ROOT))
}

fn available_in(root: &Path) -> Option<CgroupVersion> {
    let v2 = std::fs::read_to_string(root.join("cgroup.controllers")).ok();
    if v2.is_some_and(|c| c.split_whitespace().any(|x| x == "memory") && c.split_whitespace().any(|x| x == "pids")) && writable(root) {
        return Some(CgroupVersion::V2);
    }
    let v1 = ["memory", "pids"].iter().all(|c| writable(&root.join(c)));
    v1.then_some(CgroupVersion::V1)
}

fn writable(dir: &Path) -> bool {
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
}

/// A run's cgroup; removed when dropped (once its processes are gone).
#[derive(Debug)]
pub struct Cgroup {
    pub version: CgroupVersion,
    dirs: Vec<PathBuf>,
}

impl Cgroup {
    pub fn create(version: CgroupVersion, name: &str, limits: &Limits) -> Result<Self, CgroupError> {
        Self::create_in(Path::new(ROOT), version, name, limits)
    }

    fn create_in(root: &Path, version: CgroupVersion, name: &str, limits: &Limits) -> Result<Self, CgroupError> {
        let settings: Vec<(PathBuf, Vec<(&str, String)>)> = match version {
            CgroupVersion::V2 => vec![(
                root.join(name),
                vec![
                    ("memory.max", limits.memory_bytes.to_string()),
                    ("memory.swap.max", "0".into()),
                    ("pids.max", limits.pids.to_string()),
                ],
            )],
            CgroupVersion::V1 => vec![
                (
                    root.join("memory").join(name),
                    vec![
                        ("memory.limit_in_bytes", limits.memory_bytes.to_string()),
                        ("memory.memsw.limit_in_bytes", limits.memory_bytes.to_string()),
                    ],
                ),
                (root.join("pids").join(name), vec![("pids.max", limits.pids.to_string())]),
            ],
        };
        if version == CgroupVersion::V2 {
            // Best effort: the controllers may already be enabled for children, or be managed.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory +pids");
        }
        let mut cgroup = Self { version, dirs: Vec::new() };
        for (dir, files) in settings {
            std::fs::create_dir(&dir).map_err(|source| CgroupError { path: dir.clone(), source })?;
            cgroup.dirs.push(dir.clone());
            for (file, value) in files {
                let path = dir.join(file);
                // Swap accounting files exist only where swap accounting is on.
                if file.contains("sw") && !path.exists() {
                    continue;
                }
                std::fs::write(&path, &value).map_err(|source| CgroupError { path, source })?;
            }
        }
        Ok(cgroup)
    }

    /// Removes the cgroups named `name` of a run whose runner was killed; one that still has
    /// processes cannot be removed (the kernel refuses) and stays.
    pub fn remove_stale(name: &str) {
        let root = Path::new(ROOT);
        for dir in [root.join(name), root.join("memory").join(name), root.join("pids").join(name)] {
            if dir.is_dir()
                && let Err(error) = std::fs::remove_dir(&dir)
            {
                tracing::warn!(dir = %dir.display(), %error, "could not remove a stale cgroup");
            }
        }
    }

    /// The `cgroup.procs` files a process writes its pid into to join.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            // The last processes may take a moment to leave after being killed.
            let removed = (0..50).any(|_| {
                std::fs::remove_dir(dir).is_ok() || !dir.exists() || {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                    false
                }
            });
            if !removed {
                tracing::warn!(dir = %dir.display(), "could not remove the run's cgroup");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { memory_bytes: 256 << 20, pids: 64, ..Limits::default() }
    }

    fn read(path: PathBuf) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    /// Empties a fake cgroup dir so that dropping the Cgroup can remove it, as the kernel's
    /// cgroupfs lets an empty cgroup be removed whatever its control files.
    fn empty(dir: &Path) {
        for entry in std::fs::read_dir(dir).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }

    #[test]
    fn v2_writes_memory_and_pids_limits_in_one_dir() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        assert_eq!(available_in(root.path()), Some(CgroupVersion::V2));
        let cgroup = Cgroup::create_in(root.path(), CgroupVersion::V2, "run-1", &limits()).unwrap();
        let dir = root.path().join("run-1");
        assert_eq!(read(dir.join("memory.max")), (256u64 << 20).to_string());
        assert_eq!(read(dir.join("pids.max")), "64");
        assert_eq!(cgroup.procs_files(), vec![dir.join("cgroup.procs")]);
        empty(&dir);
    }

    #[test]
    fn v1_writes_each_controller_and_skips_absent_swap_accounting() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("memory")).unwrap();
        std::fs::create_dir_all(root.path().join("pids")).unwrap();
        assert_eq!(available_in(root.path()), Some(CgroupVersion::V1));
        let cgroup = Cgroup::create_in(root.path(), CgroupVersion::V1, "run-2", &limits()).unwrap();
        let (memory, pids) = (root.path().join("memory/run-2"), root.path().join("pids/run-2"));
        assert_eq!(read(memory.join("memory.limit_in_bytes")), (256u64 << 20).to_string());
        assert!(!memory.join("memory.memsw.limit_in_bytes").exists());
        assert_eq!(read(pids.join("pids.max")), "64");
        assert_eq!(cgroup.procs_files(), vec![memory.join("cgroup.procs"), pids.join("cgroup.procs")]);
        empty(&memory);
        empty(&pids);
    }

    #[test]
    fn a_hierarchy_without_memory_and_pids_is_not_usable() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), "cpu io\n").unwrap();
        assert_eq!(available_in(root.path()), None);
    }
}
