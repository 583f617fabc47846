"""Airflow DAG of the Tiffin schedule `daily-sales`.

Generated from reports/daily_sales.schedule.toml; do not edit.
Change the spec, then regenerate with `runner schedule preview SPEC`
(`runner schedule submit SPEC` commits it).

Notebook: reports/daily_sales.ipynb
Owner: ana@example.com
Purpose: reporting
"""

from __future__ import annotations

import os
import shlex
from datetime import timedelta

import pendulum
from airflow.providers.standard.sensors.bash import BashSensor
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable
from tiffin.airflow import TiffinFailureNotifier, TiffinNotebookOperator

# This file is dags/daily-sales.py in the repository: the commands run from the repository's root.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IN_REPO = "cd " + shlex.quote(REPO_ROOT) + " && "
SPEC = "reports/daily_sales.schedule.toml"

with DAG(
    dag_id="daily-sales",
    schedule=CronTriggerTimetable("30 6 * * 1-5", timezone="Europe/London"),
    start_date=pendulum.datetime(2099, 3, 2, tz="Europe/London"),
    catchup=False,
    default_args={
        "owner": "ana@example.com",
        "retries": 2,
        "retry_delay": timedelta(seconds=600),
        "execution_timeout": timedelta(seconds=5400),
        "on_failure_callback": TiffinFailureNotifier(REPO_ROOT, SPEC, timezone="Europe/London"),
    },
    tags=["tiffin"],
):
    wait_for_inputs = BashSensor(
        task_id="wait_for_inputs",
        bash_command=(
            IN_REPO + "runner schedule ready reports/daily_sales.schedule.toml"
            " --logical-date '{{ logical_date.in_timezone(\"Europe/London\") | ds }}'"
            " {% if prev_start_date_success %}--since {{ prev_start_date_success.isoformat() }}{% endif %}"
        ),
        retry_exit_code=1,
        poke_interval=300,
        timeout=7200,
        mode="reschedule",
    )
    run_notebook = TiffinNotebookOperator(
        task_id="run_notebook",
        repo=REPO_ROOT,
        notebook="reports/daily_sales.ipynb",
        arguments=[
            "-r", "dash", "-v",
            "-p", "dry", "False",
            "-r", "jinja", "{{ \"{% raw %} and {# comment #}\" }}",
            "-r", "path", "out/day={{ logical_date.in_timezone(\"Europe/London\") | ds_nodash }}/it's \"quoted\" $(rm -rf ~) `id` \\ é",
            "-p", "ratio", "0.5",
            "-r", "run_date", "{{ logical_date.in_timezone(\"Europe/London\") | ds }}",
            "-r", "stamp", "{{ logical_date.in_timezone(\"Europe/London\") | ts }}",
            "-p", "top", "10",
            "-r", "yesterday", "{{ macros.ds_add(logical_date.in_timezone(\"Europe/London\") | ds, -1) }}",
            "--purpose", "reporting",
            "--timeout", "5400",
            "--cell-timeout", "600",
            "--memory", "2G",
        ],
    )

    wait_for_inputs >> run_notebook
