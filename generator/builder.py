"""Build the site trees, and keep them up to date one change at a time.

:class:`Builder` owns what a build knows: the content read from the root,
and for each audience's tree its :class:`~generator.site_model.Site` (topics,
tags, people), its :class:`~generator.mkdocs_adapter.TreeRenderer`, its
search index and the digest of every file it wrote.

- :meth:`Builder.build` renders every page of every tree into a staging
  folder beside the site, on both cores (the pages are split between this
  process and a forked one), and swaps the whole folder in at once. In
  ``intranet up`` (``background``) :meth:`Builder.rebuild` takes a snapshot
  in a thread and has it planned and rendered by a process of its own,
  started fresh (:mod:`generator.background`), while updates go on in the
  live trees; :meth:`Builder.land` applies the
  changes that came after its snapshot to it, then swaps it in.
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

import itertools
import logging
import os
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
from intranet.memory import release_free_memory, settle
from intranet.model import Change, Model, merged
from intranet.settings import Settings

from .audiences import plan_trees
from .background import BackgroundBuild, discard_later
from .buildjob import BuildJob, Staged, plan_state, state_of
from .codestamp import code_digest
from .deferred import Deferred
from .fullrender import render_all
from .handover import trees_of
from .incremental import Pair, update_tree
from .mkdocs_adapter import BuildError, read_settings_of, swap_in
from .output import access_files, write_access, write_atomic, write_new
from .structure import edit_tree, read_edit
from .treestate import TreeState, finish_tree, release

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
        self.seq = -1  # the newest of the model's changes the trees show
        self.covered = -1  # the model's change the last full build was a snapshot of: older ones are in it
        self.states: list[TreeState] = []
        self.posts: dict[str, dict[str, Post]] = {}  # community -> relpath -> post
        self.intranet: Intranet | None = None
        self.settings: Settings | None = None
        self.secret_dir: Path | None = None  # where the reply-address secret is (default: the root's state_dir)
        self.problems: list[str] = []
        self._docs_dir = Path(tempfile.mkdtemp(prefix="intranet-nodocs-"))  # MkDocs' docs_dir: always empty
        self.background = background  # full builds in a child process while updates go on (``intranet up``)
        self.running: BackgroundBuild | None = None
        self.defer = background  # a person's many topic pages: rendered a part at a time, behind new mail
        self.deferred = Deferred()
        self.on_built: Callable[[], None] = lambda: None  # called (in another thread) when one can be landed
        self.lock = threading.Lock()  # held while the trees change, and while a background build process starts
        self._discarding: list[threading.Thread] = []
        if background:
            code_digest()  # the code this process runs, before it can be replaced on disk (a build process checks)

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
        # One folder per build: a build started while another lands must not stage where it is.
        staging = self.site_dir.parent / f".{self.site_dir.name}.building-{os.getpid()}-{next(_BUILDS)}"
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
        secret = load_secret(self.secret_dir or self.root / settings.state_dir)
        return Staged(intranet, seq, settings, problems, trees, [], staging, audience, started, secret, directory_urls)

    def plan_states(self, staged: Staged) -> None:
        """Plan each tree of ``staged``: its topics, tags and people (:class:`Site`), and its frame."""
        staged.states += [plan_state(self.root, self._docs_dir, staged, tree) for tree in staged.trees]

    def render_staged(self, staged: Staged, progress: ProgressCallback | None = None) -> int:
        """The second half: every file of every planned tree, written into the staging folder."""
        total = render_all(self.site_dir, staged.states, progress)
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
        self.seq = self.covered = staged.seq
        self.posts = _posts_by_community(intranet)
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

    # -- updates -----------------------------------------------------------------

    def update(self, paths: Iterable[str]) -> str:
        """The model reads ``paths`` (relative to the root) again; the trees follow (see :meth:`apply`)."""
        return self.apply(self.model.apply(paths))

    def apply(self, change: Change) -> str:
        """Bring the trees up to date with one change of the model.

        Returns what was done: ``"nothing"``, ``"updated"``, ``"rebuilt"`` or (``background``)
        ``"rebuilding"``. A change the trees already show (as old as the snapshot of the last full
        build, or older) is skipped. Changes may come out of order (see :mod:`generator.backlog`),
        as long as no two applied out of order touch the same post. If anything fails the builder
        forgets its trees, so the next change, or :meth:`build`, starts from a full build: a post is
        never left off the site because a failed update already counted it as seen.
        """
        if change.seq <= self.covered:
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
        self.seq = max(self.seq, change.seq)
        edited = "nothing"
        structure = [path for path in change.structure if _shown(path)]
        if structure:
            edited = self._edit(structure)
            if edited not in ("updated", "nothing") and not self.background:
                return edited
        if change.post_count > self.full_build_above and self._differing(change) > self.full_build_above:
            log.info("%d posts changed: full build", change.post_count)
            return self.rebuild()
        return self._update_posts(change, edited)

    @property
    def full_build_above(self) -> int:
        """Changed posts above which a full build is cheaper than updating: a tenth of the posts shown, at
        least :data:`FULL_BUILD_ABOVE` (an update's cost follows the change, a full build's the intranet)."""
        return max(FULL_BUILD_ABOVE, sum(len(posts) for posts in self.posts.values()) // 10)

    def _differing(self, change: Change) -> int:
        """How many of ``change``'s posts differ from what the trees show (a change read twice: none)."""
        shown = self.posts
        return sum(
            1
            for slug, pairs in change.posts.items()
            for relpath, (_, post) in pairs.items()
            if post is None or (old := shown.get(slug, {}).get(relpath)) is None or not _same_post(post, old)
        )

    def _update_posts(self, change: Change, edited: str = "nothing") -> str:
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
            later = self.deferred if self.defer else None  # (in `intranet up`: what can wait, behind new mail)
            if not update_tree(state, shown, self._posts_of, later):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.states = []  # the trees are half updated: none is updated again before a full build
                return self.rebuild()
        return "updated"

    def _edit(self, paths: list[str]) -> str:
        """People or communities' settings changed: render again only what shows them, where it can be done.

        ``mkdocs.yml``, editors' pages, and edits that change which trees there are or what they show
        make a full build (see :mod:`generator.structure`).
        """
        whole = next((p for p in paths if _frame(p)), None)
        if whole is not None:
            log.info("%s changed: full build", whole or "the intranet")
            return self.rebuild()
        assert self.intranet is not None and self.settings is not None
        with self.model.lock:
            edit = read_edit(self.intranet.people, self.intranet.communities, self.model.people, self.model.communities)
        if not edit:
            return "nothing"
        trees = plan_trees(replace(self.intranet, communities=edit.communities, people=edit.people))
        if edit.frame or {t.name: t for t in trees} != {s.tree.name: s.tree for s in self.states}:
            log.info("%s: the trees change: full build", ", ".join(sorted(edit.handles | set(edit.slugs))))
            return self.rebuild()
        before = dict(self.intranet.people)
        _refill(self.intranet.people, edit.people)
        _refill(self.intranet.communities, edit.communities)
        for state in self.states:
            if not edit_tree(state, edit, before, self.settings.guest_directory, self.deferred if self.defer else None):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.states = []  # the trees are half updated: none is updated again before a full build
                return self.rebuild()
        for name, data in access_files(self.intranet, trees).items():
            write_atomic(self.site_dir, name, data, None)
        log.info("updated the pages showing %s", ", ".join(sorted(edit.handles | set(edit.slugs))))
        return "updated"

    def render_deferred(self) -> int:
        """Render a part of the topic pages an edit of people left (see :mod:`generator.deferred`)."""
        with self.lock:
            try:
                return self.deferred.render(self.states)
            except BaseException:
                self.states = []
                raise

    def _posts_of(self, slug: str) -> list[Post]:
        """The posts of community ``slug`` as the trees show them, in path order (for threading it again)."""
        return [p for _, p in sorted(self.posts.get(slug, {}).items())]

    # -- full builds in the background (``intranet up``) ------------------------------------

    def rebuild(self) -> str:
        """A full build: here and now, or (``background``) in a child process, unless one is running."""
        if not self.background:
            self.build()
            return "rebuilt"
        if self.running is None:
            self.running = BackgroundBuild(self.snapshot_build, self.job, self._adopt, self.lock, self.on_built)
            self.running.start()
        return "rebuilding"

    @property
    def landable(self) -> bool:
        """A background build is done: :meth:`land` it."""
        return self.running is not None and self.running.done

    def land(self) -> str:
        """Apply the changes that came after a background build's snapshot to its trees, then swap them in.

        The live trees are let go first and the new ones read in their place: the two are never held at
        once. Raises :class:`BuildError` if the build failed (the live trees stay). ``"rebuilding"`` if
        those changes need another full build first: until it lands there are no trees to update (new
        posts wait for it; the last site is served).
        """
        with self.lock:
            running, self.running = self.running, None
            assert running is not None
            landing = running.landing()
            if landing.error:
                landing.discard()
                raise BuildError(landing.error)
            for state in self.states:  # (each holds cycles: emptied, it is freed without a collection)
                release(state)
            self.states, self.posts = [], {}
            release_free_memory()
            try:
                staged = running.read_result().staged
                result = self._take(staged, landing.pages)
                self._catch_up(staged, [c for c in running.since if c.seq > staged.seq])
            except BaseException:
                self.states = []  # whatever it knew may be half done: the next change makes a full build
                landing.discard()
                raise
            if not self.states:  # what came after the snapshot needs another full build (started)
                landing.discard()
                return "rebuilding"
            swap_in(staged.staging, self.site_dir, discard=lambda old: self._discarding.append(discard_later(old)))
            for state in staged.states:
                state.out = self.site_dir / state.tree.name
            settle()  # the old trees' states hold cycles: free them now; the new ones live on
            log.info("full build landed after %.1f s: %s", time.monotonic() - running.started, summary_of(result))
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
        self.seq = max(self.seq, change.seq)

    def job(self, staged: Staged) -> BuildJob:
        """What the build process is given to plan and render ``staged`` (:mod:`generator.background`)."""
        return BuildJob(self.root, self.site_dir, self._docs_dir, staged)

    def _adopt(self, staged: Staged, parts: list[Any]) -> None:
        """In this process: the trees the build process planned and wrote, as states to land."""
        staged.states += self._states_of(trees_of(staged.trees, parts), staged.staging)

    def _states_of(self, trees: list[tuple[Any, ...]], folder: Path) -> list[TreeState]:
        states = []
        for tree, site, digests, pages, files, search, sitemap in trees:
            state = state_of(self.root, self._docs_dir, tree, site, folder)
            state.digests, state.pages, state.files, state.search = digests, pages, files, search
            state.sitemap = sitemap
            states.append(state)
        return states

    def install(self, shown: Intranet, settings: Settings, trees: list[tuple[Any, ...]]) -> None:
        """Trees written before (:mod:`generator.resume`), showing ``shown``: what this builder knows now."""
        self.states = self._states_of(trees, self.site_dir)
        self.intranet, self.settings, self.problems = shown, settings, [str(p) for p in shown.problems]
        self.posts = _posts_by_community(shown)
        self.seq = self.covered = -1

    @property
    def docs_dir(self) -> Path:
        return self._docs_dir


_BUILDS = itertools.count(1)  # this process's builds, for their staging folders


def summary_of(result: BuildResult) -> str:
    c = result.counts
    return f"{c['topics']} topics, {c['posts']} posts, {result.pages} pages in {len(result.trees)} trees"


def _posts_by_community(intranet: Intranet) -> dict[str, dict[str, Post]]:
    posts: dict[str, dict[str, Post]] = {slug: {} for slug in intranet.communities}
    for post in intranet.posts:
        posts.setdefault(post.community, {})[post.relpath] = post
    return posts


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
