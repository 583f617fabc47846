"""Benchmark `runner exec` against papermill and nbclient on the same notebooks.

Run it through `bench/run` (which uses the project venv's Python); `bench/README.md` explains every
number. Linux only: peak memory comes from `wait4()` rusage and `/proc`.
"""

from __future__ import annotations

import argparse
import ctypes
import datetime as dt
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nbformat

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV = Path(os.environ.get("TIFFIN_VENV", str(ROOT / ".venv"))).absolute()
DEFAULT_RUNNER = ROOT / "target" / "release" / "runner"
ALL_TOOLS = ("runner", "runner-unsandboxed", "papermill", "nbclient")
RUNNERS = ("runner", "runner-unsandboxed")
# Added by the sandbox on the trivial notebook: runner (sandboxed, the default) minus
# runner --no-sandbox, medians.
SANDBOX_OVERHEAD_LIMIT_MS = 50.0
NOISY_LOAD = 0.25  # CPUs used by other processes during a run above which it is flagged
# Wall time not spent on a CPU by the tool or its kernel (with nothing else busy) above which a
# run is flagged as stalled: ipykernel 7.4 sometimes takes ~2.4 s longer to exit (README).
STALL_S = 1.5
KIB_PER_MIB = 1024
_CLK_TCK = os.sysconf("SC_CLK_TCK")

# --------------------------------------------------------------------------------------------------
# Notebooks


def _outputs_text(cell: dict[str, Any], kinds: Sequence[str]) -> str:
    """The concatenated text of a cell's outputs of the given kinds.

    Streams contribute their text, execute_result/display_data their text/plain.
    """
    parts: list[str] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind not in kinds:
            continue
        if kind == "stream":
            text = out.get("text", "")
        else:
            text = out.get("data", {}).get("text/plain", "")
        parts.append("".join(text) if isinstance(text, list) else str(text))
    return "".join(parts)


def _code_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]


def _common_check(nb: dict[str, Any], n_cells: int) -> str | None:
    cells = _code_cells(nb)
    if len(cells) != n_cells:
        return f"expected {n_cells} code cells, found {len(cells)}"
    for i, cell in enumerate(cells, 1):
        if not isinstance(cell.get("execution_count"), int):
            return f"code cell {i} has no execution_count"
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"code cell {i} has an error output: {out.get('ename')}: {out.get('evalue')}"
    return None


def _check_trivial(nb: dict[str, Any]) -> str | None:
    err = _common_check(nb, 1)
    if err:
        return err
    got = _outputs_text(_code_cells(nb)[0], ["execute_result"])
    return None if got == "2" else f"cell 1: expected execute_result '2', got {got[:80]!r}"


N_SMALL_CELLS = 200


def _small_cell_source(i: int) -> str:
    return f"x = {i}\nx * 2"


def _check_cells(nb: dict[str, Any]) -> str | None:
    err = _common_check(nb, N_SMALL_CELLS)
    if err:
        return err
    for i, cell in enumerate(_code_cells(nb)):
        got = _outputs_text(cell, ["execute_result"])
        if got != str(i * 2):
            return f"cell {i + 1}: expected execute_result {str(i * 2)!r}, got {got[:80]!r}"
    return None


N_LINES = 200_000
LINES_SOURCE = f"for i in range({N_LINES:_}):\n    print(i)"
LINES_EXPECTED = "".join(f"{i}\n" for i in range(N_LINES))


def _check_lines(nb: dict[str, Any]) -> str | None:
    err = _common_check(nb, 1)
    if err:
        return err
    cell = _code_cells(nb)[0]
    got = _outputs_text(cell, ["stream"])
    if got == LINES_EXPECTED:
        return None
    n = got.count("\n")
    return (
        f"cell 1: stdout differs from the {N_LINES} expected lines ({n} newlines, {len(got)} chars)"
    )


KERNEL_CHECK_SOURCE = "import sys\nprint(sys.prefix)\nprint(sys.executable)"


def _check_kernel(nb: dict[str, Any]) -> str | None:
    err = _common_check(nb, 1)
    if err:
        return err
    lines = _outputs_text(_code_cells(nb)[0], ["stream"]).splitlines()
    if len(lines) != 2:
        return f"expected sys.prefix and sys.executable, got {lines!r}"
    if Path(lines[0]).resolve() != VENV.resolve():
        return f"the kernel runs in {lines[0]}, not in the venv {VENV}"
    return None


@dataclass(frozen=True)
class NotebookSpec:
    name: str
    description: str
    sources: tuple[str, ...]
    check: Callable[[dict[str, Any]], str | None]


NOTEBOOKS: dict[str, NotebookSpec] = {
    spec.name: spec
    for spec in (
        NotebookSpec("trivial", "one trivial cell (`1 + 1`)", ("1 + 1",), _check_trivial),
        NotebookSpec(
            "cells200",
            f"{N_SMALL_CELLS} small cells (`x = i` / `x * 2`)",
            tuple(_small_cell_source(i) for i in range(N_SMALL_CELLS)),
            _check_cells,
        ),
        NotebookSpec(
            "lines200k",
            f"one cell printing {N_LINES:,} lines (`print(i)` in a loop)",
            (LINES_SOURCE,),
            _check_lines,
        ),
    )
}
# Run once per tool before the measured runs: warms caches and proves the kernel is the venv's.
KERNEL_CHECK = NotebookSpec(
    "kernelcheck", "sys.prefix of the kernel", (KERNEL_CHECK_SOURCE,), _check_kernel
)


