"""The Jinja environment the site's own templates (``generator/templates``) are rendered in.

One a process: its templates compiled once and kept on disk (:mod:`generator.compiled_templates`),
escaping on, undefined names an error, and the helpers every template may call.
"""

from __future__ import annotations

from functools import lru_cache

import jinja2

from intranet import urls

from .compiled_templates import COMPILED
from .polls import results_of


@lru_cache(maxsize=1)
def template_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("generator", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        bytecode_cache=COMPILED,
    )
    env.filters["filesize"] = _filesize
    env.globals.update(
        community_uri=urls.community,
        community_page_uri=urls.community_page,
        topic_uri=urls.topic,
        person_uri=urls.person,
        picture_uri=urls.picture,
        tag_uri=urls.tag,
        feed_uri=urls.feed,
        events_uri=urls.events,
        events_feed_uri=urls.events_feed,
        health_uri=urls.health,
    )
    env.globals["poll_of"] = results_of  # (polls, issue #19: templates/poll.html)
    return env


def _filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"
