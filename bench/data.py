"""Benchmark Tiffin's data path against the databases' own CLI tools on 1,000,000 rows.

Fetch a table to CSV and upload the same rows, Tiffin's `runner cell sql|upload` against `sqlite3`
and `psql`, in the same run, and print the ratios. Run it through `bench/run-data`;
`bench/README.md` ("Data path") says what is compared and what each number means. The process
measurement (wall, CPU, peak RSS through ptrace) is bench.py's `measure`.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bench
from bench import BENCH, ROOT, VENV, Measurement, NotebookSpec

sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import postgres_server  # the e2e suite's throwaway server

DEFAULT_ROWS = 1_000_000
TARGET_RATIO = 1.0  # Tiffin wall time <= 1.0x the CLI tool's (the target)
CASES = ("sqlite-fetch", "sqlite-upload", "pg-fetch", "pg-upload", "exec")
PEERS = {
    "sqlite-fetch": "sqlite3",
    "sqlite-upload": "sqlite3",
    "pg-fetch": "psql",
    "pg-upload": "psql",
    "exec": "papermill",
}
TIFFIN = dict.fromkeys(CASES, "tiffin") | {"exec": "runner exec"}
TIFFIN_PG_PASSWORD_ENV = "TIFFIN_BENCH_PG_PASSWORD"

# The same columns and values in both databases: an integer id, a nullable integer (NULL in one
# row in 10), a float, text that sometimes needs CSV quoting (commas, double quotes), a date, a
# timestamp and a boolean.
SQLITE_DDL = (
    "CREATE TABLE {table} (id INTEGER NOT NULL, qty INTEGER, price REAL, note TEXT, "
    "day DATE, at TIMESTAMP, flag BOOLEAN)"
)
SQLITE_FILL = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows}) "
    "INSERT INTO big SELECT i, "
    "CASE WHEN i % 10 = 0 THEN NULL ELSE (i * 7919) % 1000 END, "
    "((i * 37) % 100000) / 100.0, "
    "'item ' || i || CASE WHEN i % 7 = 0 THEN ', with a comma' "
    "WHEN i % 11 = 0 THEN ' \"quoted\"' ELSE '' END, "
    "date('2020-01-01', '+' || (i % 1500) || ' days'), "
    "datetime('2020-01-01 00:00:00', '+' || (i * 13) || ' seconds'), "
    "i % 3 = 0 FROM n"
)
PG_DDL = (
    "CREATE TABLE {table} (id integer NOT NULL, qty integer, price double precision, note text, "
    "day date, at timestamp, flag boolean) WITH (autovacuum_enabled = false)"
)
PG_FILL = (
    "INSERT INTO big SELECT g, "
    "CASE WHEN g % 10 = 0 THEN NULL ELSE (g::bigint * 7919) % 1000 END, "
    "((g::bigint * 37) % 100000) / 100.0::float8, "
    "'item ' || g || CASE WHEN g % 7 = 0 THEN ', with a comma' "
    "WHEN g % 11 = 0 THEN ' \"quoted\"' ELSE '' END, "
    "date '2020-01-01' + (g % 1500), "
    "timestamp '2020-01-01' + (g::bigint * 13) * interval '1 second', "
    "g % 3 = 0 FROM generate_series(1, {rows}) g"
)
PSQL = ("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "etl", "-d", "shop")


# --------------------------------------------------------------------------------------------------
# The databases


def make_sqlite_source(db: Path, rows: int) -> None:
    db.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(SQLITE_DDL.format(table="big"))
        conn.execute(SQLITE_FILL.format(rows=rows))
        conn.commit()


def make_sqlite_target(db: Path) -> None:
    """A fresh database file holding an empty `big_copy`: every upload starts from the same file."""
    db.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(SQLITE_DDL.format(table="big_copy"))
        conn.commit()


def sqlite_count(db: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def sqlite_differences(source: Path, target: Path) -> int:
    """Rows of `big` with no identical row (values and storage classes) in the target's copy."""
    with contextlib.closing(sqlite3.connect(source)) as conn:
        conn.execute("ATTACH ? AS t", (str(target),))
        return int(
            conn.execute(
                "SELECT count(*) FROM (SELECT * FROM main.big EXCEPT SELECT * FROM t.big_copy)"
            ).fetchone()[0]
        )


@dataclass
class Postgres:
    server: postgres_server.Server
    postmaster: int

    @property
    def port(self) -> str:
        return str(self.server.port)

    def sql(self, sql: str) -> str:
        return self.server.psql(sql)

    def reset_target(self) -> None:
        """An empty `big_copy`, with the dirty pages of the last load written out."""
        self.sql(f"DROP TABLE IF EXISTS big_copy; {PG_DDL.format(table='big_copy')}")
        self.sql("CHECKPOINT")

    def count(self, table: str) -> int:
        return int(self.sql(f"SELECT count(*) FROM {table}").strip())

    def differences(self) -> int:
        return int(
            self.sql(
                "SELECT count(*) FROM (SELECT * FROM big EXCEPT ALL SELECT * FROM big_copy) d"
            ).strip()
        )

    def version(self) -> str:
        return self.sql("SHOW server_version").strip()


