"""Outputs compared cell by cell with nbclient (coalesce_streams=True) on the same notebook."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_output, new_raw_cell

from conftest import (
    Runner,
    RunResult,
    cell_by_id,
    code,
    make_notebook,
    markdown,
    run_nbclient,
    write_notebook,
)

# (cell id, source); ids double as test ids. Every code cell is deterministic across two kernels.
PARITY_CODE: list[tuple[str, str]] = [
    ("print", "print('hello')\nprint('world', 42)"),
    (
        "stdout-then-stderr",
        "import sys\nprint('to stdout')\nsys.stdout.flush()\n"
        "print('to stderr', file=sys.stderr)\nsys.stderr.flush()",
    ),
    (
        # nbclient stores stdout before stderr when stderr came first.
        "stderr-then-stdout",
        "import sys\nprint('err first', file=sys.stderr)\nsys.stderr.flush()\n"
        "print('out second')\nsys.stdout.flush()",
    ),
    (
        "interleaved-streams",
        "import sys\nfor i in range(3):\n    print('o', i)\n    sys.stdout.flush()\n"
        "    print('e', i, file=sys.stderr)\n    sys.stderr.flush()",
    ),
    ("execute-result", "6 * 7"),
    ("suppressed-result", "6 * 7;"),
    (
        "display-html-and-dict",
        "from IPython.display import HTML, display\n"
        "display(HTML('<b>bold</b> text'))\ndisplay({'a': 1, 'b': [1, 2]})",
    ),
    (
        "display-raw-json",
        "from IPython.display import display\n"
        "display({'application/json': {'k': ['v', 1]}, 'text/plain': 'J'}, raw=True)",
    ),
    ("markdown-result", "from IPython.display import Markdown\nMarkdown('**x** and `y`')"),
    ("dataframe", "import pandas as pd\npd.DataFrame({'x': [1, 2, 3], 'y': ['a', 'b', 'c']})"),
    ("figure", "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
    (
        "progress-equal-length",
        "import sys\nfor p in (0, 25, 50, 75, 100):\n    print(f'\\r{p:3d}%', end='')\n"
        "    sys.stdout.flush()\nprint()",
    ),
    (
        "mixed-order",
        "from IPython.display import display\nprint('before')\ndisplay('shown')\n"
        "print('after')\n'result'",
    ),
    ("unicode", "print('héllo ✓ 🎉 日本語')\n'résumé ✓'"),
    ("multiline-source", "x = 1\ny = 2\n\nx + y"),
    ("whitespace-only", "   \n"),
]


@dataclass
class Parity:
    source: NotebookNode
    input_path: Path
    input_text: str
    ours: RunResult
    reference: NotebookNode


@pytest.fixture(scope="module")
def parity(
    runner: Runner, kernel_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Parity:
    workdir = tmp_path_factory.mktemp("parity")
    cells: list[NotebookNode] = [markdown("# Parity\nSome *markdown*.", cell_id="intro")]
    cells += [code(src, cell_id=cid) for cid, src in PARITY_CODE]
    stale = code("print('fresh')", cell_id="stale-outputs", metadata={"custom": {"keep": True}})
    stale.execution_count = 99
    stale.outputs = [new_output("stream", name="stdout", text="stale\n")]
    cells.append(stale)
    raw = new_raw_cell("raw *text*")
    raw.id = "raw"
    cells.append(raw)
    nb = make_notebook(cells)
    path = write_notebook(nb, workdir / "parity.ipynb")
    text = path.read_text(encoding="utf-8")
    reference = run_nbclient(path, workdir / "parity.nbclient.ipynb", kernel_env)
    ours = runner.run(path)
    return Parity(nb, path, text, ours, reference)


def normalized(cell: NotebookNode) -> dict[str, Any]:
    """A cell without timing metadata; PNG payloads replaced by a placeholder."""
    plain: dict[str, Any] = json.loads(json.dumps(cell))
    meta = plain.get("metadata", {})
    meta.pop("execution", None)
    meta.pop("papermill", None)
    if meta.get("tags") == []:  # papermill adds an empty tag list; nbclient does not
        meta.pop("tags")
    for out in plain.get("outputs", []):
        if "image/png" in out.get("data", {}):
            out["data"]["image/png"] = "<png>"
    return plain


ALL_IDS = ["intro"] + [cid for cid, _ in PARITY_CODE] + ["stale-outputs", "raw"]


@pytest.mark.parametrize("cell_id", ALL_IDS)
def test_cell_matches_nbclient(parity: Parity, cell_id: str) -> None:
    ours_nb = parity.ours.notebook()
    assert parity.ours.returncode == 0, parity.ours.describe()
    ours = normalized(cell_by_id(ours_nb, cell_id))
    ref = normalized(cell_by_id(parity.reference, cell_id))
    assert ours == ref, (
        f"cell {cell_id!r} differs from nbclient\n"
        f"runner : {json.dumps(ours, ensure_ascii=False)[:3000]}\n"
        f"nbclient: {json.dumps(ref, ensure_ascii=False)[:3000]}"
    )


def test_cell_order_ids_and_types_preserved(parity: Parity) -> None:
    ours = parity.ours.notebook()
    expected = [(c.get("id"), c.cell_type) for c in parity.source.cells]
    assert [(c.get("id"), c.cell_type) for c in ours.cells] == expected


def test_figure_is_a_png(parity: Parity) -> None:
    fig = cell_by_id(parity.ours.notebook(), "figure")
    pngs = [o for o in fig.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, fig.outputs
    payload = pngs[0]["data"]["image/png"]
    assert isinstance(payload, str)
    assert base64.b64decode(payload)[:8] == b"\x89PNG\r\n\x1a\n"


def test_execution_metadata_keys_match_nbclient(parity: Parity) -> None:
    ours = parity.ours.notebook()
    mismatches = []
    for cell in parity.reference.cells:
        if cell.cell_type != "code":
            continue
        ref_keys = set(cell.metadata.get("execution", {}))
        our_keys = set(cell_by_id(ours, cell.id).metadata.get("execution", {}))
        if ref_keys != our_keys:
            mismatches.append(f"{cell.id}: runner {sorted(our_keys)} nbclient {sorted(ref_keys)}")
    assert not mismatches, "\n".join(mismatches)


def test_notebook_metadata_matches_nbclient(parity: Parity) -> None:
    ours = parity.ours.notebook()
    ref = parity.reference
    assert ours.metadata.get("language_info") == ref.metadata.get("language_info")
    assert ours.metadata.get("kernelspec") == ref.metadata.get("kernelspec")
    assert (ours.nbformat, ours.nbformat_minor) == (ref.nbformat, ref.nbformat_minor)


def test_input_notebook_untouched(parity: Parity) -> None:
    """The input file is not modified when -o names another file."""
    assert parity.ours.returncode == 0, parity.ours.describe()
    assert parity.input_path.read_text(encoding="utf-8") == parity.input_text


ERROR_CELLS: list[tuple[str, str]] = [
    ("raise-in-cell", "raise ValueError('plain')"),
    (
        "raise-in-function",
        "def outer():\n    return inner()\n\ndef inner():\n    return 1 / 0\n\nouter()",
    ),
    ("raise-in-library", "import json\njson.loads('{')"),
    ("output-then-raise", "print('partial')\nraise KeyError('k')"),
    ("syntax-error", "def broken(:\n    pass"),
    ("after-errors", "print('still running')"),
]


def test_error_outputs_match_nbclient(
    host_runner: Runner, kernel_env: dict[str, str], tmp_path: Path
) -> None:
    """With errors allowed, error outputs (ename, evalue, traceback) are stored like nbclient's.
    Unsandboxed: IPython shortens paths under HOME to `~`, and the sandbox has its own HOME."""
    nb = make_notebook([code(src, cell_id=cid) for cid, src in ERROR_CELLS])
    path = write_notebook(nb, tmp_path / "errors.ipynb")
    reference = run_nbclient(path, tmp_path / "ref.ipynb", kernel_env, allow_errors=True)
    ours = host_runner.run(path, "--allow-errors", timeout=30)
    assert ours.returncode == 0, ours.describe()
    mismatches = []
    for cid, _ in ERROR_CELLS:
        mine, ref = (
            normalized(cell_by_id(ours.notebook(), cid)),
            normalized(cell_by_id(reference, cid)),
        )
        if mine != ref:
            mismatches.append(f"{cid}:\n  runner  {mine}\n  nbclient {ref}")
    assert not mismatches, "\n".join(mismatches)
