"""A real Dovecot (IMAP + LMTP) and a real outbound SMTP relay on loopback, for tests.

``Dovecot`` runs ``dovecot -F`` with a config of its own in a temporary folder: any address
is a user (password ``Dovecot.PASSWORD``), mail is kept as maildir under ``folder/mail/<user>``
(a link to a private /tmp folder, see ``Dovecot._prepare``; removed when the ``with`` ends).
Given a certificate (``tls=``, see :mod:`testca`) it also offers STARTTLS on ``imap_port`` and
implicit TLS on ``imaps_port``; given an introspection URL (``oauth2_url=``) it also takes
XOAUTH2 and OAUTHBEARER, asking that URL (RFC 7662, by POST) whose token it is. A refused
login is answered at once and does not slow the next one down.
``Relay`` is an aiosmtpd server that stands in for the outbound smarthost: what it accepts is
delivered into the Dovecot over LMTP before it answers 250.

Fixtures ``dovecot`` and ``relay``: ``from dovecot import dovecot_fixture, relay_fixture  # noqa: F401``
(named apart from the fixtures so that test parameters do not shadow the imports).
"""

from __future__ import annotations

import asyncio
import email.policy
import grp
import os
import pwd
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from conftest import free_port
from helpers import skip_or_fail
from imapclient import IMAPClient

if TYPE_CHECKING:
    from testca import TestCA

DOVECOT = Path("/usr/sbin/dovecot")
LMTP = Path("/usr/lib/dovecot/lmtp")
HOST = "127.0.0.1"
MAIL_USER = "dovecot"  # owns the mail when running as root (Dovecot never accesses mail as root)


