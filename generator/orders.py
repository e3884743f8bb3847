"""Topics and posts kept in the orders pages list them in, updated in place (pure).

A community's or a tag's pages list topics in two orders: the latest
activity first (its main page) and by the date they started (its archive,
page 1 holding the oldest). :class:`TopicOrder` keeps both sorted as topics
come, go or are threaded again, each step a binary search and one list
insertion, so an update never sorts a whole community. It notes where in the
archive order topics came, went or were replaced since it was last asked
(:meth:`TopicOrder.take`), which is all :func:`archive_changes` needs to tell
the archive pages an update must render again.

:class:`PostOrder` keeps one person's posts, newest first, for their profile.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from intranet.format import Post
from intranet.threads import Topic


def activity_key(topic: Topic) -> tuple[dt.datetime, str, str]:
    """The main page's order, latest activity first (the order of :func:`intranet.threads.build_topics`)."""
    return (topic.last_activity, topic.root.message_id, topic.community)


def start_key(topic: Topic) -> tuple[dt.datetime, str, str]:
    """The archive's order: by the date topics started."""
    return (topic.root.date, topic.root.message_id, topic.key)


def archive_pages(count: int, per_page: int) -> int:
    """Pages of the archive of ``count`` topics: none while the first page shows them all."""
    return 0 if count <= per_page else math.ceil(count / per_page)


class _Reversed:
    """A sort key compared the other way round: bisection in a list sorted in descending order."""

    __slots__ = ("key",)

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Reversed) -> bool:
        return bool(other.key < self.key)


def _newest(topic: Topic) -> _Reversed:
    return _Reversed(activity_key(topic))


class TopicOrder:
    """A set of topics, latest activity first (``latest``) and by start (``started``)."""

    __slots__ = ("latest", "started", "before", "shifted", "replaced")

    def __init__(self, topics: Iterable[Topic] = ()) -> None:
        self.latest: list[Topic] = sorted(topics, key=activity_key, reverse=True)
        self.started: list[Topic] = sorted(self.latest, key=start_key)
        self.before = len(self.latest)  # topics at the last take()
        self.shifted: int | None = None  # lowest place in ``started`` where a topic came or went since take()
        self.replaced: set[int] = set()  # places in ``started`` whose topic was replaced since take()

    def __len__(self) -> int:
        return len(self.latest)

    def take(self) -> tuple[int, int | None, set[int]]:
        """What changed since the last call: topics then, lowest place that shifted, places replaced."""
        taken = (self.before, self.shifted, self.replaced)
        self.before, self.shifted, self.replaced = len(self.latest), None, set()
        return taken

    def add(self, topic: Topic) -> None:
        self.latest.insert(bisect.bisect_left(self.latest, _newest(topic), key=_newest), topic)
        place = bisect.bisect_left(self.started, start_key(topic), key=start_key)
        self.started.insert(place, topic)
        self._shift(place)

    def remove(self, topic: Topic) -> None:
        del self.latest[self._find(self.latest, topic, _newest(topic), _newest)]
        place = self._find(self.started, topic, start_key(topic), start_key)
        del self.started[place]
        self._shift(place)

    def replace(self, old: Topic, new: Topic) -> None:
        """``new`` in place of ``old``: the same topic threaded again (its start may differ)."""
        if start_key(old) != start_key(new):
            self.remove(old)
            self.add(new)
            return
        del self.latest[self._find(self.latest, old, _newest(old), _newest)]
        self.latest.insert(bisect.bisect_left(self.latest, _newest(new), key=_newest), new)
        place = self._find(self.started, old, start_key(old), start_key)
        self.started[place] = new
        self.replaced.add(place)

    def place(self, topic: Topic) -> int:
        """Where ``topic`` is in ``started``."""
        return self._find(self.started, topic, start_key(topic), start_key)

    def _shift(self, place: int) -> None:
        self.shifted = place if self.shifted is None else min(self.shifted, place)

    @staticmethod
    def _find(items: list[Topic], topic: Topic, key: Any, by: Any) -> int:
        place = bisect.bisect_left(items, key, key=by)
        if place < len(items) and items[place] is topic:
            return place
        return next(i for i, t in enumerate(items) if t is topic)  # not where its key says: look everywhere


def archive_changes(order: TopicOrder, per_page: int) -> tuple[set[int], list[int]]:
    """Archive pages to render again, and pages gone, after the changes since ``order.take()`` (which it calls).

    An archive page shows its topics and links to the next newer page when there is one: a topic
    that came or went moves every newer topic (the pages from its own on), a topic threaded again
    changes its page, and a page that gained or lost its newer neighbour changes too.
    """
    before, shifted, replaced = order.take()
    pages_before, pages_after = archive_pages(before, per_page), archive_pages(len(order), per_page)
    gone = list(range(pages_after + 1, pages_before + 1))
    if pages_after == 0:
        return set(), gone
    if pages_before == 0:
        return set(range(1, pages_after + 1)), gone
    again = {place // per_page + 1 for place in replaced}
    if shifted is not None:
        again.update(range(shifted // per_page + 1, pages_after + 1))
    if pages_before != pages_after:
        again.add(min(pages_before, pages_after))
    return {n for n in again if 1 <= n <= pages_after}, gone


def _post_key(post: Post) -> tuple[dt.datetime, str]:
    return (post.date, post.relpath)


class PostOrder:
    """One person's posts, oldest first, with how many are in each community."""

    __slots__ = ("posts", "counts")

    def __init__(self, posts: Iterable[Post] = ()) -> None:
        self.posts: list[Post] = sorted(posts, key=_post_key)
        self.counts: Counter[str] = Counter(p.community for p in self.posts)

    def __len__(self) -> int:
        return len(self.posts)

    def add(self, post: Post) -> None:
        bisect.insort(self.posts, post, key=_post_key)
        self.counts[post.community] += 1

    def remove(self, post: Post) -> None:
        place = bisect.bisect_left(self.posts, _post_key(post), key=_post_key)
        if place < len(self.posts) and self.posts[place] is post:
            del self.posts[place]
        else:
            self.posts.remove(post)
        self.counts[post.community] -= 1
        if not self.counts[post.community]:
            del self.counts[post.community]

    def newest(self, count: int) -> list[Post]:
        return self.posts[: -count - 1 : -1] if count > 0 else []
