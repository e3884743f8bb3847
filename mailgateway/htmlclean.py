"""Mail HTML made simple before it becomes Markdown (pure).

:func:`clean_html` edits a parsed body in place: comments, scripts, styles,
hidden and Office-only elements go; Word's fake lists become real lists;
adjacent ``<b>x</b><b>y</b>`` are merged; wrappers with no Markdown of their
own (``<span>``, ``<font>``, a ``<div>`` around one block) are unwrapped; and
tables that only lay out the page become plain blocks, so that only tables of
data reach the converter as tables.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, CData, Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag
from bs4.element import PageElement

from .htmltree import attr_text, contains, join_strings, row_cells, style_text, table_rows, tags_of

__all__ = ["clean_html"]

_DROP_TAGS = frozenset(
    """applet area audio base button canvas embed frame frameset head iframe input link map math meta noscript
    object option script select source style svg template textarea title track video xml""".split()
)
_LAYOUT_HINTS = frozenset("h1 h2 h3 h4 h5 h6 ul ol dl blockquote pre hr table center".split())
# Adjacent <b>x</b><b>y</b> would give "**x****y**"; merge them first.
_MERGE = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "s": "s",
    "del": "s",
    "strike": "s",
    "code": "code",
    "tt": "code",
    "kbd": "code",
    "samp": "code",
}
# Inline elements with no Markdown of their own.
_WRAPPERS = frozenset(
    "span font o:p u small big abbr acronym cite ins mark bdi bdo nobr label time var dfn data".split()
)
_CROWDED = 64
_TABLE_PARTS = frozenset({"td", "th", "tr", "thead", "tbody", "tfoot", "caption"})
_SINGLE_BLOCKS = frozenset("div p blockquote table ul ol pre h1 h2 h3 h4 h5 h6 dl".split())
_MARKUP_STRINGS = (Comment, Declaration, Doctype, CData, ProcessingInstruction)
_HIDDEN_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_MSO_IGNORE_RE = re.compile(r"mso-list\s*:\s*ignore", re.IGNORECASE)


def clean_html(soup: BeautifulSoup) -> None:
    """Simplify a parsed mail body in place, ready for the Markdown converter.

    Each pass walks the tree itself rather than through bs4's ``find_all``/``select``: their general
    filters cost more than all the rest of the cleaning on a large body.
    """
    _drop_noise(soup)
    for br in [tag for tag in tags_of(soup, {"br"}) if tag.find_parent("pre") is not None]:
        br.replace_with("\n")
    _outlook_lists(soup)
    _merge_marks(soup)
    _flatten(soup)
    _plain_tables(soup)


def _is_layout_table(table: Tag) -> bool:
    """Tables that only arrange things on the page, not rows of data."""
    if attr_text(table, "role").lower() in ("presentation", "none"):
        return True
    rows = table_rows(table)
    cells = [cell for row in rows for cell in row_cells(row)]
    if len(rows) <= 1 or max((len(row_cells(row)) for row in rows), default=0) <= 1:
        return True
    for cell in cells:
        if contains(cell, _LAYOUT_HINTS):
            return True
        blocks = [c for c in cell.children if isinstance(c, Tag) and c.name in ("p", "div")]
        if len(blocks) > 1:
            return True
    return False


def _unwrap_layout_table(table: Tag) -> None:
    """Turn a layout table and its own rows and cells into divs (one line per cell)."""
    for row in table_rows(table):
        if row.parent is not None and row.parent is not table and row.parent.name in ("thead", "tbody", "tfoot"):
            row.parent.name = "div"
        for cell in row_cells(row):
            cell.name = "div"
        row.name = "div"
    for child in table.children:
        if isinstance(child, Tag) and child.name in ("caption", "colgroup", "col", "td", "th"):
            child.name = "div"
    table.name = "div"


def _outlook_lists(soup: BeautifulSoup) -> None:
    """Word's fake lists (``<p class=MsoListParagraph>`` + a bullet span) to real lists."""
    ignored = [span for span in tags_of(soup, {"span"}) if _MSO_IGNORE_RE.search(style_text(span))]
    if not ignored:
        return
    holders = {id(parent) for span in ignored for parent in span.parents if parent.name == "p"}
    for p in [p for p in tags_of(soup, {"p"}) if id(p) in holders]:
        ignore = next((span for span in tags_of(p, {"span"}) if _MSO_IGNORE_RE.search(style_text(span))), None)
        if ignore is None:
            continue
        marker = ignore.get_text().strip()
        ignore.decompose()
        kind = "ol" if re.fullmatch(r"[0-9A-Za-z]{1,4}[.)]", marker) else "ul"
        previous = p.previous_sibling
        while isinstance(previous, NavigableString) and not previous.strip():
            previous = previous.previous_sibling
        if isinstance(previous, Tag) and previous.name == kind and previous.get("data-mso-list") == "1":
            target = previous
        else:
            target = soup.new_tag(kind)
            target["data-mso-list"] = "1"
            p.insert_before(target)
        p.name = "li"
        target.append(p.extract())


