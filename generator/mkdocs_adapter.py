"""The only module that imports MkDocs.

:class:`TreeRenderer` sets MkDocs and the Material theme up once for one
site tree (configuration, theme, navigation, editors' pages) and then turns
one generated page at a time into the finished HTML file, exactly as
``mkdocs build`` would: the same template, context and plugin events. The
builder (:mod:`generator.builder`) decides which pages to render, so a full
build and an update after one new post go through the same code and write
the same bytes. Untrusted post text never passes through MkDocs' Markdown:
generated pages arrive as finished, sanitised HTML.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import html
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from mkdocs import utils
from mkdocs.commands.build import get_context
from mkdocs.config import config_options, load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import MkDocsException, PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel, set_exclusions
from mkdocs.structure.nav import Navigation, get_navigation
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc

from intranet.errors import BuildError
from intranet.settings import CONFIG_FILE, SETTINGS, Settings

from .compiled_templates import COMPILED
from .plans import GeneratedPage, SitePlan
from .search_worker import RESULTS_SCRIPT

log = logging.getLogger(__name__)

# What is not public. MkDocs 1.6 and Material 9.8 offer no public interface for three things done
# here, so they were checked with the versions in CHECKED_WITH (pinned in pyproject.toml, guarded by
# tests/test_mkdocs_adapter.py, listed in docs/renderer.md): get_context, which makes a template's
# context as `mkdocs build` does (a public name in the undocumented mkdocs.commands.build);
# config._current_page, set while an editor's page is read and rendered as `mkdocs build` sets it
# (without it a `!relative` tag in mkdocs.yml stops the build); and config.plugins.events, edited to
# drop the handlers of Material's search plugin, which would index every page in memory and strip
# data-search-* attributes (nothing public removes one plugin's handler). The rest is MkDocs' plugin
# events, its documented File and Files, and the public methods of its Page, Navigation and Theme.
CHECKED_WITH = {"mkdocs": ">=1.6,<1.7", "mkdocs-material": ">=9.8,<9.9"}

DEFAULT_CONFIG = Path(__file__).parent / "default-mkdocs.yml"
SEARCH_PLUGIN = "material/search"


class IntranetPlugin(BasePlugin):  # type: ignore[type-arg]
    """Holds the intranet's settings (``plugins: - intranet:`` in mkdocs.yml) and hands MkDocs the frame.

    The frame is what every page stands in: the navigation, editors' pages
    and their files. Generated pages never become MkDocs files; the
    :class:`TreeRenderer` renders them one at a time.
    """

    config_scheme = tuple((s.name, config_options.Type(s.type, default=s.default)) for s in SETTINGS)

    def __init__(self) -> None:
        super().__init__()
        self.frame: SitePlan | None = None

    def settings(self, config: MkDocsConfig) -> Settings:
        settings = Settings.from_mapping(
            {s.name: self.config[s.name] for s in SETTINGS},
            site_name=config.site_name,
            site_url=config.site_url or "",
        )
        return dataclasses.replace(settings, directory_urls=bool(config.use_directory_urls))

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        if self.frame is None:
            raise PluginError("this site is built with `intranet build` (or served with `intranet up`), not mkdocs")
        config.nav = _escape_nav(self.frame.nav)
        from intranet.urls import stylesheet

        if stylesheet() not in config.extra_css:
            config.extra_css.append(stylesheet())
        if RESULTS_SCRIPT not in config.extra_javascript:
            config.extra_javascript.append(RESULTS_SCRIPT)  # after the theme's bundle, whose component$ it reads
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.frame is not None
        docs_dir = os.path.normpath(config.docs_dir)
        kept = [f for f in files if f.src_dir is None or os.path.normpath(f.src_dir) != docs_dir]
        for file in kept:  # theme assets; not subject to exclude_docs
            if file.inclusion == InclusionLevel.UNDEFINED:
                file.inclusion = InclusionLevel.INCLUDED
        result = Files(kept)
        for src_uri in self.frame.titles:  # generated pages in the navigation: rendered later
            result.append(File.generated(config, src_uri, content="", inclusion=InclusionLevel.INCLUDED))
        for src_uri, text in self.frame.markdown_pages.items():
            result.append(File.generated(config, src_uri, content=text, inclusion=InclusionLevel.INCLUDED))
        for src_uri, path in self.frame.files.items():  # editors' images and files, for their links
            result.append(File.generated(config, src_uri, abs_src_path=str(path), inclusion=InclusionLevel.INCLUDED))
        return result


def _escape_nav(items: list[Any]) -> list[Any]:
    """Nav titles are printed raw by the theme: escape them."""
    result: list[Any] = []
    for item in items:
        if isinstance(item, str):  # a bare page: titled by its own (escaped) title
            result.append(item)
            continue
        for title, value in item.items():
            value = _escape_nav(value) if isinstance(value, list) else value
            result.append({html.escape(title): value})
    return result


def load_intranet_config(root: Path, site_dir: Path, docs_dir: Path | None = None) -> MkDocsConfig:
    """Load ``<root>/mkdocs.yml`` (or the packaged default) for a build into ``site_dir``.

    ``docs_dir`` replaces the configured one: builds pass an empty folder, so
    MkDocs never walks the content itself (every page and file is handed to
    it, and a symlink in the content cannot lead it anywhere).
    """
    config_file = root / CONFIG_FILE
    overrides: dict[str, Any] = {"site_dir": str(site_dir)}
    if not config_file.is_file():
        config_file = DEFAULT_CONFIG
        overrides["docs_dir"] = str(root / "communities")
    if docs_dir is not None:
        overrides["docs_dir"] = str(docs_dir)
    if not (root / "communities").is_dir():
        raise BuildError(f"{root}: no communities/ folder; is this an intranet root?")
    try:
        config = load_config(config_file=str(config_file), **overrides)
    except MkDocsException as exc:
        raise BuildError(f"{config_file}: {exc}") from None
    if config_file == DEFAULT_CONFIG:
        config.config_file_path = str(root / CONFIG_FILE)
    if "intranet" not in config.plugins:
        plugin = IntranetPlugin()
        errors, warnings = plugin.load_config({}, config.config_file_path)
        if errors:
            raise BuildError(f"intranet plugin settings: {errors}")
        config.plugins["intranet"] = plugin
    return config


def read_settings_of(root: Path, docs_dir: Path) -> tuple[Settings, bool]:
    """The intranet settings as MkDocs validates them, and ``use_directory_urls`` (raises :class:`BuildError`)."""
    config = load_intranet_config(root, docs_dir.parent / "unused-site", docs_dir)
    try:
        return _plugin(config).settings(config), config.use_directory_urls
    except ValueError as exc:
        raise BuildError(str(exc)) from None


def _plugin(config: MkDocsConfig) -> IntranetPlugin:
    plugin = config.plugins["intranet"]
    assert isinstance(plugin, IntranetPlugin)
    return plugin


class TreeRenderer:
    """MkDocs and Material, set up once for one tree, rendering one page at a time."""

    def __init__(self, root: Path, frame: SitePlan, docs_dir: Path) -> None:
        try:
            config = load_intranet_config(root, docs_dir.parent / "unused-site", docs_dir)
            _plugin(config).frame = frame
            _compile_once(config)
            config = config.plugins.on_config(config)
            _mute_search_index(config)
            config.plugins.on_pre_build(config=config)
            env = config.theme.get_env()
            files = _theme_files(env, config)
            files = config.plugins.on_files(files, config=config)
            set_exclusions(files, config)
            nav = get_navigation(files, config)
            nav = config.plugins.on_nav(nav, config=config, files=files)
            for src_uri, title in frame.titles.items():
                page = files.get_file_from_path(src_uri).page  # type: ignore[union-attr]
                assert page is not None
                page.markdown, page.meta = "", {"title": html.escape(title)}
            for src_uri in frame.markdown_pages:
                file = files.get_file_from_path(src_uri)
                assert file is not None and file.page is not None
                _read_page(file.page, config, files)
            self.env = config.plugins.on_env(env, config=config, files=files)
        except (MkDocsException, OSError, ValueError) as exc:
            raise BuildError(f"setting up MkDocs: {exc}") from exc
        self.frame, self.config, self.files, self.nav = frame, config, files, nav
        self.page_template = "main.html"
        if config.theme.name == "material" and config.theme.custom_dir is None:
            self.page_template = _SiteNav.install(self.env, nav)
        self.doc_files = files.documentation_pages()

    def render(self, page: GeneratedPage) -> tuple[str, bytes]:
        """(output path in the tree, bytes) of a generated page."""
        file = self.files.get_file_from_path(page.src_uri)
        if file is None or file.page is None:  # not in the navigation: a page of its own
            file = File.generated(self.config, page.src_uri, content="", inclusion=InclusionLevel.NOT_IN_NAV)
            Page(None, file, self.config)
        assert file.page is not None
        target = file.page
        target.markdown, target.meta = "", {"title": html.escape(page.title)}
        target.content, target.toc = f'<div id="{MAIN}">{page.html}</div>', _SKIP_TOC
        return file.dest_uri, self._finish(target)

    def render_markdown_pages(self) -> dict[str, bytes]:
        """Editors' pages, rendered when the tree was set up: output path -> bytes."""
        result = {}
        for src_uri in self.frame.markdown_pages:
            file = self.files.get_file_from_path(src_uri)
            assert file is not None and file.page is not None
            result[file.dest_uri] = self._finish(file.page)
        return result

    def static_files(self) -> dict[str, Path]:
        """Theme assets and editors' files: output path -> source file."""
        return {
            f.dest_uri: Path(f.abs_src_path)
            for f in self.files
            if not f.is_documentation_page() and f.abs_src_path and f.inclusion.is_included()
        }

    def theme_pages(self) -> dict[str, bytes]:
        """The theme's own pages other than the sitemap (the 404 page): output path -> bytes."""
        result = {}
        for name in sorted(self.config.theme.static_templates):
            if name == "sitemap.xml":
                continue  # written by the builder, from the pages it knows
            output = self._render_template(name)
            if output.strip():
                result[name] = output.encode("utf-8")
        return result

    @property
    def theme_dirs(self) -> list[str]:
        return list(self.config.theme.dirs)

    def _render_template(self, name: str) -> str:
        """A theme template that is a page of its own, rendered with the template events as ``mkdocs build`` does."""
        config = self.config
        template = config.plugins.on_pre_template(self.env.get_template(name), template_name=name, config=config)
        if utils.is_error_template(name):  # served at any URL: links from the site's root path
            base_url = urlsplit(config.site_url or "/").path
        else:
            base_url = utils.get_relative_url(".", name)
        context = get_context(self.nav, self.files, config, base_url=base_url)
        context = config.plugins.on_template_context(context, template_name=name, config=config)
        output = template.render(context)
        return config.plugins.on_post_template(output, template_name=name, config=config)

    def _finish(self, page: Page) -> bytes:
        config = self.config
        page.active = True
        try:
            context = get_context(self.nav, self.doc_files, config, page)
            template = self.env.get_template(page.meta.get("template", self.page_template))
            context = config.plugins.on_page_context(context, page=page, config=config, nav=self.nav)
            output = template.render(context)
            output = config.plugins.on_post_page(output, page=page, config=config)
        except Exception as exc:
            raise BuildError(f"rendering {page.file.src_uri}: {exc}") from exc
        finally:
            page.active = False
        return output.encode("utf-8", errors="xmlcharrefreplace")


