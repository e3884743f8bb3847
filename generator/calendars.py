"""Events on the site (pure): when and where in words, and iCalendar files made with ``icalendar``.

An event topic's page shows when (in the site's ``timezone``: "Thursday 10 December 2026,
14:00–15:30 AEDT") and where, and links an ``event.ics`` beside it (one VEVENT, to add to a
calendar). Each community has an events page and a calendar feed, ``events.ics``, of all its
events, to subscribe to. The files say nothing that changes with the time of the build: DTSTAMP is
the topic's first post's date, times are written in UTC, so a build makes the same bytes each time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from intranet import urls
from intranet.eventtimes import starts_at
from intranet.threads import Topic

if TYPE_CHECKING:
    import icalendar

EVENT_ICS = "event.ics"  # beside the topic's page (generator.threadfiles.companion)
PRODID = "-//intranet//events//EN"


def event_topics(topics: Iterable[Topic], zone: ZoneInfo) -> list[Topic]:
    """The event topics among ``topics``, the latest start first (upcoming ones, then past ones)."""
    found = [t for t in topics if t.root.event is not None]
    return sorted(found, key=lambda t: (starts_at(t.root.event, zone), t.key), reverse=True)  # type: ignore[arg-type]


def calendar(topics: list[Topic], name: str, page_url: Any, with_name: bool = True) -> str:
    """An iCalendar file of ``topics``' events (METHOD PUBLISH); ``page_url(topic)``: the absolute URL of a
    topic's page, or "" (no URL is written then)."""
    import icalendar  # (here: the rest of the generator, and commands that never write one, go without it)

    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if with_name:
        cal.add("x-wr-calname", name)
    for topic in topics:
        cal.add_component(_vevent(topic, page_url(topic)))
    return cal.to_ical().decode("utf-8")


def _vevent(topic: Topic, url: str) -> icalendar.Event:
    event = topic.root.event
    assert event is not None
    import icalendar

    vevent = icalendar.Event()
    vevent.add("uid", event.uid or f"{topic.key}@intranet.invalid")
    vevent.add("dtstamp", topic.root.date.astimezone(dt.UTC))
    vevent.add("sequence", event.sequence)
    if isinstance(event.start, dt.datetime):
        vevent.add("dtstart", event.start.astimezone(dt.UTC))
        if isinstance(event.end, dt.datetime):
            vevent.add("dtend", event.end.astimezone(dt.UTC))
    else:
        vevent.add("dtstart", event.start)  # (a date: VALUE=DATE)
        vevent.add("dtend", (event.end or event.start) + dt.timedelta(days=1))  # iCalendar's end is the day after
    vevent.add("summary", topic.title)
    if event.location:
        vevent.add("location", event.location)
    vevent.add("status", event.status.upper())
    if url:
        vevent.add("url", url)
        vevent.add("description", url)
    return vevent


def absolute(site_url: str, src_uri: str, directory_urls: bool) -> str:
    """The absolute URL of a generated page, or "" when the site's address is not set."""
    return f"{site_url.rstrip('/')}/{urls.page_url(src_uri, directory_urls)}" if site_url else ""
