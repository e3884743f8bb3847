"""The lines of a plain-text mail, each given a kind (pure).

Step 1 of :func:`mailgateway.trim.split_reply`: :func:`classify_lines` says
what each line looks like (blank, text, quoted, attribution, header block,
signature delimiter, ruler, mobile footer), matching a cleaned copy of each
line (:func:`clean_line`). Attributions may be wrapped over several lines and
are recognised in many languages; lines inside closed Markdown code fences are
always text. What each line then *is* (body, quoted or signature) is decided in
:mod:`mailgateway.trim`.
"""

from __future__ import annotations

import functools
import re

__all__ = [
    "ATTRIB",
    "BLANK",
    "DELIM",
    "EMAIL_RE",
    "HEADER",
    "MAX_CONTINUATION",
    "MOBILE",
    "QUOTE",
    "RULER",
    "TEXT",
    "classify_lines",
    "clean_line",
    "is_attribution",
    "is_weak_attribution",
    "split_lines",
    "strip_decoration",
]

# Line kinds.
BLANK, TEXT, QUOTE, ATTRIB, FIELD, HEADER, DELIM, RULER, MOBILE = "e", "t", "q", "w", "f", "h", "d", "r", "m"

MAX_MATCH = 400  # longer lines are never attributions, headers or footers
MAX_SPAN = 6  # an attribution may be wrapped over this many lines
MAX_CONTINUATION = 120  # longest continuation line of a wrapped attribution

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
EMAIL_RE = re.compile(r"\w@[\w-]+(?:\.[\w-]+)+")
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
_SENT_FIRST = frozenset("sSſ")  # what _SENT_FROM_RE's first letter matches, case ignored ("ſ": long s)
_LINK_TRIM = " ()<>[]*_\"'"
_DEVICE_RE = re.compile(
    r"i?phone|ipad|ipod|android|blackberry|mobile|cell|handy|samsung|galaxy|htc|nokia|pixel|huawei|xiaomi"
    r"|motorola|xperia|tablet|device|windows|\bpc\b|\bmac\b|watch",
    re.IGNORECASE,
)
_MOBILE_PATTERNS = (
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
_MOBILE_RE = re.compile("|".join(f"(?:{p})" for p in _MOBILE_PATTERNS), re.IGNORECASE)  # any of them


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, whatever its line endings."""
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def clean_line(line: str) -> str:
    """The line as matched: no BOM or zero-width characters, non-breaking spaces made plain, stripped."""
    return line.strip() if line.isascii() else line.translate(_INVISIBLE).strip()  # (ASCII: nothing to take out)


# -------------------------------------------------------------------------------------- classification


def classify_lines(clean: list[str]) -> list[str]:
    """The kind of each cleaned line (``BLANK``, ``TEXT``, ``QUOTE``, ``ATTRIB``, ``HEADER``, ...)."""
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


@functools.lru_cache(maxsize=4096)
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


def is_mobile_footer(line: str) -> bool:
    """Whether ``line`` (cleaned: :func:`clean_line`) is a mobile client's footer ("Sent from my iPhone")."""
    return _is_mobile_footer(line)


def _is_mobile_footer(line: str) -> bool:
    if _MOBILE_RE.match(line):
        return True
    if "http" not in line and line.strip(_LINK_TRIM).lstrip()[:1] not in _SENT_FIRST:
        return False  # (no link to take out, and "sent ..." cannot start the first sentence)
    bare = _LINK_RE.sub("", line).strip(_LINK_TRIM)
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
    opening = _opening(first)
    if opening == _ALONE:
        return 1
    if opening & _WEAK and _QUOTE_RE.match(_next_nonblank(clean, i + 1)):
        return 1
    return _wrapped_attribution_span(clean, i, strip_decoration(first)) if opening & _OPENS else 0


_ALONE, _WEAK, _OPENS = 1, 2, 4  # what a line alone says of an attribution that starts with it


@functools.lru_cache(maxsize=4096)  # signatures and quoted lines come back in message after message
def _opening(first: str) -> int:
    """Whether ``first`` is an attribution by itself (``_ALONE``), or else whether it is a weak one
    (``_WEAK``: "Ann wrote:"), whether it may open a wrapped one (``_OPENS``), both, or neither (0)."""
    if _QUOTE_RE.match(first) or len(first) > MAX_MATCH:
        return 0
    core = strip_decoration(first)
    if _is_forward_marker(first) or is_attribution(core, wrapped=False):
        return _ALONE
    return (_WEAK if is_weak_attribution(core) else 0) | (_OPENS if _could_open_attribution(core) else 0)


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
        if is_attribution(strip_decoration(" ".join(parts)), wrapped=True):
            return j - i + 1
    return 0


def _opens_new_attribution(line: str) -> bool:
    """A continuation line that starts another attribution, or is a real quote, ends the search."""
    if _QUOTE_RE.match(line):
        return len(line) > 20  # Gmail may wrap "> wrote:" or ">:" onto a quote-looking line
    return _first_word(line) in _OPENERS and any(map(str.isdigit, line))


def _next_nonblank(clean: list[str], i: int) -> str:
    while i < len(clean) and not clean[i]:
        i += 1
    return clean[i] if i < len(clean) else ""


def strip_decoration(line: str) -> str:
    return line.lstrip(">*-= \t").rstrip("*-= \t")


def _first_word(text: str) -> str:
    words = text.split(None, 1)
    return words[0].casefold().rstrip(",") if words else ""


def _ends_with_verb(text: str) -> bool:
    tail = text.casefold().rstrip(" :：-*")
    if tail.endswith(_CJK_VERBS_END):
        return True
    if not tail.endswith(_VERBS_END):  # (most lines: one call instead of one per verb)
        return False
    for verb in _VERBS_END:
        if tail.endswith(verb) and (len(tail) == len(verb) or not tail[-len(verb) - 1].isalnum()):
            return True
    return False


def is_attribution(text: str, wrapped: bool) -> bool:
    """Whether ``text`` (one line, or wrapped lines joined) attributes a quote to someone."""
    if not text or len(text) > MAX_MATCH:
        return False
    if not wrapped and _ISO_GMT_RE.match(text):
        return True
    email = "@" in text and bool(EMAIL_RE.search(text))  # (a quick "no" for most lines)
    if wrapped and not email:
        return False
    verb = _ends_with_verb(text)
    colon = text.endswith((":", "："))
    starts_with_date = text[0].isdigit() or bool(_WEEKDAY_RE.match(text))
    if not (verb or colon or starts_with_date):
        return False  # (most lines: none of the three ways below can say yes)
    dated = bool(_DATETIME_RE.search(text))
    opener = _first_word(text) in _OPENERS
    if verb and ((opener and (dated or email)) or (colon and email)):
        return True
    if colon and dated and _MID_VERB_RE.search(text.casefold()) and (email or opener or text[0].isdigit()):
        return True
    return dated and starts_with_date and bool(_ENDS_EMAIL_RE.search(text))


def is_weak_attribution(text: str) -> bool:
    """ "Ann wrote:" - an attribution only when quoted lines follow."""
    return len(text) <= 100 and text.endswith((":", "：")) and _ends_with_verb(text)


def _could_open_attribution(text: str) -> bool:
    """Whether a wrapped attribution may start with this line."""
    if len(text) > MAX_CONTINUATION * 2 or not text:
        return False
    return (
        text[0].isdigit()
        or text.endswith("<")
        or bool(_WEEKDAY_RE.match(text))
        or (_first_word(text) in _OPENERS and any(map(str.isdigit, text)))
        or ("@" in text and bool(EMAIL_RE.search(text)))
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
