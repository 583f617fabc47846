"""Kernel death (exit 4) and timeouts (exit 3): reported quickly, later cells not run."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import (
    VENV_PYTHON,
    Runner,
    code,
    code_cells,
    make_notebook,
    stream_text,
    write_notebook,
)


def marker_cell(marker: Path) -> str:
    return f"open({str(marker)!r}, 'w').close()"


def notebook_with(tmp_path: Path, middle: str) -> tuple[Path, Path]:
    """[print('before'), <middle>, <creates marker>]; returns (notebook, marker)."""
    marker = tmp_path / "after.ran"
    nb = make_notebook(
        [
            code("print('before')", cell_id="before"),
            code(middle, cell_id="middle"),
            code(marker_cell(marker), cell_id="after"),
        ]
    )
    return write_notebook(nb, tmp_path / "nb.ipynb"), marker


def test_kernel_death_exit_4(runner: Runner, tmp_path: Path) -> None:
    path, marker = notebook_with(tmp_path, "import os\nos._exit(1)")
    run = runner.run(path, timeout=30)
    assert run.returncode == 4, run.describe()
    assert run.duration < 15, run.describe()
    assert not marker.exists()
    nb = run.notebook()
    cells = {c.id: c for c in code_cells(nb)}
    assert stream_text(cells["before"]) == "before\n"
    assert cells["after"].execution_count is None
    assert cells["after"].metadata.get("papermill", {}).get("status") == "pending"


def test_kernel_death_mid_output(runner: Runner, tmp_path: Path) -> None:
    """Output printed before the kernel dies is kept in the partial notebook."""
    path, marker = notebook_with(
        tmp_path,
        # flush() only hands the message to libzmq; the sleep lets it reach the runner.
        "import os, sys, time\nprint('last words')\nsys.stdout.flush()\ntime.sleep(0.5)\n"
        "os._exit(3)",
    )
    run = runner.run(path, timeout=30)
    assert run.returncode == 4, run.describe()
    assert run.duration < 15, run.describe()
    assert not marker.exists()
    cells = {c.id: c for c in code_cells(run.notebook())}
    assert "last words\n" in stream_text(cells["middle"])


def test_cell_timeout_exit_3(runner: Runner, tmp_path: Path) -> None:
    path, marker = notebook_with(tmp_path, "while True:\n    pass")
    run = runner.run(path, "--cell-timeout", "2", timeout=40)
    assert run.returncode == 3, run.describe()
    assert 2 <= run.duration < 20, run.describe()
    assert not marker.exists()
    if run.nb is not None:
        cells = {c.id: c for c in code_cells(run.nb)}
        assert stream_text(cells["before"]) == "before\n"
        assert cells["after"].execution_count is None


def test_cell_timeout_when_kernel_ignores_interrupts(runner: Runner, tmp_path: Path) -> None:
    """A cell that ignores SIGINT still ends the run with exit 3 in bounded time."""
    path, marker = notebook_with(
        tmp_path,
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
    )
    run = runner.run(path, "--cell-timeout", "2", timeout=40)
    assert run.returncode == 3, run.describe()
    assert run.duration < 20, run.describe()
    assert not marker.exists()


def test_cell_timeout_applies_per_cell(runner: Runner, tmp_path: Path) -> None:
    """Three 0.8 s cells (2.4 s in total) pass under --cell-timeout 2."""
    nb = make_notebook(["import time\ntime.sleep(0.8)"] * 3 + ["print('done')"])
    path = write_notebook(nb, tmp_path / "slowish.ipynb")
    run = runner.run(path, "--cell-timeout", "2", timeout=40)
    assert run.returncode == 0, run.describe()
    assert stream_text(run.notebook().cells[-1]) == "done\n"


def test_whole_run_timeout_exit_3(runner: Runner, tmp_path: Path) -> None:
    path, marker = notebook_with(tmp_path, "while True:\n    pass")
    run = runner.run(path, "--timeout", "3", timeout=40)
    assert run.returncode == 3, run.describe()
    assert 2.9 <= run.duration < 20, run.describe()
    assert not marker.exists()
    if run.nb is not None:
        cells = {c.id: c for c in code_cells(run.nb)}
        assert cells["after"].execution_count is None


def test_whole_run_timeout_spans_cells(runner: Runner, tmp_path: Path) -> None:
    """Each cell is short, but together they exceed --timeout."""
    marker = tmp_path / "late.ran"
    cells = ["import time\ntime.sleep(1)"] * 6 + [marker_cell(marker)]
    path = write_notebook(make_notebook(cells), tmp_path / "long.ipynb")
    run = runner.run(path, "--timeout", "3", timeout=40)
    assert run.returncode == 3, run.describe()
    assert run.duration < 20, run.describe()
    assert not marker.exists()


def test_kernel_that_exits_at_startup_does_not_hang(runner: Runner, tmp_path: Path) -> None:
    """A kernelspec whose process exits at once: exit 4 (the kernel died), quickly."""
    spec_dir = tmp_path / "jdir" / "kernels" / "e2e-dies"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [str(VENV_PYTHON), "-c", "import sys; sys.exit(3)", "-f", "{connection_file}"],
        "display_name": "E2E dies",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    path = write_notebook(make_notebook(["print(1)"], kernel="e2e-dies"), tmp_path / "d.ipynb")
    run = runner.run(path, env={"JUPYTER_PATH": str(tmp_path / "jdir")}, timeout=40)
    assert run.returncode == 4, run.describe()
    assert run.duration < 20, run.describe()
    assert run.stderr.strip(), run.describe()
