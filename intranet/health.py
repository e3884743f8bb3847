"""A community's health at a glance: the figures its coordinators read (pure).

The site's health pages (:mod:`generator.healthpages`) and the gateway's weekly report to each
community's moderators (:mod:`mailgateway.report`) compute the same figures here, from a
community's threaded topics, the people in ``people/`` and a moment ``now`` the figures are
as of. Nothing here reads the clock: the site takes ``now`` from its content
(:func:`site_as_of`, so a full and an incremental build agree), the gateway from its clock.

What each figure means (README, "Health at a glance", says the same to readers):

- ``weeks``: posts and new topics in each of the :data:`WEEKS` weeks (Monday to Sunday, in
  the site's time zone) up to the week ``now`` is in;
- ``active``: distinct authors of posts in the last :data:`RECENT_DAYS` days (a person in
  ``people/`` once, whatever address they wrote from; anyone else by address or name);
- ``guest_posts``: of those posts, the ones written by partners and suppliers;
- ``first_reply``: the median time from a topic's first post to its first reply, over the
  topics started in the last :data:`RECENT_DAYS` days that have a reply;
- ``unanswered``: open questions (:attr:`intranet.threads.Topic.question`) asked in the chart's
  year, more than :data:`WAIT` ago, that nobody has replied to;
- ``unsolved``: open questions active in the chart's year, with replies but no accepted answer;
- ``reacted``: the :data:`TOP` posts of the last :data:`RECENT_DAYS` days with most reactions;
- ``busiest``: the :data:`TOP` topics with most posts in the last :data:`RECENT_DAYS` days.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .format import Author, Person, Post, normalize_address
from .threads import Topic

WEEKS = 52  # the chart's weeks: a year
RECENT_DAYS = 90  # the window of the figures other than the chart
WAIT = dt.timedelta(days=2)  # a question unanswered this long is listed
TOP = 5  # most-reacted posts and busiest topics listed
LISTED = 10  # unanswered and unsolved questions listed (all are counted)
TREND_WEEKS = 4  # the summary compares the last four weeks with the four before
GUEST_KINDS = ("partner", "supplier")


@dataclass(frozen=True)
class Week:
    start: dt.date  # its Monday
    posts: int
    topics: int  # of the posts, the ones that started a topic


@dataclass(frozen=True)
class TopicLine:
    """A topic as a list of the figures shows it."""

    community: str
    key: str
    title: str
    date: dt.datetime  # when it started
    count: int  # what it is listed for: posts in the window, or replies


@dataclass(frozen=True)
class PostLine:
    """A post as the list of most-reacted posts shows it."""

    community: str
    topic_key: str
    post_key: str
    title: str  # its topic's
    author: str  # the name it is shown under
    date: dt.datetime
    reactions: int


@dataclass(frozen=True)
class Health:
    """One community's figures as of ``as_of`` (posts dated ``as_of`` or later are not counted)."""

    community: str
    as_of: dt.datetime
    weeks: tuple[Week, ...]
    posts: int  # in the last RECENT_DAYS days
    topics: int  # started in the last RECENT_DAYS days
    active: int
    guest_posts: int
    first_reply: dt.timedelta | None  # None: no topic of the window has a reply
    replied: int  # topics the median is taken over
    unanswered: tuple[TopicLine, ...]  # oldest first; count: 0
    unanswered_count: int
    unsolved: tuple[TopicLine, ...]  # most recently started first; count: replies
    unsolved_count: int
    reacted: tuple[PostLine, ...]
    busiest: tuple[TopicLine, ...]

    @property
    def guest_share(self) -> float | None:
        """Partners' and suppliers' share of the window's posts (None: no posts)."""
        return self.guest_posts / self.posts if self.posts else None

    @property
    def recent(self) -> int:
        """Posts in the last :data:`TREND_WEEKS` weeks of the chart."""
        return sum(w.posts for w in self.weeks[-TREND_WEEKS:])

    @property
    def before(self) -> int:
        """Posts in the :data:`TREND_WEEKS` weeks before those."""
        return sum(w.posts for w in self.weeks[-2 * TREND_WEEKS : -TREND_WEEKS])

    @property
    def summary(self) -> str:
        """One line of plain language: how busy, how many take part, what waits for an answer."""
        recent, before = self.recent, self.before
        if recent == before == 0:
            pace = f"No posts in the last {2 * TREND_WEEKS} weeks"
        else:
            word = "Busier than" if recent > before else "Quieter than" if recent < before else "As busy as"
            pace = (
                f"{word} the {TREND_WEEKS} weeks before: {plural(recent, 'post')} in the last {TREND_WEEKS} weeks"
                f" (against {before})"
            )
        people = f"{plural(self.active, 'person', 'people')} active in {RECENT_DAYS} days"
        if self.unanswered_count:
            waiting = f"{plural(self.unanswered_count, 'question')} waiting for a first reply"
        else:
            waiting = "no question waiting for a first reply"
        return f"{pace}; {people}; {waiting}."


