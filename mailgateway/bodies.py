"""Mail bodies to Markdown (pure).

A post is stored as Markdown and later rendered by
:func:`intranet.render.render_post_markdown` (markdown-it, CommonMark with
``breaks``, linkify, tables and strikethrough, raw HTML off, then nh3). This
module turns what a mail client sent into that Markdown:

* :func:`decode_flowed` undoes RFC 3676 ``format=flowed`` soft line breaks;
* :func:`text_to_markdown` escapes a plain-text body so that it renders exactly
  as typed (line breaks, indentation, ``# not a heading``, ``<b>``, ``{{ x }}``)
  while bare ``http(s)://`` and ``www.`` addresses stay clickable;
* :func:`html_to_markdown` converts an HTML body with markdownify, keeping
  structure (paragraphs, lists, links, emphasis, quotes, code, tables, inline
  ``cid:`` images) and escaping every piece of text the same way;
* :func:`split_html_reply` cuts an HTML reply into the new text and the quoted
  message, using the markers mail clients leave.

Everything here is a pure function of its arguments.
"""

from __future__ import annotations

import re
import string
import unicodedata
import warnings
from collections.abc import Iterable
from functools import lru_cache
from itertools import chain
from urllib.parse import unquote

from bs4 import (
    BeautifulSoup,
    CData,
    Comment,
    Declaration,
    Doctype,
    MarkupResemblesLocatorWarning,
    NavigableString,
    ProcessingInstruction,
    Tag,
)
from bs4.element import PageElement
from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.common.normalize_url import normalizeLink, normalizeLinkText, validateLink
from markdownify import MarkdownConverter

__all__ = ["decode_flowed", "html_to_markdown", "split_html_reply", "text_to_markdown"]

# ---------------------------------------------------------------------------
# format=flowed (RFC 3676)
# ---------------------------------------------------------------------------


def _quoted(depth: int, text: str) -> str:
    if not depth:
        return text
    return ">" * depth + (" " + text if text else "")


def decode_flowed(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (trailing space), handle space-stuffing and quote depth,
    DelSp=yes.

    A line ending in a space is joined with the next line of the same quote
    depth; with ``delsp`` that space is removed (DelSp=yes). One leading space
    after the quote marks is space-stuffing and is removed. The signature
    separator ``"-- "`` is never flowed. Quoted lines come out as ``"> text"``
    (``">> text"`` for depth 2, and so on).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    final_newline = text.endswith("\n")
    if final_newline:
        text = text[:-1]
    out: list[str] = []
    paragraph: list[str] | None = None
    paragraph_depth = 0
    for raw in text.split("\n"):
        body = raw.lstrip(">")
        depth = len(raw) - len(body)
        if body.startswith(" "):
            body = body[1:]
        flowed = body.endswith(" ") and body != "-- "
        if paragraph is not None and depth != paragraph_depth:
            # A flowed line followed by a different quote depth: RFC 3676 4.5 says treat it as fixed.
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = None
        if flowed:
            if delsp:
                body = body[:-1]
            if paragraph is None:
                paragraph = []
                paragraph_depth = depth
            paragraph.append(body)
            continue
        if paragraph is not None:
            paragraph.append(body)
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = None
        else:
            out.append(_quoted(depth, body))
    if paragraph is not None:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out) + ("\n" if final_newline else "")


# ---------------------------------------------------------------------------
# Escaping text for the post renderer
# ---------------------------------------------------------------------------

# The renderer uses markdown-it-py's default LinkifyIt(); the same settings here
# find exactly the spans it would turn into links.
_LINKIFY = LinkifyIt()
_ASCII_PUNCT = frozenset(string.punctuation)
# Characters that can start inline Markdown anywhere in a line.
_ALWAYS = frozenset("\\`*_[]<|~")
# Block markers at the start of a line: heading, quote, list, setext underline, ordered list.
_LINE_START_RE = re.compile(r"#{1,6}(?=\s|$)|>|[+](?=\s|$)|-(?=[-\s]|$)|=(?=[=\s]|$)|[0-9]{1,9}[.)](?=\s|$)")
_CONTINUED_NUMBER_RE = re.compile(r"[0-9]{0,8}[.)](?=\s|$)")
_ENTITY_AHEAD_RE = re.compile(r"#?[A-Za-z0-9]+;")
_PARTIAL_ENTITY_RE = re.compile(r"#?[A-Za-z0-9]*")
_AUTOLINK_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9+.\-]{1,31}:[^<>\x00-\x20|]*")
_SCHEME_BEFORE_RE = re.compile(r"(?:^|[^a-z0-9.+-])([a-z][a-z0-9.+-]*)$", re.IGNORECASE)
_BARE_DEST_RE = re.compile(r"[\w.~:/?#@!$'*+,;=%-]+")


def _autolink_ok(url: str) -> bool:
    """True if ``<url>`` is a CommonMark autolink that shows exactly ``url``."""
    if not _AUTOLINK_RE.fullmatch(url):
        return False
    try:
        return normalizeLinkText(url) == url and validateLink(normalizeLink(url))
    except Exception:  # noqa: BLE001 - odd hosts can upset punycode; then use a plain link
        return False


def _dest(url: str) -> str:
    """A link destination for ``[text](...)``."""
    url = url.replace("|", "%7C")  # a pipe would split a table cell
    if _BARE_DEST_RE.fullmatch(url):
        return url
    url = re.sub(r"&(?=#?[A-Za-z0-9]+;)", r"\\&", url)
    return "<" + re.sub(r"([\\<>])", r"\\\1", url) + ">"


def _wanted_link(match: object) -> bool:
    schema = (getattr(match, "schema", "") or "").lower()
    text = getattr(match, "text", "") or ""
    return schema in ("http:", "https:") or (schema == "" and text.lower().startswith("www."))


