"""The generated DAGs on a real Apache Airflow 3 (its own venv, built by scripts/setup-airflow
from the pinned constraints in tests/airflow/): `airflow dags test` runs a DAG run in-process
with a SQLite metadata database, the DAG folder being the test repository's `dags/`, and the
tasks run the real runner (sandboxed, real kernel) through `tiffin.airflow`'s operator against a
real SQLite warehouse. The failure notice goes to the webhook receiver stub (no chat service
here). Asset chaining runs the consumer's run as Airflow's scheduler creates it from the
producer's Asset event (tests/airflow/run_asset_triggered.py says how, and what is not the
scheduler daemon)."""

from __future__ import annotations

import ast
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import nbformat
import pytest

from conftest import (
    REPO_ROOT,
    Receiver,
    Runner,
    code,
    git,
    make_notebook,
    new_repo,
    write_notebook,
)

AIRFLOW_TIMEOUT = 300
LOGICAL = "2099-11-20T06:00:00+00:00"  # 06:00 in London (winter: UTC)
NEXT_LOGICAL = "2099-11-21T06:00:00+00:00"

CONFIG = """[sources.warehouse]
type = "sqlite"
path = "warehouse.db"

[lineage]
file = "lineage.jsonl"

[policy.labels]
finance = ["reporting"]

[[policy.tables]]
table = "warehouse.orders"
labels = ["finance"]

[[policy.tables]]
table = "warehouse.region_totals"
labels = ["finance"]

[[policy.tables]]
table = "warehouse.region_report"
labels = ["finance"]
"""

# Text Airflow's Jinja and bash must both leave alone, and a date macro in the middle.
HOSTILE = 'it\'s "quoted" $(id) `id` {% raw %} {# c #} day={{ ds_nodash }} é'


def spec_text(name: str, notebook: str, extra: str = "") -> str:
    return (
        f'name = "{name}"\nnotebook = "{notebook}"\nowner = "ana@example.com"\n'
        'purpose = "reporting"\ncadence = "0 6 * * *"\ntimezone = "Europe/London"\n'
        "start_date = 2099-11-20\n" + extra
    )


