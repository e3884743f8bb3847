"""Build the site trees, and keep them up to date one change at a time.

:class:`Builder` owns what a build knows: the content read from the root,
and for each audience's tree its :class:`~generator.pages.Site` (topics,
tags, people), its :class:`~generator.mkdocs_adapter.TreeRenderer`, its
search index and the digest of every file it wrote.

- :meth:`Builder.build` renders every page of every tree into a staging
  folder beside the site, on both cores (the pages are split between this
  process and a forked one), and swaps the whole folder in at once.
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

import gzip
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from intranet import urls
from intranet.addresses import load_secret
from intranet.format import COMMUNITIES, PEOPLE, Intranet, Post, read_intranet, read_post
from intranet.settings import Settings
from intranet.threads import Topic

from .audiences import Tree, access_map, listed_people, plan_trees, view_of
from .mkdocs_adapter import BuildError, TreeRenderer, read_settings_of, swap_in
from .plans import (
    GeneratedPage,
    SitePlan,
    archive_pages,
    by_start,
    plan_community,
    plan_frame,
    plan_home,
    plan_people,
    plan_tags,
    plan_topic,
    tag_names,
    tag_topics,
)
from .search_index import SearchDoc, SearchIndex
from .search_text import compact_text
from .search_worker import worker_relpath, worker_script
from .site_model import Site

__all__ = ["BuildError", "BuildResult", "Builder", "build_site"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
FULL_BUILD_ABOVE = 500  # changed posts in one update above which a full build is cheaper
_POST_PATH = re.compile(r"^communities/([a-z0-9][a-z0-9-]*)/posts/(.+)$")


@dataclass
class BuildResult:
    site_dir: Path
    counts: dict[str, int]  # of the whole intranet
    pages: int  # written, over all trees
    seconds: float
    problems: list[str]
    trees: list[str]  # names of the trees built


@dataclass
class TreeState:
    """What the builder knows of one tree it wrote."""

    tree: Tree
    site: Site
    renderer: TreeRenderer
    out: Path
    digests: dict[str, bytes] = field(default_factory=dict)  # output path -> sha1 of its bytes
    pages: dict[str, str] = field(default_factory=dict)  # page source URI -> output path
    files: dict[str, dict[str, Path]] = field(default_factory=dict)  # topic page -> attachments (output -> source)
    search: SearchIndex = field(default_factory=SearchIndex)


@dataclass
class Output:
    """Files one share of a full build wrote, per tree: what the other share needs to know."""

    digests: dict[str, dict[str, bytes]] = field(default_factory=dict)
    pages: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, dict[str, dict[str, Path]]] = field(default_factory=dict)
    docs: dict[str, list[SearchDoc]] = field(default_factory=dict)
    count: int = 0


class Builder:
    def __init__(self, root: Path | str, site_dir: Path | str | None = None) -> None:
        self.root = Path(root).resolve()
        self.site_dir = Path(site_dir).resolve() if site_dir else self.root / "site"
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
        intranet = read_intranet(self.root)
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
                self._finish_tree(state, write=_write_new)
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
            _merge(states, [output])
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
            except BaseException:  # noqa: BLE001 - reported through the exit status
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
        _merge(states, [mine, theirs])
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
                self._write_plan(state, plan, output, _write_new)
            if progress is not None:
                progress(number * 2 if total != len(units) else number, total)
        return output

    def _write_plan(self, state: TreeState, plan: SitePlan, output: Output, write: Writer) -> None:
        """Render the pages of ``plan`` into ``state``'s tree; note what was written in ``output``."""
        name = state.tree.name
        digests = output.digests.setdefault(name, {})
        pages = output.pages.setdefault(name, {})
        docs = output.docs.setdefault(name, [])
        files = output.files.setdefault(name, {})
        for page in plan.pages:
            dest, data = state.renderer.render(page)
            digests[dest] = write(state.out, dest, data, state.digests.get(dest))
            pages[page.src_uri] = dest
            if page.search is not None:
                docs.append(_search_doc(page, state.site))
            if page.files or page.src_uri in state.files:
                for gone in set(state.files.get(page.src_uri, {})) - set(page.files):
                    _remove(state.out, gone)
                    state.digests.pop(gone, None)
                files[page.src_uri] = dict(page.files)
                for dest, source in page.files.items():
                    digests[dest] = _copy(state.out, dest, source)
            output.count += 1
        for src_uri, text in plan.texts.items():
            digests[src_uri] = write(state.out, src_uri, text.encode("utf-8"), state.digests.get(src_uri))

    def _finish_tree(self, state: TreeState, write: Writer) -> None:
        """The files of a tree that are not pages of their own: theme, editors' pages, search, sitemap."""
        renderer = state.renderer
        for dest, source in sorted(renderer.static_files().items()):
            state.digests[dest] = _copy(state.out, dest, source)
        for dest, text in sorted(renderer.frame.texts.items()):
            state.digests[dest] = write(state.out, dest, text.encode("utf-8"), state.digests.get(dest))
        for dest, data in sorted(renderer.render_markdown_pages().items()):
            state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
        for dest, data in renderer.theme_pages().items():
            state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
        worker = worker_relpath(renderer.theme_dirs)
        if worker:
            state.digests[worker] = write(state.out, worker, worker_script(), state.digests.get(worker))
        for dest, data in state.search.files().items():
            state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
        self._write_sitemap(state, write)

    def _write_sitemap(self, state: TreeState, write: Writer) -> None:
        site_url = state.site.settings.site_url
        directory_urls = state.site.directory_urls
        data = sitemap(site_url, sorted(urls.page_url(uri, directory_urls) for uri in state.pages))
        state.digests["sitemap.xml"] = write(state.out, "sitemap.xml", data, state.digests.get("sitemap.xml"))
        packed = gzip.compress(data, mtime=0)
        old = state.digests.get("sitemap.xml.gz")
        state.digests["sitemap.xml.gz"] = write(state.out, "sitemap.xml.gz", packed, old)

    # -- updates -----------------------------------------------------------------

    def update(self, paths: Iterable[str]) -> str:
        """Bring the trees up to date with ``paths`` (relative to the root) having changed.

        Returns what was done: ``"nothing"``, ``"updated"`` or ``"rebuilt"``.
        """
        if not self.states or self.intranet is None:
            self.build()
            return "rebuilt"
        posts: set[str] = set()
        forced: set[str] = set()  # posts whose attachments changed
        for path in (p.replace(os.sep, "/").lstrip("/") for p in paths):
            kind = self._classify(path)
            if kind == "full":
                log.info("%s changed: full build", path)
                self.build()
                return "rebuilt"
            if kind == "post":
                posts.add(path)
            elif kind == "attachment":  # its post is <folder>.md: shown again, with the file copied anew
                post_path = path.rsplit("/", 1)[0] + ".md"
                posts.add(post_path)
                forced.add(post_path)
        if len(posts) > FULL_BUILD_ABOVE:
            log.info("%d posts changed: full build", len(posts))
            self.build()
            return "rebuilt"
        changed: dict[str, dict[str, Change]] = {}  # community -> relpath -> (old post, new post)
        for relpath in sorted(posts):
            slug = _POST_PATH.match(relpath).group(1)  # type: ignore[union-attr]
            if slug not in self.posts:
                continue
            old = self.posts[slug].get(relpath)
            file = self.root / relpath
            post = None
            if file.is_file() and not file.is_symlink():
                post, problems = read_post(self.root, slug, file)
                for problem in problems:
                    log.warning("content problem: %s", problem)
            if post is None and old is None:
                continue
            if post is not None and old is not None and _same_post(post, old) and relpath not in forced:
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
            if not self._update_tree(state, {s: r for s, r in changed.items() if s in state.tree.communities}):
                log.info("%s: who is listed changed: full build", state.tree.name)
                self.build()
                return "rebuilt"
        return "updated"

    def _classify(self, path: str) -> str:
        """``post``, ``attachment`` (a file in a post's folder), ``skip`` (nothing the site shows) or ``full``."""
        if path.startswith(f"{COMMUNITIES}/"):
            match = _POST_PATH.match(path)
            if match:
                rest = match.group(2)
                if any(part.startswith(".") for part in rest.split("/")):
                    return "skip"
                if rest.endswith(".md"):
                    return "post"
                return "attachment" if "/" in rest else "skip"
            if path.endswith("/subscribers.yml"):
                return "skip"  # who gets mail is not shown on the site
            return "full"
        if path.startswith(f"{PEOPLE}/"):
            return "full"
        if path in ("mkdocs.yml", ""):
            return "full"
        return "skip"

    def _update_tree(self, state: TreeState, changed: dict[str, dict[str, Change]]) -> bool:
        """Re-plan and rewrite what ``changed`` posts show in one tree; False if a full build is needed."""
        site = state.site
        per_page = site.settings.topics_per_page
        # Whose profiles list the changed posts: their authors, before and after the change.
        authors = {
            h for posts in changed.values() for pair in posts.values() for p in pair if p and (h := _handle(site, p))
        }
        touched_tags: set[str] = set()
        archives_before = {tag: _archive(tag_topics(site, tag), per_page) for tag in site.tagged}
        counts_before = {tag: len(topics) for tag, topics in site.tagged.items()}
        topics: dict[str, Topic] = {}  # topic pages to render again
        numbers: dict[str, set[int]] = {}  # community -> its archive pages to render again
        removed: list[str] = []

        # 1. Thread the changed communities again, noting what moved.
        for slug, posts in sorted(changed.items()):
            old_topics = {urls.topic(slug, t.key): t for t in site.topics.get(slug, [])}
            before = {uri: _topic_sig(t) for uri, t in old_topics.items()}
            archive_before = _archive(site.topics.get(slug, []), per_page)
            for topic in old_topics.values():
                if any(p.relpath in posts for p in topic.posts):
                    touched_tags.update(topic.tags)
            added = [new for old, new in posts.values() if old is None and new is not None]
            only_added = len(added) == len(posts)
            site.set_posts(slug, [p for _, p in sorted(self.posts[slug].items())], added if only_added else None)
            for topic in site.topics.get(slug, []):
                uri = urls.topic(slug, topic.key)
                if before.get(uri) == _topic_sig(topic) and not any(p.relpath in posts for p in topic.posts):
                    continue
                topics[uri] = topic
                touched_tags.update(topic.tags)
                previous = old_topics.get(uri)
                if previous is not None:
                    touched_tags.update(previous.tags)
                if previous is None or previous.title != topic.title:  # profiles list the topic by its title
                    authors.update(h for p in topic.posts if (h := _handle(site, p)))
            for uri in sorted(set(before) - {urls.topic(slug, t.key) for t in site.topics.get(slug, [])}):
                touched_tags.update(old_topics[uri].tags)
                authors.update(h for p in old_topics[uri].posts if (h := _handle(site, p)))
                removed.append(uri)
            archive_after = _archive(site.topics.get(slug, []), per_page)
            numbers[slug] = _changed_pages(archive_before, archive_after)
            removed += [urls.community(slug, n) for n in range(len(archive_after) + 1, len(archive_before) + 1)]

        # 2. A guest tree's directory lists its contacts: someone's first (or last) post there changes it.
        flipped = _listed_flips(site, authors) if state.tree.guest else set()
        tag_numbers: dict[str, set[int]] = {}
        if flipped:
            listed = site.listed ^ flipped
            if not listed or not site.listed:
                return False  # the People entry comes or goes in the navigation
            site.listed = listed
            for handle in flipped:
                person = site.intranet.people[handle]
                for post in site.posts_by.get(handle, {}).values():
                    topic = site.topic_of[post.relpath]
                    topics[urls.topic(topic.community, topic.key)] = topic
                authors.update(person.members)  # a team's members' profiles list it
                authors.update(h for h in site.listed if handle in site.intranet.people[h].members)
                if handle not in listed:
                    removed.append(urls.person(handle))
            shows = lambda t: _handle(site, t.last) in flipped  # noqa: E731 - the last poster's name is linked
            for slug in state.tree.communities:
                numbers.setdefault(slug, set()).update(_pages_showing(site.topics.get(slug, []), per_page, shows))
            for tag in site.tagged:
                touched_tags.add(tag)
                tag_numbers[tag] = _pages_showing(tag_topics(site, tag), per_page, shows)
            authors |= flipped & listed

        # 3. Plan and render what shows any of it.
        plan = SitePlan()
        for uri in sorted(topics):
            topic = topics[uri]
            plan_topic(site, plan, site.intranet.communities[topic.community], topic)
        for slug in sorted(numbers):
            plan_community(site, plan, site.intranet.communities[slug], numbers[slug])
        plan_home(site, plan)
        plan_people(site, plan, authors, index=bool(flipped))
        names = set(tag_names(site))
        counts_changed = set(site.tagged) != set(counts_before)
        for tag in sorted(touched_tags | (set(site.tagged) ^ set(counts_before))):
            pages_before, pages_after = archives_before.get(tag, []), _archive(tag_topics(site, tag), per_page)
            if tag in names:
                redo = _changed_pages(pages_before, pages_after) | tag_numbers.get(tag, set())
                plan_tags(site, plan, [tag], index=False, numbers=redo)
            counts_changed = counts_changed or len(site.tagged.get(tag, {})) != counts_before.get(tag, 0)
            first_gone = 0 if tag not in names else len(pages_after) + 1
            removed += [urls.tag(tag, n) for n in range(first_gone, len(pages_before) + 1)]
        if counts_changed:
            plan_tags(site, plan, [], index=True)
        output = Output()
        self._write_plan(state, plan, output, _write_atomic)
        _merge([state], [output], search=False)
        for uri in removed:
            self._remove_page(state, uri)
        gone = [urls.page_url(uri, site.directory_urls) for uri in removed]
        for relpath in sorted(state.search.update(output.docs.get(state.tree.name, []), gone)):
            data = state.search.file(relpath)
            if data is None:
                _remove(state.out, relpath)
                state.digests.pop(relpath, None)
            else:
                state.digests[relpath] = _write_atomic(state.out, relpath, data, state.digests.get(relpath))
        self._write_sitemap(state, _write_atomic)
        return True

    def _remove_page(self, state: TreeState, src_uri: str) -> None:
        dest = state.pages.pop(src_uri, None)
        if dest is not None:
            _remove(state.out, dest)
            state.digests.pop(dest, None)
        for attachment in state.files.pop(src_uri, {}):
            _remove(state.out, attachment)
            state.digests.pop(attachment, None)


