"""The only module that imports MkDocs.

:class:`IntranetPlugin` is a MkDocs plugin (registered as ``intranet``): it
reads the intranet's content, replaces MkDocs' view of ``docs_dir`` with the
generated pages, and hands each generated page its finished HTML, so untrusted
post text never passes through MkDocs' Markdown. :func:`build_site` runs a
whole build into a staging folder beside the site and swaps it in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import html
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mkdocs.commands.build import build as mkdocs_build
from mkdocs.config import config_options, load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import MkDocsException
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files, InclusionLevel
from mkdocs.structure.pages import Page

from .addresses import load_secret
from .audiences import Tree, access_map, base_tree, listed_people, plan_trees, view_of
from .config import CONFIG_FILE, SETTINGS, Settings
from .content import Intranet, dump_front_matter, read_intranet
from .pages import GeneratedPage, SitePlan, plan_site

log = logging.getLogger(__name__)

DEFAULT_CONFIG = Path(__file__).parent / "default-mkdocs.yml"

ProgressCallback = Callable[[int, int], None]


class BuildError(Exception):
    """A build that did not produce a site; the previous site is untouched."""


class IntranetPlugin(BasePlugin):  # type: ignore[type-arg]
    config_scheme = tuple((s.name, config_options.Type(s.type, default=s.default)) for s in SETTINGS)

    def __init__(self) -> None:
        super().__init__()
        self.plan: SitePlan | None = None  # given by build_site; planned in on_config otherwise
        self.generated: dict[str, GeneratedPage] = {}
        self.progress: ProgressCallback | None = None
        self.problems: list[str] = []
        self._done = 0

    def settings(self, config: MkDocsConfig) -> Settings:
        return Settings.from_mapping(
            {s.name: self.config[s.name] for s in SETTINGS},
            site_name=config.site_name,
            site_url=config.site_url or "",
        )

    # -- MkDocs events ----------------------------------------------------------

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        if self.plan is None:  # plain `mkdocs build` with this plugin: the staff tree
            root = Path(config.config_file_path).parent
            settings = self.settings(config)
            intranet = read_intranet(root)
            self.problems = [str(p) for p in intranet.problems]
            for problem in self.problems:
                log.warning("content problem: %s", problem)
            view = view_of(intranet, base_tree(intranet, "staff"))
            secret = load_secret(root / settings.state_dir)
            self.plan = plan_site(view, settings, secret, directory_urls=config.use_directory_urls)
        self.generated = {page.src_uri: page for page in self.plan.pages}
        config.nav = _escape_nav(self.plan.nav)
        from .urls import stylesheet

        if stylesheet() not in config.extra_css:
            config.extra_css.append(stylesheet())
        self._done = 0
        return config

    def on_files(self, files: Files, config: MkDocsConfig) -> Files:
        assert self.plan is not None
        docs_dir = os.path.normpath(config.docs_dir)
        kept = [f for f in files if f.src_dir is None or os.path.normpath(f.src_dir) != docs_dir]
        for file in kept:  # theme assets; not subject to exclude_docs
            if file.inclusion == InclusionLevel.UNDEFINED:
                file.inclusion = InclusionLevel.INCLUDED
        result = Files(kept)
        for page in self.plan.pages:
            text = dump_front_matter({"title": html.escape(page.title)})
            result.append(self._file(config, page.src_uri, content=text, in_nav=page.in_nav))
        for src_uri, text in self.plan.markdown_pages.items():
            result.append(self._file(config, src_uri, content=text, in_nav=True))
        for src_uri, text in self.plan.texts.items():
            result.append(self._file(config, src_uri, content=text))
        for src_uri, path in self.plan.files.items():
            result.append(self._file(config, src_uri, abs_src_path=str(path)))
        return result

    def on_page_markdown(self, markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        if page.file.src_uri in self.generated:
            return ""  # the finished HTML arrives in on_page_content
        return markdown

    def on_page_content(self, html_text: str, page: Page, config: MkDocsConfig, files: Files) -> str:
        generated = self.generated.get(page.file.src_uri)
        return generated.html if generated is not None else html_text

    def on_post_page(self, output: str, page: Page, config: MkDocsConfig) -> str:
        self._done += 1
        if self.progress is not None and self.plan is not None:
            self.progress(self._done, len(self.plan.pages) + len(self.plan.markdown_pages))
        return output

    # -- helpers ----------------------------------------------------------------

    def _file(self, config: MkDocsConfig, src_uri: str, *, in_nav: bool = False, **source: Any) -> File:
        level = InclusionLevel.INCLUDED if in_nav or not src_uri.endswith(".md") else InclusionLevel.NOT_IN_NAV
        file = File.generated(config, src_uri, inclusion=level, **source)
        return file


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


@dataclass
class BuildResult:
    site_dir: Path
    counts: dict[str, int]  # of the whole intranet
    pages: int  # written, over all trees
    seconds: float
    problems: list[str]
    trees: list[str]  # names of the trees built


def load_intranet_config(root: Path, site_dir: Path, docs_dir: Path | None = None) -> MkDocsConfig:
    """Load ``<root>/mkdocs.yml`` (or the packaged default) for a build into ``site_dir``.

    ``docs_dir`` replaces the configured one: builds pass an empty folder, so
    MkDocs never walks the content itself (every page and file is handed to
    it by the plugin, and a symlink in the content cannot lead it anywhere).
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


