"""Separate the new text of an email reply from quoted history and the signature.

:func:`split_reply` takes the plain-text body of an email and returns a :class:`Reply` with three parts:
``body`` (the new text, as the sender typed it), ``quoted`` (previous messages, forwards and attributions)
and ``signature`` (the sender's signature block and mobile footers). The module is pure: no I/O, no
dependency beyond the standard library, and it never raises on a ``str``.

Approach
--------
Everything is done line by line, with heuristics that put *keeping* the sender's text ahead of removing
every trace of a signature: a line that cannot be placed with confidence stays in the body.

1. **Classify each line** (:mod:`mailgateway.replylines`). Matching uses a cleaned copy of the line (no BOM
   or zero-width characters, non-breaking spaces made plain), while the result keeps the lines exactly as
   typed. The kinds are

   ``e`` blank · ``t`` text · ``q`` quoted (``>``, supercite ``C>``) · ``w`` attribution ("On ... wrote:",
   "Am ... schrieb ...:", "Le ... a écrit :"; also Dutch, Spanish, Italian, Portuguese, Swedish, Norwegian,
   Danish, Polish, Russian, Ukrainian, Chinese and Japanese forms, and date-first Gmail forms, also when a
   client wrapped it over up to six lines; "-----Original Message-----", "Begin forwarded message:" and their
   translations) ·
   ``h`` mail-header block (at least three localised From/Sent/To/Subject fields, one of them From) ·
   ``d`` signature delimiter (``--``, ``-- ``, ``__``) · ``r`` ruler (``-----``, ``=====``) · ``m`` mobile
   footer ("Sent from my iPhone", "Envoyé de mon iPhone", "Get Outlook for iOS", ...).
   Lines inside closed Markdown code fences are always text.

2. **Give every line a role**: body, quoted or signature (the ``--`` delimiter itself is dropped).

   a. Attributions and header blocks at the very top (a forward, a bottom-posted reply) are quoted; so is
      the ``>`` block right below them, unless the sender then answers between quotes.
   b. The first attribution or header block that follows new text starts the history: from there on
      everything is quoted, except when the attribution is followed by ``>`` quotes *and then by more of
      the sender's text* with no unquoted attribution below it (an inline reply): then only the
      attribution line goes.
   c. From the end of what is left, repeatedly: mobile footers and rulers go to the signature; the first
      ``--``/``__`` delimiter with text above and at most 25 lines below opens the signature; a trailing
      ``>`` block below the sender's text is quoted; a sign-off ("Best regards", "Mit freundlichen
      Grüßen", ...) followed by a short name block *with contact details* (phone, email, URL) is the
      signature, and so is such a contact block alone; and so is a last paragraph that starts with the
      sender's own name (:mod:`mailgateway.signername`), or a sign-off then that name, when the name
      comes from the ``From`` header. A bare "Thanks,\\nAnn" stays in the body.
   d. A message made only of quotes keeps them as its body, unless they open with a quoted attribution
      (a quoted thread with nothing new).
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from collections.abc import Iterable
from dataclasses import dataclass

from .disclaimers import MAX_CHARS as DISCLAIMER_CHARS
from .disclaimers import opens_disclaimer
from .replylines import (
    ATTRIB,
    BLANK,
    DELIM,
    EMAIL_RE,
    HEADER,
    MAX_CONTINUATION,
    MOBILE,
    QUOTE,
    RULER,
    TEXT,
    classify_lines,
    clean_line,
    is_attribution,
    is_weak_attribution,
    split_lines,
    strip_decoration,
)
from .signername import MAX_LINE, is_own_name

__all__ = ["Reply", "split_reply"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    body: str  # the new text, as the sender typed it (plain text), stripped of trailing blank lines
    quoted: str  # everything removed as quoted/forwarded history (plain text, may be "")
    signature: str  # the signature block removed (plain text, may be "")


# Line roles.
BODY, QUOTED, SIG, DROP = "body", "quoted", "sig", "drop"

MAX_SIG_LINES = 25  # most non-blank lines after "--" that still make a signature
MAX_TAIL_STEPS = 40  # most blocks peeled off the end of the body
MAX_NAME_BLOCK = 6  # most lines of a signature that starts with the sender's name
MAX_DISCLAIMER = DISCLAIMER_CHARS  # characters from the end of the body looked at for a disclaimer
STOPS = (DELIM, ATTRIB, HEADER)  # kinds that end the sender's text when looking ahead

_SIGNOFFS = frozenset(
    "best|best regards|kind regards|regards|warm regards|warmest regards|best wishes|cheers|thanks|thank you"
    "|many thanks|thanks again|thanks and regards|thanks & regards|sincerely|yours sincerely|sincerely yours"
    "|yours truly|all the best|take care|br|respectfully|mit freundlichen grüßen|mit freundlichen grüssen"
    "|freundliche grüße|viele grüße|beste grüße|liebe grüße|herzliche grüße|schöne grüße|grüße|gruß|lg|mfg|vg"
    "|cordialement|bien cordialement|bien à vous|amicalement|salutations|met vriendelijke groet"
    "|met vriendelijke groeten|vriendelijke groeten|groeten|groet|mvg|saludos|un saludo|saludos cordiales"
    "|atentamente|cordiali saluti|distinti saluti|saluti|atenciosamente|abraços|cumprimentos|med vänlig hälsning"
    "|vänliga hälsningar|hälsningar|mvh|med venlig hilsen|venlig hilsen|med vennlig hilsen|vennlig hilsen|hilsen"
    "|kh|pozdrawiam|z poważaniem|z powazaniem|pozdrowienia|с уважением|всего доброго|з повагою|此致|敬礼"
    "|よろしくお願いします|よろしくお願いいたします".split("|")
)
_PHONE_RE = re.compile(r"(?:\+|\(|\b)\d[\d ().\-/]{5,}\d")
_URL_RE = re.compile(r"https?://|www\.", re.IGNORECASE)
_CONTACT_LABEL_RE = re.compile(r"^(?:tel|phone|mobile?|mob|cell|fax|direct|skype|[tmfp])\.?\s*[:.]", re.IGNORECASE)


# ------------------------------------------------------------------------------------------ public API


def split_reply(text: str, sender: str = "") -> Reply:
    """Split ``text`` (a plain-text email body) into new text, quoted history and signature;
    ``sender``: the display name of who wrote it, if known."""
    try:
        return _split(text, sender)
    except Exception as exc:  # noqa: BLE001 - a bug in a heuristic must not lose the message: it is kept whole
        frames = traceback.extract_tb(exc.__traceback__)
        where = f"{os.path.basename(frames[-1].filename)}:{frames[-1].lineno} {frames[-1].name}" if frames else "?"
        log.error("reply not trimmed: %s at %s (a bug); the body is kept whole", type(exc).__name__, where)
        return Reply(body=_join(split_lines(str(text))), quoted="", signature="")


def _split(text: str, sender: str = "") -> Reply:
    doc = _Doc.parse(text)
    doc.sender = sender
    start = _take_leading_headers(doc)
    _cut_history(doc, start)
    _trim_tail(doc)
    _quote_only(doc)
    return doc.reply()


# ------------------------------------------------------------------------------------------- document


@dataclass
class _Doc:
    raw: list[str]  # the lines as typed (line endings normalised)
    clean: list[str]  # the lines as matched
    kinds: list[str]
    roles: list[str]
    size: int  # how many lines
    sender: str = ""  # the sender's display name

    @classmethod
    def parse(cls, text: str) -> _Doc:
        raw = split_lines(text)
        clean = [clean_line(line) for line in raw]
        return cls(raw, clean, classify_lines(clean), [BODY] * len(raw), len(raw))

    def body(self, start: int = 0, stop: int | None = None) -> list[int]:
        """Indices of the lines still in the body, in ``start:stop``."""
        roles = self.roles
        return [i for i in range(start, self.size if stop is None else stop) if roles[i] == BODY]

    def content(self, indices: Iterable[int]) -> list[int]:
        return [i for i in indices if self.kinds[i] != BLANK]

    def set_role(self, indices: Iterable[int], role: str) -> None:
        for i in indices:
            if self.roles[i] == BODY:
                self.roles[i] = role

    def next_content(self, i: int) -> int:
        while i < self.size and self.kinds[i] == BLANK:
            i += 1
        return i

    def kind_at(self, i: int) -> str:
        return self.kinds[i] if 0 <= i < self.size else BLANK

    def run_end(self, i: int, kinds: str) -> int:
        while i < self.size and self.kinds[i] in kinds:
            i += 1
        return i

    def reply(self) -> Reply:
        return Reply(body=self._text(BODY), quoted=self._text(QUOTED), signature=self._text(SIG))

    def _text(self, role: str) -> str:
        return _join([line for line, r in zip(self.raw, self.roles, strict=True) if r == role])


def _join(lines: list[str]) -> str:
    """Join lines, without the blank lines at either end."""
    start, stop = 0, len(lines)
    while start < stop and not lines[start].strip():
        start += 1
    while stop > start and not lines[stop - 1].strip():
        stop -= 1
    return "\n".join(lines[start:stop])


# ------------------------------------------------------------------------------------------- history


def _take_leading_headers(doc: _Doc) -> int:
    """Quote the attributions and header blocks that open the message; return where the rest starts."""
    p, took = doc.next_content(0), False
    while p < doc.size:
        kind = doc.kinds[p]
        if kind in (ATTRIB, HEADER):
            stop = doc.run_end(p, kind)
        elif kind in (DELIM, RULER) and doc.kind_at(doc.next_content(p + 1)) in (ATTRIB, HEADER):
            stop = p + 1
        else:
            break
        doc.set_role(range(p, stop), QUOTED)
        p, took = doc.next_content(stop), True
    if took and doc.kind_at(p) == QUOTE:
        stop = doc.run_end(p, QUOTE + BLANK)
        if not _quotes_follow_text(doc, stop):
            doc.set_role(range(p, stop), QUOTED)
    return p


def _cut_history(doc: _Doc, start: int) -> None:
    """Quote everything from the first attribution or header block that follows the sender's text."""
    seen_text, i = False, start
    while i < doc.size:
        kind = doc.kinds[i]
        if doc.roles[i] != BODY or kind not in (TEXT, ATTRIB, HEADER):
            i += 1
            continue
        if kind == TEXT:
            seen_text, i = True, i + 1
            continue
        stop = doc.run_end(i, kind)
        if not seen_text or (kind == ATTRIB and _answered_inline(doc, stop)):
            doc.set_role(range(i, stop), QUOTED)
            i = stop
            continue
        cut = _extend_up(doc, i, start)
        doc.set_role(range(cut, doc.size), QUOTED)
        _signature_below_quotes(doc, cut)
        return


