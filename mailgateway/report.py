"""The weekly report: each community's health at a glance, mailed to its moderators once a week.

On ``report_day`` at ``digest_time`` (in ``timezone``) the notifier (:mod:`mailgateway.notify`)
asks :meth:`Reports.pass_once`, which mails each moderator of each community (``community.yml``
``moderators``) one report: the one-line summary, the figures of the last 90 days and the
questions waiting for a first reply (:mod:`intranet.health`, the figures the site's health
pages show, as of the gateway's clock). It is sent once: the day is written in
``outgoing/report-state.json``, and with two gateways on one remote it is claimed first
(``refs/intranet/claims/report/<day>/all``, :mod:`mailgateway.claims`), so only the gateway
holding the claim sends it. Each mail is named by day, community and moderator, so a gateway
that crashed while queueing queues nobody twice. ``report_day: never`` turns it off.

The mail comes from the community's own address (DMARC-safe, as digests do), with its list
headers but no unsubscribe: a moderator gets it for moderating.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import json
import logging
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from intranet import urls
from intranet.format import Community, Post, read_post
from intranet.health import RECENT_DAYS, WAIT, Authors, Health, community_health, duration_text, share_text
from intranet.model import Model
from intranet.settings import WEEKDAYS, Settings
from intranet.threads import build_topics

from .claims import Claims, claim_ref
from .outgoing import Outgoing, Queue
from .outmail import FOOTER_RULE, absolute, bounce_address, community_address, html_link, list_headers
from .spool import write_durably

log = logging.getLogger(__name__)

TREND = 8  # weeks of posts the report lists


def report_due(now: dt.datetime, settings: Settings, tz: dt.tzinfo, last_day: str | None) -> str | None:
    """The local day whose report is due at ``now`` (``report_day``, from ``digest_time`` on), or None."""
    local = now.astimezone(tz)
    if settings.report_day not in WEEKDAYS or WEEKDAYS[local.weekday()] != settings.report_day:
        return None
    hours, minutes = (int(x) for x in settings.digest_time.split(":"))
    if (local.hour, local.minute) < (hours, minutes):
        return None
    day = local.date().isoformat()
    return None if last_day == day else day


def report_mail(
    *,
    community: Community,
    figures: Health,
    recipient: str,
    settings: Settings,
    secret: bytes,
    message_id: str,
    now: dt.datetime,
    day: str,
) -> EmailMessage:
    """One community's weekly report to one of its moderators: plain text and HTML."""
    message = EmailMessage()
    name = f"{community.name} report"
    message["From"] = email.utils.formataddr((name, community_address(community, settings)))
    message["To"] = recipient
    message["Reply-To"] = community_address(community, settings, "digest-reply")  # (not posted: told so)
    message["Subject"] = f"{community.name}: the week at a glance, {day}"
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id
    list_headers(message, community, settings, secret, recipient)
    for header in ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe"):
        del message[header]  # it comes with moderating, not with a subscription
    page = absolute(settings, urls.health(community.slug))
    rows = [
        ("Posts", str(figures.posts)),
        ("New topics", str(figures.topics)),
        ("Active people (who posted)", str(figures.active)),
        ("Posts by partners and suppliers", share_text(figures.guest_share)),
        ("Median time to a first reply", duration_text(figures.first_reply)),
        ("Questions without an accepted answer", str(figures.unsolved_count)),
    ]
    weeks = figures.weeks[-TREND:]
    trend = ", ".join(str(w.posts) for w in weeks)
    waiting = [(t.title, t.date, absolute(settings, urls.topic(t.community, t.key))) for t in figures.unanswered]
    heading = f"Questions without a reply after {WAIT.days} days ({figures.unanswered_count})"
    lines = [figures.summary, "", f"The last {RECENT_DAYS} days", ""]
    lines += [f"  {label}: {value}" for label, value in rows]
    lines += ["", f"Posts a week, the last {len(weeks)} weeks (oldest first): {trend}", "", heading, ""]
    lines += [
        f"* {title}, asked {_day(date, settings)}" + (f"\n  {url}" if url else "") for title, date, url in waiting
    ]
    lines += [] if waiting else ["None."]
    moderating = f"You get this report as a moderator of {community.name}, every {settings.report_day.title()}."
    footer = moderating + (f" Health at a glance, week by week: {page}" if page else "")
    message.set_content("\n".join(lines) + f"\n\n{FOOTER_RULE}\n{footer}\n")
    cells = "".join(f"<tr><th align=left>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    items = "".join(
        f"<li>{html_link(url, title)}, asked {html.escape(_day(date, settings))}</li>" for title, date, url in waiting
    )
    parts = [
        f"<p><b>{html.escape(figures.summary)}</b></p>",
        f"<h2>The last {RECENT_DAYS} days</h2><table>{cells}</table>",
        f"<p>Posts a week, the last {len(weeks)} weeks (oldest first): {html.escape(trend)}</p>",
        f"<h2>{html.escape(heading)}</h2>" + (f"<ul>{items}</ul>" if items else "<p>None.</p>"),
    ]
    note = html.escape(moderating)
    link = f" {html_link(page, 'Health at a glance, week by week')}" if page else ""
    message.add_alternative(
        "<!doctype html><html><body>"
        + "".join(parts)
        + f'<hr><p style="color:#666;font-size:small">{note}{link}</p></body></html>',
        subtype="html",
    )
    return message


