"""What generator/mkdocs_adapter.py relies on in MkDocs and Material, checked so that an upgrade fails here first.

docs/renderer.md lists each of these. A failure names what changed; re-check the adapter against the
new release, then update CHECKED_WITH in the adapter, the pins in pyproject.toml and that page together.
"""

from __future__ import annotations

import inspect
import re
import tempfile
import tomllib
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import jinja2
import pytest
from helpers import add_post, small_intranet
from material.plugins.search.plugin import SearchPlugin
from mkdocs import utils
from mkdocs.commands.build import get_context
from mkdocs.config import load_config
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import PluginCollection
from mkdocs.structure.files import File, Files, set_exclusions
from mkdocs.structure.nav import get_navigation
from mkdocs.structure.pages import Page
from mkdocs.structure.toc import get_toc
from mkdocs.utils.yaml import RelativeDirPlaceholder
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from generator import compiled_templates, mkdocs_adapter
from generator.builder import build_site
from generator.mkdocs_adapter import CHECKED_WITH, SEARCH_PLUGIN, _mute_search_index, load_intranet_config
from generator.search_worker import worker_relpath

REPO = Path(__file__).resolve().parent.parent
RECHECK = (
    "re-check generator/mkdocs_adapter.py against what docs/renderer.md lists, then update CHECKED_WITH, "
    "the pins in pyproject.toml and docs/renderer.md together"
)


def pinned() -> dict[str, SpecifierSet]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {r.name: r.specifier for r in map(Requirement, project["dependencies"])}


@pytest.mark.parametrize("dist", sorted(CHECKED_WITH))
def test_the_installed_release_is_the_one_the_adapter_was_checked_with(dist: str) -> None:
    checked = SpecifierSet(CHECKED_WITH[dist])
    assert pinned()[dist] == checked, (
        f"pyproject.toml pins {dist}{pinned()[dist]}, the adapter was checked with {dist}{checked}: {RECHECK}"
    )
    installed = version(dist)
    assert checked.contains(installed, prereleases=True), (
        f"{dist} {installed} is installed, the adapter was checked with {dist}{checked}: {RECHECK}"
    )


SIGNATURES: list[tuple[Callable[..., object], list[str]]] = [
    (get_context, ["nav", "files", "config", "page", "base_url"]),  # not documented
    (get_navigation, ["files", "config"]),
    (set_exclusions, ["files", "config"]),
    (get_toc, ["toc_tokens"]),
    (load_config, ["config_file", "config_file_path", "kwargs"]),
    (Page.__init__, ["self", "title", "file", "config"]),
    (Page.read_source, ["self", "config"]),
    (Page.render, ["self", "config", "files"]),
    (Files.add_files_from_theme, ["self", "env", "config"]),
    (jinja2.BytecodeCache.load_bytecode, ["self", "bucket"]),  # documented, as Jinja's
    (jinja2.BytecodeCache.dump_bytecode, ["self", "bucket"]),
    (File.generated, ["config", "src_uri", "content", "abs_src_path", "inclusion"]),
    (utils.get_relative_url, ["url", "other"]),
    (utils.is_error_template, ["path"]),
]


@pytest.mark.parametrize(("function", "parameters"), SIGNATURES, ids=lambda v: getattr(v, "__qualname__", ""))
def test_what_the_adapter_calls_keeps_its_signature(function: Callable[..., object], parameters: list[str]) -> None:
    found = list(inspect.signature(function).parameters)
    assert found == parameters, f"{function.__module__}.{function.__qualname__}{found} was {parameters}: {RECHECK}"


def test_the_private_parts_are_still_there() -> None:
    assert "_current_page" in MkDocsConfig.__annotations__, f"MkDocsConfig._current_page is gone: {RECHECK}"
    reads = inspect.getsource(RelativeDirPlaceholder.value)
    assert "_current_page" in reads, f"the `!relative` tag no longer reads config._current_page: {RECHECK}"
    events = PluginCollection().events
    for name in ("page_context", "post_build"):
        assert isinstance(events.get(name), list), f"config.plugins.events[{name!r}] is no longer a list: {RECHECK}"
    for name in ("on_page_context", "on_post_build"):
        assert name in vars(SearchPlugin), f"Material's search plugin no longer has {name}: {RECHECK}"


