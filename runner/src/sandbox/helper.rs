//! `runner __sandbox PLAN`: the single-threaded helper that builds the sandbox.
//!
//! Process tree (each level dies with its parent through PDEATHSIG):
//! - helper, in the host namespaces: joins the cgroup, forks, writes the child's uid/gid maps
//!   (only a process outside the new user namespace may map a different host id), waits;
//! - namespaces child: unshares user/mount/pid/net/ipc/uts, becomes the mapped ids, forks;
//! - init (PID 1 of the new pid namespace): builds the new root, forks the kernel and reaps every
//!   process; when it exits the kernel tears down the whole namespace;
//! - kernel: limits, capabilities dropped, Landlock, then `execve` of the kernel command.
//!
//! The exit status of the kernel travels up unchanged, so the runner sees the kernel's.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::{OFlag, openat};
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::signal::{SigHandler, Signal, signal};
use nix::sys::stat::Mode;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, fork, getppid, pipe2, setgroups, sethostname, setresgid, setresuid, setsid};

use super::{HOSTNAME, INSIDE_ID, Plan, mounts, outputs, restrict};

/// Exit code for a sandbox that could not be built (as `env` and shells use 125–127).
const SETUP_FAILED: i32 = 125;

#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("cannot read the sandbox plan {0}: {1}")]
    Plan(String, String),
    #[error("{0}: {1}")]
    Sys(&'static str, nix::Error),
    #[error("{0}: {1}")]
    Io(&'static str, std::io::Error),
    #[error(transparent)]
    Mount(#[from] mounts::MountError),
    #[error(transparent)]
    Restrict(#[from] restrict::RestrictError),
    #[error(transparent)]
    Outputs(#[from] outputs::CollectError),
    #[error("the runner exited before the sandbox started")]
    Orphaned,
}

fn sys(what: &'static str) -> impl FnOnce(nix::Error) -> HelperError {
    move |e| HelperError::Sys(what, e)
}

/// Entry point of the hidden subcommand; returns the process exit code.
pub fn main(plan_path: &Path) -> i32 {
    match run(plan_path) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("runner: sandbox: {error}");
            SETUP_FAILED
        }
    }
}

fn run(plan_path: &Path) -> Result<i32, HelperError> {
    let text = std::fs::read(plan_path).map_err(|e| HelperError::Plan(plan_path.display().to_string(), e.to_string()))?;
    let plan: Plan = serde_json::from_slice(&text).map_err(|e| HelperError::Plan(plan_path.display().to_string(), e.to_string()))?;
    // The runner interrupts a cell by signalling the kernel's process group, which holds this
    // helper and the namespaces child too: they must outlive a SIGINT; the kernel restores it.
    // SIGTERM is for the sandbox's PID 1 (see `end_sandbox`), which sets its own disposition.
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety question arises.
        unsafe { signal(sig, SigHandler::SigIgn) }.map_err(sys("ignoring SIGINT and SIGTERM"))?;
    }
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(sys("PR_SET_PDEATHSIG"))?;
    if getppid().as_raw() as u32 != plan.runner_pid {
        return Err(HelperError::Orphaned);
    }
    for procs in &plan.cgroup_procs {
        std::fs::write(procs, std::process::id().to_string()).map_err(|e| HelperError::Io("joining the cgroup", e))?;
    }
    let (unshared_read, unshared_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (mapped_read, mapped_write) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    // SAFETY: the helper is single-threaded (`__sandbox` starts no async runtime and no threads),
    // so the child may allocate and run ordinary code after the fork.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => {
            drop((unshared_read, mapped_write));
            std::process::exit(report(namespaces_child(&plan, unshared_write, mapped_read)));
        }
        ForkResult::Parent { child } => {
            drop((unshared_write, mapped_read));
            wait_for_byte(unshared_read)?;
            write_id_maps(child, &plan).map_err(|e| HelperError::Io("writing the uid/gid maps", e))?;
            send_byte(mapped_write)?;
            Ok(wait_for(child))
        }
    }
}

