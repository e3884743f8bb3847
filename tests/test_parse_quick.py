"""The quick ways of reading mail (issue #14) give exactly what the slow ways gave.

:func:`mailgateway.parse.parse_message` reads plain header values without the email package's
header parser, and the body of a message that is not multipart without its line-by-line parser;
the reply trimmer and the plain-text escaper skip work that cannot change their answer. Each is
compared here with the way it replaced, on the shared corpora, on hostile headers and on seeded
random mail and lines.
"""

from __future__ import annotations

import datetime as dt
import email
import functools
import random
import re

import pytest
from helpers import CORPUS, need_corpus

from mailgateway import mimeparse, parse, plaintext, replylines

RECEIVED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
FIELDS = ["Subject", "Message-ID", "Date", "In-Reply-To", "References", "List-Id", "X-Loop", "From", "Content-Type"]

HOSTILE_VALUES = {
    "Date": [
        "",
        " ",
        "yesterday",
        "Tue, 7 May 2019 10:00:00 -0000",
        "Tue, 7 May 2019 10:00:00 +99999999",
        "7 May 19 10:00 EST",
        "Tue,\n 7 May 2019\r\n\t10:00:00 +0000",
        "Tue, 31 Feb 2019 10:00:00 +0000",
        "Tue, 7 May 10000 10:00:00 +0000",
        "Tue, 7 May 2019 25:00:00 +0000",
        "Tue, 7 May 2019 10:00:00 +2400",
        "=?utf-8?q?Tue=2C_7_May_2019?=",
        "Mon, 1 Jan 0001 00:00:00 +0100",
        "Fri, 31 Dec 9999 23:59:59 -0100",
    ],
    "Message-ID": [
        "<a@b>",
        "<a.b.c@d.e>",
        "<a..b@c>",
        "<.a@b>",
        "<a@[1.2.3.4]>",
        "<@x>",
        "<a@b",
        "a@b>",
        "<a@b> (comment)",
        "(comment) <a@b>",
        "<a@b> <c@d>",
        "< a@b >",
        "<a@b>>",
        "<a b@c>",
        "<a\n @b>",
        '<"q"@b>',
        "<a@b@c>",
        "",
        "<ü@b>",
        "<a@b>\t",
    ],
    "Subject": [
        "plain",
        "",
        "  spaced  out ",
        "=?utf-8?q?encoded?=",
        "a =?utf-8?b?w7w=?= b",
        "=?",
        "fold\n\tover",
        "tab\there",
        "nul\x00here",
        "cr\rhere",
    ],
    "References": ["<a@b> <c@d>", "<a@b>\n <c@d>", "", "junk <a@b> junk", "=?utf-8?q?x?= <a@b>"],
}


def _variants() -> list[bytes]:
    """Messages built around the hostile values, with LF, CRLF and lone-CR line ends."""
    out = []
    for name, values in HOSTILE_VALUES.items():
        for value in values:
            head = f"From: Ann <ann@example.org>\nSubject: s\n{name}: {value}\nMessage-ID: <m@x>\n"
            for nl in ("\n", "\r\n", "\r"):
                out.append((head + "\nbody line\n").replace("\n", nl).encode("utf-8", "surrogateescape"))
    out += [
        b"",
        b"\n",
        b"no header at all\n",
        b"Subject: no body",
        b"Subject: no separator\nbody right away\n",
        b"From someone Mon Jan  7 10:00:00 2019\nSubject: unixfrom\n\nbody\n",
        b" continued first\nSubject: x\n\nbody\n",
        b"Subject: x\nContent-Type: multipart\n\nno boundary\n",
        b'Subject: x\nContent-Type: multipart/mixed; boundary="b"\n\n--b\n\npart\n--b--\n',
        b"Subject: x\nContent-Type: message/rfc822\n\nSubject: inner\n\ninner body\n",
        b"Subject: x\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; x\n\nAction: failed\n",
        b"Subject: x\nContent-Type: text/plain; charset=latin-1\n\n\xe9t\xe9\r\nline\rline\n",
        b"Subject: \xff\xfe bytes\nFrom: \xc3\xa9 <e@x>\n\nbody\n",
        b"Subject: x\n\n\n\nbody after blank lines\n",
        b"Subject: x\r\n\r\nFrom here\r\n>From there\r\n",
        b"Subject: x\nX-Long: " + b"y" * 5000 + b"\n\nbody\n",
    ]
    return out


