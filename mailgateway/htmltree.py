"""Reading the HTML of a mail (pure).

Parsing with BeautifulSoup, attribute values as plain strings, and questions
about where a node sits: does its Markdown start a line, which character of
text comes before or after it, does a link follow it. Shared by
:mod:`mailgateway.htmlclean`, :mod:`mailgateway.htmlmail` and
:mod:`mailgateway.htmlquotes`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, Tag
from bs4.element import PageElement, PreformattedString

BLOCK_TAGS = frozenset(
    """address article aside blockquote body br caption center dd details dialog div dl dt fieldset figcaption
    figure footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody td tfoot
    th thead tr ul [document]""".split()
)
# Blocks whose Markdown always ends the line (an empty <tbody> or <body> writes nothing at all).
_BOUNDARY_TAGS = BLOCK_TAGS - {"tbody", "thead", "tfoot", "html", "body"}
EMPHASIS_TAGS = frozenset({"b", "strong", "i", "em", "s", "del", "strike"})


_FOUND: ContextVar[dict[tuple[int, str], Tag | None] | None] = ContextVar("found_parents", default=None)


class MailTag(Tag):
    """A bs4 Tag whose ``find_parent("name")`` just walks up the parents, remembering what it found
    while the tree does not change (:func:`unchanging`).

    markdownify asks every element ``find_parent("pre")``, and bs4 builds a new search filter for
    each such call: that was a quarter of the time converting a large body took, and in deeply
    nested mail walking up from every element is the next most.
    """

    def find_parent(self, name: Any = None, attrs: Any = None, **kwargs: Any) -> Any:
        if not isinstance(name, str) or attrs is not None or kwargs:
            return super().find_parent(name, attrs, **kwargs)
        found = _FOUND.get()
        if found is None:
            parent = self.parent
            while parent is not None and parent.name != name:
                parent = parent.parent
            return parent
        below: list[Tag] = [self]  # elements whose answer is the one found
        parent = self.parent
        while parent is not None and parent.name != name:
            if (id(parent), name) in found:
                parent = found[id(parent), name]
                break
            below.append(parent)
            parent = parent.parent
        for tag in below:
            found[id(tag), name] = parent
        return parent


@contextmanager
def unchanging() -> Iterator[None]:
    """Within this block no tree changes: MailTag.find_parent may remember its answers."""
    token = _FOUND.set({})
    try:
        yield
    finally:
        _FOUND.reset(token)


def parse_html(html: str) -> BeautifulSoup:
    """A mail body parsed with html.parser, the one parser whose trees the rest of the package expects.

    Attribute values stay plain strings (``class="a b"`` too): splitting every class list while
    parsing costs time and nothing here needs the lists (see :func:`class_names`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)  # a short body may look like a URL or path
        return BeautifulSoup(html, "html.parser", multi_valued_attributes=None, element_classes={Tag: MailTag})


def tags_of(root: Tag, names: Iterable[str]) -> list[Tag]:
    """The elements below ``root`` with one of these names, in document order (bs4's find_all, without its filters)."""
    wanted = frozenset(names)
    return [node for node in root.descendants if isinstance(node, Tag) and node.name in wanted]


def join_strings(root: Tag) -> None:
    """Join each run of adjacent strings into one, as bs4's ``smooth()`` does, but without recursion."""
    for tag in [root, *(node for node in root.descendants if isinstance(node, Tag))]:
        contents = tag.contents
        index = len(contents) - 1
        while index >= 0:
            end = index + 1
            while index >= 0 and is_text(contents[index]):
                index -= 1
            if end - (index + 1) > 1:  # two strings or more, at index + 1 .. end - 1
                joined = NavigableString("".join(str(node) for node in contents[index + 1 : end]))
                replace_strings(tag, index + 1, end, joined)
            index -= 1


def is_text(node: PageElement) -> bool:
    """A string of text (not a comment, doctype, CDATA or other markup kept as a string)."""
    return isinstance(node, NavigableString) and not isinstance(node, PreformattedString)


def replace_strings(tag: Tag, start: int, end: int, joined: NavigableString) -> None:
    """Put ``joined`` in place of ``tag.contents[start:end]`` (taken out from the end: no searching)."""
    for index in range(end - 1, start - 1, -1):
        tag.contents[index].extract(_self_index=index)
    tag.insert(start, joined)


