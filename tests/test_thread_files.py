"""A topic's thread as an mbox file and an Atom feed of its posts, beside its page (issue #17)."""

from __future__ import annotations

import mailbox
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from helpers import add_post
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import path_key, post_relpath

TOPIC = "<t1@example.org>"


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "thread-files-test-secret-0123456789abcdef")


def _folder(root: Path) -> Path:
    return root / "site/staff/c/handover/t" / path_key(post_relpath("handover", TOPIC))[:12]


def test_the_thread_downloads_as_an_mbox_a_mail_client_threads_and_as_a_feed(small_root: Path) -> None:
    add_post(
        small_root,
        "handover",
        "<r2@example.org>",
        "Re: Night shift handover",
        "From the night team: yes.\nFrom now on, cards.",
        author={"name": "Jo Visitor", "email": "jo@visiting.example"},
        in_reply_to="<r1@example.org>",
    )
    build_site(small_root)
    folder = _folder(small_root)
    box = mailbox.mbox(folder / "thread.mbox", create=False)
    messages = list(box)
    assert [m["Message-ID"] for m in messages] == [TOPIC, "<r1@example.org>", "<r2@example.org>"]
    assert [m["In-Reply-To"] for m in messages] == [None, TOPIC, "<r1@example.org>"]
    assert messages[0]["From"] == "Ann Lee <ann.lee@example.org>"  # her profile shows it
    assert messages[2]["From"] == "Jo Visitor <intranet-noreply@intranet.localhost>"  # a guest's is not shown
    assert messages[1].get_payload(decode=True).decode().startswith("We use **ISBAR** cards.")
    assert "\n-- \nBo Chen" in messages[1].get_payload(decode=True).decode()  # the signature, as mail has it
    assert messages[2].get_payload(decode=True).decode().splitlines()[0] == ">From the night team: yes."
    page = (folder / "index.html").read_text()
    assert 'href="thread.mbox" download' in page and 'href="feed.xml"' in page
    feed = ET.parse(folder / "feed.xml").getroot()
    entries = feed.findall("{http://www.w3.org/2005/Atom}entry")
    links = [e.find("{http://www.w3.org/2005/Atom}link").get("href") for e in entries]  # type: ignore[union-attr]
    newest = path_key(post_relpath("handover", "<r2@example.org>"))[:12]
    assert len(links) == 3 and links[0].endswith(f"#p-{newest}")  # newest first


def test_a_topics_files_follow_its_posts_and_go_with_it(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root)
    try:
        builder.build()
        reply = add_post(small_root, "handover", "<r3@example.org>", "Re: x", "Third.", in_reply_to=TOPIC)
        assert builder.update([str(reply.relative_to(small_root))]) == "updated"
        assert "<r3@example.org>" in (_folder(small_root) / "thread.mbox").read_text()
        assert_same_as_full_build(small_root, tmp_path)
        for message_id in (TOPIC, "<r1@example.org>", "<r3@example.org>"):  # the whole topic goes
            (small_root / post_relpath("handover", message_id)).unlink()
        gone = [post_relpath("handover", m) for m in (TOPIC, "<r1@example.org>", "<r3@example.org>")]
        assert builder.update(gone) == "updated"
        assert not (_folder(small_root) / "thread.mbox").exists()
        assert_same_as_full_build(small_root, tmp_path)
    finally:
        builder.close()
