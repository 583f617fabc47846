"""Console output: --log-output echo, plain progress lines when not a tty, --no-progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from conftest import Runner, code, make_notebook, write_notebook

STDOUT_TOKEN = "E2E-STDOUT-TOKEN"
STDERR_TOKEN = "E2E-STDERR-TOKEN"
TOKEN_CELL = f"import sys\nprint('{STDOUT_TOKEN}')\nprint('{STDERR_TOKEN}', file=sys.stderr)"


def test_log_output_echoes_cell_streams(runner: Runner, nb_file: Callable[..., Path]) -> None:
    run = runner.run(nb_file([TOKEN_CELL]), "--log-output", "--no-progress", timeout=30)
    assert run.returncode == 0, run.describe()
    assert STDOUT_TOKEN in run.stdout, run.describe()
    assert STDERR_TOKEN in run.stderr, run.describe()
    assert STDERR_TOKEN not in run.stdout


def test_without_log_output_nothing_is_echoed(runner: Runner, nb_file: Callable[..., Path]) -> None:
    run = runner.run(nb_file([TOKEN_CELL]), timeout=30)
    assert run.returncode == 0, run.describe()
    assert STDOUT_TOKEN not in run.stdout
    assert STDOUT_TOKEN not in run.stderr
    assert STDERR_TOKEN not in run.stdout
    assert STDERR_TOKEN not in run.stderr


def test_log_output_streams_while_the_cell_runs(host_runner: Runner, tmp_path: Path) -> None:
    """The echo arrives while the cell is still running, not when it ends."""
    go = tmp_path / "go"
    src = (
        "import os, sys, time\n"
        "print('E2E-LIVE')\nsys.stdout.flush()\n"
        "deadline = time.time() + 15\n"
        f"while not os.path.exists({str(go)!r}) and time.time() < deadline:\n"
        "    time.sleep(0.05)\n"
        f"print('released' if os.path.exists({str(go)!r}) else 'gave up')"
    )
    path = write_notebook(make_notebook([code(src, cell_id="c")]), tmp_path / "live.ipynb")
    handle = host_runner.start(path, "--log-output", "--no-progress")
    seen_live = handle.wait_until(lambda: "E2E-LIVE" in handle.stdout_so_far(), timeout=12)
    go.touch()
    run = handle.finish(timeout=30)
    assert seen_live, f"echo did not arrive while the cell ran\n{run.describe()}"
    assert run.returncode == 0, run.describe()
    assert "released" in run.stdout


def _has_control_codes(text: str) -> bool:
    return "\x1b" in text or "\r" in text


def test_progress_is_plain_lines_when_not_a_tty(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    path = nb_file(["x = 1", "y = 2", "print(x + y)"])
    with_progress = runner.run(path, timeout=30)
    without = runner.run(path, "--no-progress", timeout=30)
    assert with_progress.returncode == 0, with_progress.describe()
    assert without.returncode == 0, without.describe()
    assert not _has_control_codes(with_progress.stderr), repr(with_progress.stderr)
    quiet_lines = set(without.stderr.splitlines())
    progress_lines = [
        line
        for line in with_progress.stderr.splitlines()
        if line not in quiet_lines and line.strip()
    ]
    assert progress_lines, f"no progress lines on stderr: {with_progress.stderr!r}"


def test_no_progress_prints_no_per_cell_lines(runner: Runner, nb_file: Callable[..., Path]) -> None:
    """With --no-progress, stderr does not grow with the number of cells."""
    one = runner.run(nb_file(["x = 1"], name="one.ipynb"), "--no-progress", timeout=30)
    many = runner.run(nb_file(["x = 1"] * 8, name="many.ipynb"), "--no-progress", timeout=30)
    assert one.returncode == 0, one.describe()
    assert many.returncode == 0, many.describe()
    assert not _has_control_codes(many.stderr), repr(many.stderr)
    assert len(many.stderr.splitlines()) == len(one.stderr.splitlines()), (
        f"one cell: {one.stderr!r}\nmany cells: {many.stderr!r}"
    )
