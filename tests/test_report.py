"""The weekly report to each community's moderators (issue #19), end to end through a real gateway:
due once on report_day at digest_time, its figures and unanswered questions, list-headed and DMARC-safe."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from pathlib import Path

import pytest
from gitremote import editor_clone, remote_root
from helpers import add_post
from mailtest import DOMAIN, Harness, git, git_root

from intranet.gitremote import Checkout
from intranet.model import Model
from intranet.settings import Settings, read_settings
from mailgateway.claims import Claims
from mailgateway.outgoing import Queue
from mailgateway.report import Reports, report_due

UTC = dt.UTC
# The demo settings: 07:00 in Australia/Sydney (UTC+11 in November). Monday 30 November at 07:00 there:
MONDAY_7AM = dt.datetime(2026, 11, 29, 20, 0, tzinfo=UTC)


def sent_to(gw: Harness, address: str, subject_part: str) -> list[EmailMessage]:
    return [m for m in gw.outbox() if m["Delivered-To"] == address and subject_part in str(m["Subject"])]


def test_the_report_falls_due_on_its_day_at_the_digest_time() -> None:
    sydney = __import__("zoneinfo").ZoneInfo("Australia/Sydney")
    settings = Settings(timezone="Australia/Sydney")  # report_day monday, digest_time 07:00
    minute = dt.timedelta(minutes=1)
    assert report_due(MONDAY_7AM - minute, settings, sydney, None) is None  # 06:59
    assert report_due(MONDAY_7AM, settings, sydney, None) == "2026-11-30"
    assert report_due(MONDAY_7AM + dt.timedelta(hours=16), settings, sydney, "2026-11-30") is None  # sent
    assert report_due(MONDAY_7AM + dt.timedelta(days=1), settings, sydney, "2026-11-30") is None  # Tuesday
    assert report_due(MONDAY_7AM + dt.timedelta(days=7), settings, sydney, "2026-11-30") == "2026-12-07"
    assert report_due(MONDAY_7AM, Settings(report_day="never"), sydney, None) is None
    with pytest.raises(ValueError, match="report_day"):
        Settings.from_mapping({"report_day": "mondays"})


def test_moderators_get_the_weekly_report_once(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet", report_day="monday")
    t0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    add_post(root, "handover", "<q1@x>", "Which ISBAR card?", "Asked.", "bo.chen", date=t0)  # no reply
    add_post(root, "handover", "<q2@x>", "Night <b>cover</b>?", "Asked.", date=MONDAY_7AM - dt.timedelta(days=1))
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Questions")
    gw = Harness(root)
    notifier = gw.gateway.notifier
    notifier.clock = lambda: MONDAY_7AM - dt.timedelta(days=3)  # its own loop: a Friday, nothing due
    with gw:
        assert notifier.stop()
        reports = notifier.reports
        assert reports.pass_once(MONDAY_7AM - dt.timedelta(minutes=1), None) == 0
        assert reports.pass_once(MONDAY_7AM, None) == 1  # Ann moderates handover; procurement has nobody
        assert reports.pass_once(MONDAY_7AM + dt.timedelta(hours=3), None) == 0  # once
        notifier.delivery.run_once()  # (its loop is stopped: the queue is delivered here)
        [report] = sent_to(gw, "ann.lee@example.org", "the week at a glance")
        assert report["Subject"] == "Clinical Handover: the week at a glance, 2026-11-30"
        assert report["From"] == f"Clinical Handover report <handover@{DOMAIN}>"  # our own domain: DMARC-safe
        assert report["List-Id"] == f"Clinical Handover <handover.{DOMAIN}>" and report["Precedence"] == "list"
        assert report["Auto-Submitted"] == "auto-generated" and report["List-Unsubscribe"] is None
        assert report["Reply-To"] == f"handover+digest-reply@{DOMAIN}"
        text = report.get_body(("plain",)).get_content().replace("\r\n", "\n")
        # As of the gateway's clock, weeks in Sydney: the first topic and Bo's reply (Sunday 1 November
        # there) are in the four weeks before the last four, the two questions in them; Ann and Bo.
        assert "As busy as the 4 weeks before: 2 posts in the last 4 weeks (against 2)" in text
        assert "2 people active in 90 days" in text
        assert "1 question waiting for a first reply" in text  # (yesterday's is not 2 days old)
        assert "Questions without a reply after 2 days (1)\n\n* Which ISBAR card?, asked 20 Nov 2026" in text
        assert "http://127.0.0.1:8000/c/handover/t/" in text and "http://127.0.0.1:8000/c/handover/health/" in text
        assert "Posts by partners and suppliers: 50 %" in text and "Median time to a first reply: 2 h" in text
        page = report.get_body(("html",)).get_content()
        assert "Which ISBAR card?</a>" in page and "<b>cover</b>" not in page  # titles escaped
        # A week later, the next one (named by its day: a second mail, not the same one again).
        assert reports.pass_once(MONDAY_7AM + dt.timedelta(days=7), None) == 1
        notifier.delivery.run_once()
        assert len(sent_to(gw, "ann.lee@example.org", "the week at a glance")) == 2


def test_two_gateways_on_one_remote_send_the_report_once(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path, report_day="monday")
    model = Model(root)
    model.load()
    settings = read_settings(root)
    gateways = []
    for name in ("mx1", "mx2"):
        checkout = Checkout(editor_clone(bare, tmp_path / name), str(bare), "main")
        reports = Reports(root, settings, b"k" * 32, Queue(tmp_path / f"state-{name}"), lambda: model)
        gateways.append((reports, Claims(checkout, f"noreply+{name}@{DOMAIN}")))
    sent = [reports.send("2026-11-30", MONDAY_7AM, claims) for reports, claims in gateways]
    assert sorted(sent) == [0, 1]  # one report (Ann's), by whichever claimed the day
    assert [reports.last_day() for reports, _ in gateways] == ["2026-11-30"] * 2  # neither asks again
    (winner, claims) = gateways[sent.index(1)]
    assert winner.send("2026-11-30", MONDAY_7AM, claims) == 0  # again after a crash: its own claim, queued once
