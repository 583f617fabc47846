"""A failing cell: exit code, partial notebook, banners, --allow-errors, raises-exception."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_output

from conftest import (
    ERROR_TAG,
    Runner,
    RunResult,
    code,
    code_cells,
    make_notebook,
    markdown,
    run_papermill,
    stream_text,
    write_notebook,
)


def side_effect(marker: Path) -> str:
    """Cell source that proves the cell ran by creating `marker`."""
    return f"open({str(marker)!r}, 'w').close()\nprint('ran', {marker.name!r})"


@dataclass
class ErrorCase:
    path: Path
    markers: list[Path]
    run: RunResult


def five_cells(workdir: Path, error_tags: tuple[str, ...] = ()) -> tuple[Path, list[Path]]:
    markers = [workdir / f"cell{i}.ran" for i in range(1, 6)]
    cells = [
        code(side_effect(markers[0]), cell_id="c1"),
        code(side_effect(markers[1]), cell_id="c2"),
        code(
            f"{side_effect(markers[2])}\nraise ValueError('boom-e2e')",
            cell_id="c3",
            tags=error_tags,
        ),
        code(side_effect(markers[3]), cell_id="c4"),
        code(side_effect(markers[4]), cell_id="c5"),
    ]
    return write_notebook(make_notebook(cells), workdir / "errors.ipynb"), markers


@pytest.fixture(scope="module")
def stopped(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> ErrorCase:
    path, markers = five_cells(tmp_path_factory.mktemp("stop"))
    return ErrorCase(path, markers, runner.run(path, timeout=30))


def non_banner(nb: NotebookNode) -> list[NotebookNode]:
    return [c for c in nb.cells if ERROR_TAG not in c.metadata.get("tags", [])]


def test_exit_code_is_1(stopped: ErrorCase) -> None:
    assert stopped.run.returncode == 1, stopped.run.describe()


def test_cells_after_the_error_did_not_run(stopped: ErrorCase) -> None:
    ran = [m.exists() for m in stopped.markers]
    assert ran == [True, True, True, False, False]
    cells = non_banner(stopped.run.notebook())
    assert [c.id for c in cells] == ["c1", "c2", "c3", "c4", "c5"]
    for cell in cells[3:]:
        assert cell.execution_count is None, cell
        assert cell.outputs == [], cell
        assert cell.metadata.get("papermill", {}).get("status") == "pending", cell.metadata


def test_completed_and_failed_status(stopped: ErrorCase) -> None:
    cells = non_banner(stopped.run.notebook())
    assert [c.execution_count for c in cells[:3]] == [1, 2, 3]
    for cell in cells[:2]:
        assert cell.metadata["papermill"]["status"] == "completed"
        assert cell.metadata["papermill"]["exception"] is False
    assert cells[2].metadata["papermill"]["status"] == "failed"
    assert cells[2].metadata["papermill"]["exception"] is True
    assert stopped.run.notebook().metadata["papermill"]["exception"] is True


def test_error_output_recorded(stopped: ErrorCase) -> None:
    cell = non_banner(stopped.run.notebook())[2]
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    assert errors[0].ename == "ValueError"
    assert errors[0].evalue == "boom-e2e"
    assert isinstance(errors[0].traceback, list)
    assert errors[0].traceback
    assert any("boom-e2e" in line for line in errors[0].traceback)
    assert stream_text(cell) == "ran cell3.ran\n"


def test_banner_cells(stopped: ErrorCase) -> None:
    cells = stopped.run.notebook().cells
    ids = [c.id for c in cells]
    banners = [i for i, c in enumerate(cells) if ERROR_TAG in c.metadata.get("tags", [])]
    assert banners == [0, ids.index("c3") - 1], ids
    assert len(cells) == 7
    top, before = cells[banners[0]], cells[banners[1]]
    assert top.cell_type == "markdown"
    assert before.cell_type == "markdown"
    assert "#papermill-error-cell" in top.source
    assert 'id="papermill-error-cell"' in before.source


@pytest.fixture(scope="module")
def papermill_failed(
    stopped: ErrorCase, kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> NotebookNode:
    """papermill's own run of the same notebook (it stops at c3 too: markers keep their meaning)."""
    out = tmp_path_factory.mktemp("pm-failed") / "pm.ipynb"
    return run_papermill(stopped.path, out, kernel_env, expect_ok=False)


def test_banner_text_matches_papermill(stopped: ErrorCase, papermill_failed: NotebookNode) -> None:
    """Papermill's banner text, to the letter; the top banner then also says why the run stopped
    (a papermill banner cannot tell a raise from a time-out or a dead kernel)."""
    ours = stopped.run.notebook()
    ref = [c.source for c in papermill_failed.cells if ERROR_TAG in c.metadata.get("tags", [])]
    mine = [c.source for c in ours.cells if ERROR_TAG in c.metadata.get("tags", [])]
    assert len(mine) == len(ref) == 2
    top, reason = mine[0].split("\n\n", 1)
    assert top == ref[0]
    assert reason == "cell 3 raised ValueError: boom-e2e"
    assert mine[1] == ref[1]