class Dovecot:
    """Dovecot started on 127.0.0.1 with its own config in a temp folder (IMAP + LMTP)."""

    PASSWORD = "dovecot-test-password"

    def __init__(self, folder: Path, tls: TestCA | None = None, oauth2_url: str = "") -> None:
        self.folder = folder.resolve()
        self.tls = tls
        self.oauth2_url = oauth2_url
        self.imap_port = free_port()
        self.imaps_port = free_port() if tls is not None else 0
        self.lmtp_port = free_port()
        self.config = self.folder / "dovecot.conf"
        self.log = self.folder / "dovecot.log"
        self._stderr = self.folder / "dovecot.stderr"
        self._process: subprocess.Popen[bytes] | None = None
        self._store: Path | None = None
        self._remove_store: weakref.finalize[..., Dovecot] | None = None
        self._kill: weakref.finalize[..., Dovecot] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start Dovecot and wait until the IMAP port greets; raise with the log tail if it does not."""
        if self._process is not None:
            return
        store = self._prepare()
        self.config.write_text(self._config(store))
        with self._stderr.open("ab") as stderr:
            self._process = subprocess.Popen(
                [str(DOVECOT), "-F", "-c", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group, so stop() can sweep up stragglers
            )
        # Should the instance be forgotten unstopped, its processes still end with the tests.
        self._kill = weakref.finalize(self, _kill_group, self._process.pid)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()  # any children it left
                raise RuntimeError(f"dovecot exited with {code} while starting:\n{self.log_tail()}")
            if self._greets():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"dovecot did not greet on {HOST}:{self.imap_port} within {timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop Dovecot and every process it started; the mail stays for a later start()."""
        process, self._process = self._process, None
        if process is None:
            return
        if self._kill is not None:
            self._kill.detach()
        # On SIGTERM the master stops its services, then tells its log process to quit and
        # sleeps a fixed second before exiting. Once only the master and its log process are
        # left, that sleep is all that remains: give the log a moment to flush, then end it.
        process.terminate()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if all(pid == process.pid or _command(pid).endswith("/log") for pid in live_processes(process.pid)):
                time.sleep(0.05)
                break
            time.sleep(0.005)
        for _ in range(100):
            _kill_group(process.pid)
            process.wait(timeout=10)
            if not live_processes(process.pid):
                return
            time.sleep(0.01)
        raise RuntimeError(f"dovecot processes left over: {live_processes(process.pid)}")

    def restart(self) -> None:
        """Stop and start again: same ports, same mail."""
        self.stop()
        self.start()

    @property
    def pid(self) -> int | None:
        """The master process (and its process group) while running."""
        return self._process.pid if self._process is not None else None

    def __enter__(self) -> Dovecot:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop, and remove the sockets and mail kept outside ``folder``."""
        self.stop()
        if self._remove_store is not None:
            self._remove_store()
            self._store = self._remove_store = None

    def _prepare(self) -> Path:
        """The short private folder for sockets (``run``) and mail (``mail``, linked as ``folder/mail``).

        Mail processes may not run as root, and as any other user they cannot reach into pytest's
        tmp_path (under a 0700 folder); unix socket paths must also stay short. So both live in a
        mkdtemp folder of their own under /tmp, removed by __exit__ (or at the latest at exit).
        """
        if self._store is not None:
            return self._store
        (self.folder / "state").mkdir(parents=True, exist_ok=True)
        store = Path(tempfile.mkdtemp(prefix="dovecot-"))
        self._remove_store = weakref.finalize(self, shutil.rmtree, store, ignore_errors=True)
        store.chmod(0o755)
        (store / "mail").mkdir(mode=0o700)
        if os.geteuid() == 0:
            user = pwd.getpwnam(MAIL_USER)
            os.chown(store / "mail", user.pw_uid, user.pw_gid)
        link = self.folder / "mail"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(store / "mail", target_is_directory=True)
        self._store = store
        return store

    def _greets(self) -> bool:
        try:
            with socket.create_connection((HOST, self.imap_port), timeout=2) as conn:
                return conn.recv(200).startswith(b"* OK")
        except OSError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        """The end of Dovecot's log and of anything it printed itself."""
        text = ""
        for path in (self._stderr, self.log):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text or "(no log)"

    def _config(self, store: Path) -> str:
        if os.geteuid() == 0:
            # Debian's system users for Dovecot's own processes; mail belongs to MAIL_USER.
            user = pwd.getpwnam(MAIL_USER)
            users = (
                "default_internal_user = dovecot\ndefault_login_user = dovenull\n"
                f"mail_uid = {user.pw_uid}\nmail_gid = {user.pw_gid}\n"
                f"first_valid_uid = {user.pw_uid}\nfirst_valid_gid = {user.pw_gid}\n"
            )
            chroot = ""
        else:
            # Unprivileged: everything runs as the current user, and nothing can chroot.
            me = pwd.getpwuid(os.geteuid())
            group = grp.getgrgid(me.pw_gid).gr_name
            users = (
                f"default_internal_user = {me.pw_name}\ndefault_login_user = {me.pw_name}\n"
                f"default_internal_group = {group}\nfirst_valid_uid = 0\nfirst_valid_gid = 0\n"
            )
            chroot = "  chroot =\n"
        return f"""# Written by tests/dovecot.py
protocols = imap lmtp
listen = {HOST}
base_dir = {store / "run"}
state_dir = {self.folder / "state"}
instance_name = dovecot-test-{self.imap_port}
log_path = {self.log}
info_log_path = {self.log}
{self._tls_config()}disable_plaintext_auth = no
auth_mechanisms = plain login{" xoauth2 oauthbearer" if self.oauth2_url else ""}
# A refused login answers at once and slows no later one: no failure delay, and no per-IP
# penalty (the auth process cannot reach anvil's penalty socket, below).
auth_failure_delay = 0
auth_username_chars =
auth_username_format = %Lu
recipient_delimiter =
lmtp_save_to_detail_mailbox = no
{users}mail_location = maildir:~
mail_fsync = never
shutdown_clients = yes

passdb {{
  driver = static
  args = password={self.PASSWORD}
  mechanisms = plain login
}}
{self._oauth2_config(store)}userdb {{
  driver = static
  args = home={store / "mail"}/%Lu allow_all_users=yes
}}

service imap-login {{
{chroot}  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0
  }}
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

    def _tls_config(self) -> str:
        if self.tls is None:
            return "ssl = no\n"
        return f"ssl = yes\nssl_cert = <{self.tls.cert_file}\nssl_key = <{self.tls.key_file}\n"

    def _oauth2_config(self, store: Path) -> str:
        """The oauth2 passdb, its settings beside the mail (Dovecot's auth process must read them)."""
        if not self.oauth2_url:
            return ""
        settings = store / "dovecot-oauth2.conf.ext"
        settings.write_text(
            "introspection_mode = post\n"
            f"introspection_url = {self.oauth2_url}\n"
            "force_introspection = yes\n"
            "username_attribute = username\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        settings.chmod(0o644)
        return f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {settings}\n}}\n"

    # -- mail ------------------------------------------------------------------------

    def deliver(self, recipient: str, raw: bytes, sender: str = "") -> None:
        """Deliver ``raw`` to ``recipient`` through Dovecot's own LMTP; raise if it is refused."""
        options = ["BODY=8BITMIME"] if any(byte > 0x7F for byte in raw) else []
        with smtplib.LMTP(HOST, self.lmtp_port, timeout=30) as client:
            client.sendmail(sender, [recipient], raw, mail_options=options)

    def messages(self, user: str, folder: str = "INBOX") -> list[EmailMessage]:
        """The messages in ``user``'s ``folder``, read over IMAP, in UID order."""
        with IMAPClient(HOST, port=self.imap_port, ssl=False, timeout=30) as client:
            client.login(user, self.PASSWORD)
            if folder != "INBOX" and not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            uids = sorted(client.search("ALL"))
            fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
        parser = BytesParser(policy=email.policy.default)
        # IMAP serves CRLF line ends; give them back as "\n" so bodies compare with Python strings.
        raw = [fetched[uid][b"BODY[]"].replace(b"\r\n", b"\n") for uid in uids]
        return [parser.parsebytes(data) for data in raw]  # type: ignore[misc]

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[bytes]]:
        """UID -> flags of each message in ``user``'s ``folder`` (read even where a message cannot be)."""
        with IMAPClient(HOST, port=self.imap_port, ssl=False, timeout=30) as client:
            client.login(user, self.PASSWORD)
            client.select_folder(folder, readonly=True)
            found = client.fetch(client.search("ALL"), ["FLAGS"])
        return {uid: set(data[b"FLAGS"]) for uid, data in found.items()}

    def wait_for(self, user: str, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        """``user``'s INBOX once it holds at least ``count`` messages."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.messages(user)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{user} has {len(found)} message(s) after {timeout}s, expected {count}")
            time.sleep(0.05)


def live_processes(group: int) -> list[int]:
    """The processes of process group ``group`` that are still alive (zombies do not count)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        state, _ppid, pgrp = stat.rpartition(")")[2].split()[:3]
        if int(pgrp) == group and state != "Z":
            found.append(int(entry.name))
    return sorted(found)


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


class Relay:
    """An outbound SMTP relay (aiosmtpd) that delivers what it accepts into a Dovecot over LMTP.

    Each accepted message is delivered to each accepted recipient before the 250 reply, so a
    250 means it is in the mailbox; if Dovecot cannot take it (say it is stopped) the reply is
    451. ``received`` holds ``(mail_from, rcpt_tos, raw)`` of accepted messages, the null
    sender as "".
    """

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.port = free_port()
        self.received: list[tuple[str, list[str], bytes]] = []
        #: recipient (lower case) -> the whole SMTP reply its RCPT gets, e.g. "550 5.1.1 No such user"
        self.refuse: dict[str, str] = {}
        #: called with len(received) + 1 before a DATA is accepted; a reply string refuses it
        self.on_data: Callable[[int], str | None] | None = None
        self._lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname=HOST, port=self.port, enable_SMTPUTF8=True)
        self._running = False

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self) -> None:
        if not self._running:
            self._controller.start()
            self._running = True

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False

    def __enter__(self) -> Relay:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler:
    def __init__(self, relay: Relay) -> None:
        self.relay = relay

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.relay.refuse.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        relay = self.relay
        if relay.on_data is not None:
            with relay._lock:
                number = len(relay.received) + 1
            reply = relay.on_data(number)
            if reply:
                return reply
        raw = envelope.original_content or b""  # bytes as received (decode_data is off)
        sender = "" if envelope.mail_from in (None, "<>") else envelope.mail_from
        recipients = list(envelope.rcpt_tos)
        try:
            for recipient in recipients:
                await asyncio.to_thread(relay.dovecot.deliver, recipient, raw, sender)
        except (OSError, smtplib.SMTPException) as error:  # e.g. Dovecot stopped: the client should retry
            detail = " ".join(repr(error).split())
            return f"451 4.3.0 Delivery into Dovecot failed: {detail}"[:500]
        with relay._lock:
            relay.received.append((sender, recipients, raw))
        return "250 OK"


def _require_dovecot() -> None:
    if DOVECOT.exists() and LMTP.exists():
        return
    message = f"Dovecot is not installed ({DOVECOT}, {LMTP}); apt-get install dovecot-imapd dovecot-lmtpd"
    skip_or_fail(f"{message} (.ci/system-deps installs it)")


@pytest.fixture(name="dovecot")
def dovecot_fixture(tmp_path: Path) -> Iterator[Dovecot]:
    """A started Dovecot in ``tmp_path``, stopped after the test."""
    _require_dovecot()
    with Dovecot(tmp_path / "dovecot") as server:
        yield server


@pytest.fixture(name="relay")
def relay_fixture(dovecot: Dovecot) -> Iterator[Relay]:
    """A started relay that delivers into the test's Dovecot."""
    with Relay(dovecot) as server:
        yield server
