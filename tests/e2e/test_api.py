"""The HTTP API of `runner serve`, on a real daemon and a real git repository: over its unix
socket (no token, mode 0600) and over loopback TCP with a bearer token. Schedules by notebook,
run now, a run's record (cells, traceback, log, executed notebook), live progress as server-sent
events, cancel and retry; and the refusals: bad tokens, paths leaving the repository, run ids
that are not UUIDs, malformed bodies, non-loopback addresses."""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from conftest import (
    REPO_ROOT,
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
FINAL = {"succeeded", "failed", "refused", "cancelled", "expired", "interrupted"}


def spec(name: str, notebook: str) -> str:
    # 06:00 daily while the daemon's clock stays at 05:00: only the API starts runs.
    return (
        f'name = "{name}"\nnotebook = "{notebook}"\nowner = "ana@example.com"\n'
        f'purpose = "reporting"\ncadence = "0 6 * * *"\ntimezone = "UTC"\n'
    )


def make_repo(root: Path) -> Path:
    """A repository whose main branch has three schedules: one that succeeds, one whose second
    cell raises, and a slow one (in a subdirectory)."""
    new_repo(root)
    notebooks = {
        "ok": ["x = 6 * 7", "print('the answer is', x)"],
        "bad": ["y = 1", "raise ValueError('no such customer')"],
        "jobs/slow": ["import time\ntime.sleep(120)"],
    }
    for path, sources in notebooks.items():
        notebook = root / f"{path}.ipynb"
        notebook.parent.mkdir(parents=True, exist_ok=True)
        write_notebook(make_notebook([code(source) for source in sources]), notebook)
        name = path.rsplit("/", 1)[-1]
        (root / f"{path}.schedule.toml").write_text(spec(name, f"{name}.ipynb"))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "schedules")
    return root


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self.socket_path))
        self.sock = sock


class Reply:
    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def json(self) -> Any:
        assert self.content_type.startswith("application/json"), (self.content_type, self.body)
        return json.loads(self.body)

    def error(self) -> str:
        """The text of a `{"error": ...}` answer (every error must have this shape)."""
        body = self.json()
        assert set(body) == {"error"}, body
        assert isinstance(body["error"], str), body
        return str(body["error"])


class Client:
    """Talks to the API over the unix socket, or over TCP with an optional token."""

    def __init__(
        self, *, socket_path: Path | None = None, port: int = 0, token: str | None = None
    ) -> None:
        self.socket_path, self.port, self.token = socket_path, port, token

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        if self.socket_path is not None:
            return UnixConnection(self.socket_path, timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token is not None else {}
        return {**headers, **(extra or {})}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=self.headers(headers))
            response = connection.getresponse()
            return Reply(response.status, response.getheader("Content-Type", ""), response.read())
        finally:
            connection.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: bytes | None = None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return self.request("POST", path, body, headers)

    def events(self, path: str, timeout: float = WAIT) -> list[tuple[str, str]]:
        """The (event, data) pairs of a server-sent event stream, read until the server ends it."""
        connection = self.connection(timeout)
        try:
            connection.request("GET", path, headers=self.headers())
            response = connection.getresponse()
            assert response.status == 200, response.read()
            assert response.getheader("Content-Type", "").startswith("text/event-stream")
            events: list[tuple[str, str]] = []
            name, data = "message", []
            for raw in response:
                line = raw.decode().rstrip("\n")
                if line == "":
                    if data:
                        events.append((name, "\n".join(data)))
                    name, data = "message", []
                elif line.startswith("event:"):
                    name = line[len("event:") :].strip()
                elif line.startswith("data:"):
                    data.append(line[len("data:") :].removeprefix(" "))
            return events
        finally:
            connection.close()


class Daemon:
    def __init__(self, handle: RunHandle, socket_path: Path) -> None:
        self.handle, self.socket_path = handle, socket_path
        self.api = Client(socket_path=socket_path)

    def stderr(self) -> str:
        return self.handle.stderr_path.read_text(errors="replace")

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = WAIT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.handle.popen.poll() is None, f"runner serve exited: {self.stderr()}"
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}\n{self.stderr()}")

    def ready(self) -> Daemon:
        def schedules_read() -> bool:
            try:
                reply = self.api.get("/api/v1/schedules")
            except OSError:
                return False
            return reply.status == 200 and len(reply.json()) == 3

        self.wait_for("the API and the schedules", schedules_read)
        return self

    def finished(self, run_id: str) -> dict[str, Any]:
        detail: dict[str, Any] = {}

        def done() -> bool:
            nonlocal detail
            detail = self.api.get(f"/api/v1/runs/{run_id}").json()
            return detail["run"]["status"] in FINAL

        self.wait_for(f"run {run_id} to finish", done)
        return detail

    def stop(self) -> int:
        if self.handle.popen.poll() is None:
            self.handle.popen.send_signal(signal.SIGTERM)
        return self.handle.popen.wait(timeout=WAIT)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    # Short names: a unix socket path has at most 107 bytes.
    return make_repo(tmp_path / "r")