def _answered_inline(doc: _Doc, after: int) -> bool:
    """Whether the attribution ending at ``after`` introduces ``>`` quotes that the sender then answers.

    Text after the quotes is an answer unless another unquoted attribution or header block follows it:
    then it is a history that a client left unquoted (quoting clients quote older attributions too).
    """
    p = doc.next_content(after)
    if doc.kind_at(p) != QUOTE:
        return False
    j = _text_follows(doc, doc.run_end(p, QUOTE + BLANK))
    return j is not None and not any(doc.kinds[k] in (ATTRIB, HEADER) for k in range(j, doc.size))


def _text_follows(doc: _Doc, i: int) -> int | None:
    """Index of the next text line from ``i``, unless a delimiter, attribution or header comes first."""
    for j in range(i, doc.size):
        if doc.kinds[j] == TEXT:
            return j
        if doc.kinds[j] in STOPS:
            return None
    return None


def _quotes_follow_text(doc: _Doc, i: int) -> bool:
    """Whether the sender's text after ``i`` is followed by more quotes (answers between quotes)."""
    j = _text_follows(doc, i)
    if j is None:
        return False
    for k in range(j, doc.size):
        if doc.kinds[k] == QUOTE:
            return True
        if doc.kinds[k] in STOPS:
            return False
    return False


