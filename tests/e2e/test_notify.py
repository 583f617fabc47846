"""Notifications of scheduled runs, through `runner schedule notify-test`: e-mail to a real SMTP
server on loopback (aiosmtpd, with AUTH), a Slack-shaped JSON webhook to a local receiver (a chat
service cannot exist here), retries of a failing target, and the delivery log that records every
result, failures included."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from conftest import Receiver, Runner, RunResult, code, make_notebook, write_notebook

EXIT_NOT_DELIVERED = 1
EXIT_USAGE = 2
SENDER = "tiffin@example.com"
OWNER = "ana@example.com"
SMTP_USER = "tiffin"
SMTP_PASSWORD = "s3cret-from-env"
PASSWORD_VAR = "TIFFIN_TEST_SMTP_PASSWORD"

# AUTH over plain SMTP is what loopback relays do; aiosmtpd warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What the SMTP server accepted: envelopes and the logins it saw."""

    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == (SMTP_USER, SMTP_PASSWORD))

    def messages(self) -> list[Message]:
        return [message_from_bytes(bytes(e.original_content or b"")) for e in self.envelopes]


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback that requires AUTH (over plain SMTP: loopback only)."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=mailbox.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SmtpServer(port, mailbox)
    finally:
        controller.stop()


def write_setup(
    tmp_path: Path, targets: str, notify_settings: str, *, cells: list[str] | None = None
) -> Path:
    """The notebook, its spec with `targets` ([[notify]] entries) and a tiffin.toml."""
    nb = make_notebook([code(c) for c in cells or ["total = 41 + 1"]])
    write_notebook(nb, tmp_path / "report.ipynb")
    (tmp_path / "tiffin.toml").write_text(notify_settings)
    spec = tmp_path / "report.schedule.toml"
    spec.write_text(
        'name = "daily-sales"\nnotebook = "report.ipynb"\nowner = "ana@example.com"\n'
        'purpose = "reporting"\ncadence = "0 6 * * *"\ntimezone = "Europe/London"\n\n' + targets
    )
    return spec


def smtp_settings(port: int, **extra: str | int) -> str:
    lines = [
        "[notify]",
        'smtp_host = "127.0.0.1"',
        f"smtp_port = {port}",
        'smtp_tls = "none"',
        f'smtp_username = "{SMTP_USER}"',
        f'smtp_password_env = "{PASSWORD_VAR}"',
        f'from = "Tiffin <{SENDER}>"',
        'run_url = "http://127.0.0.1:8888/tiffin/{schedule}/runs/{run_id}"',
        *(f"{key} = {json.dumps(value)}" for key, value in extra.items()),
    ]
    return "\n".join(lines) + "\n"


