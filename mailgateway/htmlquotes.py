"""An HTML reply cut into the new text and the quoted message (pure).

:func:`split_html_reply` finds the first marker a mail client leaves where
the quoted message starts (Gmail, Apple Mail, Thunderbird, Outlook, Yahoo,
Proton and others) and cuts the document there, keeping both halves
well-formed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from itertools import chain

from bs4 import BeautifulSoup, CData, Comment, Declaration, Doctype, NavigableString, Tag
from bs4.element import PageElement

from .disclaimers import MAX_CHARS as DISCLAIMER_CHARS
from .disclaimers import opens_disclaimer
from .htmltree import (
    BLOCK_TAGS,
    attr_text,
    contains,
    is_blank,
    is_text,
    parse_html,
    replace_strings,
    style_text,
    tags_of,
)
from .replylines import clean_line, is_mobile_footer
from .signername import is_own_name

__all__ = ["split_html_reply", "split_reply_soup", "take_signature", "take_tail_signature"]

log = logging.getLogger(__name__)

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
_NOT_TEXT = (Comment, Declaration, Doctype, CData)
_LABEL_CHARS = 40  # _HEADER_LABEL_RE and _FROM_RE match within the first 27 characters of a text
_ATTRIBUTION_MAX = 400


def _is_inline(node: PageElement) -> bool:
    if isinstance(node, Tag):
        return node.name not in BLOCK_TAGS and not contains(node, BLOCK_TAGS)
    return isinstance(node, NavigableString)


def _is_br(node: PageElement) -> bool:
    return isinstance(node, Tag) and node.name == "br"


def _last_line_start(container: Tag) -> PageElement | None:
    """First node of the last non-blank line inside a block element."""
    children = list(container.children)
    end = len(children)
    while end and is_blank(children[end - 1]):
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
    while previous is not None and is_blank(previous):
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
    return fragment in attr_text(tag, "class")  # (no fragment holds a space, so it cannot span two names)


def _header_block(tag: Tag) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" block.

    Both tests start with a label at the start of the text, so only the first words are read
    unless they find one.
    """
    if tag.name not in ("div", "p", "span", "td"):
        return False
    start = _words_within(tag, _LABEL_CHARS, cut=True)
    style = style_text(tag).lower().replace(" ", "")
    framed = "border-top" in style and "solid" in style and _HEADER_LABEL_RE.match(start)
    if not framed and not _FROM_RE.match(start):
        return False
    text = _words_within(tag, 2000)
    if not text:
        return False
    if framed and len(_COLON_RE.findall(text)) > 2:
        return True  # a rule above "From: / Sent: / To:" lines, in whatever language
    return bool(_FROM_RE.match(text) and _SENT_RE.search(text) and _SUBJECT_RE.search(text))


def _words_within(tag: Tag, limit: int, cut: bool = False) -> str:
    """The words of ``tag``'s text, one space apart, read no further than ``limit`` characters:
    "" if the text is longer, or with ``cut`` its first words, ``limit`` characters at least.

    Without the limit a block holding a long quoted history would be read whole once for each of the
    blocks around it.
    """
    words: list[str] = []
    size = -1
    for string in tag.strings:
        for word in string.split():
            if cut and size >= limit:
                return " ".join(words)
            size += len(word) + 1
            if size > limit and not cut:
                return ""
            words.append(word)
    return " ".join(words)


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
    for tag in soup.descendants:
        if not isinstance(tag, Tag):
            continue
        ident = attr_text(tag, "id")
        if tag.name == "div" and (_has_class(tag, "gmail_quote") or _has_class(tag, "yahoo_quoted")):
            yield tag
        elif _has_class(tag, "protonmail_quote") or _has_class(tag, "moz-cite-prefix"):
            yield tag
        elif _has_class(tag, "moz-forward-container"):
            yield tag
        elif tag.name == "blockquote" and attr_text(tag, "type").lower() == "cite":
            yield _attribution_before(tag)
        elif ident in ("appendonsend", "OLK_SRC_BODY_SECTION", "mail-editor-reference-message-container"):
            yield tag
        elif ident in ("divRplyFwdMsg", "stopSpelling", "zwchr"):
            yield _include_rule_before(tag)
        elif _header_block(tag):
            yield _include_rule_before(tag)
        elif tag.name == "hr" and _rule_before_headers(tag):
            yield tag
    for node in soup.descendants:
        if isinstance(node, NavigableString) and not isinstance(node, _NOT_TEXT) and _ORIGINAL_RE.search(node):
            yield node


def _fallback_starts(soup: BeautifulSoup) -> Iterable[PageElement]:
    """A plain <blockquote> right after an "... wrote:" line (mail.ru, Yandex, old Yahoo)."""
    for tag in tags_of(soup, {"blockquote"}):
        start = _attribution_before(tag)
        if start is not tag:
            yield start


