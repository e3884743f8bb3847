"""Settings of one intranet, with their defaults, in one place.

They live in the root's ``mkdocs.yml`` under the ``intranet`` plugin::

    plugins:
      - search
      - intranet:
          mail_domain: intranet.localhost

Every setting has a default and a one-line description here; the README's
settings table is checked against :data:`SETTINGS` by ``tests/test_docs.py``.
This module does not import MkDocs, so the mail gateway can read settings too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "mkdocs.yml"


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("mail_domain", str, "intranet.localhost", "Domain of the community addresses (<community>@<domain>)."),
    Setting("timezone", str, "UTC", "IANA time zone in which dates are shown on the site."),
    Setting("topics_per_page", int, 50, "Topics listed on each page of a community."),
    Setting("latest_items", int, 20, "Posts listed under 'What is new' on the home page."),
    Setting("feed_items", int, 50, "Posts in each Atom feed."),
    Setting("profile_posts", int, 10, "Recent posts listed on a profile page."),
)


def _default(name: str) -> Any:
    return next(s.default for s in SETTINGS if s.name == name)


@dataclass(frozen=True)
class Settings:
    mail_domain: str = _default("mail_domain")
    timezone: str = _default("timezone")
    topics_per_page: int = _default("topics_per_page")
    latest_items: int = _default("latest_items")
    feed_items: int = _default("feed_items")
    profile_posts: int = _default("profile_posts")
    site_name: str = "Intranet"
    site_url: str = ""

    @classmethod
    def from_mapping(cls, data: dict[str, Any], site_name: str = "Intranet", site_url: str = "") -> Settings:
        """Build settings from the plugin's mapping; raise ValueError on bad values."""
        known = {s.name: s for s in SETTINGS}
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            if key not in known:
                raise ValueError(f"unknown intranet setting {key!r}")
            setting = known[key]
            if not isinstance(value, setting.type) or isinstance(value, bool):
                raise ValueError(f"intranet setting {key!r} must be {setting.type.__name__}")
            values[key] = value
        if values.get("topics_per_page", 1) < 1:
            raise ValueError("intranet setting 'topics_per_page' must be at least 1")
        return cls(**values, site_name=site_name, site_url=site_url or "")


assert {s.name for s in SETTINGS} | {"site_name", "site_url"} == {f.name for f in fields(Settings)}


class _TolerantLoader(yaml.SafeLoader):
    """Safe loader that reads MkDocs' ``!!python/name:`` and ``!ENV`` tags as None."""


def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
    return None


_TolerantLoader.add_multi_constructor("tag:yaml.org,2002:python/", _ignore_tag)
_TolerantLoader.add_multi_constructor("!", _ignore_tag)


def read_settings(root: Path | str) -> Settings:
    """Read the intranet settings from ``<root>/mkdocs.yml`` without MkDocs."""
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        return Settings()
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader) or {}  # noqa: S506
    plugin: dict[str, Any] = {}
    for entry in data.get("plugins") or []:
        if isinstance(entry, dict) and "intranet" in entry:
            plugin = entry["intranet"] or {}
    return Settings.from_mapping(plugin, data.get("site_name") or "Intranet", data.get("site_url") or "")