def _find_postmaster(port: int) -> int:
    for name in os.listdir("/proc"):
        if name.isdigit():
            argv = bench.read_cmdline(int(name))
            if argv and argv[0].endswith("/postgres") and str(port) in argv:
                return int(name)
    raise RuntimeError(f"no postgres process listening on port {port}")


@contextlib.contextmanager
def postgres(rows: int) -> Iterator[Postgres]:
    """The e2e suite's throwaway server (tests/e2e/postgres_server.py) holding `big`."""
    gen = postgres_server.start()
    try:
        server = next(gen)
        pg = Postgres(server, _find_postmaster(server.port))
        pg.sql(f"{PG_DDL.format(table='big')}; {PG_FILL.format(rows=rows)}")
        pg.sql("VACUUM ANALYZE big")  # hint bits set now, not by the first measured reader
        pg.reset_target()
        yield pg
    finally:
        gen.close()  # stops the server, removes its files


def _proc_cpu_with_children(pid: int) -> float:
    """utime + stime + cutime + cstime of a process, seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rfind(b")") + 2 :].split()  # fields[0] is field 3
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def server_cpu(postmaster: int) -> float:
    """CPU seconds used so far by the server: the postmaster, its live children, and (through
    cutime/cstime) every backend that has exited."""
    return _proc_cpu_with_children(postmaster) + sum(
        _proc_cpu_with_children(p) for p in bench.children_of(postmaster)
    )


def _backend_or_zombie(pid: int) -> bool:
    """A client backend (`postgres: etl shop ...`), or any child that exited but is not reaped
    yet: its CPU reaches the postmaster's cutime/cstime only once it is reaped."""
    return not bench.process_alive(pid) or " ".join(bench.read_cmdline(pid)).startswith(
        "postgres: etl"
    )


def wait_backends_gone(postmaster: int, limit_s: float = 5.0) -> None:
    """Waits until the run's backend has exited and been reaped, so its CPU is counted."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if not any(_backend_or_zombie(p) for p in bench.children_of(postmaster)):
            return
        time.sleep(0.005)


# --------------------------------------------------------------------------------------------------
# What each tool runs


def csv_rows(path: Path) -> int:
    """Data rows of a CSV file with a header (quoted newlines are allowed)."""
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class Run:
    """One command to measure: its argv and where it runs, set up and checked by the case."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    stdin: Path | None = None
    stdout: Path | None = None  # default: the run's log
    expect_kernel: bool = False
    check: Callable[[Path], tuple[str | None, dict[str, Any]]] = field(
        default=lambda _stdout: (None, {})
    )


@dataclass
class Context:
    args: argparse.Namespace
    work: Path  # bench/out/data
    runner: Path
    sqlite_source: Path  # sqlite/warehouse.db, holding `big`
    pg: Postgres | None
    env: dict[str, str]  # the CLI tools' and the runner's environment
    jupyter_env: dict[str, str]  # for the exec case (bench.tool_env)
    upload_inputs: dict[tuple[str, str], Path] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.args.rows)


def _runner_json(stdout: Path) -> dict[str, Any]:
    text = stdout.read_text().strip()
    try:
        value = json.loads(text)
    except ValueError as e:
        raise ValueError(f"stdout is not one JSON object: {text[:200]!r}") from e
    if not isinstance(value, dict):
        raise ValueError(f"stdout is not a JSON object: {text[:200]!r}")
    return value


def _write_cell(run_dir: Path, text: str) -> Path:
    path = run_dir / "cell.txt"
    path.write_text(text)
    return path


def tiffin_fetch(ctx: Context, db: str, run_dir: Path) -> Run:
    source = " --source pg" if db == "pg" else ""
    out = run_dir / "out"
    argv = [str(ctx.runner), "cell", "sql", "--out", str(out), *_source_args(ctx, db)]

    def check(stdout: Path) -> tuple[str | None, dict[str, Any]]:
        try:
            js = _runner_json(stdout)
        except ValueError as e:
            return str(e), {}
        info = {k: js.get(k) for k in ("rows", "bytes", "seconds", "sha256")}
        csv_path = out / "big.csv"
        if js.get("rows") != ctx.rows:
            return f"reported {js.get('rows')} rows, expected {ctx.rows}", info
        if not (out / "big.schema.json").is_file():
            return "no big.schema.json", info
        n = csv_rows(csv_path)
        info["csv_rows"] = n
        if n != ctx.rows:
            return f"{csv_path} holds {n} rows, expected {ctx.rows}", info
        if js.get("sha256") != sha256_file(csv_path):
            return "the reported sha256 is not the CSV's", info
        if js.get("bytes") != csv_path.stat().st_size:
            return "the reported size is not the CSV's", info
        return None, info

    return Run(
        argv,
        run_dir,
        ctx.env,
        stdin=_write_cell(run_dir, f"%%sql big{source}\nSELECT * FROM big\n"),
        check=check,
    )