@pytest.fixture
def serve(runner: Runner, repo: Path, tmp_path: Path) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []
    clock = tmp_path / "clock"
    clock.write_text("2026-11-26T05:00:00Z")

    def start(*options: str) -> Daemon:
        argv = ["serve", "--repo", str(repo), "--clock-file", str(clock), *options]
        daemon = Daemon(runner.start_raw(argv), repo / ".tiffin" / "serve" / "api.sock")
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        daemon.stop()


def test_schedules_runs_and_records_over_the_unix_socket(
    serve: Callable[..., Daemon], repo: Path
) -> None:
    daemon = serve().ready()
    api = daemon.api
    assert stat.S_IMODE(daemon.socket_path.stat().st_mode) == 0o600

    names = [s["name"] for s in api.get("/api/v1/schedules").json()]
    assert names == ["bad", "ok", "slow"]
    for given in ["ok.ipynb", "./ok.ipynb", "jobs/../ok.ipynb"]:
        found = api.get(f"/api/v1/schedules?notebook={given}").json()
        assert [s["name"] for s in found] == ["ok"], given
    assert [s["name"] for s in api.get("/api/v1/schedules?notebook=jobs/slow.ipynb").json()] == [
        "slow"
    ]
    assert api.get("/api/v1/schedules?notebook=missing.ipynb").json() == []
    ok = api.get("/api/v1/schedules/ok").json()
    assert (ok["notebook"], ok["spec"], ok["paused"], ok["problem"]) == (
        "ok.ipynb",
        "ok.schedule.toml",
        False,
        None,
    )
    assert ok["cadence"] == "0 6 * * *"
    assert ok["latest_run"] is None

    # Run now, followed live: the stream ends with the final status, after the run's log.
    reply = api.post("/api/v1/schedules/ok/run")
    assert reply.status == 202
    queued = reply.json()
    assert (queued["schedule"], queued["status"], queued["trigger"]) == ("ok", "queued", "manual")
    events = api.events(f"/api/v1/runs/{queued['id']}/events")
    statuses = [json.loads(data)["status"] for name, data in events if name == "status"]
    assert statuses[-1] == "succeeded", events
    assert statuses[0] in {"queued", "running"}, statuses
    assert "running" in statuses[:-1], statuses
    assert events[-1][0] == "status", "the final status is the last event"
    assert set(name for name, _ in events) <= {"status", "log"}

    detail = api.get(f"/api/v1/runs/{queued['id']}").json()
    assert detail["run"]["status"] == "succeeded"
    assert [(c["cell"], c["status"]) for c in detail["cells"]] == [
        (1, "completed"),
        (2, "completed"),
    ]
    assert all(isinstance(c["seconds"], float) for c in detail["cells"])
    assert detail["failing_cell"] is None
    assert detail["error"] is None
    assert detail["manifest"]["status"] == "completed"
    assert detail["inputs"] == []
    assert detail["outputs"] == []
    assert isinstance(detail["lineage"], list)

    log = api.get(f"/api/v1/runs/{queued['id']}/log")
    assert (log.status, log.content_type) == (200, "text/plain; charset=utf-8")
    notebook = api.get(f"/api/v1/runs/{queued['id']}/notebook").json()
    printed = notebook["cells"][1]["outputs"][0]
    assert "".join(printed["text"]) == "the answer is 42\n"

    runs = api.get("/api/v1/schedules/ok/runs?limit=5").json()
    assert [r["id"] for r in runs] == [queued["id"]]
    assert api.get("/api/v1/schedules/ok").json()["latest_run"]["status"] == "succeeded"

    # A failing run: its failing cell and the traceback from the executed notebook.
    failing = api.post("/api/v1/schedules/bad/run").json()
    detail = daemon.finished(failing["id"])
    assert detail["run"]["status"] == "failed"
    assert detail["failing_cell"] == 2 == detail["run"]["failing_cell"]
    assert [c["status"] for c in detail["cells"]][:2] == ["completed", "failed"]
    error = detail["error"]
    assert (error["ename"], error["evalue"]) == ("ValueError", "no such customer")
    assert any("no such customer" in line for line in error["traceback"])
    # A finished run's stream: its whole log, then its final status, at once.
    events = api.events(f"/api/v1/runs/{failing['id']}/events")
    log_text = api.get(f"/api/v1/runs/{failing['id']}/log").body.decode()
    assert "no such customer" in log_text
    assert [data for name, data in events if name == "log"] == log_text.splitlines()
    assert [name for name, _ in events if name == "status"] == ["status"]
    assert events[-1][0] == "status"
    assert json.loads(events[-1][1])["status"] == "failed"

    # Retry: a new attempt of the same logical time.
    retried = api.post(f"/api/v1/runs/{failing['id']}/retry")
    assert retried.status == 202
    again = retried.json()
    assert (again["attempt"], again["logical_time"], again["trigger"]) == (
        2,
        failing["logical_time"],
        "retry",
    )
    assert daemon.finished(again["id"])["run"]["status"] == "failed"

    assert api.get("/api/v1/openapi.json").json()["openapi"].startswith("3.1")

    assert daemon.stop() == 0
    assert not daemon.socket_path.exists(), "the socket is removed on exit"


