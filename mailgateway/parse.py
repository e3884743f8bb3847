"""Raw message bytes to an :class:`Inbound` mail (pure).

Real mail is messy: wrong or missing charsets, ``format=flowed``, nested
multiparts, forwarded ``message/rfc822`` parts, HTML only, no Date, NUL
bytes, undeclared 8-bit bytes in headers. Parsing tolerates all that; what
cannot be read becomes empty text, and the caller decides (an empty post is
rejected with a reason). No text it returns holds a lone surrogate, which no
file, record or mail could carry, and a Message-ID that is not printable
ASCII counts as none.

Only a message whose structure cannot be taken apart at all raises
:class:`~intranet.errors.UnreadableMessage`: MIME parts (multiparts and
forwarded messages) nested more than :data:`MAX_MIME_DEPTH` levels deep, a
depth no mail client writes. Such a message is refused whole rather than
read in part, so that nothing its sender wrote is silently left out; for
the same reason the email package's own limit (it gives up a few hundred
levels down) ends the same way. :func:`parse_header` still reads who sent
it, to tell them.
"""

from __future__ import annotations

import datetime as dt
import email
import email.feedparser
import email.headerregistry
import email.parser
import email.policy
import email.utils
import hashlib
import logging
import mimetypes
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from typing import Any, cast

from intranet.errors import UnreadableMessage
from intranet.format import normalize_message_id

from .flowed import decode_flowed
from .htmlmail import soup_to_markdown
from .htmlquotes import split_reply_soup, take_signature, take_tail_signature
from .htmltree import parse_html
from .mimeparse import POLICY, _Message, message_from_bytes
from .plaintext import text_to_markdown
from .trim import split_reply

MSGID_RE = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable ASCII: a Message-ID must travel in any mail header
CHARSET_FALLBACKS = ("utf-8", "windows-1252", "latin-1")
HASHED_HEADERS = ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references")
MAX_MIME_DEPTH = 50  # levels of multiparts and forwarded messages; deeper mail is refused as unreadable
_HASHED_NAMES = frozenset(name.encode() for name in HASHED_HEADERS)
HEADER_CHARS = 2000  # of each field parse_header decodes (the structured parser is slow on hostile fields)

log = logging.getLogger(__name__)


@dataclass
class Part:
    """An attachment or inline image as sent."""

    filename: str  # as the sender named it (may be hostile; display only)
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False
    file: str = ""  # the safe name it is saved under: att-<n>.<ext>


