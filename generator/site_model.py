"""One tree's intranet and the indexes its pages are rendered from (pure).

A :class:`Site` holds one tree's content, its topics, tags and people's
posts, and the helpers its templates use (links, dates, addresses). The
planning functions (:mod:`generator.plans`) turn it into pages.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from intranet import urls
from intranet.addresses import reply_address
from intranet.format import AUDIENCES, Author, Community, Intranet, Person, Post, normalize_address
from intranet.settings import Settings
from intranet.threads import Topic, build_topics

AUDIENCE_WORDS = {"staff": "staff", "partners": "partners", "suppliers": "suppliers", "members": "its members only"}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("generator", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["filesize"] = _filesize
    env.globals.update(
        community_uri=urls.community,
        community_page_uri=urls.community_page,
        topic_uri=urls.topic,
        person_uri=urls.person,
        tag_uri=urls.tag,
        feed_uri=urls.feed,
    )
    return env


def _filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _root_of(post: Post, by_id: dict[str, Post]) -> Post | None:
    """The first post of the topic a new ``post`` joins, found as :func:`intranet.threads.build_topics` does."""
    if post.topic and post.topic != post.message_id and post.topic in by_id:
        return by_id[post.topic]
    current, seen = post, {post.message_id}
    while current.in_reply_to and current.in_reply_to in by_id and current.topic != current.message_id:
        if current.in_reply_to in seen:
            return None  # a reply cycle: the whole community is threaded
        current = by_id[current.in_reply_to]
        seen.add(current.message_id)
    return current


class Site:
    """One tree's intranet and the indexes its pages are rendered from.

    :meth:`set_posts` replaces one community's posts and refreshes every
    index that depends on them, so a long-lived builder can follow a change
    without threading the whole intranet again.
    """

    def __init__(
        self,
        intranet: Intranet,
        settings: Settings,
        secret: bytes,
        directory_urls: bool = True,
        listed: frozenset[str] | None = None,
        profiles: str = "full",
    ) -> None:
        self.intranet = intranet
        self.listed = frozenset(intranet.people) if listed is None else listed  # handles with a profile page
        self.profiles = profiles  # full, or "names": name, role and organisation only
        self.settings = settings
        self.secret = secret
        self.directory_urls = directory_urls
        self.tz = ZoneInfo(settings.timezone)
        self.by_email = intranet.person_by_email()
        self.topics: dict[str, list[Topic]] = {}  # community -> topics, most recently active first
        self.topic_of: dict[str, Topic] = {}  # post relpath -> its topic
        self.posts_by: dict[str, dict[str, Post]] = defaultdict(dict)  # handle -> relpath -> post
        self.tagged: dict[str, dict[str, Topic]] = defaultdict(dict)  # tag -> topic page -> topic
        self._by_id: dict[str, dict[str, Post]] = {}  # community -> Message-ID -> post (the earliest)
        self._waited: dict[str, set[str]] = {}  # community -> Message-IDs its posts answer or name as topic
        grouped: dict[str, list[Post]] = defaultdict(list)
        for post in intranet.posts:
            grouped[post.community].append(post)
        for slug in intranet.communities:
            self._index(slug, grouped.get(slug, []))

    def set_posts(self, slug: str, posts: list[Post], added: list[Post] | None = None) -> None:
        """Make ``posts`` the posts of community ``slug`` (the intranet's list is the caller's).

        ``added`` says the change was only these new posts: then, when none of them is a post
        another one was waiting for, only the topics they join are threaded again.
        """
        if added and self._add(slug, added):
            return
        for topic in self.topics.get(slug, []):
            self._unindex(slug, topic)
        self._index(slug, posts)

    def _index(self, slug: str, posts: list[Post]) -> None:
        topics = build_topics(posts).get(slug, [])
        self.topics[slug] = topics
        for topic in topics:
            self._index_topic(slug, topic)
        by_id: dict[str, Post] = {}
        for post in sorted(posts, key=lambda p: (p.date, p.relpath)):
            by_id.setdefault(post.message_id, post)
        self._by_id[slug] = by_id
        self._waited[slug] = {i for p in posts for i in (p.in_reply_to, p.topic) if i}

    def _index_topic(self, slug: str, topic: Topic) -> None:
        for post in topic.posts:
            self.topic_of[post.relpath] = topic
            person = self.person_for(post.author)
            if person:
                self.posts_by[person.handle][post.relpath] = post
        for tag in topic.tags:
            self.tagged[tag][urls.topic(slug, topic.key)] = topic

    def _unindex(self, slug: str, topic: Topic) -> None:
        page = urls.topic(slug, topic.key)
        for tag in topic.tags:
            self.tagged[tag].pop(page, None)
            if not self.tagged[tag]:
                del self.tagged[tag]
        for post in topic.posts:
            self.topic_of.pop(post.relpath, None)
            person = self.person_for(post.author)
            if person:
                self.posts_by[person.handle].pop(post.relpath, None)

    def _add(self, slug: str, added: list[Post]) -> bool:
        """Thread new posts into their topics alone; False when the whole community must be threaded."""
        by_id, waited = self._by_id.get(slug, {}), self._waited.get(slug, set())
        ids = {p.message_id for p in added}
        if len(ids) < len(added) or ids & (set(by_id) | waited):
            return False  # a duplicate Message-ID, or a post some other post was waiting for
        if any(i in ids and i != p.message_id for p in added for i in (p.in_reply_to, p.topic) if i):
            return False  # new posts answering each other
        topics = self.topics.get(slug, [])
        for post in added:
            root = _root_of(post, by_id)
            if root is None:
                return False
            if root is post:
                old, members = None, [post]
            else:
                old = self.topic_of.get(root.relpath)
                if old is None or old.root is not root:
                    return False
                members = [*old.posts, post]
            threaded = build_topics(members).get(slug, [])
            if len(threaded) != 1 or threaded[0].root is not (old.root if old else post):
                return False
            if old is not None:
                self._unindex(slug, old)
                topics.remove(old)
            topics.append(threaded[0])
            self._index_topic(slug, threaded[0])
            by_id[post.message_id] = post
            waited.update(i for i in (post.in_reply_to, post.topic) if i)
        topics.sort(key=lambda t: (t.last_activity, t.root.message_id), reverse=True)
        self.topics[slug] = topics
        return True

    def latest(self, limit: int, slug: str | None = None) -> list[Post]:
        """The newest ``limit`` posts of the tree (or of one community).

        They are among the posts of each community's ``limit`` most recently active topics (and
        of the topics tied with the last of those), so only those are looked at.
        """
        candidates: list[Post] = []
        for community in [slug] if slug else list(self.topics):
            topics = self.topics.get(community or "", [])
            count = min(limit, len(topics))
            while count and count < len(topics) and topics[count].last_activity == topics[count - 1].last_activity:
                count += 1
            candidates += (p for t in topics[:count] for p in t.posts)
        return heapq.nlargest(limit, candidates, key=lambda p: (p.date, p.relpath))

    # -- helpers shared by templates --------------------------------------

    def link(self, here: str) -> Callable[..., str]:
        def url(target: str, anchor: str = "") -> str:
            return urls.relative(here, target, self.directory_urls, anchor)

        return url

    def when(self, value: dt.datetime) -> str:
        return value.astimezone(self.tz).strftime("%-d %b %Y, %H:%M")

    def day(self, value: dt.datetime) -> str:
        return value.astimezone(self.tz).strftime("%-d %b %Y")

    def person_for(self, author: Author) -> Person | None:
        if author.handle:
            return self.intranet.people.get(author.handle)
        if author.email:
            handle = self.by_email.get(normalize_address(author.email))
            return self.intranet.people.get(handle) if handle else None
        return None

    def is_listed(self, person: Person) -> bool:
        return person.handle in self.listed

    def author_name(self, author: Author) -> str:
        person = self.person_for(author)
        if person:
            return person.name
        return author.name or author.handle or "Unknown"

    def address(self, community: Community, suffix: str = "") -> str:
        local = f"{community.mail}+{suffix}" if suffix else community.mail
        return f"{local}@{self.settings.mail_domain}"

    def mailto(self, community: Community, subject: str = "", address: str = "") -> str:
        query = f"?subject={quote(subject, safe='')}" if subject else ""
        return f"mailto:{quote(address or self.address(community), safe='@+')}{query}"

    def reply_address(self, topic: Topic) -> str:
        """The topic's reply address, issued to any reader of the site."""
        community = self.intranet.communities[topic.community]
        return reply_address(self.secret, community.mail, self.settings.mail_domain, topic.root.message_id)

    def reply_mailto(self, topic: Topic) -> str:
        """The topic's "Reply by email" link: its reply address, subject ``Re: <title>``."""
        community = self.intranet.communities[topic.community]
        return self.mailto(community, f"Re: {topic.title}", self.reply_address(topic))

    def audience_text(self, community: Community) -> str:
        words = [AUDIENCE_WORDS[a] for a in AUDIENCES if a in community.audience]
        return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]

    def render(self, template: str, here: str, **context: Any) -> str:
        return _env().get_template(template).render(site=self, url=self.link(here), here=here, **context)

    def communities_by_name(self) -> list[Community]:
        return sorted(self.intranet.communities.values(), key=lambda c: c.name.lower())
