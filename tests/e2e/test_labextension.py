"""The JupyterLab extension in a real headless Chromium (Debian's, driven by Playwright) against a
real `jupyter lab` with the extension installed by `pip install ./kernel-ext`, and the real
`runner serve` that jupyter-server-proxy starts on its unix socket (kernel-ext's entry point) in
the repository Jupyter was started in: Schedule → form → preview → review branch (checked with
git) → merged → run now from the debug pane → the run succeeds; a failing schedule shows its
failing cell and coloured traceback in the pane. Screenshots of each step go to
tests/.artifacts/labextension/."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import REPO_ROOT, VENV_BIN, Runner, code, git, make_notebook, write_notebook

CHROMIUM = Path(os.environ.get("TIFFIN_CHROMIUM", "/usr/bin/chromium"))
SHOTS = REPO_ROOT / "tests" / ".artifacts" / "labextension"
TOKEN = "tiffin-e2e-token"
# A trial run or a scheduled run starts a sandboxed kernel: generous, the runs take seconds.
SLOW = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_repo(root: Path) -> Path:
    """A repository with a notebook to schedule (a parameters cell, no schedule yet) and, on
    main already, a schedule whose notebook fails in its second cell."""
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "user.name", "Test")
    report = make_notebook(
        [
            code('run_date = "2026-11-01"  # the day to report\nfactor = 2', tags=["parameters"]),
            code("print('total', factor * 21, 'for', run_date)"),
        ]
    )
    write_notebook(report, root / "daily_report.ipynb")
    broken = make_notebook([code("customers = {}"), code("raise ValueError('no such customer')")])
    write_notebook(broken, root / "broken.ipynb")
    (root / "broken.schedule.toml").write_text(
        'name = "broken"\nnotebook = "broken.ipynb"\nowner = "ana@example.com"\n'
        'purpose = "reporting"\ncadence = "0 6 * * *"\ntimezone = "UTC"\n'
    )
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notebooks")
    return root


@dataclass
class Lab:
    url: str
    repo: Path
    proc: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def running_lab(runner: Runner, tmp_path: Path, runner_binary: str) -> Iterator[Lab]:
    """`jupyter lab` on loopback with a token, started in a fresh repository (so the proxy's
    `runner serve --repo $PWD` serves it) with `TIFFIN_RUNNER=runner_binary`; its process group
    (the proxy's runner serve and the kernels with it) is ended afterwards."""
    repo = make_repo(tmp_path / "repo")
    port = free_port()
    env = dict(runner.env)
    env["TIFFIN_RUNNER"] = runner_binary
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    log = tmp_path / "jupyter.log"
    # No "official Jupyter news?" prompt over the screenshots.
    notification = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    argv = [
        str(VENV_BIN / "jupyter"),
        "lab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}",
        f"--ServerApp.root_dir={repo}",
        # A workspace of its own: no tab of another test is restored.
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=repo, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not start:\n{log.read_text()}", pytrace=False)
                time.sleep(0.3)
        yield Lab(url, repo, proc, log)
    finally:
        with_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with_group(proc, signal.SIGKILL)
            proc.wait(timeout=10)
        # The proxy's runner serve and the kernels are in the group: none may outlive the test.
        time.sleep(0.5)
        with_group(proc, signal.SIGKILL)


@pytest.fixture
def lab(runner: Runner, tmp_path: Path) -> Iterator[Lab]:
    with running_lab(runner, tmp_path, str(runner.binary)) as started:
        yield started


def with_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", pytrace=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield launched
        finally:
            launched.close()


def open_notebook(browser: Browser, lab: Lab, notebook: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1440, "height": 1000}, timezone_id="Europe/London"
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={TOKEN}")
    button = page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button")
    expect(button).to_be_visible()
    # The kernel's start writes its kernelspec into the notebook's metadata: modified, so the
    # button waits for a save, since the runner reads the notebook from disk.
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
    expect(button).to_have_attribute("aria-disabled", "true")
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    expect(button).not_to_have_attribute("aria-disabled", "true")
    return page


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def set_theme(lab: Lab, theme: str) -> None:
    """JupyterLab's theme setting, through its settings API."""
    body = json.dumps({"raw": json.dumps({"theme": theme})}).encode()
    request = urllib.request.Request(
        f"{lab.url}/lab/api/settings/@jupyterlab/apputils-extension:themes?token={TOKEN}",
        data=body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        assert reply.status == 204, reply.status


def open_pane(page: Page) -> None:
    page.locator('.jp-SideBar.jp-mod-right [data-id="tiffin-debug-pane"]').click()
    expect(page.locator("#tiffin-debug-pane")).to_be_visible()


def test_schedule_preview_review_and_run_from_the_pane(browser: Browser, lab: Lab) -> None:
    page = open_notebook(browser, lab, "daily_report.ipynb")
    button = page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button")
    expect(button).to_contain_text("Schedule")
    button.click()
    form = page.locator(".tf-schedule")
    expect(form).to_be_visible()
    # One form per notebook: a second click shows the open one.
    button.click()
    expect(form).to_have_count(1)

    # The form read the parameters cell and offers its defaults; the cadence is told in words.
    factor = form.locator('[data-param="factor"]')
    expect(factor).to_have_value("2")
    expect(form.locator('[data-param="run_date"]')).to_have_value("2026-11-01")
    expect(form.locator("[data-cadence-text]")).to_have_text("every day at 06:00 Europe/London")
    expect(form.locator(".tf-next-runs li")).to_have_count(3)
    form.locator("#tf-cadence").select_option("weekly")
    form.locator("#tf-weekday").select_option("3")
    form.locator("#tf-time").fill("07:30")
    expect(form.locator("[data-cadence-text]")).to_have_text(
        "every Wednesday at 07:30 Europe/London"
    )
    next_runs = form.locator(".tf-next-runs li").all_inner_texts()
    assert len(next_runs) == 3, next_runs
    assert all(t.startswith("Wed") for t in next_runs), next_runs

    # Problems the browser sees are shown on their fields, and nothing is written.
    form.locator("#tf-owner").fill("")
    form.locator("#tf-timeout").fill("2 hours")
    form.locator('[data-action="preview"]').click()
    expect(form.locator('[data-error-for="owner"]')).to_have_text("who is notified of failures")
    expect(form.locator('[data-error-for="timeout"]')).to_contain_text("is not a duration")
    assert not (lab.repo / "daily_report.schedule.toml").exists()

    form.locator("#tf-owner").fill("ana@example.com")
    form.locator("#tf-purpose").fill("reporting")
    form.locator("#tf-timeout").fill("20m")
    form.locator("#tf-retries").fill("1")
    form.locator("#tf-notify").first.fill("ana@example.com")
    factor.fill("3")
    shoot(page, "1-schedule-form")
    form.locator('[data-action="preview"]').click()

    # The preview: what the API read from the spec file the form wrote next to the notebook.
    spec_text = form.locator("[data-spec-text]")
    expect(spec_text).to_contain_text('cadence = "30 7 * * 3"')
    written = (lab.repo / "daily_report.schedule.toml").read_text()
    for line in [
        'timezone = "Europe/London"',
        "factor = 3",
        'timeout = "20m"',
        "count = 1",
        'email = "ana@example.com"',
    ]:
        assert line in written.splitlines(), (line, written)
    expect(spec_text).to_have_text(re.compile(r"factor = 3"))
    expect(form.locator("[data-verdict]")).to_contain_text("Schedulable")
    expect(form.locator("[data-dag-text]")).to_contain_text("DAG")
    form.locator("[data-dag-text]").scroll_into_view_if_needed()
    shoot(page, "2-preview")

    # The review: a trial run, then the branch with one commit (checked with git).
    form.locator('[data-action="review"]').click()
    created = form.locator('[data-review="created"]')
    expect(created).to_be_visible(timeout=SLOW)
    branch = created.locator("[data-branch]").inner_text()
    assert branch == "tiffin/daily_report"
    commit = git(lab.repo, "rev-parse", f"refs/heads/{branch}").strip()
    files = git(lab.repo, "show", "--name-only", "--format=", commit).split()
    assert {"daily_report.ipynb", "daily_report.schedule.toml"} <= set(files), files
    expect(form.locator("[data-test-plan]")).to_contain_text("Trial run: completed")
    form.locator("[data-test-plan]").scroll_into_view_if_needed()
    shoot(page, "3-review")

    # Nothing runs before the review is merged: the pane says so.
    page.get_by_role("tab", name="daily_report.ipynb", exact=True).click()
    open_pane(page)
    pane = page.locator("#tiffin-debug-pane")
    expect(pane.locator('[data-state="empty"]')).to_be_visible()

    # The reviewer merges it; runner serve runs what is on main. (The work tree's copies, which
    # the review branch holds, make way for the merge.)
    (lab.repo / "daily_report.schedule.toml").unlink()
    git(lab.repo, "checkout", "-q", "--", "daily_report.ipynb")
    git(lab.repo, "merge", "-q", "--ff-only", branch)

    card = pane.locator('[data-schedule="daily_report"]')
    expect(card).to_be_visible(timeout=SLOW)
    expect(card.locator('[data-state="no-runs"]')).to_be_visible()
    card.locator('[data-action="run-now"]').click()
    done = card.locator('.tf-run-row[data-status="succeeded"]')
    expect(done).to_be_visible(timeout=SLOW)
    expect(done).to_contain_text("manual")
    done.click()
    detail = pane.locator("[data-run-detail]")
    expect(detail).to_have_attribute("data-status", "succeeded")
    # The parameters injected by the runner are a cell of the executed notebook.
    expect(detail.locator("[data-cell]")).to_have_count(3)
    # The value edited in the form reached the run: 3 * 21.
    expect(detail.locator(".tf-log")).to_contain_text("total 63 for 2026-11-01")
    shoot(page, "4-pane-run-succeeded")


def test_a_failing_run_shows_its_cell_and_traceback_in_the_pane(browser: Browser, lab: Lab) -> None:
    page = open_notebook(browser, lab, "broken.ipynb")
    open_pane(page)
    pane = page.locator("#tiffin-debug-pane")
    card = pane.locator('[data-schedule="broken"]')
    expect(card).to_be_visible(timeout=SLOW)
    card.locator('[data-action="run-now"]').click()
    failed = card.locator('.tf-run-row[data-status="failed"]')
    expect(failed).to_be_visible(timeout=SLOW)
    # The failure raised a JupyterLab notification too.
    expect(page.locator(".jp-toast-message, .Toastify__toast").first).to_contain_text(
        "broken failed"
    )
    failed.click()
    detail = pane.locator("[data-run-detail]")
    expect(detail.locator("[data-failing-cell]")).to_have_text(
        "Failed in cell 2: ValueError: no such customer"
    )
    traceback = detail.locator("[data-traceback]")
    expect(traceback).to_contain_text("no such customer")
    # IPython's colours, rendered (not the raw escapes).
    assert traceback.locator('[class*="tf-ansi-"]').count() > 0
    assert "\x1b[" not in traceback.inner_text()
    expect(detail.locator('[data-action="retry"]')).to_be_visible()
    shoot(page, "5-pane-run-failed-light")

    # The dark theme: the pane uses the theme's variables.
    set_theme(lab, "JupyterLab Dark")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    open_pane(page)
    failed.click()
    expect(detail.locator("[data-failing-cell]")).to_be_visible()
    shoot(page, "6-pane-run-failed-dark")

    # Retry from the pane: a new attempt of the same logical time, failing again.
    detail.locator('[data-action="retry"]').click()
    expect(card.locator('.tf-run-row[data-status="failed"]')).to_have_count(2, timeout=SLOW)

    # Submitting it from the form: the trial run fails, no branch, the error names the cell.
    page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
    form = page.locator(".tf-schedule")
    form.locator("#tf-owner").fill("ana@example.com")
    form.locator("#tf-purpose").fill("reporting")
    form.locator('[data-action="preview"]').click()
    form.locator('[data-action="review"]').click()
    refused = form.locator('[data-review="failed"]')
    expect(refused).to_be_visible(timeout=SLOW)
    expect(refused.locator("[data-trial-error]")).to_contain_text("no such customer")
    expect(form.locator("[data-test-plan]")).to_contain_text("failed")
    assert git(lab.repo, "branch", "--list", "tiffin/*") == ""
    refused.scroll_into_view_if_needed()
    shoot(page, "8-review-trial-failed")


def test_the_pane_says_when_the_runner_is_not_reachable(
    browser: Browser, runner: Runner, tmp_path: Path
) -> None:
    """A runner the proxy cannot start (TIFFIN_RUNNER not executable): the pane says so, and the
    form's preview reports it instead of failing silently."""
    not_a_binary = tmp_path / "runner"
    not_a_binary.write_text("not a program\n")
    with running_lab(runner, tmp_path, str(not_a_binary)) as lab:
        page = open_notebook(browser, lab, "daily_report.ipynb")
        open_pane(page)
        problem = page.locator('#tiffin-debug-pane [data-state="unreachable"]')
        expect(problem).to_contain_text("Runner not reachable", timeout=SLOW)
        page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
        form = page.locator(".tf-schedule")
        form.locator("#tf-owner").fill("ana@example.com")
        form.locator("#tf-purpose").fill("reporting")
        form.locator('[data-action="preview"]').click()
        expect(form.locator('[data-state="unreachable"]')).to_contain_text("Runner not reachable")
        shoot(page, "7-runner-not-reachable")
