"""No kernel process and no run dir (connection file, ipc sockets) outlive any kind of run."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    KernelSeen,
    Runner,
    RunResult,
    code,
    code_cells,
    make_notebook,
    processes_mentioning,
    stream_text,
    write_notebook,
)


@dataclass(frozen=True)
class Kind:
    middle: str  # source of the cell between a short warm-up cell and a final marker cell
    options: tuple[str, ...]
    exit_code: int
    signal: signal.Signals | None = None


KINDS: dict[str, Kind] = {
    "success": Kind("print('fine')", (), 0),
    "error": Kind("raise ValueError('cleanup')", (), 1),
    "kernel-death": Kind("import os\nos._exit(1)", (), 4),
    "cell-timeout": Kind("while True:\n    pass", ("--cell-timeout", "1"), 3),
    "run-timeout": Kind("while True:\n    pass", ("--timeout", "2"), 3),
    "sigint": Kind("time.sleep(60)", (), 130, signal.SIGINT),
    "sigterm": Kind("time.sleep(60)", (), 130, signal.SIGTERM),
    "sigint-kernel-ignores-it": Kind(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(60)",
        (),
        130,
        signal.SIGINT,
    ),
}


@dataclass
class CleanupRun:
    run: RunResult
    kernels: list[KernelSeen]
    after_marker: Path
    signalled_exit_seconds: float | None


def start_and_finish(runner: Runner, tmp_path: Path, kind: Kind) -> CleanupRun:
    busy = tmp_path / "middle.started"
    after = tmp_path / "after.ran"
    nb = make_notebook(
        [
            code("import time\nprint('before')\ntime.sleep(0.3)", cell_id="before"),
            code(f"open({str(busy)!r}, 'w').close()\n{kind.middle}", cell_id="middle"),
            code(f"open({str(after)!r}, 'w').close()", cell_id="after"),
        ]
    )
    path = write_notebook(nb, tmp_path / "cleanup.ipynb")
    handle = runner.start(path, *kind.options)
    handle.wait_for_kernel(timeout=20)
    exit_seconds: float | None = None
    if kind.signal is not None:
        assert handle.wait_until(busy.exists, timeout=20), "the sleeping cell never started"
        sent = handle.send_signal(kind.signal)
        run = handle.finish(timeout=60)
        exit_seconds = time.monotonic() - sent
    else:
        run = handle.finish(timeout=40)
    return CleanupRun(run, list(handle.kernels.values()), after, exit_seconds)


def live_kernel_processes(kernels: list[KernelSeen], grace: float = 0.5) -> list[str]:
    deadline = time.monotonic() + grace
    while True:
        alive = [
            f"pid {p.pid}: {' '.join(p.cmdline)}"
            for k in kernels
            if k.connection_file is not None
            for p in processes_mentioning(str(k.connection_file))
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


class Outcomes:
    """Runs each kind once per module; both tests below look at the same run."""

    def __init__(self, runner: Runner, factory: pytest.TempPathFactory) -> None:
        self.runner = runner
        self.factory = factory
        self.done: dict[str, CleanupRun] = {}
        self.dirs: dict[str, Path] = {}

    def get(self, name: str) -> tuple[CleanupRun, Path]:
        if name not in self.done:
            self.dirs[name] = self.factory.mktemp(f"cleanup-{name}")
            self.done[name] = start_and_finish(self.runner, self.dirs[name], KINDS[name])
        return self.done[name], self.dirs[name]


@pytest.fixture(scope="module")
def outcomes(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Outcomes:
    return Outcomes(runner, tmp_path_factory)


@pytest.mark.parametrize("name", list(KINDS))
def test_nothing_left_behind(outcomes: Outcomes, name: str) -> None:
    kind = KINDS[name]
    outcome, workdir = outcomes.get(name)
    run = outcome.run
    assert run.returncode == kind.exit_code, run.describe()
    assert outcome.kernels, "no kernel was observed during the run"
    assert all(k.connection_file is not None for k in outcome.kernels), outcome.kernels

    assert live_kernel_processes(outcome.kernels) == []
    leftovers = [str(p) for k in outcome.kernels for p in k.artifacts() if p.exists()]
    assert leftovers == [], "connection file / ipc sockets left behind"
    for kernel in outcome.kernels:
        assert kernel.connection_file is not None
        run_dir = kernel.connection_file.parent
        if run_dir not in (Path("/tmp"), workdir):
            assert not run_dir.exists(), f"run dir {run_dir} left behind: {list(run_dir.iterdir())}"
    assert outcome.after_marker.exists() == (kind.exit_code == 0), "last cell ran iff success"


@pytest.mark.parametrize("name", ["sigint", "sigterm", "sigint-kernel-ignores-it"])
def test_signal_exits_130_quickly_with_partial_notebook(outcomes: Outcomes, name: str) -> None:
    outcome, _ = outcomes.get(name)
    run = outcome.run
    assert run.returncode == 130, run.describe()
    assert outcome.signalled_exit_seconds is not None
    assert outcome.signalled_exit_seconds < 10, run.describe()
    cells = {c.id: c for c in code_cells(run.notebook())}
    assert stream_text(cells["before"]) == "before\n"
    assert cells["before"].execution_count == 1
    assert cells["after"].execution_count is None
    assert cells["after"].outputs == []


def test_sigint_while_the_kernel_starts(runner: Runner, tmp_path: Path) -> None:
    """Interrupted before the kernel is ready: exit 130, and the kernel and run dir are gone."""
    path = write_notebook(make_notebook(["print('never mind')"]), tmp_path / "early.ipynb")
    handle = runner.start(path)
    kernel = handle.wait_for_kernel(timeout=20)
    sent = handle.send_signal(signal.SIGINT)
    run = handle.finish(timeout=30)
    assert run.returncode == 130, run.describe()
    assert time.monotonic() - sent < 10
    assert live_kernel_processes([kernel]) == []
    assert kernel.connection_file is not None
    assert not kernel.connection_file.exists()
    assert not kernel.connection_file.parent.exists() or kernel.connection_file.parent in (
        Path("/tmp"),
        tmp_path,
    )


@pytest.fixture(scope="session")
def runner(host_runner: Runner) -> Runner:
    """This module observes cells through marker files on the host: run unsandboxed."""
    return host_runner