def _find_start(soup: BeautifulSoup) -> PageElement | None:
    """The first candidate in document order: from the client markers, else from the fallback."""
    for candidates in (_quote_starts(soup), _fallback_starts(soup)):
        found = {id(node) for node in candidates}
        if found:
            return next((node for node in soup.descendants if id(node) in found), None)
    return None


# How mail clients mark the sender's signature in HTML: Gmail, Thunderbird (class); Outlook, Apple Mail (id).
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")
SIGNATURE_CHARS = 2000  # most text after a "--" line that is still a signature (plain text: 25 lines)
_SIGNATURE_IDS = ("signature", "applemailsignature")


def take_signature(soup: BeautifulSoup) -> BeautifulSoup | None:
    """The signature a mail client marked in ``soup`` (the new part of a reply), taken out of it into a
    document of its own; None if there is none, or if nothing else would be left."""
    for tag in soup.find_all(True):
        marked = bool(set(attr_text(tag, "class").split()) & set(_SIGNATURE_CLASSES))  # (not "..._prefix")
        if (
            marked
            or attr_text(tag, "id").lower() in _SIGNATURE_IDS
            or attr_text(tag, "data-smartmail") == "gmail_signature"
        ):
            text = str(tag)
            rest = "".join(t for t in soup.find_all(string=True) if not any(p is tag for p in t.parents)).strip()
            if not rest:
                return None
            tag.decompose()
            for prefix in soup.find_all(class_="gmail_signature_prefix"):  # Gmail's "-- " above it
                prefix.decompose()
            return parse_html(text)
    return None


def take_tail_signature(soup: BeautifulSoup, sender: str = "") -> tuple[BeautifulSoup, BeautifulSoup | None]:
    """(what the sender wrote, signature) of the new part of a reply whose client marked no signature:
    from a line of just ``--`` (Outlook, Thunderbird in HTML), from a confidentiality disclaimer
    (:mod:`mailgateway.disclaimers`), when little follows it, or from a mobile footer ("Sent from my
    iPhone") that ends the text, or from the sender's own name (``sender``, their display name) starting
    a paragraph near the end, if that comes first; always with something of the sender's above it.
    ``(soup, None)`` when there is no such place; the ``--`` line itself is dropped."""
    try:
        start = _delimiter_line(soup) or _disclaimer_block(soup) or _mobile_footer(soup)
        named = _own_name_line(soup, sender) if sender else None
        if named is not None and (start is None or any(el is start for el in named.next_elements)):
            start = named
    except RecursionError:
        return soup, None
    if start is None or not any(
        s.strip() for s in start.find_all_previous(string=True) if not isinstance(s, _NOT_TEXT)
    ):  # (nothing above it: all of it is the sender's)
        return soup, None
    kept = _cut_before(start)
    if isinstance(start, NavigableString) and start.strip(" \xa0\t\r\n") in ("--", "-- "):
        start.extract()  # (the delimiter goes, as in plain text)
    _as_parsed_again(kept)
    _as_parsed_again(soup)
    return kept, soup


def _delimiter_line(soup: BeautifulSoup) -> PageElement | None:
    """The first line that is only ``--`` with at most :data:`SIGNATURE_CHARS` of text after it."""
    for string in soup.find_all(string=True):
        if isinstance(string, _NOT_TEXT) or string.strip(" \xa0\t\r\n") not in ("--", "-- "):
            continue
        before, after = string.previous_sibling, string.next_sibling
        alone = (before is None or _is_br(before)) and (after is None or _is_br(after) or not _is_inline(after))
        if alone and len(_text_after(string, SIGNATURE_CHARS + 1)) <= SIGNATURE_CHARS:
            return string
    return None


def _mobile_footer(soup: BeautifulSoup) -> PageElement | None:
    """The last line of text, if it is a mobile client's footer ("Sent from my iPhone") on a line of its own."""
    for string in reversed(soup.find_all(string=True)):
        if isinstance(string, _NOT_TEXT) or not string.strip():
            continue
        before, after = string.previous_sibling, string.next_sibling
        alone = (before is None or _is_br(before)) and (after is None or _is_br(after))
        return string if alone and is_mobile_footer(clean_line(str(string))) else None
    return None


def _own_name_line(soup: BeautifulSoup, sender: str) -> PageElement | None:
    """The last string that is the sender's own name (:func:`mailgateway.signername.is_own_name`) and
    starts a paragraph (first in its block, or after a blank line), with little text after it."""
    for string in reversed(soup.find_all(string=True)):
        if isinstance(string, _NOT_TEXT) or not is_own_name(clean_line(str(string)), sender):
            continue
        if _starts_paragraph(string) and len(_text_after(string, SIGNATURE_CHARS + 1)) <= SIGNATURE_CHARS:
            return string
        return None
    return None


