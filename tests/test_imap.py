"""IMAP intake against a real Dovecot: mail delivered into a mailbox becomes posts, once.

Mail reaches the mailbox through Dovecot's own LMTP (``Dovecot.deliver``) or APPEND; the
gateway reads it with its IMAP poller (``mailgateway.imap``) as it would read an Exchange
or Google mailbox.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from dovecot import HOST, Dovecot, dovecot_fixture  # noqa: F401
from imapclient import IMAPClient
from mailtest import DOMAIN, Harness, git_root, mail, wire
from test_up import wait_for

from intranet.settings import read_settings
from mailgateway.imap import Poller
from mailgateway.imapaccounts import Account, load_accounts, route
from mailgateway.imapconn import interrupt
from mailgateway.imapstate import State
from mailgateway.spool import Records, Spool

PASSWORD_ENV = "TEST_IMAP_PASSWORD"


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.PASSWORD)


def intake_root(tmp_path: Path, port: int, user: str, **account: Any) -> Path:
    """The small test intranet reading ``user``'s mailbox; poll_seconds so long that only IDLE wakes it."""
    root = git_root(tmp_path / "intranet", imap_accounts="imap.yml")
    entry = {"host": HOST, "port": port, "tls": "none", "user": user, "password_env": PASSWORD_ENV}
    entry.update({"poll_seconds": 600, **account})
    (root / "imap.yml").write_text(yaml.safe_dump([entry]))
    return root


def flags(dovecot: Dovecot, user: str, folder: str = "INBOX") -> dict[str, set[bytes]]:
    """Message-ID -> flags of each message in ``user``'s ``folder``."""
    with IMAPClient(HOST, port=dovecot.imap_port, ssl=False, timeout=30) as client:
        client.login(user, Dovecot.PASSWORD)
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
    return {
        data[b"BODY[HEADER.FIELDS (MESSAGE-ID)]"].decode().split(":", 1)[1].strip(): set(data[b"FLAGS"])
        for data in found.values()
    }


def append(dovecot: Dovecot, user: str, folder: str, messages: list[Any], create: bool = False) -> None:
    with IMAPClient(HOST, port=dovecot.imap_port, ssl=False, timeout=30) as client:
        client.login(user, Dovecot.PASSWORD)
        if create:
            if client.folder_exists(folder):
                client.delete_folder(folder)
            client.create_folder(folder)
        for message in messages:
            client.append(folder, wire(message))


def outcomes(gw: Harness, message_id: str) -> list[str]:
    return [r["outcome"] for r in gw.records() if r.get("message_id") == message_id]


