"""`runner schedule show`: a schedule spec checked field by field, every problem with its line, and
the next run times computed in the schedule's time zone."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Runner

EXIT_USAGE = 2

SPEC = """name = "daily-sales"
notebook = "report.ipynb"
owner = "ana@example.com"
purpose = "reporting"
cadence = "30 1 * * *"
timezone = "Europe/London"
start_date = 2099-03-28

[parameters]
run_date = "{{ ds }}"
yesterday = "{{ ds_add(ds, -1) }}"
top = 10

[trigger]
inputs = ["warehouse.orders"]
partition = "day"
timeout = "2h"

[[notify]]
webhook = "https://hooks.example.com/T0"
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "report.ipynb").write_text("{}")
    spec = tmp_path / "report.schedule.toml"
    spec.write_text(text)
    return spec


def test_a_valid_spec_is_shown_with_its_next_runs(runner: Runner, tmp_path: Path) -> None:
    spec = write(tmp_path, SPEC)
    result = runner.run_raw(["schedule", "show", str(spec), "--json"])
    assert result.returncode == 0, result.describe()
    shown = json.loads(result.stdout)
    assert (shown["name"], shown["cron"], shown["timezone"]) == (
        "daily-sales",
        "30 1 * * *",
        "Europe/London",
    )
    # 2099-03-29 is the spring-forward day in London: 01:30 does not exist that night, so that run
    # comes at the first minute after the jump (as Vixie cron does); the others keep 01:30 local.
    assert shown["next_runs"] == [
        "2099-03-28T01:30:00+00:00",
        "2099-03-29T02:00:00+01:00",
        "2099-03-30T01:30:00+01:00",
    ]
    assert shown["first_run_parameters"] == {
        "run_date": "2099-03-28",
        "yesterday": "2099-03-27",
        "top": 10,
    }
    assert shown["trigger"] == {
        "inputs": ["warehouse.orders"],
        "partition": "day",
        "timeout_seconds": 7200,
    }
    assert shown["notify"][0]["on"] == ["failure"]

    human = runner.run_raw(["schedule", "show", str(spec)])
    assert human.returncode == 0, human.describe()
    assert human.stdout.splitlines()[:2] == [
        "daily-sales: report.ipynb (owner ana@example.com, purpose reporting)",
        "cadence: 30 1 * * * in Europe/London, from 2099-03-28",
    ]


def test_every_problem_is_reported_with_its_line(runner: Runner, tmp_path: Path) -> None:
    bad = (
        SPEC.replace('"30 1 * * *"', '"30 25 * * *"')
        .replace("Europe/London", "Europe/Londres")
        .replace("{{ ds }}", "{{ today }}")
        .replace('"2h"', '"two hours"')
    )
    spec = write(tmp_path, bad)
    result = runner.run_raw(["schedule", "show", str(spec)])
    assert result.returncode == EXIT_USAGE, result.describe()
    lines = result.stderr.splitlines()
    assert [line.split(":")[1] for line in lines] == ["5", "6", "10", "17"], result.stderr
    assert lines[0].startswith(f"{spec}:5:11: `cadence`: `30 25 * * *`")
    assert "`timezone`: `Europe/Londres` is not an IANA time zone" in lines[1]
    assert "unknown macro `{{ today }}`" in lines[2]
    assert "`trigger.timeout`: `two hours` is not a duration" in lines[3]
    assert result.stdout == ""


def test_a_toml_syntax_error_names_its_line(runner: Runner, tmp_path: Path) -> None:
    spec = write(tmp_path, SPEC.replace('purpose = "reporting"', "purpose = reporting"))
    result = runner.run_raw(["schedule", "show", str(spec)])
    assert result.returncode == EXIT_USAGE, result.describe()
    assert result.stderr.startswith(f"{spec}:4:"), result.stderr
