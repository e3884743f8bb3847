"""Parsing real-world mail defects into posts (pure)."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest

from intranet.errors import UnreadableMessage
from mailgateway.parse import MAX_MIME_DEPTH, content_hash, parse_header, parse_message

RECEIVED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def parse(raw: bytes):
    return parse_message(raw.replace(b"\n", b"\r\n"), RECEIVED, "intranet.localhost")


def visible(markdown: str) -> str:
    from intranet.render import render_post_markdown

    html = render_post_markdown(markdown).replace("<br>", "\n")
    return unescape(re.sub(r"<[^>]+>", "", html)).strip()


def test_wrong_and_missing_charsets_fall_back() -> None:
    latin = "Caf\xe9 r\xe9union".encode("latin-1")
    mail = parse(b"From: a@x.org\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\n" + latin + b"\n")
    assert "Café réunion" in visible(mail.body)
    mail = parse(
        b"From: a@x.org\nSubject: s\nContent-Type: text/plain; charset=no-such-charset\n\n" + "naïve".encode() + b"\n"
    )
    assert "naïve" in visible(mail.body)
    smart = "\u201cquoted\u201d \u2013 dash".encode("windows-1252")
    mail = parse(b"From: a@x.org\nSubject: s\nContent-Type: text/plain\n\n" + smart + b"\n")
    assert "\u201cquoted\u201d \u2013 dash" in visible(mail.body)


def test_quoted_printable_base64_and_encoded_headers() -> None:
    raw = (
        b"From: =?utf-8?q?Zo=C3=AB_Smith?= <zoe@x.org>\nSubject: =?utf-8?b?w5xiZXJnYWJl?=\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        b"Zo=C3=AB says a very long line that was soft=\n-wrapped by the client.\n"
    )
    mail = parse(raw)
    assert (mail.from_name, mail.subject) == ("Zoë Smith", "Übergabe")
    assert "Zoë says a very long line that was soft-wrapped by the client." in visible(mail.body)
    raw = (
        b"From: a@x.org\nSubject: b64\nContent-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\nSGVsbG8sIHfDtnJsZCE=\n"
    )
    assert visible(parse(raw).body) == "Hello, wörld!"


def test_format_flowed_is_joined() -> None:
    raw = (
        b"From: a@x.org\nSubject: flowed\nContent-Type: text/plain; charset=utf-8; format=flowed\n\n"
        b"This paragraph was \nwrapped by the client \nat 72 columns.\n\nSecond line.\n"
    )
    body = visible(parse(raw).body)
    assert "This paragraph was wrapped by the client at 72 columns." in body
    assert "Second line." in body


def test_nested_multipart_attachments_and_forwarded_message() -> None:
    raw = b"""From: a@x.org
Subject: nested
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8

Plain version.
--inner
Content-Type: text/html; charset=utf-8

<p>HTML version.</p>
--inner--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Disposition: attachment; filename="report.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: message/rfc822

From: b@x.org
Subject: The original

Forwarded text.
--outer--
"""
    mail = parse(raw)
    assert visible(mail.body) == "Plain version."
    assert [(p.file, p.filename, p.content_type) for p in mail.parts] == [
        ("att-1.pdf", "report.pdf", "application/pdf"),
        ("att-2.eml", "The original.eml", "message/rfc822"),
    ]
    assert mail.parts[0].data == b"%PDF-1.4\n"
    assert b"Forwarded text." in mail.parts[1].data


def test_html_only_mail_with_table_and_inline_image() -> None:
    raw = b"""From: a@x.org
