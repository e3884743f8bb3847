"""The mail gateway end to end: a real aiosmtpd server on loopback, a real Git repository."""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import socket
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest
from mailtest import DOMAIN, Harness, git, git_root, mail, wire

from intranet.addresses import load_secret, topic_ref
from intranet.format import attachments_dir, post_relpath, read_intranet


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return git_root(tmp_path / "intranet")


@pytest.fixture
def gw(root: Path):
    with Harness(root) as harness:
        yield harness


def test_new_topic_is_a_commit_by_the_sender(gw: Harness) -> None:
    message = mail(subject="Falls huddle at 14:00", body="Who is joining the falls huddle?\nBring data.")
    gw.send(message, f"handover@{DOMAIN}")
    [record] = gw.wait(message["Message-ID"])
    assert record["outcome"] == "published" and record["reason"] == "new-topic"
    post = gw.post(message["Message-ID"])
    assert post.author.handle == "ann.lee" and post.source == "smtp" and post.topic == post.message_id
    assert post.body == "Who is joining the falls huddle?\nBring data."
    assert post.relpath == post_relpath("handover", message["Message-ID"])
    log = git(gw.root, "log", "-1", "--format=%an <%ae>|%cn|%s|%(trailers:key=Message-ID,valueonly)")
    author, committer, subject, trailer = log.strip().split("|")
    assert author == "Ann Lee <ann.lee@example.org>"
    assert committer == "Intranet gateway"
    assert subject == "handover: Falls huddle at 14:00"
    assert trailer.strip() == message["Message-ID"]
    assert git(gw.root, "status", "--porcelain").strip() == ""


def test_reply_by_in_reply_to_and_by_reply_address(gw: Harness) -> None:
    topic = "<t1@example.org>"  # in the small intranet already
    reply = mail(
        subject="Re: Night shift handover",
        body="We do it at the bedside.",
        sender="Bo Chen <bo.chen@example.org>",
        in_reply_to=topic,
    )
    gw.send(reply, f"handover@{DOMAIN}", sender="bo.chen@example.org")
    assert gw.wait(reply["Message-ID"])[0]["reason"] == "reply"
    assert gw.post(reply["Message-ID"]).topic == topic

    # A client that lost the headers: the reply address alone threads it.
    lost = mail(subject="Re: Night shift handover", body="And we use a checklist.")
    gw.send(lost, gw.reply_address("handover", topic))
    assert gw.wait(lost["Message-ID"])[0]["reason"] == "reply"
    post = gw.post(lost["Message-ID"])
    assert post.topic == topic and post.in_reply_to == topic

    # An address of the older, longer form (still in people's mailboxes), and one typed in capitals.
    ref, who = topic_ref(topic), "0" * 8
    old = (
        f"r{ref}{who}"
        + hmac.new(
            load_secret(gw.root / gw.settings.state_dir), f"handover|{ref}|{who}".encode(), hashlib.sha256
        ).hexdigest()[:12]
    )
    typed = gw.reply_address("handover", topic, issued_to="ann.lee@example.org").upper()
    for address in (f"handover+{old}@{DOMAIN}", typed):
        again = mail(subject="Re: Night shift handover", body=f"Once more, to {address}.")
        gw.send(again, address)
        assert gw.wait(again["Message-ID"])[0]["reason"] == "reply"
        assert gw.post(again["Message-ID"]).topic == topic

    # A reply to a post in another community does not join that thread.
    elsewhere = mail(
        subject="Re: Night shift handover", body="Crossing over.", to=f"procurement@{DOMAIN}", in_reply_to=topic
    )
    gw.send(elsewhere, f"procurement@{DOMAIN}")
    assert gw.wait(elsewhere["Message-ID"])[0]["reason"] == "new-topic"
    assert gw.post(elsewhere["Message-ID"]).topic == elsewhere["Message-ID"]