def _extend_up(doc: _Doc, i: int, start: int) -> int:
    """Include the rulers and separators (e.g. Outlook's underscores) just above a cut."""
    j = i
    while j - 1 >= start and doc.roles[j - 1] == BODY and doc.kinds[j - 1] in (BLANK, RULER, DELIM):
        j -= 1
    return doc.next_content(j) if j < i else i


def _signature_below_quotes(doc: _Doc, cut: int) -> None:
    """A "--" signature written below the quoted history belongs to the sender, not to the history."""
    quotes = [j for j in range(cut, doc.size) if doc.kinds[j] == QUOTE]
    if not quotes:
        return
    for j in range(quotes[-1] + 1, doc.size):
        if doc.kinds[j] in (ATTRIB, HEADER):
            return
        if doc.kinds[j] == DELIM:
            rest = range(j + 1, doc.size)
            if any(doc.kinds[k] in (ATTRIB, HEADER) for k in rest) or len(doc.content(rest)) > MAX_SIG_LINES:
                return
            doc.roles[j] = DROP if doc.clean[j] == "--" else SIG
            for k in rest:
                doc.roles[k] = SIG
            return


# ---------------------------------------------------------------------------------------------- tail


def _trim_tail(doc: _Doc) -> None:
    steps = (
        _tail_footer,
        _tail_quotes,
        _tail_delimiter,
        _tail_disclaimer,
        _tail_signoff,
        _tail_contact_block,
        _tail_own_name,
    )
    for _ in range(MAX_TAIL_STEPS):  # real mail needs a handful; the bound keeps hostile input linear
        body = doc.body()  # each step changes roles only when it says yes, so all may share these
        lines = doc.content(body)
        if not any(step(doc, body, lines) for step in steps):
            return