def _link_markdown(text: str, url: str) -> str:
    if text == url and _autolink_ok(url):
        return "<" + url + ">"
    return "[" + _escape_inline(text, mode="link") + "](" + _dest(url) + ")"


def _defuse(chars: list[str], flags: list[bool]) -> None:
    """Escape punctuation inside anything linkify would turn into a link.

    The renderer's linkify only sees runs of text between escapes, so escaping
    the dots, colons, slashes and at-signs of an address splits it apart.
    """
    n = len(chars)
    i = 0
    while i < n:
        if flags[i]:
            i += 1
            continue
        j = i
        while j < n and not flags[j]:
            j += 1
        run = "".join(chars[i:j])
        # markdown-it's inline linkify rule fires at "://" after any scheme-looking word.
        colons = [i + m.start() for m in re.finditer("://", run) if _SCHEME_BEFORE_RE.search(run, 0, m.start())]
        if colons:
            for k in colons:
                flags[k] = True
            continue
        if _LINKIFY.test(run):
            changed = False
            for match in _LINKIFY.match(run) or []:
                for k in range(i + match.index, i + match.last_index):
                    if chars[k] in _ASCII_PUNCT and not flags[k]:
                        flags[k] = True
                        changed = True
            if changed:
                continue  # look at the now shorter run again
        i = j


def _escape_plain(
    text: str, *, line_start: bool, defuse: bool, at_end: bool, before_link: bool, after_digit: bool = False
) -> str:
    chars = list(text)
    flags = [False] * len(chars)
    for i, char in enumerate(chars):
        if char in _ALWAYS:
            flags[i] = True
        elif char == "&":
            flags[i] = bool(_ENTITY_AHEAD_RE.match(text, i + 1)) or (
                at_end and _PARTIAL_ENTITY_RE.fullmatch(text, i + 1) is not None
            )
        elif char == "{":
            following = text[i + 1 : i + 2]
            flags[i] = following in ("{", "%", "#") or (at_end and following == "")
    if line_start:
        start = len(text) - len(text.lstrip())  # any whitespace: converters may strip more than CommonMark
        marker = _LINE_START_RE.match(text, start)
        if marker:
            flags[marker.end() - 1 if marker.group()[0].isdigit() else marker.start()] = True
    if after_digit:  # "1" + "<b></b>" + ". item": the digits came from an earlier node
        marker = _CONTINUED_NUMBER_RE.match(text)
        if marker:
            flags[marker.end() - 1] = True
    if chars and chars[-1] == "!" and before_link:
        flags[-1] = True  # "!" followed by "[" would make an image
    if defuse:
        _defuse(chars, flags)
    return "".join("\\" + char if flag else char for char, flag in zip(chars, flags, strict=True))


def _escape_inline(
    text: str,
    *,
    mode: str = "flow",
    line_start: bool = False,
    html: bool = False,
    before: str = "",
) -> str:
    """Escape one line of text so markdown-it shows it literally.

    ``mode="flow"``: ordinary text; http(s) and www addresses become links and
    anything else linkify would link (bare domains, e-mail addresses, ftp) is
    defused. ``mode="link"``: text inside a link label, where linkify does not
    run. ``html``: the text is one node of an HTML document, so the next node
    may continue it (a trailing ``&`` or ``{`` is escaped too). ``before``: the character the Markdown
    before this text may end with: after ``!`` a ``[label](url)`` link cannot start the text (it would
    become an image), after a digit a leading ``.`` could complete an ordered-list marker.
    """
    links = []
    if mode == "flow" and _LINKIFY.test(text):
        links = [m for m in _LINKIFY.match(text) or [] if _wanted_link(m)]
        if before == "!" and links and links[0].index == 0 and not _autolink_ok(links[0].text):
            links = links[1:]
    pieces: list[str] = []
    pos = 0
    for match in [*links, None]:
        end = match.index if match is not None else len(text)
        segment = text[pos:end]
        if segment:
            pieces.append(
                _escape_plain(
                    segment,
                    line_start=line_start and pos == 0,
                    defuse=mode == "flow",
                    at_end=html and match is None,
                    before_link=match is not None,
                    after_digit=pos == 0 and before.isdigit(),
                )
            )
        if match is not None:
            pieces.append(_link_markdown(match.text, match.url))
            pos = match.last_index
    return "".join(pieces)


# ---------------------------------------------------------------------------
# Plain text
# ---------------------------------------------------------------------------


