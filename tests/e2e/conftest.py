"""Shared fixtures and helpers for the `runner exec` end-to-end suite.

Every runner invocation goes through `Runner.start`/`Runner.run`, which:
- runs the binary from `TIFFIN_RUNNER` (default `target/debug/runner`, relative to the repo root)
  with the venv first on PATH, `VIRTUAL_ENV` set and an empty `JUPYTER_DATA_DIR`;
- tags the runner's environment with a unique marker so the kernels it starts can be found in
  /proc (and are also found as descendants of the runner while it runs);
- captures stdout/stderr in files (never a pipe that could fill up), and parses the output notebook.

After every test, an autouse fixture checks each run of that test: the output notebook validates
with nbformat and is byte-for-byte what nbformat writes, and no process of the run is left alive.
Problems found there are reported as errors at teardown (the test's own result stays separate).
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV = REPO_ROOT / ".venv"
VENV_BIN = VENV / "bin"
VENV_PYTHON = VENV_BIN / "python"
MARKER_VAR = "TIFFIN_E2E_RUN"
DEFAULT_RUN_TIMEOUT = 60.0
POLL_INTERVAL = 0.02
ERROR_TAG = "papermill-error-cell-tag"


# --------------------------------------------------------------------------------------------
# Notebook construction
# --------------------------------------------------------------------------------------------


def code(
    source: str,
    *,
    tags: Sequence[str] = (),
    cell_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> NotebookNode:
    """A code cell; `cell_id` must match nbformat's id pattern ([a-zA-Z0-9-_], 1-64 chars)."""
    cell = new_code_cell(source, metadata=dict(metadata or {}))
    if tags:
        cell.metadata["tags"] = list(tags)
    if cell_id is not None:
        cell.id = cell_id
    return cell


def markdown(source: str, *, cell_id: str | None = None) -> NotebookNode:
    cell = new_markdown_cell(source)
    if cell_id is not None:
        cell.id = cell_id
    return cell


def make_notebook(
    cells: Sequence[NotebookNode | str], *, kernel: str | None = "python3"
) -> NotebookNode:
    nb = new_notebook(cells=[code(c) if isinstance(c, str) else c for c in cells])
    if kernel is not None:
        nb.metadata["kernelspec"] = {
            "name": kernel,
            "display_name": f"Kernel {kernel}",
            "language": "python",
        }
    return nb


def write_notebook(nb: NotebookNode, path: Path) -> Path:
    nbformat.write(nb, str(path))
    return path


