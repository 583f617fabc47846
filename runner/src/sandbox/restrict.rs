//! What the kernel process gives up right before `execve`: resources, inherited descriptors,
//! capabilities, and (through Landlock) every file and network right it does not need.

use std::path::Path;

use caps::CapSet;
use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope,
};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::sys::resource::{Resource, setrlimit};

use super::{Limits, Plan, WORK_DIR};

#[derive(Debug, thiserror::Error)]
pub enum RestrictError {
    #[error("setting {0:?}: {1}")]
    Rlimit(Resource, nix::Error),
    #[error("closing inherited file descriptors: {0}")]
    Fds(String),
    #[error("dropping capabilities: {0}")]
    Caps(String),
    #[error("Landlock: {0}")]
    Landlock(String),
    #[error("Landlock is not fully enforced on this kernel ({0:?})")]
    LandlockNotEnforced(RulesetStatus),
}

pub fn limit_resources(limits: &Limits) -> Result<(), RestrictError> {
    for (resource, value) in
        [(Resource::RLIMIT_CORE, 0), (Resource::RLIMIT_FSIZE, limits.output_bytes), (Resource::RLIMIT_NOFILE, limits.open_files)]
    {
        setrlimit(resource, value, value).map_err(|e| RestrictError::Rlimit(resource, e))?;
    }
    Ok(())
}

/// Marks every descriptor above stdio close-on-exec: the kernel inherits nothing else.
pub fn close_inherited_fds() -> Result<(), RestrictError> {
    let entries = std::fs::read_dir("/proc/self/fd").map_err(|e| RestrictError::Fds(e.to_string()))?;
    let fds: Vec<i32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).filter(|&fd| fd > 2).collect();
    for fd in fds {
        // SAFETY: the process is single-threaded, so no descriptor number is closed and reused
        // between the listing and this call, except read_dir's own, already closed: then fcntl
        // fails with EBADF, which is ignored. The borrow ends with the call.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let _ = fcntl(borrowed, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    Ok(())
}

/// Empties every capability set; `setresuid` inside a user namespace keeps them otherwise.
pub fn drop_capabilities() -> Result<(), RestrictError> {
    let err = |e: caps::errors::CapsError| RestrictError::Caps(e.to_string());
    for cap in caps::all() {
        caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
    }
    for set in [CapSet::Ambient, CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(err)?;
    }
    Ok(())
}

/// Landlock with every right this crate knows of handled, read-only rules for what is mounted
/// read-only, read-write rules for scratch and outputs (where no links, fifos or devices may be
/// made), no TCP at all, and abstract sockets and signals scoped to the sandbox. Full enforcement
/// is required unless the user accepted a weaker sandbox (the runner checked the ABI first).
pub fn landlock(plan: &Plan) -> Result<(), RestrictError> {
    let abi = ABI::V6;
    let compat = if plan.weaker_ok { CompatLevel::BestEffort } else { CompatLevel::HardRequirement };
    let err = |e: landlock::RulesetError| RestrictError::Landlock(e.to_string());
    let read = AccessFs::from_read(abi);
    let write_files = AccessFs::from_all(abi) & !(AccessFs::MakeSym | AccessFs::MakeFifo | AccessFs::MakeChar | AccessFs::MakeBlock);
    let read_only: Vec<&Path> = plan
        .read_only
        .iter()
        .map(|p| p.as_path())
        .chain([Path::new("/etc"), Path::new("/proc"), Path::new(WORK_DIR), Path::new("/dev")])
        .collect();
    let mut ruleset = Ruleset::default()
        .set_compatibility(compat)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .handle_access(AccessNet::from_all(abi))
        .map_err(err)?
        .scope(Scope::AbstractUnixSocket | Scope::Signal)
        .map_err(err)?
        .create()
        .map_err(err)?;
    // Listing directories is harmless: everything visible was chosen when the root was built.
    ruleset = ruleset.add_rule(rule(Path::new("/"), AccessFs::ReadDir.into())?).map_err(err)?;
    for path in read_only {
        ruleset = ruleset.add_rule(rule(path, read)?).map_err(err)?;
    }
    for path in [Path::new("/tmp"), Path::new("/dev/shm"), Path::new(&format!("{WORK_DIR}/out")), plan.ipc_dir.as_path()] {
        ruleset = ruleset.add_rule(rule(path, write_files)?).map_err(err)?;
    }
    for device in ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"] {
        ruleset = ruleset.add_rule(rule(Path::new(device), AccessFs::from_file(abi))?).map_err(err)?;
    }
    let status = ruleset.restrict_self().map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => Ok(()),
        _ if plan.weaker_ok => Ok(()),
        other => Err(RestrictError::LandlockNotEnforced(other)),
    }
}

/// A rule on an existing path: a missing one is an error, not silently skipped.
fn rule(path: &Path, access: BitFlags<AccessFs>) -> Result<PathBeneath<PathFd>, RestrictError> {
    let fd = PathFd::new(path).map_err(|e| RestrictError::Landlock(format!("{}: {e}", path.display())))?;
    let is_dir = path.is_dir();
    let access = if is_dir { access } else { access & AccessFs::from_file(ABI::V6) };
    Ok(PathBeneath::new(fd, access))
}
