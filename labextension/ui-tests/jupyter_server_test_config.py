"""The jupyter lab the Galata tests drive: Galata's test settings (no token, port 8888, its
helper extension) with the root in a subdirectory of a test repository, so the extension must
tell the repository's paths from Jupyter's."""

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # type: ignore[name-defined]  # noqa: F821
configure_jupyter_server(c)
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = ""
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
