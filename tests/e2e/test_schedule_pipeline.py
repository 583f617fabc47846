"""`runner schedule preview` and `runner schedule submit`: the generated Airflow DAG against a
reviewed golden file, the preview's JSON, and the review branch built in a real git repository
after a real trial run (sandboxed kernel, real SQLite warehouse) that leaves the warehouse as it
was. The code host is a local stub HTTP server, since none is reachable here."""

from __future__ import annotations

import http.server
import json
import shlex
import sqlite3
import subprocess
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest

from conftest import Runner, RunResult, code, make_notebook, new_repo, write_notebook

EXIT_NOT_SCHEDULABLE = 1
EXIT_USAGE = 2
GOLDEN = Path(__file__).parent / "golden" / "daily-sales.py"

GOLDEN_SPEC = r"""name = "daily-sales"
notebook = "daily_sales.ipynb"
owner = "ana@example.com"
purpose = "reporting"
cadence = "30 6 * * 1-5"
timezone = "Europe/London"
start_date = 2099-03-02

[parameters]
run_date = "{{ ds }}"
yesterday = "{{ ds_add(ds, -1) }}"
stamp = "{{ ts }}"
path = "out/day={{ ds_nodash }}/it's \"quoted\" $(rm -rf ~) `id` \\ é"
jinja = "{% raw %} and {# comment #}"
dash = "-v"
top = 10
ratio = 0.5
dry = false

[trigger]
inputs = ["warehouse.orders", "warehouse.refunds"]
partition = "day"
timeout = "2h"

[limits]
timeout = "1h30m"
cell_timeout = "10m"
memory = "2G"

[retries]
count = 2
delay = "10m"
"""

SPEC = """name = "region-totals"
notebook = "totals.ipynb"
owner = "ana@example.com"
purpose = "reporting"
cadence = "daily"

[parameters]
run_date = "{{ ds }}"
"""

CONFIG = """[sources.warehouse]
type = "sqlite"
path = "warehouse.db"

[policy.labels]
finance = ["reporting"]

[[policy.tables]]
table = "warehouse.orders"
labels = ["finance"]

[[policy.tables]]
table = "warehouse.region_totals"
labels = ["finance"]
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


def totals_notebook(path: Path, *, failing: bool = False) -> Path:
    cells = [
        code("run_date = '2000-01-01'", tags=["parameters"]),
        code("%%sql orders\nSELECT region, amount FROM orders"),
        code(
            "totals = orders.groupby('region', as_index=False)['amount'].sum()\n"
            "totals['day'] = run_date"
            + ("\nraise ValueError('no totals today')" if failing else "")
        ),
        code("%%upload region_totals\ntotals"),
    ]
    return write_notebook(make_notebook(cells), path)


def warehouse_rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


@dataclass
class Project:
    """A repository with a committed notebook, spec and tiffin.toml on main, and an
    uncommitted change to the notebook (submissions take the working tree's version)."""

    repo: Path
    spec: Path
    notebook: Path
    db: Path

    def state(self) -> tuple[str, str, str, str]:
        """What a submission must not touch: HEAD, the current branch, the index, the tree."""
        return (
            git(self.repo, "rev-parse", "HEAD"),
            git(self.repo, "symbolic-ref", "HEAD"),
            git(self.repo, "ls-files", "--stage"),
            git(self.repo, "status", "--porcelain", "--untracked-files=all"),
        )


def make_project(tmp_path: Path, *, failing: bool = False) -> Project:
    repo = new_repo(tmp_path / "repo")
    reports = repo / "reports"
    reports.mkdir()
    (repo / "tiffin.toml").write_text(CONFIG)
    (repo / ".gitignore").write_text("warehouse.db\n")
    db = repo / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (region TEXT, amount INTEGER)")
        conn.executemany("INSERT INTO orders VALUES (?, ?)", [("n", 1), ("s", 2), ("n", 3)])
        conn.execute("CREATE TABLE region_totals (region TEXT, amount INTEGER, day TEXT)")
        conn.execute("INSERT INTO region_totals VALUES ('old', 0, '1999-12-31')")
    notebook = totals_notebook(reports / "totals.ipynb")
    spec = reports / "totals.schedule.toml"
    spec.write_text(SPEC)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "reports")
    totals_notebook(notebook, failing=failing)  # an uncommitted edit, as when scheduling from Lab
    if not failing:
        notebook.write_text(notebook.read_text().replace("'2000-01-01'", "'2000-01-02'"))
    return Project(repo, spec, notebook, db)