def test_reply_address_used_by_someone_else_is_held(gw: Harness) -> None:
    address = gw.reply_address("handover", "<t1@example.org>", issued_to="bo.chen@example.org")
    message = mail(subject="Re: Night shift handover", body="Not Bo here.")
    gw.send(message, address)
    [record] = gw.wait(message["Message-ID"])
    assert (record["outcome"], record["reason"]) == ("held", "token-not-yours")
    assert not [p for p in gw.posts() if p.message_id == message["Message-ID"]]
    assert [h["reason"] for h in gw.gateway.worker.spool.held()] == ["token-not-yours"]


def test_unknown_community_and_bad_token_are_refused_at_rcpt(gw: Harness) -> None:
    with smtplib.SMTP("127.0.0.1", gw.smtp) as client:
        client.ehlo()
        client.mail("ann.lee@example.org")
        code, text = client.rcpt(f"nosuch@{DOMAIN}")
        assert (code, text[:5]) == (550, b"5.1.1")
        for made_up in (f"r{'0' * 32}", f"t{'0' * 15}", f"p{'a' * 19}"):
            code, text = client.rcpt(f"handover+{made_up}@{DOMAIN}")
            assert (code, text[:5]) == (550, b"5.1.1")
        code, _ = client.rcpt("handover@elsewhere.example")
        assert code == 550
        code, _ = client.rcpt(f"HandOver@{DOMAIN.upper()}")
        assert code == 250
    assert any(r["reason"] == "unknown-community" for r in gw.records())


def test_oversize_is_refused_early_and_at_data(root: Path) -> None:
    from helpers import write_config

    write_config(root, smtp=f"127.0.0.1:{_free()}", lmtp="", trust_local_senders=True, max_message_bytes=50_000)
    with Harness(root) as gw, smtplib.SMTP("127.0.0.1", gw.smtp) as client:
        client.ehlo()
        assert client.has_extn("size") and client.esmtp_features["size"] == "50000"
        code, text = client.mail("ann.lee@example.org", options=["SIZE=900000"])
        assert code == 552  # refused before any data is sent
        client.rset()
        # A client that does not announce the size is stopped at the limit.
        assert client.mail("ann.lee@example.org")[0] == 250
        assert client.rcpt(f"handover@{DOMAIN}")[0] == 250
        code, text = client.data(wire(mail(body=("x" * 70 + "\n") * 1200)))
        assert code == 552, text
    assert [r["reason"] for r in gw.records()] == ["too-large", "too-large"]


def test_duplicate_delivery_makes_one_post_and_reused_id_keeps_both(gw: Harness) -> None:
    message = mail(subject="Glove sizes", body="Which sizes do wards use most?", to=f"procurement@{DOMAIN}")
    gw.send(message, f"procurement@{DOMAIN}")
    gw.send(message, f"procurement@{DOMAIN}")
    records = gw.wait(message["Message-ID"], count=2)
    assert sorted(r["outcome"] for r in records) == ["duplicate", "published"]
    other = mail(
        subject="Different text",
        body="Same Message-ID, different message.",
        to=f"procurement@{DOMAIN}",
        message_id=message["Message-ID"],
    )
    gw.send(other, f"procurement@{DOMAIN}")
    assert gw.wait(message["Message-ID"], count=3)[-1]["outcome"] == "published"
    posts = [p for p in gw.posts("procurement") if p.message_id == message["Message-ID"]]
    assert sorted(p.subject for p in posts) == ["Different text", "Glove sizes"]
    assert read_intranet(gw.root).problems == []