def _starts_paragraph(node: PageElement) -> bool:
    """Whether ``node`` is the first thing in its block, or follows a blank line (two ``<br>``)."""

    def before(el: PageElement) -> PageElement | None:
        sibling = el.previous_sibling
        while isinstance(sibling, NavigableString) and not isinstance(sibling, _NOT_TEXT) and not sibling.strip():
            sibling = sibling.previous_sibling
        return sibling

    while before(node) is None and isinstance(node.parent, Tag) and _is_inline(node.parent):
        node = node.parent  # (the first thing in a <b> or <span> starts where they start)
    first = before(node)
    if first is None:
        return True
    second = before(first)
    return _is_br(first) and (second is None or _is_br(second))


def _disclaimer_block(soup: BeautifulSoup) -> PageElement | None:
    """The first block (no blocks inside) that opens a disclaimer, with little text after it."""
    for tag in soup.find_all(("p", "div", "td")):
        if not opens_disclaimer(_words_within(tag, 400, cut=True)) or contains(tag, BLOCK_TAGS):
            continue
        if len(_text_after(tag, DISCLAIMER_CHARS + 1)) <= DISCLAIMER_CHARS:
            return tag
    return None


def split_reply_soup(soup: BeautifulSoup) -> tuple[BeautifulSoup, BeautifulSoup | None]:
    """(new part, quoted part) of a parsed HTML reply, cut as :func:`split_html_reply` cuts the text;
    ``(soup, None)`` if no marker is found.

    ``soup`` itself becomes the quoted part: what comes before the marker is moved out of it into a
    new document, inside copies of the marker's ancestors. One parse serves both halves.
    """
    new, quoted = _split(soup)
    if quoted is not None:
        for half in (new, quoted):
            _as_parsed_again(half)
    return new, quoted


def _split(soup: BeautifulSoup) -> tuple[BeautifulSoup, BeautifulSoup | None]:
    try:
        start = _find_start(soup)
    except Exception as exc:  # noqa: BLE001 - too deep to walk: kept whole, nothing lost
        log.warning("HTML reply not split (%s); kept whole", type(exc).__name__)
        return soup, None
    if start is None:
        return soup, None
    return _cut_before(start), soup


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
        soup = parse_html(html)
    except Exception as exc:  # noqa: BLE001 - markup bs4 rejects: kept whole, nothing lost
        log.warning("HTML reply not split (%s); kept whole", type(exc).__name__)
        return html, ""
    new, quoted = _split(soup)
    if quoted is None:
        return html, ""
    return str(new), str(quoted)


def _cut_before(start: PageElement) -> BeautifulSoup:
    """Move everything before ``start`` into a new document, in copies of start's ancestors.

    Going down from the document to ``start``, each ancestor's children before the one on the way
    to ``start`` move to the copy of that ancestor; ``start``'s own document keeps ``start`` and
    what follows it, in the original ancestors.
    """
    new = parse_html("")
    target: Tag = new
    ancestors = list(start.parents)[::-1]  # the document first
    for parent, child in zip(ancestors, [*ancestors[1:], start], strict=True):
        for node in parent.contents[: parent.index(child)]:
            node.extract()  # (always the first child: found at once)
            target.append(node)
        if isinstance(child, Tag) and child is not start:
            copy = child.copy_self()
            target.append(copy)
            target = copy
    return new


_ASCII_SPACE = " \n\t\x0c\r"


def _as_parsed_again(soup: BeautifulSoup) -> None:
    """Make a half what parsing its HTML text again would make of it (as each half once was parsed).

    bs4 writes a newline after a doctype, and reads as one string the strings that the first parse
    kept apart where it skipped a stray end tag; a string of ASCII whitespace alone becomes one
    space or newline, except inside ``<pre>`` and ``<textarea>``.
    """
    for tag in [soup, *(node for node in soup.descendants if isinstance(node, Tag))]:
        contents = tag.contents
        index = len(contents) - 1
        while index >= 0:
            end = index + 1
            while index >= 0 and is_text(contents[index]):
                index -= 1
            after_doctype = index >= 0 and isinstance(contents[index], Doctype)
            if end - (index + 1) > 1 or after_doctype:
                _join(tag, index + 1, end, "\n" if after_doctype else "")
            index -= 1


def _join(tag: Tag, start: int, end: int, lead: str) -> None:
    """Replace the strings ``tag.contents[start:end]`` (maybe none) by one, ``lead`` first, as bs4 reads text."""
    strings = [node for node in tag.contents[start:end] if isinstance(node, NavigableString)]
    text = lead + "".join(strings)
    if not text.strip(_ASCII_SPACE) and not any(t.name in ("pre", "textarea") for t in [tag, *tag.parents]):
        text = "\n" if "\n" in text else " "
    replace_strings(tag, start, end, type(strings[0])(text) if strings else NavigableString(text))
