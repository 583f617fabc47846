//! The sandbox's filesystem: a tmpfs root holding read-only binds of what the kernel needs,
//! `/work/{in,out}`, a private `/tmp`, a minimal `/dev` and `/etc`, a fresh `/proc`; then
//! `pivot_root` and the root itself made read-only.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{OFlag, open};
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::Mode;
use nix::sys::statvfs::{FsFlags, statvfs};

use super::{HOME_DIR, INSIDE_ID, Plan, WORK_DIR};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount {what} at {target}: {source}")]
    Mount { what: String, target: PathBuf, source: nix::Error },
    #[error("preparing {path}: {source}")]
    Prepare { path: PathBuf, source: std::io::Error },
    #[error("pivot_root into {0}: {1}")]
    Pivot(PathBuf, nix::Error),
}

const DEVICES: [&str; 4] = ["null", "zero", "random", "urandom"];
/// Host files under /etc that ordinary programs read; everything else of /etc stays hidden.
const ETC_FILES: [&str; 6] = ["ld.so.cache", "localtime", "nsswitch.conf", "mime.types", "alternatives", "fonts"];

fn prepare(path: &Path) -> impl FnOnce(std::io::Error) -> MountError + '_ {
    move |source| MountError::Prepare { path: path.to_path_buf(), source }
}

fn do_mount(source: Option<&Path>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> Result<(), MountError> {
    mount(source, target, fstype, flags, data).map_err(|source_err| MountError::Mount {
        what: source.map(|s| s.display().to_string()).or(fstype.map(str::to_owned)).unwrap_or_else(|| "remount".into()),
        target: target.to_path_buf(),
        source: source_err,
    })
}

/// `host` as seen below the new root.
fn inside(root: &Path, host: &Path) -> PathBuf {
    root.join(host.strip_prefix("/").unwrap_or(host))
}

/// A bind source opened while the helper still has the runner's host uid: the kernel's uid may
/// not be able to walk to it (a Python under `/root/.pyenv`), but binding from the open
/// descriptor needs no path walk.
enum Source {
    Symlink(PathBuf),
    Node { fd: OwnedFd, is_dir: bool, is_device: bool, locked: MsFlags },
}

/// Every bind source of the plan, by host path.
pub struct Sources(HashMap<PathBuf, Source>);

impl Sources {
    pub fn open(plan: &Plan) -> Result<Self, MountError> {
        let etc = ETC_FILES.iter().map(|name| Path::new("/etc").join(name)).filter(|p| p.exists());
        let dev = DEVICES.iter().map(|name| Path::new("/dev").join(name));
        let own = [plan.ipc_dir.clone(), plan.in_dir.clone(), plan.out_dir.clone(), plan.staging_dir()];
        let mut sources = HashMap::new();
        for path in plan.read_only.iter().cloned().chain(etc).chain(dev).chain(own) {
            let meta = std::fs::symlink_metadata(&path).map_err(prepare(&path))?;
            let source = if meta.file_type().is_symlink() {
                Source::Symlink(std::fs::read_link(&path).map_err(prepare(&path))?)
            } else {
                let fd = open(&path, OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
                    .map_err(|e| MountError::Prepare { path: path.clone(), source: e.into() })?;
                Source::Node { fd, is_dir: meta.is_dir(), is_device: is_device(&meta), locked: locked_flags(&path) }
            };
            sources.insert(path, source);
        }
        Ok(Self(sources))
    }

    /// A directory opened before the pivot (the host's staging dirs), for copying outputs out.
    pub fn node_fd(&self, path: &Path) -> Result<&OwnedFd, MountError> {
        match self.get(path)? {
            Source::Node { fd, .. } => Ok(fd),
            Source::Symlink(_) => Err(MountError::Prepare { path: path.to_path_buf(), source: std::io::Error::other("is a symlink") }),
        }
    }

    fn get(&self, path: &Path) -> Result<&Source, MountError> {
        self.0.get(path).ok_or_else(|| MountError::Prepare { path: path.to_path_buf(), source: std::io::Error::other("not opened") })
    }
}

pub fn build_root(plan: &Plan, sources: &Sources) -> Result<(), MountError> {
    // Nothing mounted from here on propagates back to the host.
    do_mount(None, Path::new("/"), None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)?;
    let root = plan.root_mount_point.as_path();
    do_mount(Some(Path::new("tmpfs")), root, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some("mode=0755,size=16m"))?;

    // /tmp first: a kernelspec or env living under the host's /tmp is bound on top of it.
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp).map_err(prepare(&tmp))?;
    let tmp_options = format!("mode=1777,size={}", plan.limits.tmp_bytes);
    do_mount(Some(Path::new("tmpfs")), &tmp, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV, Some(&tmp_options))?;
    let home = inside(root, Path::new(HOME_DIR));
    std::fs::create_dir_all(&home).map_err(prepare(&home))?;

    for path in &plan.read_only {
        bind(sources.get(path)?, &inside(root, path), true)?;
    }
    build_etc(root, sources)?;
    build_dev(root, sources)?;
    bind(sources.get(&plan.ipc_dir)?, &inside(root, &plan.ipc_dir), false)?;

    let work = inside(root, Path::new(WORK_DIR));
    bind(sources.get(&plan.in_dir)?, &work.join("in"), true)?;
    // Outputs go to a tmpfs so their total size is bounded; PID 1 copies them to the host's
    // staging dir once the kernel has exited.
    let out = work.join("out");
    std::fs::create_dir_all(&out).map_err(prepare(&out))?;
    let out_options = format!("mode=0755,size={}", plan.limits.output_bytes);
    let out_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(Some(Path::new("tmpfs")), &out, Some("tmpfs"), out_flags, Some(&out_options))?;

    let proc_dir = root.join("proc");
    std::fs::create_dir_all(&proc_dir).map_err(prepare(&proc_dir))?;
    let proc_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(Some(Path::new("proc")), &proc_dir, Some("proc"), proc_flags, None)?;

    enter(root)?;
    // The root tmpfs only holds mount points and /etc: nothing in it may change from now on.
    let read_only_root = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    do_mount(None, Path::new("/"), None, read_only_root, None)
}

/// Binds `source` at `target` (a dir or a file), read-only if asked. Symlinks (merged-/usr
/// systems' `/bin` → `usr/bin`) are recreated as symlinks. Non-recursive: mounts below the
/// source are not carried in, so none of them can stay writable.
fn bind(source: &Source, target: &Path, read_only: bool) -> Result<(), MountError> {
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(prepare(parent))?;
    }
    let (fd, is_dir, is_device, locked) = match source {
        Source::Symlink(link) => return std::os::unix::fs::symlink(link, target).map_err(prepare(target)),
        Source::Node { fd, is_dir, is_device, locked } => (fd, *is_dir, *is_device, *locked),
    };
    if is_dir {
        std::fs::create_dir_all(target).map_err(prepare(target))?;
    } else {
        std::fs::File::create(target).map_err(prepare(target))?;
    }
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    do_mount(Some(&by_fd), target, None, MsFlags::MS_BIND, None)?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID | locked;
    if read_only {
        flags |= MsFlags::MS_RDONLY;
    }
    if !is_device {
        flags |= MsFlags::MS_NODEV;
    }
    do_mount(None, target, None, flags, None)
}

