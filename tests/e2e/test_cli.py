"""Command line: usage and input errors (exit 2), kernels, output destinations, --cwd."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import nbformat
import nbformat.v3
import pytest

from conftest import (
    VENV,
    VENV_PYTHON,
    Runner,
    cell_by_id,
    code,
    format_problems,
    literal_from_stdout,
    make_notebook,
    stream_text,
    write_notebook,
)

# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------


def test_unknown_kernel_exit_2_lists_kernels(runner: Runner, tmp_path: Path) -> None:
    path = write_notebook(make_notebook(["print(1)"], kernel="nosuchkernel"), tmp_path / "k.ipynb")
    run = runner.run(path, timeout=20)
    assert run.returncode == 2, run.describe()
    assert "nosuchkernel" in run.stderr
    assert "python3" in run.stderr, "the message should list the kernels found"
    assert run.kernels == []


def test_unknown_kernel_from_option(runner: Runner, nb_file: Callable[..., Path]) -> None:
    run = runner.run(nb_file(["print(1)"]), "--kernel", "nope-kernel", timeout=20)
    assert run.returncode == 2, run.describe()
    assert "nope-kernel" in run.stderr
    assert "python3" in run.stderr


def test_kernel_option_overrides_metadata(runner: Runner, tmp_path: Path) -> None:
    nb = make_notebook([code("print('ok')", cell_id="c")], kernel="nosuchkernel")
    path = write_notebook(nb, tmp_path / "k.ipynb")
    run = runner.run(path, "--kernel", "python3", timeout=30)
    assert run.returncode == 0, run.describe()
    assert stream_text(cell_by_id(run.notebook(), "c")) == "ok\n"


def test_default_kernel_is_python3(runner: Runner, tmp_path: Path) -> None:
    nb = make_notebook([code("print('ok')", cell_id="c")], kernel=None)
    path = write_notebook(nb, tmp_path / "nokernel.ipynb")
    run = runner.run(path, timeout=30)
    assert run.returncode == 0, run.describe()
    assert stream_text(cell_by_id(run.notebook(), "c")) == "ok\n"
    assert run.notebook().metadata["language_info"]["name"] == "python"


@pytest.mark.parametrize("variable", ["JUPYTER_PATH", "JUPYTER_DATA_DIR"])
def test_kernel_found_via_jupyter_dirs(runner: Runner, tmp_path: Path, variable: str) -> None:
    """A kernelspec under $JUPYTER_PATH or $JUPYTER_DATA_DIR (+ /kernels/<name>/kernel.json)."""
    spec_dir = tmp_path / "jdir" / "kernels" / "e2e-custom"
    spec_dir.mkdir(parents=True)
    launcher = (
        "import os, sys; os.environ['E2E_SPEC'] = 'custom'; "
        "from ipykernel import kernelapp; kernelapp.launch_new_instance()"
    )
    spec = {
        "argv": [str(VENV_PYTHON), "-c", launcher, "-f", "{connection_file}"],
        "display_name": "E2E custom",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    nb = make_notebook(
        [code("import os\nprint(repr(os.environ.get('E2E_SPEC')))", cell_id="c")],
        kernel="e2e-custom",
    )
    path = write_notebook(nb, tmp_path / "custom.ipynb")
    run = runner.run(path, env={variable: str(tmp_path / "jdir")}, timeout=30)
    assert run.returncode == 0, run.describe()
    assert literal_from_stdout(cell_by_id(run.notebook(), "c")) == "custom"


def test_kernel_found_via_python3_on_path(runner: Runner, nb_file: Callable[..., Path]) -> None:
    """Without VIRTUAL_ENV, the env prefix comes from `python3` on PATH (the venv's)."""
    path = nb_file([code("import sys\nprint(repr(sys.prefix))", cell_id="c")])
    run = runner.run(path, env={"VIRTUAL_ENV": None}, timeout=30)
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "c"))
    assert os.path.realpath(seen) == os.path.realpath(VENV)


# ---------------------------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------------------------


def test_malformed_json_exit_2(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{\n "cells": [],\n "metadata": {,\n "nbformat": 4\n}\n')
    run = runner.run(path, timeout=20)
    assert run.returncode == 2, run.describe()
    assert "broken.ipynb" in run.stderr
    assert re.search(r"(?i)line\W{0,3}3\b", run.stderr), run.stderr
    assert re.search(r"(?i)col(umn)?\W{0,3}\d+", run.stderr), run.stderr
    assert run.nb is None


def test_empty_file_exit_2(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "empty.ipynb"
    path.write_text("")
    run = runner.run(path, timeout=20)
    assert run.returncode == 2, run.describe()
    assert "empty.ipynb" in run.stderr


def test_nbformat_v3_rejected_or_converted(runner: Runner, tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(
        worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell("print('v3')")])]
    )
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    run = runner.run(path, timeout=30)
    if run.returncode == 2:
        assert re.search(r"(?i)nbformat|version", run.stderr), run.stderr
        assert "3" in run.stderr, run.stderr
        assert run.nb is None
    else:
        assert run.returncode == 0, run.describe()
        nb = run.notebook()
        assert nb.nbformat == 4
        assert stream_text(nb.cells[0]) == "v3\n"


# ---------------------------------------------------------------------------------------------
# Usage errors
# ---------------------------------------------------------------------------------------------


def test_unknown_option_exit_2(runner: Runner, nb_file: Callable[..., Path]) -> None:
    run = runner.run(nb_file(["print(1)"]), "--definitely-not-an-option", timeout=20)
    assert run.returncode == 2, run.describe()
    assert "--definitely-not-an-option" in run.stderr
    assert run.kernels == []


def test_missing_notebook_exit_2_names_path(runner: Runner, tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist.ipynb"
    run = runner.run(missing, timeout=20)
    assert run.returncode == 2, run.describe()
    assert str(missing) in run.stderr or missing.name in run.stderr, run.stderr
    assert run.kernels == []


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-arguments"),
        pytest.param(["exec"], id="no-notebook"),
        pytest.param(["exec", "{nb}", "-p", "only_name"], id="p-missing-value"),
        pytest.param(["exec", "{nb}", "-y", "[1, 2]"], id="yaml-not-a-mapping"),
        pytest.param(["exec", "{nb}", "-f", "{missing}"], id="params-file-missing"),
        pytest.param(["exec", "{nb}", "--cell-timeout", "soon"], id="bad-timeout"),
    ],
)
def test_usage_errors_exit_2(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path, argv: list[str]
) -> None:
    nb = nb_file(["print(1)"])
    missing = tmp_path / "missing-params.yaml"
    args = [a.format(nb=nb, missing=missing) for a in argv]
    run = runner.run_raw(args, timeout=20)
    assert run.returncode == 2, run.describe()
    assert run.stderr.strip(), "a usage error should say what is wrong"
    assert run.kernels == []