Subject: html
MIME-Version: 1.0
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>Results <b>below</b>:</p><table><tr><th>Ward</th><th>Falls</th></tr><tr><td>7</td><td>3</td></tr></table>
<p><img src="cid:chart@x" alt="chart"></p><ul><li>one</li><li>two</li></ul>
--rel
Content-Type: image/png
Content-ID: <chart@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
"""
    mail = parse(raw)
    assert "**below**" in mail.body
    assert re.search(r"\|\s*Ward\s*\|\s*Falls\s*\|", mail.body)
    assert "![chart](att-1.png)" in mail.body
    assert re.search(r"^[*-] one$", mail.body, re.M)
    assert mail.parts[0].file == "att-1.png" and mail.parts[0].content_id == "chart@x"


def test_missing_date_and_message_id_and_nul_bytes() -> None:
    raw = b"From: a@x.org\nSubject: bare\n\nBody with a NUL\x00 byte.\n"
    mail = parse(raw)
    assert mail.date == RECEIVED
    assert mail.derived_id and re.fullmatch(r"<[0-9a-f]{32}@intranet\.localhost>", mail.message_id)
    assert parse(raw).message_id == mail.message_id  # deterministic
    assert "\x00" not in mail.body and "Body with a NUL byte." in visible(mail.body)


def test_content_hash_ignores_trace_headers_only() -> None:
    base = b"From: a@x.org\nSubject: s\nMessage-ID: <m@x>\n\nBody\n"
    relayed = b"Received: from mx by relay\nDelivered-To: b@y\n" + base
    assert content_hash(base) == content_hash(relayed)
    assert content_hash(base) != content_hash(base.replace(b"Body", b"Other body"))


def test_plain_text_shows_exactly_as_typed() -> None:
    typed = (
        "# not a heading\n* not a list\n1. not a list either\n<b>not bold</b> &amp;\n"
        '{{ config }} {% raw %}\n--8<-- "mkdocs.yml"\n    indented'
    )
    raw = b"From: a@x.org\nSubject: s\nContent-Type: text/plain; charset=utf-8\n\n" + typed.encode() + b"\n"
    shown = visible(parse(raw).body)
    for line in typed.splitlines():
        assert line.strip() in shown.replace("\xa0", " "), line


def test_quoted_reply_and_signature_are_set_aside() -> None:
    raw = (
        b"From: a@x.org\nSubject: Re: s\nContent-Type: text/plain; charset=utf-8\n\n"
        b"Yes, Thursday works.\n\nOn Tue, 3 Nov 2026 at 09:14, Amira Haddad <amira@x.org>\n"
        b"wrote:\n> Does Thursday work?\n"
    )
    mail = parse(raw)
    assert visible(mail.body) == "Yes, Thursday works."
    assert "Does Thursday work?" in visible(mail.quoted)
    raw = b"From: a@x.org\nSubject: s\n\nSee you there.\n\nSent from my iPhone\n"
    mail = parse(raw)
    assert visible(mail.body) == "See you there." and "iPhone" in visible(mail.signature)


def nested(depth: int, inner: bytes = b"Content-Type: text/plain\n\nAt the bottom.\n", mark: bytes = b"b") -> bytes:
    """A message with its text ``depth`` multiparts down (boundaries ``<mark><level>``)."""
    head = b"From: a@x.org\nSubject: deep\nMIME-Version: 1.0\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="%s%d"\n\n--%s%d\n' % (mark, n, mark, n) for n in range(depth)
    )
    closing = b"".join(b"--%s%d--\n" % (mark, n) for n in reversed(range(depth)))
    return head + opening + inner + closing


def test_mime_nesting_is_capped() -> None:
    assert MAX_MIME_DEPTH == 50
    assert visible(parse(nested(MAX_MIME_DEPTH)).body) == "At the bottom."
    with pytest.raises(UnreadableMessage, match="nested more than 50 levels"):
        parse(nested(MAX_MIME_DEPTH + 1))
    # A forwarded message counts with the levels around it.
    forwarded = b"Content-Type: message/rfc822\n\n" + nested(10, mark=b"inner")
    assert parse(nested(MAX_MIME_DEPTH - 11, forwarded)).parts[0].content_type == "message/rfc822"
    with pytest.raises(UnreadableMessage, match="nested more than 50 levels"):
        parse(nested(MAX_MIME_DEPTH - 10, forwarded))


def test_mail_too_deep_for_the_email_package_is_unreadable_not_a_crash() -> None:
    with pytest.raises(UnreadableMessage) as caught:
        parse(nested(1000))
    assert caught.value.reason == "unreadable"
    assert not isinstance(caught.value, RecursionError)


def test_the_header_of_unreadable_mail_still_names_its_sender() -> None:
    mail = parse_header(nested(1000).replace(b"\n", b"\r\n"), RECEIVED, "intranet.localhost")
    assert (mail.from_address, mail.subject, mail.body, mail.parts) == ("a@x.org", "deep", "", [])
    assert mail.derived_id and mail.message_id.endswith("@intranet.localhost>")
    assert mail.content_type == "multipart/mixed"