def test_message_without_message_id_or_date_gets_derived_ones(gw: Harness) -> None:
    raw = b"From: Ann Lee <ann.lee@example.org>\r\nTo: handover@intranet.localhost\r\nSubject: No id\r\n\r\nPlain.\r\n"
    gw.send(raw, f"handover@{DOMAIN}")
    gw.send(raw, f"handover@{DOMAIN}")
    import time

    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline and len([r for r in gw.records() if r.get("sender") == "ann.lee@example.org"]) < 2
    ):
        time.sleep(0.05)
    outcomes = sorted(r["outcome"] for r in gw.records() if r.get("sender") == "ann.lee@example.org")
    assert outcomes == ["duplicate", "published"]
    [post] = [p for p in gw.posts("handover") if p.subject == "No id"]
    assert post.message_id.endswith(f"@{DOMAIN}>")


@pytest.mark.parametrize(
    "name",
    [
        "../../.git/hooks/post-commit",
        "..%2F..%2Fmkdocs.yml",
        "a\x00b.pdf",
        "x" * 300 + ".pdf",
        ".gitattributes",
        "mkdocs.yml",
        "/etc/passwd",
        "C:\\Windows\\evil.bat",
    ],
)
def test_attachment_names_cannot_escape_the_post_folder(gw: Harness, name: str) -> None:
    message = mail(subject="With attachment", body="See attached.")
    message.add_attachment(b"#!/bin/sh\necho pwned\n", maintype="application", subtype="octet-stream", filename=name)
    gw.send(message, f"handover@{DOMAIN}")
    assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
    post = gw.post(message["Message-ID"])
    [attachment] = post.attachments
    folder = attachments_dir(gw.root / post.relpath)
    assert [p.name for p in folder.iterdir()] == [attachment.file]
    assert attachment.file.startswith("att-1.")
    assert not (gw.root / ".git" / "hooks" / "post-commit").exists()
    assert "pwned" not in (gw.root / "mkdocs.yml").read_text()
    assert not (gw.root / ".gitattributes").exists()
    changed = git(gw.root, "show", "--name-only", "--format=", "HEAD").split()
    assert all(path.startswith(str(Path(post.relpath).parent)) for path in changed)


def test_rfc2231_encoded_traversal_name(gw: Harness) -> None:
    raw = (
        b"From: Ann Lee <ann.lee@example.org>\r\nTo: handover@intranet.localhost\r\nSubject: 2231\r\n"
        b"Message-ID: <rfc2231@example.org>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nBody.\r\n'
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''%2E%2E%2F%2E%2E%2F.git%2Fconfig\r\n\r\nx\r\n--b--\r\n"
    )
    gw.send(raw, f"handover@{DOMAIN}")
    assert gw.wait("<rfc2231@example.org>")[0]["outcome"] == "published"
    [attachment] = gw.post("<rfc2231@example.org>").attachments
    assert attachment.file == "att-1.bin" and attachment.name == "../../.git/config"


def test_attachment_limits_keep_a_note(root: Path) -> None:
    from helpers import write_config

    write_config(root, smtp=f"127.0.0.1:{_free()}", lmtp="", trust_local_senders=True, max_attachments=2)
    with Harness(root) as gw:
        message = mail(subject="Many files", body="Three files.")
        for n in range(3):
            message.add_attachment(b"data", maintype="text", subtype="csv", filename=f"f{n}.csv")
        gw.send(message, f"handover@{DOMAIN}")
        [record] = gw.wait(message["Message-ID"])
        assert record["attachments_not_kept"] == ["f2.csv"]
        post = gw.post(message["Message-ID"])
        assert [a.name for a in post.attachments] == ["f0.csv", "f1.csv"]
        assert "Not kept" in post.body and "f2.csv" in post.body


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-reply"),
        ({"X-Autoreply": "yes"}, "auto-reply"),
        ({"Precedence": "bulk"}, "bulk"),
        ({"Subject": "Automatic reply: Night shift"}, "auto-reply"),
        ({"Subject": "Abwesenheitsnotiz: Übergabe"}, "auto-reply"),
        ({"List-Id": "<handover.intranet.localhost>"}, "loop"),
        ({"X-Loop": "intranet-noreply@intranet.localhost"}, "loop"),
        ({"From": "MAILER-DAEMON@mx.example.org"}, "bounce"),
        ({"From": "no-reply@vendor.example"}, "robot-sender"),
    ],
)
def test_auto_replies_bounces_and_loops_are_dropped_silently(gw: Harness, headers: dict, reason: str) -> None:
    message = mail(body="I am away until Monday.")
    for name, value in headers.items():
        del message[name]
        message[name] = value
    gw.send(message, f"handover@{DOMAIN}")
    [record] = gw.wait(message["Message-ID"])
    assert (record["outcome"], record["reason"]) == ("dropped", reason)
    assert gw.outbox() == []


