//! Which protection layers this host can enforce, checked before a run starts so that a missing
//! one is refused with its name instead of failing somewhere inside the helper.

use serde::Serialize;

use super::cgroup::{self, CgroupVersion};

/// Landlock ABI versions that bring the layers the sandbox relies on.
const LANDLOCK_NET_ABI: u32 = 4;
const LANDLOCK_SCOPE_ABI: u32 = 6;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Layers {
    pub namespaces: bool,
    pub landlock_abi: u32,
    pub landlock_fs: bool,
    pub landlock_net: bool,
    pub landlock_scopes: bool,
    pub cgroup: Option<CgroupVersion>,
    /// No seccomp filter yet: recorded so that its absence is visible.
    pub seccomp: bool,
}

impl Layers {
    /// The layers a full sandbox needs and this host lacks, named for the user.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.namespaces {
            missing.push("user namespaces (enable kernel.unprivileged_userns_clone or run as root)");
        }
        if !self.landlock_fs {
            missing.push("Landlock filesystem rules (kernel without Landlock, or not in the `lsm=` list)");
        }
        if !self.landlock_net {
            missing.push("Landlock TCP rules (needs Landlock ABI 4, Linux 6.7)");
        }
        if !self.landlock_scopes {
            missing.push("Landlock scopes for abstract sockets and signals (needs Landlock ABI 6, Linux 6.12)");
        }
        if self.cgroup.is_none() {
            missing.push("cgroup memory and pids limits (no writable cgroup v2 or v1 memory+pids hierarchy)");
        }
        missing
    }
}

/// Probes the running kernel.
pub fn probe() -> Layers {
    let abi = landlock_abi();
    Layers {
        namespaces: user_namespaces_available(),
        landlock_abi: abi,
        landlock_fs: abi >= 1,
        landlock_net: abi >= LANDLOCK_NET_ABI,
        landlock_scopes: abi >= LANDLOCK_SCOPE_ABI,
        cgroup: cgroup::available(),
        seccomp: false,
    }
}

fn user_namespaces_available() -> bool {
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").ok().and_then(|s| s.trim().parse::<u64>().ok());
    let unprivileged_off = std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone").is_ok_and(|s| s.trim() == "0");
    max.is_some_and(|m| m > 0) && (nix::unistd::Uid::effective().is_root() || !unprivileged_off)
}

/// The kernel's Landlock ABI version, 0 without Landlock.
fn landlock_abi() -> u32 {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, landlock_create_ruleset
    // only returns the ABI version (or an error); it reads and writes no memory.
    let version = unsafe {
        libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<libc::c_void>(), 0usize, LANDLOCK_CREATE_RULESET_VERSION)
    };
    u32::try_from(version).unwrap_or(0)
}