fn report(result: Result<i32, HelperError>) -> i32 {
    result.unwrap_or_else(|error| {
        eprintln!("runner: sandbox: {error}");
        SETUP_FAILED
    })
}

fn namespaces_child(plan: &Plan, unshared: OwnedFd, mapped: OwnedFd) -> Result<i32, HelperError> {
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(sys("PR_SET_PDEATHSIG"))?;
    let namespaces = CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS;
    unshare(namespaces).map_err(sys("unshare (user, mount, pid, net, ipc, uts namespaces)"))?;
    send_byte(unshared)?;
    wait_for_byte(mapped)?;
    // SAFETY: still single-threaded, as above.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => std::process::exit(report(init(plan))),
        ForkResult::Parent { child } => Ok(wait_for(child)),
    }
}

/// Leaves the runner's host uid for the sandbox's ids. Supplementary groups go first, while they
/// may still change; an unprivileged runner had to deny setgroups to map its gid, and then holds
/// no other group anyway.
fn become_sandbox_user() -> Result<(), HelperError> {
    match setgroups(&[]) {
        Ok(()) | Err(nix::Error::EPERM) => {}
        Err(e) => return Err(HelperError::Sys("setgroups", e)),
    }
    let gid = Gid::from_raw(INSIDE_ID);
    let uid = Uid::from_raw(INSIDE_ID);
    setresgid(gid, gid, gid).map_err(sys("setresgid"))?;
    setresuid(uid, uid, uid).map_err(sys("setresuid"))
}

/// SIGTERM handler of the sandbox's PID 1: the runner sends it when the kernel does not exit
/// after its shutdown request. Killing every other process of the namespace lets PID 1 reap the
/// kernel, copy the outputs out and exit, instead of losing them to a SIGKILL.
extern "C" fn end_sandbox(_: libc::c_int) {
    // SAFETY: kill(2) is async-signal-safe; from a pid namespace's init, -1 means every other
    // process of the namespace.
    unsafe {
        libc::kill(-1, libc::SIGKILL);
    }
}

/// PID 1 of the sandbox.
fn init(plan: &Plan) -> Result<i32, HelperError> {
    // SAFETY: the handler only calls kill(2), which is async-signal-safe.
    unsafe { signal(Signal::SIGTERM, SigHandler::Handler(end_sandbox)) }.map_err(sys("handling SIGTERM"))?;
    // Opened with the runner's host uid, which can still reach them; used after the switch.
    let sources = mounts::Sources::open(plan)?;
    become_sandbox_user()?;
    // After the id change, which clears the parent-death signal.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(sys("PR_SET_PDEATHSIG"))?;
    sethostname(HOSTNAME).map_err(sys("sethostname"))?;
    mounts::build_root(plan, &sources)?;
    forbid_nested_namespaces()?;
    // SAFETY: still single-threaded, as above.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Child => {
            let error = exec_kernel(plan);
            eprintln!("runner: sandbox: cannot start the kernel: {error}");
            std::process::exit(SETUP_FAILED)
        }
        ForkResult::Parent { child } => {
            let code = reap_until(child);
            let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_CLOEXEC;
            openat(sources.node_fd(&plan.staging_dir())?, super::COPYING_OUTPUTS_MARKER, flags, Mode::from_bits_truncate(0o600))
                .map_err(sys("marking the output copy"))?;
            let copied = outputs::copy_tree(&Path::new(super::WORK_DIR).join("out"), sources.node_fd(&plan.out_dir)?)?;
            copied.warn_skipped();
            Ok(code)
        }
    }
}