def test_x_auto_response_suppress_alone_is_not_an_auto_reply(gw: Harness) -> None:
    message = mail(body="Outlook adds this header to ordinary mail.", headers={"X-Auto-Response-Suppress": "All"})
    gw.send(message, f"handover@{DOMAIN}")
    assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"


def test_delivery_report_is_a_bounce(gw: Harness) -> None:
    report = EmailMessage()
    report["From"] = "Mail Delivery System <postmaster@mx.example.org>"
    report["To"] = f"handover@{DOMAIN}"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Message-ID"] = "<dsn1@mx.example.org>"
    report.set_content("Delivery failed.")
    report.add_attachment("Reporting-MTA: dns; mx.example.org\n", subtype="delivery-status")
    report.replace_header("Content-Type", report["Content-Type"].replace("multipart/mixed", "multipart/report"))
    gw.send(report, f"handover@{DOMAIN}", sender="")
    assert gw.wait("<dsn1@mx.example.org>")[0]["reason"] == "bounce"


def test_unknown_sender_is_held_and_told_once_a_day(gw: Harness) -> None:
    for n in range(2):
        message = mail(subject=f"Hello {n}", body="I am new here.", sender="Stranger <stranger@elsewhere.example>")
        gw.send(message, f"handover@{DOMAIN}", sender="stranger@elsewhere.example")
        [record] = gw.wait(message["Message-ID"])
        assert (record["outcome"], record["reason"]) == ("held", "not-known")
    sent = gw.outbox()
    notices = [m for m in sent if m["To"] == "stranger@elsewhere.example"]
    assert len(notices) == 1
    notice = notices[0]
    assert notice["To"] == "stranger@elsewhere.example" and notice["Auto-Submitted"] == "auto-replied"
    assert "waiting for a moderator" in notice["Subject"]
    assert "people in the directory" in notice.get_content()
    assert len(list(gw.gateway.worker.spool.held())) == 2
    requests = [m for m in sent if m["Subject"].startswith("Held for moderation")]
    assert len(requests) == 2 and {m["To"] for m in requests} == {"ann.lee@example.org"}  # one moderator


def test_empty_reply_is_rejected_with_a_notice(gw: Harness) -> None:
    message = mail(
        subject="Re: Night shift handover",
        body="On Mon, Ann Lee wrote:\n> How do you run it?\n",
        in_reply_to="<t1@example.org>",
    )
    gw.send(message, f"handover@{DOMAIN}")
    [record] = gw.wait(message["Message-ID"])
    assert (record["outcome"], record["reason"]) == ("rejected", "empty")
    [notice] = gw.outbox()
    assert "empty" in notice["Subject"]