MAIN = "intranet-main"  # the id of a generated page's content: where Material's "Skip to content" link goes
# A table of contents of one entry at level 1 with nothing below it: Material shows its "Skip to content"
# link (only pages with a table of contents get one) and an empty secondary sidebar, as for no contents.
_SKIP_TOC = get_toc([{"level": 1, "id": MAIN, "name": "", "children": []}])


class _SiteNav:
    """Material's sidebars (its ``site_nav`` block), rendered once for each set of links and kept.

    The block is the same for most pages of a tree: the whole navigation, with links relative to the
    page, and an empty table of contents. Rendering it was 40 % of rendering a page. What it shows,
    in Material 9.8 (checked with CHECKED_WITH): the navigation's titles and structure (fixed for a
    renderer), each item's URL as the ``url`` filter makes it relative to the page, each item's
    active flag, the base URL, the page's ``hide`` setting and its table of contents, and whether
    the page is itself in the navigation. Pages with a table of contents, a ``hide`` setting or a
    place in the navigation are rendered in full each time; the rest are keyed by the relative URLs
    and flags, so two pages share a rendering only when every link in it reads the same. Only with
    Material's own templates (no ``custom_dir``): an override could show anything of the page.
    """

    TEMPLATE = "intranet/page.html"
    SOURCE = '{% extends "main.html" %}{% block site_nav %}{{ intranet_site_nav(super) }}{% endblock %}'
    LIMIT = 512  # kept renderings per tree (a few per folder depth and community; each 5-50 KB)

    def __init__(self, nav: Navigation) -> None:
        self.items = list(_nav_items(nav.items))
        self.in_nav = {item.file.src_uri for item in nav.pages}
        self.kept: dict[tuple[Any, ...], str] = {}

    @classmethod
    def install(cls, env: jinja2.Environment, nav: Navigation) -> str:
        """Make ``env`` render pages through the kept sidebars; the page template's name."""
        site_nav = cls(nav)
        assert env.loader is not None
        env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({cls.TEMPLATE: cls.SOURCE}), env.loader])

        @jinja2.pass_context
        def intranet_site_nav(context: Any, parent: Callable[[], str]) -> str:
            return site_nav.render(context, parent)

        env.globals["intranet_site_nav"] = intranet_site_nav
        return cls.TEMPLATE

    def render(self, context: Any, parent: Callable[[], str]) -> str:
        key = self._key(context.get("page"), context.get("base_url", ""))
        if key is None:
            return parent()
        found = self.kept.get(key)
        if found is None:
            if len(self.kept) >= self.LIMIT:
                self.kept.clear()
            found = self.kept[key] = parent()
        return found

    def _key(self, page: Any, base_url: str) -> tuple[Any, ...] | None:
        skip_only = page.toc is _SKIP_TOC if isinstance(page, Page) else False  # (its sidebar: as for none)
        if not isinstance(page, Page) or (page.toc and not skip_only) or "hide" in (page.meta or {}):
            return None
        if page.file.src_uri in self.in_nav:
            return None
        links = tuple(
            (None if url is None else utils.normalize_url(url, page, base_url), active)
            for url, active in ((getattr(i, "url", None), i.active) for i in self.items)
        )
        return base_url, links


