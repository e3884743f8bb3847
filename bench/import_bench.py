"""Time `intranet import` on a generated mbox: messages per second and peak memory.

    python bench/import_bench.py [--messages 20000] [--keep DIR] [--profile]

Generates an mbox of realistic list mail (plain and HTML, replies quoting their parent, some
attachments, latin-1 and UTF-8 bodies, encoded headers, a few duplicates and auto-replies),
imports it into a fresh intranet repository, and prints the rate and the peak RSS.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import email.utils
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from helpers import small_intranet  # noqa: E402

from intranet.settings import read_settings  # noqa: E402
from mailgateway.importer import Importer  # noqa: E402

WORDS = (
    "handover shift patient ward nurse chart audit rota staffing medication round escalation night day "
    "checklist safety incident review team protocol update question answer thanks agree proposal"
).split()
NAMES = ["Ann Lee", "Bo Chen", "Zoë Ðaniel", "José Müller", "Ingrid Ås", "Li Wei", "Omar Haddad", "Kate Bell"]


def sentence(rng: random.Random, n: int = 12) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def message(rng: random.Random, i: int, when: dt.datetime, parent: tuple[str, str, str] | None) -> bytes:
    name = rng.choice(NAMES)
    address = name.lower().replace(" ", ".").encode("ascii", "ignore").decode() + "@example.org"
    mid = f"<m{i}.{rng.getrandbits(32):x}@example.org>"
    subject = f"Re: {parent[1]}" if parent else f"[ward-list] {sentence(rng, 5)[:-1]}"
    encoded_name = email.utils.formataddr((name, address), charset="utf-8")
    headers = [
        f"From: {encoded_name}",
        "To: ward-list@lists.example.org",
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(when)}",
        f"Message-ID: {mid}",
        "List-Id: <ward-list.lists.example.org>",
        "Precedence: list",
        "MIME-Version: 1.0",
    ]
    if parent and rng.random() > 0.1:  # one reply in ten lost its threading headers
        headers += [f"In-Reply-To: {parent[0]}", f"References: {parent[0]}"]
    text = "\n\n".join(sentence(rng, rng.randint(8, 30)) for _ in range(rng.randint(1, 4)))
    if parent:
        text += f"\n\nOn {when:%a %d %b %Y}, someone wrote:\n" + "\n".join(
            "> " + line for line in parent[2].splitlines()
        )
    text += f"\n\n-- \n{name}\nWard 4"
    kind = rng.random()
    if kind < 0.15:  # HTML alternative
        html = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        body = (
            'Content-Type: multipart/alternative; boundary="b1"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n'
            f"{text}\n--b1\nContent-Type: text/html; charset=utf-8\n\n<html><body>{html}</body></html>\n--b1--\n"
        )
        data = body.encode("utf-8")
    elif kind < 0.22:  # an attachment
        blob = base64.encodebytes(rng.randbytes(rng.randint(2000, 20000))).decode()
        body = (
            'Content-Type: multipart/mixed; boundary="b2"\n\n--b2\nContent-Type: text/plain; charset=utf-8\n\n'
            f'{text}\n--b2\nContent-Type: application/pdf\nContent-Disposition: attachment; filename="rota.pdf"\n'
            f"Content-Transfer-Encoding: base64\n\n{blob}--b2--\n"
        )
        data = body.encode("utf-8")
    elif kind < 0.45:  # latin-1
        data = ("Content-Type: text/plain; charset=iso-8859-1\n\n" + text + "\nGrüße, à bientôt\n").encode(
            "latin-1", "replace"
        )
    else:
        data = ("Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text + "\n").encode()
    return ("\n".join(headers) + "\n").encode("utf-8") + data, mid, subject, text


def write_mbox(path: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    when = dt.datetime(2019, 1, 1, 8, 0, tzinfo=dt.UTC)
    recent: list[tuple[str, str, str]] = []
    sent: list[bytes] = []
    with path.open("wb") as out:
        for i in range(count):
            when += dt.timedelta(minutes=rng.randint(1, 90))
            roll = rng.random()
            if roll < 0.01 and sent:  # a duplicate (the same message archived twice)
                raw = rng.choice(sent)
            elif roll < 0.015:
                raw = (
                    b"From: Kate Bell <kate.bell@example.org>\nSubject: Out of office\nAuto-Submitted: auto-replied\n"
                    + f"Date: {email.utils.format_datetime(when)}\n\nI am away.\n".encode()
                )
            else:
                parent = rng.choice(recent) if recent and rng.random() < 0.6 else None
                raw, mid, subject, text = message(rng, i, when, parent)
                recent = (recent + [(mid, subject.removeprefix("Re: "), text[:400])])[-50:]
                if rng.random() < 0.05:
                    sent = (sent + [raw])[-100:]
            out.write(f"From MAILER-DAEMON {when:%a %b %d %H:%M:%S %Y}\n".encode())
            for line in raw.split(b"\n"):
                if line.lstrip(b">").startswith(b"From "):
                    line = b">" + line
                out.write(line + b"\n")
            out.write(b"\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--profile", action="store_true", help="print the 25 costliest functions")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="import-bench-"))
    root = work / "intranet"
    root.mkdir(parents=True, exist_ok=True)
    small_intranet(root)
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "Start"]):
        subprocess.run(["git", "-c", "user.name=B", "-c", "user.email=b@example.org", *cmd], cwd=root, check=True)
    mbox = work / "archive.mbox"
    started = time.perf_counter()
    write_mbox(mbox, args.messages)
    print(
        f"generated {args.messages} messages, {mbox.stat().st_size / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )
    importer = Importer(root, read_settings(root), "handover", ("Bench Editor", "editor@example.org"))
    profile = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profile:
        profile.enable()
    summary = importer.run(mbox)
    if profile:
        profile.disable()
    took = time.perf_counter() - started
    print("\n".join(summary.lines()))
    print(f"{summary.read} messages in {took:.1f} s: {summary.read / took:.0f} messages/s")
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    started = time.perf_counter()
    again = Importer(root, read_settings(root), "handover", ("Bench Editor", "editor@example.org")).run(mbox)
    print(f"re-run: imported {again.imported}, duplicates {again.duplicates} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
