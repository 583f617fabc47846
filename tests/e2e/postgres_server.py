"""A real PostgreSQL server for the tests: a fresh cluster in a temp dir, on 127.0.0.1 only,
with password (scram) authentication for a role `etl` that owns the database `shop`."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PASSWORD = "s3cret-for-tests"
PSQL = ("psql", "-X", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1")


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (.ci/run installs the postgresql package)")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(argv: Sequence[str]) -> list[str]:
    """The server refuses to run as root: as root, run it as the `postgres` user."""
    if os.geteuid() != 0:
        return list(argv)
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv]


@dataclass
class Server:
    port: int
    url: str  # without the password, as tiffin.toml holds it

    def psql(self, sql: str, *extra: str, search_path: str = "public") -> str:
        """Runs SQL with the psql CLI as `etl`; returns its unaligned output."""
        proc = subprocess.run(
            [*PSQL, "-p", str(self.port), "-U", "etl", "-d", "shop", *extra, "-c", sql],
            env={
                **os.environ,
                "PGPASSWORD": PASSWORD,
                "PGOPTIONS": f"-c search_path={search_path}",
            },
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed: {proc.stderr}")
        return proc.stdout


def start() -> Iterator[Server]:
    """Runs a server until the generator is closed; its files are removed then."""
    # Its own dir under /tmp: pytest's tmp dirs are private to root, and the server is not root.
    base = Path(tempfile.mkdtemp(prefix="tiffin-pg-"))
    try:
        yield from _run(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _run(base: Path) -> Iterator[Server]:
    bindir = _bindir()
    data = base / "pgdata"
    data.mkdir()
    pwfile = base / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for path in (base, data, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
    subprocess.run(
        _as_server_user(
            [
                *(str(bindir / "initdb"), "-D", str(data), "-U", "etl", "--pwfile", str(pwfile)),
                *("--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"),
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    server = subprocess.Popen(
        _as_server_user(
            [
                *(str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port)),
                *("-k", str(base), "-c", "fsync=off"),
            ]
        ),
        stdout=subprocess.DEVNULL,
        stderr=(base / "server.log").open("wb"),
    )
    try:
        result = Server(port, f"postgresql://etl@127.0.0.1:{port}/postgres")
        deadline = time.monotonic() + 30
        while True:
            try:
                result.psql("SELECT 1", "-d", "postgres")
                break
            except RuntimeError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError((base / "server.log").read_text()) from None
                time.sleep(0.1)
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "etl", "shop"],
            env={**os.environ, "PGPASSWORD": PASSWORD},
            check=True,
        )
        result.url = f"postgresql://etl@127.0.0.1:{port}/shop"
        yield result
    finally:
        server.terminate()
        server.wait(timeout=30)
