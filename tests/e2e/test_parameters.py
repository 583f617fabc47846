"""Parameters: -p typing, -r, -y, -f; what the kernel sees; injected-parameters cell placement."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nbformat import NotebookNode

from conftest import (
    Runner,
    RunResult,
    cell_by_id,
    code,
    literal_from_stdout,
    make_notebook,
    markdown,
    write_notebook,
)

INJECTED = "injected-parameters"

# name -> (value given with -p, the Python value the kernel must see); typed like papermill.
TYPED: dict[str, tuple[str, Any]] = {
    "p_true": ("True", True),
    "p_false": ("False", False),
    "p_none": ("None", None),
    "p_int": ("42", 42),
    "p_float": ("3.5", 3.5),
    "p_exponent": ("1e3", 1000.0),
    "p_plain": ("hello world", "hello world"),
    "p_lower_true": ("true", "true"),
    "p_empty": ("", ""),
    "p_quotes": ('it\'s "quoted"', 'it\'s "quoted"'),
    "p_triple_quotes": ("'''\"\"\"", "'''\"\"\""),
    "p_newlines": ("line1\nline2\n", "line1\nline2\n"),
    "p_backslashes": ("C:\\new\\table\\", "C:\\new\\table\\"),
    "p_unicode": ("héllo ✓ 🎉 日本", "héllo ✓ 🎉 日本"),
    "p_code_like": ("__import__('os').getcwd()", "__import__('os').getcwd()"),
    "p_hash": ("# not a comment", "# not a comment"),
}
RAW: dict[str, tuple[str, str]] = {
    "r_number": ("42", "42"),
    "r_true": ("True", "True"),
    "r_quote": ("a'b\"c", "a'b\"c"),
}
YAML_ARG = '{"y_list": [1, 2.5, "s"], "y_map": {"k": null, "n": [true]}, "y_str": "x: y"}'
YAML_VALUES: dict[str, Any] = {
    "y_list": [1, 2.5, "s"],
    "y_map": {"k": None, "n": [True]},
    "y_str": "x: y",
}
FILE_TEXT = "f_int: 7\nf_text: |\n  two\n  lines\nf_nested:\n  a: [1, {b: c}]\n"
FILE_VALUES: dict[str, Any] = {
    "f_int": 7,
    "f_text": "two\nlines\n",
    "f_nested": {"a": [1, {"b": "c"}]},
}

EXPECTED: dict[str, Any] = {name: value for name, (_, value) in TYPED.items()}
EXPECTED |= {name: value for name, (_, value) in RAW.items()}
EXPECTED |= YAML_VALUES | FILE_VALUES
NAMES = sorted(EXPECTED)


def typed(value: Any) -> Any:
    """Value with its types made explicit, so that True != 1 and 1000 != 1000.0."""
    if isinstance(value, dict):
        return ("dict", {k: typed(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def dump_cell(names: list[str], cell_id: str = "dump") -> NotebookNode:
    src = "print(repr({" + ", ".join(f"{n!r}: {n}" for n in names) + "}))"
    return code(src, cell_id=cell_id)


def defaults_cell(names: list[str]) -> NotebookNode:
    src = "\n".join(f"{n} = 'default'" for n in names) + "\nuntouched = 'kept'"
    return code(src, tags=["parameters"], cell_id="params")


@pytest.fixture(scope="module")
def param_run(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    workdir = tmp_path_factory.mktemp("params")
    params_file = workdir / "params.yaml"
    params_file.write_text(FILE_TEXT, encoding="utf-8")
    nb = make_notebook(
        [
            markdown("# Parameterised", cell_id="title"),
            code("import json", cell_id="setup"),
            defaults_cell(NAMES),
            dump_cell([*NAMES, "untouched"]),
        ]
    )
    path = write_notebook(nb, workdir / "params.ipynb")
    args: list[str] = []
    for name, (given, _) in TYPED.items():
        args += ["-p", name, given]
    for name, (given, _) in RAW.items():
        args += ["-r", name, given]
    args += ["-y", YAML_ARG, "-f", str(params_file)]
    return runner.run(path, *args, timeout=30)


def _seen(run: RunResult) -> dict[str, Any]:
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "dump"))
    assert isinstance(seen, dict)
    return seen


@pytest.mark.parametrize("name", NAMES)
def test_kernel_sees_value(param_run: RunResult, name: str) -> None:
    assert typed(_seen(param_run)[name]) == typed(EXPECTED[name])


def test_parameters_not_given_keep_defaults(param_run: RunResult) -> None:
    assert _seen(param_run)["untouched"] == "kept"


def test_metadata_records_parameters(param_run: RunResult) -> None:
    recorded = param_run.notebook().metadata["papermill"]["parameters"]
    assert typed(recorded) == typed(EXPECTED)


def test_injected_cell_right_after_parameters_cell(param_run: RunResult) -> None:
    nb = param_run.notebook()
    ids = [c.get("id") for c in nb.cells]
    injected = [i for i, c in enumerate(nb.cells) if INJECTED in c.metadata.get("tags", [])]
    assert len(injected) == 1, ids
    assert injected[0] == ids.index("params") + 1, ids
    cell = nb.cells[injected[0]]
    assert cell.cell_type == "code"
    assert cell.execution_count == 3  # setup=1, params=2, injected=3
    assert cell.metadata["papermill"]["status"] == "completed"
    assert [ids[0], ids[1], ids[2], ids[-1]] == ["title", "setup", "params", "dump"]
    assert len(ids) == 5


def test_injected_cell_replaces_old_one(runner: Runner, tmp_path: Path) -> None:
    old = code("p = 'old'\nstale_marker = 1", tags=[INJECTED], cell_id="old-injected")
    nb = make_notebook(
        [
            code("p = 'default'", tags=["parameters"], cell_id="params"),
            old,
            code("print(repr([p, 'stale_marker' in globals()]))", cell_id="dump"),
        ]
    )
    path = write_notebook(nb, tmp_path / "reinject.ipynb")
    run = runner.run(path, "-p", "p", "new", timeout=30)
    assert run.returncode == 0, run.describe()
    out = run.notebook()
    injected = [i for i, c in enumerate(out.cells) if INJECTED in c.metadata.get("tags", [])]
    assert len(injected) == 1, [c.source for c in out.cells]
    assert injected[0] == 1
    assert "stale_marker" not in out.cells[1].source
    assert len(out.cells) == 3
    assert literal_from_stdout(cell_by_id(out, "dump")) == ["new", False]


def test_no_parameters_cell_injects_at_top_with_warning(
    runner: Runner, nb_file: Callable[..., Path]
) -> None:
    path = nb_file([code("print(repr(q))", cell_id="dump")])
    run = runner.run(path, "-p", "q", "3", "--no-progress", timeout=30)
    assert run.returncode == 0, run.describe()
    out = run.notebook()
    assert INJECTED in out.cells[0].metadata.get("tags", [])
    assert [c.get("id") for c in out.cells][1:] == ["dump"]
    assert literal_from_stdout(out.cells[1]) == 3
    assert "parameters" in run.stderr.lower(), run.describe()


def test_yaml_block_and_json_file(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    """-y takes YAML (block style too) and -f takes a JSON file."""
    params_json = tmp_path / "p.json"
    params_json.write_text(json.dumps({"j_float": 0.25, "j_list": ["a", None]}), encoding="utf-8")
    path = nb_file([code("pass", tags=["parameters"]), dump_cell(["y_block", "j_float", "j_list"])])
    run = runner.run(path, "-y", "y_block:\n  - 1\n  - two\n", "-f", str(params_json), timeout=30)
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "dump"))
    assert typed(seen) == typed({"y_block": [1, "two"], "j_float": 0.25, "j_list": ["a", None]})


def test_negative_number_values(runner: Runner, nb_file: Callable[..., Path]) -> None:
    """`-p n -7` works as in papermill: a value may start with '-'."""
    path = nb_file([code("pass", tags=["parameters"]), dump_cell(["n", "x", "s"])])
    run = runner.run(path, "-p", "n", "-7", "-p", "x", "-0.5", "-r", "s", "-1", timeout=30)
    assert run.returncode == 0, run.describe()
    seen = literal_from_stdout(cell_by_id(run.notebook(), "dump"))
    assert typed(seen) == typed({"n": -7, "x": -0.5, "s": "-1"})
