"""Separate the new text of an email reply from quoted history and the signature.

:func:`split_reply` takes the plain-text body of an email and returns a :class:`Reply` with three parts:
``body`` (the new text, as the sender typed it), ``quoted`` (previous messages, forwards and attributions)
and ``signature`` (the sender's signature block and mobile footers). The module is pure: no I/O, no
dependency beyond the standard library, and it never raises on a ``str``.

Approach
--------
Everything is done line by line, with heuristics that put *keeping* the sender's text ahead of removing
every trace of a signature: a line that cannot be placed with confidence stays in the body.

1. **Classify each line.** Matching uses a cleaned copy of the line (no BOM or zero-width characters,
   non-breaking spaces made plain), while the result keeps the lines exactly as typed. The kinds are

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
      signature, and so is such a contact block alone. A bare "Thanks,\\nAnn" stays in the body.
   d. A message made only of quotes keeps them as its body, unless they open with a quoted attribution
      (a quoted thread with nothing new).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Reply", "split_reply"]


@dataclass(frozen=True)
class Reply:
    body: str  # the new text, as the sender typed it (plain text), stripped of trailing blank lines
    quoted: str  # everything removed as quoted/forwarded history (plain text, may be "")
    signature: str  # the signature block removed (plain text, may be "")


# Line kinds.
BLANK, TEXT, QUOTE, ATTRIB, FIELD, HEADER, DELIM, RULER, MOBILE = "e", "t", "q", "w", "f", "h", "d", "r", "m"
# Line roles.
BODY, QUOTED, SIG, DROP = "body", "quoted", "sig", "drop"

MAX_MATCH = 400  # longer lines are never attributions, headers or footers
MAX_SPAN = 6  # an attribution may be wrapped over this many lines
MAX_CONTINUATION = 120  # longest continuation line of a wrapped attribution
MAX_SIG_LINES = 25  # most non-blank lines after "--" that still make a signature
MAX_TAIL_STEPS = 40  # most blocks peeled off the end of the body
STOPS = (DELIM, ATTRIB, HEADER)  # kinds that end the sender's text when looking ahead

# --------------------------------------------------------------------------------------------- patterns

_INVISIBLE = {ord(c): None for c in "\ufeff\u200b\u200c\u200d\u2060\u00ad"} | {
    0xA0: " ",
    0x202F: " ",
    0x2007: " ",
}
_QUOTE_RE = re.compile(r"^(?:>|[A-Za-z]{1,3}>(?:\s|$))")
_FENCE_RE = re.compile(r"^(?:```|~~~)")
_DELIM_RE = re.compile(r"^(?:--|_{2,}|—-?|-—)$")
_RULER_RE = re.compile(r"^(?:[-=*~#+_]{3,}|[—–]{2,})$")
_EMAIL_RE = re.compile(r"\w@[\w-]+(?:\.[\w-]+)+")
_DATETIME_RE = re.compile(r"\d{1,2}[:.]\d{2}|\b(?:19|20)\d{2}\b|\d{1,4}[./-]\d{1,2}[./-]\d{1,4}|\d+\s*年")
_ENDS_EMAIL_RE = re.compile(r"<\s*[^<>\s]+@[^<>\s]+\s*>\s*[:：]?$")
_ISO_GMT_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d?:\d\d GMT[+-]\d\d?:\d\d\b")
_WEEKDAY_RE = re.compile(
    r"^(?:mon|tue|wed|thu|fri|sat|sun|lun|mar|mer|jeu|ven|sam|dim|mo|di|mi|do|fr|sa|so|ma|wo|vr|za|zo"
    r"|пн|вт|ср|чт|пт|сб|вс|нд|man|tir|ons|tor|fre|lør|søn|sön|lör)\w{0,8}[.,]\s",
    re.IGNORECASE,
)
# Words that open an attribution: "On <date>, <name> wrote:" and its translations.
_OPENERS = frozenset("on am le op el il em den dnia w at pe dne dana en в у 在 på".split())
# Verbs that end an attribution ("... wrote:"), lower case.
_VERBS_END = tuple(
    "wrote|writes|schrieb|a écrit|a ecrit|schreef|geschreven|escribió|escribio|ha scritto|scrisse|escreveu|skrev"
    "|napisał(a)|napisał|napisała|napisal(a)|napisal|pisze|написал(а)|написал|написала|написав|пише|kirjoitti"
    "|napsal(a)|napsal|napsala|írta|yazdı|έγραψε|a scris".split("|")
)
_CJK_VERBS_END = ("写道", "寫道", "書きました", "のメール", "작성")
# Verbs that sit mid-line: "Am <date> schrieb <name> <email>:", "Den <date> skrev <name>:".
_MID_VERB_RE = re.compile(
    r"(?<!\w)(?:schrieb|skrev|schreef|napisał|escribió|escreveu|a écrit|ha scritto|kirjoitti|napsal|írta"
    r"|написал|пише|写道|寫道)(?!\w)"
)
_FORWARD_MARKERS = frozenset(
    "original message|forwarded message|forwarded|reply message|message transféré|message d'origine"
    "|ursprüngliche nachricht|weitergeleitete nachricht|mensaje original|mensaje reenviado|messaggio originale"
    "|messaggio inoltrato|mensagem original|mensagem encaminhada|oorspronkelijk bericht|origineel bericht"
    "|doorgestuurd bericht|originalmeddelande|ursprungligt meddelande|vidarebefordrat meddelande"
    "|oprindelig meddelelse|videresendt meddelelse|opprinnelig melding|videresendt melding|wiadomość oryginalna"
    "|oryginalna wiadomość|przekazana wiadomość|исходное сообщение|пересланное сообщение|оригінальне повідомлення"
    "|переслане повідомлення|原始邮件|转发邮件|原始郵件|轉寄郵件|元のメッセージ|転送メッセージ".split("|")
)
_FORWARD_BEGIN = frozenset(
    "begin forwarded message|anfang der weitergeleiteten nachricht|début du message réexpédié"
    "|début du message transféré|inicio del mensaje reenviado|inizio messaggio inoltrato"
    "|início da mensagem reencaminhada|início da mensagem encaminhada|begin doorgestuurd bericht"
    "|vidarebefordrat brev|videresendt besked|начало переадресованного сообщения|转发的邮件|転送されたメッセージ".split(
        "|"
    )
)
# Mail-header field names, by what they mean (Outlook, Apple Mail and Gmail forwards, localised).
_FIELDS = {
    "from": "From Von De Van Da Fra Från Od От Від Feladó Lähettäjä Kimden Expéditeur 发件人 寄件者 差出人 送信者",
    "sent": "Sent Date Gesendet Datum Envoyé Verzonden Enviado Enviada|em Enviada Fecha Inviato Data Skickat Sendt "
    "Dato Wysłano Wysłane Отправлено Дата Надіслано Elküldve Dátum Lähetetty Päivämäärä Gönderildi Tarih "
    "发送时间 日期 寄件日期 送信日時 日付",
    "to": "To An À A Aan Para Till Til Do Кому Címzett Vastaanottaja Kime 收件人 宛先",
    "cc": "Cc Kopie Kopia Копия Копія Másolat 抄送 副本",
    "subject": "Subject Betreff Objet Onderwerp Asunto Oggetto Assunto Ämne Emne Temat Тема Tárgy Aihe Konu "
    "主题 主旨 件名",
    "reply": "Reply-To Risposta Répondre|à Antwort|an Svar|till Responder|a",
}
_FIELD_CATEGORY = {
    name.replace("|", " ").casefold(): category for category, names in _FIELDS.items() for name in names.split()
}
_FIELD_ALTERNATION = "|".join(
    re.escape(name).replace(r"\ ", r"\s") for name in sorted(_FIELD_CATEGORY, key=len, reverse=True)
)
_FIELD_RE = re.compile(rf"^[>*\s]*({_FIELD_ALTERNATION})[\s*]*[:：]", re.IGNORECASE)
_INLINE_FIELD_RE = re.compile(rf"(?:^|[\s*])({_FIELD_ALTERNATION})[\s*]*[:：]", re.IGNORECASE)

_LINK_RE = re.compile(r"<?https?://[^\s>)]*[>)]?")
_SENTENCE_RE = re.compile(r"([^,.;!]*)(.*)")
_SENT_FROM_RE = re.compile(r"^sent (?:from|with|via|by|using|on) .{1,60}$", re.IGNORECASE)
_DEVICE_RE = re.compile(
    r"i?phone|ipad|ipod|android|blackberry|mobile|cell|handy|samsung|galaxy|htc|nokia|pixel|huawei|xiaomi"
    r"|motorola|xperia|tablet|device|windows|\bpc\b|\bmac\b|watch",
    re.IGNORECASE,
)
_MOBILE_RES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"^\w+ from (?:my )?(?:mobile|phone|iphone|ipad|android)$",
        r"^(?:sent )?via (?:mobile|phone|iphone|ipad|android|blackberry)\.?$",
        r"^from my (?:iphone|ipad|ipod|android|mobile|phone|cell|blackberry|samsung|galaxy|pixel)\b.{0,20}$",
        r"^get \[?outlook for (?:ios|android)",
        r"^envoy[ée] (?:de|depuis|à partir de|a partir de|avec) (?:mon|ma|un|une) .{1,40}$",
        r"^von meinem .{1,50} gesendet\.?$",
        r"^gesendet (?:von|mit) (?:meinem|der|dem|einem) .{1,50}$",
        r"^diese nachricht wurde (?:von|mit) .{1,80} gesendet\.?$",
        r"^enviado (?:desde|do|de|com) .{1,40}$",
        r"^inviato (?:da|dal|con) .{1,40}$",
        r"^(?:verzonden|verstuurd) (?:vanaf|vanuit|met|van) .{1,40}$",
        r"^(?:sendt|skickat|skickades) (?:fra|från) .{1,40}$",
        r"^wysłan[eoa] (?:z|ze) .{1,40}$",
        r"^(?:отправлено|надіслано|відправлено) (?:с|з|из) .{1,40}$",
        r"^(?:從我的|从我的|來自我的|来自我的|发自我的|發自我的).{1,30}$",
        r"^.{1,30}から送信$",
        r"^ᐧ+$",
    )
)
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


def split_reply(text: str) -> Reply:
    """Split ``text`` (a plain-text email body) into new text, quoted history and signature."""
    try:
        return _split(text)
    except Exception:  # a last-resort guard: a message is never lost, whatever its shape
        return Reply(body=_join(_lines(str(text))), quoted="", signature="")


def _split(text: str) -> Reply:
    doc = _Doc.parse(text)
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

    @classmethod
    def parse(cls, text: str) -> _Doc:
        raw = _lines(text)
        clean = [_clean(line) for line in raw]
        return cls(raw, clean, _classify(clean), [BODY] * len(raw))

    @property
    def size(self) -> int:
        return len(self.raw)

    def body(self, start: int = 0, stop: int | None = None) -> list[int]:
        """Indices of the lines still in the body, in ``start:stop``."""
        return [i for i in range(start, self.size if stop is None else stop) if self.roles[i] == BODY]

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


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _clean(line: str) -> str:
    return line.translate(_INVISIBLE).strip()


def _join(lines: list[str]) -> str:
    """Join lines, without the blank lines at either end."""
    start, stop = 0, len(lines)
    while start < stop and not lines[start].strip():
        start += 1
    while stop > start and not lines[stop - 1].strip():
        stop -= 1
    return "\n".join(lines[start:stop])


# -------------------------------------------------------------------------------------- classification


def _classify(clean: list[str]) -> list[str]:
    kinds = [BLANK if not line else "" for line in clean]
    for start, stop in _code_fences(clean):
        kinds[start:stop] = [TEXT] * (stop - start)
    i = 0
    while i < len(clean):
        if kinds[i]:
            i += 1
            continue
        span = _attribution_span(clean, i)
        if span and TEXT not in kinds[i : i + span]:  # never across a code fence
            kinds[i : i + span] = [ATTRIB] * span
            i += span
            continue
        kinds[i] = _line_kind(clean[i])
        i += 1
    _mark_header_blocks(clean, kinds)
    return kinds


def _code_fences(clean: list[str]) -> list[tuple[int, int]]:
    """Closed Markdown code fences, as ``(first, after_last)`` line ranges."""
    fences, opened = [], None
    for i, line in enumerate(clean):
        if _FENCE_RE.match(line):
            if opened is None:
                opened = i
            else:
                fences.append((opened, i + 1))
                opened = None
    return fences


def _line_kind(line: str) -> str:
    if _QUOTE_RE.match(line):
        return QUOTE
    if len(line) > MAX_MATCH:
        return TEXT
    if _DELIM_RE.match(line):
        return DELIM
    if _RULER_RE.match(line):
        return RULER
    if _is_mobile_footer(line):
        return MOBILE
    if _FIELD_RE.match(line):
        return HEADER if _is_inline_header(line) else FIELD
    return TEXT


def _is_mobile_footer(line: str) -> bool:
    if any(p.match(line) for p in _MOBILE_RES):
        return True
    bare = _LINK_RE.sub("", line).strip(" ()<>[]*_\"'")
    head, rest = _SENTENCE_RE.match(bare).groups()  # type: ignore[union-attr]  # always matches
    if not _SENT_FROM_RE.match(head.strip()):
        return False
    if not rest.strip(" .,;!"):
        return len(head.split()) <= 9
    return bool(_DEVICE_RE.search(head) or re.search(r"excuse|typo|brevity|brief", rest, re.IGNORECASE))


def _is_inline_header(line: str) -> bool:
    """An Outlook header flattened on one line: "From: a Sent: b To: c Subject: d"."""
    categories = {_FIELD_CATEGORY.get(m.casefold()) for m in _INLINE_FIELD_RE.findall(line)}
    return {"from", "subject"} <= categories and len(categories) >= 3


# ---------------------------------------------------------------------------------------- attributions


def _attribution_span(clean: list[str], i: int) -> int:
    """How many lines, from ``i``, form an attribution such as "On <date>, <name> wrote:" (0 if none)."""
    first = clean[i]
    if _QUOTE_RE.match(first) or len(first) > MAX_MATCH:
        return 0
    core = _strip_decoration(first)
    if _is_forward_marker(first) or _is_attribution(core, wrapped=False):
        return 1
    if _is_weak_attribution(core) and _QUOTE_RE.match(_next_nonblank(clean, i + 1)):
        return 1
    return _wrapped_attribution_span(clean, i, core) if _could_open_attribution(core) else 0


def _wrapped_attribution_span(clean: list[str], i: int, core: str) -> int:
    parts, blanks = [core], 0
    for j in range(i + 1, min(len(clean), i + MAX_SPAN)):
        line = clean[j]
        if not line:
            blanks += 1
            if blanks > 1:
                return 0
            continue
        if len(line) > MAX_CONTINUATION or _opens_new_attribution(line):
            return 0
        parts.append(line)
        if _is_attribution(_strip_decoration(" ".join(parts)), wrapped=True):
            return j - i + 1
    return 0


def _opens_new_attribution(line: str) -> bool:
    """A continuation line that starts another attribution, or is a real quote, ends the search."""
    if _QUOTE_RE.match(line):
        return len(line) > 20  # Gmail may wrap "> wrote:" or ">:" onto a quote-looking line
    return _first_word(line) in _OPENERS and any(c.isdigit() for c in line)


def _next_nonblank(clean: list[str], i: int) -> str:
    while i < len(clean) and not clean[i]:
        i += 1
    return clean[i] if i < len(clean) else ""


def _strip_decoration(line: str) -> str:
    return line.lstrip(">*-= \t").rstrip("*-= \t")


def _first_word(text: str) -> str:
    words = text.split(None, 1)
    return words[0].casefold().rstrip(",") if words else ""


def _ends_with_verb(text: str) -> bool:
    tail = text.casefold().rstrip(" :：-*")
    if tail.endswith(_CJK_VERBS_END):
        return True
    for verb in _VERBS_END:
        if tail.endswith(verb) and (len(tail) == len(verb) or not tail[-len(verb) - 1].isalnum()):
            return True
    return False


def _is_attribution(text: str, wrapped: bool) -> bool:
    """Whether ``text`` (one line, or wrapped lines joined) attributes a quote to someone."""
    if not text or len(text) > MAX_MATCH:
        return False
    if not wrapped and _ISO_GMT_RE.match(text):
        return True
    email = bool(_EMAIL_RE.search(text))
    if wrapped and not email:
        return False
    dated = bool(_DATETIME_RE.search(text))
    opener = _first_word(text) in _OPENERS
    colon = text.endswith((":", "："))
    if _ends_with_verb(text) and ((opener and (dated or email)) or (colon and email)):
        return True
    if colon and dated and _MID_VERB_RE.search(text.casefold()) and (email or opener or text[0].isdigit()):
        return True
    starts_with_date = text[0].isdigit() or bool(_WEEKDAY_RE.match(text))
    return dated and starts_with_date and bool(_ENDS_EMAIL_RE.search(text))


def _is_weak_attribution(text: str) -> bool:
    """ "Ann wrote:" - an attribution only when quoted lines follow."""
    return len(text) <= 100 and text.endswith((":", "：")) and _ends_with_verb(text)


def _could_open_attribution(text: str) -> bool:
    """Whether a wrapped attribution may start with this line."""
    if len(text) > MAX_CONTINUATION * 2 or not text:
        return False
    has_digit = any(c.isdigit() for c in text)
    return (
        (_first_word(text) in _OPENERS and has_digit)
        or text[0].isdigit()
        or bool(_WEEKDAY_RE.match(text))
        or text.endswith("<")
        or bool(_EMAIL_RE.search(text))
        or bool(_MID_VERB_RE.search(text.casefold()))
    )


def _is_forward_marker(line: str) -> bool:
    """ "-----Original Message-----", "Begin forwarded message:" and their translations."""
    if len(line) > 120:
        return False
    core = line.strip("-=_*> \t").casefold()
    decorated = line.lstrip("*> \t")[:2] in ("--", "==", "__")
    if decorated and core in _FORWARD_MARKERS:
        return True
    return core.rstrip(" :：") in _FORWARD_BEGIN and core.endswith((":", "："))


# --------------------------------------------------------------------------------------- header blocks


def _mark_header_blocks(clean: list[str], kinds: list[str]) -> None:
    """Turn runs of mail-header fields into ``h`` lines, and lone field-like lines into text."""
    i = 0
    while i < len(kinds):
        if kinds[i] != FIELD:
            i += 1
            continue
        stop, categories = _field_run(clean, kinds, i)
        is_block = len(categories) >= 3 and "from" in categories
        for j in range(i, stop):
            if kinds[j] in (FIELD, TEXT):
                kinds[j] = HEADER if is_block else TEXT
        i = stop


def _field_run(clean: list[str], kinds: list[str], i: int) -> tuple[int, set[str]]:
    """End of the run of header fields starting at ``i`` (with wrapped values), and its field categories."""
    categories: set[str] = set()
    last_field, continued, j = i, 0, i
    while j < len(kinds):
        if kinds[j] == FIELD:
            match = _FIELD_RE.match(clean[j])
            categories.add(_FIELD_CATEGORY.get(match.group(1).casefold(), "") if match else "")
            last_field, continued = j, 0
        elif kinds[j] == TEXT and continued < 2 and len(clean[j]) <= MAX_CONTINUATION:
            continued += 1
        else:
            break
        j += 1
    categories.discard("")
    return last_field + 1, categories


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
    steps = (_tail_footer, _tail_quotes, _tail_delimiter, _tail_signoff, _tail_contact_block)
    for _ in range(MAX_TAIL_STEPS):  # real mail needs a handful; the bound keeps hostile input linear
        if not any(step(doc) for step in steps):
            return


def _last_content(doc: _Doc) -> int | None:
    lines = doc.content(doc.body())
    return lines[-1] if lines else None


def _tail_footer(doc: _Doc) -> bool:
    """A mobile footer or a ruler at the end goes to the signature."""
    last = _last_content(doc)
    if last is None or doc.kinds[last] not in (MOBILE, RULER):
        return False
    doc.roles[last] = SIG
    return True


def _tail_quotes(doc: _Doc) -> bool:
    """A ``>`` block below the sender's text is quoted history."""
    last = _last_content(doc)
    if last is None or doc.kinds[last] != QUOTE:
        return False
    first = last
    while first - 1 >= 0 and doc.roles[first - 1] == BODY and doc.kinds[first - 1] in (QUOTE, BLANK):
        first -= 1
    if not any(doc.kinds[j] == TEXT for j in doc.body(0, first)):
        return False
    doc.set_role(range(first, last + 1), QUOTED)
    return True