def test_closed_topic_rejects_replies(gw: Harness) -> None:
    path = gw.root / post_relpath("handover", "<t1@example.org>")
    path.write_text(path.read_text().replace("source: smtp\n", "source: smtp\nclosed: true\n"))
    git(gw.root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qam", "Close topic")
    message = mail(subject="Re: Night shift handover", body="One more thing.", in_reply_to="<t1@example.org>")
    gw.send(message, f"handover@{DOMAIN}")
    assert gw.wait(message["Message-ID"])[0]["reason"] == "topic-closed"
    [notice] = gw.outbox()
    assert "Night shift handover" in notice.get_content()


def test_forged_authentication_results_are_ignored(root: Path) -> None:
    from helpers import write_config

    port = _free()
    write_config(
        root, smtp=f"127.0.0.1:{port}", lmtp="", trusted_authserv_id="mx.intranet.localhost", trust_local_senders=False
    )
    with Harness(root) as gw:
        forged = "mx.intranet.localhost; dmarc=pass header.from=example.org; dkim=pass"
        # From an address that is not the trusted MTA: the header is the sender's own claim.
        outside = mail(body="Trust me.", headers={"Authentication-Results": forged})
        gw.send(outside, f"handover@{DOMAIN}", source="127.0.0.2")
        assert gw.wait(outside["Message-ID"])[0]["reason"] == "unverified-sender"
        # Through the trusted MTA, but below another server's header: not the topmost, so not ours.
        buried = mail(body="Still trust me.")
        buried["Authentication-Results"] = "mx.other.example; none"
        buried["Authentication-Results"] = forged
        gw.send(buried, f"handover@{DOMAIN}")
        assert gw.wait(buried["Message-ID"])[0]["reason"] == "unverified-sender"
        # The real thing: the trusted MTA's own header on top.
        real = mail(body="Really me.", headers={"Authentication-Results": forged})
        gw.send(real, f"handover@{DOMAIN}")
        assert gw.wait(real["Message-ID"])[0]["outcome"] == "published"
        failed = mail(body="Spoofed.", headers={"Authentication-Results": "mx.intranet.localhost; dmarc=fail"})
        gw.send(failed, f"handover@{DOMAIN}")
        assert gw.wait(failed["Message-ID"])[0]["reason"] == "not-authentic"


def test_lmtp_answers_per_recipient(gw: Harness) -> None:
    message = mail(subject="Cross-posted", body="For both communities.", to=f"handover@{DOMAIN}, procurement@{DOMAIN}")
    with socket.create_connection(("127.0.0.1", gw.lmtp), timeout=10) as sock:
        stream = sock.makefile("rwb")

        def say(line: bytes) -> bytes:
            stream.write(line + b"\r\n")
            stream.flush()
            return read()

        def read() -> bytes:
            lines = []
            while True:
                line = stream.readline()
                lines.append(line)
                if line[3:4] != b"-":
                    return b"".join(lines)

        assert read().startswith(b"220")
        assert say(b"LHLO mx.example.org").startswith(b"250")
        assert say(b"MAIL FROM:<ann.lee@example.org>").startswith(b"250")
        assert say(f"RCPT TO:<handover@{DOMAIN}>".encode()).startswith(b"250")
        assert say(b"RCPT TO:<nobody@intranet.localhost>").startswith(b"550 5.1.1")
        assert say(f"RCPT TO:<procurement@{DOMAIN}>".encode()).startswith(b"250")
        assert say(b"DATA").startswith(b"354")
        stream.write(wire(message) + b".\r\n")
        stream.flush()
        first, second = read(), read()
        assert first.startswith(b"250 ") and second.startswith(b"250 ")
        say(b"QUIT")
    records = gw.wait(message["Message-ID"], count=2)
    assert sorted(r["community"] for r in records) == ["handover", "procurement"]
    assert all(p.source == "lmtp" for p in gw.posts() if p.message_id == message["Message-ID"])


def test_swaks_can_post(gw: Harness) -> None:
    import shutil

    if shutil.which("swaks") is None:
        pytest.fail("swaks is not installed: `make test` installs it")
    run = subprocess.run(
        [
            "swaks",
            "--server",
            f"127.0.0.1:{gw.smtp}",
            "--from",
            "ann.lee@example.org",
            "--to",
            f"handover@{DOMAIN}",
            "--header",
            "Subject: Sent with swaks",
            "--header",
            "Message-Id: <swaks-1@example.org>",
            "--header",
            "From: Ann Lee <ann.lee@example.org>",
            "--body",
            "Hello from swaks.",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert gw.wait("<swaks-1@example.org>")[0]["outcome"] == "published"
    assert gw.post("<swaks-1@example.org>").body == "Hello from swaks."


def test_failing_message_goes_to_failed_and_can_be_retried(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mailgateway import store as store_module
    from mailgateway import worker as worker_module

    # Two tries, each giving up at once on the stuck lock (in production: 5 tries, each waiting 12.75 s).
    monkeypatch.setattr(worker_module, "MAX_TRIES", 2)
    monkeypatch.setattr(store_module, "LOCK_RETRIES", 1)
    with Harness(root) as gw:
        lock = gw.root / ".git" / "index.lock"
        lock.write_text("an editor's git crashed and left this")
        try:
            message = mail(subject="Blocked", body="Git is locked.")
            gw.send(message, f"handover@{DOMAIN}")
            import time

            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not list(gw.gateway.worker.spool.failed()):
                time.sleep(0.05)
            [failed] = list(gw.gateway.worker.spool.failed())
            assert "index.lock" in failed["error"]
        finally:
            monkeypatch.undo()
            lock.unlink()
        listing = subprocess.run(
            [sys.executable, "-m", "intranet.cli", "spool", "list", "--root", str(gw.root)],
            capture_output=True,
            text=True,
        )
        assert failed["key"] in listing.stdout and "failed: 1" in listing.stdout
        retry = subprocess.run(
            [sys.executable, "-m", "intranet.cli", "spool", "retry", "--root", str(gw.root), failed["key"]],
            capture_output=True,
            text=True,
        )
        assert retry.returncode == 0, retry.stderr
        gw.gateway.worker.wake()
        assert gw.wait(message["Message-ID"])[-1]["outcome"] == "published"
        assert [r["outcome"] for r in gw.records() if r.get("key") == failed["key"]] == ["failed", "published"]


def _free() -> int:
    from conftest import free_port

    return free_port()


def test_editor_holding_the_index_lock_delays_but_never_loses(gw: Harness) -> None:
    import threading
    import time

    lock = gw.root / ".git" / "index.lock"
    lock.write_text("an editor is committing")
    threading.Timer(0.5, lock.unlink).start()
    message = mail(subject="While an editor commits", body="Still arrives.")
    gw.send(message, f"handover@{DOMAIN}")
    started = time.monotonic()
    [record] = gw.wait(message["Message-ID"])
    assert record["outcome"] == "published"
    deadline = time.monotonic() + 10
    while lock.exists() and time.monotonic() < deadline:  # now the gateway's own, until its batch ends
        time.sleep(0.02)
    assert not lock.exists() and time.monotonic() >= started
    assert list(gw.gateway.worker.spool.failed()) == []


def test_html_mail_with_inline_image_shows_it_in_place(gw: Harness) -> None:
    from generator.builder import build_site

    message = mail(subject="Falls chart", body="(HTML only)")
    message.add_alternative(
        '<p>This month:</p><p><img src="cid:chart1@example.org" alt="falls chart"></p>', subtype="html"
    )
    html_part = message.get_payload()[1]
    html_part.add_related(b"\x89PNG\r\n\x1a\nfake", maintype="image", subtype="png", cid="<chart1@example.org>")
    gw.send(message, f"handover@{DOMAIN}")
    assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
    post = gw.post(message["Message-ID"])
    assert [a.file for a in post.attachments] == ["att-1.png"]
    assert "![falls chart](att-1.png)" in post.body
    build_site(gw.root)
    from intranet.format import path_key

    page = (
        gw.root / "site" / "staff" / "c" / "handover" / "t" / path_key(post.relpath)[:12] / "index.html"
    ).read_text()
    assert f'<img src="../../files/{post.key}/att-1.png" alt="falls chart">' in page
