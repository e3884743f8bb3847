"""Build the site trees, and keep them up to date one change at a time.

:class:`Builder` owns what a build knows: the content read from the root,
and for each audience's tree its :class:`~generator.site_model.Site` (topics,
tags, people), its :class:`~generator.mkdocs_adapter.TreeRenderer`, its
search index and the digest of every file it wrote.

- :meth:`Builder.build` renders every page of every tree into a staging
  folder beside the site, on both cores (the pages are split between this
  process and a forked one), and swaps the whole folder in at once. In
  ``intranet up`` (``background``) :meth:`Builder.rebuild` plans it in a
  thread and renders it in a child process (:mod:`generator.background`)
  while updates go on in the live trees; :meth:`Builder.land` applies the
  changes that came after its snapshot to it, then swaps it in.
- :meth:`Builder.update` takes the paths that changed. New or edited posts
  (what the gateway writes) re-thread only their community and re-plan only
  the pages that show them: their topics, the community's pages whose topics
  moved, tag pages, the authors' profiles, the home page, feeds, search
  shards, sitemap. Each page is rendered by the same code as a full build;
  only files whose bytes differ are replaced, each atomically. Anything else
  (people, community settings, editors' pages, ``mkdocs.yml``, thousands of
  posts at once) is a full build.

So a tree after any number of updates is byte for byte the tree a full build
makes of the same content (``tests/test_incremental.py``).
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intranet.addresses import load_secret
from intranet.format import SUBSCRIBERS_FILE, Intranet, Post
from intranet.model import Change, Model
from intranet.settings import Settings

from .audiences import Tree, listed_people, plan_trees, view_of
from .background import BackgroundBuild, discard_later
from .incremental import Pair, update_tree
from .mkdocs_adapter import BuildError, TreeRenderer, read_settings_of, swap_in
from .output import write_access, write_new
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
from .treestate import Output, TreeState, finish_tree, merge, write_plan

__all__ = ["BuildError", "BuildResult", "Builder", "build_site", "merged"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
FULL_BUILD_ABOVE = 500  # changed posts in one update above which a full build is cheaper


@dataclass
class Staged:
    """A full build planned from one snapshot of the model, to be rendered into ``staging``."""

    intranet: Intranet
    seq: int  # the model's change the snapshot is as of
    settings: Settings
    problems: list[str]
    trees: list[Tree]
    states: list[TreeState]
    staging: Path
    audience: str | None
    started: float
    secret: bytes = b""
    directory_urls: bool = True


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

    def __init__(
        self,
        root: Path | str,
        site_dir: Path | str | None = None,
        model: Model | None = None,
        background: bool = False,
    ) -> None:
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
        self.background = background  # full builds in a child process while updates go on (``intranet up``)
        self.running: BackgroundBuild | None = None
        self.on_built: Callable[[], None] = lambda: None  # called (in another thread) when one can be landed
        self.lock = threading.Lock()  # held while the trees change, and while a background build forks
        self._discarding: list[threading.Thread] = []

    def close(self) -> None:
        """Stop a background build (its child and staging folder go) and remove what this builder left."""
        if self.running is not None:
            self.running.cancel()
            self.running = None
        for thread in self._discarding:  # an old tree being removed: what is left is removed at the next start
            thread.join(timeout=10)
        shutil.rmtree(self._docs_dir, ignore_errors=True)

    # -- full builds -----------------------------------------------------------

    def build(self, audience: str | None = None, progress: ProgressCallback | None = None) -> BuildResult:
        """Build every tree (or only ``audience``'s) into a staging folder and swap it in."""
        staged = self.plan_build(audience)
        try:
            pages = self.render_staged(staged, progress)
        except BaseException:
            shutil.rmtree(staged.staging, ignore_errors=True)
            raise
        if audience is None:
            swap_in(staged.staging, self.site_dir)
        else:
            self.site_dir.mkdir(parents=True, exist_ok=True)
            swap_in(staged.staging / audience, self.site_dir / audience)
            shutil.rmtree(staged.staging, ignore_errors=True)
        return self._take(staged, pages)

    def plan_build(self, audience: str | None = None) -> Staged:
        """The first half of a full build: a snapshot of the model, and the trees planned from it."""
        staged = self.snapshot_build(audience)
        self.plan_states(staged)
        return staged

    def snapshot_build(self, audience: str | None = None) -> Staged:
        """A snapshot of the model and the trees it makes, not planned yet (:meth:`plan_states`)."""
        started = time.monotonic()
        staging = self.site_dir.parent / f".{self.site_dir.name}.building-{os.getpid()}"
        if staging.exists():
            shutil.rmtree(staging)
        settings, directory_urls = read_settings_of(self.root, self._docs_dir)
        with self.model.lock:  # (another thread may be reading it: then this waits)
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
        return Staged(intranet, seq, settings, problems, trees, [], staging, audience, started, secret, directory_urls)

    def plan_states(self, staged: Staged) -> None:
        """Plan each tree of ``staged``: its topics, tags and people (:class:`Site`), and its frame."""
        settings = staged.settings
        for tree in staged.trees:
            view = view_of(staged.intranet, tree)
            listed = listed_people(view, tree, settings.guest_directory)
            profiles = "names" if tree.guest and settings.guest_directory == "names" else "full"
            site = Site(view, settings, staged.secret, staged.directory_urls, listed, profiles)
            staged.states.append(self._state_of(tree, site, staged.staging))

    def _state_of(self, tree: Tree, site: Site, staging: Path) -> TreeState:
        frame = SitePlan()
        plan_frame(site, frame)
        return TreeState(tree, site, TreeRenderer(self.root, frame, self._docs_dir), staging / tree.name)

    def render_staged(self, staged: Staged, progress: ProgressCallback | None = None) -> int:
        """The second half: every file of every planned tree, written into the staging folder."""
        total = self._render_all(staged.states, progress)
        for state in staged.states:
            finish_tree(state, write=write_new)
        if staged.audience is None:
            write_access(staged.staging, staged.intranet, staged.trees)
        return total

    def _take(self, staged: Staged, pages: int) -> BuildResult:
        """The trees are in the site now: what they show is what this builder knows."""
        intranet, states = staged.intranet, staged.states
        for state in states:
            state.out = self.site_dir / state.tree.name
        self.states, self.intranet, self.settings, self.problems = states, intranet, staged.settings, staged.problems
        self.seq = staged.seq
        self.posts = _posts_of(intranet)
        topics: dict[str, int] = {}
        for state in states:
            topics.update({slug: len(ts) for slug, ts in state.site.topics.items()})
        counts = {
            "communities": len(intranet.communities),
            "topics": sum(topics.values()),
            "posts": len(intranet.posts),
            "people": len(intranet.people),
        }
        seconds = time.monotonic() - staged.started
        return BuildResult(self.site_dir, counts, pages, seconds, staged.problems, [t.name for t in staged.trees])

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
        # The other share's result goes through a file: each process has exited, or is done, before the
        # other reads it, so the two never hold it at once.
        with tempfile.TemporaryFile(dir=self.site_dir.parent, prefix=f".{self.site_dir.name}.share-") as spill:
            pid = os.fork()
            if pid == 0:  # the other share: render, report what was written, leave without cleanup
                status = 1
                try:
                    result = self._render_units(states, units[1::2], None, total)
                    pickle.dump(result, spill, protocol=pickle.HIGHEST_PROTOCOL)
                    spill.flush()
                    status = 0
                except BaseException:
                    log.exception("build worker failed")
                finally:
                    os._exit(status)
            try:
                mine = self._render_units(states, units[0::2], progress, total)
            finally:
                _, status = os.waitpid(pid, 0)
            if status != 0:
                raise BuildError("the second build process failed (see the log above)")
            spill.seek(0)
            theirs: Output = pickle.load(spill)  # noqa: S301 - our own child's output
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

        Returns what was done: ``"nothing"``, ``"updated"``, ``"rebuilt"`` or (``background``)
        ``"rebuilding"``. A change the trees already show (older than the snapshot of the last full
        build) is skipped. If anything fails the builder forgets its trees, so the next change, or
        :meth:`build`, starts from a full build: a post is never left off the site because a failed
        update already counted it as seen.
        """
        if change.seq <= self.seq:
            return "nothing"
        with self.lock:
            if self.running is not None:
                self.running.since.append(change)
            if not self.states:
                return self.rebuild()
            try:
                return self._apply(change)
            except BaseException:
                self.states = []
                raise

    def _apply(self, change: Change) -> str:
        self.seq = change.seq
        shown = [path or "the intranet" for path in change.structure if _shown(path)]
        if shown or change.post_count > FULL_BUILD_ABOVE:
            log.info("%s changed: full build", ", ".join(shown[:3]) or f"{change.post_count} posts")
            done = self.rebuild()
            if not self.background or change.post_count > FULL_BUILD_ABOVE:
                return done
        return self._update_posts(change)

    def _update_posts(self, change: Change) -> str:
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
            return "nothing"
        for state in self.states:
            if not changed.keys() & state.tree.communities:
                continue
            shown = {s: r for s, r in changed.items() if s in state.tree.communities}
            if not update_tree(state, shown, self.posts):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.states = []  # the trees are half updated: none is updated again before a full build
                return self.rebuild()
        return "updated"

    # -- full builds in the background (``intranet up``) ------------------------------------

    def rebuild(self) -> str:
        """A full build: here and now, or (``background``) in a child process, unless one is running."""
        if not self.background:
            self.build()
            return "rebuilt"
        if self.running is None:
            self.running = BackgroundBuild(
                self.snapshot_build, self._render_in_child, self._adopt, self.lock, self.on_built
            )
            self.running.start()
        return "rebuilding"

    @property
    def landable(self) -> bool:
        """A background build is done: :meth:`land` it."""
        return self.running is not None and self.running.done

    def land(self) -> str:
        """Apply the changes that came after a background build's snapshot to its trees, then swap them in.

        Raises :class:`BuildError` if the build failed (the live trees stay). ``"rebuilding"`` if those
        changes need another full build before the trees could be swapped in (the live trees stay too).
        """
        with self.lock:
            running, self.running = self.running, None
            assert running is not None
            landing = running.landing()
            if landing.error:
                if landing.staged is not None:
                    shutil.rmtree(landing.staged.staging, ignore_errors=True)
                raise BuildError(landing.error)
            staged = landing.staged
            live = (self.states, self.posts, self.seq, self.intranet, self.settings, self.problems)
            result = self._take(staged, landing.pages)
            since = [c for c in running.since if c.seq > staged.seq]
            try:
                self._catch_up(staged, since)
            except BaseException:
                self.states, self.posts, self.seq, self.intranet, self.settings, self.problems = live
                shutil.rmtree(staged.staging, ignore_errors=True)
                raise
            if not self.states:  # what came after the snapshot needs another full build (started)
                self.states, self.posts, self.seq, self.intranet, self.settings, self.problems = live
                shutil.rmtree(staged.staging, ignore_errors=True)
                return "rebuilding"
            swap_in(staged.staging, self.site_dir, discard=lambda old: self._discarding.append(discard_later(old)))
            for state in staged.states:
                state.out = self.site_dir / state.tree.name
            del live
            gc.collect()  # the old trees' states hold cycles: free them now, before the next build
            log.info(
                "full build landed after %.1f s: %s; %d change(s) after its snapshot applied to it",
                time.monotonic() - running.started,
                summary_of(result),
                len(since),
            )
            return "rebuilt"

    def _catch_up(self, staged: Staged, since: list[Change]) -> None:
        """Apply ``since`` (the changes after ``staged``'s snapshot, all of them) to the staged trees."""
        if not since:
            return
        change = merged(since)
        for state in staged.states:
            state.out = staged.staging / state.tree.name
        if any(_shown(path) for path in change.structure):
            log.info("changed again while it was built: another full build")
            self.rebuild()
        self._update_posts(change)
        self.seq = change.seq

    def _render_in_child(self, staged: Staged) -> tuple[list[Any], int]:
        """In the build process: plan and render every tree; what this process needs of them."""
        self.plan_states(staged)
        pages = self.render_staged(staged)
        return [(s.site, s.digests, s.pages, s.files, s.search) for s in staged.states], pages

    def _adopt(self, staged: Staged, trees: list[Any]) -> None:
        """In this process: the trees the build process planned and wrote, as states to land."""
        for tree, (site, digests, pages, files, search) in zip(staged.trees, trees, strict=True):
            state = self._state_of(tree, site, staged.staging)
            state.digests, state.pages, state.files, state.search = digests, pages, files, search
            staged.states.append(state)


def merged(changes: list[Change]) -> Change:
    """Several changes of the model as one: each post's state before the first and after the last."""
    result = Change(max(c.seq for c in changes))
    for change in sorted(changes, key=lambda c: c.seq):
        for slug, pairs in change.posts.items():
            into = result.posts.setdefault(slug, {})
            for relpath, (before, after) in pairs.items():
                into[relpath] = (into[relpath][0] if relpath in into else before, after)
        result.forced |= change.forced
        result.structure += [p for p in change.structure if p not in result.structure]
    return result


def summary_of(result: BuildResult) -> str:
    c = result.counts
    return f"{c['topics']} topics, {c['posts']} posts, {result.pages} pages in {len(result.trees)} trees"


def _posts_of(intranet: Intranet) -> dict[str, dict[str, Post]]:
    posts: dict[str, dict[str, Post]] = {slug: {} for slug in intranet.communities}
    for post in intranet.posts:
        posts.setdefault(post.community, {})[post.relpath] = post
    return posts


def _shown(path: str) -> bool:
    """Whether a change to ``path`` (not a post) changes what the site shows: all but who gets mail."""
    return not path.endswith(f"/{SUBSCRIBERS_FILE}")


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
