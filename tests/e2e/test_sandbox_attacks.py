"""Sandbox attack suite: what a notebook run by `runner exec` must not be able to do.

A generic probe notebook tries one attack per check and records `{"blocked": bool, "detail": ...}`
for each (`blocked: None` marks a probe that could not run, which fails the check). Everything it
needs (addresses, ports, paths, the host pids it aims at, hashes of the secrets it looks for) is
injected with `-y`, so the same notebook runs in the sandbox (every attack must be blocked) and
with `--no-sandbox` (every attack that can succeed on this host must succeed: proof that each probe
can see a breach). Host-side evidence is checked too: the servers record what reached them, the
sentinel process records the signals it got, and files the notebook tried to create are looked for.

Everything stays on this machine: loopback, the host's own addresses, unix sockets and files the
test creates. "A route to the internet" and "a route to the DNS resolver" are checked with a UDP
`connect()`, which sends no packet. The destructive attacks (fork bomb, memory bomb, filling /tmp,
a process that starts a new session) each get their own run with small limits; every run must end
within a bound with a documented exit code and leave no process behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import ipaddress
import json
import os
import pty
import select
import shutil
import socket
import socketserver
import stat
import subprocess
import sys
import tempfile
import termios
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode

from conftest import (
    REPO_ROOT,
    VENV,
    VENV_PYTHON,
    Runner,
    RunResult,
    cell_by_id,
    code,
    code_cells,
    is_alive,
    kill_pids,
    make_notebook,
    read_cmdline,
    stream_text,
    write_notebook,
)

SANDBOX_WORK = "/work"
RUN_BOUND = 60.0  # seconds any run of this suite may take
DOCUMENTED_EXIT_CODES = (0, 1, 3, 4)
EXTERNAL_V4 = ("192.0.2.1", "198.51.100.1", "203.0.113.1")  # TEST-NET-1/2/3: never contacted
EXTERNAL_V6 = ("2001:db8::1",)  # documentation prefix: never contacted
SECRET_NAME = "TIFFIN_E2E_SECRET_TOKEN"
NO_SANDBOX = ("--no-sandbox",)
MIB = 1 << 20

# --------------------------------------------------------------------------------------------
# The probe notebook
# --------------------------------------------------------------------------------------------

# Shared by the probe notebook and the terminal attack: every descriptor visible in /proc.
FD_LINKS = """
def fd_links():
    \"\"\"(pid, fd, target) of every descriptor this process can see in /proc.\"\"\"
    for pid in sorted(int(n) for n in os.listdir("/proc") if n.isdigit()):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                yield pid, fd, os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
"""

PROBE_SETUP = r'''
import ctypes, errno, hashlib, json, os, signal, socket, stat, subprocess, sys, tempfile, time

libc = ctypes.CDLL(None, use_errno=True)
results = {}
works = {}
TOKEN = P["token"]
WORK = P["work"]


class Blocked(Exception):
    """The attack failed without an OSError (e.g. a child process reported the failure)."""


class NotApplicable(Exception):
    """The host offers nothing to attack for this check."""


def probe(name):
    def run(fn):
        try:
            detail = fn()
        except Blocked as exc:
            results[name] = {"blocked": True, "detail": str(exc)[:600]}
        except OSError as exc:
            results[name] = {"blocked": True, "detail": f"{type(exc).__name__}: {exc}"[:600]}
        except NotApplicable as exc:
            results[name] = {"blocked": None, "detail": f"not applicable: {exc}"}
        except Exception as exc:
            results[name] = {"blocked": None, "detail": f"probe error {type(exc).__name__}: {exc}"}
        else:
            results[name] = {"blocked": False, "detail": str(detail)[:600]}
        return fn
    return run


def need(value, what):
    if not value:
        raise NotApplicable(what)
    return value


def c_check(what, ret):
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return ret


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fresh_python(source, *args, timeout=20):
    """Run `source` in a fresh (single-threaded) interpreter: (exit code, output tail)."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", source, *args], stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise Blocked(f"timed out after {timeout}s")
    return proc.returncode, (proc.stdout + proc.stderr).strip()[-400:]


def all_pids():
    return sorted(int(n) for n in os.listdir("/proc") if n.isdigit())


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()
'''

PROBE_NETWORK = r"""
def udp_route(family, addresses, port=53):
    errors = []
    for addr in addresses:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((addr, port))  # a UDP connect() only looks up the route: no packet
            except OSError as exc:
                errors.append(f"{addr}: {exc}")
                continue
            return f"route to {addr} from {s.getsockname()[0]}"
    raise Blocked("; ".join(errors))


def tcp_send(family, addr, port, payload):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((addr, port))
        s.sendall(payload)
        try:
            reply = s.recv(64)
        except OSError:
            reply = b""
        return f"connected to {addr}:{port}, reply {reply[:40]!r}"


def unix_send(address, payload):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(address)
        s.sendall(payload)
        return f"connected to {address!r}"


payload = f"tiffin-probe {TOKEN}\n".encode()


@probe("net_route_external_v4")
def _():
    return udp_route(socket.AF_INET, P["external_v4"])


@probe("net_route_external_v6")
def _():
    return udp_route(socket.AF_INET6, need(P["external_v6"], "no IPv6 route on the host"))


@probe("net_route_dns_resolver")
def _():
    resolver = need(P["resolver"], "no nameserver in the host's resolv.conf")
    family = socket.AF_INET6 if ":" in resolver else socket.AF_INET
    return udp_route(family, [resolver])


@probe("net_tcp_loopback_service")
def _():
    request = f"GET /{TOKEN} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
    return tcp_send(socket.AF_INET, "127.0.0.1", P["http_port"], request)


@probe("net_tcp_host_address")
def _():
    addr = need(P["host_v4"], "no non-loopback IPv4 address")
    return tcp_send(socket.AF_INET, addr, P["tcp_port"], payload)


@probe("net_udp_host_address")
def _():
    addr = need(P["host_v4"], "no non-loopback IPv4 address")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload, (addr, P["udp_port"]))
        return f"sent a datagram to {addr}:{P['udp_port']}"


@probe("net_tcp_host_address_v6")
def _():
    addr = need(P["host_v6"], "no non-loopback IPv6 address")
    return tcp_send(socket.AF_INET6, addr, P["tcp6_port"], payload)


@probe("net_unix_socket_tmp")
def _():
    return unix_send(P["unix_tmp"], payload)


@probe("net_unix_socket_run")
def _():
    return unix_send(need(P["unix_run"], "no writable /run on the host"), payload)


@probe("net_abstract_unix_socket")
def _():
    return unix_send("\0" + P["abstract_name"], payload)


@probe("net_raw_socket")
def _():
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP):
        return "created an AF_INET raw socket"


@probe("net_packet_socket")
def _():
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003)):
        return "created an AF_PACKET socket"
"""

PROBE_FILES = r"""
for name, files in P["reads"].items():
    @probe(name)
    def _(files=files):
        errors, leaked = [], []
        for path, digest in files:
            try:
                data = read_bytes(path)
            except OSError as exc:
                errors.append(f"{path}: {type(exc).__name__} {exc.strerror}")
                continue
            if sha256(data) == digest:
                leaked.append(path)
            else:
                errors.append(f"{path}: other content ({len(data)} bytes)")
        if leaked:
            return f"read the host's {leaked}"
        raise Blocked("; ".join(errors))

for name, spec in P["listings"].items():
    @probe(name)
    def _(spec=spec):
        names = os.listdir(spec["dir"])
        leaked = sorted((set(names) & set(spec["host_names"])) - set(spec["allowed"]))
        if leaked:
            return f"{spec['dir']} shows host entries {leaked[:12]}"
        raise Blocked(f"{spec['dir']} lists {sorted(names)[:12]}")


@probe("env_secret")
def _():
    found = []
    for key, value in os.environ.items():
        if key == P["secret_name"] or sha256(value.encode()) == P["secret_sha"]:
            found.append(f"os.environ[{key}]")
    for pid in all_pids():
        try:
            entries = read_bytes(f"/proc/{pid}/environ").split(b"\0")
        except OSError:
            continue
        for entry in entries:
            key, _, value = entry.partition(b"=")
            if key == P["secret_name"].encode() or sha256(value) == P["secret_sha"]:
                found.append(f"/proc/{pid}/environ: {key.decode(errors='replace')}")
    if found:
        return f"the secret is visible: {found}"
    raise Blocked("the secret is nowhere in the environment")


@probe("env_runner_variables")
def _():
    leaked = []
    for entry in read_bytes("/proc/self/environ").split(b"\0"):
        key, _, value = entry.partition(b"=")
        digest = P["runner_env"].get(key.decode(errors="replace"))
        if digest is not None and sha256(value) == digest:
            leaked.append(key.decode(errors="replace"))
    if leaked:
        return f"the runner's variables reached the kernel: {sorted(leaked)}"
    raise Blocked("no runner variable outside the allow-list")


@probe("dev_host_devices")
def _():
    present = [n for n in P["host_devices"] if os.path.lexists(f"/dev/{n}")]
    if present:
        return f"host devices present in /dev: {present[:20]}"
    raise Blocked(f"/dev holds {sorted(os.listdir('/dev'))}")


for name, path in P["writes"].items():
    @probe(name)
    def _(path=path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, f"tiffin-probe {TOKEN}\n".encode())
        finally:
            os.close(fd)
        return f"created {path}"

for name, path in P["rewrites"].items():
    @probe(name)
    def _(path=path):
        need(os.path.exists(path), f"{path} does not exist")
        with open(path) as fh:
            current = fh.read()
        with open(path, "w") as fh:  # the same value: harmless when it succeeds on the host
            fh.write(current)
        return f"rewrote {path}"


@probe("write_host_tmp")
def _():
    # Succeeds in the sandbox (its own /tmp): the test checks the file is not on the host.
    path = f"/tmp/tiffin-escape-{TOKEN}"
    with open(path, "w") as fh:
        fh.write(TOKEN)
    return f"wrote {path}"


@probe("mknod_device")
def _():
    where = tempfile.mkdtemp()
    path = os.path.join(where, "null")
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        os.remove(path)
        return f"created the character device {path}"
    finally:
        os.rmdir(where)


@probe("cgroup_escape")
def _():
    need(P["cgroup_procs"], "no cgroup hierarchy on the host")
    moved, errors = [], []
    for procs in P["cgroup_procs"]:
        try:
            with open(procs, "w") as fh:
                fh.write(str(os.getpid()))
            moved.append(procs)
        except OSError as exc:
            errors.append(f"{procs}: {exc.strerror}")
    if moved:
        return f"joined the host's root cgroup via {moved}"
    raise Blocked("; ".join(errors))
"""

PROBE_PRIVILEGES = r'''
def status_fields():
    fields = {}
    for line in read_bytes("/proc/self/status").decode().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