def _tail_delimiter(doc: _Doc) -> bool:
    """The first "--" (or "__") with text above and a short block below opens the signature."""
    body = doc.body()
    remaining, seen_text = len(doc.content(body)), False
    for n, i in enumerate(body):
        remaining -= doc.kinds[i] != BLANK
        if doc.kinds[i] == DELIM and seen_text and remaining <= MAX_SIG_LINES:
            doc.roles[i] = DROP if doc.clean[i] == "--" else SIG
            doc.set_role(body[n + 1 :], SIG)
            return True
        seen_text = seen_text or doc.kinds[i] in (TEXT, QUOTE)
    return False


def _tail_signoff(doc: _Doc) -> bool:
    """ "Best regards," + a short name block with contact details goes to the signature."""
    lines = doc.content(doc.body())
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


def _tail_contact_block(doc: _Doc) -> bool:
    """A trailing paragraph "Name / email / phone" (two or more contact lines) is a signature."""
    body = doc.body()
    if not body:
        return False
    last = _last_content(doc)
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


def _is_contact(line: str, urls: bool) -> bool:
    if len(line) > MAX_CONTINUATION * 2:
        return False
    digits = sum(c.isdigit() for c in line)
    phone = bool(_PHONE_RE.search(line)) and digits >= 7
    return bool(_EMAIL_RE.search(line) or phone or _CONTACT_LABEL_RE.match(line) or (urls and _URL_RE.search(line)))


def _quote_only(doc: _Doc) -> None:
    """A message of nothing but quotes keeps them, unless they open with a quoted attribution."""
    lines = doc.content(doc.body())
    if not lines or any(doc.kinds[i] != QUOTE for i in lines):
        return
    first = doc.clean[lines[0]].lstrip("> \t")
    if _is_attribution(_strip_decoration(first), wrapped=False) or _is_weak_attribution(first):
        doc.set_role(doc.body(), QUOTED)
