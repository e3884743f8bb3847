"""Outgoing mail: a durable queue, and delivery to the relay or the local outbox.

Everything the gateway sends (notifications, digests, confirmations,
moderation requests, notices) is first written to the queue, one file per
message and recipient, named from the message's Message-ID and the
recipient. Queueing the same pair again does nothing, while it waits and after
it has gone, so a fan-out that is run again after a crash sends nobody a
second copy. Layout under ``<state_dir>/outgoing``::

    tmp/                  files being written
    queue/<name>.msg      waiting: one line of JSON (envelope), a newline, the message
    queue/<name>.tries    failed attempts so far and when to try next
    sent/<name>           what became of it: sent, or failed with the relay's reply
    fanned/<job>          a post's fan-out is done (written by the notifier)

``sent/`` and ``fanned/`` are what makes a second run queue nobody twice, so
they are kept for ``redelivery_days`` (the longest an MTA may deliver the same
message again) and then pruned by :meth:`Queue.prune`.

Delivery goes to the configured SMTP relay (STARTTLS and credentials from
``INTRANET_RELAY_USER`` / ``INTRANET_RELAY_PASSWORD`` if set), one SMTP
transaction per recipient so each has its own VERP return path. A ``4xx``
or a dropped connection is retried with backoff; a ``5xx`` fails that
recipient only and is reported as a bounce. Without a relay, mail is written
into the Maildir ``<state_dir>/outbox`` under the same name, so it is there
exactly once and nothing leaves the machine.

With ``dkim_key_file`` set, each message is DKIM-signed as it leaves, on its
way to the relay or the outbox (:mod:`mailgateway.dkimsign`): the queued
bytes are final, so the bytes signed are the bytes sent. A retry signs the
queued bytes again; a message never carries two signatures of ours.

The one case no client of SMTP can rule out: a crash after the relay said
250 and before ``sent/`` records it. The message is then sent again, with the
same Message-ID, so mail clients show it once.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import hashlib
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from intranet.cli import host_port
from intranet.pacing import PACING
from intranet.settings import Settings

from .dkimsign import Signer
from .spool import fsync_dir, remove_durably, write_durably

log = logging.getLogger(__name__)

RELAY_USER_ENV = "INTRANET_RELAY_USER"
RELAY_PASSWORD_ENV = "INTRANET_RELAY_PASSWORD"  # noqa: S105 - the name of the variable
GIVE_UP_AFTER = dt.timedelta(days=3)
SENT, FAILED = "sent", "failed"
FANNED = "fanned"  # the notifier's record of fan-outs done, pruned with sent/


@dataclass
class Outgoing:
    """The envelope of one queued message."""

    mail_from: str
    rcpt: str
    kind: str  # post, digest, confirm, moderate, notice, probe
    community: str = ""
    message_id: str = ""
    queued: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def message_name(message_id: str, rcpt: str) -> str:
    return hashlib.sha256(f"{message_id}|{rcpt.strip().lower()}".encode()).hexdigest()[:32]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Queue:
    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "outgoing"
        self.tmp = self.root / "tmp"
        self.queue = self.root / "queue"
        self.sent = self.root / "sent"
        for folder in (self.tmp, self.queue, self.sent):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    def known(self, name: str) -> bool:
        return (self.queue / f"{name}.msg").exists() or (self.sent / name).exists()

    def enqueue(self, message: EmailMessage, envelope: Outgoing, sync_dir: bool = True) -> bool:
        """Queue ``message`` for ``envelope.rcpt``; False if this message already went or waits for them.

        With ``sync_dir=False`` the caller fsyncs :attr:`queue` (the folder) itself, once for many."""
        envelope.message_id = envelope.message_id or str(message["Message-ID"] or "")
        name = message_name(envelope.message_id, envelope.rcpt)
        if self.known(name):
            return False
        envelope.queued = envelope.queued or _now().isoformat(timespec="seconds")
        head = json.dumps(asdict(envelope), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        data = head + b"\n" + message.as_bytes(policy=email.policy.SMTP)
        write_durably(self.queue / f"{name}.msg", data, self.tmp, sync_dir=sync_dir)
        return True

    def pending(self) -> list[str]:
        return sorted(p.stem for p in self.queue.glob("*.msg"))

    def load(self, name: str) -> tuple[Outgoing, bytes]:
        head, _, raw = (self.queue / f"{name}.msg").read_bytes().partition(b"\n")
        return Outgoing(**json.loads(head)), raw

    def attempts(self, name: str) -> tuple[int, str]:
        try:
            data = json.loads((self.queue / f"{name}.tries").read_text())
            return int(data["tries"]), str(data["next"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0, ""

    def retry_later(self, name: str, error: str, now: dt.datetime) -> None:
        tries = self.attempts(name)[0] + 1
        later = now + dt.timedelta(seconds=min(3600, 15 * 2**tries))
        data = {"tries": tries, "next": later.isoformat(), "error": error}
        write_durably(self.queue / f"{name}.tries", json.dumps(data).encode(), self.tmp)

    def finish(self, names: str | list[str], status: str, detail: str, now: dt.datetime) -> None:
        """Record the outcome first, then forget the queued files (one fsync of each folder for them all)."""
        names = [names] if isinstance(names, str) else names
        record = {"status": status, "detail": detail[:500], "time": now.isoformat(timespec="seconds")}
        for name in names:
            write_durably(self.sent / name, json.dumps(record).encode(), self.tmp, sync_dir=False)
        fsync_dir(self.sent)
        remove_durably(self.queue, names, (".msg", ".tries"))

    def outcome(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(json.loads((self.sent / name).read_text()))
        except (FileNotFoundError, ValueError):
            return None

    def prune(self, older_than: dt.timedelta, now: dt.datetime) -> int:
        """Forget what was sent, and fan-outs done, longer ago than any redelivery could come; return how many."""
        cutoff = (now - older_than).timestamp()
        pruned = 0
        for folder in (self.sent, self.root / FANNED):
            for entry in os.scandir(folder) if folder.is_dir() else ():
                try:
                    if entry.stat().st_mtime < cutoff:
                        os.unlink(entry.path)
                        pruned += 1
                except FileNotFoundError:
                    continue
        if pruned:
            log.info("forgot %d sent mails and fan-outs older than %s", pruned, older_than)
        return pruned


class Delivery:
    """Sends queued mail: to the relay, or into the outbox Maildir."""

    def __init__(
        self,
        state_dir: Path,
        settings: Settings,
        on_failure: Callable[[Outgoing, str], None] | None = None,
        clock: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.settings = settings
        self.queue = Queue(state_dir)
        self.outbox = Path(state_dir) / "outbox"
        self.on_failure = on_failure
        self.clock = clock
        self.signer = Signer.from_settings(settings, Path(state_dir))  # None: mail goes unsigned

    def signed(self, raw: bytes, envelope: Outgoing) -> bytes:
        """The message as it is sent: DKIM-signed when a key is set."""
        return self.signer.sign(raw, envelope.message_id) if self.signer is not None else raw

    def due(self) -> list[str]:
        now = self.clock()
        result = []
        for name in self.queue.pending():
            _, later = self.queue.attempts(name)
            if not later or dt.datetime.fromisoformat(later) <= now:
                result.append(name)
        return result

    def run_once(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Try every due message once; return how many went."""
        names = self.due()
        if not names:
            return 0
        if not self.settings.relay:
            return self._all_to_maildir(names, stop)
        sent = 0
        smtp: smtplib.SMTP | None = None
        try:
            for name in names:
                if stop():
                    break
                PACING.give_way()  # while mail floods in, the worker goes first (intranet.pacing)
                if self.queue.outcome(name) is not None:  # recorded before a crash: only the file was left
                    self.queue.finish(name, SENT, "already recorded", self.clock())
                    continue
                try:
                    envelope, raw = self.queue.load(name)
                except FileNotFoundError:
                    continue
                try:
                    if smtp is None:
                        smtp = self._connect()
                    smtp.sendmail(envelope.mail_from, [envelope.rcpt], self.signed(raw, envelope))
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = next(iter(exc.recipients.values()))
                    self._refused(name, envelope, code, _text(text))
                    continue
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    self._refused(name, envelope, exc.smtp_code, _text(exc.smtp_error))
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    _close(smtp)
                    smtp = None
                    self._later(name, envelope, f"{type(exc).__name__}: {exc}")
                    continue
                self.queue.finish(name, SENT, "250", self.clock())
                sent += 1
        finally:
            _close(smtp)
        return sent

    def _connect(self) -> smtplib.SMTP:
        host, port = host_port(self.settings.relay)
        smtp = smtplib.SMTP(host, port, timeout=60, local_hostname=self.settings.mail_domain)
        if self.settings.relay_starttls:
            smtp.starttls(context=ssl.create_default_context())
        user, password = os.environ.get(RELAY_USER_ENV, ""), os.environ.get(RELAY_PASSWORD_ENV, "")
        if user:
            smtp.login(user, password)
        return smtp

    def _refused(self, name: str, envelope: Outgoing, code: int, text: str) -> None:
        detail = f"{code} {text}"
        if 400 <= code < 500:
            self._later(name, envelope, detail)
            return
        log.warning("outgoing %s to %s refused: %s", envelope.message_id, envelope.rcpt, detail)
        self.queue.finish(name, FAILED, detail, self.clock())
        if self.on_failure is not None:
            self.on_failure(envelope, detail)

    def _later(self, name: str, envelope: Outgoing, error: str) -> None:
        now = self.clock()
        queued = dt.datetime.fromisoformat(envelope.queued) if envelope.queued else now
        if now - queued > GIVE_UP_AFTER:
            log.warning(
                "outgoing %s to %s: giving up after %s: %s", envelope.message_id, envelope.rcpt, now - queued, error
            )
            self.queue.finish(name, FAILED, f"gave up: {error}", now)
            if self.on_failure is not None:
                self.on_failure(envelope, f"gave up: {error}")
            return
        log.info("outgoing %s to %s: will retry (%s)", envelope.message_id, envelope.rcpt, error)
        self.queue.retry_later(name, error, now)

    def _all_to_maildir(self, names: list[str], stop: Callable[[], bool]) -> int:
        """Deliver ``names`` into the outbox: each file fsynced, then the folder once; then their
        records in ``sent/``, likewise; only then are they taken from the queue."""
        for sub in ("tmp", "new", "cur"):
            (self.outbox / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        delivered = []
        for name in names:
            if stop():
                break
            PACING.give_way()
            try:
                envelope, raw = self.queue.load(name)
            except FileNotFoundError:
                continue
            target = self.outbox / "new" / f"{name}.eml"
            if not target.exists():
                trace = f"Return-Path: <{envelope.mail_from}>\r\nDelivered-To: {envelope.rcpt}\r\n".encode()
                write_durably(target, trace + self.signed(raw, envelope), self.outbox / "tmp", sync_dir=False)
            delivered.append(name)
        if delivered:
            fsync_dir(self.outbox / "new")
            self.queue.finish(delivered, SENT, "outbox", self.clock())
        return len(delivered)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


def read_outbox(state_dir: Path) -> list[EmailMessage]:
    """The messages in the local outbox, oldest first (for people trying the demo, and tests)."""
    folder = Path(state_dir) / "outbox" / "new"
    if not folder.is_dir():
        return []
    paths = sorted(folder.iterdir(), key=lambda p: (p.stat().st_mtime_ns, p.name))
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]  # type: ignore[misc]
