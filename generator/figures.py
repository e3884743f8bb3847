"""Each community's health figures in one tree, kept up to date topic by topic.

:class:`Figures` belongs to a :class:`~generator.site_model.Site`, which tells it which topics
came, went or were threaded again (:meth:`Figures.changed`) and when people changed
(:meth:`Figures.forget`). Figures are as of the end of the day of the tree's latest post
(:func:`intranet.health.site_as_of`): taken from the content, so a full build and any run of
updates agree. Within a day an update counts only the topics it changed
(:class:`intranet.health.Tally`); when the day moves on, every community is counted again
(once a day at most).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from intranet.health import Authors, Health, Tally, site_as_of, tally
from intranet.threads import Topic

from .orders import TopicOrder


class Figures:
    def __init__(self) -> None:
        self._tallies: dict[str, Tally] = {}  # community -> its tally (as of the day it was made for)
        self._health: dict[str, Health] = {}  # community -> its figures as the tally stands

    def forget(self, slug: str | None = None) -> None:
        """Count community ``slug`` again when asked (None: every one: people changed, who count in all)."""
        if slug is None:
            self._tallies.clear()
            self._health.clear()
        else:
            self._tallies.pop(slug, None)
            self._health.pop(slug, None)

    def changed(self, slug: str, pairs: Iterable[tuple[Topic | None, Topic | None]]) -> None:
        """Topics of community ``slug`` were replaced (old, new; either may be None)."""
        counted = self._tallies.get(slug)
        self._health.pop(slug, None)
        if counted is None:
            return
        for old, new in pairs:
            if old is not None:
                counted.remove(old)
            if new is not None:
                counted.add(new)

    @staticmethod
    def as_of(orders: dict[str, TopicOrder], tz: dt.tzinfo) -> dt.datetime | None:
        """What a tree's figures are as of (None: it shows no posts): ``orders`` are the topics of the
        communities it shows, and only they count."""
        latest = max((order.latest[0].last_activity for order in orders.values() if order), default=None)
        return site_as_of(latest, tz)

    def of(self, slug: str, orders: dict[str, TopicOrder], authors: Authors, tz: dt.tzinfo) -> Health | None:
        """Community ``slug``'s figures in the tree of ``orders`` (None: the tree shows no posts at all)."""
        now = self.as_of(orders, tz)
        if now is None:
            return None
        counted = self._tallies.get(slug)
        if counted is None or counted.now != now:
            order = orders.get(slug)
            counted = self._tallies[slug] = tally(slug, order.latest if order else [], authors, now, tz)
            self._health.pop(slug, None)
        found = self._health.get(slug)
        if found is None:
            found = self._health[slug] = counted.health()
        return found
