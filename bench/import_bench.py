"""Time `intranet import` on a generated mbox against the standard library's bare parse of it.

    python bench/import_bench.py [--messages 20000] [--before REV] [--keep DIR] [--profile]

Generates an mbox of realistic list mail (plain and HTML, replies quoting their parent, some
attachments, latin-1 and UTF-8 bodies, encoded headers, a few duplicates and auto-replies) and,
in the same run:

- the **baseline**: the standard library's bare parse of the same mbox on one core, in this
  process: ``mailbox.mbox`` finds the messages and each one is parsed with
  ``email.parser.BytesParser(policy=email.policy.default).parsebytes(box.get_bytes(key))``, the
  parse the importer would otherwise need (no header is decoded, no body converted, nothing
  written). It runs before and after the import; the mean counts;
- ``intranet import`` of the mbox into a fresh intranet repository (worker processes on every
  core, as the command runs), then a re-run of it (which must add nothing);
- with ``--before REV``, the same import by the code of that commit (``git archive`` into a
  temporary folder, run in a child process), and whether both wrote the same posts: the Git
  tree of the community's ``posts/`` must be the same object.

It prints messages per second, the ratio of the import's time to the bare parse's (below 1: the
import is faster) for both imports and the ratio of one to the other, CPU seconds (this process and
its children: steadier than wall time on a busy machine; the main process's share, and how much of
that the kernel spent: its files, before they were written by a process of their own) and the
peak RSS of the importing process and of its largest child. It asserts
nothing.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import datetime as dt
import email.parser
import email.policy
import email.utils
import json
import mailbox
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SLUG = "handover"
EDITOR = ("Bench Editor", "editor@example.org")

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


def bare_parse(mbox: Path) -> dict:
    """The standard library's parse of every message of ``mbox``, on one core: seconds and CPU seconds."""
    parser = email.parser.BytesParser(policy=email.policy.default)
    cpu, started = time.process_time(), time.perf_counter()
    box = mailbox.mbox(str(mbox), create=False)
    count = 0
    for key in box.iterkeys():
        parser.parsebytes(box.get_bytes(key))
        count += 1
    box.close()
    return {"messages": count, "seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def _cpu() -> tuple[float, float, float]:
    """CPU seconds of this process, of its children that ended, and of this process in the kernel."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime, own.ru_stime


def _git(root: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=B", "-c", "user.email=b@example.org", *args]
    return subprocess.run(command, cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def measure_import(work: Path, mbox: Path, profile: bool = False) -> dict:
    """Import ``mbox`` into a fresh intranet under ``work`` with the code on ``sys.path``; then again."""
    from helpers import small_intranet

    from intranet.settings import read_settings
    from mailgateway.importer import Importer

    root = work / "intranet"
    root.mkdir(parents=True)
    small_intranet(root)
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "Start"]):
        _git(root, *args)
    importer = Importer(root, read_settings(root), SLUG, EDITOR)
    profiler = cProfile.Profile(time.thread_time) if profile else None  # CPU time of this thread
    cpu, started = _cpu(), time.perf_counter()
    if profiler:
        os.register_at_fork(after_in_child=lambda: sys.setprofile(None))  # profile this process, not its workers
        profiler.enable()
    summary = importer.run(mbox)
    if profiler:
        profiler.disable()
    took, (own, children, kernel) = time.perf_counter() - started, _cpu()
    result = {
        "summary": summary.lines(),
        "messages": summary.read,
        "seconds": took,
        "cpu": own + children - cpu[0] - cpu[1],
        "cpu_main": own - cpu[0],
        "cpu_main_kernel": kernel - cpu[2],  # creating files, renaming them, syncing: the file system's share
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "tree": _git(root, "rev-parse", f"HEAD:communities/{SLUG}/posts"),
    }
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    started = time.perf_counter()
    again = Importer(root, read_settings(root), SLUG, EDITOR).run(mbox)
    result["rerun"] = {
        "imported": again.imported,
        "duplicates": again.duplicates,
        "seconds": time.perf_counter() - started,
    }
    return result


def measure_before(rev: str, mbox: Path, work: Path) -> dict | str:
    """The same import by the code of ``rev``, in a child process (or why it cannot be had)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "intranet", "mailgateway"], capture_output=True
    )
    if archive.returncode:
        return archive.stderr.decode(errors="replace").strip() or f"no commit {rev}"
    code = work / "code"
    code.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive.stdout, check=True)
    run = subprocess.run(
        [sys.executable, __file__, "--code", str(code), "--mbox", str(mbox), "--keep", str(work / "run")],
        capture_output=True,
        text=True,
    )
    if run.returncode:
        return run.stderr.strip().splitlines()[-1] if run.stderr.strip() else "failed"
    return json.loads(run.stdout.strip().splitlines()[-1])


