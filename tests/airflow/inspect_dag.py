"""Prints, in the Airflow venv, what Airflow itself makes of a DAG in its DAG folder (the parsed
DAG, not the file's text): `RESULT <JSON>` with its timetable, start date, catch-up, failure
callback and, per task, its type, upstream tasks, retries, delays, time-out and outlet Assets.

    python inspect_dag.py DAG_ID
"""

from __future__ import annotations

import json
import sys
from typing import Any


def seconds(delta: Any) -> int | None:
    return None if delta is None else int(delta.total_seconds())


def main(dag_id: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag()
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"no DAG {dag_id}"
    timetable = dag.timetable
    # Airflow keeps a task's callbacks as a list.
    callbacks = {
        tuple(type(callback).__name__ for callback in task.on_failure_callback or [])
        for task in dag.tasks
    }
    [callback] = callbacks
    return {
        "timetable": {
            "cron": getattr(timetable, "_expression", None),
            "timezone": str(getattr(timetable, "_timezone", None)),
        },
        "start_date": dag.start_date.isoformat() if dag.start_date else None,
        "catchup": dag.catchup,
        "on_failure_callback": list(callback),
        "tasks": {
            task.task_id: {
                "type": task.task_type,
                "upstream": sorted(task.upstream_task_ids),
                "retries": task.retries,
                "retry_delay": seconds(task.retry_delay),
                "execution_timeout": seconds(task.execution_timeout),
                "outlets": [[asset.name, asset.uri] for asset in task.outlets],
            }
            for task in dag.tasks
        },
    }


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1])))
