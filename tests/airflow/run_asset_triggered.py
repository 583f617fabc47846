"""Runs, in the Airflow venv, the Asset-triggered run of a DAG the way Airflow's scheduler makes
it, without a scheduler daemon, an API server and an executor:

1. asks `DagModel.dags_needing_dagruns` (the scheduler's own query) which DAGs are due because of
   queued Asset events; `DAG_ID` must be one of them, unless `--expect-none` (then it must not be,
   and nothing else happens);
2. creates its run with the scheduler's own `_create_dag_runs_asset_triggered` (a run of type
   `asset_triggered` holding the Asset events it consumed) and starts it with
   `_start_queued_dagruns`;
3. runs that run's tasks in this process as `airflow dags test` runs a DAG's tasks (the loop of
   `DAG.test`: `update_state`, then `_run_task` for each scheduled task instance).

Prints one line `RESULT <JSON>` (Airflow logs to stdout too): the run's id, type, state and the
consumed events' Asset names.

    python run_asset_triggered.py DAG_ID [--expect-none]
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _text(value: object) -> str:
    """An Airflow enum's value (the model holds some as plain strings)."""
    return str(getattr(value, "value", value))


def main(dag_id: str, expect_none: bool) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from airflow.utils.types import DagRunType
    from sqlalchemy import select

    with create_session() as session:
        query, triggered = DagModel.dags_needing_dagruns(session)
        due = [model for model in query.all() if model.dag_id in triggered]
        session.commit()
        if expect_none:
            return {"due": [model.dag_id for model in due]}
        models = [model for model in due if model.dag_id == dag_id]
        if not models:
            raise SystemExit(f"{dag_id} is not due: no queued Asset event triggers it")
        scheduler = SchedulerJobRunner(job=Job())
        scheduler._create_dag_runs_asset_triggered(dag_models=models, session=session)
        session.commit()
        scheduler._start_queued_dagruns(session)
        session.commit()
        [run] = session.scalars(
            select(DagRun).where(
                DagRun.dag_id == dag_id, DagRun.run_type == DagRunType.ASSET_TRIGGERED
            )
        ).all()
        consumed = sorted(event.asset.name for event in run.consumed_asset_events)

        dag = DagBag().get_dag(dag_id)
        assert dag is not None, f"{dag_id} is not in the DAG folder"
        run.dag = scheduler._get_current_dag(dag_id=dag_id, session=session)
        while run.state == DagRunState.RUNNING:
            session.expire_all()
            schedulable, _ = run.update_state(session=session)
            for ti in schedulable:
                ti.try_number += 1
                ti.state = TaskInstanceState.SCHEDULED
            session.commit()
            for ti in run.get_task_instances(session=session):
                if ti.state == TaskInstanceState.SCHEDULED:
                    try:
                        _run_task(ti=ti, task=dag.task_dict[ti.task_id])
                    except Exception as error:  # as DAG.test: the task's state says it
                        print(f"task {ti.task_id} failed: {error}", file=sys.stderr)
        return {
            "run_id": run.run_id,
            "run_type": _text(run.run_type),
            "state": _text(run.state),
            "logical_date": None if run.logical_date is None else run.logical_date.isoformat(),
            "consumed": consumed,
        }


if __name__ == "__main__":
    print("RESULT " + json.dumps(main(sys.argv[1], "--expect-none" in sys.argv[2:])))