def _plugin(config: MkDocsConfig) -> IntranetPlugin:
    plugin = config.plugins["intranet"]
    assert isinstance(plugin, IntranetPlugin)
    return plugin


def build_site(
    root: Path | str,
    site_dir: Path | str | None = None,
    progress: ProgressCallback | None = None,
    audience: str | None = None,
) -> BuildResult:
    """Build every audience's tree (or only ``audience``'s) and swap it in.

    The trees are built into a staging folder beside ``site_dir`` and the
    whole folder is exchanged at once, so a reader never sees one tree of
    the new build beside another of the old. Beside the trees go
    ``trees.json`` and ``trees.map`` (who reads which tree), for the web
    server; see docs/deployment.md.
    """
    started = time.monotonic()
    root = Path(root).resolve()
    site_dir = Path(site_dir).resolve() if site_dir else root / "site"
    staging = site_dir.parent / f".{site_dir.name}.building-{os.getpid()}"
    empty = site_dir.parent / f".{site_dir.name}.nodocs-{os.getpid()}"
    for folder in (staging, empty):
        if folder.exists():
            shutil.rmtree(folder)
    empty.mkdir(parents=True)
    try:
        config = load_intranet_config(root, staging, empty)
        settings = _plugin(config).settings(config)
    except (BuildError, ValueError) as exc:
        shutil.rmtree(empty, ignore_errors=True)
        raise BuildError(str(exc)) from None
    intranet = read_intranet(root)
    problems = [str(p) for p in intranet.problems]
    for problem in problems:
        log.warning("content problem: %s", problem)
    trees = plan_trees(intranet)
    if audience is not None:
        trees = [t for t in trees if t.name == audience]
        if not trees:
            shutil.rmtree(empty, ignore_errors=True)
            known = ", ".join(t.name for t in plan_trees(intranet))
            raise BuildError(f"no audience {audience!r}; this intranet's trees are: {known}")
    secret = load_secret(root / settings.state_dir)
    plans = []
    for tree in trees:
        view = view_of(intranet, tree)
        listed = listed_people(view, tree, settings.guest_directory)
        profiles = "names" if tree.guest and settings.guest_directory == "names" else "full"
        plans.append(plan_site(view, settings, secret, config.use_directory_urls, listed, profiles))
    total = sum(len(plan.pages) + len(plan.markdown_pages) for plan in plans)
    done = 0

    def tree_progress(count: int, _total: int) -> None:
        if progress is not None:
            progress(done + count, total)

    try:
        for tree, plan in zip(trees, plans, strict=True):
            config = load_intranet_config(root, staging / tree.name, empty)
            plugin = _plugin(config)
            plugin.plan, plugin.progress, plugin.problems = plan, tree_progress, problems
            mkdocs_build(config)
            done += len(plan.pages) + len(plan.markdown_pages)
        if audience is None:
            _write_access(staging, intranet, trees)
    except (MkDocsException, OSError, ValueError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(f"build failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(empty, ignore_errors=True)
    if audience is None:
        swap_in(staging, site_dir)
    else:
        site_dir.mkdir(parents=True, exist_ok=True)
        swap_in(staging / audience, site_dir / audience)
        shutil.rmtree(staging, ignore_errors=True)
    topics: dict[str, int] = {}
    for plan in plans:
        topics.update(plan.topics)
    counts = {
        "communities": len(intranet.communities),
        "topics": sum(topics.values()),
        "posts": len(intranet.posts),
        "people": len(intranet.people),
    }
    return BuildResult(site_dir, counts, total, time.monotonic() - started, problems, [t.name for t in trees])


def _write_access(site: Path, intranet: Intranet, trees: list[Tree]) -> None:
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


_RENAME_EXCHANGE = 2


def swap_in(new: Path, current: Path) -> None:
    """Put ``new`` where ``current`` is, so a reader always sees a whole site.

    On Linux the two folders are exchanged atomically (renameat2); elsewhere
    the old one is moved aside first, leaving a moment with no site.
    """
    if not current.exists():
        os.rename(new, current)
        return
    if _exchange(new, current):
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
