"""Reminders the day before an event, to those going: which are due (pure), the mail, and sending once.

At ``digest_time`` on the day before an event starts (in the site's ``timezone``), everyone whose
answer on it is ``going`` (its first post's ``rsvp``) and who may still read the community gets one
reminder: from the community's address (our own domain: DMARC-safe), list-headed like its other
mail, threaded into the topic (a reply lands there). A cancelled event reminds nobody; an event
made or answered after that day's reminders went out is not reminded.

Once: each mail is named by day, topic and person in the outgoing queue, so a second run queues
nobody twice; with a remote shared by two gateways the day's reminders are claimed there
(``refs/intranet/claims/reminder/<day>/all``, :mod:`mailgateway.claims`), as the digest is, and
only the gateway holding the claim sends them.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import logging
from collections.abc import Iterable
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from intranet import urls
from intranet.eventtimes import facts, start_day
from intranet.format import Community, Post, may_read, message_key
from intranet.settings import Settings
from intranet.threads import Topic

from .claims import claim_ref
from .outgoing import Outgoing
from .outmail import FOOTER_RULE, absolute, bounce_address, community_address, list_headers
from .spool import write_durably

if TYPE_CHECKING:
    from intranet.model import Model

    from .claims import Claims
    from .outgoing import Queue


class Sender(Protocol):
    """What sending reminders needs of the notifier (:class:`mailgateway.notify.Notifier`)."""

    settings: Settings
    secret: bytes
    queue: Queue
    claims: Claims | None

    def clock(self) -> dt.datetime: ...
    def model(self) -> Model: ...
    def read_post(self, slug: str, relpath: str, message_id: str) -> Post | None: ...


log = logging.getLogger(__name__)

KIND = "reminder"  # the claim's kind and the envelope's


def due(posts: Iterable[Post], day: dt.date, zone: ZoneInfo) -> list[Post]:
    """The first posts of the events that start the day after ``day`` (in ``zone``) and are not cancelled."""
    tomorrow = day + dt.timedelta(days=1)
    found = [
        p
        for p in posts
        if p.event is not None
        and p.topic == p.message_id
        and not p.event.cancelled
        and start_day(p.event, zone) == tomorrow
    ]
    return sorted(found, key=lambda p: p.relpath)


def going(post: Post) -> list[str]:
    """The handles of those whose answer on the event is ``going``."""
    return [handle for handle, answer in post.rsvp if answer == "going"]


def message_id(day: dt.date, post: Post, handle: str, settings: Settings) -> str:
    """The reminder's Message-ID: the same for the same day, event and person, so it is queued once."""
    return f"<reminder.{day.isoformat()}.{message_key(post.message_id)[:16]}.{handle}@{settings.mail_domain}>"


def reminder_mail(
    *,
    post: Post,
    community: Community,
    recipient: str,
    settings: Settings,
    secret: bytes,
    message_id: str,
    now: dt.datetime,
) -> EmailMessage:
    """The reminder of ``post``'s event to ``recipient``."""
    assert post.event is not None
    topic = Topic(community.slug, post)
    message = EmailMessage()
    message["From"] = email.utils.formataddr(
        (" ".join(community.name.split())[:120], community_address(community, settings))
    )
    message["To"] = recipient
    message["Subject"] = " ".join(f"Reminder: {topic.title}, tomorrow".split())[:250]
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id
    message["In-Reply-To"] = post.message_id  # (a reply lands in the topic)
    message["References"] = post.message_id
    list_headers(message, community, settings, secret, recipient)
    lines = [f"{topic.title} is tomorrow.", "", *facts(post.event, ZoneInfo(settings.timezone))]
    page = absolute(settings, urls.topic(community.slug, topic.key))
    if page:
        lines += ["", page]
    lines += [
        "",
        FOOTER_RULE,
        "You get this because you answered #going. If you cannot come, reply with #not-going.",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def remind(notifier: Sender) -> bool:
    """Send the day's reminders once it is time; whether any were queued. The day they went is kept in
    ``outgoing/reminder-state.json`` (not when the remote could not be reached: asked again)."""
    state_file = notifier.queue.root / "reminder-state.json"
    try:
        state = dict(json.loads(state_file.read_text()))
    except (FileNotFoundError, ValueError):
        state = {}
    day = reminders_due(state, notifier.clock(), notifier.settings)
    queued = send_reminders(notifier, day) if day is not None else None
    if day is not None and queued is not None:
        write_durably(state_file, json.dumps({"last_day": day.isoformat()}).encode(), notifier.queue.tmp)
    return bool(queued)


def reminders_due(state: dict[str, object], now: dt.datetime, settings: Settings) -> dt.date | None:
    """The local day whose reminders are due now (at ``digest_time``), or None (not yet, or sent: ``state``)."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    hours, minutes = (int(x) for x in settings.digest_time.split(":"))
    if (local.hour, local.minute) < (hours, minutes) or state.get("last_day") == local.date().isoformat():
        return None
    return local.date()


def send_reminders(notifier: Sender, day: dt.date) -> int | None:
    """Queue ``day``'s reminders (for the events of the day after), unless another gateway claimed them;
    how many mails, or None if the remote could not be reached (ask again later). No claim is made on a
    day with nobody to remind."""
    model, settings, now = notifier.model(), notifier.settings, notifier.clock()
    wanted: list[tuple[Community, Post, str, str]] = []  # (community, first post, handle, address)
    for slug, community in sorted(model.communities.items()):
        for first in due(model.posts.get(slug, {}).values(), day, ZoneInfo(settings.timezone)):
            post = notifier.read_post(slug, first.relpath, first.message_id)  # (its answers as the file has them)
            if post is None or post.event is None or post.event.cancelled:
                continue
            for handle in going(post):
                person = model.people.get(handle)
                address = person.mail_address() if person is not None and may_read(community, person) else None
                if address:
                    wanted.append((community, post, handle, address))
    if not wanted:
        return 0
    if notifier.claims is not None:
        ref = claim_ref(KIND, day, "all")
        held = notifier.claims.claim({ref: "reminders"})
        if held is None:
            return None
        if not held[ref]:
            log.info("reminders %s: claimed by another gateway; not sent here", day)
            return 0
    queued = 0
    for community, post, handle, address in wanted:
        mid = message_id(day, post, handle, settings)
        message = reminder_mail(
            post=post,
            community=community,
            recipient=address,
            settings=settings,
            secret=notifier.secret,
            message_id=mid,
            now=now,
        )
        envelope = Outgoing(
            mail_from=bounce_address(notifier.secret, community, settings, address),
            rcpt=address,
            kind=KIND,
            community=community.slug,
            message_id=mid,
        )
        queued += notifier.queue.enqueue(message, envelope)
    log.info("reminders %s: %d mails queued", day, queued)
    return queued
