"""The Dovecot and relay test fixtures really deliver, store and refuse mail."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage
from pathlib import Path

import pytest
from dovecot import Dovecot, Relay, dovecot_fixture, live_processes, relay_fixture  # noqa: F401

RAW = (
    "From: Ann Lee <ann.lee@example.org>\r\n"
    "To: Bob <bob@example.org>\r\n"
    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Message-ID: <one@example.org>\r\n"
    "X-Test: kept\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße aus Köln – ünïcödé.\r\n"
    ".a line starting with a dot\r\n"
).encode()


def mail(subject: str, to: str = "bob@example.org") -> bytes:
    message = EmailMessage()
    message["From"] = "ann.lee@example.org"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(f"About {subject}.")
    return message.as_bytes()


def gone(pid: int) -> bool:
    return live_processes(pid) == []


def test_deliver_over_lmtp_and_read_back_over_imap(dovecot: Dovecot) -> None:
    dovecot.deliver("Bob@Example.org", RAW, sender="ann.lee@example.org")
    [message] = dovecot.messages("bob@example.org")
    assert message["Subject"] == "Grüße"
    assert message["Message-ID"] == "<one@example.org>"
    assert message["X-Test"] == "kept"
    assert message["Return-Path"] == "<ann.lee@example.org>"
    assert message.get_content() == "Grüße aus Köln – ünïcödé.\n.a line starting with a dot\n"
    assert any((dovecot.folder / "mail" / "bob@example.org" / "new").iterdir())  # maildir, under folder/mail
    assert dovecot.messages("carol@example.org") == []


def test_relay_delivers_into_dovecot_before_250(dovecot: Dovecot, relay: Relay) -> None:
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        assert client.sendmail("", ["bob@example.org", "carol@example.org"], mail("First")) == {}
    assert [m["Subject"] for m in dovecot.messages("bob@example.org")] == ["First"]  # already there at 250
    assert [m["Subject"] for m in dovecot.wait_for("carol@example.org", 1)] == ["First"]
    [(sender, recipients, raw)] = relay.received
    assert (sender, recipients) == ("", ["bob@example.org", "carol@example.org"])
    assert b"Subject: First" in raw
    assert relay.address == f"127.0.0.1:{relay.port}"


def test_refused_recipient_gets_the_reply_and_nothing(dovecot: Dovecot, relay: Relay) -> None:
    relay.refuse["nobody@example.org"] = "550 5.1.1 No such user"
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        refused = client.sendmail("ann.lee@example.org", ["Nobody@example.org", "bob@example.org"], mail("Half"))
    assert refused == {"Nobody@example.org": (550, b"5.1.1 No such user")}
    assert [m["Subject"] for m in dovecot.messages("bob@example.org")] == ["Half"]
    assert dovecot.messages("nobody@example.org") == []
    assert [r[1] for r in relay.received] == [["bob@example.org"]]


def test_on_data_refuses_without_delivering(dovecot: Dovecot, relay: Relay) -> None:
    calls: list[int] = []

    def on_data(number: int) -> str | None:
        calls.append(number)
        return "451 4.3.0 Try later" if len(calls) == 1 else None

    relay.on_data = on_data
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("ann.lee@example.org", ["bob@example.org"], mail("Later"))
        assert refused.value.smtp_code == 451
        assert dovecot.messages("bob@example.org") == [] and relay.received == []
        client.sendmail("ann.lee@example.org", ["bob@example.org"], mail("Later"))
    assert calls == [1, 1]
    assert [m["Subject"] for m in dovecot.messages("bob@example.org")] == ["Later"]


def test_restart_keeps_mail_and_ports(dovecot: Dovecot) -> None:
    ports, pid = (dovecot.imap_port, dovecot.lmtp_port), dovecot.pid
    assert pid is not None
    dovecot.deliver("bob@example.org", mail("Before"))
    dovecot.restart()
    assert gone(pid)
    assert (dovecot.imap_port, dovecot.lmtp_port) == ports
    dovecot.deliver("bob@example.org", mail("After"))
    assert [m["Subject"] for m in dovecot.messages("bob@example.org")] == ["Before", "After"]


def test_two_instances_at_once_and_nothing_left_behind(tmp_path: Path, dovecot: Dovecot) -> None:
    with Dovecot(tmp_path / "other") as other:
        assert len({dovecot.imap_port, dovecot.lmtp_port, other.imap_port, other.lmtp_port}) == 4
        dovecot.deliver("bob@example.org", mail("Here"))
        other.deliver("bob@example.org", mail("There"))
        assert [m["Subject"] for m in dovecot.messages("bob@example.org")] == ["Here"]
        assert [m["Subject"] for m in other.messages("bob@example.org")] == ["There"]
        pid = other.pid
        assert pid is not None
    assert gone(pid) and other.pid is None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", other.imap_port), timeout=1)


def test_start_failure_shows_the_log(tmp_path: Path) -> None:
    server = Dovecot(tmp_path / "busy")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", server.imap_port))
        taken.listen()
        with pytest.raises(RuntimeError, match="Address already in use"):
            server.start()
    assert server.pid is None


def test_relay_answers_451_while_dovecot_is_down(dovecot: Dovecot, relay: Relay) -> None:
    dovecot.stop()
    with smtplib.SMTP("127.0.0.1", relay.port, timeout=30) as client:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("ann.lee@example.org", ["bob@example.org"], mail("Down"))
    assert refused.value.smtp_code == 451 and relay.received == []
    dovecot.start()
    assert dovecot.messages("bob@example.org") == []