def class_names(el: Tag) -> list[str]:
    value = el.get("class")
    if not value:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def style_text(el: Tag) -> str:
    value = el.get("style") or ""
    return value if isinstance(value, str) else " ".join(value)


def attr_text(el: Tag, name: str) -> str:
    value = el.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def table_rows(table: Tag) -> list[Tag]:
    rows: list[Tag] = []
    for child in table.children:
        if not isinstance(child, Tag):
            continue
        if child.name == "tr":
            rows.append(child)
        elif child.name in ("thead", "tbody", "tfoot"):
            rows.extend(c for c in child.children if isinstance(c, Tag) and c.name == "tr")
    return rows


def row_cells(row: Tag) -> list[Tag]:
    return [c for c in row.children if isinstance(c, Tag) and c.name in ("td", "th")]


def contains(tag: Tag, names: Iterable[str]) -> bool:
    """Whether any element below ``tag`` has one of these names (bs4's find() is slow with long lists)."""
    return any(isinstance(node, Tag) and node.name in names for node in tag.descendants)


def is_blank(node: PageElement) -> bool:
    if isinstance(node, Tag):
        return node.name == "br"
    return isinstance(node, NavigableString) and not node.strip()


def at_line_start(el: PageElement) -> bool:
    """Whether the Markdown for this text node may start a line (so block markers must be escaped)."""
    node: PageElement | None = el
    while node is not None:
        previous = node.previous_sibling
        while previous is not None:
            if isinstance(previous, Tag):
                if previous.name in BLOCK_TAGS or contains(previous, BLOCK_TAGS):
                    return True
                if previous.name == "img" or previous.get_text().strip():
                    return False
            elif isinstance(previous, NavigableString) and previous.strip():
                return False
            previous = previous.previous_sibling
        parent = node.parent
        if parent is None or parent.name in BLOCK_TAGS:
            return True
        node = parent
    return True


def is_block(node: PageElement | None) -> bool:
    return isinstance(node, Tag) and node.name in BLOCK_TAGS and node.name != "br"


def _edge_string(tag: Tag, last: bool) -> NavigableString | None:
    """The first (or last) non-empty string inside a tag, found depth-first from that end."""
    stack: list[PageElement] = [tag]
    while stack:
        node = stack.pop()
        if isinstance(node, NavigableString):
            if str(node):
                return node
        elif isinstance(node, Tag):
            stack.extend(node.contents if last else reversed(node.contents))
    return None


def neighbour(el: PageElement, before: bool, marks: frozenset[str] = EMPHASIS_TAGS) -> tuple[str, bool]:
    """The text character next to an inline element, and whether it sits inside one of the ``marks`` tags.

    ``""`` means a block boundary (or nothing) is next to it.
    """
    node: PageElement | None = el
    while node is not None:
        sibling = node.previous_sibling if before else node.next_sibling
        while sibling is not None:
            found: NavigableString | None = None
            if isinstance(sibling, Tag):
                if sibling.name in _BOUNDARY_TAGS:
                    return "", False
                found = _edge_string(sibling, last=before)
                if found is None and sibling.name == "img":
                    return "!", False  # an image's Markdown starts with "!"; its alt text may end with one
            elif isinstance(sibling, NavigableString) and str(sibling):
                found = sibling
            if found is not None:
                emphasised = False
                for parent in found.parents:
                    if parent is node.parent:  # the first of el's own ancestors: marks above it hold el too
                        break
                    emphasised = emphasised or parent.name in marks
                return (str(found)[-1] if before else str(found)[0]), emphasised
            sibling = sibling.previous_sibling if before else sibling.next_sibling
        node = node.parent
        if node is None or node.name in _BOUNDARY_TAGS:
            return "", False
    return "", False


def link_follows(el: PageElement) -> bool:
    """Whether the Markdown right after this text node may start with "[" (a link or image)."""
    node: PageElement | None = el
    while node is not None:
        following = node.next_sibling
        while following is not None:
            if isinstance(following, Tag):
                if following.name in ("a", "img") or following.find(["a", "img"]) is not None:
                    return True
                if following.name in _BOUNDARY_TAGS or following.get_text():
                    return False
            elif str(following):
                return False
            following = following.next_sibling  # an empty <b></b> writes nothing: look past it
        node = node.parent
        if node is None or node.name in _BOUNDARY_TAGS:
            return False
    return False