def _source_args(ctx: Context, db: str) -> list[str]:
    if db == "pg":
        return ["--config", str(ctx.work / "pg" / "tiffin.toml")]
    return ["--dir", str(ctx.sqlite_source.parent)]


def cli_fetch(ctx: Context, db: str, run_dir: Path) -> Run:
    csv_path = run_dir / "out.csv"
    if db == "sqlite":
        argv = ["sqlite3", "-csv", "-header", str(ctx.sqlite_source), "SELECT * FROM big"]
        stdout: Path | None = csv_path  # `sqlite3 ... > out.csv`
    else:
        assert ctx.pg is not None
        copy = "\\copy (SELECT * FROM big) TO 'out.csv' WITH (FORMAT csv, HEADER)"
        argv = [*PSQL, "-p", ctx.pg.port, "-c", copy]
        stdout = None

    def check(_stdout: Path) -> tuple[str | None, dict[str, Any]]:
        n = csv_rows(csv_path)
        info: dict[str, Any] = {"csv_rows": n, "bytes": csv_path.stat().st_size}
        if n != ctx.rows:
            return f"{csv_path} holds {n} rows, expected {ctx.rows}", info
        return None, info

    return Run(argv, run_dir, ctx.env, stdout=stdout, check=check)


def _upload_check(ctx: Context, db: str, js_stdout: bool) -> Callable[[Path], Any]:
    def check(stdout: Path) -> tuple[str | None, dict[str, Any]]:
        info: dict[str, Any] = {}
        if js_stdout:
            try:
                js = _runner_json(stdout)
            except ValueError as e:
                return str(e), info
            info = {k: js.get(k) for k in ("rows", "seconds")}
            if js.get("rows") != ctx.rows:
                return f"reported {js.get('rows')} rows, expected {ctx.rows}", info
        if db == "sqlite":
            target = ctx.work / "sqlite-upload" / "warehouse.db"
            n = sqlite_count(target, "big_copy")
            info["differing_rows"] = sqlite_differences(ctx.sqlite_source, target)
        else:
            assert ctx.pg is not None
            n = ctx.pg.count("big_copy")
            info["differing_rows"] = ctx.pg.differences()
        info["table_rows"] = n
        if n != ctx.rows:
            return f"big_copy holds {n} rows after the upload, expected {ctx.rows}", info
        return None, info

    return check


def _prepare_target(ctx: Context, db: str) -> None:
    if db == "sqlite":
        make_sqlite_target(ctx.work / "sqlite-upload" / "warehouse.db")
    else:
        assert ctx.pg is not None
        ctx.pg.reset_target()


def tiffin_upload(ctx: Context, db: str, run_dir: Path) -> Run:
    _prepare_target(ctx, db)
    out = run_dir / "out"
    out.mkdir()
    src = ctx.upload_inputs[(db, "tiffin")]
    shutil.copyfile(src / "big.csv", out / "big_copy.csv")
    shutil.copyfile(src / "big.schema.json", out / "big_copy.schema.json")
    source = " --source pg" if db == "pg" else ""
    target = ["--dir", str(ctx.work / "sqlite-upload")]
    where = _source_args(ctx, db) if db == "pg" else target
    argv = [str(ctx.runner), "cell", "upload", "--out", str(out), "--write", *where]
    return Run(
        argv,
        run_dir,
        ctx.env,
        stdin=_write_cell(run_dir, f"%%upload big_copy{source}\nbig\n"),
        check=_upload_check(ctx, db, js_stdout=True),
    )


def cli_upload(ctx: Context, db: str, run_dir: Path) -> Run:
    _prepare_target(ctx, db)
    shutil.copyfile(ctx.upload_inputs[(db, "peer")], run_dir / "in.csv")
    if db == "sqlite":
        target = ctx.work / "sqlite-upload" / "warehouse.db"
        argv = ["sqlite3", str(target), ".import --csv --skip 1 in.csv big_copy"]
    else:
        assert ctx.pg is not None
        copy = "\\copy big_copy FROM 'in.csv' WITH (FORMAT csv, HEADER)"
        argv = [*PSQL, "-p", ctx.pg.port, "-c", copy]
    return Run(argv, run_dir, ctx.env, check=_upload_check(ctx, db, js_stdout=False))