def test_failed_run_cell_metadata_keys_match_papermill(
    stopped: ErrorCase, papermill_failed: NotebookNode
) -> None:
    ours = stopped.run.notebook()
    ref_keys = [sorted(c.metadata.get("papermill", {})) for c in code_cells(papermill_failed)]
    our_keys = [sorted(c.metadata.get("papermill", {})) for c in code_cells(ours)]
    assert our_keys == ref_keys
    ref_nb = papermill_failed.metadata["papermill"]
    assert type(ours.metadata["papermill"]["exception"]) is type(ref_nb["exception"])


def test_stderr_names_cell_ename_evalue(stopped: ErrorCase) -> None:
    err = stopped.run.stderr
    assert re.search(r"(?i)\bcell\D{0,3}3\b", err), err
    assert "ValueError" in err
    assert "boom-e2e" in err


def test_cell_number_counts_every_cell_of_the_executed_notebook(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    """Position 5 = [markdown, parameters, injected-parameters, ok, failing]; In [4] differs."""
    path = nb_file(
        [
            markdown("# Title"),
            code("n = 1", tags=["parameters"]),
            code("x = n"),
            code("raise KeyError('kaput')"),
        ]
    )
    run = runner.run(path, "-p", "n", "2", "--no-progress", timeout=30)
    assert run.returncode == 1, run.describe()
    assert re.search(r"(?i)\bcell\D{0,3}5\b", run.stderr), run.stderr
    assert "KeyError" in run.stderr
    assert "kaput" in run.stderr


def test_allow_errors_runs_every_cell(runner: Runner, tmp_path: Path) -> None:
    path, markers = five_cells(tmp_path)
    run = runner.run(path, "--allow-errors", timeout=30)
    assert run.returncode == 0, run.describe()
    assert [m.exists() for m in markers] == [True] * 5
    cells = non_banner(run.notebook())
    assert [c.execution_count for c in cells] == [1, 2, 3, 4, 5]
    assert [o.ename for o in cells[2].outputs if o.output_type == "error"] == ["ValueError"]
    assert stream_text(cells[4]) == "ran cell5.ran\n"


def test_raises_exception_tag_continues(runner: Runner, tmp_path: Path) -> None:
    path, markers = five_cells(tmp_path, error_tags=("raises-exception",))
    run = runner.run(path, timeout=30)
    assert run.returncode == 0, run.describe()
    assert [m.exists() for m in markers] == [True] * 5
    cells = run.notebook().cells
    assert [c.execution_count for c in cells] == [1, 2, 3, 4, 5]
    assert [o.ename for o in cells[2].outputs if o.output_type == "error"] == ["ValueError"]
    assert not [c for c in cells if ERROR_TAG in c.metadata.get("tags", [])]


def test_error_after_raises_exception_cell_still_stops(runner: Runner, tmp_path: Path) -> None:
    marker = tmp_path / "last.ran"
    path = write_notebook(
        make_notebook(
            [
                code("raise RuntimeError('expected')", tags=["raises-exception"]),
                code("raise RuntimeError('unexpected')"),
                code(side_effect(marker)),
            ]
        ),
        tmp_path / "n.ipynb",
    )
    run = runner.run(path, timeout=30)
    assert run.returncode == 1, run.describe()
    assert not marker.exists()
    assert "unexpected" in run.stderr


def test_input_request_fails_the_cell_instead_of_hanging(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    """No stdin: `input()` raises StdinNotImplementedError (as with nbclient) and the run stops."""
    path = nb_file([code("name = input('who? ')", cell_id="ask"), code("print('next')")])
    run = runner.run(path, "--no-progress", timeout=30)
    assert run.returncode == 1, run.describe()
    assert run.duration < 15, run.describe()
    cell = next(c for c in run.notebook().cells if c.get("id") == "ask")
    assert [o.ename for o in cell.outputs if o.output_type == "error"] == [
        "StdinNotImplementedError"
    ]


def test_pending_cells_lose_stale_outputs(runner: Runner, tmp_path: Path) -> None:
    """Cells not reached are 'pending' like papermill's: no old execution_count or outputs."""
    stale = code("print('never')", cell_id="stale")
    stale.execution_count = 7
    stale.outputs = [new_output("stream", name="stdout", text="old output\n")]
    nb = make_notebook([code("raise ValueError('stop')"), stale])
    path = write_notebook(nb, tmp_path / "stale.ipynb")
    run = runner.run(path, timeout=30)
    assert run.returncode == 1, run.describe()
    cell = next(c for c in run.notebook().cells if c.get("id") == "stale")
    assert cell.execution_count is None
    assert cell.outputs == []
    assert cell.metadata["papermill"]["status"] == "pending"


@pytest.fixture(scope="session")
def runner(host_runner: Runner) -> Runner:
    """This module observes cells through marker files on the host: run unsandboxed."""
    return host_runner
