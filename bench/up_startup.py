"""Start-up of ``intranet up``: how soon it answers SMTP, takes a message, and serves a page.

For each size (``--topics``, generated once by ``bench/build_bench.py``'s
generator into ``--keep``, then reused) and each case:

- ``disk``: a site from an earlier build is on disk;
- ``none``: a first start: no site and no cache of the gateway's model.

it starts ``intranet up`` as a subprocess and prints, in seconds from the
start: the SMTP greeting (220), the 250 for a new topic sent right then, the
first HTTP answer (200, or the 503 "being built" page), the first page served
(200 on ``/``), the end of the catch-up build (its log line), and when that
message's topic page was served, each with the CPU time ``intranet up``
had used by then (the shared machine stretches wall time). It also prints the peak memory of the whole
process tree (``intranet up`` and its build processes), sampled every 0.5 s,
as the sum of resident sets (RSS, counts pages shared after a fork twice) and
as the sum of proportional sets (PSS, counts them once). Asserts nothing.

``--before REV`` runs the same cases with the code of an older commit too
(checked out into a temporary worktree), one after the other in the same run.

    python bench/up_startup.py --topics 1000 --keep /work/bench-data/up
    python bench/up_startup.py --topics 1000 10000 --cases disk none --keep /work/bench-data/up
    python bench/up_startup.py --topics 1000 --before 4dcd82f --keep /work/bench-data/up
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import build_bench  # noqa: E402
from mail_to_page import DOMAIN, message, prepare  # noqa: E402
from proctree import Sampler, stop  # noqa: E402
from reply_latency import free_port, up_command  # noqa: E402

from intranet.format import path_key, post_relpath  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of ``pid`` so far (a busy machine stretches the wall time, not this)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def http_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def run_case(root: Path, case: str, code: Path, timeout: float, log_path: Path) -> dict[str, float]:
    """One start of ``intranet up`` (the code in ``code``) on ``root``; seconds to each event, and memory."""
    if case == "none":
        shutil.rmtree(root / "site", ignore_errors=True)
        (root / ".intranet" / "index-cache.json").unlink(missing_ok=True)
    elif not (root / "site" / "staff").is_dir():
        raise SystemExit(f"case 'disk' needs a site in {root / 'site'}: run case 'none' first")
    http, smtp = free_port(), free_port()
    env = {**os.environ, "PYTHONPATH": str(code)}
    slug = "procurement"
    staff = [p for p in build_bench.make_people(random.Random(1)) if p.kind == "staff"][0]
    marker = f"startup{time.time_ns()}"
    mail = message(staff.email, f"{slug}@{DOMAIN}", f"Start-up probe {marker}", f"Topic {marker}.", None)
    page = f"http://127.0.0.1:{http}/c/{slug}/t/{path_key(post_relpath(slug, mail['Message-ID']))[:12]}/"
    times: dict[str, float] = {}
    with log_path.open("w") as log:
        started = time.monotonic()
        up = subprocess.Popen(up_command(root, http, smtp), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=code)
        sampler = Sampler(up.pid)
        sampler.start()

        def mark(name: str) -> None:
            if name not in times:
                times[name] = time.monotonic() - started
                cpu = cpu_seconds(up.pid)
                print(f"    {name:<22} {times[name]:8.1f} s   ({cpu:.1f} s of CPU used by intranet up)", flush=True)

        try:
            while len(times) < 6 and time.monotonic() - started < timeout:
                if up.poll() is not None:
                    raise SystemExit(f"intranet up stopped; see {log_path}")
                if "smtp greeting" not in times:
                    try:
                        with smtplib.SMTP("127.0.0.1", smtp, timeout=600) as client:
                            mark("smtp greeting")
                            client.sendmail(staff.email, [f"{slug}@{DOMAIN}"], mail.as_bytes())
                            mark("250 for a message")
                    except OSError:
                        pass
                status = http_status(f"http://127.0.0.1:{http}/")
                if status:
                    mark("first http answer")
                if status == 200:
                    mark("first page served")
                if "catch-up build done" not in times and "full build landed" in log_path.read_text():
                    mark("catch-up build done")
                if "250 for a message" in times and "message on its page" not in times and marker in http_text(page):
                    mark("message on its page")
                    if "catch-up build done" not in times:
                        mark("catch-up build done")  # an older version: its build was done before it served
                time.sleep(0.05)
        finally:
            sampler.stop()
            stop(up)
    times["peak rss (MB)"] = sampler.rss / 1024
    times["peak pss (MB)"] = sampler.pss / 1024
    times["processes"] = sampler.processes
    print(
        f"    peak memory of the process tree: RSS {sampler.rss / 1024:.0f} MB, PSS {sampler.pss / 1024:.0f} MB "
        f"({sampler.processes} processes at most)",
        flush=True,
    )
    return times


def checkout(rev: str, into: Path) -> Path:
    subprocess.run(["git", "worktree", "add", "--detach", str(into), rev], cwd=REPO, check=True, capture_output=True)
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, nargs="+", default=[1000])
    parser.add_argument("--posts-per-topic", type=float, default=10.0)
    parser.add_argument("--cases", nargs="+", choices=("disk", "none"), default=["none", "disk"])
    parser.add_argument("--before", metavar="REV", help="also run the code of this commit, for comparison")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a start may take at most")
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) KEEP/t<topics>")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="up-startup-"))
    codes = [("this", REPO)]
    scratch = Path(tempfile.mkdtemp(prefix="up-startup-code-"))
    if args.before:
        codes.append((f"before ({args.before})", checkout(args.before, scratch / "before")))
    results: list[tuple[int, str, str, dict[str, float]]] = []
    try:
        for topics in args.topics:
            root = prepare(base / f"t{topics}", topics, args.posts_per_topic, 1)
            for case in args.cases:
                for name, code in codes:
                    print(f"{topics:,} topics, site on disk: {case == 'disk'}, code: {name}", flush=True)
                    log_path = base / f"t{topics}" / f"up-{case}-{name.split()[0]}.log"
                    results.append((topics, case, name, run_case(root, case, code, args.timeout, log_path)))
    finally:
        if args.before:
            subprocess.run(["git", "worktree", "remove", "--force", str(scratch / "before")], cwd=REPO, check=False)
        shutil.rmtree(scratch, ignore_errors=True)
    columns = ["smtp greeting", "250 for a message", "first http answer", "first page served"]
    columns += ["catch-up build done", "message on its page", "peak rss (MB)", "peak pss (MB)"]
    print("\n| topics | site on disk | code | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 3) + "|")
    for topics, case, name, times in results:
        cells = [f"{times[c]:.1f}" if c in times else "-" for c in columns]
        print(f"| {topics:,} | {'yes' if case == 'disk' else 'no'} | {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