@dataclass
class Inbound:
    message_id: str
    derived_id: bool
    content_hash: str
    from_name: str
    from_address: str
    subject: str
    date: dt.datetime
    in_reply_to: list[str]
    references: list[str]
    body: str  # Markdown of the new text
    quoted: str  # Markdown of quoted text
    signature: str  # Markdown of the signature
    parts: list[Part] = field(default_factory=list)
    headers: dict[str, list[str]] = field(default_factory=dict)  # lower-case name -> values, top first
    header_names: list[str] = field(default_factory=list)  # lower-case names of the fields, top first, one per field
    content_type: str = "text/plain"
    defects: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    def thread_ids(self) -> list[str]:
        """Message-IDs this one answers, nearest first."""
        seen: dict[str, None] = {}
        for mid in self.in_reply_to + list(reversed(self.references)):
            seen.setdefault(mid, None)
        return list(seen)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode text with its declared charset, falling back through UTF-8, windows-1252, latin-1."""
    data = data.replace(b"\x00", b"")
    candidates = [charset] if charset else []
    candidates += [c for c in CHARSET_FALLBACKS if c != charset]
    for name in candidates:
        try:
            text = data.decode(name or "utf-8")
            return text if text.isascii() else _SURROGATES.sub("\ufffd", text)  # (ASCII: no surrogate)
        except (LookupError, ValueError):  # no such codec (a NUL in its name is a ValueError), or not this one
            continue
    return data.decode("latin-1", errors="replace")


_SURROGATES = re.compile("[\ud800-\udfff]")


def _readable(value: str) -> str:
    """Header text that no file, record or mail can carry made readable: bytes the email package
    could not decode (kept as lone surrogates) decoded as :func:`decode_bytes` would, and any other
    lone surrogate (UTF-7 can encode one) replaced."""
    if not _SURROGATES.search(value):
        return value
    try:
        return decode_bytes(value.encode("utf-8", "surrogateescape"), None)
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", value)


def content_hash(raw: bytes) -> str:
    """Hash of a message without its trace headers, so a redelivery hashes the same."""
    head, sep, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    lines = []
    current: list[bytes] = []
    for line in head.split(b"\n"):
        if line[:1] in (b" ", b"\t") and current:
            current.append(line.strip())
            continue
        if current:
            lines.append(b" ".join(current))
        current = [line.strip()]
    if current:
        lines.append(b" ".join(current))
    kept = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in _HASHED_NAMES:
            kept.append(name.lower() + b":" + value.strip())
    kept.sort()
    digest = hashlib.sha256(b"\n".join(kept) + b"\n\n" + body.rstrip())
    return "sha256:" + digest.hexdigest()


def _header_values(message: Message) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name, value in message.raw_items() if hasattr(message, "raw_items") else message.items():
        text = _unfold(str(value))
        values.setdefault(name.lower(), []).append(text)
    return values


def _names(message: Message) -> list[str]:
    return [str(name).lower() for name in message.keys()]


def _unfold(value: str) -> str:
    if not value.isascii():  # (ASCII holds no surrogate)
        value = _readable(value)
    if "\x00" not in value and not _NOT_ONE_SPACE_RE.search(value):
        return value  # (most values: nothing to collapse or strip)
    return _SPACES_RE.sub(" ", value.replace("\x00", "")).strip()


_SPACES_RE = re.compile(r"\s+")
_NOT_ONE_SPACE_RE = re.compile(r"^\s|\s$|\s\s|[^\S ]")  # whitespace to strip, to collapse, or other than " "


def _decoded(message: Message, name: str) -> str:
    quick = _quickly_decoded(message, name)
    if quick is not None:
        return quick
    try:
        value = message.get(name)
    except Exception as exc:  # noqa: BLE001 - the stdlib's header classes raise many kinds on hostile headers
        log.info("%s header cannot be parsed (%s): taken as empty", name, type(exc).__name__)
        return ""
    return _unfold(str(value)) if value is not None else ""


# Which of email.policy.default's header classes reads a field: the ones read quickly below.
_REGISTRY: dict[str, type] = cast(Any, POLICY.header_factory).registry
_UNSTRUCTURED = (email.headerregistry.UnstructuredHeader, email.headerregistry.UniqueUnstructuredHeader)
_LINESEP_RE = re.compile(r"\n|\r")  # what the policy removes from a value before parsing it
_ATOMS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_MSGID_RE = re.compile(rf"<{_ATOMS}@{_ATOMS}>")


def _quickly_decoded(message: Message, name: str) -> str | None:
    """What :func:`_decoded` gives, without the email package's header parser where its answer is known
    in advance: unstructured text in plain ASCII without encoded words is read as it stands, and so is
    a Message-ID that is exactly ``<dot-atom@dot-atom>``. None: ask the parser.

    The parser builds a token tree and a new class for every value; for the fields every message has a
    different value of (Message-ID, References, Date), that was a quarter of the time of reading a message.
    """
    value = _raw_field(message, name)
    if not isinstance(value, str):
        return "" if value is _ABSENT else None
    kind = _REGISTRY.get(name.lower(), email.headerregistry.UnstructuredHeader)
    if kind in _UNSTRUCTURED and value.isascii() and "=?" not in value:
        return _unfold(value)
    if kind is email.headerregistry.MessageIDHeader and _PLAIN_MSGID_RE.fullmatch(value):
        return _unfold(value)
    return None


_ABSENT = object()  # no such field


def _raw_field(message: Message, name: str) -> str | object | None:
    """The first field ``name`` as the policy hands it to its parser (line breaks taken out);
    ``_ABSENT`` if there is none, None if it holds a header object already."""
    lower = name.lower()
    if isinstance(message, _Message):  # (it knows where each name is)
        first = message.raw_first(lower)
    else:
        first = next(((key, value) for key, value in message.raw_items() if key.lower() == lower), None)
    if first is None:
        return _ABSENT
    value = first[1]
    return None if hasattr(value, "name") else "".join(_LINESEP_RE.split(value))


def _sender(message: Message) -> tuple[str, str]:
    try:
        header = message.get("From")
        addresses = getattr(header, "addresses", None)
        if addresses:
            first = addresses[0]
            return _unfold(str(first.display_name or "")), _unfold(str(first.addr_spec or ""))
    except Exception as exc:  # noqa: BLE001 - the lenient parser below still finds an address
        log.info("From header cannot be parsed strictly (%s): read leniently", type(exc).__name__)
    name, address = email.utils.parseaddr(_decoded(message, "From"))
    return name, address


def _date(message: Message, received: dt.datetime) -> dt.datetime:
    raw, value = _date_parts(message)
    if value is None:
        try:
            value = email.utils.parsedate_to_datetime(raw) if raw else None
        except (TypeError, ValueError, IndexError):
            value = None
    if value is None:
        return received
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _date_text(message: Message) -> str:
    """``_decoded(message, "Date")``, reading an ASCII value as the policy's DateHeader does (the date
    parsed, then written out by ``format_datetime``) without the token tree it also builds."""
    return _date_parts(message)[0]


def _date_parts(message: Message) -> tuple[str, dt.datetime | None]:
    """:func:`_date_text`, and the date that text was written from when it was (None: not read here);
    parsing the text again gives that date back, so :func:`_date` does not."""
    value = _raw_field(message, "Date")
    if value is _ABSENT:
        return "", None
    if not isinstance(value, str) or not value.isascii():
        return _decoded(message, "Date"), None
    if not value:
        return "", None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except ValueError:  # DateHeader keeps the text
        return _unfold(value), None
    except Exception as exc:  # noqa: BLE001 - as _decoded does when the header class raises
        log.info("Date header cannot be parsed (%s): taken as empty", type(exc).__name__)
        return "", None
    return _unfold(email.utils.format_datetime(when)), when


def _ids(value: str) -> list[str]:
    return [normalize_message_id(m) for m in MSGID_RE.findall(value)]


def _text_of(part: Message) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - a broken transfer encoding: the raw text stands in
        log.info("a text part cannot be decoded (%s): its raw text is used", type(exc).__name__)
        payload = None
    if not isinstance(payload, bytes):
        raw = part.get_payload()
        payload = raw.encode("utf-8", "replace") if isinstance(raw, str) else b""
    text = decode_bytes(payload, part.get_content_charset())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    params = {k.lower(): v.lower() for k, v in part.get_params(failobj=[]) or [] if isinstance(v, str)}
    if params.get("format") == "flowed":
        text = decode_flowed(text, delsp=params.get("delsp") == "yes")
    return text


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception as exc:  # noqa: BLE001 - a broken filename parameter: the part is kept without a name
        log.info("a part's filename cannot be read (%s): kept without one", type(exc).__name__)
        name = None
    return _unfold(str(name)) if name else ""


def _walk(message: Message, texts: list[Message], htmls: list[Message], parts: list[Part]) -> None:
    """Collect body candidates and attachments, depth first, in order.

    A forwarded message (``message/rfc822``) is kept whole as one ``.eml``
    attachment; its own text is not mistaken for the sender's.
    """
    if message.is_multipart():
        payload = message.get_payload()
        for part in payload if isinstance(payload, list) else []:
            if not isinstance(part, Message):
                continue
            if part.get_content_type() == "message/rfc822":
                parts.append(_forwarded(part))
            else:
                _walk(part, texts, htmls, parts)
        return
    ctype = message.get_content_type()
    disposition = (message.get_content_disposition() or "").lower()
    is_body = disposition != "attachment" and not _filename(message)
    if message.get_content_maintype() == "multipart":
        texts.append(message)  # a multipart without its boundaries: its payload is the text
    elif is_body and ctype == "text/plain":
        texts.append(message)
    elif is_body and ctype == "text/html":
        htmls.append(message)
    else:
        parts.append(_part(message, disposition))


def _part(part: Message, disposition: str) -> Part:
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - a broken transfer encoding: the part is kept, empty, and said so
        log.info("an attachment cannot be decoded (%s): kept empty", type(exc).__name__)
        data = None
    if not isinstance(data, bytes):
        data = b""
    cid = _unfold(str(part.get("Content-ID", ""))).strip("<>")
    return Part(
        filename=_filename(part),
        content_type=part.get_content_type(),
        data=data,
        content_id=cid,
        inline=disposition == "inline" or bool(cid),
    )


def safe_extension(filename: str, content_type: str) -> str:
    """A harmless extension for a saved attachment: the sender's if plain, else from the type."""
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if re.fullmatch(r"[a-z0-9]{1,10}", ext):
        return ext
    guessed = mimetypes.guess_extension(content_type, strict=False) or ""
    return guessed.lstrip(".") if re.fullmatch(r"\.[a-z0-9]{1,10}", guessed) else "bin"


