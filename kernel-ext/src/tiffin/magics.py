"""The `%%sql`, `%%upload` and `%tiffin` magics. They move no data themselves: each data cell goes
to `runner cell`, the runner's one-cell command, and the Python it returns (the very code
`runner exec` runs for the cell in a scheduled run) is executed in the user's namespace."""

from __future__ import annotations

import atexit
import json
import linecache
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from .params import collect_parameters

WRITE_HINT = "`%tiffin write on` and re-run the cell to write"


class TiffinError(Exception):
    """A data cell the runner refused or could not move; the message is the runner's own."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def _render_traceback_(self) -> list[str]:
        # IPython shows these lines instead of a traceback through the extension's frames: the
        # cell fails with the runner's message, as the same cell fails a scheduled run.
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]


def find_runner() -> tuple[Path, str]:
    """The runner binary and where it was found: `TIFFIN_RUNNER`, else `runner` on PATH."""
    configured = os.environ.get("TIFFIN_RUNNER")
    if configured:
        path = Path(configured)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise TiffinError(f"TIFFIN_RUNNER={configured} is not an executable file")
        return path, "TIFFIN_RUNNER"
    found = shutil.which("runner")
    if found is None:
        raise TiffinError(
            "the Tiffin runner was not found: set TIFFIN_RUNNER to the `runner` binary "
            "(e.g. %env TIFFIN_RUNNER=/path/to/runner) or put it on PATH"
        )
    return Path(found), "PATH"


def upload_summary(report: dict[str, Any]) -> str:
    """One line saying what an upload wrote, in the words a scheduled run's notebook uses, or
    what it would write in a dry run."""
    target = f"{report['source']}.{report['table']}"
    partition = report.get("partition")
    how = str(report["mode"]) + (
        f", partition {json.dumps(partition, ensure_ascii=False)}" if partition is not None else ""
    )
    loaded = f"{report['rows']} rows into {target} ({how})"
    labels = report.get("labels") or []
    labelled = f" — labelled {', '.join(labels)}" if labels else ""
    if report.get("written"):
        verb = "created and loaded" if report.get("created") else "loaded"
        return f"{verb} {loaded}{labelled}"
    verb = "would create and load" if report.get("created") else "would load"
    return f"{verb} {loaded}{labelled} — dry run, nothing written; {WRITE_HINT}"


class Session:
    """One kernel's interactive state: the purpose, the write switch, the labels its fetches
    carried, and a private temporary directory for the cells' CSVs."""

    def __init__(self, shell: InteractiveShell) -> None:
        self.shell = shell
        self.purpose: str | None = None
        self.write = False
        self.labels: set[str] = set()
        self._dir: Path | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def data_dir(self) -> Path:
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="tiffin-"))
        return self._dir

    def close(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _runner(
        self, command: str, cell_text: str, out: Path, extra: Sequence[str]
    ) -> dict[str, Any]:
        """Runs `runner cell COMMAND` on the cell; returns its JSON report, or raises with the
        runner's message."""
        binary, _ = find_runner()
        args = [str(binary), "cell", command, "--dir", os.getcwd(), "--out", str(out)]
        if self.purpose is not None:
            args += ["--purpose", self.purpose]
        parameters = collect_parameters(cell_text, self.shell.user_ns)
        if parameters.values:
            # A file in the cell's private dir rather than argv, which other users can read
            # (the hyphen keeps it apart from any `<name>.csv`/`<name>.schema.json`).
            file = out / "tiffin-parameters.json"
            file.write_text(json.dumps(parameters.values), encoding="utf-8")
            args += ["-f", str(file)]
        args += extra
        proc = subprocess.run(
            args, input=cell_text, capture_output=True, text=True, encoding="utf-8", check=False
        )
        if proc.returncode != 0:
            message = proc.stderr.strip() or f"runner exited with code {proc.returncode}"
            hints = [
                f"(`{name}` holds {what}: a parameter is a str, int, float, bool, None or date)"
                for name, what in parameters.unusable.items()
                if f"parameter `{name}` has no value" in message
            ]
            hints += [
                f"(interactively, `:{name}` takes the value of the variable `{name}`: "
                "define it, e.g. by running the cell tagged `parameters`)"
                for name in parameters.undefined
                if f"parameter `{name}` has no value" in message
            ]
            raise TiffinError("\n".join([message, *hints]), proc.returncode) from None
        if proc.stderr:
            sys.stderr.write(proc.stderr)  # e.g. policy violations let through in log mode
        try:
            report = json.loads(proc.stdout)
        except ValueError:
            report = None
        if not isinstance(report, dict):
            raise TiffinError(f"unexpected output from {binary}: {proc.stdout[:500]!r}")
        return report

    def _exec(self, code: str, where: str) -> None:
        """Runs the runner's code for a cell in the user's namespace, as `runner exec` does."""
        __tracebackhide__ = True  # an error in the cell's code shows the cell's frames only
        namespace = self.shell.user_ns
        before = set(namespace)
        filename = f"<tiffin {where}>"
        # So that a traceback through the code (e.g. the upload's expression raising) shows it.
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        try:
            exec(compile(code, filename, "exec"), namespace)
        finally:
            # The generated code deletes its helpers; if it failed half-way, do it for it.
            for name in [n for n in namespace if n.startswith("_tiffin_") and n not in before]:
                del namespace[name]

    # -- the magics -------------------------------------------------------------------------

    def sql(self, line: str, cell: str) -> None:
        """%%sql NAME [--source S]: fetch the query's result through the runner into NAME."""
        __tracebackhide__ = True
        text = f"%%sql {line}\n{cell}"
        out = Path(tempfile.mkdtemp(dir=self.data_dir()))
        try:
            report = self._runner("sql", text, out, [])
            # The fetch happened: whatever is done with it now carries its labels.
            self.labels.update(report.get("labels") or [])
            self._exec(report["code"], f"%%sql {line.strip()}")
        finally:
            shutil.rmtree(out, ignore_errors=True)  # the DataFrame is in memory now

    def upload(self, line: str, cell: str) -> None:
        """%%upload TABLE [options]: preview (or, with `%tiffin write on`, commit) the load of the
        cell's DataFrame through the runner."""
        __tracebackhide__ = True
        text = f"%%upload {line}\n{cell}"
        inherit = [arg for label in sorted(self.labels) for arg in ("--inherit", label)]
        out = Path(tempfile.mkdtemp(dir=self.data_dir()))
        try:
            # The policy is checked here, before the cell's expression is even evaluated.
            plan = self._runner("upload", text, out, [*inherit, "--code"])
            self._exec(plan["code"], f"%%upload {line.strip()}")
            write = ["--write"] if self.write else []
            report = self._runner("upload", text, out, [*inherit, *write])
            print(upload_summary(report))
        finally:
            shutil.rmtree(out, ignore_errors=True)

    def tiffin(self, line: str) -> None:
        """%tiffin [status] | write on|off | purpose [P|--clear]"""
        words = line.split()
        if not words or words == ["status"]:
            self.print_status()
        elif words[0] == "write" and len(words) == 2 and words[1] in ("on", "off"):
            self.write = words[1] == "on"
            print(f"tiffin: {self.write_state()}")
        elif words == ["purpose"]:
            print(f"tiffin: purpose: {self.purpose_state()}")
        elif words[0] == "purpose" and len(words) == 2:
            self.purpose = None if words[1] == "--clear" else words[1]
            print(f"tiffin: purpose: {self.purpose_state()}")
        else:
            raise UsageError(
                "usage: %tiffin [status] | %tiffin write on|off | %tiffin purpose [PURPOSE|--clear]"
            )

    def write_state(self) -> str:
        if self.write:
            return "write on: %%upload cells commit their load"
        return "write off: %%upload cells are dry runs (loaded, then rolled back)"

    def purpose_state(self) -> str:
        if self.purpose is None:
            return "none (only unlabelled tables may be read)"
        return self.purpose

    def print_status(self) -> None:
        try:
            binary, origin = find_runner()
            runner = f"{binary} (from {origin})"
        except TiffinError as missing:
            runner = f"missing: {missing}"
        labels = ", ".join(sorted(self.labels)) or "none"
        print(
            "tiffin status\n"
            f"  purpose: {self.purpose_state()}\n"
            f"  {self.write_state()}\n"
            f"  runner: {runner}\n"
            f"  labels carried: {labels}\n"
            f"  data dir: {self._dir if self._dir is not None else '(none yet)'}"
        )


_session: Session | None = None


def load(shell: InteractiveShell) -> None:
    global _session
    if _session is not None:
        _session.close()
    _session = Session(shell)
    magics = shell.magics_manager
    magics.register_function(_session.sql, magic_kind="cell", magic_name="sql")
    magics.register_function(_session.upload, magic_kind="cell", magic_name="upload")
    magics.register_function(_session.tiffin, magic_kind="line", magic_name="tiffin")
    atexit.register(_session.close)


def unload(shell: InteractiveShell) -> None:
    global _session
    if _session is not None:
        _session.close()
        atexit.unregister(_session.close)
        _session = None
    magics = shell.magics_manager.magics
    for kind, name in (("cell", "sql"), ("cell", "upload"), ("line", "tiffin")):
        magics[kind].pop(name, None)
