"""The written notebook: nbformat-valid, written like Jupyter, metadata kept, papermill metadata."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

from conftest import (
    VENV_PYTHON,
    Runner,
    RunResult,
    cell_by_id,
    code,
    code_cells,
    format_problems,
    jupyter_written_text,
    make_notebook,
    markdown,
    run_papermill,
    stream_text,
    write_notebook,
)

CONTRACT_NOTEBOOK_KEYS = {
    "parameters",
    "start_time",
    "end_time",
    "duration",
    "exception",
    "input_path",
    "output_path",
}
CELL_KEYS = {"status", "start_time", "end_time", "duration", "exception"}


def rich_notebook() -> NotebookNode:
    md = new_markdown_cell(
        "# Title ✓\n\n![img](attachment:dot.png)",
        attachments={"dot.png": {"image/png": "iVBORw0KGgo="}},
    )
    md.id = "md"
    md.metadata["custom_md"] = {"nested": [1, 2, {"deep": "value"}]}
    nb = make_notebook(
        [
            md,
            code("x = 1", tags=["parameters"], cell_id="params"),
            code(
                "print('héllo 🎉\\nsecond line')\n'multi\\nline\\nresult'",
                cell_id="rich",
                metadata={"custom_cell": {"a": 1}, "collapsed": False, "scrolled": True},
            ),
            code("from IPython.display import HTML\nHTML('<p>\\n  para\\n</p>')", cell_id="html"),
        ]
    )
    nb.metadata["custom_nb"] = {"tool": "e2e", "values": [1.5, None, True]}
    nb.metadata["authors"] = [{"name": "E2E"}]
    return nb


@pytest.fixture(scope="module")
def rich_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    path = write_notebook(rich_notebook(), tmp_path_factory.mktemp("rich") / "rich.ipynb")
    return runner.run(path, "-p", "x", "2", timeout=30)


def _ok(run: RunResult) -> NotebookNode:
    assert run.returncode == 0, run.describe()
    return run.notebook()


def test_output_is_valid_nbformat(rich_run: RunResult) -> None:
    _ok(rich_run)
    assert rich_run.output_text is not None
    nbformat.validate(json.loads(rich_run.output_text))


def test_output_written_like_jupyter(rich_run: RunResult) -> None:
    _ok(rich_run)
    text = rich_run.output_text
    assert text is not None
    assert text == jupyter_written_text(text), format_problems(text, "rich output")


def test_unicode_written_unescaped(rich_run: RunResult) -> None:
    _ok(rich_run)
    assert rich_run.output_text is not None
    assert "héllo 🎉" in rich_run.output_text


def test_unknown_metadata_survives(rich_run: RunResult) -> None:
    nb = _ok(rich_run)
    assert nb.metadata["custom_nb"] == {"tool": "e2e", "values": [1.5, None, True]}
    assert nb.metadata["authors"] == [{"name": "E2E"}]
    rich = cell_by_id(nb, "rich")
    assert rich.metadata["custom_cell"] == {"a": 1}
    assert rich.metadata["collapsed"] is False
    assert rich.metadata["scrolled"] is True
    md = cell_by_id(nb, "md")
    assert md.metadata["custom_md"] == {"nested": [1, 2, {"deep": "value"}]}
    assert md.attachments == {"dot.png": {"image/png": "iVBORw0KGgo="}}
    assert md.source == "# Title ✓\n\n![img](attachment:dot.png)"


def test_multiline_outputs_round_trip(rich_run: RunResult) -> None:
    nb = _ok(rich_run)
    rich = cell_by_id(nb, "rich")
    assert stream_text(rich) == "héllo 🎉\nsecond line\n"
    results = [o for o in rich.outputs if o.output_type == "execute_result"]
    assert [r.data["text/plain"] for r in results] == ["'multi\\nline\\nresult'"]
    html = cell_by_id(nb, "html")
    assert html.outputs[0].data["text/html"] == "<p>\n  para\n</p>"


def test_language_info_from_kernel(rich_run: RunResult) -> None:
    nb = _ok(rich_run)
    info = nb.metadata["language_info"]
    version = subprocess.run(
        [str(VENV_PYTHON), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert info["name"] == "python"
    assert info["version"] == version
    assert info["mimetype"] == "text/x-python"
    assert info["file_extension"] == ".py"
    assert info["codemirror_mode"] == {"name": "ipython", "version": 3}


def test_unknown_top_level_key_survives(runner: Runner, tmp_path: Path) -> None:
    """nbformat's schema rejects unknown top-level keys, so this output is checked separately."""
    nb = make_notebook([code("print(1)", cell_id="c")])
    raw = json.loads(nbformat.writes(nb))
    raw["x_tool_extra"] = {"kept": True}
    path = tmp_path / "extra.ipynb"
    path.write_text(json.dumps(raw, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    run = runner.run(path, timeout=30, check_format=False)
    assert run.returncode == 0, run.describe()
    assert run.output_text is not None
    out = json.loads(run.output_text)
    assert out.get("x_tool_extra") == {"kept": True}
    del out["x_tool_extra"]
    nbformat.validate(out)
    assert run.output_text == jupyter_written_text(run.output_text)


def test_nbformat_4_4_input_without_cell_ids(runner: Runner, tmp_path: Path) -> None:
    nb = make_notebook(["print('old minor')"])
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        del cell["id"]
    path = tmp_path / "minor4.ipynb"
    path.write_text(json.dumps(raw, indent=1, sort_keys=True) + "\n")
    run = runner.run(path, timeout=30)  # the teardown check validates whatever minor is written
    assert run.returncode == 0, run.describe()
    assert stream_text(run.notebook().cells[0]) == "old minor\n"


@pytest.mark.parametrize(
    "cells",
    [pytest.param([], id="no-cells"), pytest.param([markdown("only *text*")], id="markdown-only")],
)
def test_notebook_without_code_cells(
    runner: Runner, tmp_path: Path, cells: list[NotebookNode]
) -> None:
    path = write_notebook(make_notebook(cells), tmp_path / "nocode.ipynb")
    run = runner.run(path, timeout=30)
    assert run.returncode == 0, run.describe()
    nb = run.notebook()
    assert [c.source for c in nb.cells] == [c.source for c in cells]
    assert nb.metadata["language_info"]["name"] == "python"


# ---------------------------------------------------------------------------------------------
# JSON fidelity: numbers and line splitting exactly as Python's json/nbformat write them
# ---------------------------------------------------------------------------------------------

NUMBERS: dict[str, Any] = {
    "big_int": 123456789012345678901234567890,
    "u64_max_plus_one": 2**64,
    "i64_min_minus_one": -(2**63) - 1,
    "large_float": 1e20,
    "small_float": 1e-07,
    "negative_zero": -0.0,
    "one_point_zero": 1.0,
    "tenth": 0.1,
    "pi": 3.141592653589793,
}
# Python's str.splitlines (used by nbformat when writing) also breaks at these characters.
ODD_BREAKS = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i\n"


def _numbers_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture(scope="module")
def fidelity_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    nb = make_notebook(
        [
            markdown(f"odd breaks: {ODD_BREAKS}and a lone\rcarriage return", cell_id="md"),
            code(f"import sys\n_ = sys.stdout.write({ODD_BREAKS!r})", cell_id="stream"),
            code(
                "from IPython.display import display\n"
                f"display({{'application/json': {NUMBERS!r}, 'text/plain': {ODD_BREAKS!r}}},"
                " raw=True)",
                cell_id="display",
            ),
            code("a = 1\nb = 2\na + b", cell_id="string-source"),
        ]
    )
    nb.metadata["numbers"] = NUMBERS
    cell_by_id(nb, "md").metadata["numbers"] = NUMBERS
    raw = json.loads(nbformat.writes(nb))
    for cell in raw["cells"]:
        if cell["id"] == "string-source":
            cell["source"] = "a = 1\nb = 2\na + b"  # a plain string is valid nbformat too
    path = tmp_path_factory.mktemp("fidelity") / "fidelity.ipynb"
    path.write_text(json.dumps(raw, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return runner.run(path, timeout=30, check_format=False)


def test_numbers_survive_exactly(fidelity_run: RunResult) -> None:
    assert fidelity_run.returncode == 0, fidelity_run.describe()
    assert fidelity_run.output_text is not None
    out = json.loads(fidelity_run.output_text)
    md = next(c for c in out["cells"] if c["id"] == "md")
    assert _numbers_json(out["metadata"]["numbers"]) == _numbers_json(NUMBERS)
    assert _numbers_json(md["metadata"]["numbers"]) == _numbers_json(NUMBERS)


def test_numbers_from_the_kernel_survive(fidelity_run: RunResult) -> None:
    assert fidelity_run.returncode == 0, fidelity_run.describe()
    assert fidelity_run.output_text is not None
    out = json.loads(fidelity_run.output_text)
    cell = next(c for c in out["cells"] if c["id"] == "display")
    assert _numbers_json(cell["outputs"][0]["data"]["application/json"]) == _numbers_json(NUMBERS)


def test_text_with_odd_line_breaks_round_trips(fidelity_run: RunResult) -> None:
    nb = _ok(fidelity_run)
    assert stream_text(cell_by_id(nb, "stream")) == ODD_BREAKS
    assert cell_by_id(nb, "display").outputs[0].data["text/plain"] == ODD_BREAKS
    assert cell_by_id(nb, "md").source == f"odd breaks: {ODD_BREAKS}and a lone\rcarriage return"
    assert cell_by_id(nb, "string-source").source == "a = 1\nb = 2\na + b"


def test_fidelity_output_written_like_jupyter(fidelity_run: RunResult) -> None:
    """Number spelling (1e+20, 1e-07, -0.0) and line splitting (str.splitlines) as nbformat."""
    assert fidelity_run.returncode == 0, fidelity_run.describe()
    assert fidelity_run.output_text is not None
    assert format_problems(fidelity_run.output_text, "fidelity output") == []


# ---------------------------------------------------------------------------------------------
# papermill metadata, compared with papermill's own output for the same notebook
# ---------------------------------------------------------------------------------------------


@dataclass
class PapermillPair:
    ours: RunResult
    ref: NotebookNode
    input_path: Path


@pytest.fixture(scope="module")
def pm_pair(
    runner: Runner, kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> PapermillPair:
    workdir = tmp_path_factory.mktemp("pm")
    nb = make_notebook(
        [
            markdown("# Report", cell_id="md"),
            code("n = 1", tags=["parameters"], cell_id="params"),
            code("import time\ntime.sleep(0.2)\nprint(n)", cell_id="work"),
            code("n * 2", cell_id="result"),
        ]
    )
    path = write_notebook(nb, workdir / "report.ipynb")
    ref = run_papermill(path, workdir / "report.papermill.ipynb", kernel_env, "-p", "n", "5")
    ours = runner.run(path, "-p", "n", "5", timeout=30)
    return PapermillPair(ours, ref, path)


def _time(value: Any) -> datetime:
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without timezone: {value}"
    return parsed


def test_notebook_papermill_keys(pm_pair: PapermillPair) -> None:
    nb = _ok(pm_pair.ours)
    ours = nb.metadata["papermill"]
    ref = pm_pair.ref.metadata["papermill"]
    assert set(ours) >= CONTRACT_NOTEBOOK_KEYS, sorted(ours)
    assert set(ours) <= set(ref), f"keys papermill does not write: {sorted(set(ours) - set(ref))}"
    for key in set(ours) & set(ref):
        assert type(ours[key]) is type(ref[key]), (key, ours[key], ref[key])


def test_notebook_papermill_values(pm_pair: PapermillPair) -> None:
    meta = _ok(pm_pair.ours).metadata["papermill"]
    assert meta["parameters"] == {"n": 5}
    start, end = _time(meta["start_time"]), _time(meta["end_time"])
    assert start <= end
    assert isinstance(meta["duration"], float)
    assert abs(meta["duration"] - (end - start).total_seconds()) < 0.5
    assert meta["duration"] >= 0.2  # the notebook sleeps 0.2 s
    assert Path(meta["input_path"]).resolve() == pm_pair.input_path.resolve()
    assert pm_pair.ours.output_path is not None
    assert Path(meta["output_path"]).resolve() == pm_pair.ours.output_path.resolve()
    assert meta["exception"] is None, "papermill records null when no cell failed"


def test_cell_papermill_keys_match_papermill(pm_pair: PapermillPair) -> None:
    ours = code_cells(_ok(pm_pair.ours))
    ref = code_cells(pm_pair.ref)
    assert len(ours) == len(ref) == 4
    for mine, theirs in zip(ours, ref, strict=True):
        assert set(mine.metadata.get("papermill", {})) == set(theirs.metadata["papermill"])
        assert set(mine.metadata["papermill"]) == CELL_KEYS
        assert set(mine.metadata.get("execution", {})) == set(theirs.metadata["execution"])


def test_cell_papermill_values(pm_pair: PapermillPair) -> None:
    for cell in code_cells(_ok(pm_pair.ours)):
        meta = cell.metadata["papermill"]
        assert meta["status"] == "completed", cell.id
        assert meta["exception"] is False
        start, end = _time(meta["start_time"]), _time(meta["end_time"])
        assert start <= end
        assert isinstance(meta["duration"], float)
        assert meta["duration"] >= 0
        assert abs(meta["duration"] - (end - start).total_seconds()) < 0.1
    work = cell_by_id(_ok(pm_pair.ours), "work").metadata["papermill"]
    assert work["duration"] >= 0.2


def test_execution_timestamps(pm_pair: PapermillPair) -> None:
    """metadata.execution holds nbclient's four timestamps, in order, in UTC ('Z')."""
    for cell in code_cells(_ok(pm_pair.ours)):
        ex = cell.metadata["execution"]
        busy = ex["iopub.status.busy"]
        assert busy.endswith("Z"), busy
        times = [
            datetime.fromisoformat(ex[k].replace("Z", "+00:00"))
            for k in ("iopub.status.busy", "iopub.execute_input", "iopub.status.idle")
        ]
        assert times == sorted(times), ex
        assert datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00")) >= times[0]


def test_outputs_match_papermill(pm_pair: PapermillPair) -> None:
    ours = code_cells(_ok(pm_pair.ours))
    ref = code_cells(pm_pair.ref)
    assert [c.outputs for c in ours] == [c.outputs for c in ref]
    assert [c.execution_count for c in ours] == [c.execution_count for c in ref]
