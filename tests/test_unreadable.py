"""Mail the gateway cannot read ends with a final record and a notice, never in failed/ (issue #13).

A real gateway on loopback: the message gets its 250 first, so what becomes of it afterwards is the
gateway's own business. A message whose content cannot be parsed is ``rejected: unreadable``; one that
takes longer than ``max_parse_seconds`` to read is ``rejected: too-complex``; either way the sender
is told once a day, and the worker goes on with the next message. A failure of ours while reading
(the reading process dies) is retried, as a Git error is.
"""

from __future__ import annotations

import os
import signal
import time
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailtest import DOMAIN, Harness, git_root, mail

SENDER = "ann.lee@example.org"


def nested_multiparts(depth: int, message_id: str, subject: str = "Deep") -> bytes:
    """A message whose text sits inside ``depth`` multiparts, one inside the other."""
    lines = [
        f"From: Ann Lee <{SENDER}>",
        f"To: handover@{DOMAIN}",
        f"Subject: {subject}",
        f"Message-ID: {message_id}",
        "Date: Fri, 27 Nov 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
    ]
    for level in range(depth):
        lines += [f'Content-Type: multipart/mixed; boundary="b{level}"', "", f"--b{level}"]
    lines += ["Content-Type: text/plain", "", "Hello from the bottom."]
    lines += [f"--b{level}--" for level in reversed(range(depth))]
    return ("\r\n".join(lines) + "\r\n").encode()


def slow_html(message_id: str) -> EmailMessage:
    """A small HTML body that Python's html.parser takes minutes over (its worst case is quadratic)."""
    message = mail(subject="Slow to read", message_id=message_id)
    message.set_content("<a " * 40_000, subtype="html")
    return message


def notices_to(gw: Harness, reason_words: str) -> list[EmailMessage]:
    return [m for m in gw.outbox() if m["To"] == SENDER and reason_words in m["Subject"]]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return git_root(tmp_path / "intranet")


def test_a_thousand_nested_multiparts_are_rejected_as_unreadable_with_a_notice(root: Path) -> None:
    with Harness(root) as gw:
        assert gw.send(nested_multiparts(1000, "<deep@example.org>"), f"handover@{DOMAIN}") == {}  # the 250
        [record] = gw.wait("<deep@example.org>")
        assert (record["outcome"], record["reason"]) == ("rejected", "unreadable")
        assert record["sender"] == SENDER and record["recipients"] == [f"handover@{DOMAIN}"]
        [notice] = notices_to(gw, "could not read")
        assert notice["In-Reply-To"] == "<deep@example.org>" and "Deep" in notice["Subject"]
        assert f"handover@{DOMAIN}" in notice.get_content()
        spool = gw.gateway.worker.spool
        assert spool.pending() == [] and list(spool.failed()) == []
        # A second one the same day is recorded, but the sender is not told again.
        gw.send(nested_multiparts(1000, "<deep2@example.org>"), f"handover@{DOMAIN}")
        assert gw.wait("<deep2@example.org>")[0]["reason"] == "unreadable"
        assert len(notices_to(gw, "could not read")) == 1
        # The worker carries on.
        message = mail(subject="After the deep one", body="Still here.")
        gw.send(message, f"handover@{DOMAIN}")
        assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"


def test_nesting_deeper_than_the_cap_is_unreadable_and_shallower_is_published(root: Path) -> None:
    with Harness(root) as gw:
        gw.send(nested_multiparts(51, "<fifty-one@example.org>"), f"handover@{DOMAIN}")
        gw.send(nested_multiparts(50, "<fifty@example.org>"), f"handover@{DOMAIN}")
        [record] = gw.wait("<fifty-one@example.org>")
        assert (record["outcome"], record["reason"]) == ("rejected", "unreadable")
        assert "nested" in record["detail"]
        assert gw.wait("<fifty@example.org>")[0]["outcome"] == "published"
        assert gw.post("<fifty@example.org>").body == "Hello from the bottom."


def test_an_unreadable_auto_reply_gets_no_notice(root: Path) -> None:
    raw = nested_multiparts(1000, "<ooo@example.org>").replace(
        b"MIME-Version", b"Auto-Submitted: auto-replied\r\nMIME-Version"
    )
    with Harness(root) as gw:
        gw.send(raw, f"handover@{DOMAIN}")
        assert gw.wait("<ooo@example.org>")[0]["reason"] == "unreadable"
        assert gw.outbox() == []


def test_a_message_slower_to_read_than_the_limit_is_rejected_as_too_complex(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", max_parse_seconds=1)
    with Harness(root) as gw:
        gw.send(slow_html("<slow@example.org>"), f"handover@{DOMAIN}")
        message = mail(subject="Right behind it", body="Quick to read.")
        gw.send(message, f"handover@{DOMAIN}")
        # Unchecked, reading it would take minutes: longer than wait() waits.
        [record] = gw.wait("<slow@example.org>")
        assert (record["outcome"], record["reason"]) == ("rejected", "too-complex")
        [notice] = notices_to(gw, "too long to read")
        assert notice["In-Reply-To"] == "<slow@example.org>"
        assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
        assert list(gw.gateway.worker.spool.failed()) == []


def test_the_reading_process_dying_is_our_failure_and_is_retried(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", max_parse_seconds=600)
    with Harness(root) as gw:
        worker = gw.gateway.worker
        gw.send(slow_html("<killed@example.org>"), f"handover@{DOMAIN}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and worker.reader.busy_pid() is None:
            time.sleep(0.02)
        pid = worker.reader.busy_pid()
        assert pid is not None, "the message never reached the reading process"
        os.kill(pid, signal.SIGKILL)  # as the kernel's OOM killer would
        [key] = worker.spool.pending()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and worker.spool.tries(key) == 0:
            time.sleep(0.02)
        assert worker.spool.tries(key) == 1
        assert [r for r in gw.records() if r.get("key") == key] == []  # no final outcome: it is tried again
        worker.reader.limit = 1  # the next try gives up on it, as a normal limit would
        [record] = gw.wait("<killed@example.org>")
        assert (record["outcome"], record["reason"]) == ("rejected", "too-complex")
