"""Time reading HTML mail: 100 KB and 1 MB bodies, as a sender's client writes them (issue #13).

Two kinds of body, both realistic mail HTML built here from a fixed seed:

- ``outlook``: Outlook's ``WordSection1`` document, ``MsoNormal`` paragraphs of spans, each earlier
  message under a ``From: / Sent: / To: / Subject:`` block with a rule above it, a rota as a data
  table, a signature in a layout table with an inline logo: the quoted history is flat.
- ``nested``: Gmail/Apple-style replies, each quoting the whole history before it in a
  ``<blockquote type="cite">`` inside Outlook-style divs: the history nests ever deeper.

Each body goes out as a real message (plain and HTML alternatives and the inline logo), and the
time is that of :func:`mailgateway.parse.parse_message`, best of ``--repeat``: the HTML is split
at the quote and both halves converted to Markdown. ``parses`` counts the times BeautifulSoup
parsed HTML for it. With ``--before REV`` the same bodies are also read by the code of that
commit (``git archive`` into a temporary folder, in a child process), so both columns come from
the same run on the same machine. It asserts nothing.

Run it from the repository root::

    python bench/html_bench.py
    python bench/html_bench.py --before 6d69687   # the last commit before the single parse
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIZES = {"100 KB": 100_000, "1 MB": 1_000_000}
WORDS = (
    "patient ward handover shift rota bed review audit falls data meeting notes today tomorrow please "
    "thanks team nurse doctor plan cover swap night early late weekend agency sister discharge"
).split()


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _span(text: str) -> str:
    return f'<span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;color:#1F497D">{text}</span>'


def _earlier_message(rng: random.Random, n: int) -> str:
    """One earlier message of the history: its header block, some paragraphs, a rota and a signature."""
    header = (
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        f'<p class="MsoNormal"><b>{_span("From:")}</b>{_span(f" Person {n} &lt;p{n}@example.org&gt;")}<br>'
        f"<b>Sent:</b> Monday, 3 March 2025 10:{n % 60:02d}<br><b>To:</b> Ward team &lt;team@example.org&gt;<br>"
        "<b>Subject:</b> RE: Rota for March<o:p></o:p></p></div>"
    )
    parts = [header, '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>']
    for _ in range(rng.randint(3, 8)):
        link = f'<a href="https://intranet.example.org/rota/{n}">the rota page</a>'
        parts.append(
            f'<p class="MsoNormal">{_span(_words(rng, 25) + " " + link + " " + _words(rng, 10))}<o:p></o:p></p>'
        )
    cell = '<td style="border:solid windowtext 1.0pt;padding:0cm 5.4pt"><p class="MsoNormal">{}</p></td>'
    rows = ["<tr>" + "".join(cell.format(f"<b>{h}</b>") for h in ("Day", "Early", "Late", "Night")) + "</tr>"]
    for _ in range(rng.randint(3, 7)):
        rows.append("<tr>" + "".join(cell.format(_span(_words(rng, 2))) for _ in range(4)) + "</tr>")
    parts.append(
        '<table class="MsoNormalTable" border="0" cellspacing="0" cellpadding="0">' + "".join(rows) + "</table>"
    )
    parts.append(
        '<table border="0" cellpadding="0" cellspacing="0" role="presentation"><tr><td><div><p class="MsoNormal">'
        f"<b>{_span(f'Person {n}')}</b><br>Ward Sister | Example Hospital<br>Tel 0123 456 {n % 1000:03d}</p></div></td>"
        '<td><img width="80" height="40" src="cid:logo@example.org" alt="Example Hospital"></td></tr></table>'
    )
    return "\n".join(parts)


def outlook_body(size: int, seed: int = 13) -> str:
    rng = random.Random(seed)
    parts = [
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head><meta charset="utf-8">'
        "<style><!-- p.MsoNormal {margin:0cm;} --></style></head><body lang=EN-GB><div class=WordSection1>",
        f'<p class="MsoNormal">{_span(_words(rng, 30))}<o:p></o:p></p>',
    ]
    n = 0
    while sum(map(len, parts)) < size:
        parts.append(_earlier_message(rng, n))
        n += 1
    return "".join(parts) + "</div></body></html>"


def nested_body(size: int, seed: int = 13) -> str:
    rng = random.Random(seed)
    history = ""
    n = 0
    while len(history) < size:
        history = (
            f'<div dir="ltr"><div class="WordSection1"><p class="MsoNormal">{_words(rng, 40)}</p>'
            + _earlier_message(rng, n)
            + '<div class="gmail_quote">On Mon, 3 Mar 2025, Person wrote:<br>'
            + '<blockquote type="cite" style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">'
            + history
            + "</blockquote></div></div></div>"
        )
        n += 1
    return "<html><body>" + history + "</body></html>"


BODIES = {"outlook": outlook_body, "nested": nested_body}


def message(html: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Ann Lee <ann.lee@example.org>"
    mail["To"] = "handover@intranet.localhost"
    mail["Subject"] = "RE: Rota for March"
    mail["Message-ID"] = "<bench@example.org>"
    mail.set_content("Plain version.")
    mail.add_alternative(html, subtype="html")
    mail.get_payload()[1].add_related(b"\x89PNG\r\n\x1a\n", "image", "png", cid="<logo@example.org>")
    return mail.as_bytes()


def measure(repeat: int) -> list[dict]:
    """Time parse_message on every body; rows of kind, size, seconds (best) and parses."""
    import bs4

    from mailgateway.parse import parse_message

    parses = [0]
    original = bs4.BeautifulSoup.__init__

    def counting(self: bs4.BeautifulSoup, markup: str = "", *args: object, **kwargs: object) -> None:
        parses[0] += bool(markup)
        original(self, markup, *args, **kwargs)  # type: ignore[arg-type]

    bs4.BeautifulSoup.__init__ = counting  # type: ignore[method-assign]
    received = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    rows = []
    for kind, build in BODIES.items():
        for label, size in SIZES.items():
            html = build(size)
            raw = message(html)
            best = float("inf")
            for _ in range(repeat):
                parses[0] = 0
                start = time.perf_counter()
                parse_message(raw, received)
                best = min(best, time.perf_counter() - start)
            rows.append({"kind": kind, "size": label, "bytes": len(html), "seconds": best, "parses": parses[0]})
    return rows


def measure_before(rev: str, repeat: int) -> list[dict] | str:
    """The same measurement with the code of ``rev`` (or why it cannot be had)."""
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", rev, "intranet", "mailgateway"], capture_output=True
        )
        if archive.returncode:
            return archive.stderr.decode(errors="replace").strip() or f"no commit {rev}"
        subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
        run = subprocess.run(
            [sys.executable, __file__, "--code", folder, "--repeat", str(repeat), "--json"],
            capture_output=True,
            text=True,
        )
        if run.returncode:
            return run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"
        return json.loads(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each body; the best counts (default 3)")
    parser.add_argument("--before", metavar="REV", help="also time the code of this commit")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # the folder holding the code to time
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.path.insert(0, args.code or str(REPO))
    rows = measure(args.repeat)
    if args.json:
        print(json.dumps(rows))
        return
    before = measure_before(args.before, 1) if args.before else None
    print(f"{'body':<8} {'size':>7} {'HTML bytes':>11} {'seconds':>8} {'parses':>7}", end="")
    print(f"   before ({args.before}): seconds, parses" if isinstance(before, list) else "")
    for index, row in enumerate(rows):
        line = f"{row['kind']:<8} {row['size']:>7} {row['bytes']:>11,} {row['seconds']:>8.2f} {row['parses']:>7}"
        if isinstance(before, list):
            old = before[index]
            line += f"   {old['seconds']:>8.2f} {old['parses']:>7}"
        print(line)
    if isinstance(before, str):
        print(f"(no times before: {before})")


if __name__ == "__main__":
    main()
