"""Plain text to Markdown that renders exactly as typed (pure).

A post is stored as Markdown and later rendered by
:func:`intranet.render.render_post_markdown` (markdown-it, CommonMark with
``breaks``, linkify, tables and strikethrough, raw HTML off, then nh3).
:func:`text_to_markdown` escapes a plain-text body for that renderer so that
line breaks, indentation, ``# not a heading``, ``<b>`` and ``{{ x }}`` show as
typed, while bare ``http(s)://`` and ``www.`` addresses stay clickable.

The escaping itself (:func:`escape_inline`, :func:`link_destination`,
:func:`autolink_ok`, :func:`no_stray_images`) is shared with
:mod:`mailgateway.htmlmail`, which escapes every piece of HTML text the same
way.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable
from functools import lru_cache

from linkify_it import LinkifyIt
from markdown_it.common.normalize_url import normalizeLink, normalizeLinkText, validateLink

__all__ = ["autolink_ok", "escape_inline", "link_destination", "no_stray_images", "text_to_markdown"]

log = logging.getLogger(__name__)

# The renderer uses markdown-it-py's default LinkifyIt(); the same settings here
# find exactly the spans it would turn into links.
_LINKIFY = LinkifyIt()
ASCII_PUNCT = frozenset(string.punctuation)
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
_SPECIAL_RE = re.compile(r"[\\`*_\[\]<|~&{]")  # _ALWAYS, "&" and "{": what _escape_plain looks at
# What LinkifyIt.test needs to find before it can say yes: a scheme's ":" or "//", a host's "." before
# its top-level domain or a number ("www." too), "localhost", or an e-mail address's "@" (checked the
# way it checks, ignoring case). A "." that ends a sentence or a line does not do.
_MAYBE_LINK_RE = re.compile(r"[:@]|//|\.(?=\S)|www\.|localhost", re.IGNORECASE)
_DOT_AHEAD_RE = re.compile(r"\.(?=\S)")
_WWW_RE = re.compile(r"www\.", re.IGNORECASE)
_LOCALHOST_RE = re.compile(r"localhost", re.IGNORECASE)


def _maybe_link(text: str) -> bool:
    """``bool(_MAYBE_LINK_RE.search(text))``, a few times quicker: a search that ignores case tries every
    position of the line, while most lines are ruled out by looking for one character at a time."""
    if ":" in text or "@" in text or "//" in text or _DOT_AHEAD_RE.search(text):
        return True
    if "." in text and _WWW_RE.search(text):
        return True
    return "localho" in text.lower() and bool(_LOCALHOST_RE.search(text))  # ("localhoſt" too: see the test)


def autolink_ok(url: str) -> bool:
    """True if ``<url>`` is a CommonMark autolink that shows exactly ``url``.

    Not if ``url`` holds ``![``: :func:`no_stray_images` would escape it to ``\\![``, and an
    autolink shows backslashes as typed. A ``[text](<url>)`` link takes backslash escapes.
    """
    if "![" in url or not _AUTOLINK_RE.fullmatch(url):
        return False
    try:
        return normalizeLinkText(url) == url and validateLink(normalizeLink(url))
    except UnicodeError as exc:  # surrogates or a host punycode cannot take: write a [text](url) link instead
        log.debug("no autolink for an address (%s); writing a [text](url) link", type(exc).__name__)
        return False


def link_destination(url: str) -> str:
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
    if text == url and autolink_ok(url):
        return "<" + url + ">"
    return "[" + escape_inline(text, mode="link") + "](" + link_destination(url) + ")"


@lru_cache(maxsize=256)
def _linkable(text: str) -> bool:
    """``_LINKIFY.test(text)``, remembered a while: a text is tested for its links, then again when defused."""
    return _maybe_link(text) and _LINKIFY.test(text)


def _next_flag(flags: list[bool], start: int) -> int:
    """The first flagged position from ``start`` on, or ``len(flags)``."""
    try:
        return flags.index(True, start)
    except ValueError:
        return len(flags)


def _defuse(text: str, flags: list[bool]) -> None:
    """Escape punctuation inside anything linkify would turn into a link.

    The renderer's linkify only sees runs of text between escapes, so escaping
    the dots, colons, slashes and at-signs of an address splits it apart.
    """
    n = len(text)
    i = 0
    while i < n:
        if flags[i]:
            i += 1
            continue
        j = _next_flag(flags, i)
        run = text[i:j]
        # markdown-it's inline linkify rule fires at "://" after any scheme-looking word.
        colons = []
        if "://" in run:
            colons = [i + m.start() for m in re.finditer("://", run) if _SCHEME_BEFORE_RE.search(run, 0, m.start())]
        if colons:
            for k in colons:
                flags[k] = True
            continue
        if _linkable(run):
            changed = False
            for match in _LINKIFY.match(run) or []:
                for k in range(i + match.index, i + match.last_index):
                    if text[k] in ASCII_PUNCT and not flags[k]:
                        flags[k] = True
                        changed = True
            if changed:
                continue  # look at the now shorter run again
        i = j


def _escape_plain(
    text: str, *, line_start: bool, defuse: bool, at_end: bool, before_link: bool, after_digit: bool = False
) -> str:
    flags = [False] * len(text)
    for found in _SPECIAL_RE.finditer(text):
        i = found.start()
        char = text[i]
        if char in _ALWAYS:
            flags[i] = True
        elif char == "&":
            flags[i] = bool(_ENTITY_AHEAD_RE.match(text, i + 1)) or (
                at_end and _PARTIAL_ENTITY_RE.fullmatch(text, i + 1) is not None
            )
        else:  # "{"
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
    if text.endswith("!") and before_link:
        flags[-1] = True  # "!" followed by "[" would make an image
    if defuse:
        _defuse(text, flags)
    pieces = []
    start = 0
    flagged = _next_flag(flags, 0)
    while flagged < len(text):  # a backslash before each flagged character
        pieces += [text[start:flagged], "\\"]
        start = flagged
        flagged = _next_flag(flags, flagged + 1)
    pieces.append(text[start:])
    return "".join(pieces)


def escape_inline(
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
    if mode == "flow" and not html and not before:
        typed = _as_typed(text, line_start)
        if typed is not None:
            return typed
    links = []
    if mode == "flow" and _linkable(text):
        links = [m for m in _LINKIFY.match(text) or [] if _wanted_link(m)]
        if before == "!" and links and links[0].index == 0 and not autolink_ok(links[0].text):
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


def _as_typed(text: str, line_start: bool) -> str | None:
    """What :func:`escape_inline` gives for ``text`` when nothing in it but a block marker at its start
    (a quoted line's ``>``) could be read as Markdown, and linkify would link nothing (most lines of a
    plain-text mail): the text as it is, or with that one marker escaped. None for any other text."""
    if _SPECIAL_RE.search(text) or "://" in text or _linkable(text):
        return None
    marker = _LINE_START_RE.match(text, len(text) - len(text.lstrip())) if line_start else None
    if marker is None:
        return text
    at = marker.end() - 1 if marker.group()[0].isdigit() else marker.start()  # as _escape_plain flags it
    return text[:at] + "\\" + text[at:]


def text_to_markdown(text: str) -> str:
    """Plain text as typed -> Markdown that renders exactly as typed with render_post_markdown.

    Every character that could start Markdown is backslash-escaped, leading
    indentation becomes ``&nbsp;`` (so it shows and never makes a code block),
    two or more lines in a row that start with ``- `` become a list (each item
    escaped as any line),
    line breaks stay line breaks and blank lines paragraph breaks. Bare
    ``http(s)://`` and ``www.`` addresses become links; other things linkify
    would link (bare domains, e-mail addresses) stay text.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    typed = [line.rstrip(" \t") for line in text.split("\n")]
    items = _bullet_items(typed)
    lines: list[str] = []
    marker = "+"
    for n, line in enumerate(typed):
        if not line.strip():
            lines.append("")
            continue
        if n in items:  # "- item" lines, two or more together: a list, as the sender meant
            if n - 1 not in items:  # a new list takes the other marker: Markdown would join it to one above
                marker = "+" if marker == "-" else "-"
            lines.append(f"{marker} {escape_inline(line[2:], line_start=True)}")
            continue
        content = line.lstrip(" \t")
        indent = line[: len(line) - len(content)]
        width = len(indent.expandtabs(4))
        lines.append("&nbsp;" * width + escape_inline(content, line_start=not indent))
    return no_stray_images("\n".join(lines).strip("\n"))


_BULLET_RE = re.compile(r"- \S")


def _bullet_items(lines: list[str]) -> set[int]:
    """The lines that are items of a typed list: ``- text`` at the line's start, two or more in a row."""
    found: set[int] = set()
    run: list[int] = []
    for n, line in enumerate([*lines, ""]):
        if _BULLET_RE.match(line):
            run.append(n)
            continue
        if len(run) >= 2:
            found.update(run)
        run = []
    return found


_BANG_BRACKET_RE = re.compile(r"(?<!\\)((?:\\\\)*)!\[")


def no_stray_images(markdown: str, images: Iterable[str] = ()) -> str:
    """Escape any "![" that is not one of our own images.

    Text never contains an unescaped "[", so a stray "![" can only come from a "!" that ended up
    right before a link; left alone it would show a remote image.
    """
    if "![" not in markdown:  # (most texts: the expression would try every position for nothing)
        return markdown
    own = tuple(images)

    def fix(match: re.Match[str]) -> str:
        if own and markdown.startswith(own, match.end() - 2):
            return match.group(0)
        return match.group(1) + "\\!["

    return _BANG_BRACKET_RE.sub(fix, markdown)
