"""How the runner watches a kernel over a long run: periodic saves, the heartbeat, its own death,
and the progress bar on a terminal."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from conftest import Runner, code, is_alive, kill_pids, stream_text


def test_partial_notebook_is_saved_during_a_long_cell(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    path = nb_file(
        [
            code("print('first')", cell_id="first"),
            code("import time\nprint('working', flush=True)\ntime.sleep(4)", cell_id="slow"),
        ]
    )
    out = path.with_name("saved.ipynb")
    handle = runner.start(path, "--autosave", "1", "--no-progress", output=out)
    assert handle.wait_until(out.exists, timeout=20), "no save while the slow cell ran"
    # The file is replaced atomically, so whatever is there now is a whole notebook.
    partial = nbformat.read(str(out), as_version=4)
    first = next(c for c in partial.cells if c.get("id") == "first")
    assert stream_text(first) == "first\n"
    assert handle.popen.poll() is None, "the save should come while the run is still going"
    run = handle.finish(timeout=40)
    assert run.returncode == 0, run.describe()
    slow = next(c for c in run.notebook().cells if c.get("id") == "slow")
    assert slow.metadata.papermill.status == "completed"


def test_no_periodic_save_with_autosave_zero(runner: Runner, nb_file: Callable[..., Path]) -> None:
    path = nb_file([code("import time\ntime.sleep(2.5)")])
    out = path.with_name("late.ipynb")
    handle = runner.start(path, "--autosave", "0", "--no-progress", output=out)
    handle.wait_until(lambda: False, timeout=2)
    assert not out.exists(), "the notebook was written before the run ended"
    assert handle.finish(timeout=30).returncode == 0


def test_a_frozen_kernel_is_declared_dead_through_its_heartbeat(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    """SIGSTOP freezes every thread of the kernel, the heartbeat's too: the process is alive but
    answers nothing, which only the heartbeat can tell."""
    path = nb_file([code("import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)"), code("1")])
    run = runner.run(path, "--no-progress", timeout=40)
    assert run.returncode == 4, run.describe()
    assert "heartbeat" in run.stderr, run.describe()
    assert run.duration < 20, run.describe()


def test_kernel_exits_when_the_runner_is_killed(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    """SIGKILL leaves the runner no chance to clean up: the kernel notices its parent is gone."""
    path = nb_file([code("import time\ntime.sleep(60)")])
    handle = runner.start(path, "--no-progress")
    kernel = handle.wait_for_kernel()
    time.sleep(1)
    handle.popen.send_signal(signal.SIGKILL)
    handle.popen.wait()
    deadline = time.monotonic() + 10
    while is_alive(kernel.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = is_alive(kernel.pid)
    kill_pids([kernel.pid])
    assert not alive, "the kernel outlived its SIGKILLed runner by more than 10 s"


def test_progress_bar_on_a_terminal(runner: Runner, nb_file: Callable[..., Path]) -> None:
    path = nb_file([code("1"), code("2"), code("3")])
    out = path.with_name("tty.ipynb")
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(runner.binary), "exec", str(path), "-o", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env={**runner.env, "TERM": "xterm"},
    )
    os.close(follower)
    screen = b""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    assert proc.wait(timeout=10) == 0
    text = screen.decode(errors="replace")
    assert "cell 3/3" in text, text
    assert "done in" not in text, "a terminal gets the bar, not the plain per-cell lines"