def _listed_flips(site: Site, handles: set[str]) -> set[str]:
    """Those of ``handles`` a ``contacts`` directory now lists and did not, or no longer lists."""
    if site.settings.guest_directory != "contacts":
        return set()
    involved = {h for c in site.intranet.communities.values() for h in (*c.moderators, *c.members)}
    return {h for h in handles if (h in involved or bool(site.posts_by.get(h))) != (h in site.listed)}


# -- helpers -----------------------------------------------------------------------

Writer = Callable[[Path, str, bytes, "bytes | None"], bytes]
Change = tuple["Post | None", "Post | None"]  # a post before and after a change (None: absent)


def _digest(data: bytes) -> bytes:
    return hashlib.sha1(data, usedforsecurity=False).digest()


def _write_new(out: Path, relpath: str, data: bytes, _old: bytes | None) -> bytes:
    """Write a file of a tree being built in staging (no one reads it yet)."""
    path = out / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return _digest(data)


def _write_atomic(out: Path, relpath: str, data: bytes, old: bytes | None) -> bytes:
    """Replace a file of a live tree, if its bytes changed: readers see the old file or the new one."""
    digest = _digest(data)
    if digest == old:
        return digest
    path = out / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return digest


def _copy(out: Path, relpath: str, source: Path) -> bytes:
    data = source.read_bytes()
    path = out / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = _digest(data)
    if not path.is_file() or _digest(path.read_bytes()) != digest:
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return digest


