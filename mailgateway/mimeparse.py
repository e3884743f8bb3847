"""The email package's parser, asked for less (pure): what :mod:`mailgateway.parse` reads mail with.

- :data:`POLICY` is ``email.policy.default``, but a header value is parsed once (archives and
  threads repeat them), and its messages (:class:`_Message`) remember what they read out of a
  Content-Type or Content-Disposition value, which the email package reads again for every
  question about a part.
- :func:`message_from_bytes` gives what ``email.message_from_bytes(raw, policy=POLICY)`` gives,
  without taking every line of a body through the feed parser one by one: the headers (of the
  message, and of each part of a simple multipart) are parsed by the email package, the bodies
  are cut out of the text where that parser would cut them.

Each shortcut is taken only where its answer is the email package's own; anything else is parsed
whole, as before. ``tests/test_parse_quick.py`` compares the two on the corpora and random mail.
"""

from __future__ import annotations

import email
import email.errors
import email.parser
import email.policy
import functools
import io
import re
from email.message import EmailMessage
from typing import Any, cast


class _Policy(email.policy.EmailPolicy):
    """``email.policy.default``, but a header value is parsed once: a message asks for its parts'
    Content-Type many times, and archives repeat the same values (see :func:`_parsed_header`)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):
            return value
        return _parsed_header(self, name, value)


@functools.lru_cache(maxsize=512)
def _parsed_header(policy: _Policy, name: str, value: str) -> str:
    return email.policy.EmailPolicy.header_fetch_parse(policy, name, value)  # an immutable str subclass


class _Message(EmailMessage):
    """An EmailMessage that remembers what it read out of a Content-Type or Content-Disposition
    value (its type, its parameters): the email package reads them again on every question (the
    charset, the parameters, the file name, the type, several times each), and archives repeat the
    same values. The answers are the email package's own, asked of the value alone."""

    _fields: tuple[list[tuple[str, Any]], int, dict[str, int]] | None = None  # see _first_field

    def _first_field(self, lower: str) -> int | None:
        """Where the first field named ``lower`` is in the header's list (None: nowhere), from the names
        read once while the list stays the same object and length: a part is asked for its
        Content-Type and its parameters many times, and each question went through every field.
        (Fields are added by appending, removed into a new list; replacing one keeps its name.)"""
        headers = cast(Any, self)._headers  # (the email package's own list of fields)
        fields = self._fields
        if fields is None or fields[0] is not headers or fields[1] != len(headers):
            first: dict[str, int] = {}
            for index, (name, _) in enumerate(headers):
                first.setdefault(name.lower(), index)
            fields = self._fields = (headers, len(headers), first)
        return fields[2].get(lower)

    def raw_first(self, lower: str) -> tuple[str, Any] | None:
        """The first field named ``lower`` (lower case) as it was set: name and raw value; None if none."""
        index = self._first_field(lower)
        return None if index is None else cast(Any, self)._headers[index]

    def get(self, name: str, failobj: Any = None) -> Any:
        index = self._first_field(name.lower())
        if index is None:
            return failobj
        key, value = cast(Any, self)._headers[index]
        return self.policy.header_fetch_parse(key, value)

    def __contains__(self, name: str) -> bool:  # type: ignore[override]
        return self._first_field(name.lower()) is not None

    def get_content_type(self) -> str:
        value = self.get("content-type")
        if value is None:
            return super().get_content_type()  # the default type, which depends on the parent
        return _content_type_of(str(value))

    def _get_params_preserve(self, failobj: object, header: str) -> object:
        value = self.get(header)
        if value is None:
            return failobj
        return list(_params_of(header.lower(), str(value)))


class _Value:
    """A message with one field, to ask the email package's own methods about that field's value."""

    def __init__(self, value: str) -> None:
        self.value = value

    def get(self, name: str, failobj: object = None) -> str:
        return self.value


@functools.lru_cache(maxsize=512)
def _content_type_of(value: str) -> str:
    return EmailMessage.get_content_type(_Value(value))  # type: ignore[arg-type]


@functools.lru_cache(maxsize=512)
def _params_of(header: str, value: str) -> tuple[object, ...]:
    return tuple(EmailMessage._get_params_preserve(_Value(value), None, header))  # type: ignore[attr-defined]


POLICY = _Policy(message_factory=_Message)


# The header of a message as the email package's feed parser reads it: fields and continuation lines
# (its ``headerRE``), each ending in CRLF, CR or LF, then an empty line. Atomic and possessive, so a
# CRLF is never taken for a CR and an empty line.
_FIELD_LINE = r"(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*+(?>\r\n|\r|\n)"
_HEADER_RE = re.compile(rf"(?:{_FIELD_LINE})*+(?>\r\n|\r|\n)")