def read_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_failed_run_is_mailed_and_posted(
    runner: Runner,
    host_runner: Runner,
    tmp_path: Path,
    smtp_server: SmtpServer,
    webhook: Receiver,
) -> None:
    spec = write_setup(
        tmp_path,
        f'[[notify]]\nemail = "{OWNER}"\n\n[[notify]]\nwebhook = "{webhook.url}"\n',
        smtp_settings(smtp_server.port),
        cells=["rows = []", "if not rows:\n    raise ValueError('no rows for 2026-11-27')"],
    )
    manifest_path = tmp_path / "run.json"
    # A real failed run (the sandbox is not what this test is about).
    run = host_runner.run(tmp_path / "report.ipynb", "--manifest", str(manifest_path))
    assert run.returncode == 1, run.describe()
    run_id = json.loads(manifest_path.read_text())["run_id"]
    log = tmp_path / "deliveries.jsonl"

    sent = runner.run_raw(
        ["schedule", "notify-test", str(spec), "--manifest", str(manifest_path), "--log", str(log)],
        env={PASSWORD_VAR: SMTP_PASSWORD},
    )
    assert sent.returncode == 0, sent.describe()
    assert sent.stdout.splitlines() == [
        f"delivered email:{OWNER} (1 attempt)",
        f"delivered webhook:{webhook.url} (1 attempt)",
        f"delivery log: {log}",
    ]

    link = f"http://127.0.0.1:8888/tiffin/daily-sales/runs/{run_id}"
    assert smtp_server.mailbox.logins == [(SMTP_USER, SMTP_PASSWORD)]
    [envelope] = smtp_server.mailbox.envelopes
    assert (envelope.mail_from, envelope.rcpt_tos) == (SENDER, [OWNER])
    [mail] = smtp_server.mailbox.messages()
    assert mail["From"] == f"Tiffin <{SENDER}>"
    assert mail["To"] == OWNER
    subject = re.fullmatch(
        r"\[tiffin\] daily-sales failed \(run (\d{4}-\d\d-\d\dT06:00) attempt 1\)", mail["Subject"]
    )
    assert subject, mail["Subject"]
    body = mail.get_payload(decode=True)
    assert isinstance(body, bytes)
    text = body.decode().replace("\r\n", "\n")  # SMTP's line ends
    for expected in [
        "Schedule:     daily-sales",
        f"Run:          {run_id}",
        f"Logical date: {subject.group(1)}",
        "Status:       failed",
        f"Link:         {link}",
        "cell 2 raised ValueError: no rows for 2026-11-27",
        "Failing cell: 2\n    if not rows:\n        raise ValueError('no rows for 2026-11-27')",
        "Error: ValueError: no rows for 2026-11-27",
        "Traceback:",
        "----> 2     raise ValueError('no rows for 2026-11-27')",
    ]:
        assert expected in text, f"{expected!r} not in\n{text}"
    assert "\x1b" not in text, "the traceback keeps no ANSI colour codes"

    [posted] = webhook.bodies
    assert posted["text"] == mail["Subject"]
    assert [b["type"] for b in posted["blocks"]] == ["section"] * 4
    assert all(b["text"]["type"] == "mrkdwn" for b in posted["blocks"])
    overview, message, cell, error = (b["text"]["text"] for b in posted["blocks"])
    assert overview.startswith(f"*daily-sales failed*\nRun `{run_id}`")
    assert overview.endswith(f"<{link}|Open the run>")
    assert message == "cell 2 raised ValueError: no rows for 2026-11-27"
    assert cell.startswith("*Failing cell 2*\n```\nif not rows:")
    assert error.startswith("*ValueError: no rows for 2026-11-27*\n```\n")
    assert "\x1b" not in error

    records = read_log(log)
    assert [(r["target"], r["result"], r["attempts"], r["error"]) for r in records] == [
        (f"email:{OWNER}", "delivered", 1, None),
        (f"webhook:{webhook.url}", "delivered", 1, None),
    ]
    assert {(r["schedule"], r["run_id"], r["event"]) for r in records} == {
        ("daily-sales", run_id, "failure")
    }


def test_a_webhook_failing_twice_is_delivered_on_the_third_attempt(
    runner: Runner, tmp_path: Path, webhook: Receiver
) -> None:
    spec = write_setup(
        tmp_path,
        f'[[notify]]\nwebhook = "{webhook.url}"\non = ["success"]\n',
        '[notify]\nattempts = 3\nretry_delay = "1s"\n',
    )
    webhook.answers.extend([500, 500])
    log = tmp_path / "deliveries.jsonl"
    sent = runner.run_raw(
        ["schedule", "notify-test", str(spec), "--event", "success", "--log", str(log)]
    )
    assert sent.returncode == 0, sent.describe()
    assert sent.stdout.splitlines()[0] == f"delivered webhook:{webhook.url} (3 attempts)"
    assert len(webhook.bodies) == 3, "two refused posts, then the accepted one"
    assert webhook.bodies[2]["text"].startswith("[tiffin] daily-sales succeeded (run ")
    # Each failed attempt is logged as it happens.
    assert sent.stderr.count("HTTP 500 Internal Server Error try later; trying again") == 2, (
        sent.stderr
    )
    [record] = read_log(log)
    assert (record["result"], record["attempts"], record["event"]) == ("delivered", 3, "success")


