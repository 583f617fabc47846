"""Lineage: every run leaves a manifest and OpenLineage START + COMPLETE/FAIL events.

Events are validated against the OpenLineage 2-0-2 schemas (see openlineage.py); the manifest is
checked against what the run really did (the kept CSV's SHA-256, the notebook file's hash, the
rows in the warehouse). `runner lineage TABLE` is asked who read and wrote a table.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openlineage import read_events, validate_event

from conftest import Runner, code

EXIT_CELL_ERROR = 1
EXIT_POLICY = 7

POLICY = """
[policy]
[policy.labels]
pii = ["support", "fraud_detection"]

[[policy.tables]]
table = "warehouse.customers"
labels = ["pii"]
"""


def setup(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "tiffin.toml").write_text(POLICY + extra)
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        db.execute("CREATE TABLE customers (id INTEGER, email TEXT, since DATE)")
        db.executemany(
            "INSERT INTO customers VALUES (?, ?, ?)",
            [(1, "a@x.org", "2024-01-01"), (2, "b@y.org", None), (3, None, "2024-03-01")],
        )
    return tmp_path / ".tiffin"


def manifests(lineage_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((lineage_dir / "runs").glob("*.json"))]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_leaves_a_manifest_and_valid_start_and_complete_events(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    lineage = setup(tmp_path)
    nb = nb_file(
        [
            code("since = '2024-01-01'", tags=["parameters"]),
            code("%%sql people\nSELECT id, email FROM customers WHERE since >= :since"),
            code("print(len(people))"),
            code("%%upload contacts\npeople"),
        ]
    )
    keep = tmp_path / "kept"
    result = runner.run(
        nb, "--purpose", "support", "-p", "since", "2024-02-01", "--keep-data", str(keep)
    )
    assert result.returncode == 0, result.describe()

    [manifest] = manifests(lineage)
    assert manifest["status"] == "completed"
    assert manifest["exit_code"] == 0
    assert manifest["notebook"]["sha256"] == sha256(nb)
    assert manifest["parameters"] == {"since": "2024-02-01"}
    assert manifest["purpose"] == "support"
    assert manifest["sandbox"]["enforced"] is True
    assert manifest["sandbox"]["layers"]["namespaces"] is True
    [source_input] = manifest["inputs"]
    assert source_input["parameters"] == {"since": "2024-02-01"}
    assert source_input["query"] == "SELECT id, email FROM customers WHERE since >= :since"
    assert source_input["tables"] == [
        {"table": "warehouse.customers", "columns": ["email", "id", "since"], "labels": ["pii"]}
    ]
    assert source_input["fetch"]["rows"] == 1
    assert source_input["fetch"]["sha256"] == sha256(keep / "in" / "people.csv")
    assert source_input["fetch"]["bytes"] == (keep / "in" / "people.csv").stat().st_size
    [output] = manifest["outputs"]
    assert (output["table"], output["mode"]) == ("contacts", "append")
    assert (output["upload"]["rows"], output["upload"]["created"]) == (1, True)
    assert output["labels"] == ["pii"]
    code_cells = manifest["cells"]
    assert [c["cell"] for c in code_cells] == [
        1,
        2,
        3,
        4,
        5,
    ]  # the injected-parameters cell included
    assert all(c["status"] == "completed" and c["seconds"] >= 0 for c in code_cells)

    events = read_events(lineage / "lineage.jsonl")
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    for event in events:
        validate_event(event)
        assert event["run"]["runId"] == manifest["run_id"]
        assert event["job"] == {**event["job"], "namespace": "tiffin", "name": "notebook.ipynb"}
    complete = events[1]
    [read] = complete["inputs"]
    db_uri = f"sqlite://{tmp_path / 'warehouse.db'}"
    assert (read["namespace"], read["name"]) == (db_uri, "customers")
    assert read["facets"]["dataSource"]["name"] == "warehouse"
    assert read["facets"]["tags"]["tags"] == [
        {"key": "pii", "value": "true", "source": "TIFFIN_POLICY"}
    ]
    assert {f["name"] for f in read["facets"]["schema"]["fields"]} == {"id", "email", "since"}
    [written] = complete["outputs"]
    assert written["name"] == "contacts"
    assert written["facets"]["tags"]["tags"][0]["key"] == "pii"
    assert [f["name"] for f in written["facets"]["schema"]["fields"]] == ["id", "email"]
    assert written["outputFacets"]["outputStatistics"]["rowCount"] == 1
    assert "SELECT id, email FROM customers" in complete["job"]["facets"]["sql"]["query"]
    assert complete["job"]["facets"]["sql"]["dialect"] == "sqlite"
    facet = complete["run"]["facets"]["tiffin"]
    assert (facet["purpose"], facet["status"], facet["writes"]) == (
        "support",
        "completed",
        ["warehouse.contacts"],
    )


def test_a_failed_run_is_recorded_with_a_fail_event(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    lineage = setup(tmp_path)
    nb = nb_file(
        [
            code("%%sql people\nSELECT id FROM customers"),
            code("raise ValueError('bad day')"),
            code("%%upload ids\npeople"),
        ]
    )
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == EXIT_CELL_ERROR, result.describe()
    [manifest] = manifests(lineage)
    assert manifest["status"] == "failed"
    assert manifest["exit_code"] == EXIT_CELL_ERROR
    assert "cell 2 raised ValueError: bad day" in manifest["message"]
    assert manifest["inputs"][0]["fetch"]["rows"] == 3
    assert manifest["outputs"][0]["upload"] is None, "nothing was uploaded"
    assert [c["status"] for c in manifest["cells"]] == ["completed", "failed", "pending"]
    events = read_events(lineage / "lineage.jsonl")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        validate_event(event)
    assert events[1]["run"]["facets"]["tiffin"]["status"] == "failed"


def test_a_refused_run_is_recorded_with_its_violations(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    lineage = setup(tmp_path)
    nb = nb_file([code("%%sql people\nSELECT * FROM customers")])
    manifest_path = tmp_path / "run.json"
    result = runner.run(nb, "--purpose", "marketing", "--manifest", str(manifest_path))
    assert result.returncode == EXIT_POLICY, result.describe()
    manifest = json.loads(manifest_path.read_text())
    assert manifest["status"] == "refused"
    assert manifest["policy"]["violations"] == [
        "cell 1 reads warehouse.customers (label `pii`), "
        "which does not allow the purpose `marketing`"
    ]
    assert manifest["inputs"][0]["fetch"] is None
    assert manifest["inputs"][0]["labels"] == ["pii"]
    assert not (lineage / "runs").exists(), "--manifest replaces the default location"
    events = read_events(lineage / "lineage.jsonl")
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    for event in events:
        validate_event(event)
    assert events[1]["run"]["facets"]["tiffin"]["purpose"] == "marketing"


class Receiver(http.server.BaseHTTPRequestHandler):
    """A stand-in for an OpenLineage HTTP endpoint (Marquez cannot run here)."""

    received: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    received: list[tuple[str, str, bytes]] = []
    handler = type("Handler", (Receiver,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/v1/lineage", received
    server.shutdown()
    server.server_close()


def test_events_are_posted_to_the_lineage_url(
    runner: Runner,
    nb_file: Callable[..., Path],
    tmp_path: Path,
    receiver: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    url, received = receiver
    lineage = setup(tmp_path, f'\n[lineage]\nurl = "{url}"\nnamespace = "acme"\n')
    nb = nb_file([code("%%sql n\nSELECT count(*) AS n FROM customers")])
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == 0, result.describe()
    lines = (lineage / "lineage.jsonl").read_text().splitlines()
    assert [path for path, _, _ in received] == ["/api/v1/lineage"] * 2
    assert {content_type for _, content_type, _ in received} == {"application/json"}
    assert [json.loads(body) for _, _, body in received] == [json.loads(line) for line in lines]
    assert json.loads(lines[0])["job"]["namespace"] == "acme"


def test_an_unreachable_lineage_url_warns_and_keeps_the_file(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    lineage = setup(tmp_path, '\n[lineage]\nurl = "http://127.0.0.1:9/api/v1/lineage"\n')
    nb = nb_file([code("%%sql n\nSELECT count(*) AS n FROM customers")])
    result = runner.run(nb, "--purpose", "support")
    assert result.returncode == 0, result.describe()
    assert "lineage events could not be sent" in result.stderr
    assert [e["eventType"] for e in read_events(lineage / "lineage.jsonl")] == ["START", "COMPLETE"]


def test_runner_lineage_names_who_read_and_wrote_a_table(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    setup(tmp_path)
    writer = nb_file(
        [code("%%sql p\nSELECT id, email FROM customers"), code("%%upload contacts\np")],
        "writer.ipynb",
    )
    reader = nb_file([code("%%sql c\nSELECT count(*) AS n FROM contacts")], "reader.ipynb")
    assert runner.run(writer, "--purpose", "support").returncode == 0
    assert runner.run(reader, "--purpose", "fraud_detection").returncode == 0
    assert runner.run(reader, "--purpose", "marketing").returncode == EXIT_POLICY

    result = runner.run_raw(["lineage", "contacts", "--json"], cwd=tmp_path)
    assert result.returncode == 0, result.describe()
    accesses = json.loads(result.stdout)
    got = [(a["job"], a["access"], a["purpose"], a["status"]) for a in accesses]
    assert got == [
        ("writer.ipynb", "write", "support", "completed"),
        ("reader.ipynb", "read", "fraud_detection", "completed"),
        ("reader.ipynb", "read", "marketing", "refused"),
    ]
    assert all(a["time"] and a["run_id"] for a in accesses)

    table = runner.run_raw(["lineage", "warehouse.contacts"], cwd=tmp_path)
    assert table.returncode == 0, table.describe()
    lines = table.stdout.splitlines()
    assert lines[0] == "warehouse.contacts"
    assert lines[1].split() == ["time", "notebook", "access", "purpose", "status", "run"]
    assert len(lines) == 5
    assert lines[4].split()[2:5] == ["read", "marketing", "refused"]

    nothing = runner.run_raw(["lineage", "warehouse.nobody"], cwd=tmp_path)
    assert nothing.stdout == "no recorded run read or wrote warehouse.nobody\n"


def test_without_a_tiffin_toml_the_lineage_goes_to_the_users_state_dir(
    runner: Runner, nb_file: Callable[..., Path], tmp_path: Path
) -> None:
    with sqlite3.connect(tmp_path / "warehouse.db") as db:
        db.execute("CREATE TABLE t (x INTEGER)")
    nb = nb_file([code("%%sql t\nSELECT x FROM t"), code("%%upload state_dir_probe\nt")])
    result = runner.run(nb, output="-")
    assert result.returncode == 0, result.describe()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebook.ipynb", "warehouse.db"]
    state = Path(runner.env["XDG_STATE_HOME"]) / "tiffin"
    mine = [m for m in manifests(state) if m["notebook"]["path"] == str(nb)]
    assert [m["status"] for m in mine] == ["completed"]
    events = [
        e for e in read_events(state / "lineage.jsonl") if e["run"]["runId"] == mine[0]["run_id"]
    ]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    found = runner.run_raw(["lineage", "state_dir_probe", "--json"], cwd=tmp_path)
    assert [a["notebook"] for a in json.loads(found.stdout)] == [str(nb)]
