"""`intranet import` writes exactly the posts it always wrote: golden files of a varied mbox.

The mbox built here has the mail an archive holds (threads by headers and by subject, quoting,
signatures, HTML, attachments, charsets, encoded words, odd Message-IDs and dates, subjects that
YAML must quote, duplicates, auto-replies, bounces, a reply into another community's thread, a
pipermail envelope, CRLF lines, a message with no header at all). Every file the import writes
under the community's ``posts/`` (the post's text whole, an attachment as its size and SHA-256),
and the summary, must equal ``tests/golden/import-posts.txt``, which was written by the importer
before it was made fast (commit 4dcd82f). Refresh it only for an intended change of the output::

    python tests/test_import_output.py --refresh
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import sys
import threading
from pathlib import Path

from mailtest import git_root

from intranet.settings import read_settings
from mailgateway.importer import Importer

GOLDEN = Path(__file__).parent / "golden" / "import-posts.txt"
NOW = dt.datetime(2024, 6, 1, 12, 0, 30, 123456, tzinfo=dt.UTC)  # the importer's clock: dates after it are brought back
WORDS = "rota ward nurse chart audit shift night day check safety review team update thanks agree".split()


def _mail(headers: list[str], body: str | bytes, charset: str = "utf-8", nl: str = "\n") -> bytes:
    head = nl.join(headers) + nl + nl
    data = body if isinstance(body, bytes) else body.encode(charset)
    return head.encode("utf-8") + (data.replace(b"\n", nl.encode()) if nl != "\n" else data)


def _text(n: int, words: int = 14) -> str:
    return " ".join(WORDS[(n * 7 + i * 3) % len(WORDS)] for i in range(words)).capitalize() + "."


def _thread_messages() -> list[bytes]:
    """A run of ordinary list mail: topics, replies by header, replies that lost their headers."""
    out = []
    for n in range(24):
        topic = n // 4
        mid = f"<g{n}.{n * 7919 % 1000}@lists.example.org>"
        subject = f"[ward] Topic {topic} about {WORDS[topic]}"
        headers = [f"From: Person {n % 5} <person{n % 5}@example.org>", f"Message-ID: {mid}"]
        headers.append(f"Date: Mon, {1 + n} Apr 2019 09:{n:02d}:00 +0{n % 3}00")
        if n % 4:
            headers.append(f"Subject: Re: {subject}")
            if n % 4 != 3:  # the fourth of each thread lost its threading headers
                parent = f"<g{n - 1}.{(n - 1) * 7919 % 1000}@lists.example.org>"
                headers += [f"In-Reply-To: {parent}", f"References: <g{topic * 4}.x@y> {parent}"]
            body = f"{_text(n)}\n\nOn Monday Person {(n - 1) % 5} wrote:\n> {_text(n - 1)}\n> more\n\n-- \nPerson {n % 5}\nWard 4\n"
        else:
            headers.append(f"Subject: {subject}")
            body = f"{_text(n, 30)}\n\n{_text(n + 1)}\n  indented line\n# not a heading\n* not a list <b>x</b> {{{{ y }}}}\n"
        headers += ["List-Id: <ward.lists.example.org>", "Precedence: list", "Content-Type: text/plain; charset=utf-8"]
        out.append(_mail(headers, body))
    return out


SUBJECTS = [
    "yes",
    "2019-01-01",
    "null",
    "3.14",
    "#hash first",
    "a #comment",
    "ends with colon:",
    "- dash first",
    "'single' quotes",
    '"double" quotes',
    "{braces} and [brackets]",
    "percent %d and @at",
    "tilde ~",
    "Ünïcödé ✓ 😀",
    "=?utf-8?q?encoded_=E2=9C=93_word?=",
    "=?iso-8859-1?q?Gr=FC=DFe?=",
    "  spaced   out  ",
    "tab\there",
    "=?utf-8?b?bGluZQogYnJlYWs=?=",
    "a: b",
    "---",
    "?",
    "x" * 300,
    "on",
    "~",
    "<<",
    "=",
]

ODD_IDS = ["<#1@x.example>", "<a:b@x.example>", "<'q'@x.example>", "<-d@x.example>", "<n@x>", "<yes@no>"]


def _odd_messages() -> list[bytes]:
    out = []
    for n, subject in enumerate(SUBJECTS):
        mid = ODD_IDS[n] if n < len(ODD_IDS) else f"<s{n}@odd.example>"
        out.append(
            _mail(
                [
                    f"From: =?utf-8?q?Zo=C3=AB_{n}?= <zoe{n}@example.net>",
                    f"Subject: {subject}",
                    f"Message-ID: {mid}",
                    "Date: Tue, 7 May 2019 10:00:00 +0000",
                    "Content-Type: text/plain; charset=utf-8",
                ],
                f"Body {n}: {_text(n)}\nhttp://example.org/{n} and www.example.com and mail@example.org\n",
            )
        )
    dates = [
        "",
        "yesterday",
        "Tue, 7 May 2019 10:00:00 -0000",
        "Sat, 1 Jan 2039 00:00:00 +0000",
        "Tue, 7 May 2019 10:00:00 +0530",
        "7 May 19 10:00 EST",
        "Tue, 7 May 2019 10:00:00 +99999999",
        "Tue,\n 7 May 2019\n 10:00:00 +0000",
    ]
    for n, date in enumerate(dates):
        headers = [f"From: Dee <dee{n}@example.net>", f"Subject: Date case {n}", f"Message-ID: <d{n}@dates.example>"]
        headers += [f"Date: {date}"] if date else []
        out.append(_mail(headers, f"Date case {n}.\n"))
    ids = ["", "<x@y> (comment)", "not-an-id", "<two@a> <three@b>", "< spaced@id >", "<trailing@id>>", "<ü@id>"]
    for n, mid in enumerate(ids):
        headers = ["From: Ida <ida@example.net>", f"Subject: Id case {n}", "Date: Wed, 8 May 2019 10:00:00 +0000"]
        headers += [f"Message-ID: {mid}"] if mid else []
        out.append(_mail(headers, f"Id case {n}.\n"))
    return out


def _mime_messages() -> list[bytes]:
    base = ["From: Ann Lee <ann.lee@example.org>", "Date: Thu, 9 May 2019 10:00:00 +0100", "MIME-Version: 1.0"]
    blob = base64.encodebytes(bytes(range(256)) * 20).decode()
    html = "<html><body><p>Hello <b>team</b></p><blockquote>old <i>text</i></blockquote></body></html>"
    table = "<html><body><p>Rota:</p><table><tr><td>Mon</td><td>Ann</td></tr></table></body></html>"
    return [
        _mail(
            base
            + ["Subject: Alternative", "Message-ID: <mime1@x>", 'Content-Type: multipart/alternative; boundary="b"'],
            f"--b\nContent-Type: text/plain; charset=utf-8\n\nPlain part.\n\n> quoted\n--b\nContent-Type: text/html\n\n{html}\n--b--\n",
        ),
        _mail(base + ["Subject: HTML only", "Message-ID: <mime2@x>", "Content-Type: text/html; charset=utf-8"], html),
        _mail(
            base + ["Subject: Table", "Message-ID: <mime3@x>", 'Content-Type: multipart/alternative; boundary="b"'],
            f"--b\nContent-Type: text/plain\n\nRota: Mon Ann\n--b\nContent-Type: text/html\n\n{table}\n--b--\n",
        ),
        _mail(
            base + ["Subject: Attachment", "Message-ID: <mime4@x>", 'Content-Type: multipart/mixed; boundary="b"'],
            "--b\nContent-Type: text/plain\n\nSee the rota.\n--b\nContent-Type: application/pdf\n"
            f'Content-Disposition: attachment; filename="r\\u00f6ta ../x.pdf"\nContent-Transfer-Encoding: base64\n\n{blob}--b--\n',
        ),
        _mail(
            base + ["Subject: Inline image", "Message-ID: <mime5@x>", 'Content-Type: multipart/related; boundary="b"'],
            '--b\nContent-Type: text/html\n\n<p>Logo: <img src="cid:logo@x"></p>\n--b\nContent-Type: image/png\n'
            f"Content-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\n{base64.encodebytes(b'PNG' * 40).decode()}--b--\n",
        ),
        _mail(
            base + ["Subject: Fwd: something", "Message-ID: <mime6@x>", 'Content-Type: multipart/mixed; boundary="b"'],
            "--b\nContent-Type: text/plain\n\nForwarding this.\n--b\nContent-Type: message/rfc822\n\n"
            "From: Other <o@example.com>\nSubject: Inner one\n\nInner body.\n--b--\n",
        ),
        _mail(
            base
            + ["Subject: Flowed", "Message-ID: <mime7@x>", "Content-Type: text/plain; format=flowed; charset=utf-8"],
            "A long line that \nwas wrapped by \nthe client.\n\n> quoted \n> flowed\n",
        ),
        _mail(base + ["Subject: Latin-1 undeclared", "Message-ID: <mime8@x>"], "Gr\xfc\xdfe aus K\xf6ln\n", "latin-1"),
        _mail(
            base
            + [
                "Subject: QP",
                "Message-ID: <mime9@x>",
                "Content-Transfer-Encoding: quoted-printable",
                "Content-Type: text/plain; charset=utf-8",
            ],
            "caf=C3=A9 =3D soft=\nbreak\n",
        ),
        _mail(base + ["Subject: NUL and CRLF", "Message-ID: <mime10@x>"], b"nul\x00byte\nline two\n", nl="\r\n"),
        _mail(
            base
            + [
                "Subject: Base64 text",
                "Message-ID: <mime11@x>",
                "Content-Transfer-Encoding: base64",
                "Content-Type: text/plain; charset=utf-8",
            ],
            base64.encodebytes("Héllo wörld\n".encode()).decode(),
        ),
        _mail(
            base + ["Subject: Broken", "Message-ID: <mime12@x>", 'Content-Type: multipart/mixed; boundary="nope"'],
            "no boundary ever\n",
        ),
    ]


def _filtered_messages() -> list[bytes]:
    date = "Date: Fri, 10 May 2019 10:00:00 +0000"
    return [
        _mail(
            [
                "From: Kate <kate@example.org>",
                "Subject: Out of office",
                "Auto-Submitted: auto-replied",
                date,
                "Message-ID: <f1@x>",
            ],
            "Away.\n",
        ),
        _mail(["From: Kate <kate@example.org>", "Subject: Automatic reply: hi", date, "Message-ID: <f2@x>"], "Away.\n"),
        _mail(["From: MAILER-DAEMON@example.org", "Subject: Undelivered", date, "Message-ID: <f3@x>"], "x\n"),
        _mail(
            ["From: Bulk <b@example.org>", "Subject: Newsletter", "Precedence: bulk", date, "Message-ID: <f4@x>"], "x\n"
        ),
        _mail(["From: noreply@example.org", "Subject: Robot", date, "Message-ID: <f5@x>"], "x\n"),
        _mail(
            [
                "From: Loop <l@example.org>",
                "Subject: Loop",
                "X-Loop: handover@intranet.localhost",
                date,
                "Message-ID: <f6@x>",
            ],
            "x\n",
        ),
        _mail(["Subject: No sender", date, "Message-ID: <f7@x>"], "x\n"),
        _mail(["From: pip at example.org (Pip)", "Subject: Pipermail sender", date, "Message-ID: <f8@x>"], "Hi.\n"),
        _mail(["From: Emma <emma@example.org>", "Subject: Empty", date, "Message-ID: <f9@x>"], "\n\n"),
        _mail(
            [
                "From: Emma <emma@example.org>",
                "Subject: Reply elsewhere",
                date,
                "Message-ID: <f10@x>",
                "In-Reply-To: <p1@example.org>",
            ],
            "Answer.\n\n> Delays expected.\n",
        ),
        _mail(
            [
                "From: Emma <emma@example.org>",
                "Subject: Re: Night shift handover",
                date,
                "Message-ID: <f11@x>",
                "References: <t1@example.org>",
            ],
            "Into the existing topic.\n",
        ),
        _mail(
            [
                "From: Emma <emma@example.org>",
                "Subject: Child first",
                date,
                "Message-ID: <f12@x>",
                "In-Reply-To: <f13@x>",
            ],
            "Before my parent.\n",
        ),
        _mail(["From: Emma <emma@example.org>", "Subject: Parent second", date, "Message-ID: <f13@x>"], "Parent.\n"),
        _mail(
            ["From: Emma <emma@example.org>", "Subject: Mentions From", date, "Message-ID: <f14@x>"],
            "From the start of a line\n>From quoted\n\nFrom after a blank line\n",
        ),
        b"just some words\nno header here\n",
        _mail(
            ["From: Emma <emma@example.org>", "Subject: Duplicate, other content", date, "Message-ID: <mime1@x>"],
            "Not the first one.\n",
        ),
    ]


def messages() -> list[tuple[bytes, bytes]]:
    """(envelope ``From `` line, message) of the golden mbox, in order."""
    found = _thread_messages() + _odd_messages() + _mime_messages() + _filtered_messages()
    found.append(found[3])  # archived twice
    envelopes = [b"From MAILER-DAEMON Mon Apr  1 09:00:00 2019\n"] * len(found)
    piper = next(i for i, raw in enumerate(found) if b"Pipermail sender" in raw)
    envelopes[piper] = b"From pip at example.org  Fri May 10 10:00:00 2019\n"
    return list(zip(envelopes, found, strict=True))


def write_mbox(path: Path) -> Path:
    with path.open("wb") as out:
        for envelope, raw in messages():
            out.write(envelope)
            for line in raw.split(b"\n"):
                out.write((b">" + line if line.lstrip(b">").startswith(b"From ") else line) + b"\n")
            out.write(b"\n")
    return path


def imported(tmp: Path) -> str:
    """The files the import of the golden mbox writes into the community, and its summary, as text."""
    root = git_root(tmp / "r")
    archive = write_mbox(tmp / "golden.mbox")
    summary = Importer(root, read_settings(root), "handover", ("E", "e@example.org"), clock=lambda: NOW).run(archive)
    posts = root / "communities" / "handover" / "posts"
    out = ["# summary", *summary.lines()[:-1]]  # (commit ids differ from run to run)
    for path in sorted(p for p in posts.rglob("*") if p.is_file()):
        data = path.read_bytes()
        name = path.relative_to(root).as_posix()
        if path.suffix == ".md":
            out += [f"# {name}", data.decode("utf-8")]
        else:
            out.append(f"# {name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    return "\n".join(out) + "\n"


def test_import_writes_the_golden_posts(tmp_path: Path) -> None:
    got = imported(tmp_path)
    expected = GOLDEN.read_text(encoding="utf-8")
    if got != expected:  # a readable difference: the first file that differs
        got_parts, expected_parts = got.split("\n# "), expected.split("\n# ")
        for mine, theirs in zip(got_parts, expected_parts, strict=False):
            assert mine == theirs
        assert len(got_parts) == len(expected_parts)
    assert got == expected


def test_read_in_this_process_the_posts_are_the_same(tmp_path: Path) -> None:
    """With another thread running, the import forks no worker processes and reads every message itself."""
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait)
    waiting.start()
    try:
        got = imported(tmp_path)
    finally:
        stop.set()
        waiting.join()
    assert got == GOLDEN.read_text(encoding="utf-8")


if __name__ == "__main__" and sys.argv[1:] == ["--refresh"]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(imported(Path(folder)), encoding="utf-8")
    print(f"wrote {GOLDEN}")