def name_parts(parts: list[Part]) -> None:
    """Give every part a generated safe file name; the sender's name is never a path."""
    for index, part in enumerate(parts, start=1):
        part.file = f"att-{index}.{safe_extension(part.filename, part.content_type)}"


def _forwarded(part: Message) -> Part:
    inner = part.get_payload()
    inner_message = inner[0] if isinstance(inner, list) and inner else None
    data = _as_bytes(inner_message) if isinstance(inner_message, Message) else b""
    subject = _decoded(inner_message, "Subject") if isinstance(inner_message, Message) else ""
    return Part(filename=f"{subject or 'forwarded message'}.eml", content_type="message/rfc822", data=data)


def _as_bytes(message: Message) -> bytes:
    """A message written back as bytes. The email package cannot write some broken ones as bytes (a
    multipart without its boundary and with 8-bit text reads back as text it will not encode): those
    are written as text, in UTF-8, rather than lost."""
    try:
        return message.as_bytes()
    except UnicodeEncodeError:
        return message.as_string().encode("utf-8", "surrogateescape")


def parse_message(raw: bytes, received: dt.datetime, mail_domain: str = "intranet.invalid") -> Inbound:
    """Parse a message as received; raises :class:`UnreadableMessage` only on structure nested too deep."""
    try:
        message = message_from_bytes(raw)
    except RecursionError as exc:
        raise UnreadableMessage(_TOO_DEEP) from exc
    assert isinstance(message, EmailMessage)
    _check_depth(message)
    mail = _headed(message, _header_values(message), raw, received, mail_domain, _names(message))
    texts: list[Message] = []
    htmls: list[Message] = []
    parts: list[Part] = []
    if message.get_content_type() == "message/rfc822":
        parts.append(_forwarded(message))
    else:
        _walk(message, texts, htmls, parts)
    name_parts(parts)
    mail.body, mail.quoted, mail.signature = _bodies(texts, htmls, parts, mail.from_name)
    mail.parts = parts
    mail.defects = [type(d).__name__ for d in message.defects]
    return mail


