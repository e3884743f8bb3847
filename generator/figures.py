"""Each community's health figures in one tree, worked out once and kept until they change.

:class:`Figures` belongs to a :class:`~generator.site_model.Site`, which tells it when a
community's posts or the people changed (:meth:`Figures.forget`). Figures are as of the end of
the day of the tree's latest post (:func:`intranet.health.site_as_of`): taken from the content,
so a full build and any run of updates agree; when that day moves on, every community's
figures are worked out again (once a day at most).
"""

from __future__ import annotations

import datetime as dt

from intranet.health import Authors, Health, community_health, site_as_of

from .orders import TopicOrder


class Figures:
    def __init__(self) -> None:
        self._kept: dict[str, Health] = {}  # community -> its figures (as of the day they were made for)

    def forget(self, slug: str | None = None) -> None:
        """Community ``slug``'s posts changed (None: people did, which counts in every community)."""
        if slug is None:
            self._kept.clear()
        else:
            self._kept.pop(slug, None)

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
        found = self._kept.get(slug)
        if found is None or found.as_of != now:
            order = orders.get(slug)
            found = community_health(slug, order.latest if order else [], authors, now, tz)
            self._kept[slug] = found
        return found