# The exec case: a whole notebook, kernel and pandas included (SQLite only).
EXEC_RUNNER_CELLS = ("%%sql big\nSELECT * FROM big", "%%upload big_copy\nbig")
EXEC_PANDAS_CELLS = (
    "import sqlite3\n\nimport pandas as pd\n\n"
    'con = sqlite3.connect("warehouse.db")\n'
    'big = pd.read_sql("SELECT * FROM big", con, parse_dates=["day", "at"])',
    'big.to_sql("big_copy", con, if_exists="append", index=False)\ncon.commit()',
)


def _no_check(_nb: dict[str, Any]) -> str | None:
    return None


def exec_run(ctx: Context, tool: str, run_dir: Path) -> Run:
    db = run_dir / "warehouse.db"
    shutil.copyfile(ctx.sqlite_source, db)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(SQLITE_DDL.format(table="big_copy"))
        conn.commit()
    cells = EXEC_RUNNER_CELLS if tool == "tiffin" else EXEC_PANDAS_CELLS
    nb = bench.write_notebook(NotebookSpec("data", "", cells, _no_check), run_dir)
    out = run_dir / "data-out.ipynb"
    if tool == "tiffin":
        argv = [str(ctx.runner), "exec", str(nb), "-o", str(out), "--no-progress"]
    else:
        argv = [str(VENV / "bin" / "papermill"), str(nb), str(out), "--no-progress-bar"]

    def check(_stdout: Path) -> tuple[str | None, dict[str, Any]]:
        n = sqlite_count(db, "big_copy")
        info: dict[str, Any] = {"table_rows": n, "differing_rows": sqlite_differences(db, db)}
        if n != ctx.rows:
            return f"big_copy holds {n} rows after the run, expected {ctx.rows}", info
        with out.open() as f:
            for cell in json.load(f)["cells"]:
                if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
                    return "a cell raised", info
        return None, info

    return Run(argv, run_dir, ctx.jupyter_env, expect_kernel=True, check=check)


def make_run(ctx: Context, case: str, tool: str, run_dir: Path) -> Run:
    if case == "exec":
        return exec_run(ctx, tool, run_dir)
    db, what = case.split("-")
    if what == "fetch":
        return (tiffin_fetch if tool == "tiffin" else cli_fetch)(ctx, db, run_dir)
    return (tiffin_upload if tool == "tiffin" else cli_upload)(ctx, db, run_dir)


# --------------------------------------------------------------------------------------------------
# Runs


@dataclass
class Record:
    case: str
    tool: str  # "tiffin" or "peer"
    rep: int  # -1: the warm-up
    argv: list[str]
    ok: bool
    error: str | None
    info: dict[str, Any]
    server_cpu_s: float | None  # PostgreSQL's CPU during the run (pg cases)
    stderr_tail: str
    m: Measurement

    @property
    def label(self) -> str:
        return TIFFIN[self.case] if self.tool == "tiffin" else PEERS[self.case]


def run_one(ctx: Context, case: str, tool: str, rep: int) -> Record:
    tag = f"{case}.{tool}.{'warmup' if rep < 0 else f'rep{rep + 1}'}"
    run_dir = ctx.work / "runs" / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    run = make_run(ctx, case, tool, run_dir)  # untimed set-up (target tables reset here)
    logs = ctx.work / "logs"
    stdout = run.stdout or logs / f"{tag}.stdout"
    stderr = logs / f"{tag}.stderr"
    if ctx.args.idle_wait > 0:
        bench.wait_until_quiet(ctx.args.idle_wait)
    pg = ctx.pg if case.startswith("pg-") else None
    cpu0 = server_cpu(pg.postmaster) if pg else 0.0
    m = bench.measure(
        run.argv,
        cwd=run.cwd,
        env=run.env,
        stdout=stdout,
        stderr=stderr,
        timeout_s=ctx.args.timeout,
        interval_s=ctx.args.sample_interval,
        use_ptrace=True,
        stdin=run.stdin,
        expect_kernel=run.expect_kernel,
    )
    srv: float | None = None
    if pg:
        wait_backends_gone(pg.postmaster)
        srv = server_cpu(pg.postmaster) - cpu0
        m.other_cpu_s = max(0.0, m.other_cpu_s - srv)  # the server is not "other"
    error: str | None
    info: dict[str, Any] = {}
    if m.timed_out:
        error = f"timed out after {ctx.args.timeout:g} s (killed)"
    elif m.exit_code != 0:
        error = f"exit code {m.exit_code}"
    else:
        try:
            error, info = run.check(stdout)
        except (OSError, ValueError, sqlite3.Error, RuntimeError) as e:
            error = f"check failed: {e}"
    return Record(
        case=case,
        tool=tool,
        rep=rep,
        argv=run.argv,
        ok=error is None,
        error=error,
        info=info,
        server_cpu_s=srv,
        stderr_tail="" if error is None else bench._tail(stderr),
        m=m,
    )


