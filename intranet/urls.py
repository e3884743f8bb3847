"""Where each generated page and file lives on the site (pure).

Pages are named by their source URI, as MkDocs names them; links between
generated pages are relative, so a site works under any path prefix.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote


def home() -> str:
    return "index.md"


def communities() -> str:
    return "c/index.md"


def community(slug: str, page: int = 0) -> str:
    """The community's page (``page`` 0), or page ``page`` of its archive (1 = the oldest topics)."""
    return f"c/{slug}/index.md" if page == 0 else f"c/{slug}/page-{page}.md"


def community_page(slug: str, name: str) -> str:
    return f"c/{slug}/pages/{name}.md"


def community_asset(slug: str, relpath_in_pages: str) -> str:
    return f"c/{slug}/pages/{relpath_in_pages}"


def health(slug: str | None = None) -> str:
    """A community's health page, or (no ``slug``) the network's: every community side by side."""
    return "health.md" if slug is None else f"c/{slug}/health.md"


def topic(slug: str, key: str) -> str:
    return f"c/{slug}/t/{key}.md"


def attachment(slug: str, post_key: str, file: str) -> str:
    return f"c/{slug}/files/{post_key}/{file}"


def people() -> str:
    return "people/index.md"


def person(handle: str) -> str:
    return f"people/{handle}.md"


def picture(handle: str, source: str) -> str:
    """Where a person's picture (``source``: ``people/<handle>.jpg`` in the content) is published."""
    return f"people/{handle}/picture{posixpath.splitext(source)[1].lower()}"


def tags() -> str:
    return "tags/index.md"


def tag(name: str, page: int = 0) -> str:
    """The tag's page (``page`` 0), or page ``page`` of its archive (1 = the oldest topics)."""
    return f"tags/{name}.md" if page == 0 else f"tags/{name}/page-{page}.md"


def feed(slug: str | None = None) -> str:
    return "feed.xml" if slug is None else f"c/{slug}/feed.xml"


def events(slug: str) -> str:
    """The community's events page."""
    return f"c/{slug}/events.md"


def events_feed(slug: str) -> str:
    """The community's calendar feed (iCalendar), to subscribe to."""
    return f"c/{slug}/events.ics"


def stylesheet() -> str:
    return "assets/intranet.css"


def page_url(src_uri: str, directory_urls: bool = True) -> str:
    """The URL path (no leading slash) MkDocs gives a source file."""
    if not src_uri.endswith(".md"):
        return src_uri
    stem = src_uri[:-3]
    if stem == "index" or stem.endswith("/index"):
        return stem[: -len("index")]
    return f"{stem}/" if directory_urls else f"{stem}.html"


def relative(from_src: str, to_src: str, directory_urls: bool = True, anchor: str = "") -> str:
    """Relative link from one source file's page to another's."""
    here = page_url(from_src, directory_urls)
    there = page_url(to_src, directory_urls)
    base = here if here.endswith("/") or not here else posixpath.dirname(here) + "/"
    if not base:
        rel = there or "./"
    else:
        rel = _relpath(there or ".", base.rstrip("/") or ".")
        if there.endswith("/") or not there:
            rel = rel.rstrip("/") + "/"
        if rel == "./" and not there.endswith("/"):
            rel = "."
    if rel.startswith("./") and len(rel) > 2:
        rel = rel[2:]
    return quote(rel, safe="/.-_~") + (f"#{anchor}" if anchor else "")


def _relpath(path: str, start: str) -> str:
    """``posixpath.relpath`` for two paths relative to the same root, without asking for the working
    directory (a topic table links to dozens of pages: this is most of the time a link takes)."""
    to = [part for part in path.split("/") if part and part != "."]
    at = [part for part in start.split("/") if part and part != "."]
    if ".." in to or ".." in at:
        return posixpath.relpath(path, start)
    common = 0
    for a, b in zip(to, at, strict=False):
        if a != b:
            break
        common += 1
    return "/".join([".."] * (len(at) - common) + to[common:]) or "."


# Attachments whose type a browser shows or downloads safely keep their name; others get .bin.
SAFE_EXTENSIONS = {
    "pdf",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "txt",
    "csv",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "odp",
    "rtf",
    "zip",
    "ics",
    "mp3",
    "mp4",
    "m4a",
    "wav",
    "eml",
    "msg",
    "json",
    "md",
}


def published_name(file: str) -> str:
    """Name an attachment is published under: active content becomes a download."""
    ext = file.rsplit(".", 1)[-1].lower() if "." in file else ""
    return file if ext in SAFE_EXTENSIONS else f"{file}.bin"
