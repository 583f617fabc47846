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
    let root = Path::new(ROOT);
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
        let root = Path::new(ROOT);
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