def keep_upload_input(ctx: Context, rec: Record) -> None:
    """The warm-up fetches' outputs are what the uploads load (each tool its own format)."""
    db = rec.case.split("-")[0]
    run_dir = ctx.work / "runs" / f"{rec.case}.{rec.tool}.warmup"
    dest = ctx.work / "inputs" / f"{db}-{rec.tool}"
    shutil.rmtree(dest, ignore_errors=True)
    if rec.tool == "tiffin":
        shutil.copytree(run_dir / "out", dest)
        ctx.upload_inputs[(db, "tiffin")] = dest
    else:
        dest.mkdir(parents=True)
        shutil.copyfile(run_dir / "out.csv", dest / "out.csv")
        ctx.upload_inputs[(db, "peer")] = dest / "out.csv"


def progress(rec: Record) -> str:
    m = rec.m
    status = "ok" if rec.ok else f"FAILED: {rec.error}"
    rep = "warm-up" if rec.rep < 0 else f"rep {rec.rep + 1}"
    srv = "" if rec.server_cpu_s is None else f"  server {rec.server_cpu_s:5.2f} s"
    diff = rec.info.get("differing_rows")
    diff_s = "" if diff is None else f"  differing rows {diff}"
    return (
        f"  {rec.case:<13} {rec.label:<11} {rep:<7} {m.wall_s:7.3f} s  cpu {m.cpu_s:6.2f} s"
        f"{srv}  peak {bench._mib(m.tool_peak_kib):>6} MiB  others {m.other_load:4.2f} CPU"
        f"{diff_s}  {status}"
    )


# --------------------------------------------------------------------------------------------------
# Summary


@dataclass
class Summary:
    case: str
    tool: str
    label: str
    n_ok: int
    n: int
    wall_median_s: float | None = None
    wall_min_s: float | None = None
    wall_max_s: float | None = None
    cpu_median_s: float | None = None
    server_cpu_median_s: float | None = None
    total_cpu_median_s: float | None = None  # the tool's CPU + the server's (pg cases)
    peak_median_kib: float | None = None
    csv_mib: float | None = None
    reported_median_s: float | None = None  # Tiffin's own `seconds` for the data movement
    differing_rows: int | None = None
    other_load_max: float | None = None


def summarize(records: list[Record], cases: Sequence[str], tools: Sequence[str]) -> list[Summary]:
    out: list[Summary] = []
    for case in cases:
        for tool in tools:
            mine = [r for r in records if r.case == case and r.tool == tool and r.rep >= 0]
            if not mine:
                continue
            ok = [r for r in mine if r.ok]
            s = Summary(case, tool, mine[0].label, len(ok), len(mine))
            if ok:
                walls = [r.m.wall_s for r in ok]
                s.wall_median_s = statistics.median(walls)
                s.wall_min_s, s.wall_max_s = min(walls), max(walls)
                s.cpu_median_s = statistics.median(r.m.cpu_s for r in ok)
                srv = [r.server_cpu_s for r in ok if r.server_cpu_s is not None]
                s.server_cpu_median_s = statistics.median(srv) if srv else None
                s.total_cpu_median_s = statistics.median(
                    r.m.cpu_s + (r.server_cpu_s or 0.0) for r in ok
                )
                s.peak_median_kib = statistics.median(r.m.tool_peak_kib for r in ok)
                sizes = [r.info["bytes"] for r in ok if isinstance(r.info.get("bytes"), int)]
                s.csv_mib = statistics.median(sizes) / 2**20 if sizes else None
                secs = [r.info["seconds"] for r in ok if isinstance(r.info.get("seconds"), float)]
                s.reported_median_s = statistics.median(secs) if secs else None
                diffs = [r.info["differing_rows"] for r in ok if "differing_rows" in r.info]
                s.differing_rows = max(diffs) if diffs else None
                s.other_load_max = max(r.m.other_load for r in ok)
            out.append(s)
    return out


def _find(summaries: list[Summary], case: str, tool: str) -> Summary | None:
    return next((s for s in summaries if s.case == case and s.tool == tool), None)


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def paired_ratios(records: list[Record], case: str) -> list[float]:
    """tiffin/peer wall time within each repetition (they ran back to back)."""
    walls = {(r.tool, r.rep): r.m.wall_s for r in records if r.case == case and r.ok}
    return [
        walls[("tiffin", rep)] / walls[("peer", rep)]
        for (tool, rep) in sorted(walls)
        if tool == "tiffin" and rep >= 0 and ("peer", rep) in walls
    ]