def _day(value: dt.datetime, settings: Settings) -> str:
    return value.astimezone(settings.zone).strftime("%-d %b %Y")


class Reports:
    """The notifier's weekly reports: when they are due, and sending them once."""

    def __init__(self, root: Path, settings: Settings, secret: bytes, queue: Queue, model: Callable[[], Model]) -> None:
        self.root, self.settings, self.secret, self.queue, self.model = root, settings, secret, queue, model
        self.state = queue.root / "report-state.json"
        self.tz = settings.zone

    def last_day(self) -> str | None:
        try:
            return str(json.loads(self.state.read_text()).get("last_day")) or None
        except (FileNotFoundError, ValueError, AttributeError):
            return None

    def pass_once(self, now: dt.datetime, claims: Claims | None) -> int:
        """Send the reports if they are due at ``now``; how many mails were queued."""
        day = report_due(now, self.settings, self.tz, self.last_day())
        return self.send(day, now, claims) if day else 0

    def send(self, day: str, now: dt.datetime, claims: Claims | None = None) -> int:
        """Queue ``day``'s report of every community to its moderators (unless another gateway claimed it)."""
        if claims is not None:
            held = claims.claim({claim_ref("report", dt.date.fromisoformat(day), "all"): ""})
            if held is None:
                log.warning("report %s: the remote cannot be reached; tried again shortly", day)
                return 0
            if not all(held.values()):
                log.info("report %s: claimed by another gateway; not sent here", day)
                write_durably(self.state, json.dumps({"last_day": day}).encode(), self.queue.tmp)
                return 0
        model = self.model()
        queued = 0
        for slug in sorted(model.communities):
            queued += self._community(model, model.communities[slug], day, now)
        write_durably(self.state, json.dumps({"last_day": day}).encode(), self.queue.tmp)
        log.info("report %s: %d mails queued", day, queued)
        return queued

    def _community(self, model: Model, community: Community, day: str, now: dt.datetime) -> int:
        readers = [
            (handle, address)
            for handle in community.moderators
            if (person := model.people.get(handle)) is not None and (address := person.mail_address())
        ]
        if not readers:
            return 0
        slug = community.slug
        topics = build_topics(self._posts(model, slug)).get(slug, [])
        figures = community_health(slug, topics, Authors(model.people, model.by_email), now, self.tz)
        queued = 0
        for handle, address in readers:
            message_id = f"<report.{day}.{slug}.{handle}@{self.settings.mail_domain}>"
            message = report_mail(
                community=community,
                figures=figures,
                recipient=address,
                settings=self.settings,
                secret=self.secret,
                message_id=message_id,
                now=now,
                day=day,
            )
            envelope = Outgoing(
                mail_from=bounce_address(self.secret, community, self.settings, address),
                rcpt=address,
                kind="report",
                community=slug,
                message_id=message_id,
            )
            queued += self.queue.enqueue(message, envelope)
        return queued

    def _posts(self, model: Model, slug: str) -> list[Post]:
        """The community's posts with their tags (a question may be one by its tag): the gateway's model
        keeps none, so its posts are read again from their files (once a week)."""
        posts = model.posts_of(slug)
        if model.bodies:
            return posts
        full = []
        for stub in posts:
            path = self.root / stub.relpath
            post = read_post(self.root, slug, path)[0] if path.is_file() and not path.is_symlink() else None
            full.append(post if post is not None and post.message_id == stub.message_id else stub)
        return full
