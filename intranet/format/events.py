"""An event on a topic's first post: the ``event`` entry of its front matter, read and written.

A topic is an event when its first post carries::

    event:
      start: '2026-12-10T14:00:00+11:00'   # a date and time with its offset, or a date alone (all day)
      end: '2026-12-10T15:30:00+11:00'     # optional; a date (the last day) for an all-day event
      location: Room 3, Level 2            # optional
      uid: 4f1c…@intranet.invalid          # the iCalendar UID: the same event in everyone's calendar
      sequence: 0                          # raised by each change, as iCalendar's SEQUENCE
      status: cancelled                    # only when cancelled

The gateway writes it (from an invitation's ``.ics`` or a ``#event`` command), changes it (an
update, ``#cancel``) and never anything else of the post; editors may write it by hand. Who answered
is the post's ``rsvp`` entry (:data:`intranet.format.posts.MARKS`). docs/format.md is the manual.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from .fields import Fields
from .layout import format_date

STATUSES = ("confirmed", "tentative", "cancelled")
RSVP = ("going", "maybe", "not-going")  # what someone answered, as the rsvp entry holds it
MAX_LOCATION = 300  # characters: a place, not a letter
MAX_UID = 255
_UID_RE = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII, no spaces: as every client writes them

When = dt.datetime | dt.date  # a date alone: an all-day event


@dataclass(frozen=True)
class Event:
    """When and where a topic's event is, as its first post's ``event`` entry says."""

    start: When
    end: When | None = None
    location: str = ""
    uid: str = ""
    sequence: int = 0
    status: str = "confirmed"

    @property
    def all_day(self) -> bool:
        return not isinstance(self.start, dt.datetime)

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    def to_yaml(self) -> dict[str, Any]:
        """The entry as written in the front matter (dates as ISO 8601 text)."""
        data: dict[str, Any] = {"start": _text(self.start)}
        if self.end is not None:
            data["end"] = _text(self.end)
        if self.location:
            data["location"] = self.location
        if self.uid:
            data["uid"] = self.uid
        data["sequence"] = self.sequence
        if self.status != "confirmed":
            data["status"] = self.status
        return data


def _text(value: When) -> str:
    return format_date(value) if isinstance(value, dt.datetime) else value.isoformat()


def parse_when(value: Any) -> When | None:
    """A start or end as written: an aware date and time (no offset: UTC), a date alone, or None."""
    if isinstance(value, dt.datetime):
        found: When = value
    elif isinstance(value, dt.date):
        return value
    elif isinstance(value, str):
        text = value.strip()
        try:
            found = (
                dt.date.fromisoformat(text)
                if len(text) == 10
                else dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            )
        except ValueError:
            return None
    else:
        return None
    if isinstance(found, dt.datetime) and found.tzinfo is None:
        found = found.replace(tzinfo=dt.UTC)
    return found


def read_event(f: Fields) -> Event | None:
    """The ``event`` entry of a post's front matter, its problems noted in ``f``; None if absent or unusable."""
    value = f.data.get("event")
    if value is None:
        return None
    if not isinstance(value, dict):
        f.problem("event", "must be a mapping with start: (and end:, location:, uid:, sequence:, status:)")
        return None
    start = parse_when(value.get("start"))
    if start is None:
        f.problem("event", "start: must be a date and time such as 2026-12-10T14:00:00+11:00, or a date")
        return None
    end = parse_when(value.get("end")) if value.get("end") is not None else None
    if value.get("end") is not None and (end is None or isinstance(end, dt.datetime) != isinstance(start, dt.datetime)):
        f.problem("event", "end: must be of the same kind as start: (a date and time, or a date)")
        end = None
    if end is not None and end < start:  # type: ignore[operator]  # (same kinds, checked above)
        f.problem("event", "end: is before start:")
        end = None
    location, uid, status = value.get("location", ""), value.get("uid", ""), value.get("status", "confirmed")
    sequence = value.get("sequence", 0)
    if not isinstance(location, str) or len(location) > MAX_LOCATION:
        f.problem("event", f"location: must be text of at most {MAX_LOCATION} characters")
        location = ""
    if not isinstance(uid, str) or (uid and not _UID_RE.fullmatch(uid)):
        f.problem("event", "uid: must be printable ASCII without spaces")
        uid = ""
    if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 0:
        f.problem("event", "sequence: must be a whole number, 0 or more")
        sequence = 0
    if status not in STATUSES:
        f.problem("event", f"status: must be one of {', '.join(STATUSES)}")
        status = "confirmed"
    unknown = set(value) - {"start", "end", "location", "uid", "sequence", "status"}
    if unknown:
        f.problem("event", f"unknown entries: {', '.join(sorted(map(str, unknown)))}")
    return Event(start, end, location.strip(), uid, sequence, status)