def evaluate(summaries: list[Summary], records: list[Record]) -> list[dict[str, Any]]:
    res: list[dict[str, Any]] = []
    for case in CASES:
        a, b = _find(summaries, case, "tiffin"), _find(summaries, case, "peer")
        if a is None or b is None:
            continue
        r = _ratio(a.wall_median_s, b.wall_median_s)
        paired = paired_ratios(records, case)
        target = case != "exec"
        verdict = "n/a" if r is None else ("PASS" if r <= TARGET_RATIO else "MISS")
        res.append(
            {
                "case": case,
                "label": f"{case}: {a.label} / {b.label} wall time",
                "ratio": r,
                "cpu_ratio": _ratio(a.total_cpu_median_s, b.total_cpu_median_s),
                "limit": TARGET_RATIO if target else None,
                "result": verdict if target else "info",
                "paired_ratios": paired,
                "paired_pass": sum(x <= TARGET_RATIO for x in paired),
            }
        )
    return res


def _f(x: float | None, fmt: str = ".3f") -> str:
    return "-" if x is None else format(x, fmt)


def render_table(summaries: list[Summary]) -> str:
    head = (
        "case",
        "tool",
        "wall s (median)",
        "min-max s",
        "reported s",
        "cpu s",
        "server cpu s",
        "peak RSS MiB",
        "CSV MiB",
        "wall vs peer",
        "cpu+server vs peer",
        "rows differing",
        "ok",
        "others",
    )
    rows: list[tuple[str, ...]] = []
    for s in summaries:
        vs = cpu_vs = None
        if s.tool == "tiffin":
            peer = _find(summaries, s.case, "peer")
            if peer is not None:
                vs = _ratio(s.wall_median_s, peer.wall_median_s)
                cpu_vs = _ratio(s.total_cpu_median_s, peer.total_cpu_median_s)
        rows.append(
            (
                s.case,
                s.label,
                "FAILED" if s.wall_median_s is None else f"{s.wall_median_s:.3f}",
                "-" if s.wall_min_s is None else f"{s.wall_min_s:.3f}-{s.wall_max_s:.3f}",
                _f(s.reported_median_s),
                _f(s.cpu_median_s, ".2f"),
                _f(s.server_cpu_median_s, ".2f"),
                bench._mib(s.peak_median_kib),
                _f(s.csv_mib, ".1f"),
                bench._fmt_ratio(vs),
                bench._fmt_ratio(cpu_vs),
                "-" if s.differing_rows is None else f"{s.differing_rows:,}",
                f"{s.n_ok}/{s.n}",
                _f(s.other_load_max, ".2f"),
            )
        )
    return bench.markdown_table(head, rows)


def render_targets(targets: list[dict[str, Any]]) -> str:
    rows: list[tuple[str, ...]] = []
    for t in targets:
        paired: list[float] = t["paired_ratios"]
        rows.append(
            (
                t["label"],
                bench._fmt_ratio(t["ratio"]),
                "-" if t["limit"] is None else f"<= {t['limit']:.2f}x",
                t["result"],
                f"{min(paired):.2f}-{max(paired):.2f}x" if paired else "-",
                f"{t['paired_pass']}/{len(paired)}" if paired and t["limit"] else "-",
                bench._fmt_ratio(t["cpu_ratio"]),
            )
        )
    return bench.markdown_table(
        (
            "target",
            "ratio of medians",
            "limit",
            "result",
            "per-rep ratios",
            "reps within",
            "cpu+server ratio",
        ),
        rows,
    )