def plural(count: int, one: str, many: str = "") -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def duration_text(value: dt.timedelta | None) -> str:
    """A median time to first reply in words: ``45 min``, ``3 h 20 min``, ``2 days 4 h``; ``none yet``."""
    if value is None:
        return "none yet"
    minutes = max(int(value.total_seconds() // 60), 0)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return plural(days, "day") + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min"


def share_text(share: float | None) -> str:
    return "no posts" if share is None else f"{round(share * 100)} %"


def site_as_of(latest: dt.datetime | None, tz: dt.tzinfo) -> dt.datetime | None:
    """What a site's figures are as of: the end of the local day of its latest post (None: no posts).

    Taken from the content, not the clock, so every build of the same content shows the same
    figures, and they move on only once a day (the first post of a day)."""
    if latest is None:
        return None
    day = latest.astimezone(tz).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


class Authors:
    """Who wrote a post: the person in ``people/`` it is shown under, or its own name and address."""

    def __init__(self, people: dict[str, Person], by_email: dict[str, str]) -> None:
        self.people, self.by_email = people, by_email

    def person(self, author: Author) -> Person | None:
        if author.handle:
            return self.people.get(author.handle)
        handle = self.by_email.get(normalize_address(author.email)) if author.email else None
        return self.people.get(handle) if handle else None

    def key(self, author: Author) -> str:
        person = self.person(author)
        if person is not None:
            return "@" + person.handle
        return normalize_address(author.email) if author.email else author.handle or author.name

    def name(self, author: Author) -> str:
        person = self.person(author)
        return person.name if person else author.name or author.handle or "Unknown"


class Tally:
    """What :func:`community_health` counts, kept so that a topic can be taken out or put in again
    (an update changes a few topics of a community: its figures follow without counting the rest).

    A topic counts when it has a post in the chart's year (and began before ``now``); taking it out
    undoes exactly what putting it in did, as both work it out again from the same topic."""

    def __init__(self, slug: str, authors: Authors, now: dt.datetime, tz: dt.tzinfo) -> None:
        self.slug, self.authors, self.now, self.tz = slug, authors, now, tz
        last_week = _monday((now - dt.timedelta(microseconds=1)).astimezone(tz).date())
        self.first_week = last_week - dt.timedelta(weeks=WEEKS - 1)
        self.year = dt.datetime.combine(self.first_week, dt.time(0), tzinfo=tz)  # the chart's first moment
        self.since = now - dt.timedelta(days=RECENT_DAYS)
        self.posts_in, self.topics_in = [0] * WEEKS, [0] * WEEKS
        self.posts = self.started = self.guests = 0
        self.active: Counter[str] = Counter()  # author -> posts of the window
        self.waits: list[float] = []  # seconds to a first reply, sorted
        self.unanswered: dict[str, TopicLine] = {}  # by topic key
        self.unsolved: dict[str, TopicLine] = {}
        self.busiest: dict[str, TopicLine] = {}
        self.reacted: dict[tuple[str, str], PostLine] = {}  # by topic and post key

    def counts(self, topic: Topic) -> bool:
        return topic.last_activity >= self.year and topic.root.date < self.now

    def add(self, topic: Topic) -> None:
        if self.counts(topic):
            self._count(topic, 1)

    def remove(self, topic: Topic) -> None:
        if self.counts(topic):
            self._count(topic, -1)

    def _count(self, topic: Topic, sign: int) -> None:
        root, slug, now, key = topic.root, self.slug, self.now, topic.key
        window = 0
        for post in topic.posts:
            if post.date >= now:
                continue
            week = (_monday(post.date.astimezone(self.tz).date()) - self.first_week).days // 7
            if 0 <= week < WEEKS:
                self.posts_in[week] += sign
                self.topics_in[week] += sign if post is root else 0
            if post.date >= self.since:
                window += 1
                self._post(topic, post, sign)
        self.posts += sign * window
        replies = [p.date for p in topic.posts[1:] if p.date < now]
        if root.date >= self.since:
            self.started += sign
            if replies:
                wait = max((min(replies) - root.date).total_seconds(), 0.0)
                if sign > 0:
                    bisect.insort(self.waits, wait)
                else:
                    del self.waits[bisect.bisect_left(self.waits, wait)]
        lists = []
        if window:
            lists.append((self.busiest, TopicLine(slug, key, topic.title, root.date, window)))
        if topic.question and not root.closed and topic.answer is None:
            if not replies and now - root.date > WAIT:
                lists.append((self.unanswered, TopicLine(slug, key, topic.title, root.date, 0)))
            elif replies:
                lists.append((self.unsolved, TopicLine(slug, key, topic.title, root.date, len(replies))))
        for found, line in lists:
            if sign > 0:
                found[key] = line
            else:
                found.pop(key, None)

    def _post(self, topic: Topic, post: Post, sign: int) -> None:
        """A post of the window, counted in or out."""
        author = self.authors.key(post.author)
        self.active[author] += sign
        if self.active[author] <= 0:
            del self.active[author]
        person = self.authors.person(post.author)
        self.guests += sign if person is not None and person.kind in GUEST_KINDS else 0
        if post.reactions and not post.deleted:
            if sign < 0:
                self.reacted.pop((topic.key, post.key), None)
                return
            name = self.authors.name(post.author)
            line = PostLine(self.slug, topic.key, post.key, topic.title, name, post.date, len(post.reactions))
            self.reacted[(topic.key, post.key)] = line

    def health(self) -> Health:
        """The figures as the tally stands."""
        unanswered = sorted(self.unanswered.values(), key=lambda t: (t.date, t.key))
        unsolved = sorted(self.unsolved.values(), key=lambda t: (t.date, t.key), reverse=True)
        reacted = heapq.nsmallest(
            TOP, self.reacted.values(), key=lambda p: (-p.reactions, -p.date.timestamp(), p.post_key)
        )
        busiest = heapq.nsmallest(TOP, self.busiest.values(), key=lambda t: (-t.count, -t.date.timestamp(), t.key))
        start = self.first_week
        weeks = tuple(Week(start + dt.timedelta(weeks=i), self.posts_in[i], self.topics_in[i]) for i in range(WEEKS))
        waits = self.waits
        return Health(
            community=self.slug,
            as_of=self.now,
            weeks=weeks,
            posts=self.posts,
            topics=self.started,
            active=len(self.active),
            guest_posts=self.guests,
            first_reply=dt.timedelta(seconds=statistics.median(waits)) if waits else None,
            replied=len(waits),
            unanswered=tuple(unanswered[:LISTED]),
            unanswered_count=len(unanswered),
            unsolved=tuple(unsolved[:LISTED]),
            unsolved_count=len(unsolved),
            reacted=tuple(reacted),
            busiest=tuple(busiest),
        )


def tally(slug: str, topics: Iterable[Topic], authors: Authors, now: dt.datetime, tz: dt.tzinfo) -> Tally:
    """Community ``slug``'s tally as of ``now`` (week boundaries in ``tz``).

    ``topics`` come most recently active first (as :func:`intranet.threads.build_topics` and the
    site's orders give them): the first one with no post in the chart's year ends the count, so
    its cost follows a year's activity, not the community's whole history."""
    counted = Tally(slug, authors, now, tz)
    for topic in topics:
        if topic.last_activity < counted.year:
            break  # the rest are older still: nothing of them is counted
        counted.add(topic)
    return counted


def community_health(slug: str, topics: Iterable[Topic], authors: Authors, now: dt.datetime, tz: dt.tzinfo) -> Health:
    """The figures of community ``slug`` as of ``now`` (see :func:`tally`)."""
    return tally(slug, topics, authors, now, tz).health()
