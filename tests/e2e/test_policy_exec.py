"""The purpose policy in `runner exec`: checked before any data moves, labels propagated to outputs.

The catalog and rules live in `[policy]` of the tiffin.toml beside the notebook; the data is a real
SQLite warehouse. Propagated labels are read back from the warehouse's `tiffin_labels` table.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from conftest import Runner, code, stream_text

EXIT_POLICY = 7

POLICY = """
[policy]
mode = "{mode}"

[policy.labels]
pii = ["fraud_detection", "support"]
finance = ["support", "reporting"]

[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]

[[policy.tables]]
table = "warehouse.orders"
[policy.tables.columns]
amount = ["finance"]
{extra}
"""


def setup(tmp_path: Path, *, mode: str = "enforce", extra: str = "") -> Path:
    (tmp_path / "tiffin.toml").write_text(POLICY.format(mode=mode, extra=extra))
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, email TEXT)")
        conn.executemany("INSERT INTO customers VALUES (?, ?)", [(1, "a@x.org"), (2, "b@y.org")])
        conn.execute("CREATE TABLE orders (id INTEGER, customer INTEGER, amount REAL)")
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?)", [(1, 1, 9.5), (2, 2, 20.0)])
        conn.execute("CREATE TABLE public_holidays (day TEXT)")
    return db


def labels_in(db: Path) -> set[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return set(conn.execute("SELECT table_name, label FROM tiffin_labels").fetchall())


def tables_in(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }


def test_a_refused_run_moves_no_data_and_names_table_label_and_purpose(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = setup(tmp_path)
    keep = tmp_path / "kept"
    nb = nb_file(
        [
            code("%%sql people\nSELECT id, email FROM customers"),
            code("print('ran')"),
            code("%%upload people_copy\npeople"),
        ]
    )
    result = runner.run(nb, "--purpose", "marketing", "--keep-data", str(keep))
    assert result.returncode == EXIT_POLICY, result.describe()
    assert (
        "cell 1 reads warehouse.customers (label `pii`), "
        "which does not allow the purpose `marketing`" in result.stderr
    )
    cells = result.notebook().cells
    assert all(not c.get("outputs") for c in cells if c.cell_type == "code" and "ran" in c.source)
    assert not list(keep.glob("**/*.csv")), "nothing was fetched"
    assert "people_copy" not in tables_in(db)


def test_an_allowed_purpose_runs_and_the_output_inherits_the_labels(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = setup(tmp_path)
    nb = nb_file(
        [
            code(
                "%%sql people\n"
                "SELECT c.id, o.amount FROM customers c JOIN orders o ON o.customer = c.id"
            ),
            code("%%upload spend\npeople"),
        ]
    )
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == 0, result.describe()
    assert labels_in(db) == {("spend", "pii"), ("spend", "finance")}


def test_without_a_purpose_only_unlabeled_tables_and_columns_may_be_read(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    setup(tmp_path)
    unlabeled = nb_file(
        [code("%%sql o\nSELECT id, customer FROM orders"), code("print(len(o))")], "ok.ipynb"
    )
    result = runner.run(unlabeled)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).strip() == "2"

    star = nb_file([code("%%sql o\nSELECT * FROM orders")], "star.ipynb")
    result = runner.run(star)
    assert result.returncode == EXIT_POLICY, result.describe()
    assert "a run without a purpose may read only unlabeled tables" in result.stderr
    assert "warehouse.orders (label `finance`)" in result.stderr


def test_sql_that_cannot_be_resolved_is_refused(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    setup(tmp_path)
    nb = nb_file([code("%%sql x\nSELECT * FROM customers; DELETE FROM customers")])
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == EXIT_POLICY, result.describe()
    assert "cannot be resolved" in result.stderr
    assert "exactly one statement" in result.stderr


def test_labels_propagate_to_a_second_notebook(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = setup(tmp_path)
    first = nb_file(
        [code("%%sql people\nSELECT id, email FROM customers"), code("%%upload contacts\npeople")],
        "first.ipynb",
    )
    assert (result := runner.run(first, "--purpose", "support")).returncode == 0, result.describe()
    assert labels_in(db) == {("contacts", "pii")}
    shown = runner.run_raw(["policy", "show"], cwd=tmp_path)
    assert shown.returncode == 0, shown.describe()
    heading = "labels runs gave their outputs (stored in each source's tiffin_labels table):"
    assert f"{heading}\n  warehouse.contacts: pii\n" in shown.stdout
    shown = runner.run_raw(["policy", "show", "--json"], cwd=tmp_path)
    assert json.loads(shown.stdout)["stored_labels"] == {"warehouse.contacts": ["pii"]}

    second = nb_file(
        [code("%%sql c\nSELECT count(*) AS n FROM contacts"), code("print(int(c.n[0]))")],
        "second.ipynb",
    )
    result = runner.run(second, "--purpose", "reporting")
    assert result.returncode == EXIT_POLICY, result.describe()
    assert (
        "cell 1 reads warehouse.contacts (label `pii`), "
        "which does not allow the purpose `reporting`" in (result.stderr)
    )
    result = runner.run(second, "--purpose", "fraud_detection")
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).strip() == "2"


def test_writing_into_an_existing_table_that_lacks_the_labels_is_refused(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = setup(tmp_path)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE shared_report (id INTEGER, email TEXT)")
    nb = nb_file(
        [
            code("%%sql people\nSELECT id, email FROM customers"),
            code("%%upload shared_report\npeople"),
        ]
    )
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == EXIT_POLICY, result.describe()
    assert "cell 2 writes warehouse.shared_report, which lacks label `pii`" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM shared_report").fetchone() == (0,)


def test_log_mode_runs_anyway_and_reports_the_violation(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = setup(tmp_path, mode="log")
    nb = nb_file(
        [code("%%sql people\nSELECT id, email FROM customers"), code("%%upload leak\npeople")]
    )
    result = runner.run(nb, "--purpose", "marketing")
    assert result.returncode == 0, result.describe()
    assert 'policy violation (mode = "log", the run goes ahead)' in result.stderr
    assert "does not allow the purpose `marketing`" in result.stderr
    assert labels_in(db) == {("leak", "pii")}, "the output still inherits the labels"


def test_a_reviewed_reclassification_drops_a_label_from_one_output(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    extra = """
[[policy.reclassify]]
output = "warehouse.customer_count"
drop = ["pii"]
reason = "a count, no personal data (review #7)"
"""
    db = setup(tmp_path, extra=extra)
    nb = nb_file(
        [
            code("%%sql n\nSELECT count(*) AS n FROM customers"),
            code("%%upload customer_count\nn"),
            code("%%upload customer_count_raw\nn"),
        ]
    )
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == 0, result.describe()
    assert labels_in(db) == {("customer_count_raw", "pii")}
    reader = nb_file(
        [code("%%sql n\nSELECT n FROM customer_count"), code("print(int(n.n[0]))")], "reader.ipynb"
    )
    result = runner.run(reader, "--purpose", "reporting")
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).strip() == "2"