def render_report(
    summaries: list[Summary], targets: list[dict[str, Any]], records: list[Record]
) -> str:
    parts = [
        "Results (median of the successful runs; cpu s = user + system of the measured "
        "process and the children it waited for; reported s = the `seconds` Tiffin's JSON "
        "reports for the data movement itself; server cpu s = PostgreSQL's backend for the "
        "run; peak RSS = the measured process alone; rows differing = rows of `big` with no "
        "identical row in `big_copy` after the upload; others = CPUs used by other processes "
        "during the worst run):",
        "",
        render_table(summaries),
    ]
    if targets:
        parts += ["", "Targets (Tiffin / peer, medians):", "", render_targets(targets)]
    noisy = [r for r in records if r.rep >= 0 and r.m.other_load > bench.NOISY_LOAD]
    if noisy:
        parts += [
            "",
            f"WARNING: {len(noisy)} measured runs shared the machine with other busy processes "
            f"(> {bench.NOISY_LOAD} CPU on average; column 'others'): their times are inflated.",
        ]
    parts += bench.notes_and_failures(
        [(f"{r.case}/{r.label}", r) for r in records],
        [(f"{r.case} / {r.label}", r) for r in records],
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Main


def versions(ctx: Context, digest: str | None) -> dict[str, str | None]:
    v: dict[str, str | None] = {
        "sqlite3": bench._cmd(["sqlite3", "--version"]),
        "psql": bench._cmd(["psql", "--version"]),
        "postgres": ctx.pg.version() if ctx.pg else None,
    }
    lock = (ROOT / "Cargo.lock").read_text()
    marker = 'name = "libsqlite3-sys"\nversion = "'
    if marker in lock:
        i = lock.index(marker) + len(marker)
        end = lock.index('"', i)
        v["runner's SQLite"] = f"bundled by libsqlite3-sys {lock[i:end]}"
    for pkg in ("pandas", "papermill", "ipykernel"):
        try:
            v[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            v[pkg] = None
    if "tiffin" in ctx.args.tools:
        v["runner"] = bench._cmd([str(ctx.runner), "--version"])
        st = ctx.runner.stat()
        stamp = dt.datetime.fromtimestamp(st.st_mtime).astimezone().isoformat(timespec="seconds")
        v["runner_binary"] = (
            f"{ctx.args.runner} ({st.st_size:,} bytes, modified {stamp}, sha256 {digest}), "
            f"run as its copy {ctx.runner}"
        )
    return v


def render_header(h: dict[str, Any]) -> str:
    m = h["machine"]
    v = h["versions"]
    c = h["config"]
    lines = [
        "Tiffin data-path benchmark",
        f"  date     {h['date']}",
        f"  commit   {h['commit']}",
        f"  machine  {m['nproc']} CPUs ({m['cpu_model']}), {m['mem_total_gib']} GiB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}",
        "  versions " + "; ".join(f"{k} {val}" for k, val in v.items() if k != "runner_binary"),
    ]
    if v.get("runner_binary"):
        lines.append(f"  binary   {v['runner_binary']}")
    lines += [
        f"  config   {c['reps']} reps; {c['rows']:,} rows; cases {', '.join(c['cases'])}; "
        f"tools {', '.join(c['tools'])}; /proc sampled every {c['sample_interval_s'] * 1000:g} ms",
        "  data     big(id integer, qty integer NULL in 1 row of 10, price real/float8, "
        "note text (commas, quotes), day date, at timestamp, flag boolean)",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run-data",
        description="Benchmark Tiffin's fetch and upload against sqlite3 and psql "
        "(see bench/README.md, 'Data path').",
    )
    p.add_argument("--reps", type=int, default=5, help="measured repetitions per case and tool")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the table")
    p.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated subset of {','.join(CASES)} (default: all)",
    )
    p.add_argument("--tools", default="tiffin,peer", help="tiffin,peer (default) or one of them")
    p.add_argument("--runner", type=Path, default=bench.DEFAULT_RUNNER, help="the runner binary")
    p.add_argument("--out", type=Path, default=BENCH / "out" / "data", help="work dir")
    p.add_argument("--timeout", type=float, default=600.0, help="kill a run after this many s")
    p.add_argument("--sample-interval", type=float, default=0.02, help="/proc sampling, s")
    p.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="before each run, wait up to this many seconds for other processes to use "
        "< 0.15 CPU (0: don't wait)",
    )
    a = p.parse_args(argv)
    a.cases = [c for c in a.cases.split(",") if c]
    a.tools = [t for t in a.tools.split(",") if t]
    for c in a.cases:
        if c not in CASES:
            p.error(f"unknown case {c!r} (choose from {', '.join(CASES)})")
    for t in a.tools:
        if t not in ("tiffin", "peer"):
            p.error(f"unknown tool {t!r} (tiffin or peer)")
    if a.reps < 1 or a.rows < 1:
        p.error("--reps and --rows must be at least 1")
    a.runner = a.runner.absolute()
    a.out = a.out.absolute()
    if "tiffin" in a.tools and not os.access(a.runner, os.X_OK):
        p.error(f"{a.runner} is not executable: cargo build --release -p runner")
    needed = {"sqlite3"} if any(c.startswith("sqlite") for c in a.cases) else set()
    if any(c.startswith("pg") for c in a.cases):
        needed |= {"psql", "createdb", "setpriv"}
    for exe in sorted(needed):
        if shutil.which(exe) is None:
            p.error(f"{exe} is not installed (apt-get install sqlite3 postgresql)")
    return a