@pytest.fixture
def config(tmp_path: Path) -> MkDocsConfig:
    (tmp_path / "communities").mkdir()
    (tmp_path / "docs").mkdir()
    return load_intranet_config(tmp_path, tmp_path / "site", tmp_path / "docs")


def handlers_of(config: MkDocsConfig, plugin: object) -> list[str]:
    return [
        event
        for event, handlers in config.plugins.events.items()
        for h in handlers
        if getattr(h, "__self__", None) is plugin
    ]


def test_materials_search_stays_configured_with_its_handlers_dropped(config: MkDocsConfig) -> None:
    plugin = config.plugins.get(SEARCH_PLUGIN)
    assert isinstance(plugin, SearchPlugin), f"{SEARCH_PLUGIN} is no longer Material's SearchPlugin: {RECHECK}"
    assert {"page_context", "post_build"} <= set(handlers_of(config, plugin)), (
        f"the search plugin's handlers are not found by their __self__: {RECHECK}"
    )
    _mute_search_index(config)
    assert not {"page_context", "post_build"} & set(handlers_of(config, plugin))
    assert plugin.config.enabled  # the header shows the search box only while it is enabled


def test_the_material_templates_the_adapter_renders_exist(config: MkDocsConfig) -> None:
    env = config.theme.get_env()
    for name in ("main.html", "404.html", "partials/header.html"):
        assert env.get_template(name), f"Material has no {name}: {RECHECK}"
    assert {"404.html", "sitemap.xml"} <= set(config.theme.static_templates), (
        f"Material's static templates changed: {RECHECK}"
    )
    header = env.loader.get_source(env, "partials/header.html")[0]  # type: ignore[union-attr]
    assert '"material/search" in config.plugins' in header and "search.enabled" in header, (
        f"Material's header no longer shows the search box by the search plugin's presence and enabled: {RECHECK}"
    )
    assert worker_relpath(config.theme.dirs), (
        f"Material's search worker is no longer at assets/javascripts/workers/search.*.min.js: {RECHECK}"
    )


def test_materials_sidebars_show_of_the_page_only_what_the_kept_sidebars_are_keyed_by(config: MkDocsConfig) -> None:
    """The kept sidebars (mkdocs_adapter._SiteNav) assume the ``site_nav`` block reads only these of the page."""
    env = config.theme.get_env()

    def source(name: str) -> str:
        return env.loader.get_source(env, name)[0]  # type: ignore[union-attr]

    base = source("base.html")
    block = base[base.index("{% block site_nav %}") : base.index("{% endblock %}", base.index("{% block site_nav %}"))]
    used = {"base.html#site_nav": set(re.findall(r"\bpage(?:\.\w+)*", block))}
    includes = set(re.findall(r'include "([^"]+)"', block))
    assert includes == {"partials/nav.html", "partials/toc.html"}, f"Material's site_nav block changed: {RECHECK}"
    for name in (
        "partials/nav.html",
        "partials/nav-item.html",
        "partials/toc.html",
        "partials/toc-item.html",
        "partials/logo.html",
        "partials/source.html",
    ):
        used[name] = set(re.findall(r"\bpage(?:\.\w+)*", source(name)))
    assert used == {
        "base.html#site_nav": {"page.meta", "page.meta.hide"},
        "partials/nav.html": set(),
        "partials/nav-item.html": {"page", "page.toc"},  # (page == or in nav items; its table of contents)
        "partials/toc.html": {"page.toc"},
        "partials/toc-item.html": set(),
        "partials/logo.html": set(),
        "partials/source.html": set(),
    }, f"Material's sidebars read more of the page than the kept sidebars are keyed by: {RECHECK}"
    skip = base[base.index('data-md-component="skip"') : base.index("md-skip")]
    assert "page.toc | first is defined" in skip, f"Material's skip link no longer follows the contents: {RECHECK}"
    assert "first.level == 1" in source("partials/toc.html"), f"Material's contents sidebar changed: {RECHECK}"


