"""The data path on a real PostgreSQL server (started by the tests on 127.0.0.1), named in a
tiffin.toml with the password in the runner's environment. What lands in the database is
checked with the psql CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import postgres_server
import pytest
from openlineage import read_events, validate_event
from postgres_server import PASSWORD, Server

from conftest import Runner, code, stream_text

EXIT_DATA = 6
COLUMNS = (
    "id int4 NOT NULL, s int2, i int4, b8 int8, f4 float4, f8 float8, n numeric, t text, "
    "v varchar(20), flag bool, d date, ts timestamp, tz timestamptz, j jsonb, u uuid"
)
ROWS = [
    "(1, 1, -2147483648, 9223372036854775807, 0.1, 0.1, 12345678901234567890.000000000001, "
    "'', 'a,b', true, '2024-02-29', '2024-01-01 10:00:00.123456', '2024-01-01 10:00:00+02', "
    "'{\"k\": [1, \"x\"]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')",
    "(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(3, -1, 0, -1, -0.0, 'Infinity', '-0.000', E'line1\\nline2 \"q\" ünï ✓', '\\N', false, "
    "'1970-01-01', '1999-12-31 23:59:59', '2030-06-01 00:00:00+00', 'null', "
    "'00000000-0000-0000-0000-000000000000')",
    "(4, 0, 7, 2, -2.5, 5e-324, -0.5, E'\\\\N', 'NULL', true, '2024-01-02', "
    "'2024-01-02 00:00:00', '2024-01-02 03:04:05.5-05', '[]', NULL)",
]


@pytest.fixture(scope="module")
def pg() -> Iterator[Server]:
    yield from postgres_server.start()


@pytest.fixture
def project(tmp_path: Path, pg: Server) -> Path:
    """A notebook dir whose tiffin.toml makes the server the default source."""
    schema = f"s_{tmp_path.name.replace('-', '_').lower()}"[:60]
    pg.psql(f"CREATE SCHEMA {schema}")
    (tmp_path / "tiffin.toml").write_text(
        'default_source = "shop"\n[sources.shop]\ntype = "postgres"\n'
        f'url = "{pg.url}?options=-csearch_path%3D{schema}"\npassword_env = "SHOP_PASSWORD"\n'
    )
    (tmp_path / "schema").write_text(schema)
    return tmp_path


def psql_in(pg: Server, project: Path, sql: str) -> str:
    return pg.psql(sql, search_path=(project / "schema").read_text())


ENV = {"SHOP_PASSWORD": PASSWORD}


def test_every_type_round_trips_through_pandas_and_back(
    runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    psql_in(pg, project, f"CREATE TABLE src ({COLUMNS}); CREATE TABLE dst ({COLUMNS})")
    psql_in(pg, project, f"INSERT INTO src VALUES {', '.join(ROWS)}")
    nb = nb_file(
        [
            code("%%sql src\nSELECT * FROM src ORDER BY id"),
            code("print({c: str(t) for c, t in src.dtypes.items()})\nprint(repr(src['n'][0]))"),
            code("%%upload dst\nsrc"),
        ]
    )
    result = runner.run(nb, env=ENV)
    assert result.returncode == 0, result.describe()
    dtypes, decimal = stream_text(result.notebook().cells[1]).splitlines()[:2]
    for expected in ["'s': 'Int64'", "'b8': 'Int64'", "'f8': 'float64'", "'flag': 'boolean'"]:
        assert expected in dtypes
    assert "'tz': 'datetime64[us, UTC]'" in dtypes or "'tz': 'datetime64[ns, UTC]'" in dtypes
    assert decimal == "Decimal('12345678901234567890.000000000001')"
    # Equal as PostgreSQL compares them (NaN = NaN there), NULLs included, and nothing extra.
    diff = psql_in(
        pg,
        project,
        "SELECT count(*) FROM ((SELECT * FROM src EXCEPT ALL SELECT * FROM dst) "
        "UNION ALL (SELECT * FROM dst EXCEPT ALL SELECT * FROM src)) d",
    )
    missing = psql_in(pg, project, "SELECT * FROM src EXCEPT ALL SELECT * FROM dst")
    extra = psql_in(pg, project, "SELECT * FROM dst EXCEPT ALL SELECT * FROM src")
    assert diff.strip() == "0", f"only in src:\n{missing}\nonly in dst:\n{extra}"
    texts = psql_in(
        pg,
        project,
        "SELECT coalesce(t, '<null>') || '|' || coalesce(v, '<null>') FROM dst ORDER BY id",
    )
    assert texts.split("\n")[:2] == ["|a,b", "<null>|<null>"]


def test_parameters_are_typed_by_the_server_and_bound(
    runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    psql_in(pg, project, "CREATE TABLE ev (day date, n int8, who text)")
    psql_in(pg, project, "INSERT INTO ev VALUES ('2024-01-01', 1, 'a'), ('2024-01-02', 2, 'b''c')")
    nb = nb_file(
        [
            code("day = '2024-01-02'\nn = 1\nwho = \"b'c\"", tags=["parameters"]),
            code("%%sql hits\nSELECT n FROM ev WHERE day = :day AND n >= :n AND who = :who"),
            code("print(hits['n'].tolist())"),
        ]
    )
    result = runner.run(nb, env=ENV)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[2]).strip() == "[2]"
    result = runner.run(nb, "-p", "who", "x' OR 'a'='a", env=ENV)
    assert stream_text(result.notebook().cells[3]).strip() == "[]"
    result = runner.run(nb, "-p", "day", "yesterday", env=ENV)
    assert result.returncode == EXIT_DATA, result.describe()
    assert (
        "parameter $1: `yesterday` is not a date (the query compares it with date)" in result.stderr
    )


def test_a_failing_upload_rolls_back_every_table(
    runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    psql_in(pg, project, "CREATE TABLE a (x int8); INSERT INTO a VALUES (1), (2)")
    psql_in(pg, project, "CREATE TABLE b (x int8 NOT NULL)")
    nb = nb_file(
        [
            code("import pandas as pd"),
            code("%%upload a --mode replace\npd.DataFrame({'x': [9]})"),
            code("%%upload b\npd.DataFrame({'x': [1, None]}, dtype='Int64')"),
        ]
    )
    result = runner.run(nb, env=ENV)
    assert result.returncode == EXIT_DATA, result.describe()
    assert "cell 3" in result.stderr
    assert "null value in column" in result.stderr
    assert (
        psql_in(pg, project, "SELECT string_agg(x::text, ',' ORDER BY x) FROM a").strip() == "1,2"
    )
    assert psql_in(pg, project, "SELECT count(*) FROM b").strip() == "0"


def test_lineage_names_postgres_tables_as_openlineage_does(
    runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    schema = (project / "schema").read_text()
    psql_in(pg, project, "CREATE TABLE orders (id int8, amount numeric(10, 2))")
    psql_in(pg, project, "INSERT INTO orders VALUES (1, 9.50), (2, 20.00)")
    psql_in(pg, project, "CREATE TABLE public.rates (id int8)")
    nb = nb_file(
        [
            code("%%sql o\nSELECT o.id, o.amount FROM orders o JOIN public.rates r ON r.id = o.id"),
            code("%%upload order_copy\no"),
        ]
    )
    result = runner.run(nb, env=ENV)
    assert result.returncode == 0, result.describe()
    events = read_events(project / ".tiffin" / "lineage.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
    complete = events[1]
    namespace = f"postgres://127.0.0.1:{pg.port}"
    # The unqualified names resolve through the connection's search_path, as the server does.
    assert {(d["namespace"], d["name"]) for d in complete["inputs"]} == {
        (namespace, f"shop.{schema}.orders"),
        (namespace, "shop.public.rates"),
    }
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == (namespace, f"shop.{schema}.order_copy")
    assert output["facets"]["dataSource"] == {
        **output["facets"]["dataSource"],
        "name": "shop",
        "uri": namespace,
    }
    fields = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert set(fields) == {"id", "amount"}
    assert complete["job"]["facets"]["sql"]["dialect"] == "postgres"


def test_the_kernel_never_sees_the_credentials(
    runner: Runner, host_runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    psql_in(pg, project, "CREATE TABLE t (x int)")
    nb = nb_file(
        [
            code("%%sql t\nSELECT * FROM t"),
            code(
                "import os\n"
                f"print({PASSWORD!r} in repr(dict(os.environ)), 'SHOP_PASSWORD' in os.environ)\n"
                "print(os.path.exists('tiffin.toml'))"
            ),
        ]
    )
    result = runner.run(nb, env=ENV)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).split() == ["False", "False", "False"]
    # Without the sandbox the kernel could read tiffin.toml, but still does not get the password.
    result = host_runner.run(nb, env=ENV)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).split() == ["False", "False", "True"]
    result = runner.run(nb, env={"SHOP_PASSWORD": None})
    assert result.returncode == EXIT_DATA
    assert "the environment variable SHOP_PASSWORD (password_env) is not set" in result.stderr


def test_a_million_rows_stream_in_bounded_memory(
    runner: Runner, nb_file: Callable[..., Path], pg: Server, project: Path
) -> None:
    nb = nb_file(
        [
            code(
                "%%sql big\nSELECT g AS id, md5(g::text) AS label, g / 7.0::float8 AS x "
                "FROM generate_series(0, 999999) g"
            ),
            code("print(len(big))"),
        ]
    )
    handle = runner.start(nb, env=ENV)
    peak_kib = handle.peak_rss_kib()
    result = handle.finish(timeout=300)
    assert result.returncode == 0, result.describe()
    assert stream_text(result.notebook().cells[1]).strip() == "1000000"
    assert 0 < peak_kib < 64 * 1024, f"the runner peaked at {peak_kib} KiB"
