"""Mail of every kind, through the real gateway, with the site following each commit incrementally
(issue #19): events and their answers, a poll and its votes, replies, commands and a guide; after
the lot, every tree equals a full build of the same content, byte for byte."""

from __future__ import annotations

import pytest
from mailtest import DOMAIN, Harness, git, git_root, mail
from test_incremental import assert_same_as_full_build

from generator.builder import Builder

TO = f"handover@{DOMAIN}"
ANN, BO = "Ann Lee <ann.lee@example.org>", "Bo Chen <bo.chen@example.org>"  # Ann moderates handover


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "mix-test-secret-0123456789abcdef")


def test_events_polls_answers_votes_commands_and_posts_keep_the_site_as_a_full_build_shows_it(tmp_path) -> None:
    root = git_root(tmp_path / "intranet", timezone="Australia/Sydney")
    event = mail("Falls workshop", "#event\nWhen: 2026-12-10 14:00-15:30\nWhere: Room 3\n\nBring your sheets.", ANN)
    poll = mail("Which day for the audit?", "#poll\n- Tuesday\n- Thursday", ANN)
    eid, pid = event["Message-ID"], poll["Message-ID"]
    reply = mail("Re: Falls workshop", "See you there, with the ward's numbers.", BO, in_reply_to=eid)
    steps = [  # each message, and what the gateway makes of it
        (event, "published new-topic"),
        (mail("Re: Falls workshop", "#going", BO, in_reply_to=eid), "acted going"),
        (poll, "published new-topic"),
        (mail("Re: Which day for the audit?", "2", BO, in_reply_to=pid), "voted vote"),
        (mail("Re: Which day for the audit?", "Tuesday", ANN, in_reply_to=pid), "voted vote"),
        (reply, "published reply"),
        (
            mail("Re: Falls workshop", "#accept\n\nThanks Bo.", ANN, in_reply_to=reply["Message-ID"]),
            "published commands",
        ),
        (mail("Re: Which day for the audit?", "#close", ANN, in_reply_to=pid), "acted close"),
        (mail("Re: Falls workshop", "#not-going", BO, in_reply_to=eid), "acted not-going"),
        (
            mail("Re: Falls workshop", "#event\nWhen: 2026-12-11 09:00\nWhere: Room 4", ANN, in_reply_to=eid),
            "acted event",
        ),
        (mail("Re: Falls workshop", "#guide\n\nBring the numbers; Room 4 now.", ANN, in_reply_to=eid), "acted guide"),
    ]
    builder = Builder(root)
    try:
        builder.build()
        head = git(root, "rev-parse", "HEAD").strip()
        with Harness(root) as gw:
            for message, outcome in steps:
                gw.send(message, TO, sender=str(message["From"]).split("<")[1].rstrip(">"))
                [record] = gw.wait(message["Message-ID"])
                assert f"{record['outcome']} {record['reason']}" == outcome, record
                new = git(root, "rev-parse", "HEAD").strip()
                changed = git(root, "diff", "--name-only", head, new).split()
                assert changed, f"nothing committed for {message['Subject']}: {record}"
                assert builder.update(changed) in ("updated", "rebuilt")  # (a guide is a new page: a full build)
                head = new
        staff = root / "site" / "staff" / "c" / "handover"
        events = (staff / "events" / "index.html").read_text()
        assert "Falls workshop" in events and "Room 4" in events
        pages = {p.parent.name: p.read_text() for p in (staff / "t").glob("*/index.html")}
        [audit] = [t for t in pages.values() if "Which day for the audit?" in t]
        assert "Tuesday: 1 vote" in audit and "Thursday: 1 vote" in audit
        assert (staff / "pages" / "falls-workshop" / "index.html").is_file()
    finally:
        builder.close()
    assert_same_as_full_build(root, tmp_path)
