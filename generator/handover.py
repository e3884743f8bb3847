"""What a full build's process hands over of each tree it built, and how the process that lands it
takes the trees back (see :mod:`generator.background`).

The build process plans, renders and hands over one tree at a time, and lets each go before the
next: it holds one tree's plan, not all of them (issue #14: 1 GB for the whole of ``intranet up``
at 100,000 posts). Each tree goes as :data:`PARTS`, each part a pickle of its own and let go once
written: a pickle remembers every object it wrote until it is done (for a tree's plan, some
hundred bytes an object), so the parts' memories are never held at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intranet.memory import release_free_memory

from . import posthtml
from .audiences import Tree
from .fullrender import render_all
from .mkdocs_adapter import BuildError
from .output import write_access, write_new
from .treestate import TreeState, finish_tree

log = logging.getLogger(__name__)

PARTS = ("digests", "pages", "files", "search", "sitemap", "site")  # in the order written: the plan, the biggest, last
SAVED = ("site", "digests", "pages", "files", "search", "sitemap")  # the order trees are saved in (generator.resume)


def render_trees(
    staged: Any, plan_state: Callable[[Tree], TreeState], site_dir: Path, emit: Callable[[Any], None]
) -> int:
    """In the build process: plan (``plan_state``), render and ``emit`` each tree of ``staged`` (a
    :class:`generator.builder.Staged`) in turn, then the access files; the pages written. Posts'
    HTML is kept on disk meanwhile (:mod:`generator.posthtml`): each is rendered once, not per tree."""
    store = posthtml.STORE = posthtml.HtmlStore(staged.staging.parent, f"{staged.staging.name}.html-")
    try:
        pages = _render_trees(staged, plan_state, site_dir, emit, store)
    finally:
        store.close()
        posthtml.STORE = None
    if staged.audience is None:
        write_access(staged.staging, staged.intranet, staged.trees)
    return pages


def _render_trees(
    staged: Any,
    plan_state: Callable[[Tree], TreeState],
    site_dir: Path,
    emit: Callable[[Any], None],
    store: posthtml.HtmlStore,
) -> int:
    pages = 0
    for tree in staged.trees:
        started = time.monotonic()
        state = plan_state(tree)
        planned = time.monotonic()
        count = render_all(site_dir, [state], None)
        store.settle()  # (its posts' HTML, for the next trees)
        finish_tree(state, write=write_new)
        rendered = time.monotonic()
        pages += count
        for name in PARTS:
            emit(getattr(state, name))
            if name == "site":
                state.site.release()  # (its cycles: frozen objects are never collected)
            setattr(state, name, None)
        release_free_memory()
        log.info(
            "full build: %s planned in %.1f s, %d pages rendered in %.1f s, handed over in %.1f s",
            tree.name,
            planned - started,
            count,
            rendered - planned,
            time.monotonic() - rendered,
        )
    return pages


def trees_of(trees: list[Tree], parts: list[Any]) -> list[tuple[Any, ...]]:
    """In the process that lands the build: ``parts`` as the build process wrote them, as one
    ``(tree, *parts)`` for each of ``trees``, the parts in :data:`SAVED` order."""
    size = len(PARTS)
    if len(parts) != size * len(trees):
        raise BuildError(f"the build process wrote {len(parts)} parts for {len(trees)} trees")
    found = []
    for n, tree in enumerate(trees):
        part = dict(zip(PARTS, parts[n * size : (n + 1) * size], strict=True))
        found.append((tree, *(part[name] for name in SAVED)))
    return found