# ---------------------------------------------------------------------------------------------
# Output destinations
# ---------------------------------------------------------------------------------------------


def test_output_to_stdout(runner: Runner, nb_file: Callable[..., Path], tmp_path: Path) -> None:
    path = nb_file([code("print('to the notebook')", cell_id="c")])
    before = sorted(p.name for p in tmp_path.iterdir())
    run = runner.run(path, output="-", timeout=30)
    assert run.returncode == 0, run.describe()
    nb = run.notebook()  # parsed from stdout: stdout holds exactly one notebook
    assert stream_text(cell_by_id(nb, "c")) == "to the notebook\n"
    assert format_problems(run.stdout, "stdout") == []
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no file should be written"


def test_default_output_path(runner: Runner, nb_file: Callable[..., Path]) -> None:
    path = nb_file([code("print('x')", cell_id="c")], name="analysis.v2.ipynb")
    original = path.read_bytes()
    run = runner.run(path, output=None, timeout=30)
    assert run.returncode == 0, run.describe()
    assert run.output_path == path.with_name("analysis.v2.out.ipynb")
    assert stream_text(cell_by_id(run.notebook(), "c")) == "x\n"
    assert path.read_bytes() == original, "the input must not be modified"


def test_unicode_and_spaces_in_paths(runner: Runner, tmp_path: Path) -> None:
    nbdir = tmp_path / "dir with spaces ✓"
    nbdir.mkdir()
    path = write_notebook(
        make_notebook([code("print('ok')", cell_id="c")]), nbdir / "my nb 🎉.ipynb"
    )
    run = runner.run(path, output=None, timeout=30)
    assert run.returncode == 0, run.describe()
    assert run.output_path == nbdir / "my nb 🎉.out.ipynb"
    assert stream_text(cell_by_id(run.notebook(), "c")) == "ok\n"


def test_relative_paths_resolve_against_the_runner_cwd(host_runner: Runner, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    nb = make_notebook([code("import os\nprint(repr(os.getcwd()))", cell_id="c")])
    write_notebook(nb, tmp_path / "sub" / "rel.ipynb")
    handle = host_runner.start_raw(
        ["exec", "sub/rel.ipynb", "-o", "rel-out.ipynb", "--no-sandbox"],
        output=tmp_path / "rel-out.ipynb",
        cwd=tmp_path,
    )
    run = handle.finish(timeout=30)
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "c"))
    assert os.path.realpath(seen) == os.path.realpath(tmp_path / "sub")


def test_output_may_overwrite_input_when_named(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    path = nb_file([code("print('in place')", cell_id="c")])
    run = runner.run(path, output=path, timeout=30)
    assert run.returncode == 0, run.describe()
    reread = nbformat.read(str(path), as_version=4)
    assert stream_text(cell_by_id(reread, "c")) == "in place\n"


def test_unwritable_output_exit_5(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    path = nb_file(["print(1)"])
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    run = runner.run(path, output=blocker / "out.ipynb", timeout=30)
    assert run.returncode == 5, run.describe()
    assert "out.ipynb" in run.stderr, run.stderr


# ---------------------------------------------------------------------------------------------
# Working directory
# ---------------------------------------------------------------------------------------------


def test_default_cwd_is_notebook_dir(host_runner: Runner, tmp_path: Path) -> None:
    nbdir = tmp_path / "nbdir"
    nbdir.mkdir()
    nb = make_notebook([code("import os\nprint(repr(os.getcwd()))", cell_id="c")])
    path = write_notebook(nb, nbdir / "where.ipynb")
    run = host_runner.run(path, timeout=30)  # the runner itself runs in another directory
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "c"))
    assert os.path.realpath(seen) == os.path.realpath(nbdir)


def test_cwd_option(host_runner: Runner, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    nb = make_notebook([code("import os\nprint(repr(os.getcwd()))", cell_id="c")])
    path = write_notebook(nb, tmp_path / "where.ipynb")
    run = host_runner.run(path, "--cwd", str(other), timeout=30)
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "c"))
    assert os.path.realpath(seen) == os.path.realpath(other)
