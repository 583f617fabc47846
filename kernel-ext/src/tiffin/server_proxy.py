"""`runner serve` behind JupyterLab: jupyter-server-proxy starts the scheduler (and its HTTP API)
on a unix socket in a private temporary directory and proxies `<base_url>tiffin-scheduler/` to it,
so the labextension reaches the API behind Jupyter's own authentication and nothing listens on a
TCP port. Registered through the `jupyter_serverproxy_servers` entry point (install the
`scheduler` extra for jupyter-server-proxy)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypedDict

from .magics import find_runner


class LauncherEntry(TypedDict):
    enabled: bool


class ServerProcess(TypedDict):
    """The jupyter-server-proxy server-process options this server uses."""

    command: Callable[[], list[str]]
    unix_socket: bool
    absolute_url: bool
    timeout: int
    launcher_entry: LauncherEntry


def jupyter_root() -> str:
    """The directory Jupyter serves (`--ServerApp.root_dir`, which need not be the directory it
    was started in); the current directory outside a Jupyter server."""
    from jupyter_server.serverapp import ServerApp

    if ServerApp.initialized():
        return str(ServerApp.instance().root_dir)
    return os.getcwd()


def serve_command() -> list[str]:
    """`runner serve` for the repository holding Jupyter's root directory (the runner finds the
    repository's top from any directory in it); jupyter-server-proxy fills in `{unix_socket}`.
    Resolved when the proxy starts the process, so a missing runner is reported then (in the
    proxy's error page) rather than breaking Jupyter's start-up."""
    binary, _ = find_runner()
    return [str(binary), "serve", "--repo", jupyter_root(), "--socket", "{unix_socket}"]


def setup_scheduler() -> ServerProcess:
    return {
        "command": serve_command,
        # A socket in a directory only the Jupyter user can enter: the API needs no token.
        "unix_socket": True,
        # The API sees `/api/v1/...`, without the proxy's prefix.
        "absolute_url": False,
        # The daemon reads the branch and its state before it answers.
        "timeout": 30,
        # An API for the labextension, not a page to open from the launcher.
        "launcher_entry": {"enabled": False},
    }