def message_from_bytes(raw: bytes) -> EmailMessage:
    """``email.message_from_bytes(raw, policy=POLICY)``, without the feed parser's line-by-line work
    on the bodies where the answer is known: a message that is not multipart gets its body as it
    stands (the parser would take it line by line only to join the lines again), and so does each
    part of a multipart whose parts are all plain (see :func:`_fill_multipart`).

    Only headers that end in an empty line, all of which the parser takes as header, are read so;
    anything else (a body without that empty line, a ``From `` line last in a header, which the
    parser gives to the body, ``message/*`` types, nested or unusual multiparts) is parsed whole.
    """
    text = raw.decode("ascii", "surrogateescape")  # as BytesParser does
    message, body = _headed(text)
    if message is not None:
        maintype = message.get_content_maintype()
        if maintype not in ("multipart", "message"):
            message.set_payload(body)
            return message
        if maintype == "multipart" and _fill_multipart(message, body):
            return message
    whole = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(whole, EmailMessage)
    return whole


def _headed(text: str) -> tuple[EmailMessage | None, str]:
    """The message of ``text`` with its header parsed and no payload yet, and its body; (None, "")
    unless the header ends in an empty line and the parser takes every line of it as header."""
    head = _HEADER_RE.match(text)
    if head is None:
        return None, ""
    plain = _plain_header(text, head.end())
    if plain is not None:
        return plain, text[head.end() :]
    message = email.parser.Parser(policy=POLICY).parsestr(text[: head.end()], headersonly=True)
    if message.get_payload() != "":  # a "From " line last in the header: the parser gave it to the body
        return None, ""
    if message.defects and isinstance(message.defects[-1], email.errors.MultipartInvariantViolationDefect):
        message.defects.pop()  # said of a multipart header parsed alone; the whole message will have parts
    assert isinstance(message, EmailMessage)
    return message, text[head.end() :]


# One field as the feed parser takes it without a defect: a name, its colon, then continuation lines.
_FIELD_RE = re.compile(r"[\041-\071\073-\176]+:[^\r\n]*+(?>\r\n|\r|\n)(?:[\t ][^\r\n]*+(?>\r\n|\r|\n))*+")


def _plain_header(text: str, end: int) -> EmailMessage | None:
    """The message the feed parser makes of ``text[:end]`` (a header, then its empty line) with
    ``headersonly``, when every line of it is a field with a name or a continuation of one (no ``From ``
    line, no continuation first): each field as the policy reads it from its lines, no defect. None if not."""
    message = _Message(policy=POLICY)
    pos, stop = 0, end - (2 if text.startswith("\r\n", end - 2) else 1)  # where the empty line starts
    while pos < stop:
        field = _FIELD_RE.match(text, pos, stop)
        if field is None or text.startswith("From ", pos):
            return None
        name, value = field.group().split(":", 1)
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))  # as policy.header_source_parse does
        pos = field.end()
    message.set_payload("")
    return message


_EOL_RE = re.compile(r"(\r\n|\r|\n)\Z")  # the feed parser's NLCRE_eol
_BOL_RE = re.compile(r"(\r\n|\r|\n)")  # and NLCRE_bol


def _fill_multipart(message: EmailMessage, body: str) -> bool:
    """Give ``message`` (a multipart) the parts, preamble and epilogue the feed parser would, when
    its body is simple: a boundary, then parts that are neither multipart nor ``message/*``, each
    after one boundary line, then the closing boundary. False (nothing set) for anything else."""
    boundary = message.get_boundary()
    encoding = str(message.get("content-transfer-encoding", "8bit")).lower()
    if message.get_content_type() == "multipart/digest" or boundary is None or encoding not in _PLAIN_CODINGS:
        return False
    separator = "--" + boundary
    boundary_re = re.compile(f"(?P<sep>{re.escape(separator)})(?P<end>--)?(?P<ws>[ \t]*)(?P<linesep>\r\n|\r|\n)?$")
    lines = io.StringIO(body, newline="").readlines()  # the feed parser's own way of cutting lines
    marks: list[int] = []
    for index, line in enumerate(lines):
        found = boundary_re.match(line) if line.startswith(separator) else None
        if found is None:
            continue
        if marks and marks[-1] == index - 1:
            return False  # boundary lines in a row: the parser reads past them its own way
        marks.append(index)
        if found.group("end"):
            break
    else:
        return False  # no closing boundary
    if len(marks) < 2:
        return False  # the first boundary closes: no part
    parts = []
    for start, stop in zip(marks, marks[1:], strict=False):
        part, payload = _headed("".join(lines[start + 1 : stop]))
        if part is None or part.get_content_maintype() in ("multipart", "message"):
            return False
        part.set_payload(payload[: -len(eol.group(0))] if (eol := _EOL_RE.search(payload)) else payload)
        parts.append(part)
    if marks[0]:
        preamble = lines[: marks[0]]
        eol = _EOL_RE.search(preamble[-1])
        preamble[-1] = preamble[-1][: -len(eol.group(0))] if eol else preamble[-1]
        message.preamble = "".join(preamble)
    epilogue = ([""] if boundary_re.match(lines[marks[-1]]).group("linesep") else []) + lines[marks[-1] + 1 :]  # type: ignore[union-attr]
    if epilogue and (bol := _BOL_RE.match(epilogue[0])):
        epilogue[0] = epilogue[0][len(bol.group(0)) :]
    message.epilogue = "".join(epilogue)
    message.set_payload(cast(Any, parts))
    return True


_PLAIN_CODINGS = ("7bit", "8bit", "binary")  # of a multipart (the parser notes a defect for others)