def _tail_footer(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """A mobile footer or a ruler at the end goes to the signature."""
    last = lines[-1] if lines else None
    if last is None or doc.kinds[last] not in (MOBILE, RULER):
        return False
    doc.roles[last] = SIG
    return True


def _tail_quotes(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """A ``>`` block below the sender's text is quoted history."""
    last = lines[-1] if lines else None
    if last is None or doc.kinds[last] != QUOTE:
        return False
    first = last
    while first - 1 >= 0 and doc.roles[first - 1] == BODY and doc.kinds[first - 1] in (QUOTE, BLANK):
        first -= 1
    if not any(doc.kinds[j] == TEXT for j in doc.body(0, first)):
        return False
    doc.set_role(range(first, last + 1), QUOTED)
    return True


def _tail_delimiter(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """The first "--" (or "__") with text above and a short block below opens the signature."""
    remaining, seen_text = len(lines), False
    for n, i in enumerate(body):
        remaining -= doc.kinds[i] != BLANK
        if doc.kinds[i] == DELIM and seen_text and remaining <= MAX_SIG_LINES:
            doc.roles[i] = DROP if doc.clean[i] == "--" else SIG
            doc.set_role(body[n + 1 :], SIG)
            return True
        seen_text = seen_text or doc.kinds[i] in (TEXT, QUOTE)
    return False


def _tail_disclaimer(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """A confidentiality disclaimer in the last paragraphs (:mod:`mailgateway.disclaimers`) and what
    follows it go to the signature, when the sender wrote something above it."""
    chars = 0
    for n in range(len(lines) - 1, 0, -1):
        i = lines[n]
        chars += len(doc.clean[i])
        if chars > MAX_DISCLAIMER:
            return False
        starts_paragraph = doc.kinds[i] == TEXT and doc.kinds[i - 1] == BLANK
        if starts_paragraph and opens_disclaimer(" ".join(doc.clean[j] for j in lines[n : n + 4])):
            if not any(doc.kinds[j] in (TEXT, QUOTE) for j in lines[:n]):
                return False
            doc.set_role(range(i, lines[-1] + 1), SIG)
            return True
    return False


def _tail_signoff(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """ "Best regards," + a short name block with contact details goes to the signature."""
    for n in range(len(lines) - 2, max(len(lines) - 9, 0) - 1, -1):
        i = lines[n]
        if doc.kinds[i] == TEXT and _is_signoff(doc.clean[i]) and _is_name_block(doc, lines[n + 1 :]):
            if not any(doc.kinds[j] in (TEXT, QUOTE) for j in lines[:n]):
                return False
            doc.set_role(range(i, lines[-1] + 1), SIG)
            return True
    return False


def _is_signoff(line: str) -> bool:
    return " ".join(line.casefold().rstrip(" ,.!:;").split()) in _SIGNOFFS


def _is_name_block(doc: _Doc, lines: list[int]) -> bool:
    if not 2 <= len(lines) <= 6 or any(doc.kinds[i] != TEXT or len(doc.clean[i]) > 80 for i in lines):
        return False
    return any(_is_contact(doc.clean[i], urls=True) for i in lines)


def _tail_contact_block(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """A trailing paragraph "Name / email / phone" (two or more contact lines) is a signature."""
    if not body:
        return False
    last = lines[-1] if lines else None
    if last is None:
        return False
    first = last
    while first - 1 >= 0 and doc.roles[first - 1] == BODY and doc.kinds[first - 1] == TEXT:
        first -= 1
    block = list(range(first, last + 1))
    if not 3 <= len(block) <= 6 or not any(doc.kinds[j] == TEXT for j in doc.body(0, first)):
        return False
    name = doc.clean[first]
    if len(name.split()) > 5 or name.endswith((".", "?", "!", ":")) or _is_contact(name, urls=True):
        return False
    if sum(_is_contact(doc.clean[j], urls=False) for j in block[1:]) < 2:
        return False
    doc.set_role(block, SIG)
    return True


def _tail_own_name(doc: _Doc, body: list[int], lines: list[int]) -> bool:
    """A last paragraph of at most six short lines that starts with the sender's own name (or a sign-off
    and then it) is a signature, when the sender wrote something above it."""
    if not doc.sender or not lines:
        return False
    last = lines[-1]
    first = last
    while first - 1 >= 0 and doc.roles[first - 1] == BODY and doc.kinds[first - 1] == TEXT:
        first -= 1
    if last - first >= MAX_NAME_BLOCK or any(len(doc.clean[j]) > MAX_LINE for j in range(first, last + 1)):
        return False
    name = first + 1 if first < last and _is_signoff(doc.clean[first]) else first
    if not is_own_name(doc.clean[name], doc.sender) or not any(doc.kinds[j] == TEXT for j in doc.body(0, first)):
        return False
    doc.set_role(range(first, last + 1), SIG)
    return True


def _is_contact(line: str, urls: bool) -> bool:
    if len(line) > MAX_CONTINUATION * 2:
        return False
    digits = sum(map(str.isdigit, line))
    phone = bool(_PHONE_RE.search(line)) and digits >= 7
    return bool(EMAIL_RE.search(line) or phone or _CONTACT_LABEL_RE.match(line) or (urls and _URL_RE.search(line)))


def _quote_only(doc: _Doc) -> None:
    """A message of nothing but quotes keeps them, unless they open with a quoted attribution."""
    lines = doc.content(doc.body())
    if not lines or any(doc.kinds[i] != QUOTE for i in lines):
        return
    first = doc.clean[lines[0]].lstrip("> \t")
    if is_attribution(strip_decoration(first), wrapped=False) or is_weak_attribution(first):
        doc.set_role(doc.body(), QUOTED)
