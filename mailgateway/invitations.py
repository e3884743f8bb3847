"""Calendar invitations in mail (pure): the first event of a message's ``.ics``, read with ``icalendar``.

Outlook, Google Calendar and Apple Calendar send an invitation as a ``text/calendar`` part (often
inline, beside the text and HTML), or as an ``.ics`` attachment; a calendar client's answer to one is
an iTIP REPLY of the same kind. :func:`invitation_in` finds that part among the message's parts and
reads its first VEVENT with the ``icalendar`` library (never by hand): the METHOD (PUBLISH, REQUEST,
CANCEL, REPLY), when (DTSTART with DTEND or DURATION; all-day DATE values; a TZID with its
VTIMEZONE, a Windows zone name as Outlook writes it, UTC, or a floating time, read in the site's
time zone), SUMMARY, LOCATION, UID, SEQUENCE, STATUS and the ATTENDEEs' answers.

The calendar is mail, and so untrusted: a part over :data:`MAX_BYTES`, more than
:data:`MAX_COMPONENTS` components or nested deeper than :data:`MAX_DEPTH` is not parsed at all, and
whatever the library raises on a broken file becomes a :class:`Refused` with a reason the sender can
read. The message itself is published all the same (:mod:`mailgateway.compose`).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from intranet.format import Event, normalize_address

from .parse import Part

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024  # an invitation is a few kilobytes; a big file is a calendar export, not an invitation
MAX_COMPONENTS = 200  # BEGIN: lines (Outlook's invitation has about five)
MAX_DEPTH = 6  # VCALENDAR > VEVENT > VALARM is three
MAX_TEXT = 300  # characters kept of SUMMARY and LOCATION
METHODS = ("PUBLISH", "REQUEST", "CANCEL", "REPLY")
ANSWERS = {"ACCEPTED": "going", "TENTATIVE": "maybe", "DECLINED": "not-going"}  # PARTSTAT -> rsvp
_TYPES = ("text/calendar", "application/ics", "text/x-vcalendar")
_BEGIN_END = re.compile(rb"^(BEGIN|END)[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Invitation:
    """The first event of a calendar in mail, as far as an intranet event needs it."""

    method: str  # PUBLISH, REQUEST, CANCEL or REPLY
    event: Event
    summary: str = ""
    answers: tuple[tuple[str, str], ...] = ()  # (attendee's address, going / maybe / not-going) of a REPLY


@dataclass(frozen=True)
class Refused:
    """A calendar part that makes no event, and why (for the sender's notice)."""

    reason: str


def calendar_part(parts: list[Part]) -> Part | None:
    """The message's calendar: its first ``text/calendar`` part or ``.ics`` attachment, if any."""
    for part in parts:
        if part.content_type.lower() in _TYPES or part.filename.lower().endswith((".ics", ".ical", ".ifb")):
            return part
    return None


def invitation_in(parts: list[Part], zone: ZoneInfo) -> Invitation | Refused | None:
    """The invitation in a message's ``parts`` (None: it carries no calendar); times in ``zone`` (the
    site's, also for floating times)."""
    part = calendar_part(parts)
    return None if part is None else read_invitation(part.data, zone)


@functools.lru_cache(maxsize=8)  # routing, then composing, ask of the same calendar
def read_invitation(data: bytes, zone: ZoneInfo) -> Invitation | Refused:
    """The first VEVENT of the iCalendar text ``data``, or why it makes no event."""
    if len(data) > MAX_BYTES:
        return Refused(f"the calendar file is over {MAX_BYTES // 1024} KB")
    marks = _BEGIN_END.findall(data)
    if sum(1 for m in marks if m.upper() == b"BEGIN") > MAX_COMPONENTS:
        return Refused(f"the calendar file has more than {MAX_COMPONENTS} parts")
    depth = deepest = 0
    for mark in marks:
        depth += 1 if mark.upper() == b"BEGIN" else -1
        deepest = max(deepest, depth)
    if deepest > MAX_DEPTH:
        return Refused("the calendar file's parts are nested too deep")
    try:
        return _read(data, zone)
    except Exception as exc:  # noqa: BLE001 - icalendar raises many kinds on broken input; the mail is posted anyway
        log.info("a calendar part cannot be read (%s: %s)", type(exc).__name__, str(exc)[:200])
        return Refused("the calendar file cannot be read (it is not valid iCalendar)")


def _read(data: bytes, zone: ZoneInfo) -> Invitation | Refused:
    import icalendar  # (imported when a calendar comes: most mail has none)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the library warns on guessed time zones; we take its guess
        calendar = icalendar.Calendar.from_ical(data)
        method = str(calendar.get("METHOD", "PUBLISH")).strip().upper() or "PUBLISH"
        if method not in METHODS:
            return Refused(f"a calendar with METHOD {method[:20]} is not an invitation")
        events = calendar.events
        if not events:
            return Refused("the calendar file holds no event")
        vevent = events[0]
        uid = str(vevent.get("UID", "")).strip()
        if not uid or len(uid) > 255 or not uid.isprintable() or not uid.isascii() or " " in uid:
            return Refused("the event has no usable UID")
        if method == "REPLY":  # (a REPLY need not say when: the organiser knows)
            return Invitation(method, Event(dt.date(1970, 1, 1), uid=uid), answers=_answers(vevent))
        start, end = _when(vevent.start, zone), _end(vevent, zone)
    if end is not None and (isinstance(end, dt.datetime) != isinstance(start, dt.datetime) or end < start):  # type: ignore[operator]
        end = None
    if end is not None and not isinstance(end, dt.datetime):
        end = end - dt.timedelta(days=1)  # iCalendar's all-day DTEND is the day after; ours is the last day
        end = None if end <= start else end  # type: ignore[operator]
    sequence = vevent.get("SEQUENCE", 0)
    status = str(vevent.get("STATUS", "CONFIRMED")).strip().lower()
    event = Event(
        start=start,
        end=end,
        location=_text(vevent.get("LOCATION", "")),
        uid=uid,
        sequence=int(sequence) if isinstance(sequence, int) and 0 <= sequence < 2**31 else 0,
        status="cancelled" if method == "CANCEL" or status == "cancelled" else "confirmed",
    )
    return Invitation(method, event, summary=_text(vevent.get("SUMMARY", "")))


def _when(value: dt.date, zone: ZoneInfo) -> dt.datetime | dt.date:
    """A start or end in ``zone``: floating times are taken to be there, dates stay dates."""
    if not isinstance(value, dt.datetime):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(zone)


def _end(vevent: Any, zone: ZoneInfo) -> dt.datetime | dt.date | None:
    if vevent.get("DTEND") is None and vevent.get("DURATION") is None:
        return None
    return _when(vevent.end, zone)  # (DTEND, or DTSTART + DURATION)


def _text(value: object) -> str:
    return " ".join(str(value).split())[:MAX_TEXT]


def _answers(vevent: Any) -> tuple[tuple[str, str], ...]:
    """(address, rsvp) of each ATTENDEE of a REPLY whose PARTSTAT is an answer."""
    found = vevent.get("ATTENDEE", [])
    attendees = found if isinstance(found, list) else [found]
    answers = []
    for attendee in attendees[:50]:
        address = str(attendee).strip()
        if address.lower().startswith("mailto:"):
            address = address[len("mailto:") :]
        answer = ANSWERS.get(str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper())
        if answer and "@" in address:
            answers.append((normalize_address(address), answer))
    return tuple(answers)
