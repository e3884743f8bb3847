"""A real gateway on loopback, and a mail client to talk to it."""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from conftest import free_port
from helpers import CORPUS, add_person, small_intranet, write_config  # noqa: F401 - CORPUS for the tests that import it here

from intranet.addresses import load_secret, reply_address
from intranet.format import read_intranet
from intranet.settings import read_settings
from mailgateway.server import Gateway
from mailgateway.spool import Records

DOMAIN = "intranet.localhost"


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def git_root(root: Path, **settings: Any) -> Path:
    """The small test intranet, in a Git repository of its own."""
    root.mkdir(parents=True, exist_ok=True)
    small_intranet(root)
    base = {"smtp": f"127.0.0.1:{free_port()}", "lmtp": f"127.0.0.1:{free_port()}", "trust_local_senders": True}
    base.update(settings)
    write_config(root, **base)
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "add", "-A")
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", "Start")
    return root


def with_subscribers(root: Path, subscribers: str) -> Path:
    """``root`` (a :func:`git_root`) with Cy Diaz added and handover's ``subscribers.yml`` as given, committed."""
    add_person(root, "cy.diaz", name="Cy Diaz")
    (root / "communities/handover/subscribers.yml").write_text(subscribers)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Cy, subscribers")
    return root


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings = read_settings(root)
        self.gateway = Gateway(root, self.settings)
        self.smtp = _port(self.settings.smtp)
        self.lmtp = _port(self.settings.lmtp)

    def __enter__(self) -> Harness:
        self.gateway.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gateway.stop()

    # -- sending ---------------------------------------------------------------------

    def send(
        self,
        message: EmailMessage | bytes,
        to: list[str] | str,
        sender: str = "ann.lee@example.org",
        source: str | None = None,
    ) -> dict:
        recipients = [to] if isinstance(to, str) else to
        data = message if isinstance(message, bytes) else wire(message)
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=30, source_address=(source, 0) if source else None) as client:
            return client.sendmail(sender, recipients, data)

    def reply_address(self, community: str, topic_id: str, issued_to: str | None = None) -> str:
        secret = load_secret(self.root / self.settings.state_dir)
        return reply_address(secret, community, DOMAIN, topic_id, issued_to)

    # -- observing -------------------------------------------------------------------

    def records(self) -> list[dict]:
        return Records(self.root / self.settings.state_dir).all()

    def wait(self, message_id: str, count: int = 1, timeout: float = 60.0) -> list[dict]:
        """Records for ``message_id``, once there are ``count`` of them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.records() if r.get("message_id") == message_id]
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no outcome recorded for {message_id}: {self.records()[-5:]}")

    def posts(self, community: str | None = None) -> list:
        return [p for p in read_intranet(self.root).posts if community is None or p.community == community]

    def post(self, message_id: str):
        matches = [p for p in self.posts() if p.message_id == message_id]
        assert len(matches) == 1, matches
        return matches[0]

    def outbox(self, settle: float = 60.0) -> list[EmailMessage]:
        """What the gateway has sent to its local outbox, once its outgoing queue is empty."""
        from mailgateway.outgoing import read_outbox

        state = self.root / self.settings.state_dir
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            waiting = list((state / "outgoing" / "queue").glob("*.msg")) + list((state / "outgoing" / "jobs").glob("*"))
            if not waiting:
                break
            time.sleep(0.05)
        return read_outbox(state)


def wire(message: EmailMessage) -> bytes:
    """The message as it travels over SMTP: CRLF line ends."""
    return message.as_bytes(policy=email.policy.SMTP)


def _port(value: str) -> int:
    return int(value.rpartition(":")[2]) if value else 0


def head(subject: str, sender: str, to: str, message_id: str | None, in_reply_to: str | None) -> EmailMessage:
    """A message with only its header: From, To, Subject, Date, Message-ID and, for a reply, its parent."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = message_id or email.utils.make_msgid(domain="example.org")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    return message


def mail(
    subject: str = "Hello",
    body: str = "Hello all.",
    sender: str = "Ann Lee <ann.lee@example.org>",
    to: str = f"handover@{DOMAIN}",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    message = head(subject, sender, to, message_id, in_reply_to)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    return message