def _random_messages(count: int, seed: int = 14) -> list[bytes]:
    rng = random.Random(seed)
    pool = [f"{k}: {v}" for k, values in HOSTILE_VALUES.items() for v in values]
    pool += ["From: a@b", "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", ": no name"]
    out = []
    for _ in range(count):
        lines = rng.sample(pool, rng.randint(0, 6))
        if rng.random() < 0.2:
            lines.insert(rng.randint(0, len(lines)), rng.choice(["\tcontinued", "junk line", "From x", ""]))
        nl = rng.choice(["\n", "\r\n", "\r"])
        body = rng.choice(["", "text\n", "a\n\nb\n", "> quoted\n-- \nsig\n", "aGVsbG8=\n"])
        out.append((nl.join(lines) + nl + nl + body.replace("\n", nl)).encode("utf-8", "surrogateescape"))
    return out


def _random_multiparts(count: int, seed: int = 15) -> list[bytes]:
    """Multiparts with and without preambles, epilogues, closing boundaries and part headers, nested
    and forwarded parts, boundary-like lines, boundary lines in a row, odd encodings."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        boundary = rng.choice(["b", "==x==", "a b", "x.y"])
        kind = rng.choice(["mixed", "alternative", "digest", "related", "report"])
        head = [f'Content-Type: multipart/{kind}; boundary="{boundary}"', "Subject: m"]
        head += rng.choice([[], [], ["Content-Transfer-Encoding: base64"], ["Content-Transfer-Encoding: 7bit"]])
        body = rng.choice([[], [], ["preamble"], [""], ["pre", ""]])
        for _ in range(rng.randint(0, 3)):
            body.append(f"--{boundary}" + rng.choice(["", "", " ", "\t", "  x"]))
            body += rng.choice(
                [
                    [],
                    ["Content-Type: text/plain"],
                    ["Content-Type: text/html; charset=utf-8"],
                    ["Content-Type: message/rfc822"],
                ]
                + [["Content-Type: multipart/mixed; boundary=in"], ["From x"], ["Content-Type: text/plain", "From y"]]
            )
            body += [""] if rng.random() < 0.9 else []
            body += rng.choice(
                [["text"], ["a", "", "b"], [], [f"--{boundary}x"], [f"--{boundary}"], ["--in", "x", "--in--"]]
            )
        if rng.random() < 0.8:
            body.append(f"--{boundary}--" + rng.choice(["", "", " "]))
        body += rng.choice([[], [], ["epilogue"], ["", "epi"], [""]])
        nl = rng.choice(["\n", "\r\n", "\r"])
        out.append((nl.join(head) + nl + nl + nl.join(body) + rng.choice(["", nl])).encode())
    return out


def _corpus_messages() -> list[bytes]:
    need_corpus(CORPUS)
    return [
        p.read_bytes()
        for p in sorted(CORPUS.rglob("*"))
        if p.is_file() and p.name != "SOURCE.md" and p.stat().st_size < 60_000
    ]


def _slow(monkeypatch: pytest.MonkeyPatch) -> None:
    """parse_message as it was: every header through the email package, every message parsed whole,
    into the email package's own EmailMessage (which reads a Content-Type again every time)."""
    monkeypatch.setattr(parse, "POLICY", mimeparse._Policy())
    monkeypatch.setattr(parse, "_quickly_decoded", lambda message, name: None)
    monkeypatch.setattr(parse, "_date_text", lambda message: parse._decoded(message, "Date"))
    monkeypatch.setattr(parse, "_date_parts", lambda message: (parse._decoded(message, "Date"), None))
    monkeypatch.setattr(parse, "message_from_bytes", lambda raw: email.message_from_bytes(raw, policy=parse.POLICY))


