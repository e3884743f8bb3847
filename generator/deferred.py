"""Topic pages an edit of ``people/`` left to render again, a few at a time, behind new mail.

A person's new name is on every topic they posted in: hundreds of pages in each tree of a large
intranet, seconds of rendering. :mod:`generator.structure` renders the rest of such an edit at
once (profiles, the directory, lists, the home page) and leaves the topic pages here; the updater
renders :data:`PART` of them between the posts that keep coming in (see
:class:`generator.serve.Rebuilder`), so new mail never waits behind them.

Each page is named by its topic's first post and looked up again when its turn comes: a topic a
newer update threaded again is rendered as it is now, one that went is skipped. A page is
rendered from the tree's current state, which already has the edit, so the result is what a full
build would write. A full build that lands, or an update that fails, drops what is left here (the
trees it was for are gone).
"""

from __future__ import annotations

from intranet import urls

from .incremental import Redo, write_redo
from .treestate import TreeState

PART = 20  # topic pages rendered at a time


class Deferred:
    """Topic pages to render again, per tree (see the module's docstring)."""

    def __init__(self, part: int = PART) -> None:
        self.part = part
        self._waiting: list[tuple[TreeState, str]] = []  # (tree, relpath of the topic's first post)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, state: TreeState, redo: Redo, now: int) -> None:
        """Keep all but ``now`` of ``redo``'s topic pages for later (``redo`` keeps the first ``now``)."""
        uris = sorted(redo.topics)
        for uri in uris[now:]:
            self._waiting.append((state, redo.topics.pop(uri).root.relpath))

    def clear(self) -> None:
        self._waiting.clear()

    def render(self, live: list[TreeState]) -> int:
        """Render the next :data:`PART` waiting pages into their trees, if ``live``; how many were rendered."""
        trees = {id(state) for state in live}
        self._waiting = [(state, relpath) for state, relpath in self._waiting if id(state) in trees]
        taken, self._waiting = self._waiting[: self.part], self._waiting[self.part :]
        by_state: dict[int, tuple[TreeState, Redo]] = {}
        for state, relpath in taken:
            topic = state.site.topic_of.get(relpath)
            if topic is None:  # deleted, or no longer a post of this tree
                continue
            _, redo = by_state.setdefault(id(state), (state, Redo()))
            redo.topics[urls.topic(topic.community, topic.key)] = topic
        for state, redo in by_state.values():
            write_redo(state, redo)
        return sum(len(redo.topics) for _, redo in by_state.values())
