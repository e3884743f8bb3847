"""One tree's intranet and the indexes its pages are rendered from (pure).

A :class:`Site` holds one tree's content, its topics, tags and people's
posts, and the helpers its templates use (links, dates, addresses). The
planning functions (:mod:`generator.plans`) turn it into pages.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from intranet import urls
from intranet.addresses import reply_address
from intranet.format import AUDIENCES, REACTIONS, Author, Community, Intranet, Person, Post, normalize_address
from intranet.mentions import MENTION_RE, NAME_KEY, name_key, name_keys, unique_names
from intranet.settings import Settings
from intranet.subjects import names_title
from intranet.threads import Topic, build_topics

from .figures import Figures
from .orders import PostOrder, TopicOrder
from .templating import template_env

AUDIENCE_WORDS = {"staff": "staff", "partners": "partners", "suppliers": "suppliers", "members": "its members only"}


def _author_key(author: Author) -> str:
    """What names the author in a post: a handle, or a normalised address (handles hold no ``@``)."""
    if author.handle:
        return author.handle
    return normalize_address(author.email) if author.email else ""


def _resolve(author: Author, people: dict[str, Person], by_email: dict[str, str]) -> Person | None:
    """The person a post's author is shown as."""
    if author.handle:
        return people.get(author.handle)
    if author.email:
        handle = by_email.get(normalize_address(author.email))
        return people.get(handle) if handle else None
    return None


def _mention_keys(post: Post) -> set[str]:
    """What the site's index of mentions files ``post`` under: each handle and name it might mention."""
    body = post.body  # (read once: it may be kept outside the heap)
    if "@" not in body:
        return set()
    return set(MENTION_RE.findall(body)) | {NAME_KEY + key for key in name_keys(body)}


def _same_topic(a: Topic, b: Topic) -> bool:
    """The same posts threaded the same way (a topic threaded again that nothing changed)."""
    if a.root is not b.root or len(a.entries) != len(b.entries):
        return False
    return all(
        x.post is y.post and x.depth == y.depth and x.parent is y.parent
        for x, y in zip(a.entries, b.entries, strict=True)
    )