def code_cells(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"]


def stream_text(cell: NotebookNode, name: str = "stdout") -> str:
    return "".join(
        o["text"] for o in cell.get("outputs", []) if o.output_type == "stream" and o.name == name
    )


def cell_by_id(nb: NotebookNode, cell_id: str) -> NotebookNode:
    matches = [c for c in nb.cells if c.get("id") == cell_id]
    assert len(matches) == 1, f"expected one cell with id {cell_id!r}, found {len(matches)}"
    return matches[0]


def literal_from_stdout(cell: NotebookNode) -> Any:
    """The Python literal a cell printed (with `print(repr(...))`) as its last stdout line."""
    text = stream_text(cell).strip()
    assert text, f"cell printed nothing on stdout; outputs: {cell.get('outputs')}"
    return ast.literal_eval(text.splitlines()[-1])


# --------------------------------------------------------------------------------------------
# /proc inspection (psutil is not available)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    cmdline: tuple[str, ...]


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def read_cmdline(pid: int) -> tuple[str, ...]:
    raw = _read_bytes(f"/proc/{pid}/cmdline") or b""
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


def _stat_fields(pid: int) -> list[str] | None:
    raw = _read_bytes(f"/proc/{pid}/stat")
    if raw is None:
        return None
    # The command name is in parentheses and may contain spaces: split after the last ')'.
    return raw[raw.rfind(b")") + 2 :].decode().split()


def is_alive(pid: int) -> bool:
    """True for a running process; False for a gone one or a zombie awaiting its reaper."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def parent_pid(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def has_env_entry(pid: int, entry: bytes) -> bool:
    raw = _read_bytes(f"/proc/{pid}/environ")
    return raw is not None and entry in raw.split(b"\0")


def processes_with_marker(marker: str) -> list[ProcInfo]:
    entry = f"{MARKER_VAR}={marker}".encode()
    return [
        ProcInfo(pid, read_cmdline(pid))
        for pid in _pids()
        if pid != os.getpid() and has_env_entry(pid, entry) and is_alive(pid)
    ]


def processes_mentioning(text: str) -> list[ProcInfo]:
    """Live processes whose command line mentions `text` (e.g. a kernel's connection file)."""
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        cmd = read_cmdline(pid)
        if any(text in arg for arg in cmd) and is_alive(pid):
            found.append(ProcInfo(pid, cmd))
    return found


def connection_file_from_cmdline(cmdline: Sequence[str]) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg == "-f" and i + 1 < len(cmdline):
            return cmdline[i + 1]
        for prefix in ("--f=", "-f=", "--IPKernelApp.connection_file=", "--connection-file="):
            if arg.startswith(prefix):
                return arg[len(prefix) :]
    return None


def kill_pids(pids: Sequence[int]) -> None:
    """Kill processes that this suite's runs started (by pid; never by name)."""
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


@dataclass
class KernelSeen:
    """A kernel process observed while a run was in progress."""

    pid: int
    cmdline: tuple[str, ...]
    connection_file: Path | None
    connection: dict[str, Any] | None = None

    def artifacts(self) -> list[Path]:
        """The connection file and (for ipc transport) the socket files the kernel used."""
        paths: list[Path] = []
        if self.connection_file is not None:
            paths.append(self.connection_file)
        info = self.connection or {}
        if info.get("transport") == "ipc":
            for key in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
                if key in info:
                    paths.append(Path(f"{info['ip']}-{info[key]}"))
        return paths


# --------------------------------------------------------------------------------------------
# Running the runner
# --------------------------------------------------------------------------------------------


class _Auto:
    """Sentinel: choose `<stem>.executed.ipynb` next to the input and pass it with -o."""


AUTO = _Auto()
OutputSpec = Path | str | None | _Auto


@dataclass
class RunResult:
    proc: subprocess.CompletedProcess[str]
    duration: float
    output_path: Path | None
    output_text: str | None
    nb: NotebookNode | None
    kernels: list[KernelSeen]
    marker: str
    check_format: bool = True

    @property
    def returncode(self) -> int:
        return self.proc.returncode

    @property
    def stdout(self) -> str:
        return self.proc.stdout

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    def describe(self) -> str:
        """Context for assertion messages."""
        return (
            f"args: {self.proc.args}\nexit code: {self.returncode}\n"
            f"duration: {self.duration:.2f}s\n"
            f"stdout (tail): {self.stdout[-1500:]!r}\nstderr (tail): {self.stderr[-3000:]!r}"
        )

    def notebook(self) -> NotebookNode:
        assert self.nb is not None, f"no output notebook was written\n{self.describe()}"
        return self.nb


_PENDING_CHECKS: list[RunResult] = []


class RunHandle:
    """A runner process in flight; polls /proc for the kernels it starts."""

    def __init__(
        self,
        args: list[str],
        popen: subprocess.Popen[bytes],
        marker: str,
        output: Path | str | None,
        stdout_path: Path,
        stderr_path: Path,
        check_format: bool,
    ) -> None:
        self.args = args
        self.popen = popen
        self.marker = marker
        self.output = output
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.check_format = check_format
        self.started = time.monotonic()
        self.kernels: dict[int, KernelSeen] = {}
        self._marker_entry = f"{MARKER_VAR}={marker}".encode()

    def _descends_from_runner(self, pid: int) -> bool:
        current: int | None = pid
        for _ in range(16):
            if current is None or current <= 1:
                return False
            if current == self.popen.pid:
                return True
            current = parent_pid(current)
        return False

    def poll_kernels(self) -> None:
        for pid in _pids():
            known = self.kernels.get(pid)
            if known is not None:
                if known.connection is None and known.connection_file is not None:
                    known.connection = _read_json(known.connection_file)
                continue
            cmd = read_cmdline(pid)
            if not any("ipykernel" in arg for arg in cmd) or not is_alive(pid):
                continue
            if has_env_entry(pid, self._marker_entry) or self._descends_from_runner(pid):
                cf = connection_file_from_cmdline(cmd)
                path = Path(cf) if cf else None
                self.kernels[pid] = KernelSeen(
                    pid, cmd, path, _read_json(path) if path is not None else None
                )

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll_kernels()
            if condition():
                return True
            if self.popen.poll() is not None:
                return condition()
            time.sleep(POLL_INTERVAL)
        return condition()

    def wait_for_kernel(self, timeout: float = 20.0) -> KernelSeen:
        ok = self.wait_until(lambda: bool(self.kernels), timeout)
        assert ok, (
            f"no kernel process appeared within {timeout}s (runner exit: {self.popen.poll()})"
        )
        return next(iter(self.kernels.values()))

    def stdout_so_far(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def send_signal(self, sig: signal.Signals) -> float:
        self.popen.send_signal(sig)
        return time.monotonic()

    def peak_rss_kib(self) -> int:
        """Waits for the runner to exit, sampling its own peak resident size (VmHWM, which
        only grows) every 50 ms; returns the last value read, in KiB. Call `finish` after."""
        peak = 0
        while self.popen.poll() is None:
            try:
                status = Path(f"/proc/{self.popen.pid}/status").read_text()
            except OSError:
                break
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
            time.sleep(0.05)
        return peak

    def finish(self, timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        deadline = self.started + timeout
        while self.popen.poll() is None:
            self.poll_kernels()
            if time.monotonic() > deadline:
                self.popen.kill()
                self.popen.wait()
                self._kill_leftovers()
                raise AssertionError(
                    f"runner did not finish within {timeout}s: {self.args}\n"
                    f"stderr (tail): {self.stderr_path.read_text(errors='replace')[-3000:]!r}"
                )
            time.sleep(POLL_INTERVAL)
        duration = time.monotonic() - self.started
        stdout = self.stdout_path.read_text(errors="replace")
        stderr = self.stderr_path.read_text(errors="replace")
        proc = subprocess.CompletedProcess(self.args, self.popen.returncode, stdout, stderr)
        output_path: Path | None = None
        text: str | None = None
        if self.output == "-":
            text = stdout if stdout.strip() else None
        elif isinstance(self.output, Path):
            output_path = self.output
            if output_path.exists():
                text = output_path.read_text(encoding="utf-8")
        nb: NotebookNode | None = None
        if text is not None:
            try:
                nb = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
            except Exception as exc:
                raise AssertionError(
                    f"output notebook {self.output} is not readable JSON/nbformat: {exc}\n"
                    f"first 500 chars: {text[:500]!r}\nstderr: {stderr[-2000:]!r}"
                ) from exc
        result = RunResult(
            proc=proc,
            duration=duration,
            output_path=output_path,
            output_text=text,
            nb=nb,
            kernels=list(self.kernels.values()),
            marker=self.marker,
            check_format=self.check_format,
        )
        _PENDING_CHECKS.append(result)
        return result

    def _kill_leftovers(self) -> None:
        pids = [p.pid for p in processes_with_marker(self.marker)]
        pids += [k.pid for k in self.kernels.values() if is_alive(k.pid)]
        kill_pids(pids)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class Runner:
    """Starts `runner` processes with the suite's environment."""

    def __init__(
        self,
        binary: Path,
        env: dict[str, str],
        workdir: Path,
        default_options: Sequence[str] = (),
    ) -> None:
        self.binary = binary
        self.env = env
        self.default_options = tuple(default_options)
        self.workdir = workdir  # scratch space for stdout/stderr capture and a neutral cwd
        self.neutral_cwd = workdir / "cwd"
        self.neutral_cwd.mkdir(parents=True, exist_ok=True)

    def start_raw(
        self,
        argv: Sequence[str],
        *,
        output: Path | str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        check_format: bool = True,
    ) -> RunHandle:
        """Start `runner ARGV...`; `output` tells where the notebook is expected ('-': stdout)."""
        marker = uuid.uuid4().hex
        run_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                run_env.pop(key, None)
            else:
                run_env[key] = value
        run_env[MARKER_VAR] = marker
        capture = self.workdir / f"run-{marker}"
        capture.mkdir()
        stdout_path, stderr_path = capture / "stdout", capture / "stderr"
        args = [str(self.binary), *argv]
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=run_env,
                cwd=str(cwd or self.neutral_cwd),
                start_new_session=True,
            )
        return RunHandle(args, popen, marker, output, stdout_path, stderr_path, check_format)

    def start(
        self,
        notebook: Path,
        *options: str,
        output: OutputSpec = AUTO,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        check_format: bool = True,
    ) -> RunHandle:
        """Start `runner exec NOTEBOOK [-o OUT] OPTIONS...`.

        output: AUTO -> `-o <stem>.executed.ipynb`; a Path or '-' -> passed with -o;
        None -> no -o (the runner's default `<stem>.out.ipynb` is expected).
        """
        argv: list[str] = ["exec", str(notebook)]
        expected: Path | str
        if isinstance(output, _Auto):
            expected = notebook.with_name(f"{notebook.stem}.executed.ipynb")
            argv += ["-o", str(expected)]
        elif output is None:
            expected = notebook.with_name(f"{notebook.stem}.out.ipynb")
        else:
            expected = output if output == "-" else Path(output)
            argv += ["-o", str(output)]
        argv += [*self.default_options, *options]
        return self.start_raw(argv, output=expected, cwd=cwd, env=env, check_format=check_format)

    def run(
        self,
        notebook: Path,
        *options: str,
        timeout: float = DEFAULT_RUN_TIMEOUT,
        output: OutputSpec = AUTO,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        check_format: bool = True,
    ) -> RunResult:
        handle = self.start(
            notebook, *options, output=output, cwd=cwd, env=env, check_format=check_format
        )
        return handle.finish(timeout)

    def run_raw(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_RUN_TIMEOUT,
        output: Path | str | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> RunResult:
        return self.start_raw(argv, output=output, cwd=cwd, env=env).finish(timeout)


# --------------------------------------------------------------------------------------------
# Output notebook checks (run for every output at teardown, and directly by test_output_format)
# --------------------------------------------------------------------------------------------


def jupyter_written_text(text: str) -> str:
    """What nbformat writes for the notebook in `text` (nbformat.write adds the final newline)."""
    expected = nbformat.writes(nbformat.reads(text, as_version=nbformat.NO_CONVERT))
    return expected if expected.endswith("\n") else expected + "\n"


def format_problems(text: str, where: str) -> list[str]:
    problems: list[str] = []
    try:
        nbformat.validate(json.loads(text))
    except Exception as exc:
        problems.append(f"{where}: nbformat.validate failed: {str(exc)[:1500]}")
    expected = jupyter_written_text(text)
    if text != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    "as nbformat writes it",
                    "as the runner wrote it",
                    n=1,
                )
            )[:40]
        )
        problems.append(f"{where}: JSON text differs from nbformat.writes(...) + '\\n':\n{diff}")
    return problems


def leftover_problems(run: RunResult, grace: float = 1.0) -> list[str]:
    """Processes of a finished run that are still alive (killed here after being reported)."""
    deadline = time.monotonic() + grace
    while True:
        leftovers = processes_with_marker(run.marker)
        for kernel in run.kernels:
            if kernel.connection_file is not None:
                leftovers += processes_mentioning(str(kernel.connection_file))
            if is_alive(kernel.pid) and read_cmdline(kernel.pid) == kernel.cmdline:
                leftovers.append(ProcInfo(kernel.pid, kernel.cmdline))
        if not leftovers or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if not leftovers:
        return []
    unique = {p.pid: p for p in leftovers}
    kill_pids(list(unique))
    listing = "; ".join(f"pid {p.pid}: {' '.join(p.cmdline)[:200]}" for p in unique.values())
    return [f"processes left behind by {run.proc.args}: {listing}"]


@pytest.fixture(autouse=True)
def _check_runs_of_test() -> Iterator[None]:
    yield
    runs = list(_PENDING_CHECKS)
    _PENDING_CHECKS.clear()
    problems: list[str] = []
    for run in runs:
        problems += leftover_problems(run)
        if run.check_format and run.output_text is not None:
            problems += format_problems(run.output_text, f"output of {run.proc.args}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def runner_binary_path() -> Path:
    raw = Path(os.environ.get("TIFFIN_RUNNER", "target/debug/runner"))
    return raw if raw.is_absolute() else REPO_ROOT / raw


@pytest.fixture(scope="session")
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the runner and the reference tools: only the venv's kernels are visible."""
    base = tmp_path_factory.mktemp("jupyter-env")
    dirs = {name: base / name for name in ("data", "config", "runtime", "ipython", "state")}
    for path in dirs.values():
        path.mkdir()
    dropped_prefixes = (
        "JUPYTER",
        "CONDA",
        "PYTHON",
        "IPYTHON",
        "MPL",
        "VIRTUAL_ENV",
        "RUST_LOG",
        "RUNNER_LOG",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"
    env["VIRTUAL_ENV"] = str(VENV)
    env["JUPYTER_DATA_DIR"] = str(dirs["data"])
    env["JUPYTER_CONFIG_DIR"] = str(dirs["config"])
    env["JUPYTER_RUNTIME_DIR"] = str(dirs["runtime"])
    env["IPYTHONDIR"] = str(dirs["ipython"])
    env["XDG_STATE_HOME"] = str(dirs["state"])  # where runs without a tiffin.toml record lineage
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    return env


@pytest.fixture(scope="session")
def runner(kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Runner:
    binary = runner_binary_path()
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        pytest.fail(
            f"runner binary not found at {binary} (set TIFFIN_RUNNER or build it first)",
            pytrace=False,
        )
    return Runner(binary, kernel_env, tmp_path_factory.mktemp("runner-io"))


@pytest.fixture(scope="session")
def host_runner(runner: Runner) -> Runner:
    """Runs with `--no-sandbox`, for tests that watch the kernel through host files (markers
    proving which cells ran), need the notebook's directory as cwd, or compare tracebacks with
    peers whose HOME is the host's. What the sandbox changes is covered by test_sandbox_attacks."""
    return Runner(runner.binary, runner.env, runner.workdir, default_options=["--no-sandbox"])


@pytest.fixture
def nb_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a notebook built from cells into tmp_path; returns its path."""

    def make(
        cells: Sequence[NotebookNode | str],
        name: str = "notebook.ipynb",
        *,
        kernel: str | None = "python3",
    ) -> Path:
        return write_notebook(make_notebook(cells, kernel=kernel), tmp_path / name)

    return make


# --------------------------------------------------------------------------------------------
# Reference implementations (run from the venv, in subprocesses, with the same environment)
# --------------------------------------------------------------------------------------------

_NBCLIENT_SCRIPT = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, kernel_name="python3", coalesce_streams=True, timeout=60,
               allow_errors=sys.argv[4] == "allow-errors",
               resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(nb, sys.argv[2])
"""


def run_nbclient(
    notebook: Path, output: Path, env: Mapping[str, str], *, allow_errors: bool = False
) -> NotebookNode:
    proc = subprocess.run(
        [
            str(VENV_PYTHON),
            "-c",
            _NBCLIENT_SCRIPT,
            str(notebook),
            str(output),
            str(notebook.parent),
            "allow-errors" if allow_errors else "stop-on-error",
        ],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"nbclient reference run failed: {proc.stderr[-3000:]}"
    return nbformat.read(str(output), as_version=4)


def run_papermill(
    notebook: Path, output: Path, env: Mapping[str, str], *options: str, expect_ok: bool = True
) -> NotebookNode:
    proc = subprocess.run(
        [
            str(VENV_BIN / "papermill"),
            str(notebook),
            str(output),
            "-k",
            "python3",
            "--no-progress-bar",
            "--cwd",
            str(notebook.parent),
            *options,
        ],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if expect_ok:
        assert proc.returncode == 0, f"papermill reference run failed: {proc.stderr[-3000:]}"
    return nbformat.read(str(output), as_version=4)


# --------------------------------------------------------------------------------------------
# A webhook receiver (a chat service cannot exist here)
# --------------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook receiver: answers the statuses in `answers` in turn (then 200)."""

    url: str
    bodies: list[dict[str, Any]]
    answers: list[int]


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    bodies: list[dict[str, Any]] = []
    answers: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            assert self.headers.get("content-type") == "application/json"
            bodies.append(json.loads(self.rfile.read(length)))
            status = answers.pop(0) if answers else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"try later")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/T0", bodies, answers)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def git(repo: Path, *args: str) -> str:
    """Runs real git in `repo`; its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def new_repo(path: Path) -> Path:
    """A new git repository at `path` (made if missing) on branch main, with a committer set."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "user.name", "Tiffin Test")
    return path
