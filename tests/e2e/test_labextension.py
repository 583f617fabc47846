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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from conftest import (
    REPO_ROOT,
    VENV_BIN,
    Runner,
    code,
    git,
    make_notebook,
    new_repo,
    write_notebook,
)

CHROMIUM = Path(os.environ.get("TIFFIN_CHROMIUM", "/usr/bin/chromium"))
SHOTS = REPO_ROOT / "tests" / ".artifacts" / "labextension"
TOKEN = "tiffin-e2e-token"
# A trial run or a scheduled run starts a sandboxed kernel: generous, the runs take seconds.
SLOW = 120_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def daily_spec(name: str, notebook: str) -> str:
    """A schedule at 06:00 UTC every day, for the reporting purpose."""
    return (
        f'name = "{name}"\nnotebook = "{notebook}"\nowner = "ana@example.com"\n'
        'purpose = "reporting"\ncadence = "0 6 * * *"\ntimezone = "UTC"\n'
    )


def commit_all(root: Path) -> Path:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "notebooks")
    return root


def make_repo(root: Path) -> Path:
    """A repository with a notebook to schedule (a parameters cell, no schedule yet) and, on
    main already, a schedule whose notebook fails in its second cell."""
    new_repo(root)
    report = make_notebook(
        [
            code('run_date = "2026-11-01"  # the day to report\nfactor = 2', tags=["parameters"]),
            code("print('total', factor * 21, 'for', run_date)"),
        ]
    )
    write_notebook(report, root / "daily_report.ipynb")
    broken = make_notebook([code("customers = {}"), code("raise ValueError('no such customer')")])
    write_notebook(broken, root / "broken.ipynb")
    (root / "broken.schedule.toml").write_text(daily_spec("broken", "broken.ipynb"))
    return commit_all(root)


POLICY = """[policy]
mode = "enforce"

[policy.labels]
pii = ["fraud_detection", "billing"]
internal = ["reporting", "billing"]
"""


def make_live_repo(root: Path) -> Path:
    """A repository with a policy listing purposes, a notebook to schedule whose third cell has
    a lint finding (a warning: still schedulable) and whose second sleeps (a trial run long
    enough to be seen going), and, on main already, a schedule whose notebook sleeps too."""
    new_repo(root)
    (root / "tiffin.toml").write_text(POLICY)
    sleepy = make_notebook(
        [
            code("import time"),
            code("time.sleep(3)\nprint('slept')"),
            code("import os\nhome = os.environ.get('HOME', '')"),
            code("print('done')"),
        ]
    )
    write_notebook(sleepy, root / "sleepy.ipynb")
    slow = make_notebook([code("import time"), code("time.sleep(4)"), code("print('slept well')")])
    write_notebook(slow, root / "slow.ipynb")
    (root / "slow.schedule.toml").write_text(daily_spec("slow", "slow.ipynb"))
    return commit_all(root)


def make_nested_repo(root: Path) -> Path:
    """A repository whose notebooks are in `reports/` (where Jupyter is started), with a
    schedule of `reports/broken.ipynb` on main."""
    new_repo(root)
    (root / "reports").mkdir()
    broken = make_notebook([code("customers = {}"), code("raise ValueError('no such customer')")])
    write_notebook(broken, root / "reports" / "broken.ipynb")
    (root / "reports" / "broken.schedule.toml").write_text(daily_spec("nested", "broken.ipynb"))
    report = make_notebook([code("print('total', 42)")])
    write_notebook(report, root / "reports" / "daily.ipynb")
    return commit_all(root)


@dataclass
class Lab:
    url: str
    repo: Path
    proc: subprocess.Popen[bytes]
    # Where Jupyter runs (its root): the repository, or a directory in it.
    root: Path
    log: Path