@dataclass
class Airflow:
    """An Airflow installation (venv) and one home (config, SQLite metadata DB, logs) whose DAG
    folder is `repo/dags`."""

    venv: Path
    home: Path
    env: dict[str, str]
    records: Path
    last_output: str = ""

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.venv / "bin" / "airflow"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=AIRFLOW_TIMEOUT,
            check=False,
        )
        if check:
            assert done.returncode == 0, (
                f"airflow {' '.join(args)}:\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
            )
        return done

    def python(self, script: Path, *args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(self.venv / "bin" / "python"), str(script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=AIRFLOW_TIMEOUT,
            check=False,
        )
        self.last_output = done.stdout + done.stderr
        assert done.returncode == 0, f"{script.name}:\n{done.stdout[-6000:]}\n{done.stderr[-4000:]}"
        [result] = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
        parsed: dict[str, Any] = json.loads(result.removeprefix("RESULT "))
        return parsed

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "airflow.db") as conn:
            return conn.execute(sql, params).fetchall()

    def dags_test(self, dag_id: str, logical: str) -> subprocess.CompletedProcess[str]:
        return self.run("dags", "test", dag_id, logical, check=False)


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    """The Airflow venv: `TIFFIN_AIRFLOW_VENV` as scripts/test sets it, else built (or found in
    its cache) by scripts/setup-airflow."""
    configured = os.environ.get("TIFFIN_AIRFLOW_VENV")
    if configured and (Path(configured) / "bin" / "airflow").is_file():
        return Path(configured)
    done = subprocess.run(
        [str(REPO_ROOT / "scripts" / "setup-airflow")],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, f"scripts/setup-airflow failed:\n{done.stderr[-4000:]}"
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def migrated_db(airflow_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow metadata database after `airflow db migrate`, copied for each test."""
    home = tmp_path_factory.mktemp("airflow-template")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run(
        [str(airflow_venv / "bin" / "airflow"), "db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=AIRFLOW_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return home / "airflow.db"


@pytest.fixture
def airflow(airflow_venv: Path, migrated_db: Path, runner: Runner, tmp_path: Path) -> Airflow:
    home = tmp_path / "airflow-home"
    home.mkdir()
    shutil.copy(migrated_db, home / "airflow.db")
    # `runner` on PATH for the sensor's bash command; TIFFIN_RUNNER for the operator.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "runner").symlink_to(runner.binary)
    records = tmp_path / "records"
    env = {
        **runner.env,  # the project's venv (the kernel env) first on PATH, VIRTUAL_ENV set
        "PATH": f"{bin_dir}{os.pathsep}{runner.env['PATH']}",
        "TIFFIN_RUNNER": str(runner.binary),
        "TIFFIN_AIRFLOW_RECORDS": str(records),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "repo" / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    return Airflow(airflow_venv, home, env, records)


def init_repo(path: Path) -> Path:
    new_repo(path)
    (path / "tiffin.toml").write_text(CONFIG)
    (path / ".gitignore").write_text("warehouse.db\n")
    (path / "reports").mkdir()
    return path


def write_dag(runner: Runner, repo: Path, spec: Path) -> Path:
    """`runner schedule preview`'s DAG, written where submit commits it."""
    preview = runner.run_raw(["schedule", "preview", str(spec), "--json"], cwd=repo)
    assert preview.returncode == 0, preview.describe()
    dag = json.loads(preview.stdout)["dag"]
    path = repo / dag["path"]
    path.parent.mkdir(exist_ok=True)
    path.write_text(dag["text"], encoding="utf-8")
    return path


def totals_notebook(path: Path, *, failing: bool = False) -> Path:
    cells = [
        code("run_date = '2000-01-01'\nnote = ''", tags=["parameters"]),
        code("%%sql orders\nSELECT region, amount FROM orders WHERE day = :run_date"),
        code(
            "totals = orders.groupby('region', as_index=False)['amount'].sum()\n"
            "totals['day'] = run_date\n"
            "print('totals for', run_date, len(totals), 'regions')"
            + ("\nraise ValueError('no totals today')" if failing else "")
        ),
        code("%%upload region_totals --mode partition --partition day=:run_date\ntotals"),
    ]
    return write_notebook(make_notebook(cells), path)


def make_warehouse(repo: Path) -> Path:
    db = repo / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (region TEXT, amount INTEGER, day TEXT)")
        conn.executemany(
            "INSERT INTO orders VALUES (?, ?, ?)",
            [
                ("n", 1, "2099-11-20"),
                ("s", 2, "2099-11-20"),
                ("n", 3, "2099-11-20"),
                ("n", 10, "2099-11-21"),
            ],
        )
        conn.execute("CREATE TABLE region_totals (region TEXT, amount INTEGER, day TEXT)")
    return db


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def executed_notebook(records: Path, dag_id: str, task_id: str = "run_notebook") -> Path:
    [found] = sorted(records.glob(f"{dag_id}/*/{task_id}/try-*/executed.ipynb"))[-1:]
    return found


def injected_parameters(notebook: Path) -> dict[str, Any]:
    nb = nbformat.read(str(notebook), as_version=4)
    [cell] = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    values: dict[str, Any] = {}
    for statement in ast.parse(cell.source).body:
        assert isinstance(statement, ast.Assign)
        [target] = statement.targets
        assert isinstance(target, ast.Name)
        values[target.id] = ast.literal_eval(statement.value)
    return values


def test_a_cron_pipeline_runs_sql_notebook_upload_on_airflow(
    airflow: Airflow, runner: Runner, tmp_path: Path
) -> None:
    """The generated DAG of a cron schedule in Europe/London with a partition trigger: the real
    Airflow reads its cron, zone, start date, catch-up, retries and time-out; the sensor finds the
    input partition, the operator runs the notebook (its output in the task log), the rows are in
    the warehouse, the manifest is in XCom, the upload is an Asset event; the parameters are
    those `runner schedule show` gives the same run, hostile text included; and the second run's
    sensor counts uploads from the first successful run's start (`prev_start_date_success`)."""
    repo = init_repo(tmp_path / "repo")
    db = make_warehouse(repo)
    totals_notebook(repo / "reports" / "totals.ipynb")
    spec = repo / "reports" / "totals.schedule.toml"
    spec.write_text(
        spec_text("totals", "totals.ipynb")
        + f'\n[parameters]\nrun_date = "{{{{ ds }}}}"\nnote = {json.dumps(HOSTILE)}\n'
        '\n[trigger]\ninputs = ["warehouse.orders"]\npartition = "day"\ntimeout = "10m"\n'
        '\n[limits]\ntimeout = "20m"\n\n[retries]\ncount = 2\ndelay = "5m"\n'
    )
    write_dag(runner, repo, spec)
    # As Airflow keeps the URI: its normalisation writes `sqlite:///x` as `sqlite:/x`.
    totals_uri = f"sqlite:{repo.resolve()}/warehouse.db/region_totals"

    shown = airflow.python(REPO_ROOT / "tests" / "airflow" / "inspect_dag.py", "totals")
    assert shown["timetable"] == {"cron": "0 6 * * *", "timezone": "Europe/London"}
    assert shown["start_date"] == "2099-11-20T00:00:00+00:00"  # midnight in London, winter
    assert shown["catchup"] is False
    assert shown["tasks"] == {
        "wait_for_inputs": {"type": "BashSensor", "upstream": [], "retries": 2, "retry_delay": 300,
                            "execution_timeout": 1200, "outlets": []},
        "run_notebook": {"type": "TiffinNotebookOperator", "upstream": ["wait_for_inputs"],
                         "retries": 2, "retry_delay": 300, "execution_timeout": 1200,
                         "outlets": [["warehouse.region_totals",
                                      totals_uri]]},
    }  # fmt: skip
    assert shown["on_failure_callback"] == ["TiffinFailureNotifier"], "on every task"

    done = airflow.dags_test("totals", LOGICAL)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    assert "totals for 2099-11-20 2 regions" in done.stdout + done.stderr, "the notebook's output"
    assert rows(db, "SELECT region, amount, day FROM region_totals ORDER BY 1") == [
        ("n", 4, "2099-11-20"),
        ("s", 2, "2099-11-20"),
    ]
    [(state,)] = airflow.query("SELECT state FROM dag_run WHERE dag_id = 'totals'")
    assert state == "success"

    [(value,)] = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = 'totals' AND task_id = 'run_notebook' "
        "AND key = 'manifest'"
    )
    manifest = json.loads(value)
    assert manifest["status"] == "completed"
    assert manifest["inputs"] == [{"name": "orders", "source": "warehouse", "rows": 3}]
    assert manifest["outputs"] == [
        {"table": "warehouse.region_totals", "mode": "partition", "rows": 2}
    ]
    assert manifest["lineage"] == {
        "reads": ["warehouse.orders"],
        "writes": ["warehouse.region_totals"],
    }
    assert airflow.query(
        "SELECT a.name, a.uri FROM asset_event e JOIN asset a ON a.id = e.asset_id"
    ) == [("warehouse.region_totals", totals_uri)]

    # The runner's own lineage event names the table as the Asset does.
    events = [json.loads(line) for line in (repo / "lineage.jsonl").read_text().splitlines()]
    [complete] = [e for e in events if e["eventType"] == "COMPLETE"]
    [output] = complete["outputs"]
    assert urlunsplit(urlsplit(f"{output['namespace']}/{output['name']}")) == totals_uri

    # Airflow rendered the parameters exactly as the runner renders them for that run.
    first = runner.run_raw(
        ["schedule", "show", str(spec), "--json", "--now", "2099-11-19T12:00:00Z"]
    )
    assert first.returncode == 0, first.describe()
    expected = json.loads(first.stdout)["first_run_parameters"]
    assert expected["note"] == HOSTILE.replace("{{ ds_nodash }}", "20991120")
    assert injected_parameters(executed_notebook(airflow.records, "totals")) == expected

    [(sensor_fields,)] = airflow.query(
        "SELECT rendered_fields FROM rendered_task_instance_fields "
        "WHERE dag_id = 'totals' AND task_id = 'wait_for_inputs'"
    )
    ready = ["runner", "schedule", "ready", "reports/totals.schedule.toml", "--logical-date"]
    assert shlex.split(json.loads(sensor_fields)["bash_command"]) == [
        "cd",
        str(repo),
        "&&",
        *ready,
        "2099-11-20",
    ], "no --since before the first success"

    again = airflow.dags_test("totals", NEXT_LOGICAL)
    assert again.returncode == 0, again.stdout[-8000:] + again.stderr[-4000:]
    rendered = [
        json.loads(fields)["bash_command"]
        for (fields,) in airflow.query(
            "SELECT f.rendered_fields FROM rendered_task_instance_fields f JOIN dag_run r "
            "ON r.dag_id = f.dag_id AND r.run_id = f.run_id "
            "WHERE f.task_id = 'wait_for_inputs' AND r.logical_date LIKE '2099-11-21%'"
        )
    ]
    assert [shlex.split(command)[3:] for command in rendered] == [
        [*ready, "2099-11-21", "--since", "2099-11-20T06:00:00+00:00"]
    ], "uploads count from the start of the last successful run"
    assert rows(db, "SELECT region, amount, day FROM region_totals ORDER BY 3, 1") == [
        ("n", 4, "2099-11-20"),
        ("s", 2, "2099-11-20"),
        ("n", 10, "2099-11-21"),
    ]


def test_a_failing_notebook_fails_the_task_and_notifies_the_owner(
    airflow: Airflow, runner: Runner, webhook: Receiver, tmp_path: Path
) -> None:
    """The notebook raises: the task fails with the notebook's error after its retry, nothing is
    uploaded, and the failure callback sends the spec's webhook the notice `runner serve` sends
    (schedule, logical date in the schedule's zone, attempt, failing cell and its error), once."""
    repo = init_repo(tmp_path / "repo")
    db = make_warehouse(repo)
    totals_notebook(repo / "reports" / "totals.ipynb", failing=True)
    spec = repo / "reports" / "totals.schedule.toml"
    spec.write_text(
        spec_text("totals", "totals.ipynb")
        + '\n[parameters]\nrun_date = "{{ ds }}"\n'
        + '\n[retries]\ncount = 1\ndelay = "1s"\n'
        + f'\n[[notify]]\nwebhook = "{webhook.url}"\n'
    )
    write_dag(runner, repo, spec)

    done = airflow.dags_test("totals", LOGICAL)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-8000:]
    assert "ValueError: no totals today" in output, "the task fails with the notebook's error"
    assert airflow.query("SELECT state, try_number FROM task_instance WHERE dag_id = 'totals'") == [
        ("failed", 2)
    ]
    assert rows(db, "SELECT * FROM region_totals") == []

    [posted] = webhook.bodies
    assert posted["text"] == "[tiffin] totals failed (run 2099-11-20T06:00 attempt 2)"
    text = "\n".join(block["text"]["text"] for block in posted["blocks"])
    assert "raise ValueError('no totals today')" in text, "the failing cell's source"
    assert "ValueError: no totals today" in text
    assert "cell 4 raised ValueError: no totals today" in text  # counted with injected parameters
    assert "*Failing cell 4*" in text