def write_notebook(spec: NotebookSpec, directory: Path) -> Path:
    # nbformat has no type annotations.
    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in spec.sources]  # type: ignore[no-untyped-call]
    # Fixed ids so the inputs are byte-identical from run to run.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:04d}"
    path = directory / f"{spec.name}.ipynb"
    nbformat.write(nb, str(path))  # type: ignore[no-untyped-call]
    return path


# --------------------------------------------------------------------------------------------------
# Tools


def tool_output_path(notebook: Path, tool: str) -> Path:
    # Beside the input: jupyter-execute only writes next to its input. No dot in the stem, or
    # jupyter-execute's with_suffix(".ipynb") would cut it off and overwrite the input.
    return notebook.with_name(f"{notebook.stem}-out-{tool}.ipynb")


def tool_argv(tool: str, notebook: Path, output: Path, runner: Path) -> list[str]:
    if tool == "runner":
        return [str(runner), "exec", str(notebook), "-o", str(output), "--no-progress"]
    if tool == "runner-unsandboxed":
        return [*tool_argv("runner", notebook, output, runner), "--no-sandbox"]
    if tool == "papermill":
        return [str(VENV / "bin" / "papermill"), str(notebook), str(output), "--no-progress-bar"]
    if tool == "nbclient":
        assert output.parent == notebook.parent, "jupyter-execute writes beside its input"
        return [str(VENV / "bin" / "jupyter-execute"), str(notebook), f"--output={output.stem}"]
    raise ValueError(f"unknown tool {tool!r}")


