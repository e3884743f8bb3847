"""``#event`` lines (pure): when and where an event is, as people type it after the command.

A new topic (or the author's reply, to change it) that starts with ``#event`` is an event; the
lines right after the command say when and where, one ``Name: value`` a line, and the text after
them is the post. The names, in any case::

    When:  2026-12-10 14:00-15:30       a date, then a time or a time range (no time: all day)
    Date:  Thursday 10 December 2026    the date alone ...
    Time:  2pm to 3.30pm                ... and the time on a line of its own
    Where: Room 3, Level 2              also Place: or Location:

Dates are ``2026-12-10``, ``10 December 2026``, ``10 Dec 2026`` or ``December 10, 2026`` (a weekday
before them is allowed; ``10/12/2026`` is not: day and month order differ between countries). Times
are ``14:00``, ``14.00``, ``2pm``, ``2:30 pm``. A range is written with ``-``, ``–``, ``to`` or
``until``, and may end on another date (``2026-12-10 09:00 to 2026-12-11 17:00``, or
``2026-12-10 to 2026-12-12`` for days). Times are in the site's time zone (``timezone``).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from intranet.format import Event

MAX_FIELDS = 8  # field lines read after the command
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(?:" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_TOKEN = re.compile(
    rf"(?P<iso>\d{{4}})-(?P<isom>\d{{1,2}})-(?P<isod>\d{{1,2}})"
    rf"|(?P<dmy_d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?P<dmy_m>{_MONTH}),?\s+(?P<dmy_y>\d{{4}})"
    rf"|(?P<mdy_m>{_MONTH})\s+(?P<mdy_d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<mdy_y>\d{{4}})"
    r"|(?P<h>\d{1,2})(?:[:.h](?P<min>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?(?![\d/])",
    re.IGNORECASE,
)
_RANGE = re.compile(r"\s*(?:-|–|—|to\b|until\b|till\b)\s*\d", re.IGNORECASE)  # a range follows
_ENDS = re.compile(r"(?:-|–|—|\bto|\buntil|\btill)\s*$", re.IGNORECASE)  # a range ends here
_FIELD = re.compile(r"\\?([A-Za-z]{2,10})[ \t]*:[ \t]*(.*)")
_NAMES = {"when": "when", "date": "date", "time": "time", "where": "where", "place": "where", "location": "where"}
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")  # Markdown's escapes of punctuation, taken away


@dataclass(frozen=True)
class EventLines:
    """What the lines after ``#event`` say: the event (None: not enough), why not, and the text after them."""

    event: Event | None
    problem: str
    rest: str


def read_event_lines(text: str, zone: ZoneInfo) -> EventLines:
    """Read the ``Name: value`` lines at the top of ``text`` (the text after the command)."""
    lines = text.split("\n")
    fields: dict[str, str] = {}
    at = after = 0  # (blank lines between the fields are allowed: a mail client's paragraph a line)
    while at < len(lines) and len(fields) < MAX_FIELDS:
        match = _FIELD.fullmatch(lines[at].strip())
        if lines[at].strip() and (match is None or match.group(1).lower() not in _NAMES):
            break
        if match is not None:
            fields[_NAMES[match.group(1).lower()]] = html.unescape(_ESCAPE.sub(r"\1", match.group(2))).strip()
            after = at + 1
        at += 1
    rest = "\n".join(lines[after:]).strip()
    when = fields.get("when") or " ".join(filter(None, (fields.get("date"), fields.get("time"))))
    if not when:
        return EventLines(None, "no When: (or Date:) line after #event", rest)
    found = parse_when(when, zone)
    if isinstance(found, str):
        return EventLines(None, found, rest)
    start, end = found
    return EventLines(Event(start, end, location=" ".join(fields.get("where", "").split())[:300]), "", rest)


def parse_when(text: str, zone: ZoneInfo) -> tuple[dt.datetime | dt.date, dt.datetime | dt.date | None] | str:
    """(start, end or None) of a When: value in ``zone``, or why it cannot be read."""
    dates: list[dt.date] = []
    times: list[tuple[int, int, str]] = []
    for match in _TOKEN.finditer(text):
        try:
            found = _date(match)
        except ValueError:
            return f"{match.group(0)!r} is not a date"
        if found is not None:
            dates.append(found)
        elif (
            match.group("min")
            or match.group("ampm")
            or _RANGE.match(text, match.end())
            or (times and _ENDS.search(text, 0, match.start()))
        ):  # ("2-3pm", "10-12"; not a lone number)
            times.append((int(match.group("h")), int(match.group("min") or 0), (match.group("ampm") or "")[:1].lower()))
    if not dates:
        return "no date in When: (write it as 2026-12-10 or 10 December 2026)"
    if len(dates) > 2 or len(times) > 2:
        return "When: has more than a start and an end"
    try:
        clock = _clock(times)
    except ValueError:
        return "a time in When: is not a time of day"
    if not clock:
        end_day = dates[1] if len(dates) == 2 else None
        if end_day is not None and end_day < dates[0]:
            return "the event ends before it starts"
        return dates[0], end_day if end_day != dates[0] else None
    start = dt.datetime.combine(dates[0], clock[0], tzinfo=zone)
    end = None
    if len(clock) == 2:
        end = dt.datetime.combine(dates[-1], clock[1], tzinfo=zone)
        if end <= start:
            return "the event ends before it starts"
    return _real(start), _real(end) if end else None


def _date(match: re.Match[str]) -> dt.date | None:
    """The date a token is (None: it is a time); raises ValueError for an impossible one."""
    if match.group("iso"):
        return dt.date(int(match.group("iso")), int(match.group("isom")), int(match.group("isod")))
    if match.group("dmy_d"):
        month = _MONTHS[match.group("dmy_m").rstrip(".").lower()]
        return dt.date(int(match.group("dmy_y")), month, int(match.group("dmy_d")))
    if match.group("mdy_d"):
        month = _MONTHS[match.group("mdy_m").rstrip(".").lower()]
        return dt.date(int(match.group("mdy_y")), month, int(match.group("mdy_d")))
    return None


def _clock(times: list[tuple[int, int, str]]) -> list[dt.time]:
    """Times of day from (hour, minute, "a"/"p"/""); "2-3:30pm" reads the start as pm too."""
    if len(times) == 2 and not times[0][2] and times[1][2]:
        hour, minute, _ = times[0]
        as_end = _hour(hour, times[1][2])
        if (as_end, minute) <= (_hour(times[1][0], times[1][2]), times[1][1]):
            times = [(hour, minute, times[1][2]), times[1]]
    return [dt.time(_hour(hour, half), minute) for hour, minute, half in times]


def _hour(hour: int, half: str) -> int:
    if half and not 1 <= hour <= 12:
        raise ValueError("not an hour on a 12-hour clock")
    return hour % 12 + (12 if half == "p" else 0) if half else hour


def _real(value: dt.datetime) -> dt.datetime:
    """A wall time as the zone has it, with its offset fixed (a time the clocks skip moves on)."""
    return value.astimezone(dt.UTC).astimezone(value.tzinfo)