def test_an_unreachable_target_is_recorded_and_the_other_still_delivered(
    runner: Runner, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hooks/gone"
    spec = write_setup(
        tmp_path,
        f'[[notify]]\nwebhook = "{dead}"\n\n[[notify]]\nemail = "{OWNER}"\n',
        smtp_settings(smtp_server.port, attempts=2, retry_delay="1s"),
    )
    sent = runner.run_raw(["schedule", "notify-test", str(spec)], env={PASSWORD_VAR: SMTP_PASSWORD})
    assert sent.returncode == EXIT_NOT_DELIVERED, sent.describe()
    failed, delivered, log_line = sent.stdout.splitlines()
    assert failed.startswith(f"FAILED    webhook:{dead} (2 attempts): POST {dead}: ")
    assert "Connection refused" in failed, failed
    assert delivered == f"delivered email:{OWNER} (1 attempt)"
    [mail] = smtp_server.mailbox.messages()
    assert mail["Subject"].startswith("[tiffin] daily-sales failed (run ")

    # Without a --log, the log goes beside the lineage file of the notebook's tiffin.toml.
    log = tmp_path / ".tiffin" / "notifications.jsonl"
    assert log_line == f"delivery log: {log}"
    records = read_log(log)
    assert [(r["target"], r["result"], r["attempts"]) for r in records] == [
        (f"webhook:{dead}", "failed", 2),
        (f"email:{OWNER}", "delivered", 1),
    ]
    assert "Connection refused" in records[0]["error"]


def test_e_mail_without_smtp_settings_or_password_is_a_clear_failure(
    runner: Runner, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    spec = write_setup(tmp_path, f'[[notify]]\nemail = "{OWNER}"\n', "")
    shown = runner.run_raw(["schedule", "show", str(spec)])
    assert shown.returncode == 0, shown.describe()
    assert f"warning: e-mail to {OWNER} cannot be sent: {tmp_path / 'tiffin.toml'} has no" in (
        shown.stderr
    )
    sent = runner.run_raw(["schedule", "notify-test", str(spec)])
    assert sent.returncode == EXIT_NOT_DELIVERED, sent.describe()
    assert sent.stdout.splitlines()[0] == (
        f"FAILED    email:{OWNER} (1 attempt): no SMTP server is configured: "
        "set smtp_host and from under [notify] in tiffin.toml"
    )

    (tmp_path / "tiffin.toml").write_text(smtp_settings(smtp_server.port))
    no_password = runner.run_raw(["schedule", "notify-test", str(spec)], env={PASSWORD_VAR: None})
    assert no_password.returncode == EXIT_NOT_DELIVERED, no_password.describe()
    assert f"the environment variable {PASSWORD_VAR} (password_env) is not set" in (
        no_password.stdout
    )
    assert smtp_server.mailbox.envelopes == []
    records = read_log(tmp_path / ".tiffin" / "notifications.jsonl")
    assert [r["result"] for r in records] == ["failed", "failed"]


def notify_test_over_tls(
    runner: Runner,
    tmp_path: Path,
    mailbox: Mailbox,
    context: ssl.SSLContext,
    mode: str,
    settings: str = "",
) -> tuple[RunResult, int]:
    """`runner schedule notify-test` against an SMTP server with `context`'s certificate, over
    STARTTLS (`mode` "starttls", required by the server) or implicit TLS ("tls"); `settings` are
    more `[notify]` lines. What the runner did, and the server's port."""
    port = free_port()
    if mode == "starttls":
        controller = Controller(
            mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True
        )
    else:
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, ssl_context=context)
    controller.start()
    try:
        spec = write_setup(
            tmp_path,
            f'[[notify]]\nemail = "{OWNER}"\n',
            f'[notify]\nsmtp_host = "127.0.0.1"\nsmtp_port = {port}\nsmtp_tls = "{mode}"\n'
            f'{settings}from = "{SENDER}"\nattempts = 1\n',
        )
        return runner.run_raw(["schedule", "notify-test", str(spec)]), port
    finally:
        controller.stop()


def test_starttls_refuses_a_certificate_it_cannot_trust(runner: Runner, tmp_path: Path) -> None:
    """With smtp_tls = "starttls" the connection is upgraded and the server's certificate checked
    against the web PKI roots: a self-signed one is refused, and nothing is sent in the clear."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
            *["-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox = Mailbox()
    sent, port = notify_test_over_tls(runner, tmp_path, mailbox, context, "starttls")
    assert sent.returncode == EXIT_NOT_DELIVERED, sent.describe()
    failed = sent.stdout.splitlines()[0]
    assert failed.startswith(f"FAILED    email:{OWNER} (1 attempt): SMTP 127.0.0.1:{port}: "), (
        failed
    )
    assert "certificate" in failed, failed
    assert mailbox.envelopes == []


def private_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA of its own and a server certificate for 127.0.0.1 it signed (with openssl): the CA's
    PEM file and the server's TLS context."""
    directory.mkdir()

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=directory)

    openssl(
        *["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"],
        *["-subj", "/CN=Tiffin test CA", "-keyout", "ca.key", "-out", "ca.pem"],
    )
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        *["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
        *["-keyout", "server.key", "-out", "server.csr"],
    )
    openssl(
        *["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key"],
        *["-CAcreateserial", "-days", "1", "-out", "server.pem", "-extfile", "server.ext"],
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return directory / "ca.pem", context


class TlsMailbox(Mailbox):
    """A mailbox that notes whether each message came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        transport = server.transport
        upgraded = session.ssl is not None
        wrapped = transport is not None and transport.get_extra_info("ssl_object") is not None
        self.over_tls.append(upgraded or wrapped)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_is_verified_against_the_private_ca_of_smtp_ca_file(
    runner: Runner, tmp_path: Path, mode: str
) -> None:
    """A company relay with a certificate from its own CA: `smtp_ca_file` (relative to
    tiffin.toml) makes STARTTLS and implicit TLS trust it, and the e-mail goes over TLS."""
    ca, context = private_ca(tmp_path / "certs")
    mailbox = TlsMailbox()
    trust = f'smtp_ca_file = "{ca.relative_to(tmp_path)}"\n'
    sent, _ = notify_test_over_tls(runner, tmp_path, mailbox, context, mode, trust)
    assert sent.returncode == 0, sent.describe()
    assert sent.stdout.startswith(f"delivered email:{OWNER} (1 attempt)"), sent.stdout
    assert [m["To"] for m in mailbox.messages()] == [OWNER]
    assert mailbox.over_tls == [True]


def test_a_bad_config_or_spec_exits_2(runner: Runner, tmp_path: Path) -> None:
    spec = write_setup(
        tmp_path,
        '[[notify]]\nwebhook = "http://127.0.0.1:9/x"\n',
        '[notify]\nsmtp_host = "127.0.0.1"\nsmtp_tls = "ssl"\nfrom = "t@example.com"\n',
    )
    bad_tls = runner.run_raw(["schedule", "notify-test", str(spec)])
    assert bad_tls.returncode == EXIT_USAGE, bad_tls.describe()
    assert bad_tls.stderr.strip() == (
        f"{tmp_path / 'tiffin.toml'}: [notify] smtp_tls: `ssl` is not one of none, starttls, tls"
    )

    (tmp_path / "tiffin.toml").write_text("")
    nobody = runner.run_raw(["schedule", "notify-test", str(spec), "--event", "slow"])
    assert nobody.returncode == EXIT_USAGE, nobody.describe()
    assert "no [[notify]] entry has `slow` in its `on`" in nobody.stderr

    spec.write_text(spec.read_text() + 'on = ["sometimes"]\n')
    bad_spec = runner.run_raw(["schedule", "notify-test", str(spec)])
    assert bad_spec.returncode == EXIT_USAGE, bad_spec.describe()
    assert "unknown event `sometimes`" in bad_spec.stderr


def test_schedule_notify_tells_the_run_another_scheduler_ran(
    runner: Runner, host_runner: Runner, tmp_path: Path, webhook: Receiver
) -> None:
    """`runner schedule notify` (the Airflow DAG's failure callback) sends the notice of the run
    it is given: from its manifest, with the logical date and attempt the scheduler names; or,
    for a run that never ran its notebook (inputs that never came), its id and message. Targets
    that do not listen to the event get nothing."""
    spec = write_setup(
        tmp_path,
        f'[[notify]]\nwebhook = "{webhook.url}"\n',
        "",
        cells=["raise ValueError('late data')"],
    )
    manifest_path = tmp_path / "run.json"
    run = host_runner.run(tmp_path / "report.ipynb", "--manifest", str(manifest_path))
    assert run.returncode == 1, run.describe()
    run_id = json.loads(manifest_path.read_text())["run_id"]
    log = tmp_path / "deliveries.jsonl"
    when = ["--logical-date", "2026-11-27T06:00", "--log", str(log)]

    sent = runner.run_raw(
        ["schedule", "notify", str(spec), "--manifest", str(manifest_path), "--attempt", "3", *when]
    )
    assert sent.returncode == 0, sent.describe()
    [posted] = webhook.bodies
    assert posted["text"] == "[tiffin] daily-sales failed (run 2026-11-27T06:00 attempt 3)"
    overview, message, cell, error = (b["text"]["text"] for b in posted["blocks"])
    assert overview.startswith(f"*daily-sales failed*\nRun `{run_id}`")
    assert message == "cell 1 raised ValueError: late data"
    assert cell.startswith("*Failing cell 1*\n```\nraise ValueError('late data')")
    assert error.startswith("*ValueError: late data*")

    message_only = "task wait_for_inputs failed: Sensor has timed out"
    sent = runner.run_raw(
        ["schedule", "notify", str(spec), "--run-id", "totals/manual__1/wait", *when,
         "--message", message_only]
    )  # fmt: skip
    assert sent.returncode == 0, sent.describe()
    posted = webhook.bodies[1]
    assert posted["text"] == "[tiffin] daily-sales failed (run 2026-11-27T06:00 attempt 1)"
    text = "\n".join(b["text"]["text"] for b in posted["blocks"])
    assert "Run `totals/manual__1/wait`" in text
    assert message_only in text
    assert [record["run_id"] for record in read_log(log)] == [run_id, "totals/manual__1/wait"]

    quiet = runner.run_raw(["schedule", "notify", str(spec), "--event", "success",
                            "--manifest", str(manifest_path), *when])  # fmt: skip
    assert quiet.returncode == 0, quiet.describe()
    assert quiet.stdout == "no [[notify]] target of daily-sales listens to `success`\n"
    assert len(webhook.bodies) == 2

    neither = runner.run_raw(["schedule", "notify", str(spec), *when])
    assert neither.returncode == 2, neither.describe()
