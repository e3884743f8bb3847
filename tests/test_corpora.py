"""Every message of the shared public corpora goes through the whole pipeline.

No crash, and each one ends published, held, rejected or dropped, with a
reason; then the site builds and nothing in it is live markup from mail.
Also: real replies from Gmail, Outlook, Apple Mail and others, rewritten to
our addresses, land in the right topic with their quotes set aside.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest
from helpers import add_community, need_corpus, write_config
from mailtest import CORPUS, DOMAIN, Harness, git_root
from test_security import html_fragments, live_markup

from generator.builder import build_site
from intranet.format import read_intranet
from intranet.settings import read_settings
from mailgateway.spool import Envelope
from mailgateway.worker import Worker


@pytest.fixture(autouse=True)
def _corpus() -> None:
    need_corpus(CORPUS)


FULL_MESSAGES = [
    "discourse-email-fixtures/*.eml",
    "public-inbox/t/**/*.eml",
    "mailman3/**/*.eml",
    "hyperkitty/*.txt",
    "mailgun-talon/standard_replies/*.eml",
    "mailgun-talon/*.eml",
    "flufl-bounce/*.txt",
]
BODIES_ONLY = [
    "discourse-email_reply_trimmer/emails/*.txt",
    "github-email_reply_parser/*.txt",
    "mail-parser-reply/*.txt",
]
HTML_BODIES = ["mailgun-talon/html_replies/*.html", "mailgun-talon/*.html"]


def corpus_files(patterns: list[str]) -> list[Path]:
    return sorted(p for pattern in patterns for p in CORPUS.glob(pattern) if p.is_file() and p.name != "SOURCE.md")


def as_message(path: Path) -> bytes:
    data = path.read_bytes()
    if data.startswith(b"From ") and b"\n" in data:  # an mbox "From " line
        data = data.split(b"\n", 1)[1]
    return data


def wrapped(path: Path, html: bool = False) -> bytes:
    message = EmailMessage()
    message["From"] = "Corpus Sender <corpus@elsewhere.example>"
    message["To"] = f"open@{DOMAIN}"
    message["Subject"] = f"Corpus: {path.name}"
    message["Message-ID"] = f"<{path.parent.name}.{path.name}@corpus.example>"
    text = path.read_bytes().decode("utf-8", "replace")
    if html:
        message.set_content("see HTML")
        message.add_alternative(text, subtype="html")
    else:
        message.set_content(text)
    return message.as_bytes()


def test_every_corpus_message_has_an_outcome_and_the_site_stays_safe(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    add_community(root, "open", name="Open", posting="anyone")
    write_config(root, smtp="", lmtp="", trust_local_senders=True)
    worker = Worker(root, read_settings(root))
    received = dt.datetime(2026, 11, 27, tzinfo=dt.UTC).isoformat()
    keys: dict[str, str] = {}
    inputs = [(p, as_message(p)) for p in corpus_files(FULL_MESSAGES)]
    inputs += [(p, wrapped(p)) for p in corpus_files(BODIES_ONLY)]
    inputs += [(p, wrapped(p, html=True)) for p in corpus_files(HTML_BODIES)]
    assert len(inputs) > 200
    for path, raw in inputs:
        envelope = Envelope(
            mail_from="corpus@elsewhere.example", rcpt_tos=[f"open@{DOMAIN}"], peer="127.0.0.1", received=received
        )
        keys[worker.spool.accept(raw, envelope)] = str(path.relative_to(CORPUS))
    while worker.spool.pending():
        worker.run_once()
    records = {r["key"]: r for r in worker.records.all()}
    missing = [keys[k] for k in keys if k not in records]
    assert missing == []
    assert list(worker.spool.failed()) == []
    outcomes = Counter(r["outcome"] for r in records.values())
    assert set(outcomes) <= {"published", "duplicate", "held", "rejected", "dropped"}
    assert all(r.get("reason") for r in records.values())
    assert outcomes["published"] > 150, outcomes
    bounces = [records[k] for k, name in keys.items() if name.startswith("flufl-bounce")]
    dropped = sum(1 for r in bounces if r["outcome"] == "dropped")
    assert dropped >= 0.85 * len(bounces), f"only {dropped} of {len(bounces)} bounces recognised"

    intranet = read_intranet(root)
    assert intranet.problems == []
    build_site(root)
    for path in (root / "site").rglob("*"):
        for text in html_fragments(path):
            assert live_markup(text, fragment=path.suffix != ".html") == [], path


# Each client's reply, and a phrase of its new text (None: the check is only that quotes are gone).
CLIENT_REPLIES = {
    "discourse-email-fixtures/android_gmail.eml": "this is a reply from Android 5 gmail",
    "discourse-email-fixtures/ios_default.eml": None,
    "discourse-email-fixtures/gmail_html_reply.eml": "reply ;)",  # Gmail's HTML, a signature but no quote
    "discourse-email-fixtures/exchange_html_reply.eml": "of the email.",  # Exchange's HTML, no quote in it
    "discourse-email-fixtures/multiline_wrote.eml": None,
    "mailgun-talon/standard_replies/apple_mail.eml": None,
    "mailgun-talon/standard_replies/gmail.eml": None,
    "mailgun-talon/standard_replies/outlook.eml": None,
    "mailgun-talon/standard_replies/thunderbird.eml": None,
    "mailgun-talon/standard_replies/iphone.eml": None,
}


def readdress(raw: bytes, message_id: str) -> bytes:
    """A real client's reply, re-addressed to our community and topic, from a known person."""
    head, sep, body = raw.replace(b"\r\n", b"\n").lstrip(b"\n").partition(b"\n\n")
    kept = []
    skip = False
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t"):
            if not skip:
                kept.append(line)
            continue
        name = line.split(b":", 1)[0].lower()
        skip = name in (
            b"from",
            b"to",
            b"cc",
            b"in-reply-to",
            b"references",
            b"message-id",
            b"delivered-to",
            b"return-path",
        )
        if not skip:
            kept.append(line)
    kept += [
        b"From: Ann Lee <ann.lee@example.org>",
        f"To: handover@{DOMAIN}".encode(),
        b"In-Reply-To: <t1@example.org>",
        b"References: <t1@example.org>",
        f"Message-ID: {message_id}".encode(),
    ]
    return (b"\n".join(kept) + b"\n\n" + body).replace(b"\n", b"\r\n")


