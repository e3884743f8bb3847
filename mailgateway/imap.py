"""IMAP intake (imapclient): mail that lives in someone else's mailbox comes in here.

Accounts are listed in the YAML file named by the ``imap_accounts`` setting::

    - host: outlook.office365.com
      port: 993                 # default 993 (implicit), 143 (starttls, none)
      tls: implicit             # implicit | starttls | none (only on a network you trust)
      ca_file: ""               # PEM file of the CAs to trust instead of the system's, relative
                                # to this file (a private CA); the host name is always checked
      tls_verify: true          # false accepts any certificate: for testing only, never in production
      user: cop-intake@example.org
      password_env: INTRANET_IMAP_PASSWORD   # the variable holding the password; or, with OAuth 2.0,
                                # oauth2_token_env (a variable) or oauth2_token_file (a file read at
                                # each connect, relative to this file, that a refresher renews) holds
                                # an access token, and oauth2_mechanism says how to send it:
                                # xoauth2 (default; Exchange, Google) | oauthbearer (RFC 7628)
      folder: INBOX             # default INBOX
      community: handover       # deliver everything here; without it, route by recipient
      processed: seen           # seen | move (to move_to) | delete (after delete_after_days)
      move_to: Processed
      delete_after_days: 30
      failed_to: ""             # folder for messages given up on (default: left where they are, flagged)
      poll_seconds: 300         # how often to look when the server has no IDLE

Each account gets a thread (:class:`Poller`) that waits in IDLE where the server offers
it, else polls, and reconnects with exponential backoff, logging each disconnect and
reconnect. Why an account cannot connect (a certificate not trusted, a login refused) is
logged as an error and kept in the state file (``intranet spool list`` shows it) until it
can. A message is handled in this order, so that it is never lost and never posted twice:

1. fetch its bytes by UID (``BODY.PEEK[]``: nothing is flagged yet);
2. write it to the spool durably (:meth:`Spool.accept`), as SMTP/LMTP do before their 250;
3. remember its UID with the folder's UIDVALIDITY in ``<state_dir>/imap/state.json``
   (written durably, see :mod:`mailgateway.imapstate`);
4. flag ``\\Seen``, move or delete everything at or below the remembered UID.

A crash after 2 and before 3 spools the message again on restart; the worker finds the
post already committed (same Message-ID, same content) and records ``already-posted``.
A crash after 3 and before 4 is finished by step 4 of the next pass. A changed
UIDVALIDITY resyncs the folder from the start (in ``seen`` mode: its unseen messages),
again relying on the worker's dedupe. Only UIDs, flags, dates and configured folder names
ever reach an IMAP command, never a string taken from a message.

From step 2 on, a message is the worker's, as SMTP mail is after its 250: whatever becomes
of it there (published, ``rejected: unreadable``, ``failed/`` after repeated errors), it is
processed on the server. A message that cannot get as far as the spool (the server will not
give it, or reading its headers fails) is tried again after a backoff, counted in the state
file so restarts do not reset the count. After :data:`MAX_TRIES` failed tries it is given
up: recorded as ``rejected`` with reason ``unreadable`` (and the error), as mail that cannot
be read is, flagged ``\\Flagged`` and moved to ``failed_to`` if set, never marked processed
(so never deleted), and the account goes on with the next message. A failure to write the
spool (our disk) is not counted against the message.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import imaplib
import logging
import ssl
import threading
from collections.abc import Callable
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import LoginError
from imapclient.imapclient import DELETED, FLAGGED, SEEN

from intranet.errors import MessageNotFetched
from intranet.settings import Settings

from .imapaccounts import Account, envelope_sender, load_accounts, route, secret_source
from .imapconn import ERRORS, close, closing, connect, interrupt, mail_reported, unread
from .imapstate import Failing, State
from .spool import Envelope, Records, Spool

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 300.0
IDLE_SLICE = 1.0  # seconds between checks of the stop flag while idling
MAX_TRIES = 5  # failed tries at taking one message before it is given up (as the worker's MAX_TRIES)
RETRIED: tuple[type[BaseException], ...] = (*ERRORS, MessageNotFetched)  # reported, then tried again after a backoff


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
        #: "connecting", "connected", or why the account cannot connect now
        self.status = "connecting"
        self.first_backoff = FIRST_BACKOFF  # seconds before the first try again; doubles up to MAX_BACKOFF
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: IMAPClient | None = None

    # -- lifecycle

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name=f"imap {self.account.key}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        client = self._client
        if client is not None and self.waiting.is_set():
            interrupt(client)  # end the IDLE at once rather than at the next IDLE_SLICE
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def run(self) -> None:
        """Until stopped: connect, work, wait; after a failure, back off and connect again.

        The backoff starts again only after a whole pass has worked, so a message that fails
        every time is tried at growing intervals until it is given up (see :meth:`_take`).
        """
        failures = 0  # in a row: each doubles the wait before the next try
        while not self._stop.is_set():
            try:
                with self.connect() as client:
                    self._client = client
                    log.info("IMAP %s: %s", self.account.key, "reconnected" if failures else "connected")
                    self._set_status("connected")
                    while not self._stop.is_set():
                        self.run_once(client)
                        failures = 0
                        self.wait(client)
            except RETRIED as error:
                if self._stop.is_set():
                    break
                backoff = min(self.first_backoff * 2**failures, MAX_BACKOFF)
                self._report(error, backoff)
            except Exception:  # a bug must not end the intake: log it, back off, try again
                backoff = min(self.first_backoff * 2**failures, MAX_BACKOFF)
                log.exception("IMAP %s: unexpected error; reconnecting in %.1fs", self.account.key, backoff)
            else:
                continue
            finally:
                self._client = None
            failures += 1
            self.waiting.clear()
            self._stop.wait(backoff)
        self.waiting.clear()

    def connect(self) -> IMAPClient:
        """A connection to the account, logged in, with the folders it needs."""
        account = self.account
        client = connect(account)
        try:
            for folder in (account.move_to if account.processed == "move" else "", account.failed_to):
                if folder and not client.folder_exists(folder):
                    client.create_folder(folder)
        except BaseException:
            close(client)
            raise
        return client

    def _report(self, error: BaseException, backoff: float) -> None:
        """Log why the connection ended or could not be made, and keep it as the account's status."""
        key, again = self.account.key, f"trying again in {backoff:.1f}s"
        if isinstance(error, MessageNotFetched):  # the account works; one message does not (logged by _take)
            log.info("IMAP %s: %s", key, again)
        elif isinstance(error, ssl.SSLCertVerificationError):
            self._set_status(f"the server's certificate is not trusted: {error.verify_message}")
            log.error("IMAP %s: %s (set ca_file to the CA that signed it); %s", key, self.status, again)
        elif isinstance(error, ssl.SSLError):
            self._set_status(f"TLS failed: {_describe(error)}")
            log.error("IMAP %s: %s; %s", key, self.status, again)
        elif isinstance(error, LoginError):
            self._set_status(f"login refused: {error}")
            log.error("IMAP %s: %s (check the user and %s); %s", key, self.status, secret_source(self.account), again)
        else:
            how = "disconnected" if self.status == "connected" else "cannot connect"
            self._set_status(f"{how}: {_describe(error)}")
            log.warning("IMAP %s: disconnected after %s; reconnecting in %.1fs", key, _describe(error), backoff)

    def _set_status(self, status: str) -> None:
        self.status = status
        self.state.set_error(self.account.key, "" if status == "connected" else status, self.clock())

    # -- one pass

    def run_once(self, client: IMAPClient) -> int:
        """Spool what is new in the folder, then mark it processed; return how many were spooled."""
        account = self.account
        status = client.select_folder(account.folder)
        mail_reported(client)  # what SELECT reports is read below; only what comes after counts as new
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
        try:
            for uid in uids:
                self._take(client, uid, uidvalidity)
                last = uid
        finally:
            if uids:
                self.wake()  # also for what was spooled before a message failed
        if resync and (top > last or not uids):
            self.state.set(account.key, uidvalidity, max(top, last))
        self._dispose(client, uidvalidity)
        return len(uids)

    def _take(self, client: IMAPClient, uid: int, uidvalidity: int) -> None:
        """Spool one message; a failure before the spool is counted, and after MAX_TRIES it is given up."""
        account = self.account
        failing = self.state.failing(account.key, uidvalidity, uid)
        if failing.tries >= MAX_TRIES:
            self._give_up(client, uid, uidvalidity, failing)
            return
        try:
            raw = self._fetch(client, uid)
            envelope = None if raw is None else self._envelope(raw, uid, uidvalidity)
        except Exception as error:
            if not self._stop.is_set():  # not a try if we cut the connection ourselves
                tries = self.state.count_failure(account.key, uidvalidity, uid, _describe(error))
                log.warning(
                    "IMAP %s: UID %s could not be taken (try %d of %d): %s",
                    account.key,
                    uid,
                    tries,
                    MAX_TRIES,
                    _describe(error),
                )
            raise MessageNotFetched(f"UID {uid}: {_describe(error)}") from error
        if raw is not None and envelope is not None:
            key = self.spool.accept(raw, envelope)  # a failure here is ours (the disk), not the message's
            log.info("IMAP %s: UID %s %s spooled as %s", account.key, uid, _message_id(raw), key)
            self._step("spooled", uid)
        self.state.set(account.key, uidvalidity, uid)
        self._step("remembered", uid)

    def _fetch(self, client: IMAPClient, uid: int) -> bytes | None:
        """The message's bytes; None if it is too big (and on record as such) or gone meanwhile."""
        account = self.account
        size = client.fetch([uid], ["RFC822.SIZE"]).get(uid, {}).get(b"RFC822.SIZE", 0)
        if size > self.settings.max_message_bytes:
            log.info("IMAP %s: UID %s is too big (%s bytes); not taken", account.key, uid, size)
            self.records.add(outcome="rejected", reason="too-large", imap=account.key, uid=uid, size=size)
            return None
        raw = client.fetch([uid], ["BODY.PEEK[]"]).get(uid, {}).get(b"BODY[]")
        if raw is not None:
            return bytes(raw)
        if client.search(["UID", str(uid)]):
            raise MessageNotFetched("the server listed it but sent no content")
        return None  # expunged meanwhile

    def _envelope(self, raw: bytes, uid: int, uidvalidity: int) -> Envelope | None:
        """Who the message is for, as the spool needs it; None (and a record) if for no community here."""
        account = self.account
        rcpts = route(raw, account, self.settings.mail_domain, self.communities())
        message_id = _message_id(raw)
        if not rcpts:
            log.info("IMAP %s: UID %s %s is for no community here; not taken", account.key, uid, message_id)
            self.records.add(
                outcome="rejected", reason="unknown-community", imap=account.key, uid=uid, message_id=message_id
            )
            return None
        return Envelope(
            mail_from=envelope_sender(raw),
            rcpt_tos=rcpts,
            peer=account.host,
            protocol="imap",
            received=self.clock().isoformat(timespec="seconds"),
            helo=account.host,
            extra={"imap": account.key, "uid": uid, "uidvalidity": uidvalidity},
        )

    def _give_up(self, client: IMAPClient, uid: int, uidvalidity: int, failing: Failing) -> None:
        """Record a message that failed MAX_TRIES times as unreadable and go on past it.

        The record comes first: a crash before the state is written gives it up once more (a
        second record) rather than never. The message stays on the server, flagged, moved to
        ``failed_to`` if set (tried once: if the server refuses, it stays where it is); it is never
        marked processed.
        """
        account = self.account
        detail = f"the message could not be taken from the mailbox in {failing.tries} tries: {failing.error}"
        log.error("IMAP %s: UID %s given up: %s", account.key, uid, detail)
        self.records.add(
            outcome="rejected",
            reason="unreadable",
            detail=detail,
            imap=account.key,
            uid=uid,
            uidvalidity=uidvalidity,
            tries=failing.tries,
        )
        self.state.give_up(account.key, uidvalidity, uid)
        client.add_flags([uid], [FLAGGED], silent=True)
        if account.failed_to:
            try:
                self._move(client, [uid], account.failed_to)
            except imaplib.IMAP4.error as error:  # refused (the connection still stands): leave it where it is
                if isinstance(error, imaplib.IMAP4.abort):
                    raise
                log.warning("IMAP %s: UID %s not moved to %s: %s", account.key, uid, account.failed_to, error)

    def _dispose(self, client: IMAPClient, uidvalidity: int) -> None:
        """Mark everything already spooled as processed: flag, move or delete it (never what was given up)."""
        account = self.account
        known = self.state.get(account.key)
        if known is None or known[0] != uidvalidity or known[1] < 1:
            return
        done = ["UID", f"1:{known[1]}"]
        given_up = self._given_up(client, uidvalidity)
        if account.processed == "seen":
            uids = [uid for uid in client.search([*done, "UNSEEN"]) if uid not in given_up]
            if uids:
                client.add_flags(uids, [SEEN], silent=True)
        elif account.processed == "move":
            uids = [uid for uid in client.search(done) if uid not in given_up]
            if uids:
                self._move(client, uids, account.move_to)
        else:
            age: list[Any] = []
            if account.delete_after_days > 0:
                age = ["BEFORE", (self.clock() - dt.timedelta(days=account.delete_after_days)).date()]
            uids = [uid for uid in client.search([*done, *age]) if uid not in given_up]
            if uids:
                client.add_flags(uids, [SEEN], silent=True)
                self._expunge(client, uids)

    def _given_up(self, client: IMAPClient, uidvalidity: int) -> set[int]:
        """The messages given up on that are still in the folder; those that left it are forgotten."""
        key = self.account.key
        remembered = self.state.given_up(key, uidvalidity)
        if not remembered:
            return set()
        present = client.search(["UID", ",".join(map(str, remembered))])
        self.state.keep_given_up(key, uidvalidity, present)
        return set(present)

    def _move(self, client: IMAPClient, uids: list[int], folder: str) -> None:
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
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
        if mail_reported(client):
            return  # new mail was announced while we were busy: look again at once
        if not client.has_capability("IDLE"):
            self.waiting.set()
            self._stop.wait(interval)
            self.waiting.clear()
            return
        client.idle()
        if unread(client):  # the server answered along with IDLE's "+": poll() below would never see it
            client.idle_done()
            return
        self.waiting.set()
        try:
            waited = 0.0
            while not self._stop.is_set() and waited < interval:
                responses = client.idle_check(timeout=IDLE_SLICE)
                if any(closing(response) for response in responses):
                    raise imaplib.IMAP4.abort("server said BYE")
                if responses:
                    break
                waited += IDLE_SLICE
        finally:
            self.waiting.clear()
        client.idle_done()


def _message_id(raw: bytes) -> str:
    """The Message-ID header, on one line, for logs and records only (never for IMAP)."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return " ".join(str(headers.get("message-id", "")).split())[:200]


def _highest(client: IMAPClient) -> int:
    uids = client.search(["ALL"])
    return max(uids, default=0)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


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