def _flatten(soup: BeautifulSoup) -> None:
    """Drop wrappers that mean nothing in Markdown, so deep mail HTML stays shallow.

    Unwrapping <span>/<font> also joins the text they split ("https://exa<span>mple.com</span>"),
    and a <div> holding nothing but one other block adds no line of its own.
    """
    # (unwrap() finds the tag among its parent's children, so skip crowded parents to stay linear.)
    found = tags_of(soup, _WRAPPERS | {"div"})  # (unwrapping keeps the order of everything else)
    for tag in found:
        if tag.name in _WRAPPERS and tag.parent is not None and len(tag.parent.contents) <= _CROWDED:
            tag.unwrap()
    for tag in found:
        if tag.name != "div" or tag.parent is None or len(tag.parent.contents) > _CROWDED:
            continue
        children = [c for c in tag.children if not (isinstance(c, NavigableString) and not c.strip())]
        if len(children) == 1 and isinstance(children[0], Tag) and children[0].name in _SINGLE_BLOCKS:
            tag.unwrap()
    join_strings(soup)


def _drop_noise(soup: BeautifulSoup) -> None:
    """Remove comments, processing instructions and elements no reader sees (scripts, styles, hidden, Office)."""
    markup: list[PageElement] = []
    doomed: list[Tag] = []
    for node in soup.descendants:
        if isinstance(node, _MARKUP_STRINGS):
            markup.append(node)
        elif isinstance(node, Tag) and (
            node.name in _DROP_TAGS or node.name.startswith(("v:", "w:")) or _HIDDEN_RE.search(style_text(node))
        ):
            doomed.append(node)
    for node in markup:
        node.extract()
    # (bs4's Tag.decomposed looks itself up with find(); track removals by hand instead.)
    removed: set[int] = set()
    for tag in doomed:
        if not any(id(parent) in removed for parent in tag.parents):
            removed.add(id(tag))
            tag.extract()


def _merge_marks(soup: BeautifulSoup) -> None:
    """Merge adjacent elements of one kind of markup: <b>x</b><b>y</b> would give "**x****y**"."""
    merged: set[int] = set()
    for tag in tags_of(soup, _MERGE.keys()):
        if id(tag) in merged:
            continue
        following = tag.next_sibling
        while isinstance(following, Tag) and _MERGE.get(following.name) == _MERGE[tag.name]:
            for child in list(following.children):
                tag.append(child.extract())
            merged.add(id(following))
            following.extract()
            following = tag.next_sibling


def _plain_tables(soup: BeautifulSoup) -> None:
    """Layout tables, and table parts left outside a table, become plain blocks."""
    found = tags_of(soup, _TABLE_PARTS | {"table"})
    layout = [table for table in found if table.name == "table" and _is_layout_table(table)]
    for table in layout:
        _unwrap_layout_table(table)
    for tag in found:
        if tag.name in _TABLE_PARTS and tag.find_parent("table") is None:
            tag.name = "div"  # table parts outside a table (or left in an unwrapped one) are just blocks