def test_cancel_of_a_queued_and_of_a_running_run(serve: Callable[..., Daemon]) -> None:
    daemon = serve("--workers", "1").ready()
    api = daemon.api
    slow = api.post("/api/v1/schedules/slow/run").json()
    daemon.wait_for(
        "the slow run to start",
        lambda: api.get(f"/api/v1/runs/{slow['id']}").json()["run"]["status"] == "running",
    )
    waiting = api.post("/api/v1/schedules/ok/run").json()
    time.sleep(1.5)
    assert api.get(f"/api/v1/runs/{waiting['id']}").json()["run"]["status"] == "queued"
    # Nothing is in its record yet: a 404 that says so.
    for suffix in ["log", "notebook"]:
        reply = api.get(f"/api/v1/runs/{waiting['id']}/{suffix}")
        assert reply.status == 404, suffix
        assert "queued" in reply.error(), suffix

    assert api.post(f"/api/v1/runs/{slow['id']}/retry").status == 409, "a live run"
    cancelled = api.post(f"/api/v1/runs/{waiting['id']}/cancel")
    assert cancelled.status == 200
    assert (cancelled.json()["status"], cancelled.json()["cancel_requested"]) == ("cancelled", True)
    again = api.post(f"/api/v1/runs/{waiting['id']}/cancel")
    assert again.status == 409
    assert "cancelled" in again.error()

    stopping = api.post(f"/api/v1/runs/{slow['id']}/cancel").json()
    assert (stopping["status"], stopping["cancel_requested"]) == ("running", True)
    events = api.events(f"/api/v1/runs/{slow['id']}/events")
    assert json.loads(events[-1][1])["status"] == "cancelled"
    assert api.get(f"/api/v1/runs/{waiting['id']}").json()["run"]["started_at"] is None


