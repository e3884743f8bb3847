"""SMTP and LMTP intake (aiosmtpd). The transaction only checks and spools.

``RCPT`` to an address that is not a community (or carries a reply token
that does not check out) gets ``550 5.1.1``; ``SIZE`` is advertised and a
message over the limit gets ``552``. ``DATA`` writes the message durably to
the spool and only then answers 250; anything that goes wrong before that
is a ``451`` so the sender's server tries again. Parsing, policy and Git
happen later, in the worker, never inside the SMTP transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from intranet.addresses import load_secret, parse_suffix, split_address
from intranet.cli import host_port
from intranet.gitremote import public_url
from intranet.model import Model
from intranet.settings import Settings

from .claims import Claims
from .heldshare import HeldShare
from .imap import Intake
from .notify import Notifier
from .oneclick import OneClick
from .pusher import Pusher
from .remote import Remote, gateway_root
from .selfjoin import JOIN_MAIL
from .spool import Envelope as SpoolEnvelope
from .spool import Records, Spool
from .worker import Worker

log = logging.getLogger(__name__)

OK = "250 2.0.0 OK: queued as {key}"
NO_SUCH_COMMUNITY = "550 5.1.1 No such community here: see the intranet's home page for the addresses"
BAD_REPLY_ADDRESS = "550 5.1.1 This reply address is not valid here"
WRONG_DOMAIN = "550 5.1.2 We do not take mail for that domain here"
TRY_LATER = "451 4.3.0 Could not store the message; try again later"


class Handler:
    """aiosmtpd handler: RCPT checks, DATA spools."""

    def __init__(self, root: Path, settings: Settings, spool: Spool, records: Records, worker: Worker) -> None:
        self.settings = settings
        self.spool = spool
        self.records = records
        self.worker = worker
        self.secret = load_secret(root / settings.state_dir)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.check_recipient(address)
        if reply is not None:
            self.records.add(
                outcome="rejected", reason="unknown-community", sender=envelope.mail_from, recipient=address
            )
            log.info("refused RCPT %s from %s: %s", address, envelope.mail_from, reply)
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def check_recipient(self, address: str) -> str | None:
        parts = split_address(address)
        if parts is None:
            return NO_SUCH_COMMUNITY
        if parts.domain != self.settings.mail_domain.lower():
            return WRONG_DOMAIN
        if self.worker.directory().community_for(parts.mail) is None and parts.mail != JOIN_MAIL:
            return NO_SUCH_COMMUNITY
        if parts.suffix and parse_suffix(self.secret, parts.mail, parts.suffix) is None:
            return BAD_REPLY_ADDRESS
        return None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        protocol = "lmtp" if isinstance(server, LMTP) else "smtp"
        spooled = SpoolEnvelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            peer=str(session.peer[0]) if isinstance(session.peer, tuple) else str(session.peer or ""),
            protocol=protocol,
            received=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            helo=str(session.host_name or ""),
        )
        try:
            key = await asyncio.get_running_loop().run_in_executor(None, self.spool.accept, raw, spooled)
        except OSError:
            log.exception("could not spool a message from %s", envelope.mail_from)
            return _per_recipient(protocol, TRY_LATER, len(envelope.rcpt_tos))
        if self.worker is not None:
            self.worker.wake()
        return _per_recipient(protocol, OK.format(key=key), len(envelope.rcpt_tos))


def _per_recipient(protocol: str, reply: str, count: int) -> str:
    """LMTP answers DATA once per accepted recipient (RFC 2033); SMTP once."""
    return "\r\n".join([reply] * max(1, count)) if protocol == "lmtp" else reply


def _recording(base: type[SMTP], records: Records) -> type[SMTP]:
    """aiosmtpd refuses oversize mail itself (at MAIL FROM SIZE= and during DATA); record those refusals."""

    class Recording(base):  # type: ignore[valid-type, misc]
        # RFC 5321 caps lines at 1000 octets, but real clients send longer HTML lines and
        # Postfix passes them on: refusing them would lose mail. The size limit still holds.
        line_length_limit = 1 << 16

        async def push(self, status: str | bytes) -> None:
            text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
            if text.startswith("552"):
                sender = self.envelope.mail_from if self.envelope is not None else ""
                self.records_too_large(sender, text)
            await super().push(status)

        def records_too_large(self, sender: str | None, text: str) -> None:
            records.add(outcome="rejected", reason="too-large", sender=sender or "", reply=text)
            log.info("refused an oversize message from %s: %s", sender or "<>", text)

    return Recording


class _Controller(Controller):
    def __init__(self, handler: Handler, hostname: str, port: int, lmtp: bool, settings: Settings) -> None:
        self.lmtp = lmtp
        self.settings = settings
        super().__init__(handler, hostname=hostname, port=port, ready_timeout=10.0)

    def factory(self) -> SMTP:
        cls = _recording(LMTP if self.lmtp else SMTP, self.handler.records)
        return cls(
            self.handler,
            data_size_limit=self.settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=self.settings.mail_domain,
            ident="intranet gateway",
        )


class Gateway:
    """The listening servers and the worker, started and stopped together."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        smtp: str | None = None,
        lmtp: str | None = None,
        model: Model | None = None,  # the process's model (``intranet up``); alone, the gateway keeps its own
    ) -> None:
        self.root, settings = gateway_root(Path(root), settings)  # with a remote: the gateway's own checkout
        self.settings = settings
        self.worker = Worker(self.root, settings, model=model)
        self.pusher: Pusher | None = None
        if settings.remote:
            remote = Remote(self.root, settings.remote, settings.branch)
            self.pusher = Pusher(remote, settings, self.worker.wake, self.worker.model)
            self.worker.pusher = self.pusher
        self.notifier = Notifier(self.root, settings, model=self.worker.model)
        if self.pusher is not None:  # other gateways may push to the same remote: fan-outs are claimed there,
            self.notifier.claims = Claims(self.pusher.remote, self.pusher.gateway_email)  # held mail shared
            held = HeldShare(self.pusher.remote, self.worker.spool, self.pusher.gateway_email)
            self.pusher.held = self.worker.effects.held_share = held
        self.worker.notifier = self.notifier
        self.worker.effects.wake_notifier = self.notifier.wake
        self.notifier.on_refused = self.worker.bounced
        self.handler = Handler(self.root, settings, self.worker.spool, self.worker.records, self.worker)
        self.smtp = settings.smtp if smtp is None else smtp
        self.lmtp = settings.lmtp if lmtp is None else lmtp
        self.controllers: list[_Controller] = []
        self.intake: Intake | None = None
        self.one_click: OneClick | None = None
        if settings.unsubscribe_http:
            self.one_click = OneClick(
                settings.unsubscribe_http,
                settings,
                self.handler.secret,
                lambda: self.worker.directory().communities,
                self.worker.unsubscribe,
            )

    def start(self) -> list[str]:
        self.worker.directory()  # read (or catch up) before the first RCPT is checked against it
        self.worker.start()
        self.notifier.start()
        listening = []
        if self.pusher is not None:
            self.pusher.start()
            listening.append(f"pushing to {public_url(self.settings.remote)} ({self.settings.branch})")
        try:
            for value, is_lmtp in ((self.smtp, False), (self.lmtp, True)):
                if not value:
                    continue
                host, port = host_port(value)
                controller = _Controller(self.handler, host, port, is_lmtp, self.settings)
                controller.start()
                self.controllers.append(controller)
                listening.append(f"{'LMTP' if is_lmtp else 'SMTP'} on {host}:{port}")
            self.intake = Intake(
                self.root,
                self.settings,
                self.worker.spool,
                self.worker.records,
                self.mails,
                self.worker.wake,
            )
            listening += self.intake.start()
            if self.one_click is not None:
                listening.append(self.one_click.start())
        except BaseException:
            self.stop()
            raise
        self.worker.wake()  # anything left in the spool from before
        log.info("gateway for @%s: %s", self.settings.mail_domain, ", ".join(listening) or "no listener")
        return listening

    def remote_moved(self) -> None:
        """``intranet notify``: the remote's branch moved (see :mod:`intranet.follow`)."""
        if self.pusher is not None:
            self.pusher.fetch_soon()

    def mails(self) -> set[str]:
        """The community addresses (local parts) mail is taken for."""
        return set(self.worker.directory().by_mail)

    def stop(self) -> None:
        if self.one_click is not None:
            self.one_click.stop()
        if self.intake is not None:
            self.intake.stop()
            self.intake = None
        for controller in self.controllers:
            try:
                controller.stop()
            except (RuntimeError, AssertionError):
                pass
        self.controllers.clear()
        self.worker.stop()
        self.notifier.stop()
        if self.pusher is not None:
            self.pusher.stop()