def _nav_items(items: list[Any]) -> Any:
    for item in items:
        yield item
        if item.children:
            yield from _nav_items(item.children)


_THEME_FILES: dict[tuple[Any, ...], list[tuple[str, str]]] = {}  # (dirs, static templates) -> (path, dir)


def _theme_files(env: jinja2.Environment, config: MkDocsConfig) -> Files:
    """The theme's assets as MkDocs lists them: with no ``custom_dir``, listed once per process.

    Listing walks every file of the installed theme (Material has some 14,000, its icons) for each
    tree of each build. Installed themes do not change under a running process; an editor's
    ``custom_dir`` may, so it is listed each time.
    """
    files = Files([])
    if config.theme.custom_dir is not None:
        files.add_files_from_theme(env, config)
        return files
    key = (tuple(config.theme.dirs), tuple(sorted(config.theme.static_templates)))
    found = _THEME_FILES.get(key)
    if found is None:
        files.add_files_from_theme(env, config)
        _THEME_FILES[key] = [(f.src_uri, f.src_dir) for f in files if f.src_dir is not None]
        return files
    for src_uri, src_dir in found:
        files.append(File(src_uri, src_dir, config.site_dir, config.use_directory_urls))
    return files


def _compile_once(config: MkDocsConfig) -> None:
    """Every environment the theme makes for this configuration takes compiled templates from
    :data:`COMPILED`: the page renderer's, and the three Material's search plugin makes to look up
    words in its language template when configured (six compilations a tree, otherwise)."""
    theme = config.theme
    made = theme.get_env

    def get_env() -> jinja2.Environment:
        env = made()
        env.bytecode_cache = COMPILED
        return env

    theme.get_env = get_env  # type: ignore[method-assign]