def parse_header(raw: bytes, received: dt.datetime, mail_domain: str = "intranet.invalid") -> Inbound:
    """The header of a message that cannot be parsed whole: who sent it, its subject and IDs; no body.

    Every field is kept (for :func:`mailgateway.classify.drop_reason`), but only the first
    :data:`HEADER_CHARS` characters of the ones decoded here are read, so this is quick on any message.
    """
    whole = email.parser.BytesParser(policy=POLICY).parsebytes(raw, headersonly=True)
    headers = _header_values(whole)
    wanted = ("from", "subject", "date", "message-id", "in-reply-to", "references", "content-type")
    fields = "".join(f"{name}: {headers[name][0][:HEADER_CHARS]}\n" for name in wanted if headers.get(name))
    short = email.message_from_string(fields + "\n", policy=POLICY)
    assert isinstance(short, EmailMessage)
    return _headed(short, headers, raw, received, mail_domain, _names(whole))


def _headed(
    message: Message,
    headers: dict[str, list[str]],
    raw: bytes,
    received: dt.datetime,
    mail_domain: str,
    names: list[str],
) -> Inbound:
    """The mail as its header describes it, without a body yet."""
    digest = content_hash(raw)
    mids = _ids(_decoded(message, "Message-ID"))
    name, address = _sender(message)
    return Inbound(
        message_id=mids[0] if mids else f"<{digest[7:39]}@{mail_domain}>",
        derived_id=not mids,
        content_hash=digest,
        from_name=name,
        from_address=address,
        subject=_decoded(message, "Subject"),
        date=_date(message, received),
        in_reply_to=_ids(_decoded(message, "In-Reply-To")),
        references=_ids(_decoded(message, "References")),
        body="",
        quoted="",
        signature="",
        headers=headers,
        header_names=names,
        content_type=message.get_content_type(),
    )


_TOO_DEEP = f"its MIME parts are nested more than {MAX_MIME_DEPTH} levels deep"


def _check_depth(message: Message) -> None:
    """Raise :class:`UnreadableMessage` if containers nest deeper than MAX_MIME_DEPTH (walked without recursion)."""
    stack: list[tuple[Message, int]] = [(message, 1)]
    while stack:
        part, depth = stack.pop()
        payload = part.get_payload() if part.is_multipart() else None
        if not isinstance(payload, list):
            continue
        if depth > MAX_MIME_DEPTH:
            raise UnreadableMessage(_TOO_DEEP)
        stack.extend((child, depth + 1) for child in payload if isinstance(child, Message))


def _bodies(texts: list[Message], htmls: list[Message], parts: list[Part], sender: str) -> tuple[str, str, str]:
    """Choose the body: plain text as typed, unless only HTML says it all (tables, inline images);
    ``sender``: the From's display name (a signature may start with it)."""
    html = "\n".join(_text_of(p) for p in htmls)
    inline_images = any(p.content_id and p.content_type.startswith("image/") for p in parts)
    rich = bool(html) and (inline_images or "<table" in html.lower())
    if texts and not rich:
        text = "\n\n".join(_text_of(p) for p in texts)
        reply = split_reply(text, sender)
        return text_to_markdown(reply.body), text_to_markdown(reply.quoted), text_to_markdown(reply.signature)
    if html.strip():
        cid_names = {p.content_id: p.file for p in parts if p.content_id}
        new, old = split_reply_soup(parse_html(html))  # one parse for both halves
        quoted = soup_to_markdown(old, cid_names).strip() if old is not None else ""
        signed = take_signature(new)  # Gmail's, Outlook's... marked signature, set aside as plain text's is
        if signed is None:  # or one after a "--" line, or a confidentiality disclaimer
            new, signed = take_tail_signature(new, sender)
        signature = soup_to_markdown(signed, cid_names).strip() if signed is not None else ""
        return soup_to_markdown(new, cid_names).strip(), quoted, signature
    return "", "", ""