def test_two_schedules_chain_through_an_asset(
    airflow: Airflow, runner: Runner, tmp_path: Path
) -> None:
    """The producer uploads `warehouse.region_totals` (its outlet Asset); the consumer's spec
    waits for uploads of that table, so its DAG is scheduled on that Asset. Nothing is due before
    the producer runs; after it, Airflow's scheduler logic finds the consumer due, creates its
    Asset-triggered run from the producer's Asset event, and the run reads what the producer
    uploaded and uploads its own table."""
    repo = init_repo(tmp_path / "repo")
    db = make_warehouse(repo)
    totals_notebook(repo / "reports" / "totals.ipynb")
    producer = repo / "reports" / "totals.schedule.toml"
    producer.write_text(
        spec_text("totals", "totals.ipynb", '\n[parameters]\nrun_date = "{{ ds }}"\n')
    )
    cells = [
        code("run_date = '2000-01-01'", tags=["parameters"]),
        code("%%sql totals\nSELECT region, amount, day FROM region_totals"),
        code("report = totals.assign(share=totals['amount'] / totals['amount'].sum())\n"
             "report['reported'] = run_date"),
        code("%%upload region_report --mode replace\nreport"),
    ]  # fmt: skip
    write_notebook(make_notebook(cells), repo / "reports" / "report.ipynb")
    consumer = repo / "reports" / "report.schedule.toml"
    consumer.write_text(
        spec_text("report", "report.ipynb", '\n[parameters]\nrun_date = "{{ ds }}"\n')
        + '\n[trigger]\ninputs = ["warehouse.region_totals"]\n'
    )
    write_dag(runner, repo, producer)
    consumer_dag = write_dag(runner, repo, consumer).read_text()
    assert "schedule=INPUTS[0]," in consumer_dag
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE region_report (region TEXT, amount INTEGER, day TEXT, "
                     "share REAL, reported TEXT)")  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "schedules")

    airflow.run("dags", "reserialize")
    airflow.run("dags", "unpause", "report")  # new DAGs start paused; paused ones are not queued
    script = REPO_ROOT / "tests" / "airflow" / "run_asset_triggered.py"
    assert airflow.python(script, "report", "--expect-none") == {"due": []}

    done = airflow.dags_test("totals", LOGICAL)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-4000:]
    assert airflow.query("SELECT target_dag_id FROM asset_dag_run_queue") == [("report",)], (
        "the producer's Asset event queued the consumer"
    )

    run = airflow.python(script, "report")
    assert run["run_type"] == "asset_triggered"
    assert run["consumed"] == ["warehouse.region_totals"]
    assert run["state"] == "success", airflow.last_output[-8000:]
    assert run["logical_date"] is None
    reported = rows(db, "SELECT region, amount, day, share, reported FROM region_report ORDER BY 1")
    [(run_after,)] = airflow.query("SELECT run_after FROM dag_run WHERE dag_id = 'report'")
    # An Asset-triggered run has no logical date: its date is when it was triggered, in London.
    triggered = datetime.fromisoformat(run_after).replace(tzinfo=UTC)
    day = triggered.astimezone(ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    assert reported == [
        ("n", 4, "2099-11-20", 4 / 6, day),
        ("s", 2, "2099-11-20", 2 / 6, day),
    ]
    assert airflow.python(script, "report", "--expect-none") == {"due": []}, "consumed once"