REACTIONS = {"discourse-email-fixtures/multiline_wrote.eml": "thanks"}  # replies that are only a reaction
TOPIC = "<t1@example.org>"


def test_real_client_replies_thread_and_set_quotes_aside(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    sent = {}
    with Harness(root) as gw:
        for name in sorted(CLIENT_REPLIES):
            message_id = f"<client-{re.sub(r'[^a-z0-9]', '-', name.lower())}@example.org>"
            gw.send(readdress((CORPUS / name).read_bytes(), message_id), f"handover@{DOMAIN}")
            sent[name] = message_id
        for name, message_id in sent.items():
            [record] = gw.wait(message_id)
            if name in REACTIONS:  # its whole new text is "Thanks!": a reaction to the topic, no post (issue #17)
                assert (record["outcome"], record["reason"], record["post"]) == ("reacted", REACTIONS[name], TOPIC)
                continue
            assert (record["outcome"], record["reason"]) == ("published", "reply"), (name, record)
            post = gw.post(message_id)
            assert post.topic == "<t1@example.org>" and post.in_reply_to == "<t1@example.org>", name
            assert post.body.strip(), name
            if "html_reply" not in name:
                assert post.quoted.strip(), name
            assert not re.search(r"^\s*(\\?>|&gt;)", post.body, re.M), (name, post.body)
            assert not re.search(r"wrote:|schrieb|-----Original Message-----", post.body), (name, post.body)
            if CLIENT_REPLIES[name]:
                assert CLIENT_REPLIES[name] in post.body.replace("\\", ""), (name, post.body)
