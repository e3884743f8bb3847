"""HTML mail bodies to Markdown (pure).

:func:`html_to_markdown` converts an HTML body with markdownify, keeping
structure (paragraphs, lists, links, emphasis, quotes, code, tables, inline
``cid:`` images) and escaping every piece of text the way
:func:`mailgateway.plaintext.text_to_markdown` escapes plain text, so that
nothing a sender writes can form Markdown or HTML of its own in
:func:`intranet.render.render_post_markdown`.

The steps: parse (:mod:`mailgateway.htmltree`), simplify
(:mod:`mailgateway.htmlclean`), convert (:mod:`mailgateway.htmlconvert`),
then tidy the Markdown and check that it shows no image but the attachments.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache

from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink

from .htmlclean import clean_html
from .htmlconvert import MailConverter
from .htmltree import parse_html, unchanging
from .plaintext import no_stray_images, text_to_markdown

__all__ = ["html_to_markdown", "soup_to_markdown"]

log = logging.getLogger(__name__)

_QUOTE_PREFIX_RE = re.compile(r"^(?:> ?)*[ \t]*")
_BLANK_QUOTE_RE = re.compile(r">[> ]*")


def html_to_markdown(html: str, cid_names: dict[str, str]) -> str:
    """HTML mail body -> clean Markdown. cid_names maps a Content-ID (without <>) to the saved attachment
    file name, so <img src="cid:x"> becomes ![alt](att-1.png).

    Links keep only http, https and mailto targets, headings are demoted to
    ``###`` and below, data tables become pipe tables and layout tables plain
    lines, remote images become ``[image: alt](url)`` links, and every piece of
    text is escaped so that it cannot form Markdown or HTML of its own.
    """
    if not html or not html.strip():
        return ""
    return soup_to_markdown(parse_html(html), cid_names)


def soup_to_markdown(soup: BeautifulSoup, cid_names: dict[str, str]) -> str:
    """:func:`html_to_markdown` of a body already parsed (:func:`mailgateway.htmltree.parse_html`).

    The soup is simplified in place on the way (:func:`mailgateway.htmlclean.clean_html`).
    """
    clean_html(soup)
    converter = MailConverter(cid_names)
    try:
        with unchanging():  # the converter only reads the tree
            markdown = converter.convert_soup(soup)
    except RecursionError:
        # Pathologically deep nesting (unclosed tags by the thousand): keep the words.
        log.warning("HTML body nested too deeply to convert; keeping its words as text")
        return _tidy(text_to_markdown("\n".join(line.strip() for line in soup.get_text("\n").split("\n"))))
    markdown = _tidy(markdown)
    if _has_stray_image(markdown, cid_names.values(), converter.images):
        markdown = no_stray_images(markdown, converter.images)  # (could add a "\\" inside code; safety first)
    return markdown


def _tidy(markdown: str) -> str:
    """Trim line ends and collapse runs of blank lines (outside fenced code, which stays as it is)."""
    lines: list[str] = []
    fence = ""
    for line in markdown.split("\n"):
        body = _QUOTE_PREFIX_RE.sub("", line).strip()
        if fence:
            if body == fence:
                fence = ""
            lines.append(line)
            continue
        line = line.rstrip(" \t")
        if re.fullmatch(r"`{3,}", body):
            fence = body  # our fences never carry an info string, and text never has a bare ``` line
        elif not line and lines and not lines[-1]:
            continue
        elif _BLANK_QUOTE_RE.fullmatch(line) and lines and lines[-1].rstrip() == line:
            continue
        lines.append(line)
    return "\n".join(lines).strip("\n")


@lru_cache(maxsize=1)
def _checker() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _has_stray_image(markdown: str, files: Iterable[str], ours: Iterable[str] = ()) -> bool:
    """Whether markdown-it would see an image other than our attachments.

    Checked only when "![" occurs outside the images the converter wrote itself (``ours``): an image
    starts at "![", and each of ours is a whole ``![label](file)`` with its label escaped, so markdown-it
    reads it as that image. Parsing a large body with markdown-it takes longer than converting it.
    """
    rest = markdown
    for image in ours:
        rest = rest.replace(image, "")
    if "![" not in rest:
        return False
    allowed = set(files) | {normalizeLink(name) for name in files}
    stack = list(_checker().parse(markdown))
    while stack:
        token = stack.pop()
        if token.type == "image" and token.attrGet("src") not in allowed:
            return True
        stack.extend(token.children or [])
    return False
