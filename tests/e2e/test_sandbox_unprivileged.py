"""The sandbox when the runner is an ordinary user (unprivileged user namespaces): the kernel is
mapped to the user's own ids, and without a writable cgroup the run needs --sandbox-weaker-ok.

The suite's own venv links to a Python that an ordinary user may not be able to reach (here it
lives under /root), so this module builds a kernel env from the system's Python in a directory
every user can read, and runs the runner as `nobody` through setpriv."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from conftest import code, make_notebook, runner_binary_path, write_notebook

NOBODY = 65534
SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.fixture(scope="module")
def shared_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not SYSTEM_PYTHON.exists() or shutil.which("setpriv") is None:
        pytest.skip("needs /usr/bin/python3 and setpriv (util-linux) to run as an ordinary user")
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root; an ordinary user runs the main suite")
    base = tmp_path_factory.mktemp("unprivileged")
    for parent in [base, *base.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o711)
    base.chmod(0o777)
    venv = base / "venv"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "ipykernel"],
        check=True,
        timeout=600,
    )
    subprocess.run(["chmod", "-R", "a+rX", str(venv)], check=True)
    return base


def run_as_nobody(base: Path, *args: str) -> subprocess.CompletedProcess[str]:
    venv = base / "venv"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "VIRTUAL_ENV": str(venv),
        "HOME": str(base),
        "JUPYTER_DATA_DIR": str(base / "jupyter"),
    }
    command = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    command += [str(runner_binary_path()), "exec", *args, "--no-progress"]
    return subprocess.run(
        command, env=env, cwd=base, capture_output=True, text=True, timeout=120, check=False
    )


PROBE = """
import json, os, socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", 9))
    tcp = "connected"
except OSError as e:
    tcp = type(e).__name__
open("/work/out/result.txt", "w").write("ok")
print(json.dumps({"ids": [os.getuid(), os.getgid()], "cwd": os.getcwd(), "tcp": tcp,
                  "host": socket.gethostname(), "caps": open("/proc/self/status").read()
                  .split("CapEff:")[1].split()[0]}))
"""


def test_an_ordinary_user_needs_consent_without_cgroups(shared_dir: Path) -> None:
    nb = write_notebook(make_notebook([code("1 + 1")]), shared_dir / "plain.ipynb")
    nb.chmod(0o644)
    run = run_as_nobody(shared_dir, str(nb), "-o", str(shared_dir / "plain.out.ipynb"))
    assert run.returncode == 2, run.stderr
    assert "cgroup" in run.stderr
    assert "--sandbox-weaker-ok" in run.stderr


def test_an_ordinary_user_runs_sandboxed(shared_dir: Path) -> None:
    nb = write_notebook(make_notebook([code(PROBE)]), shared_dir / "probe.ipynb")
    nb.chmod(0o644)
    out, collected = shared_dir / "probe.out.ipynb", shared_dir / "collected"
    run = run_as_nobody(
        shared_dir, str(nb), "-o", str(out), "--sandbox-weaker-ok", "--outputs", str(collected)
    )
    assert run.returncode == 0, run.stderr
    assert "running without cgroup" in run.stderr
    executed = nbformat.read(str(out), as_version=4)
    layers = executed.metadata["tiffin"]["sandbox"]
    assert layers["enforced"] is True
    assert layers["layers"]["cgroup"] is None
    seen = json.loads(executed.cells[0].outputs[0]["text"].strip().splitlines()[-1])
    assert seen["ids"] == [1000, 1000]
    assert seen["cwd"] == "/work"
    assert seen["host"] == "tiffin-sandbox"
    assert seen["tcp"] == "PermissionError", "Landlock denies TCP connect"
    assert int(seen["caps"], 16) == 0
    assert (collected / "result.txt").read_text() == "ok"
    # The kernel ran as the user's own host id: its files belong to nobody, not to root.
    assert (collected / "result.txt").stat().st_uid == NOBODY