def text_to_markdown(text: str) -> str:
    """Plain text as typed -> Markdown that renders exactly as typed with render_post_markdown.

    Every character that could start Markdown is backslash-escaped, leading
    indentation becomes ``&nbsp;`` (so it shows and never makes a code block),
    line breaks stay line breaks and blank lines paragraph breaks. Bare
    ``http(s)://`` and ``www.`` addresses become links; other things linkify
    would link (bare domains, e-mail addresses) stay text.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines: list[str] = []
    for line in text.split("\n"):
        line = line.rstrip(" \t")
        if not line.strip():
            lines.append("")
            continue
        content = line.lstrip(" \t")
        indent = line[: len(line) - len(content)]
        width = len(indent.expandtabs(4))
        lines.append("&nbsp;" * width + _escape_inline(content, line_start=not indent))
    return _no_stray_images("\n".join(lines).strip("\n"))


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    """address article aside blockquote body br caption center dd details dialog div dl dt fieldset figcaption
    figure footer form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section summary table tbody td tfoot
    th thead tr ul [document]""".split()
)
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
_SINGLE_BLOCKS = frozenset("div p blockquote table ul ol pre h1 h2 h3 h4 h5 h6 dl".split())
_SPACE_RE = re.compile(r"[\t\n\r\f\v \u00a0]+")
_HIDDEN_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_TIGHT_MARGIN_RE = re.compile(r"(?:^|;)\s*margin\s*:\s*0(?:px|pt|in|cm|em)?\s*(?:;|$)", re.IGNORECASE)
_MSO_IGNORE_RE = re.compile(r"mso-list\s*:\s*ignore", re.IGNORECASE)


def _soup(html: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)  # a short body may look like a URL or path
        return BeautifulSoup(html, "html.parser")


def _classes(el: Tag) -> list[str]:
    value = el.get("class")
    if not value:
        return []
    return value.split() if isinstance(value, str) else [str(v) for v in value]


def _style(el: Tag) -> str:
    value = el.get("style") or ""
    return value if isinstance(value, str) else " ".join(value)


def _attr(el: Tag, name: str) -> str:
    value = el.get(name)
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def _own_rows(table: Tag) -> list[Tag]:
    rows: list[Tag] = []
    for child in table.children:
        if not isinstance(child, Tag):
            continue
        if child.name == "tr":
            rows.append(child)
        elif child.name in ("thead", "tbody", "tfoot"):
            rows.extend(c for c in child.children if isinstance(c, Tag) and c.name == "tr")
    return rows


def _cells(row: Tag) -> list[Tag]:
    return [c for c in row.children if isinstance(c, Tag) and c.name in ("td", "th")]


def _is_layout_table(table: Tag) -> bool:
    """Tables that only arrange things on the page, not rows of data."""
    if _attr(table, "role").lower() in ("presentation", "none"):
        return True
    rows = _own_rows(table)
    cells = [cell for row in rows for cell in _cells(row)]
    if len(rows) <= 1 or max((len(_cells(row)) for row in rows), default=0) <= 1:
        return True
    for cell in cells:
        if _contains(cell, _LAYOUT_HINTS):
            return True
        blocks = [c for c in cell.children if isinstance(c, Tag) and c.name in ("p", "div")]
        if len(blocks) > 1:
            return True
    return False


def _unwrap_layout_table(table: Tag) -> None:
    """Turn a layout table and its own rows and cells into divs (one line per cell)."""
    for row in _own_rows(table):
        if row.parent is not None and row.parent is not table and row.parent.name in ("thead", "tbody", "tfoot"):
            row.parent.name = "div"
        for cell in _cells(row):
            cell.name = "div"
        row.name = "div"
    for child in table.children:
        if isinstance(child, Tag) and child.name in ("caption", "colgroup", "col", "td", "th"):
            child.name = "div"
    table.name = "div"


def _outlook_lists(soup: BeautifulSoup) -> None:
    """Word's fake lists (``<p class=MsoListParagraph>`` + a bullet span) to real lists."""
    for p in soup.find_all("p"):
        ignore = p.find("span", style=_MSO_IGNORE_RE)
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
    for tag in soup.find_all(list(_WRAPPERS)):
        if tag.parent is not None and len(tag.parent.contents) <= _CROWDED:
            tag.unwrap()
    for tag in soup.find_all("div"):
        if tag.parent is None or len(tag.parent.contents) > _CROWDED:
            continue
        children = [c for c in tag.children if not (isinstance(c, NavigableString) and not c.strip())]
        if len(children) == 1 and isinstance(children[0], Tag) and children[0].name in _SINGLE_BLOCKS:
            tag.unwrap()
    soup.smooth()


def _prepare(soup: BeautifulSoup) -> None:
    for node in soup.find_all(string=lambda s: isinstance(s, (Comment, Declaration, Doctype, CData))):
        node.extract()
    for node in soup.find_all(string=lambda s: isinstance(s, ProcessingInstruction)):
        node.extract()
    # (bs4's Tag.decomposed looks itself up with find(); track removals by hand instead.)
    doomed = [
        tag
        for tag in soup.find_all(True)
        if tag.name in _DROP_TAGS or tag.name.startswith(("v:", "w:")) or _HIDDEN_RE.search(_style(tag))
    ]
    removed: set[int] = set()
    for tag in doomed:
        if not any(id(parent) in removed for parent in tag.parents):
            removed.add(id(tag))
            tag.extract()
    for br in soup.select("pre br"):
        br.replace_with("\n")
    _outlook_lists(soup)
    merged: set[int] = set()
    for tag in soup.find_all(list(_MERGE)):
        if id(tag) in merged:
            continue
        following = tag.next_sibling
        while isinstance(following, Tag) and _MERGE.get(following.name) == _MERGE[tag.name]:
            for child in list(following.children):
                tag.append(child.extract())
            merged.add(id(following))
            following.extract()
            following = tag.next_sibling
    _flatten(soup)
    tables = soup.find_all("table")
    layout = [table for table in tables if _is_layout_table(table)]
    for table in layout:
        _unwrap_layout_table(table)
    for tag in soup.find_all(["td", "th", "tr", "thead", "tbody", "tfoot", "caption"]):
        if tag.find_parent("table") is None:
            tag.name = "div"  # table parts outside a table (or left in an unwrapped one) are just blocks


def _contains(tag: Tag, names: Iterable[str]) -> bool:
    """Whether any element below ``tag`` has one of these names (bs4's find() is slow with long lists)."""
    return any(isinstance(node, Tag) and node.name in names for node in tag.descendants)


def _blank(node: PageElement) -> bool:
    if isinstance(node, Tag):
        return node.name == "br"
    return isinstance(node, NavigableString) and not node.strip()


