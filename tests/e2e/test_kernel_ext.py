"""The kernel extension (`%load_ext tiffin`, kernel-ext/): `%%sql` and `%%upload` in a real
ipykernel, driven by nbclient as JupyterLab drives it, moving data through the real runner
(`runner cell`) on a real SQLite warehouse beside the notebook.

The claim under test is that a notebook behaves the same interactively and when scheduled: the
same DataFrames (types and values), the same policy decisions and messages, and an upload that
only previews unless `%tiffin write on`. What lands in the warehouse is read with sqlite3.
"""

from __future__ import annotations

import datetime
import decimal
import re
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tiffin
from nbformat import NotebookNode

from conftest import REPO_ROOT, Runner, code, make_notebook, run_nbclient, write_notebook

TIMES = "\N{MULTIPLICATION SIGN}"  # "N rows TIMES M columns", as the runner's code prints it
EXIT_USAGE = 2
EXIT_DATA = 6
EXIT_POLICY = 7

POLICY = """
[policy]
[policy.labels]
pii = ["support"]

[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]
"""


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _installed_extension_is_this_checkout() -> None:
    """The venv holds a regular install of kernel-ext (so the sandbox can import it too):
    a stale one would test old code."""
    source = REPO_ROOT / "kernel-ext" / "src" / "tiffin"
    installed = Path(tiffin.__file__).parent
    stale = [
        path.name
        for path in source.glob("*.py")
        if not (installed / path.name).is_file()
        or (installed / path.name).read_bytes() != path.read_bytes()
    ]
    if stale:
        pytest.fail(
            f"the venv's tiffin ({installed}) differs from kernel-ext in {stale}: "
            "run scripts/setup-venv",
            pytrace=False,
        )


def interactive(
    runner: Runner, directory: Path, cells: Sequence[NotebookNode | str]
) -> list[NotebookNode]:
    """Runs `%load_ext tiffin` and then `cells` in one real kernel whose working directory is
    `directory`, as JupyterLab would (errors do not stop it); returns the cells after it."""
    directory.mkdir(parents=True, exist_ok=True)
    nb = make_notebook(["%load_ext tiffin", *cells])
    path = write_notebook(nb, directory / "interactive.ipynb")
    env = {**runner.env, "TIFFIN_RUNNER": str(runner.binary)}
    done = run_nbclient(path, directory / "interactive.done.ipynb", env, allow_errors=True)
    loaded = done.cells[0]
    assert not loaded.outputs, f"%load_ext tiffin printed or failed: {loaded.outputs}"
    return list(done.cells[1:])


def stdout(cell: NotebookNode) -> str:
    return "".join(
        o["text"] for o in cell.outputs if o.output_type == "stream" and o.name == "stdout"
    )


def error_of(cell: NotebookNode) -> NotebookNode:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors, f"the cell did not fail: {cell.outputs}"
    return errors[0]


def no_error(cell: NotebookNode) -> None:
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    assert not errors, f"cell {cell.source!r} failed: {errors}"


