"""Group posts into topics and order each topic as a thread (pure)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property

from .format import Author, Post


@dataclass
class Entry:
    """A post in its place in a thread."""

    post: Post
    depth: int
    parent: Post | None


@dataclass
class Topic:
    community: str
    root: Post
    entries: list[Entry] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.root.subject or "(no subject)"

    # A topic is threaded once and not changed afterwards (a change threads it again), so what is
    # derived from its root and entries is worked out once.

    @cached_property
    def key(self) -> str:
        """Stable short name of the topic; its page is ``c/<community>/t/<key>/``."""
        return self.root.key[:12]

    @cached_property
    def posts(self) -> list[Post]:
        return [e.post for e in self.entries]

    @property
    def reply_count(self) -> int:
        return len(self.entries) - 1

    @cached_property
    def last(self) -> Post:
        return max((e.post for e in self.entries), key=lambda p: p.date)

    @property
    def last_activity(self) -> dt.datetime:
        return self.last.date

    @property
    def last_poster(self) -> Author:
        return self.last.author

    @cached_property
    def answer(self) -> Post | None:
        """The reply its first post names as the accepted answer (``accepted``), if it is one of its replies."""
        wanted = self.root.accepted
        return next((p for p in self.posts[1:] if p.message_id == wanted), None) if wanted else None

    @cached_property
    def question(self) -> bool:
        """Asked as a question: its title ends with a question mark, or it is tagged ``question``.

        There is no "question" kind of post to choose in a mail client; people ask as they write."""
        return self.title.rstrip().endswith(("?", "？")) or "question" in self.tags

    @cached_property
    def tags(self) -> list[str]:
        seen: dict[str, None] = {}
        for entry in self.entries:
            for tag in entry.post.tags:
                seen.setdefault(tag, None)
        return list(seen)


def build_topics(posts: list[Post]) -> dict[str, list[Topic]]:
    """Return each community's topics, most recently active first.

    A post belongs to the topic its ``topic`` field names when that post is
    in the same community; otherwise it follows ``in_reply_to`` upwards; a
    post whose parents are all unknown starts a topic of its own. Threads
    never cross communities.
    """
    by_community: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        by_community[post.community].append(post)
    result: dict[str, list[Topic]] = {}
    for community, items in by_community.items():
        topics = _thread_community(community, items)
        topics.sort(key=lambda t: (t.last_activity, t.root.message_id), reverse=True)
        result[community] = topics
    return result


def _thread_community(community: str, posts: list[Post]) -> list[Topic]:
    by_id: dict[str, Post] = {}
    for post in sorted(posts, key=lambda p: (p.date, p.relpath)):
        by_id.setdefault(post.message_id, post)

    def find_root(post: Post) -> Post:
        if post.topic and post.topic != post.message_id and post.topic in by_id:
            return by_id[post.topic]
        chain = [post]
        seen = {post.message_id}
        current = post
        while current.in_reply_to and current.in_reply_to in by_id and current.topic != current.message_id:
            if current.in_reply_to in seen:
                # A reply cycle: every post on it agrees on its earliest one.
                start = next(i for i, p in enumerate(chain) if p.message_id == current.in_reply_to)
                return min(chain[start:], key=lambda p: (p.date, p.relpath))
            current = by_id[current.in_reply_to]
            seen.add(current.message_id)
            chain.append(current)
        return current

    members: dict[str, list[Post]] = defaultdict(list)
    roots: dict[str, Post] = {}
    for post in posts:
        root = find_root(post)
        roots[root.message_id] = root
        members[root.message_id].append(post)

    topics = []
    for root_id, root in roots.items():
        topic = Topic(community=community, root=root)
        topic.entries = _thread_order(root, members[root_id])
        for entry in topic.entries:
            if not entry.post.subject or "subject" in entry.post.derived:  # derived again: the title may change
                entry.post.subject = f"Re: {topic.title}"
        topics.append(topic)
    return topics


def _thread_order(root: Post, posts: list[Post]) -> list[Entry]:
    """Depth-first from the root, siblings by date; strays hang off the root."""
    ids = {p.message_id for p in posts}
    children: dict[str, list[Post]] = defaultdict(list)
    for post in posts:
        if post is root:
            continue
        known = post.in_reply_to in ids and post.in_reply_to != post.message_id
        children[post.in_reply_to if known and post.in_reply_to else root.message_id].append(post)
    for items in children.values():
        items.sort(key=lambda p: (p.date, p.relpath))
    by_id = {p.message_id: p for p in posts}
    order: list[Entry] = []
    placed: set[int] = set()
    stack: list[tuple[Post, int, Post | None]] = [(root, 0, None)]
    while stack:
        current, depth, above = stack.pop()
        if id(current) in placed:
            continue
        placed.add(id(current))
        order.append(Entry(post=current, depth=depth, parent=above))
        for child in reversed(children.get(current.message_id, [])):
            stack.append((child, depth + 1, current))
    # Anything unreachable (a reply cycle) still appears, after the rest.
    for post in sorted(posts, key=lambda p: (p.date, p.relpath)):
        if id(post) not in placed:
            placed.add(id(post))
            order.append(Entry(post=post, depth=1, parent=by_id.get(post.in_reply_to or "")))
    return order