def _line(name: str, run: dict, bare: float) -> str:
    rate = run["messages"] / run["seconds"]
    return (
        f"{name:<22} {run['seconds']:7.1f} s {rate:7.0f} msg/s   ratio to bare parse {run['seconds'] / bare:4.2f}   "
        f"CPU {run['cpu']:6.1f} s ({run['cpu_main']:.1f} s in the main process, {run['cpu_main_kernel']:.1f} s of it "
        "in the kernel)   "
        f"peak RSS {run['rss']:.0f} MB (largest child {run['rss_child']:.0f} MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--before", metavar="REV", help="also import with the code of this commit")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--profile", action="store_true", help="print the 25 costliest functions of the import")
    parser.add_argument("--code", help=argparse.SUPPRESS)  # the folder holding the code to time
    parser.add_argument("--mbox", type=Path, help=argparse.SUPPRESS)  # import this mbox, print JSON
    args = parser.parse_args()
    sys.path[:0] = [args.code or str(REPO), str(REPO / "tests")]
    work = args.keep or Path(tempfile.mkdtemp(prefix="import-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.mbox:  # the child of --before
        print(json.dumps(measure_import(work, args.mbox)))
        return 0
    mbox = work / "archive.mbox"
    started = time.perf_counter()
    write_mbox(mbox, args.messages)
    size = mbox.stat().st_size / 1e6
    took = time.perf_counter() - started
    print(f"generated {args.messages} messages, {size:.1f} MB in {took:.1f} s; {os.cpu_count()} cores")
    bare = [bare_parse(mbox)]
    now = measure_import(work / "now", mbox, args.profile)
    before = measure_before(args.before, mbox, work / "before") if args.before else None
    bare.append(bare_parse(mbox))
    seconds = sum(b["seconds"] for b in bare) / len(bare)
    cpu = sum(b["cpu"] for b in bare) / len(bare)
    runs = ", ".join(f"{b['seconds']:.1f} s" for b in bare)
    print("\n".join(now["summary"]))
    print(
        f"{'bare parse, one core':<22} {seconds:7.1f} s {bare[0]['messages'] / seconds:7.0f} msg/s   "
        f"(runs: {runs}; CPU {cpu:.1f} s): mailbox.mbox + "
        "BytesParser(policy=email.policy.default).parsebytes of every message"
    )
    print(_line("intranet import", now, seconds))
    if isinstance(before, dict):
        print(_line(f"before ({args.before})", before, seconds))
        print(
            f"now / before: time {now['seconds'] / before['seconds']:.2f}, CPU {now['cpu'] / before['cpu']:.2f}, "
            f"main process's CPU {now['cpu_main'] / before['cpu_main']:.2f}"
        )
        same = "yes" if before["tree"] == now["tree"] else "NO"
        print(f"same posts as before: {same} (tree of posts/ {now['tree'][:12]}, before {before['tree'][:12]})")
    elif before is not None:
        print(f"(no import before: {before})")
    rerun = now["rerun"]
    print(f"re-run: imported {rerun['imported']}, duplicates {rerun['duplicates']} in {rerun['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