/// A nested user namespace would hand the kernel a fresh set of capabilities there; the limits
/// of this user namespace are ours to set, and zero means none can be created (EUSERS/ENOSPC).
fn forbid_nested_namespaces() -> Result<(), HelperError> {
    for kind in ["user", "mnt", "pid", "net", "ipc", "uts", "cgroup", "time"] {
        let path = format!("/proc/sys/user/max_{kind}_namespaces");
        if Path::new(&path).exists() {
            std::fs::write(&path, "0").map_err(|e| HelperError::Io("limiting nested namespaces", e))?;
        }
    }
    Ok(())
}

fn exec_kernel(plan: &Plan) -> HelperError {
    let result = (|| -> Result<std::convert::Infallible, HelperError> {
        for sig in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: restoring the default disposition installs no handler code.
            unsafe { signal(sig, SigHandler::SigDfl) }.map_err(sys("restoring SIGINT and SIGTERM"))?;
        }
        // A session of its own: no controlling terminal, so no TIOCSTI into the runner's
        // (CVE-2017-5226). The runner interrupts a sandboxed kernel by message, and ends it by
        // killing PID 1, which takes every process of the namespace along.
        setsid().map_err(sys("setsid"))?;
        std::fs::create_dir_all(super::HOME_DIR).map_err(|e| HelperError::Io("creating HOME", e))?;
        std::env::set_current_dir(super::WORK_DIR).map_err(|e| HelperError::Io("entering /work", e))?;
        restrict::limit_resources(&plan.limits)?;
        restrict::close_inherited_fds()?;
        restrict::drop_capabilities()?;
        restrict::landlock(plan)?;
        let argv = cstrings(plan.argv.iter().map(String::as_str))?;
        let env = cstrings(plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().iter().map(String::as_str))?;
        let program = argv.first().ok_or(HelperError::Plan("argv".into(), "empty".into()))?;
        nix::unistd::execve(program, &argv, &env).map_err(sys("execve"))
    })();
    match result {
        Err(error) => error,
        Ok(never) => match never {},
    }
}

fn cstrings<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<CString>, HelperError> {
    items.map(|s| CString::new(s).map_err(|_| HelperError::Plan("argv/env".into(), format!("NUL byte in {s:?}")))).collect()
}

/// Reaps every child (orphans are re-parented to PID 1) until the kernel itself exits.
fn reap_until(kernel: Pid) -> i32 {
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == kernel => return code,
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == kernel => return 128 + signal as i32,
            Err(nix::Error::EINTR) | Ok(_) => continue,
            Err(_) => return SETUP_FAILED,
        }
    }
}

fn wait_for(child: Pid) -> i32 {
    loop {
        match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, signal, _)) => return 128 + signal as i32,
            Err(nix::Error::EINTR) | Ok(_) => continue,
            Err(_) => return SETUP_FAILED,
        }
    }
}

/// Maps the inside ids to the host ids. A root runner maps to the dedicated host id; an
/// unprivileged one can only map its own ids, and must deny setgroups first.
fn write_id_maps(child: Pid, plan: &Plan) -> std::io::Result<()> {
    let proc_dir = format!("/proc/{child}");
    if !Uid::effective().is_root() {
        std::fs::write(format!("{proc_dir}/setgroups"), "deny")?;
    }
    std::fs::write(format!("{proc_dir}/uid_map"), format!("{INSIDE_ID} {} 1\n", plan.host_uid))?;
    std::fs::write(format!("{proc_dir}/gid_map"), format!("{INSIDE_ID} {} 1\n", plan.host_gid))
}

fn send_byte(fd: OwnedFd) -> Result<(), HelperError> {
    std::fs::File::from(fd).write_all(b"1").map_err(|e| HelperError::Io("signalling the sandbox", e))
}

fn wait_for_byte(fd: OwnedFd) -> Result<(), HelperError> {
    let mut byte = [0u8; 1];
    match std::fs::File::from(fd).read(&mut byte) {
        Ok(1) => Ok(()),
        Ok(_) => Err(HelperError::Io("waiting for the sandbox", std::io::Error::other("the other side exited"))),
        Err(e) => Err(HelperError::Io("waiting for the sandbox", e)),
    }
}
