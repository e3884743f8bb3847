"""Post bodies to safe HTML (pure).

A post body is untrusted: it came from a stranger's email. It is rendered by
a Markdown parser of its own (markdown-it, CommonMark, raw HTML off, no
attribute lists, no includes, no templates), then cleaned by an allow-list
sanitiser (nh3) so that whatever the parser lets through, no script, event
handler, style, ``javascript:``/``data:`` URL or foreign element reaches a
page. Editors' hand-written pages are trusted and go through MkDocs instead.
"""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Callable
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}


@lru_cache(maxsize=2)
def _parser(linkify: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": linkify, "breaks": True, "typographer": False})
    md.enable(["table", "strikethrough"] + (["linkify"] if linkify else []))
    return md


# Linkify's scan is most of the cost of rendering; text with nothing link-like skips it.
_LINK_HINT = re.compile(r"(?i)\b(?:https?|ftp|mailto):|www\.|@|\.\w{2,}|\w\.\w")


def markdown_to_html(text: str) -> str:
    """Render untrusted Markdown to HTML. Not yet safe: pass it to :func:`sanitize`."""
    return _parser(bool(_LINK_HINT.search(text))).render(text)


def sanitize(html: str, rewrite_url: Callable[[str, str], str | None] | None = None) -> str:
    """Keep only allow-listed elements, attributes and URL schemes.

    ``rewrite_url(tag, url)`` may map a relative URL (an attachment named in
    the post) to its place on the site, or return None to drop it.
    """

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        if attribute in ("href", "src") and rewrite_url is not None:
            return rewrite_url(tag, value)
        return value

    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="nofollow noopener noreferrer",
        strip_comments=True,
        attribute_filter=attribute_filter,
    )


def render_post_markdown(text: str, attachments: dict[str, str] | None = None) -> str:
    """Markdown of a post section to safe HTML.

    ``attachments`` maps an attachment's file name to its URL on the page, so
    a body can show ``![chart](att-1.png)`` in place. Any other relative URL
    is dropped: a post cannot link into the site's own files by path.
    """
    if not text.strip():
        return ""
    attachments = attachments or {}

    def rewrite(tag: str, url: str) -> str | None:
        lowered = url.strip().lower()
        if lowered.startswith(("http://", "https://", "mailto:")):
            return url
        if lowered.startswith("#"):
            return None
        name = posixpath.normpath(url.strip()).lstrip("./")
        return attachments.get(name)

    return sanitize(markdown_to_html(text), rewrite)


def excerpt(text: str, limit: int = 200) -> str:
    """Plain-text excerpt of a Markdown body (for digests): its rendered words, never cut inside a word
    nor inside Markdown (a link shows as its text, a picture not at all)."""
    return text_excerpt(html_to_text(render_post_markdown(text)), limit)


def text_excerpt(words: str, limit: int = 200) -> str:
    """The first words of plain ``words`` up to about ``limit`` characters, "…" when there are more."""
    kept: list[str] = []
    length = 0
    for word in words.split():
        if length >= limit:
            kept.append("…")
            break
        kept.append(word)
        length += len(word) + 1
    return " ".join(kept)


_TAG = re.compile(r"<[^>]+>")


def html_to_text(fragment: str) -> str:
    """The words of sanitised HTML, for the search index: tags dropped, entities read."""
    return " ".join(html.unescape(_TAG.sub(" ", fragment)).split())