@contextlib.contextmanager
def running_lab(
    runner: Runner,
    tmp_path: Path,
    runner_binary: str,
    make: Callable[[Path], Path] = make_repo,
    subdir: str = "",
) -> Iterator[Lab]:
    """`jupyter lab` on loopback with a token, started in a fresh repository (so the proxy's
    `runner serve --repo $PWD` serves it), or in its directory `subdir` (through a symbolic
    link to the repository), with
    `TIFFIN_RUNNER=runner_binary`; its process group (the proxy's runner serve and the kernels
    with it) is ended afterwards."""
    repo = make(tmp_path / "repo")
    root = repo
    if subdir:
        # Through a symbolic link, as a home directory or /tmp often is: git names the
        # repository by its real path, Jupyter its root by the linked one.
        (tmp_path / "linked").symlink_to(repo)
        root = tmp_path / "linked" / subdir
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
        f"--ServerApp.root_dir={root}",
        # A workspace of its own: no tab of another test is restored.
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
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
        yield Lab(url=url, repo=repo, proc=proc, root=root, log=log)
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
    # The first load of JupyterLab takes a while on a busy machine.
    expect(button).to_be_visible(timeout=60_000)
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
    # Its OpenLineage events, one line each, and the purpose it ran for.
    expect(detail.locator("[data-lineage] li").first).to_contain_text(re.compile(r"START|COMPLETE"))
    expect(detail.locator("[data-purpose]")).to_have_text(" · purpose reporting")
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
    # The way back to fix it: the notebook's tab.
    refused.locator('[data-action="back-to-notebook"]').click()
    expect(page.get_by_role("tab", name="broken.ipynb", exact=True)).to_have_attribute(
        "aria-selected", "true"
    )


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


@pytest.fixture
def live_lab(runner: Runner, tmp_path: Path) -> Iterator[Lab]:
    with running_lab(runner, tmp_path, str(runner.binary), make=make_live_repo) as started:
        yield started