def _remove(out: Path, relpath: str) -> None:
    path = out / relpath
    path.unlink(missing_ok=True)
    folder = path.parent
    while folder != out and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


def _merge(states: list[TreeState], outputs: list[Output], search: bool = True) -> None:
    """Take what the shares of a build wrote into each tree's state (and its search index)."""
    for state in states:
        name = state.tree.name
        for output in outputs:
            state.digests.update(output.digests.get(name, {}))
            state.pages.update(output.pages.get(name, {}))
            state.files.update(output.files.get(name, {}))
        if search:
            state.search = SearchIndex([doc for output in outputs for doc in output.docs.get(name, [])])


def _search_doc(page: GeneratedPage, site: Site) -> SearchDoc:
    return SearchDoc(
        location=urls.page_url(page.src_uri, site.directory_urls),
        title=page.title,
        text=compact_text(page.search or ""),
        parent=page.parent,
        date=page.date,
    )


def _same_post(a: Post, b: Post) -> bool:
    return a.to_text() == b.to_text()


def _handle(site: Site, post: Post) -> str | None:
    person = site.person_for(post.author)
    return person.handle if person else None


def _topic_sig(topic: Topic) -> tuple[Any, ...]:
    return tuple((e.post.relpath, e.depth, e.parent.relpath if e.parent else "") for e in topic.entries)


