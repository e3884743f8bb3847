"""When an event is, in words and as a time (pure): for its topic page, its calendar files and its reminder.

Shared by the generator (the page, the events list) and the gateway (the reminder the day before),
so both say it the same way: "Thursday 10 December 2026, 14:00–15:30 AEDT", in the site's
``timezone``; an all-day event is its day or days.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from .format import Event


def when_text(event: Event, zone: ZoneInfo) -> str:
    """When ``event`` is, in words, in ``zone``: "Thursday 10 December 2026, 14:00–15:30 AEDT"."""
    if not isinstance(event.start, dt.datetime):
        first = _day(event.start)
        return first if event.end is None or event.end == event.start else f"{first} – {_day(event.end)}"
    start = event.start.astimezone(zone)
    text = f"{_day(start)}, {start:%H:%M}"
    if isinstance(event.end, dt.datetime):
        end = event.end.astimezone(zone)
        text += f"–{end:%H:%M}" if end.date() == start.date() else f" – {_day(end)}, {end:%H:%M}"
        return f"{text} {end.tzname()}"
    return f"{text} {start.tzname()}"


def facts(event: Event, zone: ZoneInfo) -> list[str]:
    """The lines mail gives of ``event``: "When: …", "Where: …" (if known), "Cancelled." (if so)."""
    lines = [f"When: {when_text(event, zone)}"] + ([f"Where: {event.location}"] if event.location else [])
    return lines + (["Cancelled."] if event.cancelled else [])


def _day(value: dt.date) -> str:
    return f"{value:%A} {value.day} {value:%B %Y}"


def starts_at(event: Event, zone: ZoneInfo) -> dt.datetime:
    """When ``event`` starts, as an aware time (an all-day event: midnight in ``zone``)."""
    if isinstance(event.start, dt.datetime):
        return event.start
    return dt.datetime.combine(event.start, dt.time(), tzinfo=zone)


def start_day(event: Event, zone: ZoneInfo) -> dt.date:
    """The day ``event`` starts on, in ``zone``."""
    return event.start.astimezone(zone).date() if isinstance(event.start, dt.datetime) else event.start