def main(argv: Sequence[str] | None = None) -> int:
    if not sys.platform.startswith("linux"):
        print("bench/run-data: Linux only (wait4 rusage and /proc)", file=sys.stderr)
        return 2
    args = parse_args(argv)
    work: Path = args.out
    shutil.rmtree(work / "runs", ignore_errors=True)
    for sub in ("logs", "runs", "sqlite", "sqlite-upload", "pg"):
        (work / sub).mkdir(parents=True, exist_ok=True)
    bench.become_subreaper()
    runner, digest = args.runner, None
    if "tiffin" in args.tools:
        runner, digest = bench.snapshot_runner(args.runner, work)
    needs_pg = any(c.startswith("pg") for c in args.cases)
    print(f"Generating {args.rows:,} rows (SQLite{', PostgreSQL' if needs_pg else ''})...")
    sqlite_source = work / "sqlite" / "warehouse.db"
    make_sqlite_source(sqlite_source, args.rows)
    records: list[Record] = []
    with (
        postgres(args.rows) if needs_pg else contextlib.nullcontext() as pg,
        tempfile.TemporaryDirectory(prefix="tiffin-bench-") as home,
    ):
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C.UTF-8",
            "PGPASSWORD": postgres_server.PASSWORD,  # psql
            TIFFIN_PG_PASSWORD_ENV: postgres_server.PASSWORD,  # the runner (password_env)
        }
        if pg is not None:
            (work / "pg" / "tiffin.toml").write_text(
                f'[sources.pg]\ntype = "postgres"\nurl = "{pg.server.url}"\n'
                f'password_env = "{TIFFIN_PG_PASSWORD_ENV}"\n'
            )
        ctx = Context(
            args=args,
            work=work,
            runner=runner,
            sqlite_source=sqlite_source,
            pg=pg,
            env=env,
            jupyter_env=bench.tool_env(Path(home)),
        )
        started = dt.datetime.now().astimezone()
        header = {
            "date": started.isoformat(timespec="seconds"),
            "commit": bench.commit_info(),
            "machine": bench.machine_info(),
            "versions": versions(ctx, digest),
            "config": {
                "reps": args.reps,
                "rows": args.rows,
                "cases": args.cases,
                "tools": args.tools,
                "sample_interval_s": args.sample_interval,
                "idle_wait_s": args.idle_wait,
            },
        }
        print(render_header(header))
        print()
        # Fetches first: their warm-up outputs are the uploads' inputs.
        order = sorted(args.cases, key=lambda c: (c == "exec", not c.endswith("fetch")))
        print("Warm-up (unmeasured; the fetches' outputs become the uploads' inputs):")
        for case in order:
            if case.endswith("upload") and not all(
                (case.split("-")[0], t) in ctx.upload_inputs for t in args.tools
            ):
                records += _fetch_inputs(ctx, case.split("-")[0])
            for tool in args.tools:
                rec = run_one(ctx, case, tool, -1)
                records.append(rec)
                print(progress(rec), flush=True)
                if case.endswith("fetch") and rec.ok:
                    keep_upload_input(ctx, rec)
        print()
        print(f"Measured runs ({args.reps} repetitions, tool order alternating):")
        for rep in range(args.reps):
            tools = args.tools if rep % 2 == 0 else args.tools[::-1]
            for case in order:
                for tool in tools:
                    rec = run_one(ctx, case, tool, rep)
                    records.append(rec)
                    print(progress(rec), flush=True)
                    if rec.ok and rep < args.reps - 1:  # keep the last ones to look at
                        shutil.rmtree(ctx.work / "runs" / _tag(rec), ignore_errors=True)
    finished = dt.datetime.now().astimezone()
    summaries = summarize(records, order, args.tools)
    targets = evaluate(summaries, records)
    report = render_report(summaries, targets, records)
    print()
    print(report)
    (work / "report.md").write_text(
        f"```\n{render_header(header)}\n  finished {finished.isoformat(timespec='seconds')}\n```"
        f"\n\n{report}\n"
    )
    results = {
        **header,
        "finished": finished.isoformat(timespec="seconds"),
        "summary": [asdict(s) for s in summaries],
        "targets": targets,
        "runs": [
            {**asdict(r), "m": {**asdict(r.m), "tool_peak_kib": r.m.tool_peak_kib}} for r in records
        ],
    }
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nResults: {work / 'results.json'} (all runs), {work / 'report.md'} (this summary)")
    return 1 if any(not r.ok for r in records) else 0


def _tag(rec: Record) -> str:
    return f"{rec.case}.{rec.tool}.{'warmup' if rec.rep < 0 else f'rep{rec.rep + 1}'}"


def _fetch_inputs(ctx: Context, db: str) -> list[Record]:
    """Upload cases without their fetch case: fetch once (unmeasured) for their inputs."""
    out: list[Record] = []
    for tool in ctx.args.tools:
        rec = run_one(ctx, f"{db}-fetch", tool, -1)
        print(progress(rec), flush=True)
        out.append(rec)
        if rec.ok:
            keep_upload_input(ctx, rec)
    return out


if __name__ == "__main__":
    sys.exit(main())
