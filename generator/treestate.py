"""What the builder knows of one site tree it wrote, and the writing of pages into it.

Shared by full builds (:mod:`generator.builder`) and updates (:mod:`generator.incremental`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from intranet import urls

from .audiences import Tree
from .mkdocs_adapter import TreeRenderer
from .output import Writer, copy_file, remove
from .plans import GeneratedPage, SitePlan
from .search_index import Prepared, SearchDoc, SearchIndex, prepare
from .search_text import compact_text
from .search_worker import RESULTS_SCRIPT, results_script, worker_relpath, worker_script
from .site_model import Site
from .sitemaps import Sitemap


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
    sitemap: Sitemap = field(default_factory=Sitemap)  # the pages in state.pages, by sitemap file


@dataclass
class Output:
    """Files one share of a full build wrote, per tree: what the other share needs to know."""

    digests: dict[str, dict[str, bytes]] = field(default_factory=dict)
    pages: dict[str, dict[str, str]] = field(default_factory=dict)
    files: dict[str, dict[str, dict[str, Path]]] = field(default_factory=dict)
    docs: dict[str, list[Prepared]] = field(default_factory=dict)  # what the search index keeps, not the text
    count: int = 0
    html: tuple[str, bytes, bytes] = ("", b"", b"")  # where posts' HTML rendered in a share is (generator.posthtml)


def write_plan(state: TreeState, plan: SitePlan, output: Output, write: Writer) -> None:
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
            docs.append(prepare(search_doc(page, state.site)))
        if page.files or page.texts or page.src_uri in state.files:
            owned = {**page.files, **dict.fromkeys(page.texts, Path())}  # (a text has no source file)
            for gone in set(state.files.get(page.src_uri, {})) - set(owned):
                remove(state.out, gone)
                state.digests.pop(gone, None)
            files[page.src_uri] = owned
            for dest, source in page.files.items():
                digests[dest] = copy_file(state.out, dest, source)
            for dest, text in page.texts.items():
                digests[dest] = write(state.out, dest, text.encode("utf-8"), state.digests.get(dest))
        output.count += 1
    for src_uri, text in plan.texts.items():
        digests[src_uri] = write(state.out, src_uri, text.encode("utf-8"), state.digests.get(src_uri))


def finish_tree(state: TreeState, write: Writer) -> None:
    """The files of a tree that are not pages of their own: theme, editors' pages, search, sitemap."""
    renderer = state.renderer
    for dest, source in sorted(renderer.static_files().items()):
        state.digests[dest] = copy_file(state.out, dest, source)
    for dest, text in sorted(renderer.frame.texts.items()):
        state.digests[dest] = write(state.out, dest, text.encode("utf-8"), state.digests.get(dest))
    for dest, data in sorted(renderer.render_markdown_pages().items()):
        state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
    for dest, data in renderer.theme_pages().items():
        state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
    worker = worker_relpath(renderer.theme_dirs)
    if worker:
        state.digests[worker] = write(state.out, worker, worker_script(), state.digests.get(worker))
        script = results_script()
        state.digests[RESULTS_SCRIPT] = write(state.out, RESULTS_SCRIPT, script, state.digests.get(RESULTS_SCRIPT))
    for dest, data in state.search.files().items():
        state.digests[dest] = write(state.out, dest, data, state.digests.get(dest))
    write_sitemap(state, write)


def write_sitemap(state: TreeState, write: Writer) -> None:
    """The files of the sitemap whose pages came or went since it was last written (all, the first time)."""
    for relpath, data in state.sitemap.files(state.site.settings.site_url).items():
        if data is None:
            remove(state.out, relpath)
            state.digests.pop(relpath, None)
        else:
            state.digests[relpath] = write(state.out, relpath, data, state.digests.get(relpath))


# -- updates -----------------------------------------------------------------


def remove_page(state: TreeState, src_uri: str) -> None:
    dest = state.pages.pop(src_uri, None)
    if dest is not None:
        state.sitemap.discard(urls.page_url(src_uri, state.site.directory_urls))
        remove(state.out, dest)
        state.digests.pop(dest, None)
    for attachment in state.files.pop(src_uri, {}):
        remove(state.out, attachment)
        state.digests.pop(attachment, None)


def release(state: TreeState) -> None:
    """Let go of what a tree's state holds (a full build replaced it): freed at once, without a collection."""
    state.site.release()
    state.digests, state.pages, state.files = {}, {}, {}
    state.search, state.sitemap = SearchIndex(), Sitemap()


def merge(states: list[TreeState], outputs: list[Output], search: bool = True) -> None:
    """Take what the shares of a build wrote into each tree's state (and its search index)."""
    for state in states:
        name = state.tree.name
        for output in outputs:
            state.digests.update(output.digests.get(name, {}))
            for src_uri in output.pages.get(name, {}).keys() - state.pages.keys():
                state.sitemap.add(urls.page_url(src_uri, state.site.directory_urls))
            state.pages.update(output.pages.get(name, {}))
            state.files.update(output.files.get(name, {}))
        if search:
            state.search = SearchIndex([doc for output in outputs for doc in output.docs.get(name, [])])


def search_doc(page: GeneratedPage, site: Site) -> SearchDoc:
    return SearchDoc(
        location=urls.page_url(page.src_uri, site.directory_urls),
        title=page.title,
        text=compact_text(page.search or ""),
        parent=page.parent,
        date=page.date,
    )