fn is_device(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device() || meta.file_type().is_block_device()
}

/// Flags of the source's mount that a user namespace may not clear on a bind of it.
fn locked_flags(source: &Path) -> MsFlags {
    let Ok(stat) = statvfs(source) else { return MsFlags::empty() };
    let mut flags = MsFlags::empty();
    for (fs_flag, ms_flag) in [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if stat.flags().contains(fs_flag) {
            flags |= ms_flag;
        }
    }
    flags
}

/// A few host files, plus passwd/group/hosts written for the sandbox's single user.
fn build_etc(root: &Path, sources: &Sources) -> Result<(), MountError> {
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc).map_err(prepare(&etc))?;
    for name in ETC_FILES {
        let host = Path::new("/etc").join(name);
        if let Ok(source) = sources.get(&host) {
            bind(source, &etc.join(name), true)?;
        }
    }
    let id = INSIDE_ID;
    for (name, text) in [
        (
            "passwd",
            format!("tiffin:x:{id}:{id}:Tiffin sandbox:{HOME_DIR}:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"),
        ),
        ("group", format!("tiffin:x:{id}:\nnogroup:x:65534:\n")),
        ("hosts", "127.0.0.1 localhost\n::1 localhost\n".to_owned()),
        ("hostname", format!("{}\n", super::HOSTNAME)),
    ] {
        let path = etc.join(name);
        std::fs::write(&path, text).map_err(prepare(&path))?;
    }
    Ok(())
}

/// /dev with the four harmless devices (bound: a user namespace cannot mknod), the usual fd
/// links, and a small /dev/shm for libraries that use POSIX shared memory.
fn build_dev(root: &Path, sources: &Sources) -> Result<(), MountError> {
    let dev = root.join("dev");
    std::fs::create_dir_all(&dev).map_err(prepare(&dev))?;
    do_mount(Some(Path::new("tmpfs")), &dev, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC, Some("mode=0755,size=64k"))?;
    for name in DEVICES {
        bind(sources.get(&Path::new("/dev").join(name))?, &dev.join(name), false)?;
    }
    for (name, target) in
        [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]
    {
        let path = dev.join(name);
        std::os::unix::fs::symlink(target, &path).map_err(prepare(&path))?;
    }
    let shm = dev.join("shm");
    std::fs::create_dir_all(&shm).map_err(prepare(&shm))?;
    let shm_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    do_mount(Some(Path::new("tmpfs")), &shm, Some("tmpfs"), shm_flags, Some("mode=1777,size=64m"))?;
    let read_only_dev = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    do_mount(None, &dev, Some("tmpfs"), read_only_dev, Some("mode=0755,size=64k"))
}

/// Makes `root` the root: `pivot_root(".", ".")` stacks the old root on the new one, and a lazy
/// unmount of "." then removes it (the runc way: no directory needed for the old root).
fn enter(root: &Path) -> Result<(), MountError> {
    std::env::set_current_dir(root).map_err(prepare(root))?;
    nix::unistd::pivot_root(".", ".").map_err(|e| MountError::Pivot(root.to_path_buf(), e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| MountError::Mount { what: "old root".into(), target: root.to_path_buf(), source: e })?;
    std::env::set_current_dir("/").map_err(prepare(Path::new("/")))
}