def tree_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def test_templates_compiled_and_theme_files_listed_once_make_the_same_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adapter's caches change nothing: the same bytes as compiling, listing and rendering sidebars anew."""
    (tmp_path / "intranet").mkdir()
    root = small_intranet(tmp_path / "intranet")
    for n in range(8):  # topic pages whose sidebars read the same
        add_post(root, "handover", f"<same-{n}@example.org>", subject=f"Topic {n}", body=f"Text {n}.")
    build_site(root, tmp_path / "first")  # fills the caches (if another test has not)
    sidebars, sidebars_rendered = [], []
    real_render = mkdocs_adapter._SiteNav.render

    def counted(self: Any, context: Any, parent: Any) -> str:
        sidebars.append(context["page"].url)
        return real_render(self, context, lambda: sidebars_rendered.append(1) or parent())

    monkeypatch.setattr(mkdocs_adapter._SiteNav, "render", counted)
    build_site(root, tmp_path / "cached")  # every tree from them
    assert mkdocs_adapter._THEME_FILES and compiled_templates.COMPILED._code
    assert len(sidebars) - len(sidebars_rendered) >= 2 * 7  # in each of two trees, seven topic pages reused one

    def listed_anew(env: jinja2.Environment, config: MkDocsConfig) -> Files:
        files = Files([])
        files.add_files_from_theme(env, config)
        return files

    monkeypatch.setattr(mkdocs_adapter, "COMPILED", None)  # each environment compiles for itself
    monkeypatch.setattr(mkdocs_adapter, "_theme_files", listed_anew)
    monkeypatch.setattr(mkdocs_adapter._SiteNav, "install", classmethod(lambda cls, env, nav: "main.html"))
    build_site(root, tmp_path / "anew")
    cached, anew = tree_files(tmp_path / "cached"), tree_files(tmp_path / "anew")
    assert sorted(cached) == sorted(anew)
    assert [name for name in anew if cached[name] != anew[name]] == []


def test_compiled_templates_are_taken_from_disk_by_the_next_process_only_while_their_source_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # Jinja's private cache folder goes here
    source = {"page.html": "<p>{{ greeting }}</p>"}

    def environment() -> jinja2.Environment:
        return jinja2.Environment(loader=jinja2.DictLoader(source), bytecode_cache=compiled_templates.SharedCompiled())

    assert environment().get_template("page.html").render(greeting="hi") == "<p>hi</p>"  # compiled, kept
    assert any(p.name.startswith("__intranet_") for p in tmp_path.rglob("*.cache"))
    later = environment()  # as a new process: nothing in memory

    def no_compiling(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(later, "compile", no_compiling)
    assert later.get_template("page.html").render(greeting="again") == "<p>again</p>"
    source["page.html"] = "<div>{{ greeting }}</div>"  # an edited template is compiled anew
    edited = environment()
    assert edited.get_template("page.html").render(greeting="new") == "<div>new</div>"


def test_an_edited_theme_override_is_used_by_the_next_build_of_the_process(tmp_path: Path) -> None:
    (tmp_path / "intranet").mkdir()
    root = small_intranet(tmp_path / "intranet")
    config = root / "mkdocs.yml"
    config.write_text(
        config.read_text().replace("  name: material\n", "  name: material\n  custom_dir: overrides\n", 1)
    )
    main = root / "overrides" / "main.html"
    main.parent.mkdir()
    main.write_text('{% extends "base.html" %}{% block content %}<p>OVERRIDE-ONE</p>{{ super() }}{% endblock %}')
    build_site(root)
    home = root / "site" / "staff" / "index.html"
    assert "OVERRIDE-ONE" in home.read_text()
    main.write_text('{% extends "base.html" %}{% block content %}<p>OVERRIDE-TWO</p>{{ super() }}{% endblock %}')
    (root / "overrides" / "assets").mkdir()
    (root / "overrides" / "assets" / "extra.txt").write_text("an asset added between builds")
    build_site(root)
    text = home.read_text()
    assert "OVERRIDE-TWO" in text and "OVERRIDE-ONE" not in text
    assert (root / "site" / "staff" / "assets" / "extra.txt").read_text() == "an asset added between builds"