def submit(
    runner: Runner, project: Project, *args: str, env: Mapping[str, str | None] | None = None
) -> RunResult:
    return runner.run_raw(
        ["schedule", "submit", str(project.spec), *args], cwd=project.repo, env=env, timeout=120
    )


# --------------------------------------------------------------------------------------------
# The generated DAG
# --------------------------------------------------------------------------------------------


def golden_preview(runner: Runner, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    repo = new_repo(tmp_path / "golden")
    (repo / "reports").mkdir()
    write_notebook(make_notebook([code("x = 1")]), repo / "reports" / "daily_sales.ipynb")
    spec = repo / "reports" / "daily_sales.schedule.toml"
    spec.write_text(GOLDEN_SPEC)
    result = runner.run_raw(["schedule", "preview", str(spec), "--json"], cwd=repo)
    assert result.returncode in (0, EXIT_NOT_SCHEDULABLE), result.describe()
    return spec, json.loads(result.stdout)


def test_the_dag_is_the_reviewed_golden_file_and_valid_python(
    runner: Runner, tmp_path: Path
) -> None:
    _, preview = golden_preview(runner, tmp_path)
    assert preview["dag"]["path"] == "dags/daily-sales.py"
    assert preview["dag"]["text"] == GOLDEN.read_text(encoding="utf-8")
    compile(GOLDEN.read_text(encoding="utf-8"), str(GOLDEN), "exec")
    ruff = subprocess.run(
        [
            str(Path(sys.executable).with_name("ruff")),
            "check",
            "--isolated",
            "--no-cache",
            str(GOLDEN),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr


class _Task:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        TASKS.append(self)

    def __rshift__(self, other: _Task) -> _Task:
        other.kwargs["upstream"] = self.kwargs["task_id"]
        return other


TASKS: list[_Task] = []


DAGS: list[dict[str, Any]] = []


class _Dag:
    def __init__(self, **kwargs: Any) -> None:
        DAGS.append(kwargs)

    def __enter__(self) -> _Dag:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class _LogicalDate:
    """The methods of pendulum's DateTime the DAG's templates use."""

    def __init__(self, value: datetime) -> None:
        self.value = value

    def in_timezone(self, zone: str) -> datetime:
        return self.value.astimezone(ZoneInfo(zone))


def load_dag(path: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """Executes the DAG file with stand-ins for the Airflow, pendulum and `tiffin.airflow`
    modules (none is in the project's venv; test_airflow.py runs generated DAGs on a real Airflow):
    its globals, the DAG's and the tasks' arguments."""
    stubs: dict[str, dict[str, Any]] = {
        "pendulum": {"datetime": lambda y, m, d, tz: ("date", y, m, d, tz)},
        "airflow": {},
        "airflow.sdk": {"DAG": _Dag},
        "airflow.providers": {},
        "airflow.providers.standard": {},
        "airflow.providers.standard.operators": {},
        "airflow.providers.standard.operators.bash": {"BashOperator": _Task},
        "airflow.providers.standard.sensors": {},
        "airflow.providers.standard.sensors.bash": {"BashSensor": _Task},
        "tiffin.airflow": {
            "TiffinNotebookOperator": _Task,
            "TiffinFailureNotifier": lambda repo, spec, timezone: ("notify", repo, spec, timezone),
        },
        "airflow.timetables": {},
        "airflow.timetables.trigger": {
            "CronTriggerTimetable": lambda cron, timezone: ("cron", cron, timezone)
        },
    }
    saved = {name: sys.modules.get(name) for name in stubs}
    TASKS.clear()
    DAGS.clear()
    try:
        for name, attrs in stubs.items():
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
        namespace: dict[str, Any] = {"__file__": str(path), "__name__": "dag"}
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    [dag] = DAGS
    return namespace, dag, {t.kwargs["task_id"]: t.kwargs for t in TASKS}


def render_as_airflow(
    template: str, logical: datetime, prev_start_date_success: datetime | None = None
) -> str:
    """Renders a command as Airflow does: its Jinja context's `ds`, `ts`, `macros.ds_add`,
    `prev_start_date_success` and the `ds`/`ds_nodash`/`ts` filters, with the logical date in
    UTC."""
    utc = logical.astimezone(ZoneInfo("UTC"))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update(
        ds=lambda d: d.strftime("%Y-%m-%d"),
        ds_nodash=lambda d: d.strftime("%Y%m%d"),
        ts=lambda d: d.isoformat(),
    )

    def ds_add(ds: str, days: int) -> str:
        return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")

    return env.from_string(template).render(
        ds=utc.strftime("%Y-%m-%d"),
        ds_nodash=utc.strftime("%Y%m%d"),
        ts=utc.isoformat(),
        logical_date=_LogicalDate(utc),
        macros=types.SimpleNamespace(ds_add=ds_add),
        prev_start_date_success=prev_start_date_success,
    )


def test_the_dag_gives_each_run_the_parameters_the_runner_gives_it(
    runner: Runner, tmp_path: Path
) -> None:
    """Rendered by Jinja as Airflow renders it and split as bash splits it, the DAG's command
    carries exactly the values `runner schedule show` computes for the first run, hostile text
    included; the sensor and the DAG's settings follow the spec."""
    spec, preview = golden_preview(runner, tmp_path)
    dag_file = tmp_path / "golden" / "dags" / "daily-sales.py"
    dag_file.parent.mkdir()
    dag_file.write_text(preview["dag"]["text"], encoding="utf-8")
    namespace, dag, tasks = load_dag(dag_file)
    assert namespace["REPO_ROOT"] == str(tmp_path / "golden")
    shown = runner.run_raw(["schedule", "show", str(spec), "--json"])
    assert shown.returncode == 0, shown.describe()
    first = json.loads(shown.stdout)
    logical = datetime.fromisoformat(first["next_runs"][0])
    assert logical.utcoffset() == timedelta(0), "the first run is in winter: London is on UTC"
    summer = datetime(
        2099, 7, 1, 0, 30, tzinfo=ZoneInfo("Europe/London")
    )  # 23:30 UTC the day before

    run = tasks["run_notebook"]
    assert run["upstream"] == "wait_for_inputs"
    assert (run["repo"], run["notebook"]) == (str(tmp_path / "golden"), "reports/daily_sales.ipynb")
    assert "outlets" not in run, "the notebook uploads nothing"
    # The operator passes each rendered argument as it is, without a shell.
    command = [render_as_airflow(arg, logical) for arg in run["arguments"]]
    passed: dict[str, Any] = {}
    while command and command[0] in ("-r", "-p"):
        flag, name, value = command[:3]
        passed[name] = value if flag == "-r" else json.loads(value.lower())
        command = command[3:]
    assert passed == first["first_run_parameters"]
    assert command == [
        "--purpose", "reporting", "--timeout", "5400", "--cell-timeout", "600",
        "--memory", "2G",
    ]  # fmt: skip
    summer_argv = [render_as_airflow(arg, summer) for arg in run["arguments"]]
    assert summer_argv[summer_argv.index("run_date") + 1] == "2099-07-01", "the local date"

    sensor = tasks["wait_for_inputs"]
    assert (sensor["mode"], sensor["timeout"], sensor["retry_exit_code"]) == ("reschedule", 7200, 1)
    assert shlex.split(render_as_airflow(sensor["bash_command"], summer))[3:] == [
        "runner", "schedule", "ready", "reports/daily_sales.schedule.toml",
        "--logical-date", "2099-07-01",
    ]  # fmt: skip
    # After a first success, only uploads since that run's start count (as in runner serve).
    last_success = datetime(2099, 6, 30, 5, 30, tzinfo=ZoneInfo("UTC"))
    assert shlex.split(render_as_airflow(sensor["bash_command"], summer, last_success))[-2:] == [
        "--since",
        "2099-06-30T05:30:00+00:00",
    ]
    assert dag["schedule"] == ("cron", "30 6 * * 1-5", "Europe/London")
    assert dag["start_date"] == ("date", 2099, 3, 2, "Europe/London")
    assert dag["default_args"] == {
        "owner": "ana@example.com",
        "retries": 2,
        "retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=90),
        "on_failure_callback": (
            "notify",
            str(tmp_path / "golden"),
            "reports/daily_sales.schedule.toml",
            "Europe/London",
        ),
    }
    assert (dag["dag_id"], dag["catchup"], dag["tags"]) == ("daily-sales", False, ["tiffin"])


# --------------------------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------------------------


def test_preview_shows_lint_policy_and_lineage_as_json(runner: Runner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = runner.run_raw(["schedule", "preview", str(project.spec), "--json"])
    assert result.returncode == 0, result.describe()
    preview = json.loads(result.stdout)
    assert set(preview) == {
        "schedulable", "spec", "notebook", "repository", "dag", "lint", "policy", "inputs",
        "outputs", "first_run",
    }  # fmt: skip
    assert preview["schedulable"] is True
    assert preview["spec"]["path"] == "reports/totals.schedule.toml"
    assert preview["spec"]["text"] == SPEC
    assert preview["notebook"] == "reports/totals.ipynb"
    assert preview["dag"]["path"] == "dags/region-totals.py"
    assert preview["lint"] == {"eligible": True, "findings": []}
    assert preview["policy"] == {
        "purpose": "reporting",
        "mode": "enforce",
        "allowed": True,
        "violations": [],
        "reclassified": [],
        "error": None,
    }
    [read] = preview["inputs"]
    assert (read["cell"], read["name"], read["labels"]) == (2, "orders", ["finance"])
    assert [t["table"] for t in read["tables"]] == ["warehouse.orders"]
    [written] = preview["outputs"]
    assert (written["table"], written["mode"], written["labels"]) == (
        "region_totals",
        "append",
        ["finance"],
    )
    assert preview["first_run"]["parameters"] == {
        "run_date": preview["first_run"]["logical_date"][:10]
    }

    human = runner.run_raw(["schedule", "preview", str(project.spec)])
    assert human.returncode == 0, human.describe()
    assert "cell 2 `orders` reads warehouse.orders (labels: finance)" in human.stdout
    assert "cell 4 writes warehouse.region_totals (append; labels: finance)" in human.stdout
    assert human.stdout.rstrip().endswith("schedulable")


def test_preview_says_why_a_schedule_cannot_run(runner: Runner, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    project.spec.write_text(SPEC.replace('"reporting"', '"marketing"'))
    nb = json.loads(project.notebook.read_text())
    nb["cells"].append(code("!curl https://example.com"))
    project.notebook.write_text(json.dumps(nb))
    result = runner.run_raw(["schedule", "preview", str(project.spec), "--json"])
    assert result.returncode == EXIT_NOT_SCHEDULABLE, result.describe()
    preview = json.loads(result.stdout)
    assert preview["schedulable"] is False
    assert preview["lint"]["eligible"] is False
    assert [f["rule"] for f in preview["lint"]["findings"]] == ["shell-escape"]
    assert preview["policy"]["allowed"] is False
    assert "finance" in preview["policy"]["violations"][0]
    assert preview["dag"]["text"].startswith('"""Airflow DAG'), "everything is shown all the same"

    project.spec.write_text(SPEC.replace('cadence = "daily"', 'cadence = "often"'))
    bad = runner.run_raw(["schedule", "preview", str(project.spec)])
    assert bad.returncode == EXIT_USAGE, bad.describe()
    assert "totals.schedule.toml:5:11: `cadence`: `often`" in bad.stderr


def test_a_spec_outside_any_git_repository_is_refused(runner: Runner, tmp_path: Path) -> None:
    totals_notebook(tmp_path / "totals.ipynb")
    spec = tmp_path / "totals.schedule.toml"
    spec.write_text(SPEC)
    for command in ("preview", "submit"):
        result = runner.run_raw(["schedule", command, str(spec)], cwd=tmp_path)
        assert result.returncode == EXIT_USAGE, result.describe()
        assert "is not inside a git repository" in result.stderr
        assert not (tmp_path / "dags").exists()


# --------------------------------------------------------------------------------------------
# Submit
# --------------------------------------------------------------------------------------------


def test_submit_commits_one_reviewed_commit_without_touching_the_work(
    runner: Runner, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    before = project.state()
    rows_before = warehouse_rows(project.db, "region_totals")
    main = git(project.repo, "rev-parse", "main")

    result = submit(runner, project, "--json")
    assert result.returncode == 0, result.describe()
    done = json.loads(result.stdout)
    assert (done["created"], done["branch"], done["base"]) == (True, "tiffin/region-totals", "main")
    assert done["base_commit"] == main
    assert done["replaced"] is None
    assert done["trial"]["status"] == "completed"

    assert project.state() == before, "HEAD, branch, index and working tree are untouched"
    assert warehouse_rows(project.db, "region_totals") == rows_before, "the trial loaded nothing"
    assert not (project.repo / ".tiffin").exists(), "the trial left no lineage record"
    with sqlite3.connect(project.db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "tiffin_labels" not in tables, "the trial stored no labels"

    branch = "tiffin/region-totals"
    assert git(project.repo, "rev-parse", branch) == done["commit"]
    assert git(project.repo, "rev-list", f"main..{branch}").split() == [done["commit"]]
    assert git(project.repo, "rev-parse", f"{branch}^") == main
    changed = git(project.repo, "diff", "--name-only", f"main..{branch}").split()
    assert sorted(changed) == sorted(
        [
            "dags/region-totals.py",
            "reports/region-totals.testplan.md",
            "reports/totals.ipynb",
        ]
    ), "the spec is unchanged from main; the notebook is the working tree's"
    files = git(project.repo, "ls-tree", "-r", "--name-only", branch).split()
    assert {
        "reports/totals.ipynb",
        "reports/totals.schedule.toml",
        "dags/region-totals.py",
        "reports/region-totals.testplan.md",
    } <= set(files)
    assert (
        git(project.repo, "show", f"{branch}:reports/totals.ipynb")
        == project.notebook.read_text().strip()
    )

    preview = json.loads(
        runner.run_raw(["schedule", "preview", str(project.spec), "--json"]).stdout
    )
    assert (
        git(project.repo, "show", f"{branch}:dags/region-totals.py") + "\n"
        == preview["dag"]["text"]
    )
    plan = git(project.repo, "show", f"{branch}:reports/region-totals.testplan.md")
    assert plan == done["test_plan"].strip()
    assert "## Trial run: completed" in plan
    assert f"Based on `main` at `{main}`" in plan
    assert "| in | 3 | warehouse.orders (as `orders`) | 3 | finance |" in plan
    assert "| out | 5 | warehouse.region_totals (append) | 2 | finance |" in plan
    # Cells as the executed notebook numbers them: the injected-parameters cell is the 2nd.
    assert "| 5 | completed |" in plan, "a row per cell with its timing"
    assert "Purpose `reporting`, mode enforce: allowed." in plan
    kept = Path(done["trial"]["data"]) / "out" / "region_totals.csv"
    assert kept.read_text().splitlines()[0] == "region,amount,day", "the scratch copy is kept"

    # Main moves on; a resubmission replaces the branch with one commit on the new main.
    (project.repo / "README.md").write_text("reports\n")
    git(project.repo, "add", "README.md")
    git(project.repo, "commit", "-q", "-m", "readme")
    again = submit(runner, project)
    assert again.returncode == 0, again.describe()
    assert f"branch {branch} replaced (was {done['commit'][:12]})" in again.stdout
    assert git(project.repo, "rev-list", f"main..{branch}").split() == [
        git(project.repo, "rev-parse", branch)
    ]
    assert git(project.repo, "rev-parse", f"{branch}^") == git(project.repo, "rev-parse", "main")


def test_a_trial_run_must_name_its_manifest(runner: Runner, tmp_path: Path) -> None:
    notebook = totals_notebook(tmp_path / "totals.ipynb")
    result = runner.run_raw(["exec", str(notebook), "--trial"])
    assert result.returncode == EXIT_USAGE, result.describe()
    assert "--manifest" in result.stderr


def test_a_failing_trial_run_creates_nothing(runner: Runner, tmp_path: Path) -> None:
    project = make_project(tmp_path, failing=True)
    before = project.state()
    refs = git(project.repo, "for-each-ref")
    result = submit(runner, project)
    assert result.returncode == 1, result.describe()
    assert "the trial run failed: cell 4 raised ValueError: no totals today" in result.stderr
    assert "nothing was submitted" in result.stderr
    assert "## Trial run: failed" in result.stdout, "the test plan is printed"
    assert git(project.repo, "for-each-ref") == refs, "no branch"
    assert project.state() == before


def test_submit_pushes_to_a_remote_and_resubmits_with_a_lease(
    runner: Runner, tmp_path: Path
) -> None:
    project = make_project(tmp_path)
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project.repo, "remote", "add", "origin", str(remote))
    git(project.repo, "push", "-q", "origin", "main")

    first = submit(runner, project, "--push", "origin", "--json")
    assert first.returncode == 0, first.describe()
    pushed = json.loads(first.stdout)
    assert pushed["pushed_to"] == "origin"
    assert git(remote, "rev-parse", "tiffin/region-totals") == pushed["commit"]

    project.notebook.write_text(project.notebook.read_text().replace("2000-01-02", "2000-01-03"))
    second = submit(runner, project, "--push", "origin", "--json")
    assert second.returncode == 0, second.describe()
    replaced = json.loads(second.stdout)
    assert replaced["replaced"] == pushed["commit"]
    assert git(remote, "rev-parse", "tiffin/region-totals") == replaced["commit"]


# --------------------------------------------------------------------------------------------
# Pull requests, against a stub of a GitHub-shaped API
# --------------------------------------------------------------------------------------------


@dataclass
class CodeHost:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    existing: bool = False


@pytest.fixture
def code_host() -> Iterator[CodeHost]:
    host = CodeHost(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers["content-length"])
            host.requests.append(
                {
                    "method": "POST",
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": json.loads(self.rfile.read(length)),
                }
            )
            if host.existing:
                message = "A pull request already exists for acme:tiffin/region-totals."
                self._answer(
                    422,
                    {"message": "Validation Failed", "errors": [{"message": message}]},
                )
            else:
                self._answer(201, {"number": 7, "html_url": "https://code.example/acme/r/pull/7"})

        def do_GET(self) -> None:
            host.requests.append(
                {"method": "GET", "path": self.path, "headers": dict(self.headers)}
            )
            self._answer(200, [{"number": 7, "html_url": "https://code.example/acme/r/pull/7"}])

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host.url = f"http://127.0.0.1:{server.server_address[1]}/api"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_pull_request_is_opened_or_found(
    runner: Runner, tmp_path: Path, code_host: CodeHost
) -> None:
    project = make_project(tmp_path)
    (project.repo / "tiffin.toml").write_text(
        CONFIG
        + f'\n[review]\napi_url = "{code_host.url}"\nrepository = "acme/reports"\n'
        + 'token_env = "TIFFIN_TEST_TOKEN"\n'
    )
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project.repo, "remote", "add", "origin", str(remote))
    env = {"TIFFIN_TEST_TOKEN": "s3cret"}

    opened = submit(runner, project, "--pull-request", "--json", env=env)
    assert opened.returncode == 0, opened.describe()
    done = json.loads(opened.stdout)
    assert done["pull_request"] == {
        "url": "https://code.example/acme/r/pull/7",
        "number": 7,
        "existing": False,
    }
    assert done["pushed_to"] == "origin", "pushed to [review] remote first"
    assert git(remote, "rev-parse", "tiffin/region-totals") == done["commit"]
    [post] = code_host.requests
    assert post["path"] == "/api/repos/acme/reports/pulls"
    headers = {k.lower(): v for k, v in post["headers"].items()}
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["accept"] == "application/vnd.github+json"
    assert post["body"] == {
        "title": "Schedule region-totals: reports/totals.ipynb",
        "head": "tiffin/region-totals",
        "base": "main",
        "body": done["test_plan"],
    }

    code_host.existing = True
    code_host.requests.clear()
    found = submit(runner, project, "--pull-request", env=env)
    assert found.returncode == 0, found.describe()
    assert "pull request (already open): https://code.example/acme/r/pull/7" in found.stdout
    assert [r["method"] for r in code_host.requests] == ["POST", "GET"]
    assert code_host.requests[1]["path"].startswith(
        "/api/repos/acme/reports/pulls?head=acme:tiffin/region-totals"
    )

    branch = git(project.repo, "rev-parse", "tiffin/region-totals")
    no_token = submit(runner, project, "--pull-request", env={"TIFFIN_TEST_TOKEN": None})
    assert no_token.returncode == EXIT_USAGE, no_token.describe()
    assert "the variable TIFFIN_TEST_TOKEN (token_env in [review]) is not set" in no_token.stderr
    assert git(project.repo, "rev-parse", "tiffin/region-totals") == branch, "checked first"