def _read_page(page: Page, config: MkDocsConfig, files: Files) -> None:
    """Read and render an editor's Markdown page with the page events, as ``mkdocs build`` does."""
    config._current_page = page
    try:
        page = config.plugins.on_pre_page(page, config=config, files=files)
        page.read_source(config)
        assert page.markdown is not None
        page.markdown = config.plugins.on_page_markdown(page.markdown, page=page, config=config, files=files)
        page.render(config, files)
        assert page.content is not None
        page.content = config.plugins.on_page_content(page.content, page=page, config=config, files=files)
    except (MkDocsException, OSError, ValueError) as exc:
        raise BuildError(f"reading {page.file.src_uri}: {exc}") from exc
    finally:
        config._current_page = None


def _mute_search_index(config: MkDocsConfig) -> None:
    """Keep Material's search box (its plugin stays configured) but not its one-file index.

    The builder writes a sharded index and a worker of its own instead (:mod:`generator.search_index`).
    """
    plugin = config.plugins.get(SEARCH_PLUGIN)
    if plugin is None:
        return
    for event in ("page_context", "post_build"):
        handlers = config.plugins.events.get(event, [])
        config.plugins.events[event] = [h for h in handlers if getattr(h, "__self__", None) is not plugin]


_RENAME_EXCHANGE = 2


def swap_in(new: Path, current: Path, discard: Callable[[Path], object] | None = None) -> None:
    """Put ``new`` where ``current`` is, so a reader always sees a whole site.

    On Linux the two folders are exchanged atomically (renameat2); elsewhere
    the old one is moved aside first, leaving a moment with no site. The old
    one, then at ``new``, is removed, or handed to ``discard``.
    """
    if not current.exists():
        os.rename(new, current)
        return
    if _exchange(new, current):
        if discard is not None:
            discard(new)
        else:
            shutil.rmtree(new, ignore_errors=True)
        return
    old = current.parent / f".{current.name}.old-{os.getpid()}"
    os.rename(current, old)
    os.rename(new, current)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return result == 0
