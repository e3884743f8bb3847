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

from .htmltree import BLOCK_TAGS, attr_text, class_names, contains, is_blank, parse_html, style_text

__all__ = ["split_html_reply"]

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
    return any(fragment in c for c in class_names(tag))


def _header_block(tag: Tag) -> bool:
    """An Outlook-style "From: / Sent: / To: / Subject:" block."""
    if tag.name not in ("div", "p", "span", "td"):
        return False
    text = " ".join(tag.get_text(" ").split())
    if not text or len(text) > 2000:
        return False
    style = style_text(tag).lower().replace(" ", "")
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
        soup = parse_html(html)
        index = _find_start(soup)
        if index is None:
            return html, ""
        return _before(html, index), _from(html, index)
    except Exception as exc:  # noqa: BLE001 - too deep to walk, or markup bs4 rejects: kept whole, nothing lost
        log.warning("HTML reply not split (%s); kept whole", type(exc).__name__)
        return html, ""


def _before(html: str, index: int) -> str:
    """The document up to (not including) its ``index``-th node, as HTML."""
    soup = parse_html(html)
    start = _node_at(soup, index)
    for node in [start, *start.parents]:
        for sibling in list(node.next_siblings):
            sibling.extract()
    start.extract()
    return str(soup)


def _from(html: str, index: int) -> str:
    """The document from its ``index``-th node on, as HTML."""
    soup = parse_html(html)
    start = _node_at(soup, index)
    for node in [start, *start.parents]:
        for sibling in list(node.previous_siblings):
            sibling.extract()
    return str(soup)
