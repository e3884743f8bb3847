"""Mail to page at scale: from the gateway's 250 to the post in the served page.

Generates a synthetic intranet (``bench/build_bench.py``'s generator: by
default 10,000 topics and about 100,000 posts) in a Git repository, runs
``intranet up`` on it as a subprocess (site, gateway and updates, as
``make run`` does), waits for the first build, then sends ``--replies``
replies to existing topics and ``--new-topics`` new topics over SMTP at a
steady pace, from known staff. For each message it polls the served page
(the topic's page) from the moment the client has read the 250 until the
message's unique text is there. Prints each latency, the median, the 95th
percentile and the maximum, and the peak resident memory of the
``intranet up`` process (VmHWM). Asserts nothing.

    python bench/mail_to_page.py                        # 10,000 topics, ~100,000 posts, 50 + 10 messages
    python bench/mail_to_page.py --topics 1000 --posts-per-topic 6
    python bench/mail_to_page.py --keep /tmp/m2p        # keep (and reuse) the generated repository
"""

from __future__ import annotations

import argparse
import email.utils
import os
import random
import signal
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import build_bench  # noqa: E402
from reply_latency import fetch, free_port, up_command  # noqa: E402

from intranet.format import path_key, post_relpath  # noqa: E402

DOMAIN = "intranet.localhost"


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, stdout=subprocess.DEVNULL)


def prepare(workdir: Path, topics: int, posts_per_topic: float, seed: int) -> Path:
    root = workdir / "intranet"
    if (root / ".git").is_dir():
        print(f"reusing {root}", flush=True)
        return root
    started = time.monotonic()
    generated = build_bench.generate(workdir, topics, seed, False, posts_per_topic=posts_per_topic)
    print(
        f"generated {len(generated.summaries):,} topics, {generated.posts:,} posts in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    started = time.monotonic()
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=Bench", "-c", "user.email=bench@example.org", "commit", "-qm", "generated")
    print(f"committed in {time.monotonic() - started:.0f} s", flush=True)
    return root


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    values = {"VmRSS": 0, "VmHWM": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0]) // 1024
    except OSError:
        pass
    return values["VmRSS"], values["VmHWM"]


def message(sender: str, to: str, subject: str, text: str, in_reply_to: str | None) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    mail["Date"] = email.utils.format_datetime(email.utils.localtime())
    mail["Message-ID"] = email.utils.make_msgid(domain="bench.example.org")
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
        mail["References"] = in_reply_to
    mail.set_content(text)
    return mail


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--posts-per-topic", type=float, default=10.0)
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument("--new-topics", type=int, default=10)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between messages (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    args = parser.parse_args()

    workdir = args.keep or Path(os.environ.get("TMPDIR", "/tmp")) / f"mail-to-page-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    root = prepare(workdir, args.topics, args.posts_per_topic, args.seed)
    rng = random.Random(args.seed)
    people = build_bench.make_people(random.Random(args.seed))
    staff = [p for p in people if p.kind == "staff"]
    targets = []
    for index in rng.sample(range(args.topics), args.replies + 1):  # one more for the first message
        community, posts, _ = build_bench.topic_posts(args.seed, index, people, args.posts_per_topic)
        targets.append((community.slug, posts[0].message_id, posts[0].subject))
    slugs = sorted({c.slug for c in build_bench.community_specs() if c.slug != "procurement"})

    http, smtp = free_port(), free_port()
    log = (workdir / "up.log").open("w")
    up = subprocess.Popen(
        up_command(root, http, smtp),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{http}/"
    latencies: dict[str, float] = {}
    started = time.monotonic()
    try:
        while not fetch(base):
            if up.poll() is not None:
                raise SystemExit(f"intranet up stopped; see {workdir / 'up.log'}")
            time.sleep(0.5)
        print(
            f"intranet up served its first build after {time.monotonic() - started:.0f} s; RSS {memory(up.pid)[0]} MB",
            flush=True,
        )
        # A first message, timed apart: on a first start the gateway reads every post before it can
        # thread one (later starts use its cache).
        slug, root_id, subject = targets.pop()
        marker = f"warmup{time.time_ns()}"
        mail = message(staff[0].email, f"{slug}@{DOMAIN}", f"Re: {subject}", f"Reply {marker}.", root_id)
        with smtplib.SMTP("127.0.0.1", smtp, timeout=60) as client:
            client.sendmail(staff[0].email, [f"{slug}@{DOMAIN}"], mail.as_bytes())
            accepted = time.monotonic()
        url = f"{base}c/{slug}/t/{path_key(post_relpath(slug, root_id))[:12]}/"
        while marker not in fetch(url):
            time.sleep(0.05)
        print(f"first message after the start (not counted): {time.monotonic() - accepted:.2f} s", flush=True)
        plan = [("reply", t) for t in targets] + [("topic", None)] * args.new_topics
        rng.shuffle(plan)
        watchers = []
        peak_rss = 0
        for n, (kind, target) in enumerate(plan):
            sender = rng.choice(staff)
            marker = f"probe{n}x{time.time_ns()}"
            if kind == "reply":
                slug, root_id, subject = target  # type: ignore[misc]
                page_id = root_id
                mail = message(sender.email, f"{slug}@{DOMAIN}", f"Re: {subject}", f"Reply {marker}.", root_id)
            else:
                slug = rng.choice(slugs)
                mail = message(sender.email, f"{slug}@{DOMAIN}", f"New topic {marker}", f"Topic {marker}.", None)
                page_id = mail["Message-ID"]
            url = f"{base}c/{slug}/t/{path_key(post_relpath(slug, page_id))[:12]}/"
            with smtplib.SMTP("127.0.0.1", smtp, timeout=60) as client:
                client.sendmail(sender.email, [f"{slug}@{DOMAIN}"], mail.as_bytes())
                accepted = time.monotonic()

            def watch(url: str = url, marker: str = marker, accepted: float = accepted, kind: str = kind) -> None:
                while marker not in fetch(url):
                    if time.monotonic() - accepted > 120:
                        print(f"  {kind} {marker} never appeared", flush=True)
                        return
                    time.sleep(0.01)
                latencies[marker] = time.monotonic() - accepted
                print(f"  {kind:5s} {latencies[marker]:.2f} s", flush=True)

            thread = threading.Thread(target=watch, daemon=True)
            thread.start()
            watchers.append(thread)
            peak_rss = max(peak_rss, memory(up.pid)[0])
            time.sleep(args.pace)
        for thread in watchers:
            thread.join(timeout=130)
        rss, hwm = memory(up.pid)
    finally:
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=120)
        except subprocess.TimeoutExpired:
            up.kill()
        log.close()
    times = sorted(latencies.values())
    if not times:
        print("no message appeared")
        return 1
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    print(
        f"\n{len(times)} of {len(plan)} messages: median {statistics.median(times):.2f} s, "
        f"95th percentile {p95:.2f} s, max {times[-1]:.2f} s (from the 250 to the served page)"
    )
    print(f"intranet up resident memory: {rss} MB now, peak {hwm} MB (VmHWM)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