@probe("uid_root")
def _():
    ids = os.getresuid()
    if 0 in ids:
        return f"uids {ids}"
    raise Blocked(f"uids {ids}")


@probe("gid_root_or_groups")
def _():
    gids, groups = os.getresgid(), os.getgroups()
    if 0 in gids or groups:
        return f"gids {gids}, groups {groups}"
    raise Blocked(f"gids {gids}, no supplementary groups")


@probe("capabilities")
def _():
    fields = status_fields()
    caps = {k: fields.get(k) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")}
    if any(v is None or int(v, 16) for v in caps.values()):
        return f"capabilities {caps}"
    raise Blocked(f"no capabilities: {caps}")


@probe("no_new_privs_unset")
def _():
    value = status_fields().get("NoNewPrivs")
    if value != "1":
        return f"NoNewPrivs {value}"
    raise Blocked("NoNewPrivs 1")


@probe("host_hostname")
def _():
    name = socket.gethostname()
    if name == P["host_hostname"]:
        return f"hostname {name!r} is the host's"
    raise Blocked(f"hostname {name!r}")


@probe("setuid_root")
def _():
    os.setuid(0)
    return f"setuid(0) succeeded: uid {os.getuid()}"


@probe("setuid_binary")
def _():
    su = need(P["su"], "no su binary on the host")
    try:
        proc = subprocess.run(
            [su, "-c", "id -u"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=10,
        )
    except subprocess.TimeoutExpired:
        raise Blocked("su timed out")
    out = (proc.stdout + proc.stderr).strip()[-300:]
    if proc.returncode == 0 and proc.stdout.strip() == "0":
        return f"su -c 'id -u' gave uid 0 ({out!r})"
    raise Blocked(f"su exited {proc.returncode}: {out!r}")


UNSHARE = """
import ctypes, os, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
target = tempfile.mkdtemp()
os.chmod(target, 0o777)
if libc.unshare(int(sys.argv[1])) != 0:
    print("unshare:", os.strerror(ctypes.get_errno())); sys.exit(1)
if sys.argv[2] == "mount":
    if libc.mount(b"tiffin", target.encode(), b"tmpfs", 0, None) != 0:
        print("mount:", os.strerror(ctypes.get_errno())); sys.exit(1)
    libc.umount2(target.encode(), 2)
os.rmdir(target)
print("ok")
"""


def unshare(flags, then):
    rc, out = fresh_python(UNSHARE, str(flags), then)
    if rc == 0:
        return f"unshare({flags:#x}) {then}: {out}"
    raise Blocked(f"exit {rc}: {out}")


@probe("unshare_user_namespace")
def _():
    return unshare(0x10000000, "-")  # CLONE_NEWUSER


@probe("unshare_user_and_mount")
def _():
    return unshare(0x10000000 | 0x00020000, "mount")  # CLONE_NEWUSER | CLONE_NEWNS, then mount


@probe("unshare_net_namespace")
def _():
    return unshare(0x40000000, "-")  # CLONE_NEWNET


@probe("mount_tmpfs")
def _():
    target = tempfile.mkdtemp()
    try:
        c_check("mount", libc.mount(b"tiffin", target.encode(), b"tmpfs", 0, None))
        libc.umount2(target.encode(), 2)
        return f"mounted a tmpfs on {target}"
    finally:
        os.rmdir(target)


@probe("chroot")
def _():
    rc, out = fresh_python("import os; os.chroot('/'); print('ok')")
    if rc == 0:
        return f"chroot('/') succeeded: {out}"
    raise Blocked(f"exit {rc}: {out}")
'''

PROBE_PROCESSES = r"""
@probe("proc_host_process")
def _():
    token = P["sentinel_token"].encode()
    seen = []
    for pid in all_pids():
        try:
            if token in read_bytes(f"/proc/{pid}/cmdline"):
                seen.append(pid)
        except OSError:
            pass
    if seen:
        return f"the host's sentinel is visible as pid(s) {seen}"
    pid = P["sentinel_pid"]
    raise Blocked(f"no sentinel among {len(all_pids())} pids; /proc/{pid} exists: "
                  f"{os.path.exists(f'/proc/{pid}')}")


@probe("proc_root_escape")
def _():
    found, errors = [], 0
    for pid in all_pids():
        for base, rel, digest in P["proc_escape"]:
            try:
                if sha256(read_bytes(f"/proc/{pid}/{base}{rel}")) == digest:
                    found.append(f"/proc/{pid}/{base}{rel}")
            except OSError:
                errors += 1
    if found:
        return f"host files through /proc: {found}"
    raise Blocked(f"no host file through /proc/*/root or /proc/*/cwd ({errors} errors)")


@probe("leaked_host_fds")
def _():
    leaked = []
    for pid, fd, target in fd_links():
        # A path that does not exist here names a file outside the sandbox (deleted files
        # and memfds are left out: they exist nowhere).
        if not target.startswith("/") or target.startswith("/memfd:"):
            continue
        if target.endswith(" (deleted)") or os.path.exists(target):
            continue
        try:
            info = read_bytes(f"/proc/{pid}/fdinfo/{fd}").decode()
            flags = next(l.split()[1] for l in info.splitlines() if l.startswith("flags:"))
        except (OSError, StopIteration):
            flags = "?"
        leaked.append(f"pid {pid} fd {fd} (flags {flags}) -> {target}")
    if leaked:
        return f"descriptors of host files: {leaked[:10]}"
    raise Blocked("every open file is inside the sandbox")


PTRACE_ATTACH, PTRACE_DETACH, WALL = 16, 17, 0x40000000
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


@probe("ptrace_host_process")
def _():
    pid = P["sentinel_pid"]
    c_check("ptrace(PTRACE_ATTACH)", libc.ptrace(PTRACE_ATTACH, pid, None, None))
    try:
        os.waitpid(pid, WALL)
    finally:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    return f"attached to host pid {pid}"


@probe("signal_host_process")
def _():
    os.kill(P["sentinel_pid"], signal.SIGUSR1)
    return f"sent SIGUSR1 to host pid {P['sentinel_pid']}"


@probe("signal_test_process")
def _():
    os.kill(P["test_pid"], 0)
    return f"kill({P['test_pid']}, 0) succeeded"
"""

PROBE_OUTPUTS = r"""
out = os.path.join(WORK, "out")
with open(os.path.join(out, "ok.txt"), "w") as fh:
    fh.write(f"ok {TOKEN}\n")
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
with open(os.path.join(out, "sub", "nested.txt"), "w") as fh:
    fh.write("nested\n")
works["write_out"] = True

planted = {}
for name, make in [
    ("link", lambda p: os.symlink("/etc/passwd", p)),
    ("warehouse-link", lambda p: os.symlink(P["warehouse_host"], p)),
    ("dirlink", lambda p: os.symlink("/", p)),
    ("fifo", lambda p: os.mkfifo(p)),
    ("sock", lambda p: socket.socket(socket.AF_UNIX).bind(p)),
]:
    try:
        make(os.path.join(out, name))
        planted[name] = "created"
    except OSError as exc:
        planted[name] = f"{type(exc).__name__}: {exc}"
works["planted"] = planted
"""

PROBE_REPORT = "print(json.dumps({'probes': results, 'works': works}))"

PROBE_CELLS: dict[str, str] = {
    "setup": PROBE_SETUP + FD_LINKS,
    "network": PROBE_NETWORK,
    "files": PROBE_FILES,
    "privileges": PROBE_PRIVILEGES,
    "processes": PROBE_PROCESSES,
    "outputs": PROBE_OUTPUTS,
    "report": PROBE_REPORT,
}

# Every check the probe notebook makes (the parametrized test below fails on a missing one).
PROBES: tuple[str, ...] = (
    "net_route_external_v4",
    "net_route_external_v6",
    "net_route_dns_resolver",
    "net_tcp_loopback_service",
    "net_tcp_host_address",
    "net_udp_host_address",
    "net_tcp_host_address_v6",
    "net_unix_socket_tmp",
    "net_unix_socket_run",
    "net_abstract_unix_socket",
    "net_raw_socket",
    "net_packet_socket",
    "read_etc_shadow",
    "read_runner_config",
    "read_runner_config_next_to_notebook",
    "read_warehouse_next_to_notebook",
    "read_warehouse_host_dir",
    "read_notebook_itself",
    "read_host_tmp_file",
    "read_host_root_files",
    "read_host_home_file",
    "read_repository_files",
    "list_host_root",
    "list_host_home",
    "list_host_tmp",
    "list_host_run",
    "list_notebook_dir",
    "env_secret",
    "env_runner_variables",
    "dev_host_devices",
    "write_usr",
    "write_root_dir",
    "write_etc",
    "write_inputs",
    "write_work_outside_out",
    "write_notebook_dir",
    "write_python_env",
    "write_proc_sys_hostname",
    "write_proc_sys_global",
    "write_host_tmp",
    "mknod_device",
    "cgroup_escape",
    "uid_root",
    "gid_root_or_groups",
    "capabilities",
    "no_new_privs_unset",
    "host_hostname",
    "setuid_root",
    "setuid_binary",
    "unshare_user_namespace",
    "unshare_user_and_mount",
    "unshare_net_namespace",
    "mount_tmpfs",
    "chroot",
    "proc_host_process",
    "proc_root_escape",
    "leaked_host_fds",
    "ptrace_host_process",
    "signal_host_process",
    "signal_test_process",
)

# Checks whose verdict comes only from the host (the notebook's own attempt may succeed).
HOST_EVIDENCE_ONLY = frozenset({"write_host_tmp"})
# Checks that a run without the sandbox cannot show as breached, with the reason.
NOT_SHOWN_WITHOUT_SANDBOX: dict[str, str] = {
    "leaked_host_fds": "without the sandbox every open file's path exists, so none looks leaked",
}
# Checks that need root on the host to succeed without the sandbox.
NEED_ROOT = frozenset(
    {
        "net_raw_socket",
        "net_packet_socket",
        "read_etc_shadow",
        "read_host_root_files",
        "list_host_root",
        "write_usr",
        "write_root_dir",
        "write_etc",
        "write_proc_sys_hostname",
        "write_proc_sys_global",
        "mknod_device",
        "cgroup_escape",
        "uid_root",
        "gid_root_or_groups",
        "capabilities",
        "setuid_root",
        "setuid_binary",
        "unshare_net_namespace",
        "mount_tmpfs",
        "chroot",
        "ptrace_host_process",
    }
)

# --------------------------------------------------------------------------------------------
# Host-side helpers
# --------------------------------------------------------------------------------------------


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path | str) -> str:
    return sha256_bytes(Path(path).read_bytes())


def own_address(family: socket.AddressFamily, targets: Sequence[str]) -> str | None:
    """The host's source address towards `targets` (UDP connect: no packet is sent)."""
    for target in targets:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 53))
            except OSError:
                continue
            addr = ipaddress.ip_address(s.getsockname()[0])
            if not (addr.is_loopback or addr.is_link_local or addr.is_unspecified):
                return str(addr)
    return None


def routable(family: socket.AddressFamily, targets: Sequence[str]) -> list[str]:
    routes = []
    for target in targets:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((target, 53))
            except OSError:
                continue
            routes.append(target)
    return routes


def host_resolver() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/etc/resolv.conf").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                return parts[1].split("%")[0]
    return None


def landlock_abi() -> int | None:
    """The host kernel's Landlock ABI version (landlock_create_ruleset(NULL, 0, VERSION))."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    abi = libc.syscall(444, None, 0, 1)
    return abi if abi > 0 else None


def stat_start_time(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        return raw[raw.rfind(b")") + 2 :].decode().split()[19]
    return None


def parent_map() -> dict[int, int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            raw = Path(f"/proc/{name}/stat").read_bytes()
            parents[int(name)] = int(raw[raw.rfind(b")") + 2 :].split()[1])
    return parents


def processes_with_token(token: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            pid = int(name)
            if any(token in arg for arg in read_cmdline(pid)) and is_alive(pid):
                found.append(pid)
    return found


@dataclass(frozen=True)
class Seen:
    pid: int
    start: str
    cmdline: tuple[str, ...]


class Tracker:
    """Records every descendant of a runner process while it runs (the sandbox scrubs the
    environment marker conftest looks for, so its processes are found by ancestry), and any
    process whose command line holds one of the `watch` tokens (e.g. a daemon that was
    reparented away from the run)."""

    def __init__(self, root: int, watch: Sequence[str] = ()) -> None:
        self.root = root
        self.watch = tuple(watch)
        self.seen: dict[tuple[int, str], Seen] = {}

    def _record(self, pid: int, cmdline: tuple[str, ...] | None = None) -> None:
        start = stat_start_time(pid)
        if start is not None and (pid, start) not in self.seen:
            self.seen[(pid, start)] = Seen(pid, start, cmdline or read_cmdline(pid))

    def poll(self) -> None:
        parents = parent_map()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        stack = list(children.get(self.root, []))
        while stack:
            pid = stack.pop()
            stack.extend(children.get(pid, []))
            self._record(pid)
        if self.watch:
            for pid in parents:
                cmdline = read_cmdline(pid)
                if pid != os.getpid() and any(t in a for t in self.watch for a in cmdline):
                    self._record(pid, cmdline)

    def survivors(self) -> list[Seen]:
        return [s for s in self.seen.values() if stat_start_time(s.pid) == s.start]

    def mentioning(self, text: str) -> list[Seen]:
        return [s for s in self.seen.values() if any(text in arg for arg in s.cmdline)]


@dataclass
class TrackedRun:
    run: RunResult
    tracker: Tracker
    survivors: list[Seen]


def run_tracked(
    runner: Runner,
    notebook: Path,
    *options: str,
    env: Mapping[str, str | None] | None = None,
    timeout: float = RUN_BOUND,
    watch: Sequence[str] = (),
) -> TrackedRun:
    """Run to the end while recording the run's processes; kill any still alive afterwards."""
    handle = runner.start(notebook, *options, env=env)
    tracker = Tracker(handle.popen.pid, watch)
    survivors: list[Seen] = []
    try:
        deadline = handle.started + timeout
        while handle.popen.poll() is None and time.monotonic() < deadline:
            tracker.poll()
            handle.poll_kernels()
            time.sleep(0.05)
        run = handle.finish(timeout=timeout)
    finally:
        grace = time.monotonic() + 2.0
        while True:
            survivors = tracker.survivors()
            if not survivors or time.monotonic() > grace:
                break
            time.sleep(0.05)
        kill_pids([s.pid for s in survivors])
    return TrackedRun(run, tracker, survivors)


def check_reported_cleanly(
    tracked: TrackedRun, codes: Sequence[int] = (0,), *, survivors_ok: bool = False
) -> NotebookNode:
    """The run ended in time with a documented exit code, wrote its notebook, did not panic,
    and (unless `survivors_ok`) none of its processes outlived it."""
    run = tracked.run
    assert run.returncode in codes, f"unexpected exit code\n{run.describe()}"
    assert run.duration < RUN_BOUND, run.describe()
    assert "panicked" not in run.stderr, run.describe()
    if not survivors_ok:
        left = [f"pid {s.pid}: {' '.join(s.cmdline)[:150]}" for s in tracked.survivors]
        assert left == [], f"processes of the run outlived it (killed now): {left}"
    assert run.kernels, "no kernel was seen during the run"
    for kernel in run.kernels:
        run_dirs = [p for p in kernel.artifacts() if p.exists()]
        if kernel.connection_file is not None:
            run_dirs += [p for p in kernel.connection_file.parents if p.name.startswith("tiffin-")]
        left = [str(p) for p in run_dirs if p.exists()]
        assert left == [], f"the run's connection file / run dir was left behind: {left}"
    return run.notebook()


def last_json_line(cell: NotebookNode) -> Any:
    text = stream_text(cell).strip()
    assert text, f"the cell printed nothing; outputs: {cell.get('outputs')}"
    return json.loads(text.splitlines()[-1])


def cell_errors(nb: NotebookNode) -> list[str]:
    """`ename: evalue` and the traceback's tail of every error output."""
    found = []
    for cell in code_cells(nb):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tail = "\n".join(out.get("traceback", [])[-3:])
                found.append(f"cell {cell.get('id')}: {out['ename']}: {out['evalue']}\n{tail}")
    return found


# --------------------------------------------------------------------------------------------
# Host services (bounded, on this machine only)
# --------------------------------------------------------------------------------------------


class Recorder:
    """Thread-safe store of the bytes that reached a host service."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[bytes] = []

    def add(self, data: bytes) -> None:
        with self._lock:
            self._items.append(data)

    def saw(self, token: str) -> bool:
        with self._lock:
            return any(token.encode() in item for item in self._items)


class _StreamHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.settimeout(3)
        with contextlib.suppress(OSError):
            data = self.request.recv(4096)
            self.server.recorder.add(data)  # type: ignore[attr-defined]
            self.request.sendall(b"host-service\n")


class _DatagramHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.recorder.add(self.request[0])  # type: ignore[attr-defined]


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.recorder.add(self.path.encode())  # type: ignore[attr-defined]
        body = b"host http service\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _TCP6Server(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6


class Services:
    """The host's services the probes aim at; all stopped at teardown."""

    def __init__(self) -> None:
        self.servers: list[socketserver.BaseServer] = []
        self.recorders: dict[str, Recorder] = {}

    def add(self, name: str, server: socketserver.BaseServer) -> socketserver.BaseServer:
        recorder = Recorder()
        server.recorder = recorder  # type: ignore[attr-defined]
        server.daemon_threads = True  # type: ignore[attr-defined]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        thread.start()
        self.servers.append(server)
        self.recorders[name] = recorder
        return server

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


SENTINEL = """
import signal, sys, time
def on_usr1(signum, frame):
    with open(sys.argv[2], "a") as fh:
        fh.write("USR1\\n")
signal.signal(signal.SIGUSR1, on_usr1)
deadline = time.monotonic() + 900
while time.monotonic() < deadline:
    time.sleep(0.2)
"""


@dataclass
class Host:
    """What the probes aim at on the host, and the parameters that tell them where it is."""

    services: Services
    sentinel: subprocess.Popen[bytes]
    sentinel_token: str
    sentinel_log: Path
    params: dict[str, Any]
    env: dict[str, str]
    notebook_dir: Path
    warehouse_host: Path
    skipped: dict[str, str]
    cleanup: list[Path] = field(default_factory=list)

    def signals_received(self) -> int:
        with contextlib.suppress(OSError):
            return self.sentinel_log.read_text().count("USR1")
        return 0


def plant(path: Path, content: bytes, cleanup: list[Path]) -> str | None:
    """Create a file on the host (removed at teardown); None if this host does not allow it."""
    try:
        path.write_bytes(content)
    except OSError:
        return None
    cleanup.append(path)
    return sha256_bytes(content)


def kernel_prefixes() -> list[Path]:
    """Host dirs the sandbox binds read-only for the kernel (the venv and the interpreter)."""
    prefixes = [VENV.resolve(), Path(sys.base_prefix).resolve()]
    with contextlib.suppress(OSError):
        prefixes.append(Path(os.path.realpath(VENV_PYTHON)).parent.parent)
    return prefixes


def allowed_under(top: Path) -> list[str]:
    """First components below `top` of the kernel's bound dirs: the sandbox may show those."""
    return sorted(
        {
            p.relative_to(top).parts[0]
            for p in kernel_prefixes()
            if p.is_relative_to(top) and p != top
        }
    )


def host_devices() -> list[str]:
    """Host /dev entries a sandbox has no business showing: block devices and most char ones."""
    safe = {"null", "zero", "random", "urandom", "full", "tty", "ptmx", "console"}
    names = []
    for entry in os.scandir("/dev"):
        with contextlib.suppress(OSError):
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISBLK(mode) or (stat.S_ISCHR(mode) and entry.name not in safe):
                names.append(entry.name)
    return sorted(names)


def runner_env_digests(env: Mapping[str, str]) -> dict[str, str]:
    """sha256 of each runner variable the contract keeps from the kernel (not on the allow-list)."""
    allowed = {"PATH", "LANG", "LANGUAGE", "TZ", "TERM", "HOME", "PYTHONHASHSEED"}
    allowed |= {"PYTHONIOENCODING", "TMPDIR", "MPLCONFIGDIR", "IPYTHONDIR", "XDG_CACHE_HOME"}
    allowed |= {"XDG_CONFIG_HOME", "JUPYTER_DATA_DIR", "PYDEVD_DISABLE_FILE_VALIDATION"}
    return {
        k: sha256_bytes(v.encode())
        for k, v in env.items()
        if k not in allowed and not k.startswith("LC_")
    }


@pytest.fixture(scope="module")
def host(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    token = uuid.uuid4().hex[:12]
    cleanup: list[Path] = []
    skipped: dict[str, str] = {}
    services = Services()
    base = tmp_path_factory.mktemp("sandbox-host")
    notebook_dir = base / "notebooks"
    notebook_dir.mkdir()

    # Network services: HTTP on loopback, TCP/UDP on the host's own addresses, unix sockets.
    http_server = services.add(
        "http", http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HttpHandler)
    )
    host_v4 = own_address(socket.AF_INET, EXTERNAL_V4)
    host_v6 = own_address(socket.AF_INET6, EXTERNAL_V6)
    tcp_port = udp_port = tcp6_port = 0
    if host_v4 is not None:
        tcp = services.add("tcp", socketserver.ThreadingTCPServer((host_v4, 0), _StreamHandler))
        tcp_port = tcp.server_address[1]
        udp = services.add("udp", socketserver.ThreadingUDPServer((host_v4, 0), _DatagramHandler))
        udp_port = udp.server_address[1]
    else:
        reason = "the host has no non-loopback IPv4 address (no route to TEST-NET)"
        skipped["net_tcp_host_address"] = skipped["net_udp_host_address"] = reason
    if host_v6 is not None:
        tcp6 = services.add("tcp6", _TCP6Server((host_v6, 0), _StreamHandler))
        tcp6_port = tcp6.server_address[1]
    else:
        skipped["net_tcp_host_address_v6"] = "the host has no non-loopback IPv6 address"
    sock_dir = base / "pg"
    sock_dir.mkdir()
    unix_tmp = sock_dir / ".s.PGSQL.5432"  # stands in for PostgreSQL's socket
    services.add("unix_tmp", socketserver.ThreadingUnixStreamServer(str(unix_tmp), _StreamHandler))
    unix_run: Path | None = None
    with contextlib.suppress(OSError):
        run_dir = Path(tempfile.mkdtemp(prefix="tiffin-e2e-", dir="/run"))
        cleanup.append(run_dir)
        unix_run = run_dir / ".s.PGSQL.5432"
        server = socketserver.ThreadingUnixStreamServer(str(unix_run), _StreamHandler)
        services.add("unix_run", server)
        cleanup.append(unix_run)
    if unix_run is None:
        skipped["net_unix_socket_run"] = "the host has no writable /run"
    abstract_name = f"tiffin-e2e-{token}"
    services.add(
        "abstract",
        socketserver.ThreadingUnixStreamServer("\0" + abstract_name, _StreamHandler),
    )

    # The sentinel: a host process to find in /proc, ptrace and signal.
    sentinel_token = f"tiffin-sentinel-{token}"
    sentinel_log = base / "sentinel.log"
    sentinel = subprocess.Popen(
        [sys.executable, "-c", SENTINEL, sentinel_token, str(sentinel_log)],
        stdin=subprocess.DEVNULL,
    )

    # Files and secrets of the host.
    secret_value = f"secret-{uuid.uuid4().hex}"
    config_home = base / "config"
    (config_home / "tiffin").mkdir(parents=True)
    config = config_home / "tiffin" / "runner.toml"
    # A valid tiffin.toml (the runner reads the one beside the notebook) holding a secret.
    config_text = (
        f'# warehouse password: {uuid.uuid4().hex}\n[sources.pg]\ntype = "postgres"\n'
        'url = "postgresql://etl@127.0.0.1/shop"\npassword_env = "PG_PASSWORD"\n'
    ).encode()
    config_sha = plant(config, config_text, cleanup)
    near_config = notebook_dir / "tiffin.toml"
    near_config_sha = plant(near_config, config_text + b"# near\n", cleanup)
    near_warehouse = notebook_dir / "warehouse.db"
    near_warehouse_sha = plant(near_warehouse, b"SQLite format 3\0" + os.urandom(64), cleanup)
    var_tmp = Path(tempfile.mkdtemp(prefix="tiffin-e2e-", dir="/var/tmp"))
    cleanup.append(var_tmp)
    warehouse_host = var_tmp / "warehouse.db"
    warehouse_sha = plant(warehouse_host, b"SQLite format 3\0" + os.urandom(64), cleanup)
    tmp_file = Path(f"/tmp/tiffin-e2e-{token}.txt")
    tmp_sha = plant(tmp_file, f"host tmp {uuid.uuid4().hex}\n".encode(), cleanup)
    root_file = Path(f"/root/.tiffin-e2e-{token}")
    root_sha = plant(root_file, f"host root {uuid.uuid4().hex}\n".encode(), cleanup)
    home_file = Path(f"/home/tiffin-e2e-{token}")
    home_sha = plant(home_file, f"host home {uuid.uuid4().hex}\n".encode(), cleanup)
    cwd_file = runner.neutral_cwd / f"tiffin-e2e-{token}.txt"
    cwd_sha = plant(cwd_file, f"runner cwd {uuid.uuid4().hex}\n".encode(), cleanup)

    def readable(*paths: Path) -> list[list[str]]:
        found = []
        for path in paths:
            with contextlib.suppress(OSError):
                if path.is_file():
                    found.append([str(path), sha256_file(path)])
        return found

    root_files = readable(root_file, *sorted(p for p in Path("/root").glob(".*") if p.is_file()))
    root_files += readable(Path("/root/.pyenv/version"))
    reads: dict[str, list[list[str]]] = {
        "read_etc_shadow": readable(Path("/etc/shadow")),
        "read_runner_config": readable(config),
        "read_runner_config_next_to_notebook": readable(near_config),
        "read_warehouse_next_to_notebook": readable(near_warehouse),
        "read_warehouse_host_dir": readable(warehouse_host),
        "read_notebook_itself": [],  # filled in per run (the notebook is written then)
        "read_host_tmp_file": readable(tmp_file),
        "read_host_root_files": root_files,
        "read_host_home_file": readable(home_file),
        "read_repository_files": readable(
            REPO_ROOT / "Cargo.toml", REPO_ROOT / "docs" / "sandbox-contract.md"
        ),
    }
    for digest in (config_sha, near_config_sha, near_warehouse_sha, warehouse_sha, tmp_sha):
        assert digest is not None, "could not plant the host's files in temp dirs"
    for name, files in reads.items():
        if not files and name != "read_notebook_itself":
            skipped[name] = f"no such readable file on this host for {name}"
    if root_sha is None:
        skipped["read_host_root_files"] = "cannot plant a file in the host's /root"
    if home_sha is None:
        skipped["read_host_home_file"] = "cannot plant a file in the host's /home"

    def listing(path: Path) -> list[str]:
        with contextlib.suppress(OSError):
            return sorted(os.listdir(path))
        return []

    tmp_top = base.relative_to("/tmp").parts[0] if base.is_relative_to("/tmp") else base.name
    listings = {
        "list_host_root": {
            "dir": "/root",
            "host_names": listing(Path("/root")),
            "allowed": allowed_under(Path("/root")),
        },
        "list_host_home": {
            "dir": "/home",
            "host_names": listing(Path("/home")),
            "allowed": allowed_under(Path("/home")),
        },
        "list_host_tmp": {"dir": "/tmp", "host_names": [tmp_file.name, tmp_top], "allowed": []},
        "list_host_run": {"dir": "/run", "host_names": listing(Path("/run")), "allowed": []},
        "list_notebook_dir": {
            "dir": str(notebook_dir),
            "host_names": ["tiffin.toml", "warehouse.db", "probe-sandboxed.ipynb"],
            "allowed": [],
        },
    }
    for name, spec in listings.items():
        if not set(spec["host_names"]) - set(spec["allowed"]):
            skipped[name] = f"the host's {spec['dir']} holds nothing the sandbox may not show"

    cgroup_procs = [
        f"/sys/fs/cgroup/{ctrl}/cgroup.procs"
        for ctrl in ("memory", "pids")
        if Path(f"/sys/fs/cgroup/{ctrl}/cgroup.procs").exists()
    ]
    if not cgroup_procs and Path("/sys/fs/cgroup/cgroup.procs").exists():
        cgroup_procs = ["/sys/fs/cgroup/cgroup.procs"]

    route_v6 = routable(socket.AF_INET6, EXTERNAL_V6)
    if not routable(socket.AF_INET, EXTERNAL_V4):
        skipped["net_route_external_v4"] = "the host itself has no IPv4 route to TEST-NET"
    if not route_v6:
        skipped["net_route_external_v6"] = "the host itself has no IPv6 route"
    resolver = host_resolver()
    if resolver is None:
        skipped["net_route_dns_resolver"] = "the host's resolv.conf names no nameserver"
    su = shutil.which("su")
    if su is None:
        skipped["setuid_binary"] = "no su binary on this host"
    if not cgroup_procs:
        skipped["cgroup_escape"] = "no cgroup hierarchy mounted on the host"

    env = {
        SECRET_NAME: secret_value,
        "XDG_CONFIG_HOME": str(config_home),
        "TIFFIN_CONFIG": str(config),
    }
    runner_env = {**runner.env, **env}
    params: dict[str, Any] = {
        "external_v4": list(EXTERNAL_V4),
        "external_v6": route_v6,
        "resolver": resolver,
        "http_port": http_server.server_address[1],
        "host_v4": host_v4,
        "tcp_port": tcp_port,
        "udp_port": udp_port,
        "host_v6": host_v6,
        "tcp6_port": tcp6_port,
        "unix_tmp": str(unix_tmp),
        "unix_run": str(unix_run) if unix_run else None,
        "abstract_name": abstract_name,
        "reads": reads,
        "listings": listings,
        "secret_name": SECRET_NAME,
        "secret_sha": sha256_bytes(secret_value.encode()),
        "runner_env": runner_env_digests(runner_env),
        "host_devices": host_devices(),
        "cgroup_procs": cgroup_procs,
        "host_hostname": socket.gethostname(),
        "su": su,
        "sentinel_token": sentinel_token,
        "sentinel_pid": sentinel.pid,
        "test_pid": os.getpid(),
        "proc_escape": [
            ["root", str(tmp_file), tmp_sha],
            ["cwd", f"/{cwd_file.name}", cwd_sha],
        ],
        "warehouse_host": str(warehouse_host),
    }
    if cwd_sha is None:
        params["proc_escape"] = params["proc_escape"][:1]
    if not params["host_devices"]:
        skipped["dev_host_devices"] = "the host's /dev has no device to hide"
    try:
        yield Host(
            services=services,
            sentinel=sentinel,
            sentinel_token=sentinel_token,
            sentinel_log=sentinel_log,
            params=params,
            env=env,
            notebook_dir=notebook_dir,
            warehouse_host=warehouse_host,
            skipped=skipped,
            cleanup=cleanup,
        )
    finally:
        services.close()
        sentinel.kill()
        sentinel.wait()
        for path in reversed(cleanup):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()


# --------------------------------------------------------------------------------------------
# The probe runs (one sandboxed, one with --no-sandbox)
# --------------------------------------------------------------------------------------------


@dataclass
class ProbeRun:
    tracked: TrackedRun
    probes: dict[str, dict[str, Any]]
    works: dict[str, Any]
    evidence: dict[str, str]  # check -> what the host saw of a breach
    watched: set[str]  # checks the host watched for evidence in this run
    collected: Path | None

    @property
    def run(self) -> RunResult:
        return self.tracked.run


def probe_notebook(path: Path) -> Path:
    cells = [code("P = {}", tags=["parameters"], cell_id="parameters")]
    cells += [code(source, cell_id=name) for name, source in PROBE_CELLS.items()]
    return write_notebook(make_notebook(cells), path)


def run_probes(runner: Runner, host: Host, tmp: Path, *, sandboxed: bool) -> ProbeRun:
    token = uuid.uuid4().hex[:12]
    kind = "sandboxed" if sandboxed else "unsandboxed"
    notebook = probe_notebook(host.notebook_dir / f"probe-{kind}.ipynb")
    if sandboxed:
        work = SANDBOX_WORK
    else:
        work_dir = tmp / "work"
        (work_dir / "in").mkdir(parents=True)
        (work_dir / "out").mkdir()
        work = str(work_dir)
    writes = {
        "write_usr": f"/usr/tiffin-probe-{token}",
        "write_root_dir": f"/tiffin-probe-{token}",
        "write_etc": f"/etc/tiffin-probe-{token}",
        "write_inputs": f"{work}/in/tiffin-probe-{token}",
        "write_work_outside_out": f"{work}/tiffin-probe-{token}",
        "write_notebook_dir": str(host.notebook_dir / f"tiffin-probe-{token}"),
        "write_python_env": str(VENV / f"tiffin-probe-{token}"),
    }
    host_files = {
        name: Path(path)
        for name, path in writes.items()
        if name not in ("write_inputs", "write_work_outside_out") or not sandboxed
    }
    host_files["write_host_tmp"] = Path(f"/tmp/tiffin-escape-{token}")
    params = dict(host.params)
    params["token"] = token
    params["work"] = work
    params["writes"] = writes
    params["rewrites"] = {
        "write_proc_sys_hostname": "/proc/sys/kernel/hostname",
        "write_proc_sys_global": "/proc/sys/kernel/printk_ratelimit",
    }
    params["reads"] = dict(params["reads"])
    params["reads"]["read_notebook_itself"] = [[str(notebook), sha256_file(notebook)]]
    options = ["-y", json.dumps({"P": params})]
    collected: Path | None = None
    if sandboxed:
        collected = tmp / "collected"
        collected.mkdir()
        options += ["--outputs", str(collected)]
    else:
        options += NO_SANDBOX
    signals_before = host.signals_received()
    try:
        tracked = run_tracked(runner, notebook, *options, env=host.env)
    finally:
        if not sandboxed:  # the planted symlinks (one to /) and fifo: gone from the host
            for special in Path(work, "out").iterdir():
                if not special.is_file() or special.is_symlink():
                    with contextlib.suppress(OSError):
                        special.unlink()
        evidence: dict[str, str] = {}
        for name, path in host_files.items():
            if path.exists():
                evidence[name] = f"{path} appeared on the host"
                with contextlib.suppress(OSError):
                    path.unlink()
    services = host.services.recorders
    watched = set(host_files)
    for name, service in [
        ("net_tcp_loopback_service", "http"),
        ("net_tcp_host_address", "tcp"),
        ("net_udp_host_address", "udp"),
        ("net_tcp_host_address_v6", "tcp6"),
        ("net_unix_socket_tmp", "unix_tmp"),
        ("net_unix_socket_run", "unix_run"),
        ("net_abstract_unix_socket", "abstract"),
    ]:
        if service in services:
            watched.add(name)
            if services[service].saw(token):
                evidence[name] = f"the host's {service} service received the probe's token"
    watched.add("signal_host_process")
    time.sleep(0.2)  # a signal handler runs asynchronously in the sentinel
    if host.signals_received() > signals_before:
        evidence["signal_host_process"] = "the host's sentinel received SIGUSR1"
    nb = tracked.run.notebook()
    errors = cell_errors(nb)
    assert errors == [], f"probe cells raised: {errors}\n{tracked.run.describe()}"
    report = last_json_line(code_cells(nb)[-1])
    return ProbeRun(tracked, report["probes"], report["works"], evidence, watched, collected)


@pytest.fixture(scope="module")
def sandboxed(runner: Runner, host: Host, tmp_path_factory: pytest.TempPathFactory) -> ProbeRun:
    return run_probes(runner, host, tmp_path_factory.mktemp("probe-sandboxed"), sandboxed=True)


@pytest.fixture(scope="module")
def unsandboxed(runner: Runner, host: Host, tmp_path_factory: pytest.TempPathFactory) -> ProbeRun:
    return run_probes(runner, host, tmp_path_factory.mktemp("probe-unsandboxed"), sandboxed=False)


def breach(probe_run: ProbeRun, name: str) -> str | None:
    """Why `name` counts as a breach in this run (None: blocked)."""
    seen = probe_run.evidence.get(name)
    if name in HOST_EVIDENCE_ONLY:
        return seen
    result = probe_run.probes.get(name)
    if result is None:
        return "the probe recorded no result"
    if result["blocked"] is None:
        return f"the probe could not run: {result['detail']}"
    if not result["blocked"]:
        return f"the attack succeeded: {result['detail']}" + (f" ({seen})" if seen else "")
    if seen:
        return f"{seen} (the probe saw: {result['detail']})"
    return None


# --------------------------------------------------------------------------------------------
# Tests: the probe notebook
# --------------------------------------------------------------------------------------------


def test_sandboxed_probe_run_reports_cleanly(sandboxed: ProbeRun) -> None:
    """All attacks in one run: the runner ends normally, writes the notebook, and says the
    sandbox was enforced with every layer this host supports."""
    nb = check_reported_cleanly(sandboxed.tracked)
    assert sorted(sandboxed.probes) == sorted(PROBES), "the notebook's checks and PROBES differ"
    counts = [c.execution_count for c in code_cells(nb)]
    assert counts == list(range(1, len(counts) + 1)), counts
    assert "UNSAFE" not in sandboxed.run.stderr
    meta = nb.metadata.get("tiffin", {}).get("sandbox")
    assert isinstance(meta, dict), f"no metadata.tiffin.sandbox: {nb.metadata}"
    assert meta.get("enforced") is True, meta
    layers = meta.get("layers", {})
    assert layers.get("namespaces") is True, meta
    assert layers.get("landlock_abi") == landlock_abi(), meta
    for layer in ("landlock_fs", "landlock_net", "landlock_scopes"):
        assert layers.get(layer) is True, meta
    assert layers.get("cgroup") in ("v1", "v2"), meta
    assert sandboxed.works.get("write_out") is True, sandboxed.works


@pytest.mark.parametrize("name", PROBES)
def test_attack_is_blocked(sandboxed: ProbeRun, host: Host, name: str) -> None:
    if name in host.skipped:
        pytest.skip(host.skipped[name])
    why = breach(sandboxed, name)
    assert why is None, f"{name}: {why}\nall probes: {json.dumps(sandboxed.probes, indent=1)}"


def test_attacks_succeed_without_sandbox(unsandboxed: ProbeRun, host: Host) -> None:
    """The same probes without the sandbox see every breach this host allows: each check above
    is able to fail."""
    run = unsandboxed.run
    check_reported_cleanly(unsandboxed.tracked)
    root = os.geteuid() == 0
    missed = {}
    for name in PROBES:
        if name in host.skipped or name in NOT_SHOWN_WITHOUT_SANDBOX:
            continue
        if name in NEED_ROOT and not root:
            continue
        if breach(unsandboxed, name) is None:
            missed[name] = f"not breached: {unsandboxed.probes.get(name)}"
        elif name in unsandboxed.watched and name not in unsandboxed.evidence:
            missed[name] = f"the host saw nothing: {unsandboxed.probes.get(name)}"
    assert missed == {}, (
        f"probes that saw no breach without the sandbox: {json.dumps(missed, indent=1)}\n"
        f"{run.describe()}"
    )


def test_no_sandbox_warns_unsafe_and_records_it(unsandboxed: ProbeRun) -> None:
    run = unsandboxed.run
    assert "UNSAFE" in run.stderr, run.describe()
    meta = run.notebook().metadata.get("tiffin", {}).get("sandbox")
    assert isinstance(meta, dict), f"no metadata.tiffin.sandbox: {run.notebook().metadata}"
    assert meta.get("enforced") is False, meta


def test_outputs_skip_planted_symlinks_and_fifos(sandboxed: ProbeRun) -> None:
    """The notebook tries to plant in out/ a symlink to /etc/passwd, one to the host's warehouse,
    one to /, a fifo and a socket (the sandbox may refuse to create them): the run ends (no hang
    on a fifo), only regular files are collected, and each special file created is named in a
    warning."""
    assert sandboxed.collected is not None
    collected = sandboxed.collected
    planted = sandboxed.works.get("planted", {})
    ok = collected / "ok.txt"
    assert ok.is_file(), sorted(p.name for p in collected.iterdir())
    assert not ok.is_symlink()
    assert ok.read_text().startswith("ok "), ok.read_text()
    assert (collected / "sub" / "nested.txt").read_text() == "nested\n"
    for name in ("link", "warehouse-link", "dirlink", "fifo", "sock"):
        assert not os.path.lexists(collected / name), f"{name} was collected ({planted})"
    forbidden = {sha256_file("/etc/passwd")}
    with contextlib.suppress(OSError):
        forbidden.add(sha256_file("/etc/shadow"))
    for path in collected.rglob("*"):
        assert not path.is_symlink(), f"collected a symlink: {path}"
        if path.is_file():
            assert path.stat().st_size < 1 << 30
            assert sha256_file(path) not in forbidden, f"{path} holds a host file"
        else:
            assert path.is_dir(), f"collected something that is not a file: {path}"
    stderr = sandboxed.run.stderr
    unnamed = [n for n, status in planted.items() if status == "created" and n not in stderr]
    assert unnamed == [], f"skipped outputs not named in a warning: {unnamed}\n{stderr[-2000:]}"


# --------------------------------------------------------------------------------------------
# Tests: a normal notebook, and the destructive attacks
# --------------------------------------------------------------------------------------------

NORMAL = [
    "import os\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
    "df = pd.DataFrame({'x': range(10), 'y': [i * i for i in range(10)]})\n"
    "df.to_csv('out/data.csv', index=False)\n"
    "os.makedirs('out/plots', exist_ok=True)\n"
    "print(os.getcwd(), int(df.y.sum()))",
    "fig, ax = plt.subplots()\nax.plot(df.x, df.y)\n"
    "fig.savefig('out/plots/squares.png')\nplt.show()",
    "back = pd.read_csv('/work/out/data.csv')\nprint(back.equals(df), len(back))",
]


def test_a_normal_notebook_works_in_the_sandbox(
    runner: Runner, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = write_notebook(make_notebook(NORMAL), tmp_path / "normal.ipynb")
    collected = tmp_path_factory.mktemp("normal-outputs")
    tracked = run_tracked(runner, path, "--outputs", str(collected))
    nb = check_reported_cleanly(tracked)
    cells = code_cells(nb)
    assert stream_text(cells[0]).strip() == f"{SANDBOX_WORK} 285", cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in cells[1].outputs), cells[1].outputs
    assert stream_text(cells[2]).strip() == "True 10", cells[2].outputs
    csv = (collected / "data.csv").read_text()
    assert csv.splitlines()[:3] == ["x,y", "0,0", "1,1"], csv
    assert (collected / "plots" / "squares.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


FORK_BOMB = """
import json, os, time
cfg = P["fork"]
forked, error, children = 0, None, []
for _ in range(cfg["cap"]):
    try:
        pid = os.fork()
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        break
    if pid == 0:
        time.sleep(cfg["child_sleep"])
        os._exit(0)
    forked += 1
    children.append(pid)
if cfg["reap"]:
    for pid in children:
        os.waitpid(pid, 0)
print(json.dumps({"forked": forked, "error": error}))
"""

MEMORY_BOMB = """
import json
cfg = P["memory"]
chunks, total = [], 0
while total < cfg["cap_mib"]:
    chunks.append(bytearray(b"\\x01") * (16 << 20))  # filled: every page is touched
    total += 16
    print(total, flush=True)
del chunks
print(json.dumps({"survived_mib": total}))
"""

FILL = """
import errno, json, os
cfg = P["fill"]

def fill(prefix, cap, per_file):
    # Files of at most per_file bytes until cap bytes in all, or an error.
    total, err, paths = 0, None, []
    chunk = b"\\x01" * (1 << 20)
    try:
        while total < cap and err is None:
            paths.append(f"{prefix}.{len(paths)}")
            with open(paths[-1], "wb", buffering=0) as fh:
                written = 0
                while written < per_file and total < cap:
                    n = fh.write(chunk[: per_file - written])
                    written += n
                    total += n
    except OSError as exc:
        err = errno.errorcode.get(exc.errno, str(exc.errno))
    for path in paths:
        if os.path.exists(path):
            os.remove(path)
    return {"bytes": total, "error": err}

print(json.dumps({k: fill(**spec) for k, spec in cfg.items()}))
"""

SETSID = """
import subprocess, sys, time
cfg = P["setsid"]
sleeper = subprocess.Popen(
    ["sleep", cfg["sleep_arg"]], start_new_session=True,
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
daemon = (
    "import os, sys, time\\n"
    "if os.fork(): os._exit(0)\\n"
    "os.setsid()\\n"
    "if os.fork(): os._exit(0)\\n"
    "time.sleep(300)\\n"
)
subprocess.run([sys.executable, "-c", daemon, cfg["token"]], check=True)
time.sleep(1.0)
print("started", sleeper.pid)
"""


def attack_notebook(path: Path, *attacks: str) -> Path:
    cells = [code("P = {}", tags=["parameters"], cell_id="parameters")]
    cells += [code(src, cell_id=f"attack-{i}") for i, src in enumerate(attacks)]
    cells.append(code("print('after the attack')", cell_id="after"))
    return write_notebook(make_notebook(cells), path)


def test_fork_bomb_is_contained(runner: Runner, tmp_path: Path) -> None:
    path = attack_notebook(tmp_path / "fork.ipynb", FORK_BOMB)
    params = {"fork": {"cap": 500, "child_sleep": 300, "reap": False}}
    tracked = run_tracked(runner, path, "--pids", "64", "-y", json.dumps({"P": params}))
    nb = check_reported_cleanly(tracked, DOCUMENTED_EXIT_CODES)
    outcome = last_json_line(cell_by_id(nb, "attack-0"))
    assert outcome["error"] is not None, f"every fork succeeded: {outcome}"
    assert outcome["forked"] < 64, outcome
    # The children (still sleeping when the kernel went away) died with the sandbox.
    assert len(tracked.tracker.seen) > outcome["forked"]


def test_memory_bomb_is_contained(runner: Runner, tmp_path: Path) -> None:
    path = attack_notebook(tmp_path / "memory.ipynb", MEMORY_BOMB)
    params = {"memory": {"cap_mib": 2048}}
    tracked = run_tracked(runner, path, "--memory", "256M", "-y", json.dumps({"P": params}))
    nb = check_reported_cleanly(tracked, (1, 4))
    text = stream_text(cell_by_id(nb, "attack-0"))
    assert "survived_mib" not in text, f"2 GiB allocated under a 256M limit: {text[-200:]}"
    counts = [int(line) for line in text.split() if line.isdigit()]
    assert not counts or max(counts) <= 256 + 16, f"allocated {max(counts)} MiB"
    assert code_cells(nb)[-1].execution_count is None, "the run went on after the bomb"


def test_tmp_and_output_size_limits(runner: Runner, tmp_path: Path) -> None:
    path = attack_notebook(tmp_path / "fill.ipynb", FILL)
    params = {
        "fill": {
            # Files of 4 MiB (under the 8M file size limit) until /tmp is full.
            "tmp": {"prefix": "/tmp/fill", "cap": 64 * MIB, "per_file": 4 * MIB},
            # One file until it reaches the file size limit.
            "out": {"prefix": f"{SANDBOX_WORK}/out/big", "cap": 32 * MIB, "per_file": 32 * MIB},
            # Files of 3 MiB, each under the limit, until out/ as a whole is full.
            "out_total": {
                "prefix": f"{SANDBOX_WORK}/out/many",
                "cap": 32 * MIB,
                "per_file": 3 * MIB,
            },
        }
    }
    options = ["--tmp-size", "16M", "--output-size", "8M", "-y", json.dumps({"P": params})]
    tracked = run_tracked(runner, path, *options)
    nb = check_reported_cleanly(tracked)
    outcome = last_json_line(cell_by_id(nb, "attack-0"))
    assert outcome["tmp"]["error"] == "ENOSPC", outcome
    assert 4 * MIB <= outcome["tmp"]["bytes"] <= 16 * MIB, outcome
    assert outcome["out"]["error"] == "EFBIG", outcome
    assert outcome["out"]["bytes"] <= 8 * MIB, outcome
    assert outcome["out_total"]["error"] == "ENOSPC", outcome
    assert 6 * MIB <= outcome["out_total"]["bytes"] <= 8 * MIB, outcome
    assert stream_text(code_cells(nb)[-1]) == "after the attack\n"


def test_new_session_processes_die_with_the_run(runner: Runner, tmp_path: Path) -> None:
    token = str(uuid.uuid4().int % 10**9).rjust(9, "1")
    sleep_arg = f"300.{token}"
    path = attack_notebook(tmp_path / "setsid.ipynb", SETSID)
    params = {"setsid": {"sleep_arg": sleep_arg, "token": f"tiffin-daemon-{token}"}}
    tracked = run_tracked(runner, path, "-y", json.dumps({"P": params}), watch=[token])
    survivors = processes_with_token(token)
    kill_pids(survivors)
    nb = check_reported_cleanly(tracked)
    started = cell_by_id(nb, "attack-0")
    assert stream_text(started).startswith("started"), started.outputs
    assert tracked.tracker.mentioning(sleep_arg), "the sleeper was never seen running"
    assert tracked.tracker.mentioning(f"tiffin-daemon-{token}"), "the daemon was never seen"
    assert survivors == [], f"new-session processes outlived the run (killed now): {survivors}"


def test_destructive_probes_detect_without_sandbox(runner: Runner, tmp_path: Path) -> None:
    """The destructive notebooks, bounded and without the sandbox, show what they detect: all
    forks succeed, the memory is allocated, the files are written, the sleepers outlive the
    run. (Then this test removes what they left.)"""
    token = str(uuid.uuid4().int % 10**9).rjust(9, "1")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    params = {
        "fork": {"cap": 100, "child_sleep": 1, "reap": True},
        "memory": {"cap_mib": 512},
        "fill": {
            "tmp": {"prefix": str(scratch / "fill"), "cap": 32 * MIB, "per_file": 4 * MIB},
            "out": {"prefix": str(scratch / "big"), "cap": 16 * MIB, "per_file": 16 * MIB},
        },
        "setsid": {"sleep_arg": f"30.{token}", "token": f"tiffin-daemon-{token}"},
    }
    path = attack_notebook(tmp_path / "control.ipynb", FORK_BOMB, MEMORY_BOMB, FILL, SETSID)
    try:
        options = [*NO_SANDBOX, "-y", json.dumps({"P": params})]
        tracked = run_tracked(runner, path, *options, watch=[token])
    finally:
        kill_pids(processes_with_token(token))
    nb = check_reported_cleanly(tracked, survivors_ok=True)
    assert last_json_line(cell_by_id(nb, "attack-0")) == {"forked": 100, "error": None}
    assert last_json_line(cell_by_id(nb, "attack-1")) == {"survived_mib": 512}
    assert last_json_line(cell_by_id(nb, "attack-2")) == {
        "tmp": {"bytes": 32 * MIB, "error": None},
        "out": {"bytes": 16 * MIB, "error": None},
    }
    assert tracked.tracker.mentioning(f"30.{token}"), "the sleeper was never seen"
    assert tracked.tracker.mentioning(f"tiffin-daemon-{token}"), "the daemon was never seen"


# --------------------------------------------------------------------------------------------
# Tests: the terminal the runner was started from
# --------------------------------------------------------------------------------------------

TIOCSTI = (
    """
import fcntl, json, os, termios
"""
    + FD_LINKS
    + """
attempts = {}

def inject(name, fd):
    try:
        for byte in P["inject"].encode():
            fcntl.ioctl(fd, termios.TIOCSTI, bytes([byte]))
        attempts[name] = "injected"
    except OSError as exc:
        attempts[name] = f"{type(exc).__name__}: {exc}"

for name in sorted(os.listdir("/proc/self/fd"), key=int):
    try:
        if os.isatty(int(name)):
            inject(f"fd {name}", int(name))
    except OSError:
        pass
paths = ["/dev/tty"]  # the controlling terminal, if any
for pid, fd, target in fd_links():  # others' terminals
    if target.startswith(("/dev/pts/", "/dev/tty", "/dev/console")):
        paths.append(f"/proc/{pid}/fd/{fd}")
for path in paths[:20]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    except OSError as exc:
        attempts[path] = f"open: {type(exc).__name__}: {exc}"
    else:
        inject(path, fd)
        os.close(fd)
with open("/proc/self/stat") as fh:
    attempts["controlling tty (tty_nr)"] = fh.read().rsplit(")", 1)[1].split()[4]
print(json.dumps(attempts))
"""
)

# Starts the runner as a session leader whose controlling terminal is the pty (as from a shell).
ON_TERMINAL = """
import os, sys
os.setsid()
fd = os.open(sys.argv[1], os.O_RDWR)  # the session's first terminal: its controlling one
os.dup2(fd, 1)
os.dup2(fd, 2)
os.close(fd)
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclass
class TerminalRun:
    returncode: int
    screen: str
    typed: bytes  # what is waiting in the terminal's input queue after the run
    nb: NotebookNode | None
    survivors: list[Seen]


def run_on_terminal(runner: Runner, notebook: Path, *options: str) -> TerminalRun:
    """Run with stdout and stderr on a pty that is the runner's controlling terminal (echo off,
    so only what is injected into the input queue can be read back from it)."""
    leader, follower = pty.openpty()
    attrs = termios.tcgetattr(follower)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(follower, termios.TCSANOW, attrs)
    out = notebook.with_name(f"{notebook.stem}.executed.ipynb")
    argv = [str(runner.binary), "exec", str(notebook), "-o", str(out), *options]
    proc = subprocess.Popen(
        [sys.executable, "-c", ON_TERMINAL, os.ttyname(follower), *argv],
        stdin=subprocess.DEVNULL,
        env={**runner.env, "TERM": "xterm"},
        cwd=runner.neutral_cwd,
    )
    tracker = Tracker(proc.pid)
    screen = b""
    deadline = time.monotonic() + RUN_BOUND
    try:
        while time.monotonic() < deadline:
            tracker.poll()
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break
        if proc.poll() is None:
            proc.kill()
        returncode = proc.wait(timeout=10)
        os.set_blocking(follower, False)
        typed = b""
        with contextlib.suppress(OSError):
            typed = os.read(follower, 65536)
    finally:
        grace = time.monotonic() + 2.0  # as in run_tracked: the helper may take a moment
        while (survivors := tracker.survivors()) and time.monotonic() < grace:
            time.sleep(0.05)
        kill_pids([s.pid for s in survivors])
        os.close(leader)
        os.close(follower)
    assert time.monotonic() < deadline, f"the run on a terminal did not end: {screen[-2000:]!r}"
    nb = nbformat.read(str(out), as_version=4) if out.exists() else None
    return TerminalRun(returncode, screen.decode(errors="replace"), typed, nb, survivors)


def tiocsti_allowed() -> bool:
    with contextlib.suppress(OSError):
        return Path("/proc/sys/dev/tty/legacy_tiocsti").read_text().strip() == "1"
    return True  # kernels before 6.2 have no switch: TIOCSTI always works


def terminal_injection(runner: Runner, tmp_path: Path, *options: str) -> tuple[TerminalRun, str]:
    token = f"tiffin-typed-{uuid.uuid4().hex[:12]}"
    path = attack_notebook(tmp_path / "tty.ipynb", TIOCSTI)
    params = {"inject": f"echo {token}\n"}
    run = run_on_terminal(runner, path, *options, "-y", json.dumps({"P": params}))
    assert run.returncode == 0, run.screen[-3000:]
    assert run.nb is not None, "no notebook written"
    assert run.survivors == [], f"processes outlived the run: {run.survivors}"
    return run, token


def test_kernel_cannot_type_into_the_runners_terminal(runner: Runner, tmp_path: Path) -> None:
    """TIOCSTI: a sandboxed kernel holding the runner's terminal must not push input into it
    (the shell the runner was started from would run it when the runner exits)."""
    run, token = terminal_injection(runner, tmp_path)
    assert run.nb is not None
    attempts = last_json_line(cell_by_id(run.nb, "attack-0"))
    assert token.encode() not in run.typed, f"typed into the terminal: {attempts}"
    assert "injected" not in attempts.values(), attempts


def test_terminal_injection_is_detected_without_sandbox(runner: Runner, tmp_path: Path) -> None:
    if not tiocsti_allowed():
        pytest.skip("this kernel refuses TIOCSTI to everyone (dev.tty.legacy_tiocsti = 0)")
    run, token = terminal_injection(runner, tmp_path, *NO_SANDBOX)
    assert run.nb is not None
    attempts = last_json_line(cell_by_id(run.nb, "attack-0"))
    assert "injected" in attempts.values(), attempts
    assert token.encode() in run.typed, (attempts, run.typed)


def test_sandboxed_kernel_has_no_controlling_terminal(runner: Runner, tmp_path: Path) -> None:
    """Hardening (bubblewrap's --new-session, CVE-2017-5226): the kernel runs in a new session,
    so even a terminal descriptor reaching it later could not be used with TIOCSTI."""
    run, _ = terminal_injection(runner, tmp_path)
    assert run.nb is not None
    attempts = last_json_line(cell_by_id(run.nb, "attack-0"))
    assert attempts["controlling tty (tty_nr)"] == "0", attempts