def _outcome(raw: bytes) -> object:
    try:
        return parse.parse_message(raw, RECEIVED, "intranet.localhost")
    except Exception as exc:  # noqa: BLE001 - the same exception, or the same mail, either way
        return type(exc).__name__, str(exc)


def _shape(message: email.message.Message) -> object:
    """What a parsed message is made of, as the code that reads it can see."""
    payload = message.get_payload()
    parts = [_shape(p) for p in payload] if isinstance(payload, list) else payload
    defects = [type(d).__name__ for d in message.defects]
    return message.get_unixfrom(), list(message.raw_items()), parts, defects, message.preamble, message.epilogue


@pytest.mark.parametrize("source", ["variants", "random", "corpus"])
def test_quick_parse_gives_what_the_slow_parse_gave(monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    raws = {
        "variants": _variants,
        "random": lambda: _random_messages(400) + _random_multiparts(1500),
        "corpus": _corpus_messages,
    }[source]()
    quick = [_outcome(raw) for raw in raws]
    shapes = [_shape(parse.message_from_bytes(raw)) for raw in raws]
    decoded = []
    for raw in raws:
        message = parse.message_from_bytes(raw)
        decoded.append([parse._decoded(message, name) for name in FIELDS] + [parse._date_text(message)])
    _slow(monkeypatch)
    for index, raw in enumerate(raws):
        assert _outcome(raw) == quick[index], raw[:300]
        message = parse.message_from_bytes(raw)
        assert _shape(message) == shapes[index], raw[:300]
        assert [parse._decoded(message, name) for name in FIELDS] + [parse._date_text(message)] == decoded[index]


def test_the_quick_paths_are_taken() -> None:
    """(So that the comparison above compares something.)"""
    message = parse.message_from_bytes(
        b"Subject: hi\nMessage-ID: <a.b@c.d>\nDate: Tue, 7 May 2019 10:00:00 +0000\n\nx\n"
    )
    assert (
        type(message) is mimeparse._Message
        and type(mimeparse._Policy().message_factory()) is email.message.EmailMessage
    )
    assert parse._quickly_decoded(message, "Subject") == "hi"
    assert parse._quickly_decoded(message, "Message-ID") == "<a.b@c.d>"
    assert parse._quickly_decoded(message, "References") == ""
    assert parse._quickly_decoded(parse.message_from_bytes(b"Subject: =?utf-8?q?x?=\n\n"), "Subject") is None
    assert mimeparse._HEADER_RE.match("Subject: x\r\nbody\r\n") is None  # no empty line: parsed whole
    multipart = b'Content-Type: multipart/alternative; boundary="b"\n\npre\n--b\n\nplain\n--b\nContent-Type: text/html\n\n<p>x\n--b--\nepi\n'
    whole = email.message_from_bytes(multipart, policy=mimeparse.POLICY)
    fast, _ = mimeparse._headed(multipart.decode())
    assert fast is not None and mimeparse._fill_multipart(fast, multipart.decode().split("\n\n", 1)[1])
    assert _shape(fast) == _shape(whole)
    assert mimeparse._HEADER_RE.match("Subject: x\r\n\r\nbody\r\n").end() == len("Subject: x\r\n\r\n")
    plain = "Subject: x\r\n y\r\nTo: z\r\n\r\n"
    assert _shape(mimeparse._plain_header(plain, len(plain))) == _shape(
        email.message_from_string(plain, policy=mimeparse.POLICY)
    )  # type: ignore[arg-type]
    for odd in (": no name\n\n", " first continued\nSubject: x\n\n", "Subject: x\nFrom y\nTo: z\n\n"):
        assert mimeparse._plain_header(odd, len(odd)) is None, odd  # the feed parser reads these its own way


# -- the reply trimmer's and the escaper's shortcuts -----------------------------------------------

_OLD_MOBILE = [re.compile(p, re.IGNORECASE) for p in replylines._MOBILE_PATTERNS]


def _old_is_mobile_footer(line: str) -> bool:
    if any(p.match(line) for p in _OLD_MOBILE):
        return True
    bare = replylines._LINK_RE.sub("", line).strip(" ()<>[]*_\"'")
    head, rest = replylines._SENTENCE_RE.match(bare).groups()  # type: ignore[union-attr]
    if not replylines._SENT_FROM_RE.match(head.strip()):
        return False
    if not rest.strip(" .,;!"):
        return len(head.split()) <= 9
    return bool(replylines._DEVICE_RE.search(head) or re.search(r"excuse|typo|brevity|brief", rest, re.IGNORECASE))


def _old_ends_with_verb(text: str) -> bool:
    tail = text.casefold().rstrip(" :：-*")
    if tail.endswith(replylines._CJK_VERBS_END):
        return True
    return any(
        tail.endswith(verb) and (len(tail) == len(verb) or not tail[-len(verb) - 1].isalnum())
        for verb in replylines._VERBS_END
    )


def _old_is_attribution(text: str, wrapped: bool) -> bool:
    if not text or len(text) > replylines.MAX_MATCH:
        return False
    if not wrapped and replylines._ISO_GMT_RE.match(text):
        return True
    found_email = bool(replylines.EMAIL_RE.search(text))
    if wrapped and not found_email:
        return False
    dated = bool(replylines._DATETIME_RE.search(text))
    opener = replylines._first_word(text) in replylines._OPENERS
    colon = text.endswith((":", "："))
    if _old_ends_with_verb(text) and ((opener and (dated or found_email)) or (colon and found_email)):
        return True
    if (
        colon
        and dated
        and replylines._MID_VERB_RE.search(text.casefold())
        and (found_email or opener or text[0].isdigit())
    ):
        return True
    starts_with_date = text[0].isdigit() or bool(replylines._WEEKDAY_RE.match(text))
    return dated and starts_with_date and bool(replylines._ENDS_EMAIL_RE.search(text))


def _old_could_open(text: str) -> bool:
    if len(text) > replylines.MAX_CONTINUATION * 2 or not text:
        return False
    has_digit = any(c.isdigit() for c in text)
    return (
        (replylines._first_word(text) in replylines._OPENERS and has_digit)
        or text[0].isdigit()
        or bool(replylines._WEEKDAY_RE.match(text))
        or text.endswith("<")
        or bool(replylines.EMAIL_RE.search(text))
        or bool(replylines._MID_VERB_RE.search(text.casefold()))
    )


@functools.cache
def _lines() -> list[str]:
    """Lines of the corpora (a seeded sample) and seeded random lines of the words these predicates look for."""
    corpus: set[str] = set()
    if CORPUS.exists():
        for path in CORPUS.rglob("*"):
            if path.is_file() and path.stat().st_size < 300_000:
                corpus.update(path.read_bytes().decode("utf-8", "replace").splitlines())
    rng = random.Random(14)
    found = set(rng.sample(sorted(corpus), min(len(corpus), 3000)))
    words = (
        "Sent from my iPhone|sent with|Sent via|On|Am|Le|wrote:|schrieb|a écrit|Mon,|Tue|2019|12:30|ann@x.org"
        "|<ann@x.org>|http://x.org|www.x.org|x.org|e.g.|3.5|localhost|ſent|SENT|from|my|mobile|,|.|;|!|:|(|)|<|>"
        "|Envoyé de mon|Von meinem|gesendet|Get Outlook for iOS|ᐧ|写道|-----Original Message-----|excuse typos"
    ).split("|")
    for _ in range(2000):
        found.add(rng.choice(["", " ", "> ", "*"]).join(rng.choice(words) for _ in range(rng.randint(1, 7))))
        found.add(" ".join(rng.choice(words) for _ in range(rng.randint(1, 7))))
    return sorted(found)


def test_reply_trimmer_shortcuts_answer_as_before() -> None:
    for line in _lines():
        clean = replylines.clean_line(line)
        core = replylines.strip_decoration(clean)
        assert replylines._is_mobile_footer(clean) == _old_is_mobile_footer(clean), clean
        assert replylines._ends_with_verb(core) == _old_ends_with_verb(core), core
        for wrapped in (False, True):
            assert replylines.is_attribution(core, wrapped) == _old_is_attribution(core, wrapped), core
        assert replylines._could_open_attribution(core) == _old_could_open(core), core


def test_link_prefilter_never_hides_a_link() -> None:
    """Whatever LinkifyIt would link, the quick look before it lets through."""
    for line in _lines():
        for text in (line, line.strip(), line + ".", "." + line):
            if plaintext._LINKIFY.test(text):
                assert plaintext._MAYBE_LINK_RE.search(text), text
            assert plaintext._maybe_link(text) == bool(plaintext._MAYBE_LINK_RE.search(text)), text
    for text in ("WwW. x", "www.", "LOCALHOST", "localhoſt", "LocalHoSt x", "a:b", "a@b", "a//b", "a. b", "a.b", "x."):
        assert plaintext._maybe_link(text) == bool(plaintext._MAYBE_LINK_RE.search(text)), text


def test_plain_text_shortcut_escapes_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _lines()[::3] + [
        "# x",
        "1. x",
        "- x",
        "+ x",
        "> x",
        "=",
        "--",
        "x!",
        "a_b",
        "<b>",
        "{{ x }}",
        "&amp;",
        "10) x",
    ]
    quick = [plaintext.escape_inline(t, line_start=start) for t in texts for start in (False, True)]
    bodies = [plaintext.text_to_markdown("\n".join(texts[i : i + 20])) for i in range(0, len(texts), 20)]
    monkeypatch.setattr(plaintext, "_as_typed", lambda text, line_start: None)
    assert [plaintext.escape_inline(t, line_start=start) for t in texts for start in (False, True)] == quick
    assert [plaintext.text_to_markdown("\n".join(texts[i : i + 20])) for i in range(0, len(texts), 20)] == bodies


def test_remembered_fields_follow_changes_to_the_header() -> None:
    """A message that remembers where its fields are answers as the email package does after each change."""
    raw = "Subject: a\nContent-Type: text/plain; charset=ascii\nX-A: 1\nx-a: 2\n\nbody\n"
    ours = mimeparse.message_from_bytes(raw.encode())
    theirs = email.message_from_string(raw, policy=mimeparse._Policy())
    changes = [
        lambda m: m.replace_header("X-A", "3"),
        lambda m: m.set_param("charset", "utf-8"),
        lambda m: m.add_header("X-B", "4"),
        lambda m: m.__delitem__("x-a"),
        lambda m: m.set_raw("X-A", "5"),
        lambda m: m.__delitem__("subject"),
        lambda m: m.__setitem__("Subject", "b"),
    ]
    for change in [lambda m: None, *changes]:
        change(ours)
        change(theirs)
        for name in ("subject", "X-A", "x-b", "content-type", "nothing"):
            assert (str(ours.get(name)), name in ours) == (str(theirs.get(name)), name in theirs), name
        assert ours.get_content_charset() == theirs.get_content_charset()


def test_a_date_read_once_is_the_date_its_text_gives() -> None:
    """_date takes the date _date_parts read instead of parsing the text written from it again."""
    rng = random.Random(16)
    for _ in range(3000):
        zone = rng.choice(["+0000", "-0000", "+0530", "-1200", "+1400", "EST", "GMT", "", "+2359", "-0001"])
        year = rng.choice([rng.randint(0, 99), rng.randint(100, 999), rng.randint(1900, 2100), 9999])
        day, hour = rng.randint(1, 31), rng.randint(0, 23)
        value = f"{rng.choice(['', 'Tue, '])}{day} {rng.choice(['Jan', 'Feb', 'Dec'])} {year} {hour}:{rng.randint(0, 59):02d}"
        value += rng.choice(["", f":{rng.randint(0, 59):02d}"]) + (f" {zone}" if zone else "")
        message = parse.message_from_bytes(f"Date: {value}\n\nx\n".encode())
        text, when = parse._date_parts(message)
        try:
            again = email.utils.parsedate_to_datetime(text) if text else None
        except (TypeError, ValueError, IndexError):
            again = None
        if when is not None:
            assert (again, again.tzinfo if again else None) == (when, when.tzinfo), value