def shown(cell: NotebookNode) -> list[tuple[str, str]]:
    """A cell's outputs as (kind, text): streams and the text/plain and HTML of displays.
    Each stream is merged into its first output, as nbclient (`coalesce_streams`) stores them:
    the runner adds the "loaded ..." line of an upload as an output of its own."""
    found: list[tuple[str, str]] = []
    first: dict[str, int] = {}
    for o in cell.outputs:
        if o.output_type == "stream" and o.name in first:
            kind, text = found[first[o.name]]
            found[first[o.name]] = (kind, text + o.text)
        elif o.output_type == "stream":
            first[o.name] = len(found)
            found.append((o.name, o.text))
        elif o.output_type in ("display_data", "execute_result"):
            found += [
                (mime, o.data[mime]) for mime in ("text/plain", "text/html") if mime in o.data
            ]
        else:
            found.append((o.output_type, f"{o.get('ename')}: {o.get('evalue')}"))
    return found


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def tables(db: Path) -> set[str]:
    return {row[0] for row in rows(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}


def source_warehouse(db: Path) -> None:
    """Every type the data path handles, with NULLs and awkward text."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TABLE src (id INTEGER NOT NULL, i INTEGER, f REAL, t TEXT, d DATE, "
            "ts TIMESTAMP, b BOOLEAN)"
        )
        texts = ["", None, "a,b", 'say "hi"', "line1\nline2", "ünï ✓", "\\N", "NULL", "it's"]
        floats = [0.1, 1 / 3, None, 1e300, -2.5, 2.0**53 + 2]
        ints = [None, 0, -1, 9223372036854775807, 42]
        conn.executemany(
            "INSERT INTO src VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    n,
                    ints[n % len(ints)],
                    floats[n % len(floats)],
                    texts[n % len(texts)],
                    None if n == 3 else f"2024-02-{n + 1:02d}",
                    None if n == 4 else f"2024-01-01 10:{n:02d}:00.{n:06d}",
                    None if n == 5 else n % 2,
                )
                for n in range(12)
            ],
        )


# --------------------------------------------------------------------------------------------
# Behaves the same interactively and when scheduled
# --------------------------------------------------------------------------------------------

PARITY_CELLS = [
    code("min_id = 0", tags=["parameters"]),
    code("%%sql src\nSELECT * FROM src WHERE id >= :min_id ORDER BY id"),
    code(
        "print({c: str(t) for c, t in src.dtypes.items()})\n"
        "for column in src.columns:\n"
        "    print(column, repr(src[column].tolist()))"
    ),
    # A line magic for the interactive session; harmless in a scheduled run.
    "%tiffin write on",
    code("%%upload dst\nsrc[src['id'] < 3]"),
]


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "no-sandbox"])
def test_a_fetch_gives_the_same_dataframe_as_a_scheduled_run(
    runner: Runner, host_runner: Runner, tmp_path: Path, sandbox: bool
) -> None:
    # One notebook, `%load_ext tiffin` first as a JupyterLab notebook would have it, run twice
    # on two copies of the same warehouse: scheduled (`runner exec`) and interactively.
    scheduled_dir, interactive_dir = tmp_path / "scheduled", tmp_path / "interactive"
    for directory in (scheduled_dir, interactive_dir):
        directory.mkdir()
        source_warehouse(directory / "warehouse.db")
    nb = write_notebook(
        make_notebook(["%load_ext tiffin", *PARITY_CELLS]), scheduled_dir / "report.ipynb"
    )
    result = (runner if sandbox else host_runner).run(nb)
    assert result.returncode == 0, result.describe()
    scheduled = result.notebook().cells[1:]
    live = interactive(runner, interactive_dir, PARITY_CELLS)

    printed = stdout(live[2])
    assert "'i': 'Int64'" in printed
    assert "'f': 'float64'" in printed
    assert "'b': 'boolean'" in printed
    assert "'d': 'datetime64[" in printed
    assert "t ['', nan, 'a,b'" in printed or "t ['', None, 'a,b'" in printed, printed
    # Every cell shows the same: the fetch ("src: N rows by M columns from warehouse" and the
    # preview), the DataFrame's dtypes and every value, the upload's preview and what it loaded.
    assert [shown(cell) for cell in live] == [shown(cell) for cell in scheduled]
    assert f"src: 12 rows {TIMES} 7 columns from warehouse" in stdout(live[1])
    assert stdout(live[4]).endswith("created and loaded 3 rows into warehouse.dst (append)\n")
    loaded = "SELECT *, typeof(i), typeof(d), typeof(ts), typeof(b) FROM dst ORDER BY id"
    assert rows(interactive_dir / "warehouse.db", loaded) == rows(
        scheduled_dir / "warehouse.db", loaded
    )
    assert len(rows(interactive_dir / "warehouse.db", loaded)) == 3


def test_parameters_bind_the_notebooks_variables_as_values(runner: Runner, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.db"
    source_warehouse(db)
    before = rows(db, "SELECT * FROM src ORDER BY id")
    cells = interactive(
        runner,
        tmp_path,
        [
            code("day = '2024-02-03'\nlast = 5", tags=["parameters"]),
            "%%sql hit\nSELECT id FROM src WHERE d = :day OR id >= :last -- :nothing\nORDER BY id",
            "print(hit['id'].tolist())",
            "day = \"2024-02-03' OR '1'='1\"\nlast = 1000",
            "%%sql evil\nSELECT id FROM src WHERE d = :day OR id >= :last",
            "print(len(evil))",
            'day = "x\'; DROP TABLE src; --"',
            "%%sql evil2\nSELECT id FROM src WHERE t = :day",
            "print(len(evil2))",
            "%%sql frame\nSELECT id FROM src WHERE id = :hit",
            "%%sql missing\nSELECT id FROM src WHERE id = :undefined_here",
        ],
    )
    for cell in cells[:9]:
        no_error(cell)
    assert stdout(cells[2]).strip() == "[2, 5, 6, 7, 8, 9, 10, 11]"
    assert stdout(cells[5]).strip() == "0"
    assert stdout(cells[8]).strip() == "0"
    assert rows(db, "SELECT * FROM src ORDER BY id") == before

    frame = error_of(cells[9])
    assert frame.ename == "TiffinError"
    assert "parameter `hit` has no value" in frame.evalue
    assert "`hit` holds a DataFrame" in frame.evalue
    missing = error_of(cells[10])
    assert "parameter `undefined_here` has no value" in missing.evalue
    assert "takes the value of the variable `undefined_here`" in missing.evalue


# --------------------------------------------------------------------------------------------
# The purpose policy
# --------------------------------------------------------------------------------------------


def policy_warehouse(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "tiffin.toml").write_text(POLICY)
    db = directory / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, email TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "a@x.org"), (2, "b@y.org")])
        conn.execute("CREATE TABLE contacts (id INTEGER, email TEXT)")
    return db


def test_a_purpose_the_labels_do_not_allow_fails_the_cell_before_any_fetch(
    runner: Runner, tmp_path: Path
) -> None:
    policy_warehouse(tmp_path)
    cells = interactive(
        runner,
        tmp_path,
        [
            "%tiffin purpose marketing",
            "%%sql people\nSELECT id, email FROM customers",
            "import sys\nprint('people' in globals(), sys.last_value.exit_code)",
            "%tiffin status",
        ],
    )
    assert stdout(cells[0]).strip() == "tiffin: purpose: marketing"
    refused = error_of(cells[1])
    assert refused.ename == "TiffinError"
    assert refused.evalue.startswith("runner: refused by the purpose policy")
    assert (
        "reads warehouse.customers (label `pii`), which does not allow the purpose `marketing`"
        in refused.evalue
    )
    # The runner's message, not a traceback through the extension.
    assert len(refused.traceback) == 1
    assert stdout(cells[2]).strip() == f"False {EXIT_POLICY}"
    status = stdout(cells[3])
    assert "purpose: marketing" in status
    assert "labels carried: none" in status


def test_labels_fetched_in_the_session_go_with_the_upload(runner: Runner, tmp_path: Path) -> None:
    db = policy_warehouse(tmp_path)
    cells = interactive(
        runner,
        tmp_path,
        [
            "%tiffin purpose support",
            "%%sql people\nSELECT id, email FROM customers",
            "%tiffin write on",
            # The policy is checked before the expression runs: it never prints.
            "%%upload contacts\npeople.assign(seen=print('evaluated') or 1)",
            "import sys\nprint(sys.last_value.exit_code)",
            "%tiffin status",
            "%%upload people_copy\npeople",
        ],
    )
    no_error(cells[1])
    assert f"people: 2 rows {TIMES} 2 columns from warehouse" in stdout(cells[1])
    refused = error_of(cells[3])
    assert refused.ename == "TiffinError"
    assert "writes warehouse.contacts, which lacks label `pii`" in refused.evalue
    assert "evaluated" not in stdout(cells[3])
    assert stdout(cells[4]).strip() == str(EXIT_POLICY)
    assert "labels carried: pii" in stdout(cells[5])
    assert rows(db, "SELECT count(*) FROM contacts") == [(0,)]
    # A new table takes the labels, as a scheduled run's output does.
    no_error(cells[6])
    loaded = "created and loaded 2 rows into warehouse.people_copy (append) — labelled pii"
    assert loaded in stdout(cells[6])
    assert rows(db, "SELECT table_name, label FROM tiffin_labels") == [("people_copy", "pii")]


# --------------------------------------------------------------------------------------------
# Uploads: a preview unless `%tiffin write on`
# --------------------------------------------------------------------------------------------

FRAME = (
    "import pandas as pd\n"
    "frame = pd.DataFrame({'day': ['2024-03-01', '2024-03-02'], 'total': [1.5, 2.5]})"
)


def daily_warehouse(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE daily (day TEXT, total REAL)")
        conn.execute("INSERT INTO daily VALUES ('2024-02-29', 9.0)")


def test_an_upload_is_a_dry_run_until_write_is_on(runner: Runner, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.db"
    daily_warehouse(db)
    before = rows(db, "SELECT * FROM daily")
    cells = interactive(
        runner,
        tmp_path,
        [FRAME, "%%upload daily\nframe", "%%upload new_table\nframe", "%tiffin"],
    )
    for cell in cells:
        no_error(cell)
    assert f"warehouse.daily: 2 rows {TIMES} 2 columns to append" in stdout(cells[1])
    assert (
        "would load 2 rows into warehouse.daily (append) — dry run, nothing written; "
        "`%tiffin write on` and re-run the cell to write" in stdout(cells[1])
    )
    assert "would create and load 2 rows into warehouse.new_table (append)" in stdout(cells[2])
    assert "write off" in stdout(cells[3])
    assert rows(db, "SELECT * FROM daily") == before
    assert "new_table" not in tables(db)

    cells = interactive(
        runner,
        tmp_path,
        [
            FRAME,
            "%tiffin write on",
            "%%upload daily\nframe",
            "%%upload daily\nframe.assign(total=['a', 'b'])",
            "%%upload daily\nframe.assign(extra=1)",
            "%tiffin write off",
            "%%upload daily\nframe",
        ],
    )
    assert "write on" in stdout(cells[1])
    no_error(cells[2])
    assert stdout(cells[2]).strip().endswith("loaded 2 rows into warehouse.daily (append)")
    mismatch = error_of(cells[3])
    assert mismatch.ename == "TiffinError"
    assert "column `total` is text in the DataFrame but float" in mismatch.evalue
    assert "extra" in error_of(cells[4]).evalue
    assert "dry run" in stdout(cells[6])
    assert rows(db, "SELECT * FROM daily ORDER BY day") == [
        ("2024-02-29", 9.0),
        ("2024-03-01", 1.5),
        ("2024-03-02", 2.5),
    ]


def test_the_cells_csvs_are_deleted_and_the_session_dir_goes_with_the_kernel(
    runner: Runner, tmp_path: Path
) -> None:
    source_warehouse(tmp_path / "warehouse.db")
    cells = interactive(
        runner,
        tmp_path,
        [
            "%%sql src\nSELECT * FROM src",
            "%%upload copy\nsrc",
            "import os, tiffin.magics\n"
            "session_dir = tiffin.magics._session.data_dir()\n"
            "print(session_dir)\nprint(os.listdir(session_dir))",
            # The cell's own errors, as a scheduled run's kernel raises them.
            "%%upload copy\nno_such_frame",
            "%%upload copy\n42",
            "print(sorted(k for k in globals() if k.startswith('_tiffin')))",
            "print(os.listdir(session_dir))",
        ],
    )
    for cell in cells[:3]:
        no_error(cell)
    session_dir, listing = stdout(cells[2]).splitlines()
    assert listing == "[]"
    assert error_of(cells[3]).ename == "NameError"
    assert "no_such_frame" in error_of(cells[3]).evalue
    assert error_of(cells[4]).evalue == (
        "%%upload warehouse.copy: the cell gave a int, not a pandas DataFrame"
    )
    assert stdout(cells[5]).strip() == "[]"
    assert stdout(cells[6]).strip() == "[]"
    assert not Path(session_dir).exists(), "the session's temporary dir outlived the kernel"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_a_malformed_cell_fails_with_the_runners_message(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    source_warehouse(tmp_path / "warehouse.db")
    cells = interactive(
        runner,
        tmp_path / "live",
        [
            "%%sql 1bad\nSELECT 1",
            "%%upload daily --mode sideways\nframe",
            "import sys\nprint(sys.last_value.exit_code)",
            "%%sql x --source nowhere\nSELECT 1",
        ],
    )
    bad = error_of(cells[0])
    assert bad.ename == "TiffinError"
    assert "`%%sql 1bad`: `1bad` is not a Python variable name" in bad.evalue
    assert "cell 1" not in bad.evalue, "in JupyterLab the failing cell is the one the user ran"
    assert "sideways" in error_of(cells[1]).evalue
    assert stdout(cells[2]).strip() == str(EXIT_USAGE)
    assert "nowhere" in error_of(cells[3]).evalue

    # A scheduled run refuses the same cell with the same words.
    result = runner.run(nb_file(["%%sql 1bad\nSELECT 1"]))
    assert result.returncode == EXIT_USAGE, result.describe()
    assert "`1bad` is not a Python variable name" in result.stderr


def test_a_missing_runner_is_named(runner: Runner, tmp_path: Path) -> None:
    cells = interactive(
        runner,
        tmp_path,
        [
            "%env TIFFIN_RUNNER=/nonexistent/runner",
            "%%sql x\nSELECT 1",
            "import os\nos.environ.pop('TIFFIN_RUNNER')\nos.environ['PATH'] = '/nonexistent'",
            "%%sql x\nSELECT 1",
            "%tiffin status",
        ],
    )
    assert "TIFFIN_RUNNER=/nonexistent/runner is not an executable file" in (
        error_of(cells[1]).evalue
    )
    assert "the Tiffin runner was not found" in error_of(cells[3]).evalue
    assert "runner: missing" in stdout(cells[4])


# --------------------------------------------------------------------------------------------
# The pure helpers
# --------------------------------------------------------------------------------------------


def test_placeholders_are_the_cells_colon_names_but_not_casts_or_times() -> None:
    text = (
        "%%upload t --mode partition --partition day=:day\n"
        "SELECT x::date, :a, '10:30', é = :é, :a -- :comment"
    )
    assert tiffin.placeholders(text) == ["day", "a", "é", "comment"]


def test_parameter_values_are_what_a_scheduled_parameter_can_hold() -> None:
    assert tiffin.parameter_value(np.int64(3)) == 3
    assert type(tiffin.parameter_value(np.int64(3))) is int
    assert tiffin.parameter_value(np.bool_(True)) is True
    assert tiffin.parameter_value(np.float64(0.5)) == 0.5
    assert tiffin.parameter_value(datetime.date(2024, 3, 1)) == "2024-03-01"
    assert tiffin.parameter_value(datetime.datetime(2024, 3, 1, 4, 5)) == "2024-03-01 04:05:00"
    assert tiffin.parameter_value(pd.Timestamp("2024-03-01 04:05")) == "2024-03-01 04:05:00"
    for value in (None, True, -7, 2.5, "it's"):
        assert tiffin.parameter_value(value) == value
    for unusable in (float("nan"), float("inf"), decimal.Decimal("1.5"), [1], pd.DataFrame()):
        with pytest.raises(ValueError, match=re.escape(type(unusable).__name__)):
            tiffin.parameter_value(unusable)


def test_parameters_are_collected_only_for_the_cells_placeholders() -> None:
    namespace = {"day": "2024-03-01", "n": 3, "frame": pd.DataFrame(), "unused": 1, "_x": 2}
    found = tiffin.collect_parameters("%%sql t\nSELECT :day, :n, :frame, :ghost", namespace)
    assert found.values == {"day": "2024-03-01", "n": 3}
    assert found.unusable == {"frame": "a DataFrame"}
    assert found.undefined == ["ghost"]


def test_the_upload_summary_says_dry_run_or_loaded() -> None:
    report = {"source": "wh", "table": "t", "rows": 2, "mode": "append", "created": False}
    assert tiffin.upload_summary({**report, "written": True}) == "loaded 2 rows into wh.t (append)"
    dry = tiffin.upload_summary({**report, "written": False, "labels": ["pii", "x"]})
    assert dry.startswith("would load 2 rows into wh.t (append) — labelled pii, x — dry run")
    created = tiffin.upload_summary({**report, "created": True, "written": True})
    assert created == "created and loaded 2 rows into wh.t (append)"
    partition = {**report, "mode": "partition", "partition": "2024-03-01", "written": False}
    assert tiffin.upload_summary({**partition, "created": True}).startswith(
        'would create and load 2 rows into wh.t (partition, partition "2024-03-01") — dry run'
    )