def _at_line_start(el: PageElement) -> bool:
    """Whether the Markdown for this text node may start a line (so block markers must be escaped)."""
    node: PageElement | None = el
    while node is not None:
        previous = node.previous_sibling
        while previous is not None:
            if isinstance(previous, Tag):
                if previous.name in _BLOCK_TAGS or _contains(previous, _BLOCK_TAGS):
                    return True
                if previous.name == "img" or previous.get_text().strip():
                    return False
            elif isinstance(previous, NavigableString) and previous.strip():
                return False
            previous = previous.previous_sibling
        parent = node.parent
        if parent is None or parent.name in _BLOCK_TAGS:
            return True
        node = parent
    return True


def _is_md_punct(char: str) -> bool:
    return char in _ASCII_PUNCT or unicodedata.category(char).startswith(("P", "S"))


_WRAPPING_BLOCKS = _BLOCK_TAGS - {"br"}
# Blocks whose Markdown always ends the line (an empty <tbody> or <body> writes nothing at all).
_BOUNDARY_TAGS = _BLOCK_TAGS - {"tbody", "thead", "tfoot", "html", "body"}
_EMPHASIS_TAGS = frozenset({"b", "strong", "i", "em", "s", "del", "strike"})
_CODE_TAGS = frozenset({"code", "tt", "kbd", "samp"})


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


def _neighbour(el: PageElement, before: bool, marks: frozenset[str] = _EMPHASIS_TAGS) -> tuple[str, bool]:
    """The text character next to an inline element, and whether it sits inside one of the ``marks`` tags.

    ``""`` means a block boundary (or nothing) is next to it.
    """
    node: PageElement | None = el
    ancestors = {id(a) for a in el.parents}
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
                    if id(parent) in ancestors:
                        break
                    emphasised = emphasised or parent.name in marks
                return (str(found)[-1] if before else str(found)[0]), emphasised
            sibling = sibling.previous_sibling if before else sibling.next_sibling
        node = node.parent
        if node is None or node.name in _BOUNDARY_TAGS:
            return "", False
    return "", False


def _can_open(before: str, first: str) -> bool:
    if first.isspace():
        return False
    return not _is_md_punct(first) or not before or before.isspace() or _is_md_punct(before)


def _can_close(last: str, after: str) -> bool:
    if last.isspace():
        return False
    return not _is_md_punct(last) or not after or after.isspace() or _is_md_punct(after)


def _link_follows(el: PageElement) -> bool:
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


def _clean_href(href: str) -> str | None:
    href = re.sub(r"[\t\r\n]", "", href).strip()
    lowered = href.lower()
    if lowered.startswith(("http://", "https://")) and len(href) > len("https://"):
        return href
    if lowered.startswith("mailto:") and len(href) > len("mailto:"):
        return href
    return None


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _newlines(count: int) -> str:
    return "\n" * max(1, min(2, count))


_BANG_BRACKET_RE = re.compile(r"(?<!\\)((?:\\\\)*)!\[")


def _no_stray_images(markdown: str, images: Iterable[str] = ()) -> str:
    """Escape any "![" that is not one of our own images.

    Text never contains an unescaped "[", so a stray "![" can only come from a "!" that ended up
    right before a link; left alone it would show a remote image.
    """
    own = tuple(images)

    def fix(match: re.Match[str]) -> str:
        if own and markdown.startswith(own, match.end() - 2):
            return match.group(0)
        return match.group(1) + "\\!["

    return _BANG_BRACKET_RE.sub(fix, markdown)


@lru_cache(maxsize=1)
def _checker() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _has_stray_image(markdown: str, files: Iterable[str]) -> bool:
    """Whether markdown-it would see an image other than our attachments (checked only when "![" occurs)."""
    if "![" not in markdown:
        return False
    allowed = set(files) | {normalizeLink(name) for name in files}
    stack = list(_checker().parse(markdown))
    while stack:
        token = stack.pop()
        if token.type == "image" and token.attrGet("src") not in allowed:
            return True
        stack.extend(token.children or [])
    return False


def _escape_trailing_bang(markdown: str) -> str:
    """Escape a final "!" unless a backslash already escapes it."""
    if not markdown.endswith("!"):
        return markdown
    backslashes = len(markdown[:-1]) - len(markdown[:-1].rstrip("\\"))
    return markdown if backslashes % 2 else markdown[:-1] + "\\!"


def _chomp(text: str) -> tuple[str, str, str]:
    """Split text into leading whitespace, the words, and trailing whitespace (so markup hugs the words)."""
    body = text.strip()
    if not body:
        return text, "", ""
    start = text.index(body[0])
    return text[:start], text[start + len(body) :], body


def _lead(prefix: str, el: PageElement) -> str:
    """Leading whitespace of an inline element, minus spaces that would indent a new line."""
    if " " not in prefix or not _at_line_start(el):
        return prefix
    return prefix[: prefix.rindex("\n") + 1] if "\n" in prefix else ""


