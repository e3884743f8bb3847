"""Atom feeds (pure): the whole intranet's and one per community."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Any
from urllib.parse import urljoin

from feedgen.feed import FeedGenerator

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(value: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters, lone surrogates)."""
    return _XML_INVALID.sub("", value)


def _absolute(site_url: str, path: str) -> str:
    return urljoin(site_url.rstrip("/") + "/", path) if site_url else "/" + path.lstrip("/")


def _tag_uri(value: str) -> str:
    """A stable Atom id for a Message-ID (which is not itself a URI)."""
    return "urn:sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def atom_feed(*, title: str, site_url: str, page: str, feed: str, entries: list[dict[str, Any]]) -> str:
    """Return an Atom document for ``entries`` (newest first).

    Each entry has ``id`` (a Message-ID), ``title``, ``link`` (site path),
    ``author``, ``date``, ``html`` (already sanitised) and ``summary``, and may have
    ``categories``: (term, label) pairs, such as ("solved", "Solved").
    """
    fg = FeedGenerator()
    fg.id(_absolute(site_url, feed))
    fg.title(_xml(title))
    fg.link(href=_absolute(site_url, page), rel="alternate")
    fg.link(href=_absolute(site_url, feed), rel="self")
    updated = max((e["date"] for e in entries), default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    fg.updated(updated)
    for item in reversed(entries):  # feedgen prepends
        fe = fg.add_entry()
        fe.id(_tag_uri(item["id"]))
        fe.title(_xml(item["title"]) or "(no subject)")
        fe.link(href=_absolute(site_url, item["link"]))
        fe.author({"name": _xml(item["author"]) or "Unknown"})
        fe.published(item["date"])
        fe.updated(item["date"])
        fe.summary(_xml(item["summary"]))
        for term, label in item.get("categories", ()):
            fe.category(term=term, label=label)
        fe.content(_xml(item["html"]), type="html")
    return fg.atom_str(pretty=True).decode("utf-8")
