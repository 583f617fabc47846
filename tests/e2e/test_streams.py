r"""Stream handling: `\r` and `\b` applied as JupyterLab shows them, large and chatty output."""

from __future__ import annotations

import hashlib

import pytest

from conftest import Runner, RunResult, cell_by_id, code, make_notebook, stream_text, write_notebook

# name -> (cell source, expected stdout text). Sources use explicit flushes so that chunks cross
# message boundaries where the case says so.
CONTROL_CASES: dict[str, tuple[str, str]] = {
    "cr-overwrites-start": ("print('abc\\rX')", "Xbc\n"),
    "cr-longer-line": ("print('abcdef\\rXY')", "XYcdef\n"),
    "cr-across-messages": (
        "import sys\nprint('abc', end='')\nsys.stdout.flush()\nprint('\\rX')",
        "Xbc\n",
    ),
    "cr-on-later-line": ("print('line1\\nabc\\rX')", "line1\nXbc\n"),
    "tqdm-like": (
        "import sys\nfor p in (10, 40, 70, 100):\n    sys.stdout.write(f'\\r{p:4d}%')\n"
        "    sys.stdout.flush()\n_ = sys.stdout.write('\\n')",
        " 100%\n",
    ),
    "many-cr-updates": (
        "import sys\nfor i in range(300):\n    sys.stdout.write(f'\\r{i:05d}')\n"
        "    sys.stdout.flush()\nprint(' done')",
        "00299 done\n",
    ),
    "backspace": ("print('ab\\bc')", "ac\n"),
    "backspace-three": ("print('abc\\b\\b\\bxyz')", "xyz\n"),
    "backspace-across-messages": (
        "import sys\nsys.stdout.write('abc')\nsys.stdout.flush()\nprint('\\b\\bZ')",
        "aZ\n",
    ),
}


@pytest.fixture(scope="module")
def control_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    cells = [code(src, cell_id=name) for name, (src, _) in CONTROL_CASES.items()]
    cells.append(
        code(
            "import sys\nfor p in (10, 55, 100):\n    sys.stderr.write(f'\\r{p:4d}%|')\n"
            "    sys.stderr.flush()\n_ = sys.stderr.write('\\n')",
            cell_id="tqdm-on-stderr",
        )
    )
    cells.append(code("print('abc\\r\\ndef')", cell_id="crlf"))
    cells.append(code("print('a\\n\\bb')", cell_id="backspace-at-line-start"))
    path = write_notebook(make_notebook(cells), tmp_path_factory.mktemp("ctl") / "ctl.ipynb")
    return runner.run(path)


@pytest.mark.parametrize("name", list(CONTROL_CASES))
def test_control_characters(control_run: RunResult, name: str) -> None:
    assert control_run.returncode == 0, control_run.describe()
    cell = cell_by_id(control_run.notebook(), name)
    assert stream_text(cell) == CONTROL_CASES[name][1], cell.outputs
    assert [o.output_type for o in cell.outputs] == ["stream"]


def test_progress_on_stderr(control_run: RunResult) -> None:
    cell = cell_by_id(control_run.notebook(), "tqdm-on-stderr")
    assert stream_text(cell, "stderr") == " 100%|\n", cell.outputs
    assert stream_text(cell, "stdout") == ""


def test_backspace_does_not_erase_the_newline(control_run: RunResult) -> None:
    r"""A `\b` at the start of a line has nothing to erase on its line: the newline stays.

    (JupyterLab leaves such a `\b` in the text; whether it is kept is not asserted.)
    """
    cell = cell_by_id(control_run.notebook(), "backspace-at-line-start")
    text = stream_text(cell)
    assert text.replace("\b", "") == "a\nb\n", cell.outputs


def test_crlf_is_a_newline(control_run: RunResult) -> None:
    r"""`\r\n` ends the line: 'def' goes on a new line instead of overwriting 'abc'."""
    cell = cell_by_id(control_run.notebook(), "crlf")
    assert stream_text(cell).replace("\r\n", "\n") == "abc\ndef\n", cell.outputs


# ---------------------------------------------------------------------------------------------
# Volume
# ---------------------------------------------------------------------------------------------

BIG_TEXT_EXPR = "''.join(f'{i:07d} ' + 'xyz' * 30 + '|\\n' for i in range(10_486))"
BIG_TEXT = "".join(f"{i:07d} " + "xyz" * 30 + "|\n" for i in range(10_486))
MANY_LINES = 20_000
MANY_MESSAGES = 3_000


@pytest.fixture(scope="module")
def volume_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    cells = [
        code(f"import sys\n_ = sys.stdout.write({BIG_TEXT_EXPR})", cell_id="one-megabyte"),
        code("import sys\n_ = sys.stdout.write('y' * 1_000_000)", cell_id="one-long-line"),
        code(f"for i in range({MANY_LINES}):\n    print(i)", cell_id="many-lines"),
        code(
            f"import sys\nfor i in range({MANY_MESSAGES}):\n    print(i)\n    sys.stdout.flush()",
            cell_id="many-messages",
        ),
        code("print('still alive')", cell_id="after"),
    ]
    path = write_notebook(make_notebook(cells), tmp_path_factory.mktemp("vol") / "vol.ipynb")
    return runner.run(path, timeout=90)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_one_megabyte_in_one_cell(volume_run: RunResult) -> None:
    assert len(BIG_TEXT) > 1_000_000
    assert volume_run.returncode == 0, volume_run.describe()
    text = stream_text(cell_by_id(volume_run.notebook(), "one-megabyte"))
    assert (len(text), _sha(text)) == (len(BIG_TEXT), _sha(BIG_TEXT))


def test_one_megabyte_single_line(volume_run: RunResult) -> None:
    text = stream_text(cell_by_id(volume_run.notebook(), "one-long-line"))
    assert (len(text), set(text)) == (1_000_000, {"y"})


def test_many_lines(volume_run: RunResult) -> None:
    text = stream_text(cell_by_id(volume_run.notebook(), "many-lines"))
    expected = "".join(f"{i}\n" for i in range(MANY_LINES))
    assert (len(text), _sha(text)) == (len(expected), _sha(expected))


def test_many_messages_none_lost(volume_run: RunResult) -> None:
    cell = cell_by_id(volume_run.notebook(), "many-messages")
    text = stream_text(cell)
    expected = "".join(f"{i}\n" for i in range(MANY_MESSAGES))
    assert (len(text), _sha(text)) == (len(expected), _sha(expected))
    assert len(cell.outputs) == 1, "streams are coalesced into one output"


def test_cells_after_volume_still_run(volume_run: RunResult) -> None:
    assert stream_text(cell_by_id(volume_run.notebook(), "after")) == "still alive\n"