def test_preview_highlights_links_findings_and_the_purpose_select(
    browser: Browser, live_lab: Lab
) -> None:
    """The purposes of the repository's policy in a select; the preview's spec (TOML) and DAG
    (Python) highlighted by JupyterLab's CodeMirror, read-only; a lint finding's cell is a button
    that activates that cell in the notebook."""
    lab = live_lab
    page = open_notebook(browser, lab, "sleepy.ipynb")
    page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
    form = page.locator(".tf-schedule")
    # GET /api/v1/info: the policy's purposes, sorted, as the options of a select.
    purpose = form.locator("select#tf-purpose")
    expect(purpose).to_be_visible()
    options = purpose.locator("option").all_inner_texts()
    assert options[1:] == ["billing", "fraud_detection", "reporting"], options
    purpose.select_option("reporting")
    form.locator("#tf-owner").fill("ana@example.com")
    form.locator('[data-action="preview"]').click()

    spec = form.locator("[data-spec-text]")
    dag = form.locator("[data-dag-text]")
    expect(spec).to_have_attribute("data-highlighted", "true")
    expect(dag).to_have_attribute("data-highlighted", "true")
    expect(spec).to_contain_text('purpose = "reporting"')
    assert 'purpose = "reporting"' in (lab.repo / "sleepy.schedule.toml").read_text()
    # CodeMirror's token spans (classes from JupyterLab's highlight style), coloured by the
    # theme's editor variables: a keyword of the DAG is not the colour of plain text.
    assert spec.locator("span[class]").count() > 3
    assert dag.locator("span[class]").count() > 10
    keyword = dag.locator("span[class]", has_text=re.compile(r"^import$")).first
    colours = page.evaluate(
        "([k, d]) => [getComputedStyle(k).color, getComputedStyle(d).color]",
        [keyword.element_handle(), dag.element_handle()],
    )
    assert colours[0] != colours[1], colours
    # Read-only: text in a <pre>, no editor.
    assert (
        form.locator("[data-spec-text] .cm-content, [data-dag-text] [contenteditable]").count() == 0
    )
    form.locator("h4", has_text="Lint findings").scroll_into_view_if_needed()
    shoot(page, "9-preview-highlighted")

    # The finding: cell 3, line 2, `os.environ` (a warning: still schedulable).
    expect(form.locator("[data-verdict]")).to_contain_text("Schedulable")
    link = form.locator('[data-lint-cell="3"]')
    expect(link).to_have_text("cell 3, line 2")
    cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
    expect(cells.nth(0)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    # From the keyboard: the link is a button.
    link.focus()
    page.keyboard.press("Enter")
    expect(cells.nth(2)).to_have_class(re.compile(r"\bjp-mod-active\b"))
    expect(cells.nth(0)).not_to_have_class(re.compile(r"\bjp-mod-active\b"))
    expect(cells.nth(2)).to_be_in_viewport()
    shoot(page, "10-lint-finding-cell")

    # The dark theme: the same tokens in the dark editor theme's colours.
    set_theme(lab, "JupyterLab Dark")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false")
    page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
    form.locator("select#tf-purpose").select_option("reporting")
    form.locator("#tf-owner").fill("ana@example.com")
    form.locator('[data-action="preview"]').click()
    expect(dag).to_have_attribute("data-highlighted", "true")
    dark = page.evaluate(
        "([k, d]) => [getComputedStyle(k).color, getComputedStyle(d).color]",
        [keyword.element_handle(), dag.element_handle()],
    )
    assert dark[0] != dark[1], dark
    assert dark != colours, (dark, colours)
    form.locator("h4", has_text="Lint findings").scroll_into_view_if_needed()
    shoot(page, "15-preview-highlighted-dark")


def test_create_review_shows_the_trial_run_live(browser: Browser, live_lab: Lab) -> None:
    """POST /api/v1/submissions and its events: the phase and the trial's `cell N/T` progress
    are shown while it runs, then the review branch."""
    lab = live_lab
    page = open_notebook(browser, lab, "sleepy.ipynb")
    page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
    form = page.locator(".tf-schedule")
    form.locator("select#tf-purpose").select_option("reporting")
    form.locator("#tf-owner").fill("ana@example.com")
    form.locator('[data-action="preview"]').click()
    expect(form.locator("[data-verdict]")).to_contain_text("Schedulable")
    form.locator('[data-action="review"]').click()
    running = form.locator('[data-review="running"]')
    # Cell 2 sleeps 3 s: the progress of cell 1 is seen before the result.
    expect(running.locator("[data-trial-progress]")).to_have_text(
        re.compile(r"cell [1-3]/4 done"), timeout=SLOW
    )
    expect(running.locator('[data-phase="trial"]')).to_have_attribute("data-phase-state", "current")
    expect(running.locator("[data-trial-log]")).to_contain_text("runner: cell 1/4 done")
    running.evaluate("e => e.scrollIntoView({block: 'center'})")
    shoot(page, "11-review-trial-progress")
    created = form.locator('[data-review="created"]')
    expect(created).to_be_visible(timeout=SLOW)
    expect(created.locator("[data-branch]")).to_have_text("tiffin/sleepy")
    assert git(lab.repo, "rev-parse", "--verify", "-q", "refs/heads/tiffin/sleepy").strip()
    expect(form.locator("[data-test-plan]")).to_contain_text("Trial run: completed")
    # The trial's log stays at hand, folded.
    expect(form.locator(".tf-trial-log summary")).to_contain_text("Trial run log")


def test_the_pane_follows_a_run_live_pauses_and_opens_the_executed_notebook(
    browser: Browser, runner: Runner, live_lab: Lab
) -> None:
    """Pause and resume a schedule; a run started from the pane goes from running to succeeded
    through its event stream (no Refresh); its executed notebook opens read-only."""
    lab = live_lab
    page = open_notebook(browser, lab, "slow.ipynb")
    open_pane(page)
    pane = page.locator("#tiffin-debug-pane")
    card = pane.locator('[data-schedule="slow"]')
    expect(card).to_be_visible(timeout=SLOW)
    expect(card).to_have_attribute("data-paused", "false")

    # Pause: the card says so, and so does the scheduler (asked from the command line).
    card.locator('[data-action="pause"]').click()
    expect(card).to_have_attribute("data-paused", "true")
    expect(card.locator('[data-badge="paused"]')).to_have_text("paused")
    expect(card.locator("[data-schedule-state]")).to_contain_text("paused")
    listed = json.loads(
        subprocess.run(
            [str(runner.binary), "schedule", "list", "--json"],
            cwd=lab.repo,
            env=runner.env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    assert [s["paused"] for s in listed if s["name"] == "slow"] == [True], listed
    shoot(page, "12-pane-paused")
    card.locator('[data-action="resume"]').click()
    expect(card).to_have_attribute("data-paused", "false")
    expect(card.locator('[data-badge="paused"]')).to_have_count(0)

    # Run now: the open run follows its events; nobody clicks Refresh.
    card.locator('[data-action="run-now"]').click()
    detail = pane.locator("[data-run-detail]")
    expect(detail).to_have_attribute("data-status", "running", timeout=SLOW)
    # `cell 1/3 done` comes from the run's log lines, as the stream sends them.
    expect(detail.locator("[data-run-progress]")).to_have_text(
        re.compile(r"cell [12]/3 done"), timeout=SLOW
    )
    expect(card.locator('.tf-run-row[data-status="running"]')).to_have_count(1)
    shoot(page, "13-pane-run-live")
    expect(detail).to_have_attribute("data-status", "succeeded", timeout=SLOW)
    expect(card.locator('.tf-run-row[data-status="succeeded"]')).to_have_count(1)
    expect(detail.locator(".tf-log")).to_contain_text("slept well")

    # The executed notebook, read-only in a tab of its own; not a file of the tree.
    before = git(lab.repo, "status", "--porcelain", "--untracked-files=all")
    detail.locator('[data-action="open-notebook"]').click()
    executed = page.locator("[data-executed-run]")
    expect(executed.locator("[data-nb-cell]")).to_have_count(3)
    expect(executed.locator('[data-nb-cell="3"] .jp-OutputArea')).to_contain_text("slept well")
    expect(executed.locator('[data-nb-cell="2"] .tf-code')).to_have_attribute(
        "data-highlighted", "true"
    )
    assert executed.locator('[contenteditable="true"], .jp-Notebook, textarea').count() == 0
    expect(page.get_by_role("tab", name=re.compile(r"slow .* \(executed\)"))).to_be_visible()
    shoot(page, "14-executed-notebook")
    # Saving does nothing to the tree: the tab is not a document.
    page.keyboard.press("Control+s")
    assert git(lab.repo, "status", "--porcelain", "--untracked-files=all") == before


def test_jupyter_started_in_a_directory_of_the_repository(
    browser: Browser, runner: Runner, tmp_path: Path
) -> None:
    """Jupyter's root is `reports/` in the repository, named through a symbolic link: the
    extension asks the API with repository paths (`reports/broken.ipynb`), from where
    /api/v1/info?jupyter_root= finds PageConfig's serverRoot in the repository."""
    with running_lab(
        runner, tmp_path, str(runner.binary), make=make_nested_repo, subdir="reports"
    ) as lab:
        page = open_notebook(browser, lab, "broken.ipynb")
        open_pane(page)
        card = page.locator('#tiffin-debug-pane [data-schedule="nested"]')
        expect(card).to_be_visible(timeout=SLOW)
        # The preview of a new schedule: the spec is written beside the notebook, and the API
        # reads it by its repository path.
        page.get_by_role("tab", name="broken.ipynb", exact=True).click()
        page.locator(".jp-NotebookPanel-toolbar .tf-schedule-button").click()
        form = page.locator(".tf-schedule")
        form.locator("#tf-owner").fill("ana@example.com")
        form.locator("#tf-purpose").fill("reporting")
        form.locator("#tf-name").fill("nested2")
        form.locator('[data-action="preview"]').click()
        expect(form.locator("h4", has_text="Spec: reports/broken.schedule.toml")).to_be_visible()
        expect(form.locator("[data-spec-text]")).to_contain_text('name = "nested2"')
        assert 'name = "nested2"' in (lab.repo / "reports" / "broken.schedule.toml").read_text()