def test_topic_and_reply_in_the_mailbox_become_posts(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "handover-intake@example.org"
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover")
    topic = mail(subject="Night shift handover", body="Who has the new checklist?", to=user)
    answer = mail(subject="Re: Night shift handover", body="I do.", to=user, in_reply_to=topic["Message-ID"])
    with Harness(root) as gw:
        dovecot.deliver(user, wire(topic), sender="ann.lee@example.org")
        gw.wait(topic["Message-ID"])
        dovecot.deliver(user, wire(answer), sender="ann.lee@example.org")
        gw.wait(answer["Message-ID"])
        first, second = gw.post(topic["Message-ID"]), gw.post(answer["Message-ID"])
        assert first.community == second.community == "handover"
        assert second.topic == first.message_id and second.in_reply_to == first.message_id
        assert outcomes(gw, topic["Message-ID"]) == outcomes(gw, answer["Message-ID"]) == ["published"]
    assert all(b"\\Seen" in seen for seen in flags(dovecot, user).values())
    state = json.loads((root / ".intranet/imap/state.json").read_text())
    [(key, entry)] = state.items()
    assert key == f"{user}@{HOST}:{dovecot.imap_port}/INBOX" and entry["last_uid"] == 2


def test_a_message_arriving_while_idle_is_taken_at_once(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "idle@example.org"
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover", poll_seconds=3600)
    with Harness(root) as gw:
        assert gw.gateway.intake is not None
        [poller] = gw.gateway.intake.pollers
        assert poller.waiting.wait(60), "the poller never went idle"
        message = mail(subject="While idle", to=user)
        dovecot.deliver(user, wire(message))
        gw.wait(message["Message-ID"], timeout=60)  # the next poll is an hour away: IDLE woke it


def test_mail_arriving_during_a_pass_is_taken_without_waiting_for_the_next_poll(
    tmp_path: Path, dovecot: Dovecot
) -> None:
    """The server announces it with a reply to the pass's own commands, not again in IDLE."""
    user = "busy@example.org"
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover", poll_seconds=3600)
    first, second = mail(subject="First", to=user), mail(subject="Second", to=user)
    with Harness(root) as gw:
        assert gw.gateway.intake is not None
        [poller] = gw.gateway.intake.pollers
        assert poller.waiting.wait(60), "the poller never went idle"
        delivered: list[int] = []

        def deliver_the_second(step: str, uid: int) -> None:
            if step == "spooled" and not delivered:  # while the pass is still at work on the first
                delivered.append(uid)
                dovecot.deliver(user, wire(second))

        poller.on_step = deliver_the_second
        dovecot.deliver(user, wire(first))
        gw.wait(first["Message-ID"], timeout=60)
        gw.wait(second["Message-ID"], timeout=60)  # the next poll is an hour away


def test_news_sent_with_the_idle_go_ahead_is_not_missed(tmp_path: Path, dovecot: Dovecot) -> None:
    """Mail delivered after a pass's last command is announced right behind IDLE's "+", often in the
    same packet, where polling the socket cannot see it; the poller looks in the read buffer too."""
    user = "idle-race@example.org"
    root = git_root(tmp_path / "intranet")  # no accounts: this test drives the poller itself
    settings, state = read_settings(root), root / ".intranet"
    account = Account(host=HOST, port=dovecot.imap_port, tls="none", user=user, password_env=PASSWORD_ENV)
    poller = Poller(account, settings, Spool(state), Records(state), State(state), lambda: {"handover"})
    with poller.connect() as client:
        assert poller.run_once(client) == 0
        dovecot.deliver(user, wire(mail(subject="Just before IDLE", to=user)))
        done = threading.Event()
        threading.Thread(target=lambda: (poller.wait(client), done.set()), daemon=True).start()
        try:
            assert done.wait(30), "the poller waits in IDLE for news it has already been sent"
        finally:
            interrupt(client)  # should it still wait (poll_seconds is 300)
    with poller.connect() as client:
        assert poller.run_once(client) == 1


def test_dovecot_restart_mid_session_loses_nothing_and_posts_once(
    tmp_path: Path, dovecot: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailgateway.imap")
    user = "restart@example.org"
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover")
    before, during, after = (mail(subject=f"Message {n}", to=user) for n in (1, 2, 3))
    with Harness(root) as gw:
        assert gw.gateway.intake is not None
        [poller] = gw.gateway.intake.pollers
        dovecot.deliver(user, wire(before))
        gw.wait(before["Message-ID"])
        assert poller.waiting.wait(60)
        dovecot.stop()
        dovecot.start()
        dovecot.deliver(user, wire(during))  # possibly before the poller is back
        gw.wait(during["Message-ID"])
        dovecot.deliver(user, wire(after))
        gw.wait(after["Message-ID"])
        for message in (before, during, after):
            assert outcomes(gw, message["Message-ID"]) == ["published"]
        assert len(gw.posts("handover")) == len({p.message_id for p in gw.posts("handover")})
    text = caplog.text
    assert "disconnected" in text and "reconnected" in text


def test_a_changed_uidvalidity_resyncs_without_duplicates(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "resync@example.org"
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover", folder="Intake")
    old = [mail(subject=f"Old {n}", to=user) for n in (1, 2)]
    append(dovecot, user, "Intake", old, create=True)
    with Harness(root) as gw:
        for message in old:
            gw.wait(message["Message-ID"])
    state_file = root / ".intranet/imap/state.json"
    [before] = json.loads(state_file.read_text()).values()

    # The folder is deleted and made again (as a migration or a restored backup would):
    # the same two messages, unread again, and a new one.
    new = mail(subject="New", to=user)
    append(dovecot, user, "Intake", [*old, new], create=True)
    with Harness(root) as gw:
        gw.wait(new["Message-ID"])
        for message in old:
            gw.wait(message["Message-ID"], count=2)
            assert outcomes(gw, message["Message-ID"]) == ["published", "duplicate"]
        assert sorted(p.subject for p in gw.posts("handover") if p.subject in ("Old 1", "Old 2", "New")) == [
            "New",
            "Old 1",
            "Old 2",
        ]
    [after] = json.loads(state_file.read_text()).values()
    assert after["uidvalidity"] != before["uidvalidity"] and after["last_uid"] == 3
    assert all(b"\\Seen" in seen for seen in flags(dovecot, user, "Intake").values())


@pytest.mark.parametrize("processed", ["move", "delete"])
def test_processed_mail_is_moved_or_deleted(tmp_path: Path, dovecot: Dovecot, processed: str) -> None:
    user = f"{processed}@example.org"
    extra = {"move_to": "Processed"} if processed == "move" else {"delete_after_days": 0}
    root = intake_root(tmp_path, dovecot.imap_port, user, community="handover", processed=processed, **extra)
    messages = [mail(subject=f"{processed} {n}", to=user) for n in (1, 2)]
    with Harness(root) as gw:
        for message in messages:
            dovecot.deliver(user, wire(message))
            gw.wait(message["Message-ID"])
        assert gw.gateway.intake is not None
        [poller] = gw.gateway.intake.pollers
        assert poller.waiting.wait(60)  # the pass that spooled the second one has also disposed of it
    assert flags(dovecot, user) == {}
    if processed == "move":
        assert set(flags(dovecot, user, "Processed")) == {m["Message-ID"] for m in messages}


class Crash(BaseException):
    """Stands for the process dying at a given step."""


def test_a_crash_between_spooling_and_flagging_makes_no_duplicate(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "crash@example.org"
    root = git_root(tmp_path / "intranet")  # no accounts: this test drives the poller itself
    settings = read_settings(root)
    account = Account(host=HOST, port=dovecot.imap_port, tls="none", user=user, password_env=PASSWORD_ENV)
    message = mail(subject="Spooled, then the lights went out", to=f"handover@{DOMAIN}")
    dovecot.deliver(user, wire(message))

    def poller(crash_at: str | None) -> Poller:
        state = root / settings.state_dir
        made = Poller(account, settings, Spool(state), Records(state), State(state), lambda: {"handover"})
        made.on_step = None if crash_at is None else lambda step, uid: _crash(step == crash_at)
        return made

    with Harness(root) as gw:
        # 1. Spooled, then dead before the UID was remembered: the next run spools it again...
        first = poller("spooled")
        with first.connect() as client, pytest.raises(Crash):
            first.run_once(client)
        gw.wait(message["Message-ID"])
        assert b"\\Seen" not in flags(dovecot, user)[message["Message-ID"]]
        # 2. ... and dies once more after remembering it, before flagging it.
        second = poller("remembered")
        with second.connect() as client, pytest.raises(Crash):
            second.run_once(client)
        gw.wait(message["Message-ID"], count=2)
        assert b"\\Seen" not in flags(dovecot, user)[message["Message-ID"]]
        # 3. A clean run takes nothing new and finishes the flagging.
        third = poller(None)
        with third.connect() as client:
            assert third.run_once(client) == 0
        assert b"\\Seen" in flags(dovecot, user)[message["Message-ID"]]
        assert outcomes(gw, message["Message-ID"]) == ["published", "duplicate"]
        gw.post(message["Message-ID"])  # exactly one


def _crash(now: bool) -> None:
    if now:
        raise Crash


def test_a_shared_mailbox_is_routed_by_recipient(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "intake@corp.example"
    root = intake_root(tmp_path, dovecot.imap_port, user)
    stray = mail(subject="Lunch?", to="someone@corp.example")
    direct = mail(subject="To the address", to=f"Clinical Handover <handover@{DOMAIN}>")
    plus = mail(subject="Plus-addressed", to="intake+procurement@corp.example")
    both = mail(subject="Both", to=f"handover@{DOMAIN}", headers={"Cc": "intake+procurement@corp.example"})
    with Harness(root) as gw:
        for message in (stray, direct, plus, both):
            dovecot.deliver(user, wire(message))
        for message in (direct, plus):
            gw.wait(message["Message-ID"])
        gw.wait(both["Message-ID"], count=2)
        assert gw.post(direct["Message-ID"]).community == "handover"
        assert gw.post(plus["Message-ID"]).community == "procurement"
        assert sorted(p.community for p in gw.posts() if p.message_id == both["Message-ID"]) == [
            "handover",
            "procurement",
        ]
        assert not [p for p in gw.posts() if p.message_id == stray["Message-ID"]]
        # (the stray one may be taken in another pass than the others: its record may come after them)
        wait_for(lambda: [r for r in gw.records() if r.get("uid") == 1], what="the stray message's record")
        assert [r["reason"] for r in gw.records() if r.get("uid") == 1] == ["unknown-community"]
    assert all(b"\\Seen" in seen for seen in flags(dovecot, user).values())  # the stray one too


def test_route_reads_recipients_without_a_server() -> None:
    account = Account(host="h", user="u", password_env="X")
    raw = b"Delivered-To: box+handover@corp.example\r\nTo: x@y\r\nCc: procurement+r1.2@intranet.localhost\r\n\r\n"
    assert route(raw, account, DOMAIN, {"handover", "procurement"}) == [
        f"handover@{DOMAIN}",
        f"procurement+r1.2@{DOMAIN}",
    ]
    assert route(raw, Account(host="h", user="u", community="Handover"), DOMAIN, set()) == [f"handover@{DOMAIN}"]


def test_bad_accounts_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "imap.yml"
    path.write_text(
        yaml.safe_dump(
            [
                {"host": "h", "user": "u", "tls": "ssl", "password_env": PASSWORD_ENV},
                {"host": "h", "user": "u", "processed": "move", "password_env": "TEST_IMAP_UNSET"},
            ]
        )
    )
    with pytest.raises(ValueError) as error:
        load_accounts(path)
    text = str(error.value)
    assert "account 1: 'tls' must be one of" in text
    assert "account 2: 'processed: move' needs 'move_to'" in text and "TEST_IMAP_UNSET" in text


class Recorder:
    """A TCP proxy in front of Dovecot that keeps every byte the client sends."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.sent = bytearray()
        self._lock = threading.Lock()
        self._server = socket.create_server((HOST, 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection((HOST, self.target))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bool) -> None:
        try:
            while data := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent += data
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._server.close()


def test_strings_from_mail_never_reach_an_imap_command(tmp_path: Path, dovecot: Dovecot) -> None:
    user = "hostile@example.org"
    recorder = Recorder(dovecot.imap_port)
    try:
        root = intake_root(tmp_path, recorder.port, user)
        # Header values folded over CR/LF whose continuation lines read like IMAP commands.
        raw = (
            b"From: Ann Lee <ann.lee@example.org>\r\n"
            b"To: handover@" + DOMAIN.encode() + b",\r\n x9 DELETE INBOX <x9@evil.example>\r\n"
            b"Subject: Evil\r\n x8 EXPUNGE\r\n"
            b"Message-ID: <evil-1@example.org>\r\n x7 STORE 1:* +FLAGS (\\Deleted)\r\n"
            b"Date: Sat, 28 Nov 2026 09:00:00 +0000\r\n"
            b"\r\nHello.\r\n"
        )
        dovecot.deliver(user, raw, sender="ann.lee@example.org")
        with Harness(root) as gw:
            gw.wait("<evil-1@example.org>")
        sent = bytes(recorder.sent)
        for marker in (b"x9", b"x8", b"x7", b"evil", b"DELETE INBOX", b"EXPUNGE"):
            assert marker not in sent, marker
        assert list(flags(dovecot, user).values()) == [{b"\\Seen"}]  # still there, nothing deleted
    finally:
        recorder.close()