def tool_env(jupyter_home: Path) -> dict[str, str]:
    """The environment every tool runs in: the venv activated, Jupyter's user dirs empty."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER", "CONDA", "PYTHON", "IPYTHON", "RUST_LOG"))
    }
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    for var, sub in (
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        d = jupyter_home / sub
        d.mkdir(parents=True, exist_ok=True)
        env[var] = str(d)
    return env


# --------------------------------------------------------------------------------------------------
# Process measurement: wall time, wait4() rusage, /proc sampling, exact exit-time VmHWM via ptrace

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
_libc.ptrace.restype = ctypes.c_long
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]
_libc.prctl.restype = ctypes.c_int

PTRACE_CONT = 7
PTRACE_SEIZE = 0x4206
PTRACE_LISTEN = 0x4208
PTRACE_O_TRACEEXIT = 0x40
PTRACE_EVENT_EXIT = 6
PTRACE_EVENT_STOP = 128
PR_SET_CHILD_SUBREAPER = 36


def _ptrace(request: int, pid: int, addr: int = 0, data: int = 0) -> None:
    if _libc.ptrace(request, pid, addr, data) == -1:
        e = ctypes.get_errno()
        raise OSError(e, f"ptrace({request:#x}, {pid}): {os.strerror(e)}")


def reset_own_peak() -> int:
    """Lowers our own RSS high-water mark to the current RSS; returns it (KiB, 0 if unknown).

    A child's `ru_maxrss` starts from its parent's: exec() folds the high-water mark of the
    address space it replaces -- ours, as Python spawns with vfork() -- into the child's.
    """
    gc.collect()
    with suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # Linux >= 4.0: reset the peak RSS to the current RSS
    return read_vm(os.getpid()).get("VmHWM", 0)


def become_subreaper() -> bool:
    """Orphaned kernels re-parent to us, so we can see them exit and reap them."""
    return int(_libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def read_vm(pid: int) -> dict[str, int]:
    """VmHWM/VmRSS (KiB) of a live process; {} once it is gone or a zombie."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith((b"VmHWM:", b"VmRSS:")):
                    key, value = line.split(b":", 1)
                    out[key.decode()] = int(value.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def read_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads, live and exited)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()  # fields[0] is field 3, "state"
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def children_of(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    kids.extend(int(x) for x in f.read().split())
            except (FileNotFoundError, ProcessLookupError):
                pass
    except (FileNotFoundError, ProcessLookupError):
        pass
    return kids


def read_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except (FileNotFoundError, ProcessLookupError):
        return []


def process_alive(pid: int) -> bool:
    """True while the pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3]
    return state not in (b"Z", b"X")


@dataclass
class Descendant:
    pid: int
    cmdline: list[str]
    first_seen_s: float  # since the tool was started
    last_seen_s: float  # the last sample that found it alive
    hwm_kib: int = 0


class Sampler(threading.Thread):
    """Polls /proc every `interval` seconds: the tool's own VmHWM/VmRSS and its descendants'."""

    def __init__(self, pid: int, t0: float, interval: float) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.t0 = t0
        self.interval = interval
        self.samples = 0
        self.tool_hwm_kib = 0
        self.tool_rss_max_kib = 0
        self.descendants: dict[int, Descendant] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.sample()
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def sample(self) -> None:
        vm = read_vm(self.pid)
        if vm:
            self.samples += 1
            self.tool_hwm_kib = max(self.tool_hwm_kib, vm.get("VmHWM", 0))
            self.tool_rss_max_kib = max(self.tool_rss_max_kib, vm.get("VmRSS", 0))
        todo = children_of(self.pid)
        while todo:
            pid = todo.pop()
            todo.extend(children_of(pid))
            dvm = read_vm(pid)
            if not dvm:
                continue
            now = time.perf_counter() - self.t0
            d = self.descendants.setdefault(pid, Descendant(pid, [], now, now))
            d.last_seen_s = now
            d.hwm_kib = max(d.hwm_kib, dvm.get("VmHWM", 0))
            cmd = read_cmdline(pid)
            if cmd:  # re-read: right after fork it is still the parent's command line
                d.cmdline = cmd


@dataclass
class Measurement:
    exit_code: int
    wall_s: float
    ru_maxrss_kib: int  # wait4() rusage of the tool: max over it and the children it reaped
    harness_hwm_kib: int  # our own peak RSS when spawning the tool (a floor for ru_maxrss)
    tool_hwm_exit_kib: int | None  # the tool's own VmHWM at its exit (ptrace exit stop)
    tool_hwm_sampled_kib: int  # the largest VmHWM seen by the sampler (tool process only)
    tool_rss_sampled_kib: int  # the largest VmRSS seen by the sampler (tool process only)
    samples: int
    kernel_hwm_sampled_kib: int  # the largest VmHWM seen of any descendant (the kernel)
    kernel_argv: list[str]
    kernel_seen_s: tuple[float, float] | None  # first and last time the kernel was seen alive
    kernel_linger_s: float | None  # how long the kernel outlived the tool
    cpu_s: float  # CPU time (user + system) of the tool and its kernel
    tool_cpu_s: float | None  # CPU time of the tool process alone (ptrace exit stop)
    other_cpu_s: float  # CPU time used by other processes on the machine during the run
    steal_s: float  # CPU time stolen by the hypervisor during the run (all CPUs)
    timed_out: bool
    notes: list[str] = field(default_factory=list)

    @property
    def other_load(self) -> float:
        """Average number of CPUs busy with something else than the measured run."""
        return self.other_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def stalled(self) -> bool:
        return self.wall_s - self.cpu_s > STALL_S and self.other_load <= NOISY_LOAD

    @property
    def tool_peak_kib(self) -> int:
        if self.tool_hwm_exit_kib is not None:
            return max(self.tool_hwm_exit_kib, self.tool_hwm_sampled_kib)
        return self.tool_hwm_sampled_kib


def _kill(pids: Sequence[int]) -> None:
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _reap_orphans() -> float:
    """Reap zombies re-parented to us (we are a subreaper); returns their CPU seconds."""
    cpu = 0.0
    while True:
        try:
            pid, _, ru = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return cpu
        if pid == 0:
            return cpu
        cpu += ru.ru_utime + ru.ru_stime


def _wait_gone(pids: Sequence[int], limit_s: float) -> tuple[bool, float]:
    """Waits until none of `pids` runs; returns (all gone, CPU seconds of reaped orphans)."""
    deadline = time.monotonic() + limit_s
    cpu = 0.0
    while True:
        cpu += _reap_orphans()
        if not any(process_alive(p) for p in pids):
            return True, cpu
        if time.monotonic() >= deadline:
            return False, cpu
        time.sleep(0.005)


def system_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal ...; guest time is included in user.
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    steal = v[7] if len(v) > 7 else 0
    return busy / _CLK_TCK, steal / _CLK_TCK


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def wait_until_quiet(limit_s: float, threshold: float = 0.15, window_s: float = 0.5) -> float:
    """Waits (up to `limit_s`) until other processes use < `threshold` CPUs over `window_s`.

    Returns the other processes' load in the last window.
    """
    deadline = time.monotonic() + limit_s
    while True:
        b0, h0, t0 = system_cpu()[0], self_cpu(), time.monotonic()
        time.sleep(window_s)
        load = (system_cpu()[0] - b0 - (self_cpu() - h0)) / (time.monotonic() - t0)
        if load < threshold or time.monotonic() >= deadline:
            return max(load, 0.0)


def measure(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdout: Path,
    stderr: Path,
    timeout_s: float,
    interval_s: float,
    use_ptrace: bool,
    stdin: Path | None = None,
    expect_kernel: bool = True,
) -> Measurement:
    """Runs `argv` to completion and measures it (see bench/README.md).

    `stdin` is a file to read from (default /dev/null); `expect_kernel=False` for tools that
    start no Jupyter kernel (bench/data.py).
    """
    notes: list[str] = []
    timed_out = threading.Event()
    harness_hwm = reset_own_peak()
    busy0, steal0 = system_cpu()
    self0 = self_cpu()
    with (
        stdout.open("wb") as out,
        stderr.open("wb") as err,
        open(stdin or os.devnull, "rb") as inp,
    ):
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=inp,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    pid = proc.pid
    traced = False
    if use_ptrace:
        try:
            _ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACEEXIT)
            traced = True
        except OSError as e:
            notes.append(f"ptrace unavailable ({e}); tool peak from sampling only")
    sampler = Sampler(pid, t0, interval_s)
    sampler.start()

    def on_timeout() -> None:
        timed_out.set()
        _kill([pid, *sampler.descendants])

    watchdog = threading.Timer(timeout_s, on_timeout)
    watchdog.start()
    hwm_exit: int | None = None
    tool_cpu: float | None = None
    try:
        while True:
            _, status, rusage = os.wait4(pid, 0)
            if not os.WIFSTOPPED(status):
                break
            # Only a traced tool stops: continue it (delivering the signal it stopped for).
            sig, event = os.WSTOPSIG(status), status >> 16
            try:
                if event == PTRACE_EVENT_EXIT:
                    # exit_group() is under way but the memory is not yet released: the
                    # tool's own high-water mark, exactly, without the kernel's.
                    hwm_exit = read_vm(pid).get("VmHWM")
                    tool_cpu = read_cpu(pid)
                    _ptrace(PTRACE_CONT, pid)
                elif event == PTRACE_EVENT_STOP:
                    _ptrace(PTRACE_LISTEN, pid)
                else:
                    _ptrace(PTRACE_CONT, pid, 0, sig)
            except ProcessLookupError:
                pass
        wall = time.perf_counter() - t0
        busy1, steal1 = system_cpu()
        self1 = self_cpu()
    except BaseException:
        _kill([pid, *sampler.descendants])
        raise
    finally:
        watchdog.cancel()
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)  # we reaped it, not Popen
    if traced and hwm_exit is None:
        notes.append("no ptrace exit stop seen; tool peak from sampling only")

    kernels = sorted(
        (d for d in sampler.descendants.values() if any("ipykernel" in a for a in d.cmdline)),
        key=lambda d: "ipykernel_launcher" not in d.cmdline,
    )
    linger: float | None = None
    desc_pids = list(sampler.descendants)
    orphan_cpu = 0.0  # descendants the tool did not wait for are re-parented to us
    if desc_pids:
        t_exit = time.perf_counter()
        gone, orphan_cpu = _wait_gone(desc_pids, 10.0)
        if gone:
            linger = time.perf_counter() - t_exit
        else:
            alive = [p for p in desc_pids if process_alive(p)]
            notes.append(f"processes {alive} still running 10 s after the tool exited; killed")
            _kill(alive)
            orphan_cpu += _wait_gone(alive, 5.0)[1]
    cpu = rusage.ru_utime + rusage.ru_stime + orphan_cpu
    kernel_argv: list[str] = []
    if kernels:
        # The connection file differs per run; keep the rest for the same-kernel check.
        kernel_argv = [
            "{connection_file}" if a.endswith(".json") else a for a in kernels[0].cmdline
        ]
    elif expect_kernel:
        notes.append("no kernel process (ipykernel) seen among the tool's descendants")
    return Measurement(
        exit_code=proc.returncode,
        wall_s=wall,
        ru_maxrss_kib=rusage.ru_maxrss,
        harness_hwm_kib=harness_hwm,
        tool_hwm_exit_kib=hwm_exit,
        tool_hwm_sampled_kib=sampler.tool_hwm_kib,
        tool_rss_sampled_kib=sampler.tool_rss_max_kib,
        samples=sampler.samples,
        kernel_hwm_sampled_kib=max((d.hwm_kib for d in kernels), default=0),
        kernel_argv=kernel_argv,
        kernel_seen_s=(kernels[0].first_seen_s, kernels[0].last_seen_s) if kernels else None,
        kernel_linger_s=linger,
        cpu_s=cpu,
        tool_cpu_s=tool_cpu,
        other_cpu_s=max(0.0, busy1 - busy0 - cpu - (self1 - self0)),
        steal_s=steal1 - steal0,
        timed_out=timed_out.is_set(),
        notes=notes,
    )


# --------------------------------------------------------------------------------------------------
# Runs


@dataclass
class RunRecord:
    notebook: str
    tool: str
    rep: int  # 0-based; -1 for the warm-up/kernel check
    argv: list[str]
    ok: bool
    error: str | None
    stderr_tail: str
    load_before: float | None  # other processes' load (CPUs) just before the run started
    m: Measurement


def _tail(path: Path, n_lines: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return ""
    return "\n".join(lines[-n_lines:])


def run_one(
    tool: str,
    spec: NotebookSpec,
    nb_path: Path,
    rep: int,
    args: argparse.Namespace,
    env: dict[str, str],
) -> RunRecord:
    output = tool_output_path(nb_path, tool)
    output.unlink(missing_ok=True)
    argv = tool_argv(tool, nb_path, output, args.runner_exe)
    logs = args.out / "logs"
    tag = f"{spec.name}.{tool}.{'warmup' if rep < 0 else f'rep{rep + 1}'}"
    stdout, stderr = logs / f"{tag}.stdout", logs / f"{tag}.stderr"
    load_before = wait_until_quiet(args.idle_wait) if args.idle_wait > 0 else None
    m = measure(
        argv,
        cwd=nb_path.parent,
        env=env,
        stdout=stdout,
        stderr=stderr,
        timeout_s=args.timeout,
        interval_s=args.sample_interval,
        use_ptrace=not args.no_ptrace,
    )
    error: str | None = None
    if m.timed_out:
        error = f"timed out after {args.timeout:g} s (killed)"
    elif m.exit_code != 0:
        error = f"exit code {m.exit_code}"
    else:
        try:
            with output.open() as f:
                error = spec.check(json.load(f))
        except (OSError, ValueError) as e:
            error = f"cannot read the output notebook {output}: {e}"
    return RunRecord(
        notebook=spec.name,
        tool=tool,
        rep=rep,
        argv=argv,
        ok=error is None,
        error=error,
        stderr_tail="" if error is None else _tail(stderr),
        load_before=load_before,
        m=m,
    )


def _mib(kib: float | None) -> str:
    return "-" if kib is None else f"{kib / KIB_PER_MIB:.1f}"


def progress(rec: RunRecord) -> str:
    m = rec.m
    status = "ok" if rec.ok else f"FAILED: {rec.error}"
    rep = "warm-up" if rec.rep < 0 else f"rep {rec.rep + 1}"
    return (
        f"  {rec.notebook:<11} {rec.tool:<9} {rep:<7} {m.wall_s:6.2f} s  cpu {m.cpu_s:5.2f} s "
        f"(tool {'-' if m.tool_cpu_s is None else f'{m.tool_cpu_s:.2f}'})  "
        f"idle {m.wall_s - m.cpu_s:5.2f} s  "
        f"peak {_mib(m.tool_peak_kib):>5} MiB  ru_maxrss {_mib(m.ru_maxrss_kib):>5} MiB  "
        f"kernel {_mib(m.kernel_hwm_sampled_kib):>5} MiB  others {m.other_load:4.2f} CPU  {status}"
    )


# --------------------------------------------------------------------------------------------------
# Summary, targets, printout


@dataclass
class Summary:
    notebook: str
    tool: str
    n_ok: int
    n: int
    wall_median_s: float | None = None
    wall_min_s: float | None = None
    wall_max_s: float | None = None
    peak_median_kib: float | None = None  # tool-only peak (see README)
    peak_max_kib: int | None = None
    ru_maxrss_median_kib: float | None = None
    kernel_median_kib: float | None = None
    n_stalled: int = 0
    cpu_median_s: float | None = None
    tool_cpu_median_s: float | None = None
    other_load_max: float | None = None  # CPUs busy with other processes, worst run


def summarize(
    runs: list[RunRecord], notebooks: Sequence[str], tools: Sequence[str]
) -> list[Summary]:
    out: list[Summary] = []
    for nb in notebooks:
        for tool in tools:
            mine = [r for r in runs if r.notebook == nb and r.tool == tool and r.rep >= 0]
            ok = [r.m for r in mine if r.ok]
            s = Summary(nb, tool, len(ok), len(mine))
            if ok:
                walls = [m.wall_s for m in ok]
                s.wall_median_s = statistics.median(walls)
                s.wall_min_s, s.wall_max_s = min(walls), max(walls)
                s.peak_median_kib = statistics.median(m.tool_peak_kib for m in ok)
                s.peak_max_kib = max(m.tool_peak_kib for m in ok)
                s.ru_maxrss_median_kib = statistics.median(m.ru_maxrss_kib for m in ok)
                s.kernel_median_kib = statistics.median(m.kernel_hwm_sampled_kib for m in ok)
                s.n_stalled = sum(m.stalled for m in ok)
                s.cpu_median_s = statistics.median(m.cpu_s for m in ok)
                tool_cpu = [m.tool_cpu_s for m in ok if m.tool_cpu_s is not None]
                s.tool_cpu_median_s = statistics.median(tool_cpu) if tool_cpu else None
                s.other_load_max = max(m.other_load for m in ok)
            out.append(s)
    return out


@dataclass(frozen=True)
class Target:
    notebook: str
    metric: str  # "wall" or "peak"
    peer: str
    limit: float

    @property
    def label(self) -> str:
        what = "wall time" if self.metric == "wall" else "peak RSS"
        return f"{self.notebook}: runner/{self.peer} {what}"


TARGETS = (
    Target("trivial", "wall", "papermill", 0.4),
    Target("cells200", "wall", "papermill", 0.2),
    Target("cells200", "wall", "nbclient", 0.7),
    Target("lines200k", "wall", "papermill", 0.75),
    Target("lines200k", "peak", "papermill", 0.5),
)


def _find(summaries: list[Summary], nb: str, tool: str) -> Summary | None:
    return next((s for s in summaries if s.notebook == nb and s.tool == tool), None)


def ratio(summaries: list[Summary], nb: str, peer: str, metric: str) -> float | None:
    a, b = _find(summaries, nb, "runner"), _find(summaries, nb, peer)
    if a is None or b is None:
        return None
    x, y = (
        (a.wall_median_s, b.wall_median_s)
        if metric == "wall"
        else (a.peak_median_kib, b.peak_median_kib)
    )
    if x is None or not y:
        return None
    return x / y


def paired_ratios(runs: list[RunRecord], nb: str, peer: str, metric: str) -> list[float]:
    """runner/peer within each repetition (both ran back to back, so slow drifts cancel)."""

    def value(m: Measurement) -> float:
        return m.wall_s if metric == "wall" else m.tool_peak_kib

    by_rep: dict[tuple[str, int], Measurement] = {
        (r.tool, r.rep): r.m for r in runs if r.notebook == nb and r.ok and r.rep >= 0
    }
    out: list[float] = []
    for (tool, rep), m in sorted(by_rep.items()):
        other = by_rep.get((peer, rep))
        if tool == "runner" and other is not None and value(other) > 0:
            out.append(value(m) / value(other))
    return out


def evaluate_targets(summaries: list[Summary], runs: list[RunRecord]) -> list[dict[str, Any]]:
    res: list[dict[str, Any]] = []
    for t in TARGETS:
        r = ratio(summaries, t.notebook, t.peer, t.metric)
        verdict = "n/a" if r is None else ("PASS" if r <= t.limit else "MISS")
        paired = paired_ratios(runs, t.notebook, t.peer, t.metric)
        res.append(
            {
                **asdict(t),
                "label": t.label,
                "ratio": r,
                "result": verdict,
                "paired_ratios": paired,
                "paired_pass": sum(x <= t.limit for x in paired),
            }
        )
    return res


def _fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}x"


def render_table(summaries: list[Summary], tools: Sequence[str]) -> str:
    head = (
        "notebook",
        "tool",
        "wall s (median)",
        "min-max s",
        "cpu s: all",
        "cpu s: tool",
        "peak RSS MiB",
        "ru_maxrss MiB",
        "kernel MiB",
        "wall vs papermill",
        "wall vs nbclient",
        "RSS vs papermill",
        "ok",
        "stalled",
        "others",
    )
    rows: list[tuple[str, ...]] = []
    for s in summaries:
        vs_pm = vs_nb = rss_pm = None
        if s.tool == "runner":
            vs_pm = (
                ratio(summaries, s.notebook, "papermill", "wall") if "papermill" in tools else None
            )
            vs_nb = (
                ratio(summaries, s.notebook, "nbclient", "wall") if "nbclient" in tools else None
            )
            rss_pm = (
                ratio(summaries, s.notebook, "papermill", "peak") if "papermill" in tools else None
            )
        rows.append(
            (
                s.notebook,
                s.tool,
                "FAILED" if s.wall_median_s is None else f"{s.wall_median_s:.3f}",
                "-" if s.wall_min_s is None else f"{s.wall_min_s:.3f}-{s.wall_max_s:.3f}",
                "-" if s.cpu_median_s is None else f"{s.cpu_median_s:.2f}",
                "-" if s.tool_cpu_median_s is None else f"{s.tool_cpu_median_s:.2f}",
                _mib(s.peak_median_kib),
                _mib(s.ru_maxrss_median_kib),
                _mib(s.kernel_median_kib),
                _fmt_ratio(vs_pm),
                _fmt_ratio(vs_nb),
                _fmt_ratio(rss_pm),
                f"{s.n_ok}/{s.n}",
                str(s.n_stalled),
                "-" if s.other_load_max is None else f"{s.other_load_max:.2f}",
            )
        )
    return markdown_table(head, rows)


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])


def sandbox_overhead(summaries: list[Summary]) -> dict[str, Any] | None:
    """What the sandbox adds to the trivial notebook's wall time."""
    on = _find(summaries, "trivial", "runner")
    off = _find(summaries, "trivial", "runner-unsandboxed")
    if on is None or off is None or on.wall_median_s is None or off.wall_median_s is None:
        return None
    added_ms = (on.wall_median_s - off.wall_median_s) * 1000
    return {
        "added_ms": added_ms,
        "limit_ms": SANDBOX_OVERHEAD_LIMIT_MS,
        "result": "PASS" if added_ms <= SANDBOX_OVERHEAD_LIMIT_MS else "MISS",
    }


def render_targets(targets: list[dict[str, Any]]) -> str:
    rows: list[tuple[str, ...]] = []
    for t in targets:
        paired: list[float] = t["paired_ratios"]
        rows.append(
            (
                t["label"],
                _fmt_ratio(t["ratio"]),
                f"<= {t['limit']:.2f}x",
                t["result"],
                f"{min(paired):.2f}-{max(paired):.2f}x" if paired else "-",
                f"{t['paired_pass']}/{len(paired)}" if paired else "-",
            )
        )
    return markdown_table(
        ("target", "ratio of medians", "limit", "result", "per-rep ratios", "reps within"), rows
    )


# --------------------------------------------------------------------------------------------------
# Machine and versions


def _cmd(argv: Sequence[str], cwd: Path = ROOT) -> str | None:
    try:
        p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpus_online": os.cpu_count(),
        "cpu_model": cpu,
        "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def commit_info() -> str:
    sha = _cmd(["git", "rev-parse", "--short", "HEAD"])
    if sha is None:
        return "uncommitted"
    dirty = _cmd(["git", "status", "--porcelain", "--untracked-files=no"])
    return f"{sha} (+ uncommitted changes)" if dirty else sha


def snapshot_runner(runner: Path, out: Path) -> tuple[Path, str]:
    """Copies the runner binary under `out`, so that a rebuild during the run cannot mix builds.

    Returns the copy and the first 12 hex digits of its SHA-256.
    """
    dest = out / "bin" / "runner"
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    shutil.copy2(runner, tmp)
    tmp.replace(dest)
    h = hashlib.sha256()
    with dest.open("rb") as f:
        while chunk := f.read(1 << 20):  # in chunks: our own peak RSS matters (see reset_own_peak)
            h.update(chunk)
    return dest, h.hexdigest()[:12]


def versions(
    tools: Sequence[str], runner: Path, copy: Path, digest: str | None
) -> dict[str, str | None]:
    v: dict[str, str | None] = {}
    for pkg in ("papermill", "nbclient", "jupyter_client", "ipykernel", "nbformat", "pyzmq"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            v[pkg] = None
    if any(t in RUNNERS for t in tools):
        v["runner"] = _cmd([str(copy), "--version"])
        st = copy.stat()  # the copy keeps the original's modification time
        stamp = dt.datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")
        v["runner_binary"] = (
            f"{runner} ({st.st_size:,} bytes, modified {stamp}, sha256 {digest}), "
            f"run as its copy {copy}"
        )
    return v


# --------------------------------------------------------------------------------------------------
# Main


@contextmanager
def jupyter_home() -> Iterator[Path]:
    """Fresh, empty Jupyter/IPython user dirs, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tiffin-bench-") as d:
        yield Path(d)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark `runner exec` against papermill and nbclient (see bench/README.md).",
    )
    p.add_argument("--reps", type=int, default=5, help="measured repetitions per tool and notebook")
    p.add_argument(
        "--tools",
        default=",".join(ALL_TOOLS),
        help=f"comma-separated subset of {','.join(ALL_TOOLS)} (default: all)",
    )
    p.add_argument(
        "--notebooks",
        default=",".join(NOTEBOOKS),
        help=f"comma-separated subset of {','.join(NOTEBOOKS)} (default: all)",
    )
    p.add_argument("--runner", type=Path, default=DEFAULT_RUNNER, help="the runner binary")
    p.add_argument("--out", type=Path, default=BENCH / "out", help="notebooks, logs, results.json")
    p.add_argument(
        "--timeout", type=float, default=300.0, help="kill a run after this many seconds"
    )
    p.add_argument(
        "--sample-interval", type=float, default=0.02, help="/proc sampling interval, seconds"
    )
    p.add_argument("--no-ptrace", action="store_true", help="tool peak from /proc sampling only")
    p.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for other processes to use "
        "< 0.15 CPU (0: don't wait)",
    )
    p.add_argument(
        "--no-warmup", action="store_true", help="skip the unmeasured kernel-check run per tool"
    )
    a = p.parse_args(argv)
    a.tools = [t for t in a.tools.split(",") if t]
    a.notebooks = [n for n in a.notebooks.split(",") if n]
    for t in a.tools:
        if t not in ALL_TOOLS:
            p.error(f"unknown tool {t!r} (choose from {', '.join(ALL_TOOLS)})")
    for n in a.notebooks:
        if n not in NOTEBOOKS:
            p.error(f"unknown notebook {n!r} (choose from {', '.join(NOTEBOOKS)})")
    if a.reps < 1:
        p.error("--reps must be at least 1")
    a.runner = a.runner.absolute()
    a.runner_exe = a.runner
    a.out = a.out.absolute()
    if any(t in RUNNERS for t in a.tools) and not os.access(a.runner, os.X_OK):
        p.error(
            f"{a.runner} does not exist or is not executable: build it "
            "(cargo build --release -p runner) or pass --tools papermill,nbclient"
        )
    for exe in ("papermill", "jupyter-execute", "python"):
        if not os.access(VENV / "bin" / exe, os.X_OK):
            p.error(f"{VENV / 'bin' / exe} is missing: run scripts/setup-venv")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    if not sys.platform.startswith("linux"):
        print("bench: Linux only (wait4 rusage and /proc)", file=sys.stderr)
        return 2
    args = parse_args(argv)
    tools: list[str] = args.tools
    notebooks: list[str] = args.notebooks
    nb_dir = args.out / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    (args.out / "logs").mkdir(parents=True, exist_ok=True)
    paths = {name: write_notebook(NOTEBOOKS[name], nb_dir) for name in notebooks}
    check_path = write_notebook(KERNEL_CHECK, nb_dir)
    subreaper = become_subreaper()
    digest: str | None = None
    if any(t in RUNNERS for t in tools):
        args.runner_exe, digest = snapshot_runner(args.runner, args.out)

    started = dt.datetime.now().astimezone()
    header = {
        "date": started.isoformat(timespec="seconds"),
        "commit": commit_info(),
        "machine": machine_info(),
        "versions": versions(tools, args.runner, args.runner_exe, digest),
        "config": {
            "reps": args.reps,
            "tools": tools,
            "notebooks": {n: NOTEBOOKS[n].description for n in notebooks},
            "sample_interval_s": args.sample_interval,
            "ptrace": not args.no_ptrace,
            "idle_wait_s": args.idle_wait,
            "warmup": not args.no_warmup,
            "venv": str(VENV),
        },
    }
    print(render_header(header))
    print()
    if not subreaper:
        print("warning: PR_SET_CHILD_SUBREAPER failed; orphaned kernels are not tracked")

    runs: list[RunRecord] = []
    with jupyter_home() as home:
        env = tool_env(home)
        if not args.no_warmup:
            print("Warm-up and kernel check (unmeasured):")
            for tool in tools:
                rec = run_one(tool, KERNEL_CHECK, check_path, -1, args, env)
                runs.append(rec)
                print(progress(rec), flush=True)
            print()
        print(f"Measured runs ({args.reps} repetitions, tool order rotated each repetition):")
        for rep in range(args.reps):
            order = tools[rep % len(tools) :] + tools[: rep % len(tools)]
            for name in notebooks:
                for tool in order:
                    rec = run_one(tool, NOTEBOOKS[name], paths[name], rep, args, env)
                    runs.append(rec)
                    print(progress(rec), flush=True)

    finished = dt.datetime.now().astimezone()
    summaries = summarize(runs, notebooks, tools)
    targets = evaluate_targets(summaries, runs) if "runner" in tools else []
    kernels = {
        f"{r.tool}": r.m.kernel_argv for r in runs if r.m.kernel_argv and r.ok and r.rep < 0
    } or {f"{r.tool}": r.m.kernel_argv for r in runs if r.m.kernel_argv}
    report = render_report(summaries, targets, tools, runs, kernels)
    print()
    print(report)
    (args.out / "report.md").write_text(
        f"```\n{render_header(header)}\n  finished {finished.isoformat(timespec='seconds')}\n```"
        f"\n\n{report}\n"
    )

    results = {
        **header,
        "finished": finished.isoformat(timespec="seconds"),
        "kernel_argv": kernels,
        "summary": [asdict(s) for s in summaries],
        "targets": targets,
        "sandbox_overhead": sandbox_overhead(summaries),
        "runs": [
            {**asdict(r), "m": {**asdict(r.m), "tool_peak_kib": r.m.tool_peak_kib}} for r in runs
        ],
    }
    out_json = args.out / "results.json"
    out_json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nResults: {out_json} (all runs), {args.out / 'report.md'} (this summary)")
    failed = [r for r in runs if not r.ok]
    return 1 if failed else 0


def render_header(h: dict[str, Any]) -> str:
    m = h["machine"]
    v = h["versions"]
    lines = [
        "Tiffin runner benchmark",
        f"  date     {h['date']}",
        f"  commit   {h['commit']}",
        f"  machine  {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}",
        "  versions " + ", ".join(f"{k} {val}" for k, val in v.items() if k != "runner_binary"),
    ]
    if v.get("runner_binary"):
        lines.append(f"  binary   {v['runner_binary']}")
    c = h["config"]
    lines.append(
        f"  config   {c['reps']} reps; tools {', '.join(c['tools'])}; "
        f"/proc sampled every {c['sample_interval_s'] * 1000:g} ms; "
        f"ptrace exit stop {'on' if c['ptrace'] else 'off'}; venv {c['venv']}"
    )
    for name, desc in c["notebooks"].items():
        lines.append(f"  notebook {name}: {desc}")
    return "\n".join(lines)


def render_report(
    summaries: list[Summary],
    targets: list[dict[str, Any]],
    tools: Sequence[str],
    runs: list[RunRecord],
    kernels: dict[str, list[str]],
) -> str:
    """The results as Markdown (also readable as plain text)."""
    parts = [
        "Results (median of the successful runs; peak RSS = the tool process alone, "
        "ru_maxrss = wait4() figure, kernel = the kernel's own peak; cpu s: all = tool + "
        "kernel, tool = the tool process alone; "
        f"stalled = runs idle > {STALL_S} s; others = CPUs used by other processes during the "
        "worst run):",
        "",
        render_table(summaries, tools),
    ]
    if targets:
        parts += ["", "Targets (runner / peer, medians):", "", render_targets(targets)]
    overhead = sandbox_overhead(summaries)
    if overhead is not None:
        parts += [
            "",
            f"Sandbox overhead (trivial, runner minus runner --no-sandbox, medians): "
            f"{overhead['added_ms']:.0f} ms, limit {overhead['limit_ms']:.0f} ms: "
            f"{overhead['result']}",
        ]
    # argv[0] is the venv's python under different names (python, python3): compare resolved.
    distinct = {(os.path.realpath(a[0]), *a[1:]) for a in kernels.values() if a}
    parts += ["", "Kernel command line per tool (must be the same venv python):", ""]
    parts += [f"- {t}: `{' '.join(a)}`" for t, a in kernels.items()]
    if len(distinct) > 1:
        parts.append("- note: the command lines differ beyond the name of the python executable")
    lingers = [
        (r.tool, r.m.kernel_linger_s)
        for r in runs
        if r.m.kernel_linger_s is not None and r.rep >= 0
    ]
    if lingers:
        parts += ["", "Kernel still alive after the tool exited (median / max):", ""]
        for tool in tools:
            xs = [x for t, x in lingers if t == tool]
            if xs:
                parts.append(
                    f"- {tool}: {statistics.median(xs) * 1000:.1f} ms / {max(xs) * 1000:.1f} ms"
                )
    noisy = [r for r in runs if r.rep >= 0 and r.m.other_load > NOISY_LOAD]
    if noisy:
        parts += [
            "",
            f"WARNING: {len(noisy)} measured runs shared the machine with other busy processes "
            f"(> {NOISY_LOAD} CPU on average; column 'others'): their times are inflated.",
        ]
    stalled = [r for r in runs if r.rep >= 0 and r.m.stalled]
    if stalled:
        parts += [
            "",
            f"{len(stalled)} measured runs stalled: more than {STALL_S} s of their wall time had "
            "neither the tool nor its kernel on a CPU while the machine was otherwise idle "
            "(column 'stalled'; the kernel sometimes takes ~2.4 s longer to exit, see "
            "bench/README.md). Medians absorb one or two per row; min-max shows them.",
        ]
    steal = [r.m.steal_s / r.m.wall_s for r in runs if r.m.wall_s > 0]
    if steal and max(steal) > NOISY_LOAD:
        parts.append(f"WARNING: the hypervisor stole up to {max(steal):.2f} CPU during a run.")
    parts += notes_and_failures(
        [(r.tool, r) for r in runs], [(f"{r.notebook} / {r.tool}", r) for r in runs]
    )
    return "\n".join(parts)


class Measured(Protocol):
    """What the report needs of one run, of `bench/run` or `bench/run-data`."""

    @property
    def m(self) -> Measurement: ...
    @property
    def ok(self) -> bool: ...
    @property
    def rep(self) -> int: ...
    @property
    def error(self) -> str | None: ...
    @property
    def argv(self) -> list[str]: ...
    @property
    def stderr_tail(self) -> str: ...


def notes_and_failures(
    noted: Sequence[tuple[str, Measured]], labelled: Sequence[tuple[str, Measured]]
) -> list[str]:
    """The report's closing sections: the measurement notes (per `noted` label) and, for every
    failed run (with its `labelled` label), its error, command and stderr tail."""
    parts: list[str] = []
    notes = sorted({f"{label}: {n}" for label, r in noted for n in r.m.notes})
    if notes:
        parts += ["", "Notes:", ""] + [f"- {n}" for n in notes]
    failed = [(label, r) for label, r in labelled if not r.ok]
    if failed:
        parts += ["", f"FAILURES ({len(failed)}):", "", "```"]
        for label, r in failed:
            rep = "warm-up" if r.rep < 0 else f"rep {r.rep + 1}"
            parts.append(f"{label} / {rep}: {r.error}")
            parts.append(f"  $ {' '.join(r.argv)}")
            parts += [f"  | {line}" for line in r.stderr_tail.splitlines()]
        parts.append("```")
    return parts


if __name__ == "__main__":
    sys.exit(main())
