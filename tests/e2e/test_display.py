"""display_id updates across cells and clear_output, checked against literal expectations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode

from conftest import Runner, RunResult, cell_by_id, code, make_notebook, write_notebook


def summary(cell: NotebookNode) -> list[tuple[str, Any]]:
    """(output_type, text/plain or stream text) per output: enough to state expectations."""
    items: list[tuple[str, Any]] = []
    for out in cell.outputs:
        if out.output_type == "stream":
            items.append((f"stream:{out.name}", out.text))
        else:
            items.append((out.output_type, out.get("data", {}).get("text/plain")))
    return items


@pytest.fixture(scope="module")
def display_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    cells = [
        code("h = display('a', display_id=True)", cell_id="handle-show"),
        code("h.update('b')", cell_id="handle-update"),
        code(
            "from IPython.display import display, update_display\n"
            "_ = display('x1', display_id='x')\n_ = display('x2', display_id='x')",
            cell_id="same-id-twice",
        ),
        code("print('between')", cell_id="between"),
        code("update_display('X', display_id='x')", cell_id="update-both"),
        code(
            "g = display('p', display_id=True)\ng.update('q')\nprint('after update')",
            cell_id="update-same-cell",
        ),
        code("update_display('nobody', display_id='no-such-id')", cell_id="update-unknown"),
        code(
            "from IPython.display import HTML\nk = display(HTML('<i>old</i>'), display_id=True)",
            cell_id="html-show",
        ),
        code("k.update(HTML('<b>new</b>'))", cell_id="html-update"),
    ]
    path = write_notebook(make_notebook(cells), tmp_path_factory.mktemp("display") / "d.ipynb")
    return runner.run(path)


def _cell(run: RunResult, cell_id: str) -> NotebookNode:
    assert run.returncode == 0, run.describe()
    return cell_by_id(run.notebook(), cell_id)


def test_update_from_later_cell_replaces_earlier_output(display_run: RunResult) -> None:
    assert summary(_cell(display_run, "handle-show")) == [("display_data", "'b'")]


def test_update_cell_itself_has_no_output(display_run: RunResult) -> None:
    assert _cell(display_run, "handle-update").outputs == []


def test_update_touches_every_output_with_the_id(display_run: RunResult) -> None:
    assert summary(_cell(display_run, "same-id-twice")) == [
        ("display_data", "'X'"),
        ("display_data", "'X'"),
    ]
    assert _cell(display_run, "update-both").outputs == []
    assert summary(_cell(display_run, "between")) == [("stream:stdout", "between\n")]


def test_update_within_the_same_cell(display_run: RunResult) -> None:
    assert summary(_cell(display_run, "update-same-cell")) == [
        ("display_data", "'q'"),
        ("stream:stdout", "after update\n"),
    ]


def test_update_of_unknown_id_appends_nothing(display_run: RunResult) -> None:
    assert _cell(display_run, "update-unknown").outputs == []


def test_update_replaces_the_whole_mime_bundle(display_run: RunResult) -> None:
    outputs = _cell(display_run, "html-show").outputs
    assert len(outputs) == 1
    assert outputs[0].output_type == "display_data"
    assert outputs[0].data.get("text/html") == "<b>new</b>"
    assert outputs[0].data.get("text/plain") == "<IPython.core.display.HTML object>"
    assert _cell(display_run, "html-update").outputs == []


def test_transient_is_not_stored(display_run: RunResult) -> None:
    nb = display_run.notebook()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert "transient" not in out, (cell.id, out)


# ---------------------------------------------------------------------------------------------
# clear_output
# ---------------------------------------------------------------------------------------------

CLEAR_CASES: dict[str, tuple[str, list[tuple[str, Any]]]] = {
    "wait-then-print": (
        "from IPython.display import clear_output\nprint('one')\nclear_output(wait=True)\n"
        "print('two')\nclear_output(wait=True)\nprint('three')",
        [("stream:stdout", "three\n")],
    ),
    "immediate": (
        "from IPython.display import clear_output\nprint('one')\nclear_output()",
        [],
    ),
    "immediate-then-print": (
        "from IPython.display import clear_output\nprint('one')\nclear_output()\nprint('two')",
        [("stream:stdout", "two\n")],
    ),
    "wait-without-later-output": (
        "from IPython.display import clear_output\nprint('one')\nclear_output(wait=True)",
        [("stream:stdout", "one\n")],
    ),
    "wait-clears-displays": (
        "from IPython.display import clear_output, display\ndisplay('d')\n"
        "clear_output(wait=True)\ndisplay('e')",
        [("display_data", "'e'")],
    ),
    "wait-in-a-loop": (
        "from IPython.display import clear_output\nfor i in range(20):\n"
        "    clear_output(wait=True)\n    print('step', i)",
        [("stream:stdout", "step 19\n")],
    ),
}


@pytest.fixture(scope="module")
def clear_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    cells = [code("print('earlier cell')", cell_id="earlier")]
    cells += [code(src, cell_id=name) for name, (src, _) in CLEAR_CASES.items()]
    path = write_notebook(make_notebook(cells), tmp_path_factory.mktemp("clear") / "c.ipynb")
    return runner.run(path)


@pytest.mark.parametrize("name", list(CLEAR_CASES))
def test_clear_output(clear_run: RunResult, name: str) -> None:
    assert summary(_cell(clear_run, name)) == CLEAR_CASES[name][1]


def test_clear_output_only_clears_its_own_cell(clear_run: RunResult) -> None:
    assert summary(_cell(clear_run, "earlier")) == [("stream:stdout", "earlier cell\n")]


def test_display_handle_as_last_expression(runner: Runner, nb_file: Callable[..., Path]) -> None:
    """`display(..., display_id=True)` as last expression shows the handle, like nbclient."""
    path = nb_file([code("display('v', display_id='z')", cell_id="c")])
    run = runner.run(path)
    assert run.returncode == 0, run.describe()
    assert summary(cell_by_id(run.notebook(), "c")) == [
        ("display_data", "'v'"),
        ("execute_result", "<DisplayHandle display_id=z>"),
    ]