def test_requests_that_leave_the_repository_or_are_malformed(
    serve: Callable[..., Daemon],
) -> None:
    api = serve().ready().api
    for notebook in [
        "../../etc/passwd",
        "..",
        "/etc/passwd",
        "%2Fetc%2Fpasswd",
        "ok.ipynb/../../x",
        "..%2F..%2Fetc%2Fpasswd",
    ]:
        reply = api.get(f"/api/v1/schedules?notebook={notebook}")
        assert reply.status == 400, notebook
        assert "repository" in reply.error() or "absolute" in reply.error()

    for bad_id in ["not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "..", "1234"]:
        for suffix in ["", "/log", "/notebook", "/events"]:
            reply = api.get(f"/api/v1/runs/{bad_id}{suffix}")
            assert reply.status == 400, (bad_id, suffix)
            assert "UUID" in reply.error()
        for action in ["cancel", "retry"]:
            assert api.post(f"/api/v1/runs/{bad_id}/{action}").status == 400, (bad_id, action)

    unknown = str(uuid.uuid4())
    for suffix in ["", "/log", "/notebook", "/events"]:
        reply = api.get(f"/api/v1/runs/{unknown}{suffix}")
        assert reply.status == 404, suffix
        assert unknown in reply.error(), suffix
    assert api.post(f"/api/v1/runs/{unknown}/cancel").status == 404
    assert api.post(f"/api/v1/runs/{unknown}/retry").status == 404
    for path in ["/api/v1/schedules/nope", "/api/v1/schedules/nope/runs"]:
        reply = api.get(path)
        assert reply.status == 404, path
        assert "nope" in reply.error(), path
    assert api.post("/api/v1/schedules/nope/run").status == 404
    assert api.get("/api/v1/nothing-here").status == 404
    assert api.get("/api/v1/nothing-here").error()
    for method, path in [("DELETE", "/api/v1/schedules/ok"), ("GET", "/api/v1/schedules/ok/run")]:
        reply = api.request(method, path)
        assert reply.status == 405, (method, path)
        assert "method" in reply.error()
    assert api.get("/api/v1/schedules/ok/runs?limit=lots").status == 400

    assert api.post("/api/v1/schedules/ok/pause", b'{"paused": true}').status == 200
    assert api.get("/api/v1/schedules/ok").json()["paused"] is True

    for body in [b"{", b"paused=true", b"", b"\xff\xfe"]:
        reply = api.post("/api/v1/schedules/ok/pause", body)
        assert reply.status == 400, body
        reply.error()
    for body in [b'{"paused": "yes"}', b"{}", b'{"paused": true, "path": "/etc"}', b"[]"]:
        reply = api.post("/api/v1/schedules/ok/pause", body)
        assert reply.status == 422, body
        reply.error()
    no_type = api.request("POST", "/api/v1/schedules/ok/pause", b'{"paused": false}')
    assert no_type.status == 400
    assert "Content-Type" in no_type.error()
    resumed = api.post("/api/v1/schedules/ok/pause", b'{"paused": false}')
    assert resumed.status == 200
    assert resumed.json()["paused"] is False
    assert api.post("/api/v1/schedules/nope/pause", b'{"paused": true}').status == 404


def test_tcp_listener_requires_the_token(serve: Callable[..., Daemon], tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    daemon = serve("--listen", "127.0.0.1:0", "--token-file", str(token_file)).ready()
    found = re.search(r"API on http://127\.0\.0\.1:(\d+)", daemon.stderr())
    assert found, daemon.stderr()
    port = int(found.group(1))

    authorized = Client(port=port, token=token)
    assert [s["name"] for s in authorized.get("/api/v1/schedules").json()] == ["bad", "ok", "slow"]
    for wrong in [None, "", token[:-1], token + "x", token.upper(), f"{token} {token}"]:
        client = Client(port=port, token=wrong)
        for method, path in [
            ("GET", "/api/v1/schedules"),
            ("GET", "/api/v1/openapi.json"),
            ("POST", "/api/v1/schedules/ok/run"),
            ("GET", "/api/v1/no-such-route"),
        ]:
            reply = client.request(method, path)
            assert reply.status == 401, (wrong, path)
            assert "token" in reply.error()
    basic = Client(port=port).request("GET", "/api/v1/schedules", headers={"Authorization": token})
    assert basic.status == 401
    assert authorized.get("/api/v1/schedules/ok/runs").json() == [], "nothing ran"
    # The unix socket needs no token.
    assert daemon.api.get("/api/v1/schedules/ok").status == 200


def test_listeners_refused_at_start_up(runner: Runner, repo: Path, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("secret\n")
    empty = tmp_path / "empty"
    empty.write_text("\n")
    serve = ["serve", "--repo", str(repo)]
    for options, said in [
        (["--listen", "0.0.0.0:8765", "--token-file", str(token_file)], "loopback"),
        (["--listen", "[::]:8765", "--token-file", str(token_file)], "loopback"),
        (["--listen", "192.0.2.1:8765", "--token-file", str(token_file)], "loopback"),
        (["--listen", "127.0.0.1:0"], "--token-file"),
        (["--listen", "127.0.0.1:0", "--token-file", str(empty)], "empty"),
        (["--listen", "127.0.0.1:0", "--token-file", str(tmp_path / "none")], "none"),
    ]:
        result = runner.run_raw([*serve, *options], timeout=30)
        assert result.returncode == EXIT_USAGE, (options, result.stderr)
        assert said in result.stderr, (options, result.stderr)

    # A file that is not a socket is never replaced.
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    result = runner.run_raw([*serve, "--socket", str(precious)], timeout=30)
    assert result.returncode == EXIT_USAGE
    assert "not a socket" in result.stderr
    assert precious.read_text() == "keep me"


def test_a_stale_socket_is_replaced(serve: Callable[..., Daemon], repo: Path) -> None:
    path = repo / ".tiffin" / "serve" / "api.sock"
    path.parent.mkdir(parents=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    daemon = serve().ready()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert daemon.stop() == 0
    assert not path.exists()


def test_jupyter_server_proxy_starts_the_api_on_its_unix_socket(
    runner: Runner, repo: Path, tmp_path: Path
) -> None:
    """kernel-ext's `jupyter_serverproxy_servers` entry: the server-process options it returns,
    and its command, run as jupyter-server-proxy runs it, serves the API on the given socket."""
    pyproject = tomllib.loads((REPO_ROOT / "kernel-ext" / "pyproject.toml").read_text())
    entry = pyproject["project"]["entry-points"]["jupyter_serverproxy_servers"]
    assert entry == {"tiffin-scheduler": "tiffin.server_proxy:setup_scheduler"}
    probe = (
        "import json, tiffin.server_proxy as proxy\n"
        "config = dict(proxy.setup_scheduler())\n"
        "config['command'] = config['command']()\n"
        "print(json.dumps(config))\n"
    )
    # The worktree's kernel-ext, not an installed copy.
    env = {**runner.env, "PYTHONPATH": str(REPO_ROOT / "kernel-ext" / "src")}
    env["TIFFIN_RUNNER"] = str(runner.binary)
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=repo, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    command = config.pop("command")
    assert config == {
        "unix_socket": True,
        "absolute_url": False,
        "timeout": 30,
        "launcher_entry": {"enabled": False},
    }
    assert command == [
        str(runner.binary),
        "serve",
        "--repo",
        str(repo),
        "--socket",
        "{unix_socket}",
    ]

    # Inside a Jupyter server, the directory it serves (here a subdirectory of the repository,
    # started from elsewhere) names the repository, not the server's working directory.
    in_server = (
        "import json, tiffin.server_proxy as proxy\n"
        "from jupyter_server.serverapp import ServerApp\n"
        f"ServerApp.instance().root_dir = {str(repo / 'jobs')!r}\n"
        "print(json.dumps(proxy.setup_scheduler()['command']()))\n"
    )
    served = subprocess.run(
        [sys.executable, "-c", in_server], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert served.returncode == 0, served.stderr
    assert json.loads(served.stdout)[2:4] == ["--repo", str(repo / "jobs")]

    # jupyter-server-proxy makes a private directory and substitutes the socket path.
    private = tmp_path / "jsp"
    private.mkdir(mode=0o700)
    socket_path = private / "sock"
    argv = [part.replace("{unix_socket}", str(socket_path)) for part in command[1:]]
    # From a subdirectory of the repository, the daemon serves the whole repository.
    argv[argv.index("--repo") + 1] = str(repo / "jobs")
    daemon = Daemon(runner.start_raw(argv), socket_path)
    try:
        daemon.ready()
        assert [s["name"] for s in daemon.api.get("/api/v1/schedules").json()] == [
            "bad",
            "ok",
            "slow",
        ]
    finally:
        assert daemon.stop() == 0
    assert not socket_path.exists()


def test_preview_and_submit_a_spec_of_the_repository(
    runner: Runner, serve: Callable[..., Daemon], repo: Path
) -> None:
    api = serve().ready().api
    reply = api.post("/api/v1/preview", json.dumps({"spec": "ok.schedule.toml"}).encode())
    assert reply.status == 200, reply.body
    preview = reply.json()
    cli = runner.run_raw(["schedule", "preview", str(repo / "ok.schedule.toml"), "--json"])
    assert cli.returncode == 0, cli.describe()
    assert preview["schedulable"] is True
    assert preview["dag"] == json.loads(cli.stdout)["dag"], "the API previews what the CLI does"

    for spec_path, status in [
        ("../ok.schedule.toml", 400),
        ("/etc/passwd", 400),
        ("ok.ipynb", 400),
        ("missing.schedule.toml", 404),
    ]:
        reply = api.post("/api/v1/preview", json.dumps({"spec": spec_path}).encode())
        assert reply.status == status, (spec_path, reply.body)
    assert api.post("/api/v1/preview", b"{not json").status == 400
    submissions = "/api/v1/submissions"
    assert api.post(submissions, json.dumps({"spec": 3}).encode()).status == 422
    assert (
        api.post(submissions, json.dumps({"spec": "ok.schedule.toml", "x": 1}).encode()).status
        == 422
    )
    assert api.post(submissions, json.dumps({"spec": "../ok.schedule.toml"}).encode()).status == 400

    started = api.post(submissions, json.dumps({"spec": "ok.schedule.toml"}).encode())
    assert started.status == 202, started.body
    job = started.json()
    assert (job["spec"], job["state"], job["status"], job["result"]) == (
        "ok.schedule.toml",
        "running",
        None,
        None,
    )
    # The trial run starts a sandboxed kernel: it is still running when a second one is asked.
    again = api.post(submissions, json.dumps({"spec": "ok.schedule.toml"}).encode())
    assert again.status == 409, again.body
    assert job["id"] in again.error()

    events = api.events(f"{submissions}/{job['id']}/events")
    names = [name for name, _ in events]
    assert names[-1] == "result", "the result ends the stream"
    phases = [json.loads(data)["phase"] for name, data in events if name == "phase"]
    assert phases == ["trial", "branch"], events
    log = [data for name, data in events if name == "log"]
    cells = [line for line in log if re.match(r"runner: cell \d/2 done", line)]
    assert [line.split()[2] for line in cells] == ["1/2", "2/2"], log
    assert names.index("log") > names.index("phase"), "the log follows the trial phase"
    finished = json.loads(events[-1][1])
    assert (finished["state"], finished["phase"], finished["status"]) == ("done", "done", 201)
    submission = finished["result"]
    assert submission["created"] is True
    assert submission["branch"] == "tiffin/ok"
    branch = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "refs/heads/tiffin/ok"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert branch.stdout.strip() == submission["commit"]
    assert api.get(f"{submissions}/{job['id']}").json() == finished
    replay = api.events(f"{submissions}/{job['id']}/events")
    assert [data for name, data in replay if name == "log"] == log, (
        "a late reader gets the whole log"
    )

    failed_job = api.post(submissions, json.dumps({"spec": "bad.schedule.toml"}).encode()).json()
    failed_events = api.events(f"{submissions}/{failed_job['id']}/events")
    failed = json.loads(failed_events[-1][1])
    assert (failed["state"], failed["status"]) == ("done", 422), failed
    assert failed["result"]["created"] is False
    assert "no such customer" in failed["result"]["error"]
    assert any("cell 1/2 done" in data for name, data in failed_events if name == "log")
    no_branch = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "-q", "refs/heads/tiffin/bad"],
        capture_output=True,
    )
    assert no_branch.returncode != 0, "a failed trial creates no branch"

    assert api.get(f"{submissions}/{uuid.uuid4()}").status == 404
    assert api.get(f"{submissions}/not-a-uuid").status == 400
    # The synchronous route is gone (no body: a 404 may come before a body is read).
    assert api.post("/api/v1/submit").status == 404


def test_info_names_the_repository_and_the_purposes_of_its_policy(
    serve: Callable[..., Daemon], repo: Path
) -> None:
    (repo / "jobs" / "tiffin.toml").write_text(
        '[policy.labels]\npii = ["fraud", "billing"]\nfinance = ["reporting", "billing"]\n'
    )
    api = serve().ready().api
    info = api.get("/api/v1/info").json()
    assert info == {"repo_root": str(repo), "branch": "main", "purposes": []}
    jobs = api.get("/api/v1/info?notebook=jobs/slow.ipynb").json()
    assert jobs["purposes"] == ["billing", "fraud", "reporting"]
    assert api.get("/api/v1/info?notebook=../x.ipynb").status == 400

    # Where a client's root directory is in the repository, symbolic links resolved.
    (repo.parent / "link").symlink_to(repo / "jobs")

    def located(root: Path | str) -> Any:
        return api.get(f"/api/v1/info?jupyter_root={quote(str(root))}").json()["jupyter_root"]

    assert located(repo) == ""
    assert located(repo / "jobs") == "jobs"
    assert located(repo.parent / "link") == "jobs"
    assert located(repo.parent) is None, "above the repository"
    assert located(repo / "missing") is None
    (repo / "jobs" / "tiffin.toml").write_text("[policy.labels\n")
    broken = api.get("/api/v1/info?notebook=jobs/slow.ipynb")
    assert broken.status == 422
    assert "tiffin.toml" in broken.error()
