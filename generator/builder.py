"""Build the site trees, and keep them up to date one change at a time.

:class:`Builder` owns what a build knows: the content read from the root,
and for each audience's tree its :class:`~generator.site_model.Site` (topics,
tags, people), its :class:`~generator.mkdocs_adapter.TreeRenderer`, its
search index and the digest of every file it wrote.

- :meth:`Builder.build` renders every page of every tree into a staging
  folder beside the site, on both cores (the pages are split between this
  process and a forked one), and swaps the whole folder in at once.
- :meth:`Builder.update` takes the paths that changed. New or edited posts
  (what the gateway writes) re-thread only the topics they are in and
  re-plan only the pages that show them: their topics, the archive pages of
  their community and tags where topics came, went or changed, the authors'
  profiles, the home page, feeds, search shards, the sitemap's file that
  lists them. Nothing on that path looks at every topic, so an update costs
  the same in a small intranet and a big one. Edits of ``people/`` and
  ``community.yml`` re-plan the pages that show that person or community
  (:mod:`generator.structure`). Each page is rendered by the same code as a
  full build; only files whose bytes differ are replaced, each atomically.
  Editors' pages, ``mkdocs.yml``, edits that change which trees there are
  or what they show, and thousands of posts at once are a full build.

So a tree after any number of updates is byte for byte the tree a full build
makes of the same content (``tests/test_incremental.py``).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from intranet.addresses import load_secret
from intranet.format import COMMUNITIES, PAGES_DIR, PEOPLE, SUBSCRIBERS_FILE, Intranet, Post
from intranet.model import Change, Model
from intranet.settings import Settings

from .audiences import listed_people, plan_trees, view_of
from .incremental import Pair, update_tree
from .mkdocs_adapter import BuildError, TreeRenderer, read_settings_of, swap_in
from .output import access_files, write_access, write_atomic, write_new
from .plans import (
    SitePlan,
    plan_community,
    plan_frame,
    plan_home,
    plan_people,
    plan_tags,
    plan_topic,
)
from .site_model import Site
from .structure import edit_tree, read_edit
from .treestate import Output, TreeState, finish_tree, merge, write_plan

__all__ = ["BuildError", "BuildResult", "Builder", "build_site"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
FULL_BUILD_ABOVE = 500  # changed posts in one update above which a full build is cheaper


@dataclass
class BuildResult:
    site_dir: Path
    counts: dict[str, int]  # of the whole intranet
    pages: int  # written, over all trees
    seconds: float
    problems: list[str]
    trees: list[str]  # names of the trees built


class Builder:
    """Builds the trees from the process's model and keeps them up to date with its changes.

    ``posts`` holds the posts (the model's own objects) as the trees show them now: the model may
    already be ahead, by changes the builder has not applied yet.
    """

    def __init__(self, root: Path | str, site_dir: Path | str | None = None, model: Model | None = None) -> None:
        self.root = Path(root).resolve()
        self.site_dir = Path(site_dir).resolve() if site_dir else self.root / "site"
        self.model = model if model is not None else Model(self.root)
        self.seq = -1  # the model's change the trees show
        self.states: list[TreeState] = []
        self.posts: dict[str, dict[str, Post]] = {}  # community -> relpath -> post
        self.intranet: Intranet | None = None
        self.settings: Settings | None = None
        self.problems: list[str] = []
        self._docs_dir = Path(tempfile.mkdtemp(prefix="intranet-nodocs-"))  # MkDocs' docs_dir: always empty

    def close(self) -> None:
        shutil.rmtree(self._docs_dir, ignore_errors=True)

    # -- full builds -----------------------------------------------------------

    def build(self, audience: str | None = None, progress: ProgressCallback | None = None) -> BuildResult:
        """Build every tree (or only ``audience``'s) into a staging folder and swap it in."""
        started = time.monotonic()
        staging = self.site_dir.parent / f".{self.site_dir.name}.building-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        settings, directory_urls = read_settings_of(self.root, self._docs_dir)
        if not self.model.loaded:
            self.model.load()
        intranet, seq = self.model.snapshot()
        problems = [str(p) for p in intranet.problems]
        for problem in problems:
            log.warning("content problem: %s", problem)
        trees = plan_trees(intranet)
        if audience is not None:
            trees = [t for t in trees if t.name == audience]
            if not trees:
                known = ", ".join(t.name for t in plan_trees(intranet))
                raise BuildError(f"no audience {audience!r}; this intranet's trees are: {known}")
        secret = load_secret(self.root / settings.state_dir)
        states = []
        for tree in trees:
            view = view_of(intranet, tree)
            listed = listed_people(view, tree, settings.guest_directory)
            profiles = "names" if tree.guest and settings.guest_directory == "names" else "full"
            site = Site(view, settings, secret, directory_urls, listed, profiles)
            frame = SitePlan()
            plan_frame(site, frame)
            states.append(TreeState(tree, site, TreeRenderer(self.root, frame, self._docs_dir), staging / tree.name))
        try:
            total = self._render_all(states, progress)
            for state in states:
                finish_tree(state, write=write_new)
            if audience is None:
                write_access(staging, intranet, trees)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if audience is None:
            swap_in(staging, self.site_dir)
        else:
            self.site_dir.mkdir(parents=True, exist_ok=True)
            swap_in(staging / audience, self.site_dir / audience)
            shutil.rmtree(staging, ignore_errors=True)
        for state in states:
            state.out = self.site_dir / state.tree.name
        self.states, self.intranet, self.settings, self.problems = states, intranet, settings, problems
        self.seq = seq
        self.posts = {slug: {} for slug in intranet.communities}
        for post in intranet.posts:
            self.posts.setdefault(post.community, {})[post.relpath] = post
        topics: dict[str, int] = {}
        for state in states:
            topics.update({slug: len(ts) for slug, ts in state.site.topics.items()})
        counts = {
            "communities": len(intranet.communities),
            "topics": sum(topics.values()),
            "posts": len(intranet.posts),
            "people": len(intranet.people),
        }
        return BuildResult(self.site_dir, counts, total, time.monotonic() - started, problems, [t.name for t in trees])

    def _render_all(self, states: list[TreeState], progress: ProgressCallback | None) -> int:
        """Render every generated page of every tree, on both cores when this process may fork."""
        units: list[tuple[str, str, int]] = []
        slugs = sorted({slug for state in states for slug in state.tree.communities})
        for slug in slugs:
            units.append(("community", slug, 0))
            count = max((len(s.site.topics.get(slug, [])) for s in states if slug in s.tree.communities), default=0)
            units += [("topic", slug, i) for i in range(count)]
        units += [("people", "", 0), ("tags", "", 0), ("home", "", 0)]
        workers = 2 if (os.cpu_count() or 1) > 1 and threading.active_count() == 1 and len(units) > 50 else 1
        total = len(units)
        if workers == 1:
            output = self._render_units(states, units, progress, total)
            merge(states, [output])
            return output.count
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the other share: render, report what was written, leave without cleanup
            status = 1
            try:
                os.close(read_end)
                result = self._render_units(states, units[1::2], None, total)
                with os.fdopen(write_end, "wb") as pipe:
                    pickle.dump(result, pipe, protocol=pickle.HIGHEST_PROTOCOL)
                status = 0
            except BaseException:
                log.exception("build worker failed")
            finally:
                os._exit(status)
        os.close(write_end)
        try:
            mine = self._render_units(states, units[0::2], progress, total)
        except BaseException:
            os.close(read_end)
            os.waitpid(pid, 0)
            raise
        with os.fdopen(read_end, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        if status != 0 or not data:
            raise BuildError("the second build process failed (see the log above)")
        theirs: Output = pickle.loads(data)  # noqa: S301 - our own child's output
        merge(states, [mine, theirs])
        return mine.count + theirs.count

    def _render_units(
        self, states: list[TreeState], units: list[tuple[str, str, int]], progress: ProgressCallback | None, total: int
    ) -> Output:
        output = Output()
        for number, (kind, slug, index) in enumerate(units, start=1):
            for state in states:
                site = state.site
                plan = SitePlan()
                if kind == "community":
                    if slug not in state.tree.communities:
                        continue
                    plan_community(site, plan, site.intranet.communities[slug])
                elif kind == "topic":
                    topics = site.topics.get(slug, []) if slug in state.tree.communities else []
                    if index >= len(topics):
                        continue
                    plan_topic(site, plan, site.intranet.communities[slug], topics[index])
                elif kind == "people":
                    plan_people(site, plan)
                elif kind == "tags":
                    plan_tags(site, plan)
                else:
                    plan_home(site, plan)
                write_plan(state, plan, output, write_new)
            if progress is not None:
                progress(number * 2 if total != len(units) else number, total)
        return output

    # -- updates -----------------------------------------------------------------

    def update(self, paths: Iterable[str]) -> str:
        """The model reads ``paths`` (relative to the root) again; the trees follow (see :meth:`apply`)."""
        return self.apply(self.model.apply(paths))

    def apply(self, change: Change) -> str:
        """Bring the trees up to date with one change of the model.

        Returns what was done: ``"nothing"``, ``"updated"`` or ``"rebuilt"``. A change the trees
        already show (older than the snapshot of the last full build) is skipped. If anything fails
        the builder forgets its trees, so the next change, or :meth:`build`, starts from a full build:
        a post is never left off the site because a failed update already counted it as seen.
        """
        if change.seq <= self.seq:
            return "nothing"
        if not self.states:
            self.build()
            return "rebuilt"
        try:
            return self._apply(change)
        except BaseException:
            self.states = []
            raise

    def _apply(self, change: Change) -> str:
        self.seq = change.seq
        edited = "nothing"
        if any(_shown(path) for path in change.structure):
            edited = self._edit([path for path in change.structure if _shown(path)])
            if edited == "rebuilt":
                return edited
        if change.post_count > FULL_BUILD_ABOVE:
            log.info("%d posts changed: full build", change.post_count)
            self.build()
            return "rebuilt"
        changed: dict[str, dict[str, Pair]] = {}  # community -> relpath -> (old post, new post)
        for slug, pairs in sorted(change.posts.items()):
            if slug not in self.posts:
                continue
            for relpath, (_, post) in sorted(pairs.items()):
                old = self.posts[slug].get(relpath)
                if post is None and old is None:
                    continue
                if post is not None and old is not None and _same_post(post, old) and relpath not in change.forced:
                    continue
                if post is None:
                    del self.posts[slug][relpath]
                else:
                    self.posts[slug][relpath] = post
                changed.setdefault(slug, {})[relpath] = (old, post)
        if not changed:
            return edited
        for state in self.states:
            if not changed.keys() & state.tree.communities:
                continue
            shown = {s: r for s, r in changed.items() if s in state.tree.communities}
            if not update_tree(state, shown, self._posts_of):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.build()
                return "rebuilt"
        return "updated"

    def _edit(self, paths: list[str]) -> str:
        """People or communities' settings changed: render again only what shows them, where it can be done.

        ``mkdocs.yml``, editors' pages, and edits that change which trees there are or what they show
        make a full build (see :mod:`generator.structure`).
        """
        whole = next((p for p in paths if _frame(p)), None)
        if whole is not None:
            log.info("%s changed: full build", whole or "the intranet")
            self.build()
            return "rebuilt"
        assert self.intranet is not None and self.settings is not None
        with self.model.lock:
            edit = read_edit(self.intranet.people, self.intranet.communities, self.model.people, self.model.communities)
        if not edit:
            return "nothing"
        trees = plan_trees(replace(self.intranet, communities=edit.communities, people=edit.people))
        if edit.frame or {t.name: t for t in trees} != {s.tree.name: s.tree for s in self.states}:
            log.info("%s: the trees change: full build", ", ".join(sorted(edit.handles | set(edit.slugs))))
            self.build()
            return "rebuilt"
        before = dict(self.intranet.people)
        _refill(self.intranet.people, edit.people)
        _refill(self.intranet.communities, edit.communities)
        for state in self.states:
            if not edit_tree(state, edit, before, self.settings.guest_directory, self._docs_dir):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.build()
                return "rebuilt"
        for name, data in access_files(self.intranet, trees).items():
            write_atomic(self.site_dir, name, data, None)
        log.info("updated the pages showing %s", ", ".join(sorted(edit.handles | set(edit.slugs))))
        return "updated"

    def _posts_of(self, slug: str) -> list[Post]:
        """The posts of community ``slug`` as the trees show them, in path order (for threading it again)."""
        return [p for _, p in sorted(self.posts.get(slug, {}).items())]


def _shown(path: str) -> bool:
    """Whether a change to ``path`` (not a post) changes what the site shows: all but who gets mail."""
    return not path.endswith(f"/{SUBSCRIBERS_FILE}")


def _frame(path: str) -> bool:
    """Whether a change to ``path`` changes the settings or the frame of every page: a full build."""
    parts = path.split("/")
    if parts[0] == COMMUNITIES:
        return len(parts) > 2 and parts[2] == PAGES_DIR
    return parts[0] != PEOPLE


def _refill(mapping: dict[str, Any], new: dict[str, Any]) -> None:
    """``mapping`` holds what ``new`` holds, in its order (the dict object stays: every tree's view shares it)."""
    mapping.clear()
    mapping.update(new)


def _same_post(a: Post, b: Post) -> bool:
    return a.to_text() == b.to_text()


def build_site(
    root: Path | str,
    site_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    audience: str | None = None,
) -> BuildResult:
    """One full build of ``root`` into ``site_dir`` (default ``ROOT/site``)."""
    builder = Builder(root, site_dir)
    try:
        return builder.build(audience, progress)
    finally:
        builder.close()
