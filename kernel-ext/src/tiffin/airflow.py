"""Tiffin on Apache Airflow 3: the operator the generated DAGs use, and their failure callback.

`TiffinNotebookOperator` runs `runner exec` on the worker (in the sandbox, as `runner serve`
does), streams the runner's output into the task log, pushes the run manifest's summary (status,
rows in and out, lineage) to XCom under `manifest`, and fails the task with the notebook's error.
`TiffinFailureNotifier` is the DAG's `on_failure_callback`: it has `runner schedule notify` send
the spec's `[[notify]]` targets the notice `runner serve` would send, from the failed try's
manifest and executed notebook.

Each try keeps its record (`manifest.json`, `executed.ipynb`) in
`<records>/<dag_id>/<run_id>/<task_id>/try-<n>/`; `records` defaults to `$TIFFIN_AIRFLOW_RECORDS`,
else `$XDG_STATE_HOME/tiffin/airflow` (`~/.local/state/tiffin/airflow`).

Needs Airflow 3 (`airflow.sdk`) on the worker; the rest of the `tiffin` package does not."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from .magics import find_runner

# `runner exec` exit codes (README "exec options") the operator treats differently.
EXIT_POLICY_REFUSED = 7
# A run the purpose policy refused is not tried again (as in `runner serve`).
NOT_RETRIED = frozenset({EXIT_POLICY_REFUSED})

log = logging.getLogger(__name__)


def default_records() -> Path:
    configured = os.environ.get("TIFFIN_AIRFLOW_RECORDS")
    if configured:
        return Path(configured)
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "tiffin" / "airflow"


def _safe(part: str) -> str:
    """A path component from an Airflow id (run ids hold `:` and `+`, and could hold `/`)."""
    return re.sub(r"[^A-Za-z0-9._+=:@-]", "_", part) or "_"


def record_dir(records: Path, context: Mapping[str, Any]) -> Path:
    """Where the try of the task instance in `context` keeps its manifest and notebook."""
    ti = context["ti"]
    return (
        records
        / _safe(str(ti.dag_id))
        / _safe(str(ti.run_id))
        / _safe(str(ti.task_id))
        / f"try-{int(ti.try_number)}"
    )


def manifest_summary(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """What goes to XCom: the run's status and message, rows read per input table and written per
    output table, and the lineage (tables read and written); the full manifest stays on disk."""
    inputs = [
        {
            "name": item.get("name"),
            "source": item.get("source"),
            "rows": (item.get("fetch") or {}).get("rows"),
        }
        for item in manifest.get("inputs", [])
    ]
    outputs = []
    for item in manifest.get("outputs", []):
        upload = item.get("upload") or {}
        outputs.append(
            {
                "table": f"{item.get('source')}.{item.get('table')}",
                "mode": item.get("mode"),
                "rows": upload.get("rows"),
            }
        )
    reads = sorted(
        {
            str(table.get("table"))
            for item in manifest.get("inputs", [])
            for table in item.get("tables", [])
        }
    )
    return {
        "run_id": manifest.get("run_id"),
        "status": manifest.get("status"),
        "message": manifest.get("message"),
        "seconds": manifest.get("seconds"),
        "inputs": inputs,
        "outputs": outputs,
        "lineage": {"reads": reads, "writes": [o["table"] for o in outputs]},
    }


class TiffinNotebookOperator(BaseOperator):
    """`runner exec NOTEBOOK ARGUMENTS...` from the repository's root `repo`. `arguments` are
    rendered by Airflow (the generated DAG writes the spec's date macros as Airflow's); the
    operator adds `--log-output`, `--manifest`, `--run-id` and `-o`. The runner is `runner`
    (`TIFFIN_RUNNER`, else `runner` on PATH)."""

    template_fields: ClassVar[Sequence[str]] = ("arguments",)
    # No argument is a template file's name (Airflow would read `*.sh`-like values as files).
    template_ext: ClassVar[Sequence[str]] = ()
    ui_color: ClassVar[str] = "#f4e3c1"

    def __init__(
        self,
        *,
        task_id: str,
        repo: str,
        notebook: str,
        arguments: Sequence[str] = (),
        runner: str | None = None,
        records: str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(task_id=task_id, **kwargs)
        self.repo = repo
        self.notebook = notebook
        self.arguments = list(arguments)
        self.runner = runner
        self.records = records
        self._process: subprocess.Popen[str] | None = None

    def execute(self, context: Mapping[str, Any]) -> None:
        record = record_dir(Path(self.records) if self.records else default_records(), context)
        record.mkdir(parents=True, exist_ok=True)
        manifest_file = record / "manifest.json"
        runner = self.runner or str(find_runner()[0])
        argv = [
            runner,
            "exec",
            self.notebook,
            *self.arguments,
            "--log-output",
            "--manifest",
            str(manifest_file),
            "--run-id",
            str(uuid.uuid4()),
            "-o",
            str(record / "executed.ipynb"),
        ]
        self.log.info("Running in %s: %s", self.repo, shlex.join(argv))
        code = self._run(argv)
        summary = None
        if manifest_file.is_file():
            summary = manifest_summary(json.loads(manifest_file.read_text(encoding="utf-8")))
            context["ti"].xcom_push(key="manifest", value=summary)
        self.log.info("runner exec exited with %d; record: %s", code, record)
        if code == 0:
            return
        message = (summary or {}).get("message") or f"runner exec exited with code {code}"
        if code in NOT_RETRIED:
            raise AirflowFailException(message)
        raise AirflowException(message)

    def _run(self, argv: list[str]) -> int:
        """Runs the runner, each line of its output a line of the task log; a task that is
        stopped (time-out, kill) stops the runner, which ends its kernel."""
        with subprocess.Popen(
            argv,
            cwd=self.repo,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            self._process = process
            try:
                assert process.stdout is not None
                for line in process.stdout:
                    self.log.info("%s", line.rstrip("\n"))
                return process.wait()
            except BaseException:
                self.on_kill()
                raise
            finally:
                self._process = None

    def on_kill(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # the runner ends the kernel's process group on SIGTERM
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class TiffinFailureNotifier:
    """`on_failure_callback`: `runner schedule notify SPEC` for the failed try, with its manifest
    when the notebook ran (failing cell, traceback), else with the task's error (a sensor whose
    inputs never came). Airflow calls it once no retry follows, as `runner serve` notifies. A
    notice that cannot be sent is logged, never raised: the task's own failure stays the story."""

    def __init__(
        self,
        repo: str,
        spec: str,
        *,
        timezone: str = "UTC",
        runner: str | None = None,
        records: str | None = None,
    ) -> None:
        self.repo = repo
        self.spec = spec
        self.timezone = timezone
        self.runner = runner
        self.records = records

    def command(self, context: Mapping[str, Any]) -> list[str]:
        ti = context["ti"]
        runner = self.runner or str(find_runner()[0])
        argv = [
            runner,
            "schedule",
            "notify",
            self.spec,
            "--logical-date",
            self.logical_date(context),
            "--attempt",
            str(int(ti.try_number)),
        ]
        records = Path(self.records) if self.records else default_records()
        manifest = record_dir(records, context) / "manifest.json"
        if manifest.is_file():
            return [*argv, "--manifest", str(manifest)]
        error = context.get("exception")
        message = f"task {ti.task_id} failed" + (f": {error}" if error else "")
        return [*argv, "--run-id", f"{ti.dag_id}/{ti.run_id}/{ti.task_id}", "--message", message]

    def logical_date(self, context: Mapping[str, Any]) -> str:
        """The run's time in the schedule's zone, as `runner serve` names it (an Asset-triggered
        run has no logical date: when it was triggered)."""
        when: datetime = context.get("logical_date") or context["dag_run"].run_after
        return when.astimezone(ZoneInfo(self.timezone)).strftime("%Y-%m-%dT%H:%M")

    def __call__(self, context: Mapping[str, Any]) -> None:
        try:
            argv = self.command(context)
            done = subprocess.run(
                argv, cwd=self.repo, capture_output=True, text=True, check=False, timeout=300
            )
        except Exception as error:  # a callback must not raise
            log.error("Tiffin: the failure notice was not sent: %s", error)
            return
        for line in (done.stdout + done.stderr).splitlines():
            log.info("Tiffin notice: %s", line)
        if done.returncode != 0:
            log.error("Tiffin: runner schedule notify exited with %d", done.returncode)