def _in_place(old: Post, new: Post) -> bool:
    """An edit that leaves a post where it is in its thread (its text, tags or flags changed)."""
    return (old.relpath, old.message_id, old.topic, old.in_reply_to, old.date) == (
        new.relpath,
        new.message_id,
        new.topic,
        new.in_reply_to,
        new.date,
    )


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

    :meth:`set_posts` replaces one community's posts and :meth:`people_changed` follows edits of
    ``people/``; both refresh every index that depends on them in place (the orders of
    :mod:`generator.orders`), so a long-lived builder follows a change without threading or
    sorting the whole intranet again.
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
        self.orders: dict[str, TopicOrder] = {}  # community -> its topics
        self.tag_orders: dict[str, TopicOrder] = {}  # tag -> the topics carrying it
        self.post_counts: dict[str, int] = {}  # community -> its posts
        self.topic_of: dict[str, Topic] = {}  # post relpath -> its topic
        self.own: dict[str, PostOrder] = {}  # handle -> the posts shown under that person's name
        self.authored: dict[str, dict[str, Post]] = {}  # author's handle or address -> relpath -> post
        self.reacted: dict[str, dict[str, Post]] = {}  # handle -> relpath -> a post their name shows under
        self.mentioned: dict[str, dict[str, Post]] = {}  # handle, or NAME_KEY + name -> relpath -> a post naming it
        self.names = unique_names((h, p.name) for h, p in intranet.people.items())  # for @First Last
        self._by_id: dict[str, dict[str, Post]] = {}  # community -> Message-ID -> post (the earliest)
        self._waited: dict[str, set[str]] = {}  # community -> Message-IDs its posts answer or name as topic
        self.figures = Figures()  # each community's health figures, once worked out
        grouped: dict[str, list[Post]] = defaultdict(list)
        for post in intranet.posts:
            grouped[post.community].append(post)
        tagged: dict[str, list[Topic]] = defaultdict(list)
        owned: dict[str, list[Post]] = defaultdict(list)
        for slug in intranet.communities:
            topics = build_topics(grouped.get(slug, [])).get(slug, [])
            self.orders[slug] = TopicOrder(topics)
            self.post_counts[slug] = 0
            for topic in topics:
                self._index_topic(topic, tagged, owned)
            self._note_ids(slug, grouped.get(slug, []))
        self.tag_orders = {tag: TopicOrder(topics) for tag, topics in tagged.items()}
        for handle, posts in owned.items():
            self.own[handle] = PostOrder(posts)

    def release(self) -> None:
        """Let go of everything (a site a full build replaced): freed at once, without waiting for a
        garbage collection to find its cycles. The site is not used again."""
        self.__dict__.clear()

    @property
    def topics(self) -> dict[str, list[Topic]]:
        """Community -> its topics, most recently active first."""
        return {slug: order.latest for slug, order in self.orders.items()}

    def set_posts(
        self, slug: str, pairs: list[tuple[Post | None, Post | None]], posts: Callable[[], list[Post]]
    ) -> dict[str, tuple[Topic | None, Topic | None]]:
        """Posts of community ``slug`` came, went or changed (``pairs``: before, after); ``posts()`` gives
        them all now. Returns the topics that changed: page -> (before, after).

        New posts that no other post was waiting for, and edits that leave a post where it is in its
        thread, thread only the topics they are in (``posts`` is not called). Otherwise the community
        is threaded again, and topics threaded as before stay as they were.
        """
        changes: dict[str, tuple[Topic | None, Topic | None]] = {}
        if all(old is None and new is not None for old, new in pairs):
            if self._add(slug, [new for _, new in pairs if new is not None], changes):
                return changes
        elif all(old is not None and new is not None and _in_place(old, new) for old, new in pairs):
            if self._edit(slug, [(old, new) for old, new in pairs if old is not None and new is not None], changes):
                return changes
        self._reindex(slug, posts(), changes)
        return changes

    def _note_ids(self, slug: str, posts: list[Post]) -> None:
        by_id: dict[str, Post] = {}
        for post in sorted(posts, key=lambda p: (p.date, p.relpath)):
            by_id.setdefault(post.message_id, post)
        self._by_id[slug] = by_id
        self._waited[slug] = {i for p in posts for i in (p.in_reply_to, p.topic) if i}

    def _reindex(self, slug: str, posts: list[Post], changes: dict[str, tuple[Topic | None, Topic | None]]) -> None:
        self.orders.setdefault(slug, TopicOrder())
        self.post_counts.setdefault(slug, 0)
        old = {urls.topic(slug, t.key): t for t in self.orders[slug].latest}
        new = {urls.topic(slug, t.key): t for t in build_topics(posts).get(slug, [])}
        pairs = []
        for page in sorted(old.keys() | new.keys()):
            before, after = old.get(page), new.get(page)
            if before is None or after is None or not _same_topic(before, after):
                pairs.append((before, after))
        self._put(slug, pairs, changes)
        self._note_ids(slug, posts)

    def _put(
        self,
        slug: str,
        pairs: list[tuple[Topic | None, Topic | None]],
        changes: dict[str, tuple[Topic | None, Topic | None]],
    ) -> None:
        """Each ``new`` in place of its ``old`` (either may be None) in every index; noted in ``changes``."""
        for old, _ in pairs:  # first out, all of them: a post may move from one topic to another
            if old is not None:
                self._unindex_topic(old)
        order = self.orders[slug]
        for old, new in pairs:
            if old is not None and new is not None:
                order.replace(old, new)
            elif old is not None:
                order.remove(old)
            elif new is not None:
                order.add(new)
            old_tags = set(old.tags) if old else set()
            new_tags = set(new.tags) if new else set()
            for tag in old_tags - new_tags:  # an order left empty stays until the update has taken its changes
                self.tag_orders[tag].remove(old)  # type: ignore[arg-type]
            for tag in sorted(new_tags):
                if tag in old_tags:
                    self.tag_orders[tag].replace(old, new)  # type: ignore[arg-type]
                else:
                    self.tag_orders.setdefault(tag, TopicOrder()).add(new)  # type: ignore[arg-type]
            page = urls.topic(slug, (new or old).key)  # type: ignore[union-attr]
            changes[page] = (changes[page][0] if page in changes else old, new)
        for _, new in pairs:
            if new is not None:
                self._index_topic(new)
        self.figures.changed(slug, pairs)

    def _index_topic(
        self, topic: Topic, tagged: dict[str, list[Topic]] | None = None, owned: dict[str, list[Post]] | None = None
    ) -> None:
        """Note ``topic``'s posts (for the tags: in ``tagged``, when given, for the caller to order)."""
        for post in topic.posts:
            self.topic_of[post.relpath] = topic
            self._own(post, owned)
            for handle, _ in (*post.reactions, *post.rsvp):  # (an event's answers show names too)
                self.reacted.setdefault(handle, {})[post.relpath] = post
            for handle in _mention_keys(post):  # (whoever: a person may come later)
                self.mentioned.setdefault(handle, {})[post.relpath] = post
        if tagged is not None:
            for tag in topic.tags:
                tagged[tag].append(topic)
        self.post_counts[topic.community] += len(topic.entries)

    def _unindex_topic(self, topic: Topic) -> None:
        for post in topic.posts:
            self.topic_of.pop(post.relpath, None)
            self._disown(post)
            marks = (
                (self.reacted, {h for h, _ in (*post.reactions, *post.rsvp)}),
                (self.mentioned, _mention_keys(post)),
            )
            for index, handles in marks:
                for handle in handles:
                    found = index.get(handle, {})
                    found.pop(post.relpath, None)
                    if not found:
                        index.pop(handle, None)
        self.post_counts[topic.community] -= len(topic.entries)

    def _own(self, post: Post, owned: dict[str, list[Post]] | None = None) -> None:
        key = _author_key(post.author)
        if key:
            self.authored.setdefault(key, {})[post.relpath] = post
        person = self.person_for(post.author)
        if person is None:
            return
        if owned is not None:
            owned[person.handle].append(post)
        else:
            self.own.setdefault(person.handle, PostOrder()).add(post)

    def _disown(self, post: Post, person: Person | None = None, keep_author: bool = False) -> None:
        key = _author_key(post.author)
        if key and not keep_author:
            found = self.authored.get(key, {})
            found.pop(post.relpath, None)
            if not found:
                self.authored.pop(key, None)
        person = person or self.person_for(post.author)
        if person is not None and person.handle in self.own:
            self.own[person.handle].remove(post)
            if not self.own[person.handle]:
                del self.own[person.handle]

    def people_changed(self, before: dict[str, Person], handles: set[str]) -> tuple[set[str], list[Post]]:
        """``handles`` came, went or changed in ``self.intranet.people`` (``before``: as they were).

        Posts written from an address or as a handle whose person changed are attributed again.
        Returns the handles that gained or lost posts, and the posts shown under another person now.
        """
        keys = set(handles)
        self.figures.forget()  # names, kinds and who wrote what count in the figures
        for handle in handles:
            for person in (before.get(handle), self.intranet.people.get(handle)):
                keys.update(normalize_address(e) for e in (person.emails if person else []))
        old_by_email = self.by_email
        self.by_email = self.intranet.person_by_email()
        self.names = unique_names((h, p.name) for h, p in self.intranet.people.items())
        moved: set[str] = set()
        named = {name_key(p.name) for h in handles for p in (before.get(h), self.intranet.people.get(h)) if p}
        posts = [p for name in sorted(named) for p in self.mentioned.get(NAME_KEY + name, {}).values()]
        for key in sorted(keys):
            for post in list(self.authored.get(key, {}).values()):
                was = _resolve(post.author, before, old_by_email)
                now = self.person_for(post.author)
                if (was.handle if was else None) == (now.handle if now else None):
                    continue
                self._disown(post, was, keep_author=True)
                self._own(post)
                moved.update(p.handle for p in (was, now) if p)
                posts.append(post)
        return moved, posts

    def _edit(
        self, slug: str, edits: list[tuple[Post, Post]], changes: dict[str, tuple[Topic | None, Topic | None]]
    ) -> bool:
        """Thread again only the topics of posts edited in place; False when the whole community must be."""
        by_id = self._by_id.get(slug, {})
        for old, new in edits:
            topic = self.topic_of.get(old.relpath)
            if topic is None or not any(p is old for p in topic.posts):
                return False
            members = [new if p is old else p for p in topic.posts]
            threaded = build_topics(members).get(slug, [])
            root = new if topic.root is old else topic.root
            if len(threaded) != 1 or threaded[0].root is not root:
                return False
            self._put(slug, [(topic, threaded[0])], changes)
            if by_id.get(old.message_id) is old:
                by_id[old.message_id] = new
        return True

    def _add(self, slug: str, added: list[Post], changes: dict[str, tuple[Topic | None, Topic | None]]) -> bool:
        """Thread new posts into their topics alone; False when the whole community must be threaded."""
        by_id, waited = self._by_id.get(slug, {}), self._waited.get(slug, set())
        ids = {p.message_id for p in added}
        if len(ids) < len(added) or any(i in by_id or i in waited for i in ids):
            return False  # a duplicate Message-ID, or a post some other post was waiting for
        ordered = _parents_first(added)
        if ordered is None:
            return False  # new posts answering each other in a circle
        for post in ordered:
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
            self._put(slug, [(old, threaded[0])], changes)
            by_id[post.message_id] = post
            waited.update(i for i in (post.in_reply_to, post.topic) if i)
        return True

    def waiting(self, limit: int, slug: str | None = None) -> list[Topic]:
        """Up to ``limit`` open topics nobody has answered yet, newest first (of the tree, or of one
        community; not announcements): where a reader can help."""
        found: list[Topic] = []
        for community in [slug] if slug else sorted(self.orders):
            if community not in self.orders or self.intranet.communities[community].posting == "moderators":
                continue
            here = (t for t in self.orders[community].latest if t.reply_count == 0 and not t.root.closed)
            found += itertools.islice(here, limit)
        return sorted(found, key=lambda t: (t.root.date, t.key), reverse=True)[:limit]

    def unsolved(self, limit: int, slug: str | None = None) -> list[Topic]:
        """Up to ``limit`` open questions (:attr:`Topic.question`) that have replies but no accepted
        answer, most recently active first (of the tree, or of one community; not announcements)."""
        found: list[Topic] = []
        for community in [slug] if slug else sorted(self.orders):
            if community not in self.orders or self.intranet.communities[community].posting == "moderators":
                continue
            here = (
                t
                for t in self.orders[community].latest
                if t.question and t.reply_count and t.answer is None and not t.root.closed
            )
            found += itertools.islice(here, limit)
        return sorted(found, key=lambda t: (t.last_activity, t.key), reverse=True)[:limit]

    def latest(self, limit: int, slug: str | None = None) -> list[Post]:
        """The newest ``limit`` posts of the tree (or of one community).

        They are among the posts of each community's ``limit`` most recently active topics (and
        of the topics tied with the last of those), so only those are looked at.
        """
        candidates: list[Post] = []
        for community in [slug] if slug else list(self.orders):
            topics = self.orders[community].latest if community in self.orders else []
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
        return _resolve(author, self.intranet.people, self.by_email)

    def is_listed(self, person: Person) -> bool:
        return person.handle in self.listed

    def author_name(self, author: Author) -> str:
        person = self.person_for(author)
        if person:
            return person.name
        return author.name or author.handle or "Unknown"

    def picture_of(self, author: Author) -> str | None:
        """Where ``author``'s picture is in this tree (it goes with their profile), or None."""
        person = self.person_for(author)
        if person is None or not person.picture or person.handle not in self.listed:
            return None
        return urls.picture(person.handle, person.picture)

    def initials(self, author: Author) -> str:
        """Up to two letters for ``author``, shown beside their name in a thread: first and last name's."""
        words = [w for w in self.author_name(author).split() if w[0].isalnum()]
        return (words[0][0] + (words[-1][0] if len(words) > 1 else "")).upper() if words else "?"

    @staticmethod
    def changed_subject(post: Post, topic: Topic) -> bool:
        """Whether a reply's subject says something of its own: not the topic's title again, whatever
        ``Re:``, ``AW:``, ``Sv:``, list tags, case or a typo a mail client or its sender added."""
        return bool(post.subject) and not names_title(post.subject, topic.title)

    def reactions(self, post: Post) -> list[tuple[str, str, list[str]]]:
        """(symbol, reaction, names of the people) of each reaction under ``post``, in the order of REACTIONS."""
        names: dict[str, list[str]] = {}
        for handle, reaction in post.reactions:
            person = self.intranet.people.get(handle)
            names.setdefault(reaction, []).append(person.name if person else handle)
        return [
            (symbol, reaction, sorted(names[reaction])) for reaction, symbol in REACTIONS.items() if reaction in names
        ]

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
        return template_env().get_template(template).render(site=self, url=self.link(here), here=here, **context)

    def communities_by_name(self) -> list[Community]:
        return sorted(self.intranet.communities.values(), key=lambda c: c.name.lower())


def _parents_first(posts: list[Post]) -> list[Post] | None:
    """``posts`` in an order where each comes after the others of them it answers (or names as its
    topic): an editor's commit of a topic with its replies is threaded a post at a time. None if
    they answer each other in a circle."""
    by_id = {p.message_id: p for p in posts}
    ordered: list[Post] = []
    placed: set[str] = set()
    waiting = sorted(posts, key=lambda p: (p.date, p.relpath))
    while waiting:
        ready = [
            p
            for p in waiting
            if all(i in placed for i in (p.in_reply_to, p.topic) if i and i in by_id and i != p.message_id)
        ]
        if not ready:
            return None
        ordered += ready
        placed.update(p.message_id for p in ready)
        waiting = [p for p in waiting if p.message_id not in placed]
    return ordered
