"""Pages that wait behind new mail in ``intranet up``, rendered a few at a time between the posts
that keep coming in (see :class:`generator.serve.Rebuilder`).

- After an edit of ``people/``: a person's new name is on every topic they posted in, on the
  main pages, feeds and archive pages of the communities and tags that list them as a topic's
  last poster, and in every community's health figures: hundreds of pages in each tree of a large
  intranet, seconds of rendering (12 s at 10,000 topics, when all but the topic and archive pages
  were rendered at once). :mod:`generator.structure` renders the profiles, the directory and the
  home page at once and leaves the rest here (a main page as archive page 0).
- After an update (:func:`generator.incremental.update_tree`): the archive pages of communities
  and tags. Archives list topics by the date they started, oldest first, so a post an editor
  commits with an old date moves every newer topic, a page or two of a community and of each of
  its tags at a hundred topics, hundreds at ten thousand.
- When the day the health figures are as of moves on: every community's health page.

Each page is named by what it shows (a topic's first post, a community's or a tag's archive page
number) and planned again when its turn comes, from the tree's current state, which already has
the change: a topic a newer update threaded again is rendered as it is now, one that went is
skipped, an archive page lists what it lists now. The result is what a full build would write.
A full build that lands, or an update that fails, drops what is left here (the trees it was for
are gone); a clean stop renders what is left before the trees are saved.
"""

from __future__ import annotations

from collections.abc import Iterable

from intranet import urls

from .incremental import Redo, write_redo
from .treestate import TreeState

PART = 20  # pages rendered at a time


class Deferred:
    """Pages to render again, per tree (see the module's docstring)."""

    def __init__(self, part: int = PART) -> None:
        self.part = part
        self._waiting: list[tuple[TreeState, str, str, int]] = []  # (tree, kind, name, archive page)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, state: TreeState, redo: Redo, now: int) -> None:
        """Keep all but ``now`` of ``redo``'s topic pages, and its archive pages, for later."""
        for uri in sorted(redo.topics)[now:]:
            self._waiting.append((state, "topic", redo.topics.pop(uri).root.relpath, 0))
        for kind, numbers in (("community", redo.numbers), ("tag", redo.tag_numbers)):
            self._waiting += [(state, kind, name, n) for name in sorted(numbers) for n in sorted(numbers[name])]
            numbers.clear()

    def add_edit(self, state: TreeState, redo: Redo) -> None:
        """Keep what an edit of ``people/`` or a community leaves in ``redo`` for later, but for the profiles,
        the directory and the home page: its topic pages, the main pages (and feeds) of the communities
        and tags that list them (as archive page 0), their archive pages, and the health pages."""
        self.add(state, redo, now=0)
        self._waiting += [(state, "community", slug, 0) for slug in sorted(redo.communities)]
        self._waiting += [(state, "tag", tag, 0) for tag in sorted(redo.tags)]
        redo.communities.clear()
        redo.tags.clear()
        if redo.health:
            self.add_health(state)
            redo.health = False

    def add_health(self, state: TreeState) -> None:
        """Every community's health page in ``state``'s tree, for later (the day their figures are as of
        moved on: :func:`generator.incremental.update_tree`)."""
        if not any(item[0] is state and item[1] == "health" for item in self._waiting):
            self._waiting.append((state, "health", "", 0))

    def add_archive(self, state: TreeState, kind: str, name: str, numbers: Iterable[int]) -> None:
        """Archive pages of a community or a tag (``kind``) in ``state``'s tree, for later (an update in
        ``intranet up``: :func:`generator.incremental.update_tree`)."""
        waiting = {(item[1], item[2], item[3]) for item in self._waiting if item[0] is state}
        self._waiting += [(state, kind, name, n) for n in sorted(numbers) if (kind, name, n) not in waiting]

    def render(self, live: list[TreeState]) -> int:
        """Render the next :data:`PART` waiting pages into their trees, if ``live``; how many were planned."""
        trees = {id(state) for state in live}
        self._waiting = [item for item in self._waiting if id(item[0]) in trees]
        taken, self._waiting = self._waiting[: self.part], self._waiting[self.part :]
        by_state: dict[int, tuple[TreeState, Redo]] = {}
        count = 0
        for state, kind, name, number in taken:
            _, redo = by_state.setdefault(id(state), (state, Redo(pages_only=True)))
            if kind == "topic":
                topic = state.site.topic_of.get(name)
                if topic is None:  # deleted, or no longer a post of this tree
                    continue
                redo.topics[urls.topic(topic.community, topic.key)] = topic
            elif kind == "community" and name in state.site.orders:
                redo.numbers.setdefault(name, set()).add(number)
            elif kind == "tag" and name in state.site.tag_orders:
                redo.tag_numbers.setdefault(name, set()).add(number)
            elif kind == "health":
                redo.health = True
            else:
                continue
            count += 1
        for state, redo in by_state.values():
            write_redo(state, redo)
        return count