def _summary(topic: Topic) -> tuple[Any, ...]:
    """What a list of topics shows of one."""
    last = topic.last
    return (topic.key, topic.community, topic.title, tuple(topic.tags), topic.reply_count, last.relpath, last.date)


def _archive(topics: list[Topic], per_page: int) -> list[tuple[Any, ...]]:
    """What each archive page shows of its topics (no pages while one page of latest activity holds them all)."""
    if archive_pages(len(topics), per_page) == 0:
        return []
    summaries = [_summary(t) for t in by_start(topics)]
    return [tuple(summaries[i : i + per_page]) for i in range(0, len(summaries), per_page)]


def _changed_pages(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> set[int]:
    """Archive pages to render again: all when their number changed (the pager), else those that differ."""
    if len(before) != len(after):
        return set(range(1, len(after) + 1))
    return {n for n, (old, new) in enumerate(zip(before, after, strict=True), start=1) if old != new}


def _pages_showing(topics: list[Topic], per_page: int, shows: Callable[[Topic], bool]) -> set[int]:
    """Archive pages (by start) holding a topic ``shows`` picks."""
    if archive_pages(len(topics), per_page) == 0:
        return set()
    return {i // per_page + 1 for i, t in enumerate(by_start(topics)) if shows(t)}


def sitemap(site_url: str, locations: list[str]) -> bytes:
    """The sitemap of a tree: every page, in a stable order, without build dates."""
    base = site_url.rstrip("/") + "/" if site_url else "/"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    lines += [f"  <url><loc>{xml_escape(base + location)}</loc></url>" for location in locations]
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_access(site: Path, intranet: Intranet, trees: list[Tree]) -> None:
    """``trees.json`` and the nginx ``map`` include ``trees.map``: which tree each address reads."""
    people = access_map(intranet)
    data = {
        "trees": {t.name: {"base": t.base, "communities": sorted(t.communities)} for t in trees},
        "people": people,
    }
    (site / "trees.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    lines = ["# Generated by `intranet build` from people/: address -> site tree. Do not edit."]
    for address, name in sorted(people.items()):
        if _MAP_SAFE.match(address):
            lines.append(f'"{address}" "{name}";')
        else:
            log.warning("trees.map: left out %r: only plain addresses can be matched safely by the web server", address)
    (site / "trees.map").write_text("\n".join(lines) + "\n")


# nginx reads a map key that starts with "~" as a regular expression, quoted or not, and a quote or
# backslash would end or bend the string: only plain addresses, starting with a letter or digit, go in.
_MAP_SAFE = re.compile(r"^[a-z0-9][a-z0-9._%+'-]*@[a-z0-9][a-z0-9.-]*$")


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
