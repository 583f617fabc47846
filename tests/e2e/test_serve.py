"""`runner serve`, the embedded scheduler, on a real git repository with a real SQLite warehouse:
only schedules on main run, at their cron times in their zones (the clock is a file the test
moves), a missed stretch runs once, failures retry, runs can be cancelled, run now and backfilled,
a data trigger waits for another schedule's upload, and a daemon killed with SIGKILL mid-run
neither loses nor doubles the run when it comes back."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    Receiver,
    RunHandle,
    Runner,
    code,
    git,
    make_notebook,
    new_repo,
    write_notebook,
)

EXIT_USAGE = 2
WAIT = 90.0


class Repo:
    """A git repository whose main branch holds notebooks and schedule specs."""

    def __init__(self, root: Path) -> None:
        self.root = new_repo(root)

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def commit(self, message: str = "change") -> None:
        git(self.root, "add", "-A", "--", ".", ":!warehouse.db", ":!.tiffin")
        git(self.root, "commit", "-q", "-m", message)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.root / "warehouse.db") as db:
            return db.execute(sql).fetchall()


def daily_notebook(body: str = "", upload: str = "daily", mode: str = "partition") -> Any:
    """A notebook whose parameter run_date lands in the warehouse (as a partition, or appended)."""
    return make_notebook(
        [
            code('run_date = "unset"', tags=["parameters"]),
            code(
                f"import pandas as pd\n{body}\n"
                "frame = pd.DataFrame({'day': [run_date], 'n': [1]})"
            ),
            code(
                f"%%upload {upload} --mode partition --partition day=:run_date\nframe"
                if mode == "partition"
                else f"%%upload {upload} --mode append\nframe"
            ),
        ]
    )


def spec(
    name: str,
    notebook: str,
    cadence: str = "0 6 * * *",
    extra: str = "",
    start: str = "2026-11-26",
) -> str:
    return (
        f'name = "{name}"\nnotebook = "{notebook}"\nowner = "ana@example.com"\n'
        f'purpose = "reporting"\ncadence = "{cadence}"\ntimezone = "Europe/London"\n'
        f'start_date = {start}\n\n[parameters]\nrun_date = "{{{{ ds }}}}"\n{extra}'
    )


class Serve:
    """A running `runner serve` whose clock is a file."""

    def __init__(self, runner: Runner, repo: Repo, clock: Path, *options: str) -> None:
        self.runner, self.repo, self.clock = runner, repo, clock
        self.options = options
        self.handle: RunHandle | None = None

    def start(self) -> Serve:
        self.handle = self.runner.start_raw(
            [
                "serve",
                "--repo",
                str(self.repo.root),
                "--clock-file",
                str(self.clock),
                "--trigger-poll",
                "1",
                *self.options,
            ]
        )
        return self

    def set_time(self, instant: str) -> None:
        self.clock.write_text(instant)

    def cli(self, *args: str) -> Any:
        return self.runner.run_raw([*args, "--repo", str(self.repo.root)])

    def runs(self, schedule: str | None = None) -> list[dict[str, Any]]:
        result = self.cli("runs", *([schedule] if schedule else []), "--json", "--limit", "100")
        if result.returncode != 0:
            return []
        runs: list[dict[str, Any]] = json.loads(result.stdout)
        return runs

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            assert self.handle is not None
            assert self.handle.popen.poll() is None, f"runner serve exited: {self.stderr()}"
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; runs: {self.runs()}\n{self.stderr()}")

    def settled(self, schedule: str | None = None, count: int = 1) -> list[dict[str, Any]]:
        """Waits until `count` runs exist and none is live; returns them, newest first."""

        def done() -> bool:
            runs = self.runs(schedule)
            live = {"queued", "waiting", "running"}
            return len(runs) >= count and not any(r["status"] in live for r in runs)

        self.wait_for(f"{count} finished runs of {schedule}", done)
        return self.runs(schedule)

    def stderr(self) -> str:
        assert self.handle is not None
        return self.handle.stderr_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.handle is not None and self.handle.popen.poll() is None:
            self.handle.popen.send_signal(signal.SIGTERM)
            self.handle.popen.wait(timeout=WAIT)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "repo")


@pytest.fixture
def serve(runner: Runner, repo: Repo, tmp_path: Path) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*options: str, at: str = "2026-11-26T05:00:00Z") -> Serve:
        clock = tmp_path / "clock"
        if not clock.exists():
            clock.write_text(at)
        daemon = Serve(runner, repo, clock, *options).start()
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def test_a_schedule_on_main_runs_at_its_time_once_and_a_missed_stretch_runs_once(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write("report.schedule.toml", spec("daily", "report.ipynb"))
    repo.commit()
    daemon = serve(at="2026-11-26T05:59:00Z")
    daemon.wait_for(
        "the schedule to be read", lambda: daemon.cli("schedule", "list").stdout.startswith("daily")
    )
    time.sleep(2)
    assert daemon.runs() == [], "nothing is due before 06:00"

    daemon.set_time("2026-11-26T06:00:30Z")
    runs = daemon.settled("daily")
    assert [(r["status"], r["logical_time"], r["trigger"]) for r in runs] == [
        ("succeeded", "2026-11-26T06:00:00+00:00", "cron")
    ], daemon.stderr()
    assert repo.query("SELECT day, n FROM daily") == [("2026-11-26", 1)]
    time.sleep(2)
    assert len(daemon.runs()) == 1, "a time runs once"

    # Three days pass without a turn (the daemon "was down"): only the latest time runs.
    daemon.set_time("2026-11-29T09:00:00Z")
    runs = daemon.settled("daily", count=2)
    assert [r["logical_time"] for r in runs] == [
        "2026-11-29T06:00:00+00:00",
        "2026-11-26T06:00:00+00:00",
    ]
    assert repo.query("SELECT day FROM daily ORDER BY day") == [("2026-11-26",), ("2026-11-29",)]

    # The run's record: the notebook as committed, the executed one, log, manifest, run.json.
    record = Path(runs[0]["record_dir"])
    assert {p.name for p in record.iterdir()} == {
        "notebook.ipynb",
        "executed.ipynb",
        "log.txt",
        "manifest.json",
        "run.json",
        "lineage.jsonl",
        "out",
    }
    manifest = json.loads((record / "manifest.json").read_text())
    assert (manifest["run_id"], manifest["status"]) == (runs[0]["id"], "completed")
    # The run is named after the notebook's place in the repository, hashed as committed.
    assert manifest["notebook"]["path"] == str(repo.root / "report.ipynb")
    committed = (record / "notebook.ipynb").read_bytes()
    assert manifest["notebook"]["sha256"] == hashlib.sha256(committed).hexdigest()
    assert manifest["parameters"] == {"run_date": "2026-11-29"}
    events = [json.loads(line) for line in (record / "lineage.jsonl").read_text().splitlines()]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert {e["job"]["name"] for e in events} == {"report.ipynb"}
    # Read-only by mode (the suite may run as root, which access() would let write anyway).
    assert all(path.stat().st_mode & 0o222 == 0 for path in [record, *record.iterdir()])


def test_a_fixed_time_runs_once_on_the_night_clocks_go_back(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write(
        "report.schedule.toml",
        spec("nightly", "report.ipynb", cadence="30 1 * * *", start="2026-10-25"),
    )
    repo.commit()
    daemon = serve(at="2026-10-25T00:29:00Z")  # 01:29 BST
    daemon.wait_for(
        "the schedule", lambda: daemon.cli("schedule", "list").stdout.startswith("nightly")
    )
    daemon.set_time("2026-10-25T00:31:00Z")  # 01:31 BST: the first 01:30 has passed
    runs = daemon.settled("nightly")
    assert [r["logical_time"] for r in runs] == ["2026-10-25T01:30:00+01:00"]
    daemon.set_time("2026-10-25T01:31:00Z")  # 01:31 GMT: the second 01:30 has passed too
    time.sleep(3)
    assert len(daemon.runs("nightly")) == 1, "01:30 runs once that night"
    daemon.set_time("2026-10-26T01:31:00Z")
    runs = daemon.settled("nightly", count=2)
    assert [r["logical_time"] for r in runs] == [
        "2026-10-26T01:30:00+00:00",
        "2026-10-25T01:30:00+01:00",
    ]
    assert repo.query("SELECT day FROM daily ORDER BY day") == [("2026-10-25",), ("2026-10-26",)]


def test_a_paused_schedule_starts_nothing_and_on_resume_runs_the_latest_missed_time_once(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write("report.schedule.toml", spec("daily", "report.ipynb"))
    repo.commit()
    daemon = serve(at="2026-11-26T05:00:00Z")
    daemon.wait_for(
        "the schedule", lambda: daemon.cli("schedule", "list").stdout.startswith("daily")
    )
    paused = daemon.cli("schedule", "pause", "daily")
    assert paused.stdout == "daily paused\n", paused.describe()
    listed = json.loads(daemon.cli("schedule", "list", "--json").stdout)
    assert (listed[0]["paused"], listed[0]["next_run"]) == (True, None)
    daemon.set_time("2026-11-28T07:00:00Z")  # two times pass while paused
    time.sleep(3)
    assert daemon.runs() == []
    assert daemon.cli("schedule", "resume", "daily").returncode == 0
    runs = daemon.settled("daily")
    assert [r["logical_time"] for r in runs] == ["2026-11-28T06:00:00+00:00"]


def test_only_the_main_branch_runs(repo: Repo, serve: Callable[..., Serve]) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write("README.md", "x")
    repo.commit("init")
    git(repo.root, "checkout", "-q", "-b", "feature")
    repo.write("report.schedule.toml", spec("unreviewed", "report.ipynb"))
    repo.commit("a schedule under review")
    git(repo.root, "checkout", "-q", "main")
    repo.write("local.schedule.toml", spec("uncommitted", "report.ipynb"))
    daemon = serve(at="2026-11-26T07:00:00Z")
    time.sleep(3)
    listed = daemon.cli("schedule", "list", "--json")
    assert listed.returncode == 0, listed.describe()
    assert json.loads(listed.stdout) == []
    assert daemon.runs() == []
    git(repo.root, "merge", "-q", "feature")
    daemon.wait_for(
        "the merged schedule",
        lambda: '"unreviewed"' in daemon.cli("schedule", "list", "--json").stdout,
    )


def test_a_failing_run_is_retried_then_reported_with_its_cell(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(body="1 / 0"), repo.root / "broken.ipynb")
    repo.write(
        "broken.schedule.toml",
        spec("broken", "broken.ipynb", extra='\n[retries]\ncount = 1\ndelay = "1s"\n'),
    )
    repo.commit()
    daemon = serve(at="2026-11-26T06:01:00Z")
    daemon.wait_for("the first attempt to fail", lambda: len(daemon.runs("broken")) == 2)
    assert daemon.runs("broken")[0]["not_before"] == "2026-11-26T06:01:01Z", "the retry delay"
    daemon.set_time("2026-11-26T06:01:02Z")
    runs = daemon.settled("broken", count=2)
    assert [(r["attempt"], r["trigger"], r["status"]) for r in runs] == [
        (2, "retry", "failed"),
        (1, "cron", "failed"),
    ]
    assert all(r["failing_cell"] == 3 for r in runs), runs  # papermill's parameters cell is 2
    assert "ZeroDivisionError" in (runs[0]["message"] or "")
    detail = daemon.cli("runs", "--run", runs[0]["id"])
    assert detail.returncode == 0, detail.describe()
    assert "failing cell: 3" in detail.stdout
    assert "failed" in detail.stdout
    time.sleep(2)
    assert len(daemon.runs()) == 2, "no retry beyond the spec's count"


def test_owners_hear_of_a_final_failure_once_and_of_successes_they_asked_for(
    repo: Repo, serve: Callable[..., Serve], webhook: Receiver
) -> None:
    write_notebook(daily_notebook(body="1 / 0"), repo.root / "broken.ipynb")
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    failure_target = f'\n[[notify]]\nwebhook = "{webhook.url}"\n'
    repo.write(
        "broken.schedule.toml",
        spec(
            "broken",
            "broken.ipynb",
            extra='\n[retries]\ncount = 1\ndelay = "1s"\n' + failure_target,
        ),
    )
    repo.write(
        "report.schedule.toml",
        spec(
            "report",
            "report.ipynb",
            extra=f'\n[[notify]]\nwebhook = "{webhook.url}"\non = ["success"]\n',
        ),
    )
    repo.commit()
    daemon = serve(at="2026-11-26T06:00:30Z")
    daemon.wait_for("the retry", lambda: len(daemon.runs("broken")) == 2)
    daemon.set_time("2026-11-26T06:00:32Z")
    broken = daemon.settled("broken", count=2)
    daemon.settled("report")
    daemon.wait_for("two notices", lambda: len(webhook.bodies) >= 2)
    time.sleep(2)
    texts = sorted(json.dumps(body) for body in webhook.bodies)
    assert len(texts) == 2, texts  # the first, retried failure told nobody
    failure = next(t for t in texts if "broken" in t)
    assert broken[0]["id"] in failure
    assert "ZeroDivisionError" in failure
    assert "cell 3" in failure
    assert "attempt 2" in failure
    success = next(t for t in texts if "report" in t)
    assert "succeeded" in success or "completed" in success, success
    deliveries = (repo.root / ".tiffin/serve/notifications.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["result"] for line in deliveries) == ["delivered"] * 2
    pending = [r["notice_pending"] for r in daemon.runs()]
    assert pending == [False] * 3, "every owed notice was sent"


def test_a_notice_owed_when_the_daemon_died_is_sent_after_its_schedule_left_main(
    repo: Repo, serve: Callable[..., Serve], webhook: Receiver
) -> None:
    # Slow, patient delivery: the webhook refuses at first and the daemon tries every second.
    repo.write("tiffin.toml", '[notify]\nattempts = 10\nretry_delay = "1s"\n')
    write_notebook(daily_notebook(body="1 / 0"), repo.root / "broken.ipynb")
    target = f'\n[[notify]]\nwebhook = "{webhook.url}"\n'
    repo.write("broken.schedule.toml", spec("broken", "broken.ipynb", extra=target))
    repo.commit()
    webhook.answers.extend([500] * 100)
    first = serve(at="2026-11-26T06:00:30Z")
    first.wait_for("a first delivery attempt", lambda: len(webhook.bodies) >= 1)
    assert first.handle is not None
    first.handle.popen.kill()  # SIGKILL while the notice is being delivered
    first.handle.popen.wait()
    [failed] = first.runs("broken")
    assert (failed["status"], failed["notice_pending"]) == ("failed", True)

    # The schedule leaves main before a daemon runs again: its failure is still told.
    git(repo.root, "rm", "-q", "broken.schedule.toml")
    repo.commit("stop the broken report")
    webhook.answers.clear()
    tried = len(webhook.bodies)
    second = serve()
    second.wait_for("the owed notice", lambda: len(webhook.bodies) > tried)
    second.wait_for("the notice marked sent", lambda: not second.runs()[0]["notice_pending"])
    told = json.dumps(webhook.bodies[-1])
    assert failed["id"] in told
    assert "ZeroDivisionError" in told
    listed = second.cli("schedule", "list", "--json")
    assert '"broken"' not in listed.stdout, "the schedule is gone from main"


def test_run_now_and_cancel(repo: Repo, serve: Callable[..., Serve]) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    write_notebook(make_notebook([code("import time\ntime.sleep(120)")]), repo.root / "slow.ipynb")
    repo.write("report.schedule.toml", spec("report", "report.ipynb", cadence="0 6 1 1 *"))
    repo.write("slow.schedule.toml", spec("slow", "slow.ipynb", cadence="0 6 1 1 *"))
    repo.commit()
    daemon = serve("--workers", "1", at="2026-11-26T07:00:00Z")
    daemon.wait_for(
        "the schedules", lambda: '"slow"' in daemon.cli("schedule", "list", "--json").stdout
    )

    slow = daemon.cli("schedule", "run", "slow")
    assert slow.returncode == 0, slow.describe()
    daemon.wait_for(
        "the slow run to start", lambda: [r["status"] for r in daemon.runs("slow")] == ["running"]
    )
    # One worker: a second run waits in the queue and can be cancelled there.
    queued = daemon.cli("schedule", "run", "report")
    queued_id = queued.stdout.split()[2]
    cancelled = daemon.cli("schedule", "cancel", queued_id)
    assert cancelled.stdout.strip() == f"cancelled run {queued_id}", cancelled.describe()

    running_id = daemon.runs("slow")[0]["id"]
    stopping = daemon.cli("schedule", "cancel", running_id)
    assert "asked `runner serve` to stop" in stopping.stdout, stopping.describe()
    runs = daemon.settled("slow")
    assert runs[0]["status"] == "cancelled"
    assert Path(runs[0]["record_dir"], "executed.ipynb").is_file(), "the partial notebook is kept"
    assert daemon.runs("report")[0]["status"] == "cancelled"

    unknown = daemon.cli("schedule", "run", "nope")
    assert unknown.returncode == EXIT_USAGE
    assert "no schedule named `nope`" in unknown.stderr


def test_catchup_runs_every_time_missed_since_the_start_date(
    runner: Runner, repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    text = spec("report", "report.ipynb", start="2026-11-23")
    text = text.replace("start_date = 2026-11-23\n", "start_date = 2026-11-23\ncatchup = true\n")
    repo.write("report.schedule.toml", text)
    repo.commit()
    daemon = serve(at="2026-11-26T07:00:00Z")
    runs = daemon.settled("report", count=4)
    days = ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"]
    assert sorted((r["trigger"], r["logical_time"], r["status"]) for r in runs) == [
        ("cron", f"{day}T06:00:00+00:00", "succeeded") for day in days
    ]
    assert repo.query("SELECT day FROM daily ORDER BY day") == [(day,) for day in days]
    # The generated DAG asks Airflow for the same (previewed with a start date still to come).
    later = repo.write("later.schedule.toml", text.replace("2026-11-23", "2099-01-01"))
    preview = runner.run_raw(["schedule", "preview", str(later), "--json"])
    assert "    catchup=True,\n" in json.loads(preview.stdout)["dag"]["text"], preview.describe()


def test_a_backfill_runs_every_time_in_its_range_and_startup_runs_the_latest_missed(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write("report.schedule.toml", spec("report", "report.ipynb", start="2026-11-20"))
    repo.commit()
    daemon = serve(at="2026-11-26T05:00:00Z")
    first = daemon.settled("report")
    assert [(r["trigger"], r["logical_time"]) for r in first] == [
        ("cron", "2026-11-25T06:00:00+00:00")
    ]
    backfill = daemon.cli(
        "schedule", "backfill", "report", "--from", "2026-11-21", "--to", "2026-11-23"
    )
    assert backfill.returncode == 0, backfill.describe()
    runs = daemon.settled("report", count=4)
    assert sorted((r["trigger"], r["status"]) for r in runs[:3]) == [("backfill", "succeeded")] * 3
    assert repo.query("SELECT day FROM daily ORDER BY day") == [
        ("2026-11-21",),
        ("2026-11-22",),
        ("2026-11-23",),
        ("2026-11-25",),
    ]
    reversed_range = daemon.cli(
        "schedule", "backfill", "report", "--from", "2026-11-23", "--to", "2026-11-21"
    )
    assert reversed_range.returncode == EXIT_USAGE
    assert "is after" in reversed_range.stderr
    before_start = daemon.cli(
        "schedule", "backfill", "report", "--from", "2026-01-01", "--to", "2026-01-31"
    )
    assert before_start.returncode == EXIT_USAGE
    assert "no scheduled time" in before_start.stderr


def test_a_data_trigger_waits_for_another_schedules_upload(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    write_notebook(
        daily_notebook(body="import time\ntime.sleep(3)", upload="orders"), repo.root / "load.ipynb"
    )
    consumer = make_notebook(
        [
            code('run_date = "unset"', tags=["parameters"]),
            code("%%sql orders\nSELECT day, n FROM orders"),
            code("%%upload summary\norders"),
        ]
    )
    write_notebook(consumer, repo.root / "summary.ipynb")
    repo.write("load.schedule.toml", spec("load", "load.ipynb", cadence="0 7 * * *"))
    repo.write(
        "summary.schedule.toml",
        spec(
            "summary",
            "summary.ipynb",
            extra='\n[trigger]\ninputs = ["warehouse.orders"]\ntimeout = "6h"\n',
        ),
    )
    repo.commit()
    daemon = serve(at="2026-11-26T06:00:10Z")
    daemon.wait_for(
        "the summary to wait", lambda: [r["status"] for r in daemon.runs("summary")] == ["waiting"]
    )
    time.sleep(2)
    assert [r["status"] for r in daemon.runs("summary")] == ["waiting"], "no input yet"

    daemon.set_time("2026-11-26T07:00:10Z")
    summary = daemon.settled("summary")
    load = daemon.settled("load")
    assert summary[0]["status"] == "succeeded", summary
    assert summary[0]["started_at"] >= load[0]["finished_at"]
    assert repo.query("SELECT day, n FROM summary") == [("2026-11-26", 1)]


def running_job(repo: Repo, serve: Callable[..., Serve], seconds: int) -> Serve:
    """A daemon running a job that sleeps, then appends one row (a doubled run would add two)."""
    write_notebook(
        daily_notebook(
            body=f"import time\ntime.sleep({seconds})", upload="appended", mode="append"
        ),
        repo.root / "job.ipynb",
    )
    repo.write("job.schedule.toml", spec("job", "job.ipynb"))
    repo.commit()
    daemon = serve(at="2026-11-26T06:00:05Z")
    daemon.wait_for(
        "the run to start", lambda: [r["status"] for r in daemon.runs("job")] == ["running"]
    )
    return daemon


def test_a_killed_daemon_neither_loses_nor_doubles_a_run(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    first = running_job(repo, serve, seconds=6)
    assert first.handle is not None
    first.handle.popen.kill()  # SIGKILL: no chance to clean up
    first.handle.popen.wait()

    second = serve()
    runs = second.settled("job")
    assert [(r["status"], r["attempt"]) for r in runs] == [("succeeded", 1)], second.stderr()
    assert "still going" in second.stderr()
    assert repo.query("SELECT count(*) FROM appended") == [(1,)]


def test_a_first_stop_signal_waits_for_the_run_and_a_second_leaves_it_to_the_next_daemon(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    first = running_job(repo, serve, seconds=8)
    assert first.handle is not None
    first.handle.popen.send_signal(signal.SIGTERM)
    time.sleep(1.5)
    assert first.handle.popen.poll() is None, "the first signal waits for the run"
    assert "waiting for 1 running" in first.stderr()
    first.handle.popen.send_signal(signal.SIGTERM)
    assert first.handle.popen.wait(timeout=WAIT) == 0
    assert "the next daemon adopts them" in first.stderr()

    second = serve()
    runs = second.settled("job")
    assert [(r["status"], r["attempt"]) for r in runs] == [("succeeded", 1)], second.stderr()
    assert repo.query("SELECT count(*) FROM appended") == [(1,)]


def test_a_run_whose_runner_died_with_the_daemon_is_retried_once(
    repo: Repo, serve: Callable[..., Serve]
) -> None:
    first = running_job(repo, serve, seconds=10)
    assert first.handle is not None
    # The whole process group dies at once, as in a machine crash: daemon, runner, kernel.
    os.killpg(first.handle.popen.pid, signal.SIGKILL)
    first.handle.popen.wait()
    time.sleep(1)

    second = serve()
    runs = second.settled("job", count=2)
    assert [(r["status"], r["attempt"], r["trigger"]) for r in runs] == [
        ("succeeded", 2, "recovery"),
        ("interrupted", 1, "cron"),
    ], second.stderr()
    assert repo.query("SELECT count(*) FROM appended") == [(1,)]


def test_one_daemon_per_repository_and_a_missing_branch(
    runner: Runner, repo: Repo, serve: Callable[..., Serve]
) -> None:
    repo.write("README.md", "x")
    repo.commit()
    daemon = serve()
    daemon.wait_for("the state", lambda: daemon.cli("schedule", "list").returncode == 0)
    second = runner.run_raw(["serve", "--repo", str(repo.root)], timeout=30)
    assert second.returncode == EXIT_USAGE
    assert "another `runner serve` is using" in second.stderr
    other = runner.run_raw(["serve", "--repo", str(repo.root), "--branch", "nope"], timeout=30)
    assert other.returncode == EXIT_USAGE
    assert "another" in other.stderr or "the branch `nope` does not exist" in other.stderr


def test_old_records_are_deleted_and_their_runs_kept(
    repo: Repo, serve: Callable[..., Serve], tmp_path: Path
) -> None:
    write_notebook(daily_notebook(), repo.root / "report.ipynb")
    repo.write("report.schedule.toml", spec("daily", "report.ipynb"))
    repo.commit()
    daemon = serve("--keep-days", "30", at="2026-11-26T06:00:05Z")
    runs = daemon.settled("daily")
    record = Path(runs[0]["record_dir"])
    assert record.is_dir()
    daemon.stop()
    (tmp_path / "clock").write_text("2027-01-10T05:00:00Z")
    later = serve("--keep-days", "30")
    later.wait_for("the record to be deleted", lambda: not record.exists())
    kept = {r["id"]: r for r in later.runs("daily")}
    assert kept[runs[0]["id"]]["record_pruned"] is True


def test_ready_answers_for_a_partition_or_an_upload_since(runner: Runner, tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        db.execute("CREATE TABLE orders (day TEXT, n INTEGER)")
        db.execute("INSERT INTO orders VALUES ('2026-11-25', 1)")
    write_notebook(daily_notebook(upload="orders"), tmp_path / "load.ipynb")
    spec_file = tmp_path / "report.schedule.toml"
    spec_file.write_text(
        spec(
            "report",
            "load.ipynb",
            extra='\n[trigger]\ninputs = ["warehouse.orders"]\npartition = "day"\n',
            start="2099-01-01",
        )
    )

    def ready(day: str, *since: str) -> Any:
        return runner.run_raw(["schedule", "ready", str(spec_file), "--logical-date", day, *since])

    assert ready("2026-11-25").returncode == 0
    waiting = ready("2026-11-26")
    assert waiting.returncode == 1, waiting.describe()
    assert (
        "warehouse.orders: no rows with day = 2026-11-26, and never uploaded by Tiffin"
        in waiting.stdout
    )

    before = "2026-01-01T00:00:00Z"
    loaded = runner.run(tmp_path / "load.ipynb", "-r", "run_date", "2026-11-20")
    assert loaded.returncode == 0, loaded.describe()
    # An upload counts for any day when no --since bounds it, and only after --since otherwise.
    assert ready("2026-11-26").returncode == 0
    assert ready("2026-11-26", "--since", before).returncode == 0
    assert ready("2026-11-26", "--since", "2099-01-01T00:00:00Z").returncode == 1


def test_exec_of_a_copy_finds_the_originals_settings_and_is_named_after_it(
    runner: Runner, tmp_path: Path
) -> None:
    home, elsewhere = tmp_path / "project", tmp_path / "records"
    home.mkdir()
    elsewhere.mkdir()
    (home / "tiffin.toml").write_text('[sources.warehouse]\ntype = "sqlite"\npath = "data/wh.db"\n')
    (home / "data").mkdir()
    write_notebook(daily_notebook(), home / "report.ipynb")
    copy = elsewhere / "notebook.ipynb"
    copy.write_bytes((home / "report.ipynb").read_bytes())
    manifest = elsewhere / "manifest.json"
    result = runner.run(
        copy, "--copy-of", str(home / "report.ipynb"), "--manifest", str(manifest),
        "-r", "run_date", "2026-11-26",
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    with sqlite3.connect(home / "data" / "wh.db") as db:
        assert db.execute("SELECT day FROM daily").fetchall() == [("2026-11-26",)]
    assert not (elsewhere / "warehouse.db").exists()
    recorded = json.loads(manifest.read_text())
    assert recorded["notebook"]["path"] == str(home / "report.ipynb")


def test_the_run_dir_of_a_killed_runner_is_removed_by_the_next_run(
    runner: Runner, tmp_path: Path
) -> None:
    # As a SIGKILLed runner leaves it: its lock file, nobody holding the lock, a minute old.
    stale = Path("/tmp") / f"tiffin-{uuid.uuid4().hex[:10]}"
    (stale / "ipc").mkdir(parents=True)
    (stale / "lock").write_text("")
    an_hour_ago = time.time() - 3600
    os.utime(stale / "lock", (an_hour_ago, an_hour_ago))
    try:
        nb = tmp_path / "n.ipynb"
        write_notebook(make_notebook([code("1 + 1")]), nb)
        result = runner.run(nb)
        assert result.returncode == 0, result.describe()
        assert not stale.exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
