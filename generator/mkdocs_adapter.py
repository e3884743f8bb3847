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
import logging
import os
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
from .config import CONFIG_FILE, SETTINGS, Settings
from .content import dump_front_matter, read_intranet
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
        self.plan: SitePlan | None = None
        self.generated: dict[str, GeneratedPage] = {}
        self.progress: ProgressCallback | None = None
        self.problems: list[str] = []
        self._done = 0

    # -- MkDocs events ----------------------------------------------------------

    def on_config(self, config: MkDocsConfig) -> MkDocsConfig:
        root = Path(config.config_file_path).parent
        settings = Settings.from_mapping(
            {s.name: self.config[s.name] for s in SETTINGS},
            site_name=config.site_name,
            site_url=config.site_url or "",
        )
        intranet = read_intranet(root)
        self.problems = [str(p) for p in intranet.problems]
        for problem in self.problems:
            log.warning("content problem: %s", problem)
        secret = load_secret(root / settings.state_dir)
        self.plan = plan_site(intranet, settings, secret, directory_urls=config.use_directory_urls)
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
    counts: dict[str, int]
    pages: int
    seconds: float
    problems: list[str]


def load_intranet_config(root: Path, site_dir: Path) -> MkDocsConfig:
    """Load ``<root>/mkdocs.yml`` (or the packaged default) for a build into ``site_dir``."""
    config_file = root / CONFIG_FILE
    overrides: dict[str, Any] = {"site_dir": str(site_dir)}
    if not config_file.is_file():
        config_file = DEFAULT_CONFIG
        overrides["docs_dir"] = str(root / "communities")
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


def build_site(
    root: Path | str, site_dir: Path | str | None = None, progress: ProgressCallback | None = None
) -> BuildResult:
    """Build the whole site into a staging folder, then swap it in for ``site_dir``."""
    started = time.monotonic()
    root = Path(root).resolve()
    site_dir = Path(site_dir).resolve() if site_dir else root / "site"
    staging = site_dir.parent / f".{site_dir.name}.building-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    config = load_intranet_config(root, staging)
    plugin = config.plugins["intranet"]
    assert isinstance(plugin, IntranetPlugin)
    plugin.progress = progress
    try:
        mkdocs_build(config)
    except (MkDocsException, OSError, ValueError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(f"build failed: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_in(staging, site_dir)
    assert plugin.plan is not None
    pages = len(plugin.plan.pages) + len(plugin.plan.markdown_pages)
    return BuildResult(site_dir, plugin.plan.counts, pages, time.monotonic() - started, plugin.problems)


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
