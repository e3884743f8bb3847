"""Events by mail (issue #19): invitations from calendar clients and ``#event``, updates, ``#cancel``,
answers (``#going``, iTIP REPLY), and what the site shows of them.

Invitations are built as Outlook, Google Calendar and Apple Calendar send them (:mod:`calendars`);
the ``icalendar`` library's own test calendars are read in place from the shared corpus. Real
gateway on loopback, real Git, real MkDocs builds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calendars import apple_ics, apple_mail, google_ics, google_mail, outlook_ics, outlook_mail, reply_ics
from helpers import CORPUS, add_person, add_post
from mailtest import DOMAIN, Harness, git, git_root, mail, with_subscribers
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import Event, parse_post, path_key, post_relpath, read_post, with_entries
from mailgateway.eventlines import parse_when, read_event_lines
from mailgateway.events import answered, cancelled, replaced_by, updated_by
from mailgateway.invitations import MAX_BYTES, Invitation, Refused, read_invitation

SYDNEY = ZoneInfo("Australia/Sydney")
TO = f"handover@{DOMAIN}"
ANN, BO = "ann.lee@example.org", "bo.chen@example.org"  # Ann moderates handover
OUTLOOK_UID = "040000008200E00074C5B7101A82E00800000000D0C8E4B3E1A4DB01000000000000000010000000"


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "events-test-secret-0123456789abcdef")


# -- reading invitations -------------------------------------------------------------------


def test_invitations_from_the_three_big_clients_read_in_the_site_zone() -> None:
    outlook = read_invitation(outlook_ics(OUTLOOK_UID, sequence=2).encode(), SYDNEY)
    assert isinstance(outlook, Invitation) and outlook.method == "REQUEST" and outlook.summary == "Handover workshop"
    assert outlook.event.start == dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY)  # a Windows zone name, read
    assert outlook.event.to_yaml() == {
        "start": "2026-12-10T14:00:00+11:00",
        "end": "2026-12-10T15:30:00+11:00",
        "location": "Room 3, Level 2",
        "uid": OUTLOOK_UID,
        "sequence": 2,
    }
    google = read_invitation(google_ics("7kq2@google.com").encode(), ZoneInfo("Europe/London"))
    assert isinstance(google, Invitation) and google.event.start.isoformat() == "2026-12-10T03:00:00+00:00"
    apple = read_invitation(apple_ics("5F3A0C1E-AAAA").encode(), SYDNEY)
    assert isinstance(apple, Invitation) and apple.event.all_day and apple.event.start == dt.date(2026, 12, 11)
    assert apple.event.end is None and apple.event.location == "Ward 7, Northfield Hospital"  # one day: no end
    reply = read_invitation(reply_ics("u1", "Bo.Chen@Example.org", "DECLINED").encode(), SYDNEY)
    assert isinstance(reply, Invitation) and reply.answers == (("bo.chen@example.org", "not-going"),)
    cancel = read_invitation(outlook_ics("u1", method="CANCEL", sequence=3).encode(), SYDNEY)
    assert isinstance(cancel, Invitation) and cancel.event.cancelled


def test_hostile_calendars_are_refused_before_parsing() -> None:
    assert isinstance(read_invitation(b"BEGIN:VCALENDAR\r\n" + b"X" * MAX_BYTES, SYDNEY), Refused)
    many = "BEGIN:VCALENDAR\r\n" + "BEGIN:VEVENT\r\nEND:VEVENT\r\n" * 300 + "END:VCALENDAR\r\n"
    assert "more than" in read_invitation(many.encode(), SYDNEY).reason  # type: ignore[union-attr]
    deep = "BEGIN:VCALENDAR\r\n" + "BEGIN:X-A\r\n" * 40 + "END:X-A\r\n" * 40 + "END:VCALENDAR\r\n"
    assert "nested" in read_invitation(deep.encode(), SYDNEY).reason  # type: ignore[union-attr]
    assert isinstance(read_invitation(b"\xff\xfe not a calendar", SYDNEY), Refused)
    no_uid = outlook_ics("x").replace("UID:x\r\n", "")
    assert read_invitation(no_uid.encode(), SYDNEY) == Refused("the event has no usable UID")


def test_the_icalendar_librarys_own_calendars_never_crash_and_broken_ones_are_refused() -> None:
    files = sorted((CORPUS / "icalendar").glob("*/*.ics"))
    if not files:
        pytest.skip("the icalendar corpus is not beside the repository")
    read = {path.name: read_invitation(path.read_bytes(), SYDNEY) for path in files}
    assert len(read) > 100
    made = {name for name, found in read.items() if isinstance(found, Invitation)}
    for name in ("broken_dtstart.ics", "big_bad_calendar.ics", "fuzz_testcase_invalid_month.ics", "empty.ics"):
        assert isinstance(read[name], Refused), name
    for name in ("issue_836_do_not_quote_tzid.ics", "timezoned.ics", "example.ics", "x_location.ics"):
        assert name in made, (name, read[name])
    vienna = read["timezoned.ics"]
    assert isinstance(vienna, Invitation) and vienna.event.start == dt.datetime(2012, 2, 13, 20, 0, tzinfo=SYDNEY)
    for found in read.values():  # what is made is what the format can hold
        if isinstance(found, Invitation):
            text = "---\nauthor: a\nsubject: s\ndate: 2026-01-01\n" + _yaml_entry(found.event) + "---\n"
            post, problems = parse_post("c", "communities/c/posts/x.md", text, lambda name: 0)
            assert not problems and post is not None and post.event == _in_text(found.event), problems


def _yaml_entry(event: Event) -> str:
    from intranet.format import dump_yaml

    return dump_yaml({"event": event.to_yaml()})


def _in_text(event: Event) -> Event:
    """``event`` as read back from a file: its times with fixed offsets."""
    post, _ = parse_post(
        "c",
        "communities/c/posts/x.md",
        "---\nauthor: a\nsubject: s\ndate: 2026-01-01\n" + _yaml_entry(event) + "---\n",
        lambda n: 0,
    )
    assert post is not None and post.event is not None
    return post.event


# -- #event lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "start", "end"),
    [
        ("2026-12-10 14:00-15:30", "2026-12-10T14:00:00+11:00", "2026-12-10T15:30:00+11:00"),
        ("Thursday 10 December 2026, 2pm to 3.30pm", "2026-12-10T14:00:00+11:00", "2026-12-10T15:30:00+11:00"),
        ("December 10, 2026 2-3:30pm", "2026-12-10T14:00:00+11:00", "2026-12-10T15:30:00+11:00"),
        ("10 Dec 2026 9:15", "2026-12-10T09:15:00+11:00", None),
        ("2026-07-01 10 - 12", "2026-07-01T10:00:00+10:00", "2026-07-01T12:00:00+10:00"),
        ("10 Dec 2026", "2026-12-10", None),
        ("2026-12-10 to 2026-12-12", "2026-12-10", "2026-12-12"),
        ("2026-12-10 09:00 until 2026-12-11 17:00", "2026-12-10T09:00:00+11:00", "2026-12-11T17:00:00+11:00"),
    ],
)
def test_when_lines_people_write(when: str, start: str, end: str | None) -> None:
    found = parse_when(when, SYDNEY)
    assert not isinstance(found, str), found
    assert Event(found[0], found[1]).to_yaml().get("start") == start
    assert Event(found[0], found[1]).to_yaml().get("end") == end


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("tomorrow at 2", "no date"),
        ("2026-02-30 10:00", "is not a date"),
        ("10/12/2026 10:00", "no date"),  # day and month order differ: not read
        ("2026-12-10 15:00-14:00", "ends before it starts"),
        ("2026-12-10 13pm", "not a time of day"),
    ],
)
def test_when_lines_that_make_no_event(when: str, why: str) -> None:
    found = parse_when(when, SYDNEY)
    assert isinstance(found, str) and why in found


def test_event_lines_take_date_time_and_place_and_leave_the_text() -> None:
    lines = read_event_lines("Date: 2026-12-10\ntime: 14:00 to 15:00\nPlace: Room 3 \\*east\\*\n\nCome along.", SYDNEY)
    assert lines.event is not None and lines.event.location == "Room 3 *east*" and lines.rest == "Come along."
    assert lines.event.end == dt.datetime(2026, 12, 10, 15, 0, tzinfo=SYDNEY)
    spaced = read_event_lines("When: 2026-12-10\n\nWhere: Room 3\n\nText.\n\nWhere: not a field", SYDNEY)
    assert (
        spaced.event is not None and spaced.event.location == "Room 3" and spaced.rest == "Text.\n\nWhere: not a field"
    )
    missing = read_event_lines("Where: Room 3\n\nText.", SYDNEY)
    assert missing.event is None and "When:" in missing.problem and missing.rest == "Text."


# -- changes to the post file --------------------------------------------------------------


def _first_post(event: Event | None) -> str:
    head = "---\nmessage_id: <t@x>\ntopic: <t@x>\nauthor: ann.lee\ndate: 2026-11-01T08:00:00+00:00\nsubject: Workshop\n"
    entry = _yaml_entry(event) if event else ""
    return f"{head}{entry}---\nText.\n"


def test_updates_by_sequence_cancellation_and_answers_change_only_their_entries() -> None:
    start = dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY)
    text = _first_post(Event(start, uid="u1", sequence=1, location="Room 3"))
    later = Invitation("REQUEST", Event(start + dt.timedelta(days=1), uid="u1", sequence=2, location="Room 4"))
    older = Invitation("REQUEST", Event(start + dt.timedelta(days=2), uid="u1", sequence=1))
    assert updated_by(older)(text) == text  # not newer: nothing
    moved = updated_by(later)(text)
    assert "start: '2026-12-11T14:00:00+11:00'" in moved and "location: Room 4" in moved and "sequence: 2" in moved
    assert updated_by(later)(moved) == moved  # the same again: nothing
    off = updated_by(Invitation("CANCEL", Event(start, uid="u1", sequence=2, status="cancelled")))(moved)
    assert "status: cancelled" in off and "location: Room 4" in off and cancelled(off) == off
    assert "status: cancelled" in cancelled(text) and "sequence: 2" in cancelled(text)
    again = replaced_by(Event(start.replace(hour=15)), "ignored")(text)
    assert "start: '2026-12-10T15:00:00+11:00'" in again and "location: Room 3" in again and "uid: u1" in again
    assert replaced_by(Event(start.replace(hour=15)), "ignored")(again) == again
    going = answered("bo.chen", "going")(text)
    assert going.endswith("rsvp:\n  bo.chen: going\n---\nText.\n") and answered("bo.chen", "going")(going) == going
    post, problems = parse_post("c", "communities/c/posts/x.md", answered("ann.lee", "not-going")(going), lambda n: 0)
    assert not problems and post is not None and post.rsvp == (("ann.lee", "not-going"), ("bo.chen", "going"))


def test_an_event_entry_written_by_hand_is_checked() -> None:
    def problems(entry: str) -> list[str]:
        text = "---\nauthor: a\nsubject: s\ndate: 2026-01-01\n" + entry + "---\n"
        return [p.message for p in parse_post("c", "communities/c/posts/x.md", text, lambda n: 0)[1]]

    assert problems("event:\n  start: 2026-12-10\n  end: 2026-12-11\n") == []  # dates: all day
    assert problems("event:\n  start: 2026-12-10T14:00:00+11:00\n  location: Room 3\n") == []
    assert "start:" in problems("event:\n  start: soon\n")[0]
    assert "same kind" in problems("event:\n  start: 2026-12-10T14:00:00+11:00\n  end: 2026-12-11\n")[0]
    assert "before start" in problems("event:\n  start: 2026-12-10\n  end: 2026-12-09\n")[0]
    assert "status:" in problems("event:\n  start: 2026-12-10\n  status: maybe\n")[0]
    assert "not one of" in problems("event:\n  start: 2026-12-10\nrsvp: {bo.chen: perhaps}\n")[0]


# -- through the gateway -------------------------------------------------------------------


def _event_of(root: Path, message_id: str) -> Event | None:
    post, _ = read_post(root, "handover", root / post_relpath("handover", message_id))
    assert post is not None
    return post.event


def _rsvp_of(root: Path, message_id: str) -> tuple[tuple[str, str], ...]:
    post, _ = read_post(root, "handover", root / post_relpath("handover", message_id))
    assert post is not None
    return post.rsvp


def test_invitations_updates_cancellation_and_answers_through_the_gateway(tmp_path: Path) -> None:
    root = with_subscribers(git_root(tmp_path / "intranet", timezone="Australia/Sydney"), "cy.diaz: each\n")
    invite = outlook_mail(outlook_ics(OUTLOOK_UID), message_id="<invite@example.org>")
    by_bo = outlook_mail(outlook_ics(OUTLOOK_UID, sequence=5, location="Bo's room"), sender=f"Bo Chen <{BO}>")
    moved = outlook_mail(outlook_ics(OUTLOOK_UID, sequence=1, start="20261211T090000", end="20261211T100000"))
    accept = outlook_mail(reply_ics(OUTLOOK_UID, BO, "ACCEPTED"), subject="Accepted: Handover workshop", sender=BO)
    decline = outlook_mail(reply_ics(OUTLOOK_UID, BO, "DECLINED"), subject="Declined: Handover workshop", sender=BO)
    forged = outlook_mail(reply_ics(OUTLOOK_UID, ANN, "ACCEPTED"), subject="Accepted: Handover workshop", sender=BO)
    unknown = outlook_mail(reply_ics("nobody-knows", BO, "ACCEPTED"), subject="Accepted: ?", sender=BO)
    cancel = outlook_mail(outlook_ics(OUTLOOK_UID, method="CANCEL", sequence=2), subject="Canceled: Handover workshop")
    google = google_mail(google_ics("7kq2@google.com"))
    apple = apple_mail(apple_ics("5F3A0C1E-AAAA"))
    broken = apple_mail("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2026-99\r\n", subject="Broken invitation")
    with Harness(root) as gw:
        for message in (invite, google, apple, broken):
            gw.send(message, TO, sender=ANN)
            assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
        assert _event_of(root, "<invite@example.org>") == Event(
            dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY),
            dt.datetime(2026, 12, 10, 15, 30, tzinfo=SYDNEY),
            "Room 3, Level 2",
            OUTLOOK_UID,
        )
        assert _event_of(root, google["Message-ID"]).uid == "7kq2@google.com"  # type: ignore[union-attr]
        assert _event_of(root, apple["Message-ID"]).all_day  # type: ignore[union-attr]
        assert _event_of(root, broken["Message-ID"]) is None  # posted all the same; the sender is told
        posted = gw.post("<invite@example.org>")
        assert posted.body == "Bring your handover sheets." and posted.attachments[0].type == "text/calendar"
        commits = int(git(root, "rev-list", "--count", "HEAD"))
        gw.send(by_bo, TO, sender=BO)  # not the organiser
        assert gw.wait(by_bo["Message-ID"])[0]["refused"] == "not-organiser"
        gw.send(moved, TO, sender=ANN)
        assert gw.wait(moved["Message-ID"])[0] | {"changed": True} == gw.wait(moved["Message-ID"])[0]
        assert _event_of(root, "<invite@example.org>").start.day == 11  # type: ignore[union-attr]
        gw.send(accept, TO, sender=BO)
        assert gw.wait(accept["Message-ID"])[0]["outcome"] == "acted"
        assert _rsvp_of(root, "<invite@example.org>") == (("bo.chen", "going"),)
        gw.send(accept, TO, sender=BO)  # a second delivery changes nothing
        gw.wait(accept["Message-ID"], count=2)
        assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 2
        assert (
            git(root, "log", "-1", "--format=%an|%(trailers:key=Event,valueonly)").strip()
            == "Bo Chen|<invite@example.org>"
        )
        gw.send(forged, TO, sender=BO)  # Ann's answer, sent by Bo: not taken
        assert gw.wait(forged["Message-ID"])[0]["refused"] == "not-their-answer"
        gw.send(decline, TO, sender=BO)
        gw.wait(decline["Message-ID"])
        assert _rsvp_of(root, "<invite@example.org>") == (("bo.chen", "not-going"),)
        gw.send(unknown, TO, sender=BO)
        assert gw.wait(unknown["Message-ID"])[0]["reason"] == "event-unknown"
        gw.send(cancel, TO, sender=ANN)
        gw.wait(cancel["Message-ID"])
        assert _event_of(root, "<invite@example.org>").cancelled  # type: ignore[union-attr]
        sent = gw.outbox()
        assert git(root, "status", "--porcelain") == ""
        assert len(gw.posts("handover")) == 2 + 4  # the answers, updates and cancellation are not posts
    subjects = [(str(m["Delivered-To"]), str(m["Subject"]).split(":")[0]) for m in sent]
    assert (ANN, "Your message was published, but not as an event") in subjects
    assert (BO, "Your calendar mail") in subjects and (BO, "No such event") in subjects
    to_cy = [str(m["Subject"]) for m in sent if str(m["Delivered-To"]) == "cy.diaz@example.org"]
    assert len(to_cy) == 4, to_cy  # the four new topics; no answer, update or cancellation is mailed out


def test_event_commands_through_the_gateway(tmp_path: Path) -> None:
    root = with_subscribers(git_root(tmp_path / "intranet", timezone="Australia/Sydney"), "cy.diaz: each\n")
    topic = mail(
        subject="Falls prevention workshop",
        body="#event\nWhen: Thursday 10 December 2026, 2pm to 3.30pm\nWhere: Room 3, Level 2\n\nAll welcome.",
        message_id="<ev1@example.org>",
    )
    bad = mail(subject="Lunch", body="#event\nWhen: next week some time\n\nSoup.", message_id="<ev2@example.org>")
    going = mail(subject="Re: Falls", body="#going", sender=BO, in_reply_to="<ev1@example.org>")
    again = mail(
        subject="Re: Falls",
        body="#event\nWhen: 2026-12-10 15:00-16:00\n\nHalf an hour later, sorry.",
        in_reply_to="<ev1@example.org>",
    )
    by_bo = mail(
        subject="Re: Falls", body="#cancel\n#event\nWhen: 2026-12-01", sender=BO, in_reply_to="<ev1@example.org>"
    )
    cancel = mail(subject="Re: Falls", body="#cancel", in_reply_to="<ev1@example.org>")
    not_event = mail(subject="Re: Night", body="#going", sender=BO, in_reply_to="<t1@example.org>")
    with Harness(root) as gw:
        for message in (topic, bad):
            gw.send(message, TO, sender=ANN)
            assert gw.wait(message["Message-ID"])[0]["outcome"] == "published"
        event = _event_of(root, "<ev1@example.org>")
        assert event is not None and event.location == "Room 3, Level 2" and event.uid.endswith(f"@{DOMAIN}")
        assert (
            event.start == dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY)
            and gw.post("<ev1@example.org>").body == "All welcome."
        )
        assert _event_of(root, "<ev2@example.org>") is None and gw.post("<ev2@example.org>").body.startswith("#event")
        gw.send(going, TO, sender=BO)
        assert gw.wait(going["Message-ID"])[0]["outcome"] == "acted"
        assert _rsvp_of(root, "<ev1@example.org>") == (("bo.chen", "going"),)
        commits = git(root, "rev-list", "--count", "HEAD")
        gw.send(going, TO, sender=BO)  # a second delivery: no commit, no second receipt
        gw.wait(going["Message-ID"], count=2)
        assert git(root, "rev-list", "--count", "HEAD") == commits
        gw.send(again, TO, sender=ANN)
        assert gw.wait(again["Message-ID"])[0]["outcome"] == "published"  # the text after the lines: a reply
        assert gw.post(again["Message-ID"]).body == "Half an hour later, sorry."
        changed = _event_of(root, "<ev1@example.org>")
        assert (
            changed is not None
            and changed.sequence == 1
            and changed.start.hour == 15
            and changed.location == event.location
        )
        gw.send(by_bo, TO, sender=BO)
        assert gw.wait(by_bo["Message-ID"])[0]["refused"].keys() == {"cancel", "event"}
        gw.send(not_event, TO, sender=BO)
        assert gw.wait(not_event["Message-ID"])[0]["refused"] == {"going": "this topic is not an event"}
        gw.send(cancel, TO, sender=ANN)
        gw.wait(cancel["Message-ID"])
        assert _event_of(root, "<ev1@example.org>").cancelled  # type: ignore[union-attr]
        sent = gw.outbox()
    receipts = [m.get_body(("plain",)).get_content() for m in sent if "commands" in str(m["Subject"])]
    assert sum("#going: done, you are on the event's list as going." in r for r in receipts) == 1
    assert any("#event: not done: only the person who started the topic" in r for r in receipts)
    [to_cy] = [
        m
        for m in sent
        if str(m["Delivered-To"]) == "cy.diaz@example.org" and str(m["Subject"]) == "Falls prevention workshop"
    ]
    text = (
        to_cy.get_body(("plain",)).get_content().replace("\r\n", "\n")
    )  # subscribers read when and where (not in the post's text)
    assert text.startswith("When: Thursday 10 December 2026, 14:00–15:30 AEDT\nWhere: Room 3, Level 2\n\nAll welcome.")
    assert (
        "<p>When: Thursday 10 December 2026, 14:00–15:30 AEDT<br>Where: Room 3, Level 2</p>"
        in to_cy.get_body(("html",)).get_content()
    )
    [notice] = [m for m in sent if "not as an event" in str(m["Subject"])]
    assert "no date in When:" in notice.get_body(("plain",)).get_content()


# -- the site ------------------------------------------------------------------------------


def _event_post(
    root: Path, message_id: str, subject: str, event: Event, rsvp: dict[str, str] | None = None, **kw: object
) -> Path:
    """A topic written by hand with an ``event`` entry (as the gateway writes it)."""
    path = add_post(root, "handover", message_id, subject=subject, **kw)  # type: ignore[arg-type]
    text = path.read_text().replace("---\n", "---\n" + _yaml_entry(event), 1)
    text = text.replace("message_id:", "\0", 1)  # (the entry goes after the first line, any line will do)
    path.write_text(with_entries(text.replace("\0", "message_id:", 1), event=event.to_yaml(), rsvp=rsvp))
    return path


def _events_intranet(root: Path) -> Path:
    git_root(root, timezone="Australia/Sydney")
    start = dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY)
    _event_post(
        root,
        "<ev1@example.org>",
        "Falls prevention workshop",
        Event(start, start + dt.timedelta(minutes=90), "Room 3, Level 2 <b>east</b>", "ev1-uid@example.org"),
        {"bo.chen": "going", "ann.lee": "maybe"},
        body="All welcome.",
    )
    _event_post(
        root, "<ev2@example.org>", "Ward 7 open day", Event(dt.date(2026, 12, 11), dt.date(2026, 12, 12), uid="ev2")
    )
    _event_post(
        root, "<ev3@example.org>", "Old meeting", Event(start.replace(year=2025), uid="ev3", status="cancelled")
    )
    return root


def test_the_topic_page_the_events_page_and_the_calendar_feeds(tmp_path: Path) -> None:
    import icalendar

    root = _events_intranet(tmp_path / "intranet")
    build_site(root)
    site = root / "site/staff/c/handover"
    topic_dir = site / "t" / path_key(post_relpath("handover", "<ev1@example.org>"))[:12]
    page = (topic_dir / "index.html").read_text()
    assert "Thursday 10 December 2026, 14:00–15:30 AEDT" in page
    assert "Room 3, Level 2 &lt;b&gt;east&lt;/b&gt;" in page and "<b>east" not in page  # the place is text
    assert "<dt>Going</dt><dd>1: Bo Chen</dd>" in page and "<dt>Maybe</dt><dd>1: Ann Lee</dd>" in page
    assert 'href="event.ics" download>Add to calendar' in page and 'href="../../events/"' in page
    one = icalendar.Calendar.from_ical((topic_dir / "event.ics").read_bytes())
    [vevent] = one.events
    assert str(vevent["UID"]) == "ev1-uid@example.org" and vevent.start == dt.datetime(
        2026, 12, 10, 3, 0, tzinfo=dt.UTC
    )
    assert (
        str(vevent["URL"]).startswith("http://127.0.0.1:8000/c/handover/t/")
        and str(vevent["SUMMARY"]) == "Falls prevention workshop"
    )
    events = (site / "events/index.html").read_text()
    order = [events.index(title) for title in ("Ward 7 open day", "Falls prevention workshop", "Old meeting")]
    assert order == sorted(order)  # the latest start first
    assert "Friday 11 December 2026 – Saturday 12 December 2026" in events and "1 going" in events
    assert "<strong>Cancelled</strong>" in events and 'href="../events.ics"' in events
    feed = icalendar.Calendar.from_ical((site / "events.ics").read_bytes())
    assert [str(e["UID"]) for e in feed.events] == ["ev2", "ev1-uid@example.org", "ev3"]
    assert feed.events[0].start == dt.date(2026, 12, 11) and feed.events[0].end == dt.date(2026, 12, 13)
    assert str(feed.events[2]["STATUS"]) == "CANCELLED"
    assert 'href="events/">Events</a>' in (site / "index.html").read_text()
    cancelled_page = next(p.read_text() for p in (site / "t").glob("*/index.html") if "Old meeting" in p.read_text())
    assert "<strong>Cancelled.</strong>" in cancelled_page
    procurement = root / "site/suppliers/c/procurement"  # a tree without handover: none of its events
    assert "No events yet." in (procurement / "events/index.html").read_text()
    assert (
        not (root / "site/suppliers/c/handover").exists() and b"VEVENT" not in (procurement / "events.ics").read_bytes()
    )


def test_events_answers_and_posts_updated_as_a_full_build_shows_them(tmp_path: Path) -> None:
    root = _events_intranet(tmp_path / "intranet")
    first = root / post_relpath("handover", "<ev1@example.org>")
    builder = Builder(root)
    try:
        builder.build()
        start = dt.datetime(2026, 12, 12, 9, 0, tzinfo=SYDNEY)
        steps = [
            lambda: [first.write_text(answered("cy.diaz", "going")(first.read_text())), first][1],
            lambda: [
                first.write_text(
                    updated_by(Invitation("REQUEST", Event(start, uid="ev1-uid@example.org", sequence=3)))(
                        first.read_text()
                    )
                ),
                first,
            ][1],
            lambda: add_post(root, "handover", "<plain@example.org>", subject="Plain topic", body="No event."),
            lambda: _event_post(root, "<ev4@example.org>", "New event", Event(start.replace(day=20), uid="ev4")),
            lambda: add_post(
                root,
                "handover",
                "<r-ev@example.org>",
                subject="Re: Falls",
                body="See you there.",
                in_reply_to="<ev1@example.org>",
                topic="<ev1@example.org>",
                author="bo.chen",
            ),
            lambda: [first.write_text(cancelled(first.read_text())), first][1],
        ]
        add_person(root, "cy.diaz", name="Cy Diaz")
        assert builder.update(["people/cy.diaz.yml"]) in ("updated", "rebuilt")
        for step in steps:
            path = step()
            assert builder.update([str(path.relative_to(root))]) == "updated"
        assert "Cancelled" in (root / "site/staff/c/handover/events/index.html").read_text()
        assert "New event" in (root / "site/staff/c/handover/events.ics").read_text()
        assert_same_as_full_build(root, tmp_path)
        add_person(root, "cy.diaz", name="Cyrus Diaz")  # a name shown only under an event's answers
        assert builder.update(["people/cy.diaz.yml"]) in ("updated", "rebuilt")
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


@pytest.mark.browser
def test_an_event_topic_in_chromium_on_a_phone(browser, serve, tmp_path: Path) -> None:
    """A screenshot of an event topic at 390 px: nothing scrolls sideways, axe-core finds no WCAG 2.2 AA
    violation there nor on the events page (dark scheme), and the calendar file downloads."""
    from test_accessibility import PHONE, sideways, violations

    root = _events_intranet(tmp_path / "intranet")
    long_place = "Northfield Hospital, Education Centre, Level 2, Room 3 (the one past the cafeteria)" * 2
    _event_post(
        root, "<ev5@example.org>", "A long place", Event(dt.date(2026, 12, 1), location=long_place[:300], uid="ev5")
    )
    build_site(root)
    base = serve(root / "site" / "staff")
    topic = "c/handover/t/" + path_key(post_relpath("handover", "<ev1@example.org>"))[:12] + "/"
    context = browser.new_context(color_scheme="dark", viewport=PHONE, accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(base + topic, wait_until="load")
        shot = tmp_path / "event-topic.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        facts = page.locator(".intranet-event").inner_text()
        assert "Thursday 10 December 2026, 14:00–15:30 AEDT" in facts and "Going\n1: Bo Chen" in facts
        box = page.locator(".intranet-event").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]
        problems = violations(page) + sideways(page)
        with page.expect_download() as download:
            page.locator("a", has_text="Add to calendar").click()
        assert download.value.suggested_filename == "event.ics"
        page.goto(base + "c/handover/events/", wait_until="load")
        problems += violations(page) + sideways(page)
        long_topic = next(
            p for p in (root / "site/staff/c/handover/t").glob("*/index.html") if "A long place" in p.read_text()
        )
        page.goto(base + long_topic.parent.relative_to(root / "site/staff").as_posix() + "/", wait_until="load")
        problems += sideways(page)
    finally:
        context.close()
    assert problems == []


# -- reminders -----------------------------------------------------------------------------


def test_reminders_go_the_day_before_to_those_going_once(tmp_path: Path) -> None:
    from intranet.settings import read_settings
    from mailgateway.notify import Notifier
    from mailgateway.outgoing import read_outbox
    from mailgateway.reminders import remind

    root = git_root(tmp_path / "intranet", timezone="Australia/Sydney", digest_time="07:00")
    add_person(root, "cy.diaz", name="Cy Diaz", kind="supplier", organisation="MediSupply")  # may not read handover
    start = dt.datetime(2026, 12, 11, 14, 0, tzinfo=SYDNEY)
    going = {"bo.chen": "going", "ann.lee": "not-going", "cy.diaz": "going"}
    _event_post(root, "<tomorrow@example.org>", "Workshop", Event(start, location="Room 3", uid="t1"), going)
    _event_post(root, "<off@example.org>", "Called off", Event(start, uid="t2", status="cancelled"), going)
    _event_post(root, "<later@example.org>", "Later", Event(start + dt.timedelta(days=1), uid="t3"), going)
    _event_post(root, "<allday@example.org>", "Open day", Event(dt.date(2026, 12, 11), uid="t4"), {"ann.lee": "going"})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Events")
    clock = {"now": dt.datetime(2026, 12, 9, 19, 59, tzinfo=dt.UTC)}  # 06:59 on 10 December in Sydney
    notifier = Notifier(root, read_settings(root), clock=lambda: clock["now"])
    state = root / notifier.settings.state_dir
    remind(notifier)
    assert not (state / "outgoing/reminder-state.json").exists()  # not yet
    clock["now"] = dt.datetime(2026, 12, 9, 20, 5, tzinfo=dt.UTC)
    remind(notifier)
    notifier.run_once()
    sent = [m for m in read_outbox(state) if str(m["Subject"]).startswith("Reminder:")]
    assert sorted((str(m["To"]), str(m["Subject"])) for m in sent) == [
        (ANN, "Reminder: Open day, tomorrow"),
        (BO, "Reminder: Workshop, tomorrow"),
    ]
    [bo] = [m for m in sent if str(m["To"]) == BO]
    text = bo.get_body(("plain",)).get_content()
    assert "When: Friday 11 December 2026, 14:00 AEDT" in text and "Where: Room 3" in text and "#not-going" in text
    assert str(bo["From"]) == f"Clinical Handover <handover@{DOMAIN}>" and str(bo["List-Id"]).endswith(
        f"<handover.{DOMAIN}>"
    )
    assert str(bo["In-Reply-To"]) == "<tomorrow@example.org>" and str(bo["Auto-Submitted"]) == "auto-generated"
    remind(notifier)  # again the same day: nothing
    (state / "outgoing/reminder-state.json").unlink()  # and even with its state lost: each mail is named
    remind(notifier)
    notifier.run_once()
    assert len([m for m in read_outbox(state) if str(m["Subject"]).startswith("Reminder:")]) == 2
    notifier.stop()


def test_two_gateways_send_the_days_reminders_once(tmp_path: Path) -> None:
    """Each gateway has its own checkout and state; the claim on the shared remote decides who sends."""
    from gitremote import editor_clone

    from intranet.gitremote import Checkout
    from intranet.settings import read_settings
    from mailgateway.claims import Claims
    from mailgateway.notify import Notifier
    from mailgateway.outgoing import read_outbox
    from mailgateway.reminders import remind

    root = git_root(tmp_path / "intranet", timezone="Australia/Sydney")
    start = dt.datetime(2026, 12, 11, 14, 0, tzinfo=SYDNEY)
    _event_post(root, "<tomorrow@example.org>", "Workshop", Event(start, uid="t1"), {"bo.chen": "going"})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Event")
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(root), str(bare))
    other = editor_clone(bare, tmp_path / "other")  # the second gateway's intranet
    now = dt.datetime(2026, 12, 9, 20, 5, tzinfo=dt.UTC)  # 07:05 on 10 December in Sydney
    sent = []
    for folder, node in ((root, "mx1"), (other, "mx2"), (root, "mx1")):  # (mx1 again: a restart)
        notifier = Notifier(folder, read_settings(folder), clock=lambda: now)
        checkout = Checkout(editor_clone(bare, tmp_path / f"checkout-{node}-{len(sent)}"), str(bare), "main")
        notifier.claims = Claims(checkout, f"noreply+{node}@example.org")
        remind(notifier)
        notifier.run_once()
        sent.append([str(m["To"]) for m in read_outbox(folder / notifier.settings.state_dir)])
        notifier.stop()
    assert sent == [[BO], [], [BO]]  # the second gateway sent none; the first's restart none again
    assert git(bare, "for-each-ref", "--format=%(refname)", "refs/intranet/").split() == [
        "refs/intranet/claims/reminder/2026-12-10/all"
    ]


def test_the_gateways_model_cache_keeps_events_so_a_restart_finds_them_by_uid(tmp_path: Path) -> None:
    from intranet import modelcache
    from mailgateway.events import event_topic

    root = git_root(tmp_path / "intranet", timezone="Australia/Sydney")
    start = dt.datetime(2026, 12, 10, 14, 0, tzinfo=SYDNEY)
    path = _event_post(root, "<ev1@example.org>", "Workshop", Event(start, location="Room 3", uid="u-1", sequence=2))
    post, _ = read_post(root, "handover", path)
    assert post is not None and post.event is not None
    state = tmp_path / "state"
    state.mkdir()
    modelcache.save(state, root, "abc", {"handover": {post.relpath: post}})
    loaded = modelcache.load(state, root)
    assert loaded is not None
    cached = loaded[1][post.relpath]
    assert (
        cached.event == post.event and event_topic([cached], "u-1") is cached and event_topic([cached], "u-2") is None
    )
