"""The data path on the embedded default source: `warehouse.db` (real SQLite) beside the notebook.

`%%sql` cells are fetched by the runner into CSV, read by the kernel with their types, and
`%%upload` cells are loaded after the run; what lands in the database is checked with Python's
sqlite3 module (the same SQLite library the sqlite3 CLI uses), value and storage type alike.
Runs are sandboxed unless a test says otherwise.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import Runner, code, stream_text

EXIT_CELL_ERROR = 1
EXIT_USAGE = 2
EXIT_DATA = 6
EXIT_POLICY = 7

SOURCE_SCHEMA = (
    "CREATE TABLE {name} (id INTEGER NOT NULL, i INTEGER, big INTEGER, f REAL, t TEXT, "
    "d DATE, ts TIMESTAMP, b BOOLEAN)"
)
TEXTS = [
    "",
    None,
    "a,b",
    'say "hi"',
    "line1\nline2",
    "ünïcödé ✓ 日本語",
    "\\N",
    "\\\\N",
    "NULL",
    " lead and trail ",
    "it's",
    "\r\n",
    "#not a comment",
]
FLOATS = [0.1, 1 / 3, 1e-300, 5e-324, 1e300, -2.5, None, 123456789.12345679, 2.0**53 + 2, 0.0]
INTS = [None, 0, -1, 9223372036854775807, -9223372036854775808, 42]


def timestamp(n: int) -> str:
    return f"2024-01-01 10:{n:02d}:00.{n:06d}" if n % 2 else f"2024-01-01 1{n % 10}:00:00"


def source_rows() -> list[tuple[Any, ...]]:
    rows = []
    for n in range(max(len(TEXTS), len(FLOATS), len(INTS))):
        rows.append(
            (
                n,
                INTS[n % len(INTS)],
                None if n % 3 else 2**62 + n,
                FLOATS[n % len(FLOATS)],
                TEXTS[n % len(TEXTS)],
                None if n == 4 else f"2024-02-{(n % 28) + 1:02d}",
                None if n == 5 else timestamp(n),
                None if n == 6 else n % 2,
            )
        )
    return rows


def make_warehouse(path: Path, *tables: str) -> None:
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(SOURCE_SCHEMA.format(name=table))
        db.executemany("INSERT INTO src VALUES (?, ?, ?, ?, ?, ?, ?, ?)", source_rows())


def typed_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    columns = ["id", "i", "big", "f", "t", "d", "ts", "b"]
    select = ", ".join(f"{c}, typeof({c})" for c in columns)
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {select} FROM {table} ORDER BY id").fetchall()


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_every_type_round_trips_through_pandas_and_back(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src", "dst")
    nb = nb_file(
        [
            code("%%sql src\nSELECT * FROM src ORDER BY id"),
            code(
                "print({c: str(t) for c, t in src.dtypes.items()})\n"
                "print(repr(src['t'].tolist()))\n"
                "print(repr(src['f'].tolist()))\n"
                "print(src['i'].isna().tolist(), src['big'].tolist()[:4])"
            ),
            code("%%upload dst\nsrc"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == 0, result.describe()
    cells = result.notebook().cells
    dtypes, texts, floats, ints = stream_text(cells[1]).splitlines()[:4]
    for expected in ["'i': 'Int64'", "'big': 'Int64'", "'f': 'float64'", "'b': 'boolean'"]:
        assert expected in dtypes
    assert "'d': 'datetime64" in dtypes
    assert "'ts': 'datetime64" in dtypes
    expected_texts = [TEXTS[n % len(TEXTS)] for n in range(len(source_rows()))]
    assert eval(texts.replace("nan", "None")) == expected_texts  # NULL is NaN, "" stays ""
    expected_floats = [FLOATS[n % len(FLOATS)] for n in range(len(source_rows()))]
    got_floats = eval(floats.replace("nan", "float('nan')"))
    assert [None if x != x else x for x in got_floats] == expected_floats
    assert ints.startswith(str([INTS[n % len(INTS)] is None for n in range(len(source_rows()))]))
    assert "src: 13 rows \N{MULTIPLICATION SIGN} 8 columns from warehouse" in stream_text(cells[0])
    assert cells[0].source == "%%sql src\nSELECT * FROM src ORDER BY id"
    assert cells[2].source == "%%upload dst\nsrc"
    assert "loaded 13 rows into warehouse.dst (append)" in stream_text(cells[2])
    db = tmp_path / "warehouse.db"
    assert typed_rows(db, "dst") == typed_rows(db, "src")


def test_a_new_table_is_created_with_the_frames_types(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src")
    nb = nb_file(
        [
            code("%%sql src\nSELECT id, i, f, t, b FROM src ORDER BY id"),
            code("%%upload copy\nsrc"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == 0, result.describe()
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        columns = db.execute("SELECT name, type FROM pragma_table_info('copy')").fetchall()
        got = db.execute("SELECT id, i, f, t, b FROM copy ORDER BY id").fetchall()
        want = db.execute("SELECT id, i, f, t, b FROM src ORDER BY id").fetchall()
    types = ["INTEGER", "INTEGER", "REAL", "TEXT", "BOOLEAN"]
    assert columns == list(zip(["id", "i", "f", "t", "b"], types, strict=True))
    assert got == want
    assert "created and loaded 13 rows" in stream_text(result.notebook().cells[1])


def test_parameters_are_bound_never_spliced(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src")
    nb = nb_file(
        [
            code("needle = 'it''s'".replace("''", "\\'"), tags=["parameters"]),
            code("%%sql hits\nSELECT id, t FROM src WHERE t = :needle OR t = ':needle'"),
            code("print(len(hits), hits['t'].tolist())"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[2]).strip() == '1 ["it\'s"]'
    attacks = [
        "x' OR '1'='1",
        "'; DROP TABLE src; --",
        "1 OR 1=1",
        "it's' UNION SELECT 1, sql FROM sqlite_master --",
    ]
    for attack in attacks:
        result = runner.run(nb, "-p", "needle", attack)
        assert result.returncode == 0, result.describe()
        assert stream_text(result.notebook().cells[3]).strip() == "0 []", attack
    assert count(tmp_path / "warehouse.db", "src") == 13


def test_a_failing_cell_leaves_every_table_unchanged(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    make_warehouse(db, "src", "dst")
    before = typed_rows(db, "src")
    nb = nb_file(
        [
            code("%%sql src\nSELECT * FROM src"),
            code("%%upload src --mode replace\nsrc.head(1)"),
            code("%%upload dst\nsrc"),
            code("raise RuntimeError('the report is wrong')"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == EXIT_CELL_ERROR, result.describe()
    assert typed_rows(db, "src") == before
    assert count(db, "dst") == 0
    assert "loaded" not in stream_text(result.notebook().cells[1])


def test_a_failing_upload_leaves_every_table_unchanged(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    make_warehouse(db, "src", "dst")
    before = typed_rows(db, "src")
    nb = nb_file(
        [
            code("%%sql src\nSELECT * FROM src"),
            code("%%upload src --mode replace\nsrc.head(2)"),
            code("%%upload dst\nsrc.assign(i=src['t'])"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == EXIT_DATA, result.describe()
    assert "cell 3" in result.stderr
    assert "column `i` is text in the DataFrame but integer (INTEGER)" in result.stderr
    assert "no table was changed" in result.stderr
    assert typed_rows(db, "src") == before
    assert count(db, "dst") == 0


def test_a_bad_value_is_named_by_row_and_column(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    make_warehouse(db, "src", "dst")
    nb = nb_file(
        [
            code(
                "import pandas as pd\nframe = pd.DataFrame({'id': [1, 2], 'd': ['2024-1-01', 'x']})"
            ),
            code("%%upload dst\nframe"),
        ]
    )
    result = runner.run(nb)
    assert result.returncode == EXIT_DATA, result.describe()
    assert "row 2, column `d`: `x` is not a date" in result.stderr
    assert count(db, "dst") == 0


def test_partition_mode_makes_a_rerun_idempotent(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE daily (day DATE NOT NULL, n INTEGER)")
    nb = nb_file(
        [
            code("day = '2024-03-01'\nrows = 2", tags=["parameters"]),
            code(
                "import pandas as pd\nframe = pd.DataFrame({'day': [day] * rows, 'n': range(rows)})"
            ),
            code("%%upload daily --mode partition --partition day=:day\nframe"),
        ]
    )
    for _ in range(2):
        result = runner.run(nb)
        assert result.returncode == 0, result.describe()
    assert runner.run(nb, "-p", "day", "2024-03-02", "-p", "rows", "3").returncode == 0
    with sqlite3.connect(db) as conn:
        days = conn.execute("SELECT day, count(*) FROM daily GROUP BY day ORDER BY day").fetchall()
    assert days == [("2024-03-01", 2), ("2024-03-02", 3)]
    stray = nb_file(
        [
            code(
                "import pandas as pd\n"
                "frame = pd.DataFrame({'day': ['2024-03-01', '2024-03-09'], 'n': [1, 2]})"
            ),
            code("%%upload daily --mode partition --partition day=:day\nframe"),
        ],
        name="stray.ipynb",
    )
    result = runner.run(stray, "-p", "day", "2024-03-01")
    assert result.returncode == EXIT_DATA, result.describe()
    assert "row 2 has day = `2024-03-09`, outside the partition" in result.stderr
    assert count(db, "daily") == 5


def test_malformed_cells_and_unknown_sources_are_named_before_anything_runs(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src")
    cases = {
        "%%upload t --mode upsert\nsrc": (
            "cell 2 (`%%upload t --mode upsert`): unknown --mode `upsert`"
        ),
        "%%sql x --source nowhere\nSELECT 1": (
            "cell 2: unknown source `nowhere` (known: warehouse; no tiffin.toml was found)"
        ),
        "%%sql x\nSELECT * FROM src WHERE id = :missing": "parameter `missing` has no value",
    }
    for source, message in cases.items():
        nb = nb_file([code("open('ran', 'w').close()"), code(source)])
        result = runner.run(nb, check_format=False)
        assert result.returncode == EXIT_USAGE, result.describe()
        assert message in result.stderr, result.stderr
        assert not (tmp_path / "ran").exists()


def test_a_failing_fetch_stops_the_run_before_any_cell(
    host_runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src")
    nb = nb_file(
        [
            code("open('ran', 'w').close()"),
            code("%%sql x\nSELECT nope FROM src"),
        ]
    )
    result = host_runner.run(nb)
    assert result.returncode == EXIT_DATA, result.describe()
    assert "cell 2: fetching `x` from warehouse: no such column: nope" in result.stderr
    assert not (tmp_path / "ran").exists()
    # A statement that writes is refused by the policy check before any connection is opened (the
    # read-only connection would refuse it too).
    writes = nb_file([code("%%sql x\nDELETE FROM src RETURNING id")], name="writes.ipynb")
    result = host_runner.run(writes)
    assert result.returncode == EXIT_POLICY, result.describe()
    assert "may read data, found DELETE" in result.stderr
    assert count(tmp_path / "warehouse.db", "src") == 13


def test_keep_data_keeps_the_csvs_and_otherwise_nothing_is_left(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    make_warehouse(tmp_path / "warehouse.db", "src")
    nb = nb_file([code("%%sql src\nSELECT id, t FROM src"), code("%%upload copy\nsrc")])
    kept = tmp_path / "kept"
    result = runner.run(nb, "--keep-data", str(kept))
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in (kept / "in").iterdir()) == ["src.csv", "src.schema.json"]
    assert sorted(p.name for p in (kept / "out").iterdir()) == ["copy.csv", "copy.schema.json"]
    assert (kept / "in" / "src.csv").read_text().startswith("id,t\n0,\n1,\\N\n")


def test_a_million_rows_stream_in_bounded_memory(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE big (id INTEGER, label TEXT, x REAL)")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999999) "
            "INSERT INTO big SELECT i, 'row-' || i || '-' || hex(randomblob(16)), i / 7.0 FROM n"
        )
    nb = nb_file([code("%%sql big\nSELECT * FROM big"), code("print(len(big), big['x'].iloc[-1])")])
    kept = tmp_path / "kept"
    handle = runner.start(nb, "--keep-data", str(kept))
    peak_kib = handle.peak_rss_kib()
    result = handle.finish(timeout=300)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).strip() == f"1000000 {999999 / 7.0!r}"
    csv_bytes = (kept / "in" / "big.csv").stat().st_size
    assert csv_bytes > 60_000_000
    peak = f"the runner peaked at {peak_kib} KiB for a {csv_bytes}-byte result"
    assert 0 < peak_kib * 1024 < 64 * 2**20, peak
