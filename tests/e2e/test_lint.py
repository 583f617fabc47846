"""`runner lint NOTEBOOK [--json]`: eligibility for scheduling, on the real binary.

Exit codes: 0 with no error-severity finding (warnings allowed), 1 with any, 2 when the notebook
cannot be read or the command line is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import nbformat.v3
import pytest
from nbformat import NotebookNode
from nbformat.v4 import new_raw_cell

from conftest import Runner, RunResult, code, make_notebook, markdown, write_notebook

NOT_ELIGIBLE = 1
USAGE = 2


def lint(runner: Runner, path: Path, *options: str) -> RunResult:
    return runner.run_raw(["lint", str(path), *options], timeout=20)


def lint_json(runner: Runner, path: Path) -> tuple[RunResult, list[dict[str, Any]]]:
    run = lint(runner, path, "--json")
    try:
        findings = json.loads(run.stdout)
    except ValueError as exc:
        raise AssertionError(f"--json output is not JSON\n{run.describe()}") from exc
    assert isinstance(findings, list), run.describe()
    return run, findings


def write(tmp_path: Path, cells: list[NotebookNode], name: str = "notebook.ipynb") -> Path:
    return write_notebook(make_notebook(cells), tmp_path / name)


# ---------------------------------------------------------------------------------------------
# An eligible notebook
# ---------------------------------------------------------------------------------------------

CLEAN_CELLS = [
    markdown("# Daily report\nRun `!rm -rf /` never; `import socket` is not code here."),
    code("run_date = '2024-01-01'", tags=["parameters"], cell_id="params"),
    code(
        "%%sql sales --source warehouse\nSELECT region, amount FROM sales WHERE day = :run_date",
        cell_id="fetch",
    ),
    code(
        "import pandas as pd\n"
        "import matplotlib.pyplot as plt\n"
        "%matplotlib inline\n"
        "totals = sales.groupby('region')['amount'].sum()\n"
        "ax = totals.plot.bar(title=f'Sales on {run_date}')\n"
        "plt.savefig('out/totals.png')\n"
        "totals.to_csv(f'out/totals-{run_date}.csv')\n"
        'print("!done, no import socket here")  # os.system("ls") in a comment\n'
        "note = '''\n!rm -rf /\nimport requests\n'''",
        cell_id="work",
    ),
    code(
        "%%upload analytics.region_totals --mode partition --partition day=:run_date\n"
        "totals.reset_index()",
        cell_id="save",
    ),
]


def test_clean_notebook_is_eligible(runner: Runner, tmp_path: Path) -> None:
    path = write(tmp_path, CLEAN_CELLS)
    run = lint(runner, path)
    assert run.returncode == 0, run.describe()
    assert run.stdout == f"{path}: eligible for scheduling\n", run.describe()
    assert run.stderr == ""
    run, findings = lint_json(runner, path)
    assert run.returncode == 0, run.describe()
    assert findings == []


# ---------------------------------------------------------------------------------------------
# One notebook per rule: the code, the cell (1-based among all cells) and the line
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    source: str
    line: int
    severity: str = "error"


CASES = {
    "shell-escape": Case("shell-escape", "x = 1\nif x:\n    !ls -l /", 3),
    "shell-assign": Case("shell-escape", "import pandas as pd\nfiles = !ls in/", 2),
    "shell-magic": Case("shell-escape", "%sx cat /etc/passwd", 1),
    "cell-magic": Case("cell-magic", "%%bash\ncurl https://example.com", 1),
    "unknown-cell-magic": Case("unknown-magic", "%%sparkle\nx", 1, "warning"),
    "bad-sql": Case("bad-data-cell", "%%sql 1daily\nSELECT 1", 1),
    "empty-sql": Case("bad-data-cell", "\n%%sql daily --source wh\n   \n", 2),
    "bad-upload": Case("bad-data-cell", "%%upload report --partition day=:d\ndf", 1),
    "pip": Case("line-magic", "import pandas\n%pip install requests", 2),
    "automagic-pip": Case("line-magic", "pip install requests", 1),
    "cd": Case("line-magic", "%cd /tmp", 1),
    "env": Case("environment", "%env TOKEN=x", 1, "warning"),
    "subprocess": Case("subprocess", "import json\nimport subprocess\nsubprocess.run(['ls'])", 2),
    "os-system": Case("subprocess", "import os\n\nos.system('ls')", 3),
    "multiprocessing": Case("child-process", "from multiprocessing import Pool", 1, "warning"),
    "network": Case("network", "import pandas as pd\nimport requests", 2),
    "network-url": Case(
        "network", "import pandas as pd\ndf = pd.read_csv('https://x.org/a.csv')", 2
    ),
    "dynamic-sql": Case("dynamic-sql", "import pandas as pd\ndf = pd.read_sql('SELECT 1', con)", 2),
    "to-sql": Case("dynamic-sql", "(df\n   .to_sql('t', engine))", 2),
    "sqlite3": Case("dynamic-sql", "import sqlite3", 1),
    "write": Case("write-outside-outputs", "df.to_csv('out/a.csv')\ndf.to_csv('/srv/a.csv')", 2),
    "open-write": Case(
        "write-outside-outputs", "with open('report.txt', 'w') as f:\n    f.write('x')", 1
    ),
    "shutil": Case("write-outside-outputs", "import shutil\nshutil.rmtree('data')", 2),
    "unknown-write": Case("unknown-write-target", "p = make_path()\nfig.savefig(p)", 2, "warning"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_rule(runner: Runner, tmp_path: Path, case: Case) -> None:
    # The flagged cell is the 3rd: after a markdown cell and a clean code cell.
    cells = [markdown("# title"), code("x = 1", cell_id="first"), code(case.source, cell_id="it")]
    path = write(tmp_path, cells)
    run, findings = lint_json(runner, path)
    assert run.returncode == (NOT_ELIGIBLE if case.severity == "error" else 0), run.describe()
    found = [(f["cell"], f["cell_id"], f["line"], f["rule"], f["severity"]) for f in findings]
    assert found == [(3, "it", case.line, case.rule, case.severity)], run.describe()
    assert findings[0]["message"], "every finding says why"


@pytest.mark.parametrize(
    "source",
    [
        'print("!rm -rf /")',
        "# import socket\n# !ls\n# %pip install x",
        "s = \"import requests; os.system('ls')\"",
        "doc = '''\n%%bash\n!ls\nimport sqlite3\n'''",
        "x = a != b\ny = 10 % 3",
        "df = pd.read_csv('in/sales.csv')\nurl = 'https://example.com'",
        "open('in/data.csv').read()",
        "%%html\n<p>!ls and import socket</p>",
    ],
)
def test_strings_comments_and_harmless_code_are_not_flagged(
    runner: Runner, tmp_path: Path, source: str
) -> None:
    path = write(tmp_path, [code(source, cell_id="c")])
    run, findings = lint_json(runner, path)
    assert run.returncode == 0, run.describe()
    assert findings == [], run.describe()


def test_markdown_and_raw_cells_are_ignored(runner: Runner, tmp_path: Path) -> None:
    nb = make_notebook([markdown("!rm -rf /\nimport socket", cell_id="m")])
    nb.cells.append(new_raw_cell("%%bash\nls"))
    path = write_notebook(nb, tmp_path / "text.ipynb")
    run = lint(runner, path)
    assert run.returncode == 0, run.describe()


# ---------------------------------------------------------------------------------------------
# Output formats
# ---------------------------------------------------------------------------------------------


def test_human_output_names_cell_id_line_and_rule(runner: Runner, tmp_path: Path) -> None:
    cells = [
        code("x = 1"),
        code("y = 2\n!rm -rf /tmp/x", cell_id="abc"),
        code("%frob", cell_id="w"),
    ]
    path = write(tmp_path, cells)
    run = lint(runner, path)
    assert run.returncode == NOT_ELIGIBLE, run.describe()
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.describe()
    assert lines[0].startswith(f"{path}: cell 2 (id abc), line 2: [shell-escape] error: "), lines
    assert "`!rm -rf /tmp/x`" in lines[0]
    assert "%%sql" in lines[0], "the message says what to do instead"
    assert lines[1].startswith(f"{path}: cell 3 (id w), line 1: [unknown-magic] warning: "), lines
    assert lines[2] == f"{path}: not eligible for scheduling: 1 error, 1 warning"


def test_cells_without_ids_are_named_by_index(runner: Runner, tmp_path: Path) -> None:
    nb = make_notebook([code("x = 1"), code("import socket")])
    nb.nbformat_minor = 4  # ids came with 4.5
    for cell in nb.cells:
        del cell["id"]
    path = write_notebook(nb, tmp_path / "old.ipynb")
    run = lint(runner, path)
    assert run.returncode == NOT_ELIGIBLE, run.describe()
    assert run.stdout.startswith(f"{path}: cell 2, line 1: [network] error: "), run.describe()
    run, findings = lint_json(runner, path)
    assert findings[0]["cell_id"] is None


def test_json_output(runner: Runner, tmp_path: Path) -> None:
    cells = [code("import os\nos.system('ls')\n%env A=1", cell_id="c1"), code("!ls", cell_id="c2")]
    path = write(tmp_path, cells)
    run, findings = lint_json(runner, path)
    assert run.returncode == NOT_ELIGIBLE, run.describe()
    assert run.stderr == ""
    assert [set(f) for f in findings] == [
        {"cell", "cell_id", "line", "rule", "severity", "message"}
    ] * 3
    assert [(f["cell"], f["line"], f["rule"]) for f in findings] == [
        (1, 2, "subprocess"),
        (1, 3, "environment"),
        (2, 1, "shell-escape"),
    ]
    assert all(isinstance(f["message"], str) and f["message"] for f in findings)


# ---------------------------------------------------------------------------------------------
# Unreadable notebooks and usage errors: exit 2 with a clear message
# ---------------------------------------------------------------------------------------------


def test_missing_file_exit_2(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "nope.ipynb"
    run = lint(runner, path)
    assert run.returncode == USAGE, run.describe()
    assert f"cannot read notebook {path}" in run.stderr
    assert run.stdout == ""


def test_malformed_json_exit_2(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [,\n')
    run = lint(runner, path, "--json")
    assert run.returncode == USAGE, run.describe()
    assert f"{path} is not valid JSON" in run.stderr
    assert run.stdout == "", "--json prints nothing when there is no notebook"


def test_not_a_v4_notebook_exit_2(runner: Runner, tmp_path: Path) -> None:
    v3 = nbformat.v3.new_notebook(
        worksheets=[nbformat.v3.new_worksheet(cells=[nbformat.v3.new_code_cell("!ls")])]
    )
    path = tmp_path / "old.ipynb"
    path.write_text(nbformat.writes(v3, version=3))
    run = lint(runner, path)
    assert run.returncode == USAGE, run.describe()
    assert "nbformat 3" in run.stderr


def test_bad_cell_exit_2(runner: Runner, tmp_path: Path) -> None:
    path = tmp_path / "cell.ipynb"
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [1]}))
    run = lint(runner, path)
    assert run.returncode == USAGE, run.describe()
    assert "cell 1" in run.stderr


def test_usage_errors_exit_2(runner: Runner) -> None:
    run = runner.run_raw(["lint"], timeout=20)
    assert run.returncode == USAGE, run.describe()
    assert "NOTEBOOK" in run.stderr
    run = runner.run_raw(["lint", "a.ipynb", "--colour"], timeout=20)
    assert run.returncode == USAGE, run.describe()
