"""IMAP intake (imapclient): mail that lives in someone else's mailbox comes in here.

Accounts are listed in the YAML file named by the ``imap_accounts`` setting::

    - host: outlook.office365.com
      port: 993                 # default 993 (implicit), 143 (starttls, none)
      tls: implicit             # implicit | starttls | none
      user: cop-intake@example.org
      password_env: INTRANET_IMAP_PASSWORD   # or oauth2_token_env: ... (XOAUTH2)
      folder: INBOX             # default INBOX
      community: handover       # deliver everything here; without it, route by recipient
      processed: seen           # seen | move (to move_to) | delete (after delete_after_days)
      move_to: Processed
      delete_after_days: 30
      poll_seconds: 300         # how often to look when the server has no IDLE

Each account gets a thread (:class:`Poller`) that waits in IDLE where the server offers
it, else polls, and reconnects with exponential backoff, logging each disconnect and
reconnect. A message is handled in this order, so that it is never lost and never posted
twice:

1. fetch its bytes by UID (``BODY.PEEK[]``: nothing is flagged yet);
2. write it to the spool durably (:meth:`Spool.accept`), as SMTP/LMTP do before their 250;
3. remember its UID with the folder's UIDVALIDITY in ``<state_dir>/imap/state.json``
   (written durably);
4. flag ``\\Seen``, move or delete everything at or below the remembered UID.

A crash after 2 and before 3 spools the message again on restart; the worker finds the
post already committed (same Message-ID, same content) and records ``already-posted``.
A crash after 3 and before 4 is finished by step 4 of the next pass. A changed
UIDVALIDITY resyncs the folder from the start (in ``seen`` mode: its unseen messages),
again relying on the worker's dedupe. Only UIDs, flags, dates and configured folder names
ever reach an IMAP command, never a string taken from a message.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import imaplib
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.imapclient import DELETED, SEEN

from intranet.settings import Settings

from .imapaccounts import Account, State, envelope_sender, load_accounts, route
from .spool import Envelope, Records, Spool

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 300.0
IDLE_SLICE = 1.0  # seconds between checks of the stop flag while idling
ERRORS: tuple[type[BaseException], ...] = (imaplib.IMAP4.error, OSError, socket.timeout, EOFError)


class Poller:
    """One account: connect, take new mail, wait (IDLE or poll), reconnect when dropped."""

    def __init__(
        self,
        account: Account,
        settings: Settings,
        spool: Spool,
        records: Records,
        state: State,
        communities: Callable[[], set[str]],
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.account = account
        self.settings = settings
        self.spool = spool
        self.records = records
        self.state = state
        self.communities = communities
        self.wake = wake
        self.clock = clock
        #: called with ("spooled" | "remembered", uid) after each step; tests stop a pass here
        self.on_step: Callable[[str, int], None] | None = None
        #: set while waiting in IDLE (or sleeping between polls), cleared while working
        self.waiting = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"imap {self.account.key}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run(self) -> None:
        """Until stopped: connect, work, wait; after a drop, back off and connect again."""
        backoff, dropped = FIRST_BACKOFF, False
        while not self._stop.is_set():
            try:
                with self.connect() as client:
                    log.info("IMAP %s: %s", self.account.key, "reconnected" if dropped else "connected")
                    dropped, backoff = False, FIRST_BACKOFF
                    while not self._stop.is_set():
                        self.run_once(client)
                        self.wait(client)
            except ERRORS as error:
                if self._stop.is_set():
                    break
                dropped = True
                log.warning(
                    "IMAP %s: disconnected after %s; reconnecting in %.1fs", self.account.key, _describe(error), backoff
                )
            except Exception:  # a bug must not end the intake: log it, back off, try again
                dropped = True
                log.exception("IMAP %s: unexpected error; reconnecting in %.1fs", self.account.key, backoff)
            else:
                continue
            self.waiting.clear()
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
        self.waiting.clear()

    def connect(self) -> IMAPClient:
        account = self.account
        context = ssl.create_default_context()
        client = IMAPClient(
            account.host, port=account.port, ssl=account.tls == "implicit", ssl_context=context, timeout=60
        )
        try:
            if account.tls == "starttls":
                client.starttls(context)
            if account.oauth2_token_env:
                client.oauth2_login(account.user, os.environ.get(account.oauth2_token_env, ""))
            else:
                client.login(account.user, os.environ.get(account.password_env, ""))
            if account.processed == "move" and not client.folder_exists(account.move_to):
                client.create_folder(account.move_to)
        except BaseException:
            _close(client)
            raise
        return client

    # -- one pass

    def run_once(self, client: IMAPClient) -> int:
        """Spool what is new in the folder, then mark it processed; return how many were spooled."""
        account = self.account
        status = client.select_folder(account.folder)
        _mail_reported(client)  # what SELECT reports is read below; only what comes after counts as new
        uidvalidity = int(status[b"UIDVALIDITY"])
        known = self.state.get(account.key)
        if known is None or known[0] != uidvalidity:
            if known is not None:
                log.warning(
                    "IMAP %s: UIDVALIDITY changed from %s to %s; reading the folder again",
                    account.key,
                    known[0],
                    uidvalidity,
                )
            last = 0
            criteria: list[Any] = ["UNSEEN"] if account.processed == "seen" else ["ALL"]
        else:
            last = known[1]
            criteria = ["UID", f"{last + 1}:*"]
        resync = known is None or known[0] != uidvalidity
        top = _highest(client) if resync else 0  # in "seen" mode, read mail above the last unseen is done
        uids = sorted(uid for uid in client.search(criteria) if uid > last)
        for uid in uids:
            self._take(client, uid, uidvalidity)
            last = uid
        if uids:
            self.wake()
        if resync and (top > last or not uids):
            self.state.set(account.key, uidvalidity, max(top, last))
        self._dispose(client, uidvalidity)
        return len(uids)

    def _take(self, client: IMAPClient, uid: int, uidvalidity: int) -> None:
        account = self.account
        size = client.fetch([uid], ["RFC822.SIZE"]).get(uid, {}).get(b"RFC822.SIZE", 0)
        if size > self.settings.max_message_bytes:
            log.info("IMAP %s: UID %s is too big (%s bytes); not taken", account.key, uid, size)
            self.records.add(outcome="rejected", reason="too-large", imap=account.key, uid=uid, size=size)
        else:
            raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
            if raw is None:  # expunged meanwhile
                return
            self._spool(bytes(raw), uid, uidvalidity)
        self.state.set(account.key, uidvalidity, uid)
        self._step("remembered", uid)

    def _spool(self, raw: bytes, uid: int, uidvalidity: int) -> None:
        account = self.account
        rcpts = route(raw, account, self.settings.mail_domain, self.communities())
        message_id = _message_id(raw)
        if not rcpts:
            log.info("IMAP %s: UID %s %s is for no community here; not taken", account.key, uid, message_id)
            self.records.add(
                outcome="rejected", reason="unknown-community", imap=account.key, uid=uid, message_id=message_id
            )
            return
        envelope = Envelope(
            mail_from=envelope_sender(raw),
            rcpt_tos=rcpts,
            peer=account.host,
            protocol="imap",
            received=self.clock().isoformat(timespec="seconds"),
            helo=account.host,
            extra={"imap": account.key, "uid": uid, "uidvalidity": uidvalidity},
        )
        key = self.spool.accept(raw, envelope)
        log.info("IMAP %s: UID %s %s spooled as %s", account.key, uid, message_id, key)
        self._step("spooled", uid)

    def _dispose(self, client: IMAPClient, uidvalidity: int) -> None:
        """Mark everything already spooled as processed: flag, move or delete it."""
        account = self.account
        known = self.state.get(account.key)
        if known is None or known[0] != uidvalidity or known[1] < 1:
            return
        done = ["UID", f"1:{known[1]}"]
        if account.processed == "seen":
            uids = client.search([*done, "UNSEEN"])
            if uids:
                client.add_flags(uids, [SEEN], silent=True)
        elif account.processed == "move":
            uids = client.search(done)
            if uids:
                self._move(client, uids)
        else:
            age: list[Any] = []
            if account.delete_after_days > 0:
                age = ["BEFORE", (self.clock() - dt.timedelta(days=account.delete_after_days)).date()]
            uids = client.search([*done, *age])
            if uids:
                client.add_flags(uids, [SEEN], silent=True)
                self._expunge(client, uids)

    def _move(self, client: IMAPClient, uids: list[int]) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, self.account.move_to)
            return
        client.copy(uids, self.account.move_to)
        self._expunge(client, uids)

    def _expunge(self, client: IMAPClient, uids: list[int]) -> None:
        client.add_flags(uids, [DELETED], silent=True)
        if client.has_capability("UIDPLUS"):
            client.uid_expunge(uids)
        else:
            client.expunge()

    def _step(self, step: str, uid: int) -> None:
        if self.on_step is not None:
            self.on_step(step, uid)

    # -- waiting

    def wait(self, client: IMAPClient) -> None:
        """Until the folder changes (IDLE), ``poll_seconds`` pass, or we are stopped."""
        interval = max(1, self.account.poll_seconds)
        if _mail_reported(client):
            return  # new mail was announced while we were busy: look again at once
        if not client.has_capability("IDLE"):
            self.waiting.set()
            self._stop.wait(interval)
            self.waiting.clear()
            return
        client.idle()
        self.waiting.set()
        try:
            waited = 0.0
            while not self._stop.is_set() and waited < interval:
                responses = client.idle_check(timeout=IDLE_SLICE)
                if any(_closing(response) for response in responses):
                    raise imaplib.IMAP4.abort("server said BYE")
                if responses:
                    break
                waited += IDLE_SLICE
        finally:
            self.waiting.clear()
        client.idle_done()


def _mail_reported(client: IMAPClient) -> bool:
    """Whether the server announced new mail (EXISTS, RECENT) alongside its answers during the last pass.

    Servers report a new message with whatever response comes next, even a SEARCH's; imaplib files
    such lines away and IDLE would not report the message again, so it would wait for the next
    poll. imaplib's public ``IMAP4.response()`` takes them out (IMAPClient keeps imaplib's
    connection as ``_imap``).
    """
    imap = client._imap  # IMAPClient has no public way to reach filed-away responses
    reported = False
    for code in ("EXISTS", "RECENT"):
        _, data = imap.response(code)
        reported = reported or any(item is not None for item in data)
    return reported


def _message_id(raw: bytes) -> str:
    """The Message-ID header, on one line, for logs and records only (never for IMAP)."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return " ".join(str(headers.get("message-id", "")).split())[:200]


def _highest(client: IMAPClient) -> int:
    uids = client.search(["ALL"])
    return max(uids, default=0)


def _closing(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except ERRORS:
        pass


class Intake:
    """All configured accounts' pollers, started and stopped with the gateway."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        spool: Spool,
        records: Records,
        communities: Callable[[], set[str]],
        wake: Callable[[], None],
    ) -> None:
        self.pollers: list[Poller] = []
        if not settings.imap_accounts:
            return
        state = State(Path(root) / settings.state_dir)
        for account in load_accounts(Path(root) / settings.imap_accounts):
            self.pollers.append(Poller(account, settings, spool, records, state, communities, wake))

    def start(self) -> list[str]:
        for poller in self.pollers:
            poller.start()
        return [f"IMAP {poller.account.key}" for poller in self.pollers]

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