class _Converter(MarkdownConverter):
    """markdownify tuned for mail: escaped text, safe links, pipe tables, demoted headings.

    markdownify walks the tree and calls ``convert_<tag>(el, text, parent_tags)``
    with the already converted children; ``parent_tags`` holds the names of the
    ancestors plus ``_inline`` (inside a heading or table cell) and ``_noformat``
    (inside code).
    """

    def __init__(self, cid_names: dict[str, str]) -> None:
        super().__init__(
            heading_style="atx",
            bullets="-",
            wrap=True,
            wrap_width=None,
            escape_asterisks=False,
            escape_underscores=False,
            escape_misc=False,
            autolinks=False,
            strip_document="strip",
        )
        self.cid_names = cid_names
        self.cid_lower = {key.lower(): value for key, value in cid_names.items()}
        self.captured: dict[int, str] = {}  # table cells and captions, by id(element)
        self.real_links: dict[int, bool] = {}  # <a> elements that become Markdown links, by id(element)
        self.images: set[str] = set()  # the ![alt](file) we wrote ourselves

    # -- text ---------------------------------------------------------------

    def process_text(self, el: NavigableString, parent_tags: set[str] | None = None) -> str:
        parent_tags = parent_tags or set()
        text = str(el)
        if "pre" in parent_tags:
            return text
        text = _SPACE_RE.sub(" ", text)
        if "_noformat" not in parent_tags:
            mode = "link" if "a" in parent_tags and self._in_link_label(el) else "flow"
            before = _neighbour(el, before=True)[0]
            text = _escape_inline(text, mode=mode, line_start=_at_line_start(el), html=True, before=before)
            if _link_follows(el):
                text = _escape_trailing_bang(text)  # "!" then "[...](...)" would make an image
        previous, following = el.previous_sibling, el.next_sibling
        in_block = el.parent is not None and el.parent.name in _BLOCK_TAGS
        if (isinstance(previous, Tag) and previous.name == "br") or _is_block(previous) or (in_block and not previous):
            text = text.lstrip(" ")
        if _is_block(following) or (in_block and not following):
            text = text.rstrip(" ")
        return text

    def _in_link_label(self, el: PageElement) -> bool:
        """Whether this text ends up inside ``[...](url)``, where linkify does not run."""
        for parent in el.parents:
            if parent.name == "a":
                key = id(parent)
                if key not in self.real_links:
                    self.real_links[key] = _clean_href(_attr(parent, "href")) is not None and not _contains(
                        parent, _WRAPPING_BLOCKS
                    )
                if self.real_links[key]:
                    return True
        return False

    # -- inline -------------------------------------------------------------

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags or ("a" in parent_tags and self._in_link_label(el)):
            return text  # no links inside links
        href = _clean_href(_attr(el, "href"))
        if href is None:
            return text  # javascript:, data:, relative: keep the words, drop the target
        if _contains(el, _WRAPPING_BLOCKS):
            # A "button": <a><div>..</div></a>. A link label is one paragraph, so keep just its words.
            label = _escape_inline(" ".join(el.get_text(" ").split()), mode="link")
            return "\n\n[" + label + "](" + _dest(href) + ")\n\n" if label else text
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix
        body = re.sub(r"\n[ \t]*\n\s*", "\n", body)  # a link label cannot hold a blank line
        if " ".join(el.get_text().split()) == href and _autolink_ok(href):
            return prefix + "<" + href + ">" + suffix
        return prefix + "[" + body + "](" + _dest(href) + ")" + suffix

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        src = _attr(el, "src").strip()
        alt = " ".join((_attr(el, "alt") or _attr(el, "title")).split())
        if _attr(el, "width").strip() in ("0", "1", "2") or _attr(el, "height").strip() in ("0", "1", "2"):
            return ""  # tracking pixel
        if "_noformat" in parent_tags:
            return alt
        in_label = "a" in parent_tags and self._in_link_label(el)
        label = _escape_inline(alt, mode="link")
        # Alt text shown in place of the image is ordinary text, possibly at the start of a line.
        plain = label if in_label else _escape_inline(alt, line_start=True, html=True)
        plain = _escape_trailing_bang(plain)  # a link right after it would make "!" + "[..](..)" an image
        lowered = src.lower()
        if lowered.startswith("cid:"):
            name = self._cid_name(src[4:])
            if name:
                image = "![" + label + "](" + _dest(name) + ")"
                self.images.add(image)
                return image
            return plain
        if lowered.startswith(("http://", "https://")):
            caption = _escape_inline("image: " + alt if alt else "image", mode="link")
            if in_label:
                return label or caption  # no link inside a link; the outer link keeps the target
            return "[" + caption + "](" + _dest(src) + ")"
        return plain

    def _cid_name(self, ref: str) -> str | None:
        for key in (ref.strip().strip("<>"), unquote(ref).strip().strip("<>")):
            if key in self.cid_names:
                return self.cid_names[key]
            if key.lower() in self.cid_lower:
                return self.cid_lower[key.lower()]
        return None

    def convert_br(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if ("_inline" in parent_tags or "_noformat" in parent_tags) and "pre" not in parent_tags:
            return " "  # a table cell, heading or code span is one line
        return "\n"  # the renderer has breaks=True: a newline is a line break

    def convert_code(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return text
        if _contains(el, _WRAPPING_BLOCKS):  # <code><p>..</p></code>: no span can hold that; keep the words
            return "\n\n" + text_to_markdown(" ".join(el.get_text(" ").split())) + "\n\n"
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix
        # Two code spans touching ("`a``b`") would read as one: keep a space between them.
        if not prefix:
            char, marked = _neighbour(el, before=True, marks=_CODE_TAGS)
            prefix = " " if marked and char and not char.isspace() else ""
        if not suffix:
            char, marked = _neighbour(el, before=False, marks=_CODE_TAGS)
            suffix = " " if marked and char and not char.isspace() else ""
        longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
        if longest:
            body = " " + body + " "
        result = prefix + "`" * (longest + 1) + body + "`" * (longest + 1) + suffix
        if "table" in parent_tags and ("td" in parent_tags or "th" in parent_tags):
            result = result.replace("|", "\\|")  # GFM tables split on | even inside code
        return result

    convert_kbd = convert_code
    convert_samp = convert_code
    convert_tt = convert_code

    def _emphasis(self, el: Tag, text: str, parent_tags: set[str], marker: str, family: tuple[str, ...]) -> str:
        if "_noformat" in parent_tags or any(name in parent_tags for name in family):
            return text  # nested <b><b>: one level of markup is enough
        if _contains(el, _WRAPPING_BLOCKS):
            return text  # <b><p>..</p></b>: markers cannot wrap blocks
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix  # <b> </b> is still a space
        if re.search(r"\n[ \t]*\n", body):
            return text  # emphasis cannot span paragraphs
        before, before_marked = (prefix[-1:], False) if prefix else _neighbour(el, before=True)
        after, after_marked = (suffix[:1], False) if suffix else _neighbour(el, before=False)
        touching = (before_marked and not before.isspace()) or (after_marked and not after.isspace())
        if touching or not (_can_open(before, body[0]) and _can_close(body[-1], after)):
            return prefix + body + suffix  # CommonMark would not see the markers as emphasis
        return prefix + marker + body + marker + suffix

    def convert_b(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "**", ("b", "strong"))

    def convert_i(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "*", ("i", "em"))

    def convert_s(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "~~", ("s", "del", "strike"))

    convert_strong = convert_b
    convert_em = convert_i
    convert_del = convert_s
    convert_strike = convert_s

    def convert_sub(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # no Markdown for it; keep the words (and any blocks inside) as they are

    convert_sup = convert_sub

    def convert_hr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return " " if "_inline" in parent_tags else "\n\n***\n\n"  # not "---": "- - ---" is one rule

    def convert_q(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return '"' + text + '"'

    def convert_video(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return ""

    # -- blocks -------------------------------------------------------------

    def convert_div(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        body = text.strip(" \t\r\n")
        if not body:
            # An empty block still ends the line; one holding a <br> or a blank paragraph is a blank line.
            return "\n\n" if "\n" in text or el.find("br") is not None else "\n"
        leading = text[: len(text) - len(text.lstrip(" \t\r\n"))].count("\n")
        trailing = text[len(text.rstrip(" \t\r\n")) :].count("\n")
        return _newlines(leading) + body + _newlines(trailing)

    convert_article = convert_div
    convert_section = convert_div
    convert_center = convert_div
    convert_header = convert_div
    convert_footer = convert_div
    convert_main = convert_div
    convert_nav = convert_div
    convert_aside = convert_div
    convert_address = convert_div
    convert_figure = convert_div
    convert_figcaption = convert_div
    convert_details = convert_div
    convert_summary = convert_div
    convert_fieldset = convert_div
    convert_form = convert_div
    convert_dl = convert_div
    convert_dt = convert_div
    convert_dd = convert_div

    def convert_p(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        text = text.strip(" \t\r\n")
        tight = any(c.startswith("Mso") for c in _classes(el)) or _TIGHT_MARGIN_RE.search(_style(el))
        if tight:  # Outlook writes one <p class=MsoNormal> per line, empty ones for blank lines
            return "\n" + text + "\n" if text else "\n\n"
        return "\n\n" + text + "\n\n" if text else "\n"

    def convert_hN(self, n: int, el: Tag, text: str, parent_tags: set[str]) -> str:  # noqa: N802
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        text = " ".join(text.split())  # blocks inside a heading were flattened (_inline)
        if not text:
            return "\n"
        text = re.sub(r"(^|\s)(#+)$", r"\1\\\2", text)  # a trailing " #" would be read as a closing sequence
        return "\n\n" + "#" * max(3, min(6, n + 2)) + " " + text + "\n\n"

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + _escape_inline(" ".join(el.get_text().split()), line_start=True, html=True) + " "
        if not text.strip():
            return "\n"
        if "moz-quote-pre" in _classes(el) or "moz-signature" in _classes(el):
            return "\n\n" + text_to_markdown(el.get_text()) + "\n\n"  # Thunderbird's plain-text quotes
        text = el.get_text().strip("\n")  # only the characters: markup inside <pre> would show as text
        fence = _fence(text)
        return "\n\n" + fence + "\n" + text + "\n" + fence + "\n\n"

    def convert_blockquote(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip(" \t\r\n")
        if "_inline" in parent_tags:
            return " " + text + " "
        if not text:
            return "\n"
        quoted = "\n".join("> " + line if line else ">" for line in text.split("\n"))
        return "\n\n" + quoted + "\n\n"

    def convert_ul(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        return "\n\n" + text.strip("\n") + "\n\n" if text.strip() else "\n"

    convert_ol = convert_ul

    def convert_li(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip()
        if "_inline" in parent_tags:
            return " " + text + " "
        if not text:
            return "\n"
        parent = el.parent
        if parent is not None and parent.name == "ol":
            start = _attr(parent, "start").strip()
            first = min(int(start), 10**8) if start.isdigit() else 1
            index = first + sum(1 for s in el.previous_siblings if isinstance(s, Tag) and s.name == "li")
            bullet = f"{index}. "
        else:
            bullet = "- "
        indent = " " * len(bullet)
        lines = text.split("\n")
        body = "\n".join([lines[0]] + [indent + line if line else "" for line in lines[1:]])
        previous = el.previous_sibling
        while previous is not None and _blank(previous):
            previous = previous.previous_sibling
        # Always on a line of its own; after stray text in the list, a blank line too ("2." cannot
        # interrupt a paragraph).
        lead = "\n" if previous is None or (isinstance(previous, Tag) and previous.name == "li") else "\n\n"
        return lead + bullet + body + "\n"

    # -- tables -------------------------------------------------------------

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        self.captured[id(el)] = " ".join(text.split("\n")).strip()
        return text

    convert_th = convert_td

    def convert_tr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # the table assembles its rows from the captured cells

    def convert_caption(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        self.captured[id(el)] = " ".join(text.split())
        return self.convert_div(el, text, parent_tags)

    def convert_table(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + " ".join(text.split()) + " "
        rows: list[list[str]] = []
        for tr in _own_rows(el):
            cells: list[str] = []
            for cell in _cells(tr):
                cells.append(self.captured.get(id(cell), ""))
                span = _attr(cell, "colspan").strip()
                if span.isdigit():
                    cells.extend([""] * (min(int(span), 50) - 1))
            rows.append(cells)
        width = max((len(row) for row in rows), default=0)
        if not any(cell for row in rows for cell in row):
            return "\n"
        if width <= 1 or len(rows) <= 1:
            return "\n\n" + "\n".join(cell for row in rows for cell in row if cell) + "\n\n"
        lines = []
        for index, row in enumerate(rows):
            row = row + [""] * (width - len(row))
            lines.append("| " + " | ".join(row) + " |")
            if index == 0:
                lines.append("|" + " --- |" * width)
        caption = el.find("caption", recursive=False)
        title = self.captured.get(id(caption), "") if caption is not None else ""
        return "\n\n" + (title + "\n\n" if title else "") + "\n".join(lines) + "\n\n"


def _is_block(node: PageElement | None) -> bool:
    return isinstance(node, Tag) and node.name in _BLOCK_TAGS and node.name != "br"


_QUOTE_PREFIX_RE = re.compile(r"^(?:> ?)*[ \t]*")
_BLANK_QUOTE_RE = re.compile(r">[> ]*")


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
    soup = _soup(html)
    _prepare(soup)
    converter = _Converter(cid_names)
    try:
        markdown = converter.convert_soup(soup)
    except RecursionError:
        # Pathologically deep nesting (unclosed tags by the thousand): keep the words.
        return _tidy(text_to_markdown("\n".join(line.strip() for line in soup.get_text("\n").split("\n"))))
    markdown = _tidy(markdown)
    if _has_stray_image(markdown, cid_names.values()):
        markdown = _no_stray_images(markdown, converter.images)  # (could add a "\\" inside code; safety first)
    return markdown


# ---------------------------------------------------------------------------
# Splitting a reply from its quote
# ---------------------------------------------------------------------------

_HEADER_LABEL_RE = re.compile(r"^\s*[\w\u00C0-\uFFFF][\w\u00C0-\uFFFF .'-]{0,24}\s?[:：]")
_FROM_RE = re.compile(
    r"^\s*(From|Von|De|Da|Van|Från|Fra|Od|От|Kimden|Lähettäjä|Feladó|Από|发件人|寄件者|差出人|보낸 사람)\s?[:：]",
    re.IGNORECASE,
)
_SENT_RE = re.compile(
    r"\b(Sent|Date|Gesendet|Datum|Envoyé|Enviado|Inviato|Verzonden|Skickat|Sendt|Wysłano|Отправлено|Дата)\s?[:：]",
    re.IGNORECASE,
)
_SUBJECT_RE = re.compile(
    r"\b(Subject|Betreff|Objet|Asunto|Oggetto|Onderwerp|Ämne|Emne|Temat|Тема|Assunto)\s?[:：]",
    re.IGNORECASE,
)
_ORIGINAL_RE = re.compile(
    r"^\s*-{2,}\s*(Original Message|Forwarded message|Ursprüngliche Nachricht|Weitergeleitete Nachricht|"
    r"Message d'origine|Message transféré|Mensaje original|Messaggio originale|Oorspronkelijk bericht|"
    r"Originalmeddelande|Oprindelig meddelelse|Opprinnelig melding|Wiadomość oryginalna|Исходное сообщение)\s*-{2,}",
    re.IGNORECASE,
)
_COLON_RE = re.compile(r"[:：]")
_ATTRIBUTION_MAX = 400


def _is_inline(node: PageElement) -> bool:
    if isinstance(node, Tag):
        return node.name not in _BLOCK_TAGS and not _contains(node, _BLOCK_TAGS)
    return isinstance(node, NavigableString)


def _is_br(node: PageElement) -> bool:
    return isinstance(node, Tag) and node.name == "br"


def _last_line_start(container: Tag) -> PageElement | None:
    """First node of the last non-blank line inside a block element."""
    children = list(container.children)
    end = len(children)
    while end and _blank(children[end - 1]):
        end -= 1
    if not end:
        return None
    last = children[end - 1]
    if not _is_inline(last):
        return _last_line_start(last) if isinstance(last, Tag) else None
    start = end - 1
    while start and _is_inline(children[start - 1]) and not _is_br(children[start - 1]):
        start -= 1
    if start == 0:
        return container
    return children[start]


def _line_text_from(start: PageElement, stop: PageElement) -> str:
    parts = []
    for node in chain([start], start.next_elements):
        if node is stop:
            break
        if isinstance(node, NavigableString) and not isinstance(node, (Comment, Declaration, Doctype, CData)):
            parts.append(str(node))
    return " ".join("".join(parts).split())


def _attribution_before(marker: Tag) -> PageElement:
    """Include an "On ..., X wrote:" line just before a quote in the quoted part."""
    previous = marker.previous_sibling
    while previous is not None and _blank(previous):
        previous = previous.previous_sibling
    if previous is None:
        return marker
    if isinstance(previous, Tag) and not _is_inline(previous):
        start = _last_line_start(previous)
    else:
        start = previous
        while start.previous_sibling is not None and _is_inline(start.previous_sibling):
            sibling = start.previous_sibling
            if isinstance(sibling, Tag) and sibling.name == "br":
                break
            start = sibling
    if start is None:
        return marker
    line = _line_text_from(start, marker)
    if line.endswith((":", "：")) and len(line) <= _ATTRIBUTION_MAX:
        return start
    return marker


def _include_rule_before(marker: PageElement) -> PageElement:
    """Move the start back over a separating <hr> (Hotmail, Outlook)."""
    start = marker
    previous = start.previous_sibling
    while previous is not None:
        if isinstance(previous, NavigableString) and not previous.strip():
            previous = previous.previous_sibling
            continue
        if (
            isinstance(previous, Tag)
            and not previous.get_text().strip()
            and (previous.name == "hr" or previous.find("hr") is not None)
        ):
            start = previous
            previous = previous.previous_sibling
            continue
        break
    return start


def _has_class(tag: Tag, fragment: str) -> bool:
    return any(fragment in c for c in _classes(tag))


def _header_block(tag: Tag) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" block."""
    if tag.name not in ("div", "p", "span", "td"):
        return False
    text = " ".join(tag.get_text(" ").split())
    if not text or len(text) > 2000:
        return False
    style = _style(tag).lower().replace(" ", "")
    if "border-top" in style and "solid" in style and _HEADER_LABEL_RE.match(text) and len(_COLON_RE.findall(text)) > 2:
        return True  # a rule above "From: / Sent: / To:" lines, in whatever language
    return bool(_FROM_RE.match(text) and _SENT_RE.search(text) and _SUBJECT_RE.search(text))


def _text_after(node: PageElement, limit: int = 600) -> str:
    parts: list[str] = []
    size = 0
    for following in node.next_elements:
        if isinstance(following, NavigableString) and not isinstance(following, (Comment, Declaration, Doctype, CData)):
            parts.append(str(following))
            size += len(following)
            if size >= limit:
                break
    return " ".join(" ".join(parts).split())


def _rule_before_headers(tag: Tag) -> bool:
    """An <hr> followed by "From: ... Subject: ..." (Outlook 2003, Zimbra, AOL)."""
    text = _text_after(tag)
    return bool(_FROM_RE.match(text) and _SUBJECT_RE.search(text))


def _quote_starts(soup: BeautifulSoup) -> Iterable[PageElement]:
    """Candidate starts of the quoted part, from client-specific markers."""
    for tag in soup.find_all(True):
        ident = _attr(tag, "id")
        if tag.name == "div" and (_has_class(tag, "gmail_quote") or _has_class(tag, "yahoo_quoted")):
            yield tag
        elif _has_class(tag, "protonmail_quote") or _has_class(tag, "moz-cite-prefix"):
            yield tag
        elif _has_class(tag, "moz-forward-container"):
            yield tag
        elif tag.name == "blockquote" and _attr(tag, "type").lower() == "cite":
            yield _attribution_before(tag)
        elif ident in ("appendonsend", "OLK_SRC_BODY_SECTION", "mail-editor-reference-message-container"):
            yield tag
        elif ident in ("divRplyFwdMsg", "stopSpelling", "zwchr"):
            yield _include_rule_before(tag)
        elif _header_block(tag):
            yield _include_rule_before(tag)
        elif tag.name == "hr" and _rule_before_headers(tag):
            yield tag
    for node in soup.find_all(string=_ORIGINAL_RE):
        if not isinstance(node, (Comment, Declaration, Doctype, CData)):
            yield node


def _fallback_starts(soup: BeautifulSoup) -> Iterable[PageElement]:
    """A plain <blockquote> right after an "... wrote:" line (mail.ru, Yandex, old Yahoo)."""
    for tag in soup.find_all("blockquote"):
        start = _attribution_before(tag)
        if start is not tag:
            yield start


def _find_start(soup: BeautifulSoup) -> int | None:
    order = {id(node): index for index, node in enumerate(soup.descendants)}
    for candidates in (_quote_starts(soup), _fallback_starts(soup)):
        found = [order[id(node)] for node in candidates if id(node) in order]
        if found:
            return min(found)
    return None


def _node_at(soup: BeautifulSoup, index: int) -> PageElement:
    for position, node in enumerate(soup.descendants):
        if position == index:
            return node
    raise IndexError(index)


def split_html_reply(html: str) -> tuple[str, str]:
    """(new part, quoted part) of an HTML reply, using client markers: Gmail div.gmail_quote,
    blockquote[type=cite] (Apple/Thunderbird), div.moz-cite-prefix, Outlook #divRplyFwdMsg / #appendonsend /
    a border-top 'From:' header block, Yahoo .yahoo_quoted, Proton .protonmail_quote. The quoted part includes
    its attribution line. If nothing is found, (html, "").

    Also recognised: Hotmail ``hr#stopSpelling``, Zimbra ``#zwchr``, Outlook for Mac ``#OLK_SRC_BODY_SECTION``,
    new Outlook ``#mail-editor-reference-message-container``, Thunderbird forwards, an ``<hr>`` or block
    starting with "From: ... Sent/Date: ... Subject:", and "-----Original Message-----" lines; as a last
    resort a plain ``<blockquote>`` right after a line ending in ":" (mail.ru, Yandex, old Yahoo).

    The split is in document order: everything before the first marker is new,
    the marker and everything after it is quoted; both halves keep the
    enclosing elements, so each is a well-formed HTML fragment.
    """
    try:
        soup = _soup(html)
        index = _find_start(soup)
        if index is None:
            return html, ""
        new_soup = _soup(html)
        start = _node_at(new_soup, index)
        for node in [start, *start.parents]:
            for sibling in list(node.next_siblings):
                sibling.extract()
        start.extract()
        quoted_soup = _soup(html)
        start = _node_at(quoted_soup, index)
        for node in [start, *start.parents]:
            for sibling in list(node.previous_siblings):
                sibling.extract()
        return str(new_soup), str(quoted_soup)
    except Exception:  # noqa: BLE001 - a reply we cannot split is kept whole
        return html, ""
