"""Mail to page at scale: from the gateway's 250 to the post in the served page.

Generates a synthetic intranet (``bench/build_bench.py``'s generator: by
default 10,000 topics and about 100,000 posts) in a Git repository, runs
``intranet up`` on it as a subprocess (site, gateway and updates, as
``make run`` does), waits for the first build, then sends ``--replies``
replies to existing topics and ``--new-topics`` new topics over SMTP at a
steady pace, from known staff. For each message it polls the served page
(the topic's page) from the moment the client has read the 250 until the
message's unique text is there. Prints each latency, the median, the 95th
percentile and the maximum, and the peak memory of the ``intranet up``
process tree (it and its build processes: RSS and PSS, sampled). Asserts
nothing.

With ``--rebuild``, as the messages start an editor changes ``mkdocs.yml``'s
colours (a full rebuild, in the background; ``--rebuild rename``: a
community's name; ``--rebuild people``: a person's role, which re-renders
their profile and the directory; ``--rebuild name``: a person's name, on
every page that shows their posts) and commits 50 posts; the messages sent while
the rebuild runs (for ``people`` and ``name``: the first 30 s) are reported apart, and
after a full rebuild is swapped in every message is looked for again on its
page.

    python bench/mail_to_page.py                        # 10,000 topics, ~100,000 posts, 50 + 10 messages
    python bench/mail_to_page.py --topics 1000 --posts-per-topic 6
    python bench/mail_to_page.py --keep /tmp/m2p        # keep (and reuse) the generated repository
    python bench/mail_to_page.py --keep /tmp/m2p --rebuild
    python bench/mail_to_page.py --keep /tmp/m2p --rebuild people
"""

from __future__ import annotations

import argparse
import email.utils
import os
import random
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
from proctree import Sampler, describe_peak, describe_timeline, stop  # noqa: E402
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
    (root / ".gitignore").write_text("/site/\n/.site.*\n/.intranet/\n")
    started = time.monotonic()
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=Bench", "-c", "user.email=bench@example.org", "commit", "-qm", "generated")
    print(f"committed in {time.monotonic() - started:.0f} s", flush=True)
    return root


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


EDITS = {
    "mkdocs": "mkdocs.yml's colours change (every page: a full rebuild)",
    "rename": "a community's name changes (in every page's navigation: a full rebuild)",
    "people": "a person's role changes in people/ (their profile and the directory)",
    "name": "a person's name changes in people/ (every page that shows their posts)",
}


def start_rebuild(root: Path, edit: str, topics: int, posts_per_topic: float, seed: int) -> int:
    """An editor makes ``edit`` (see ``EDITS``) and commits it with 50 posts; the posts' count."""
    people = build_bench.make_people(random.Random(seed))
    if edit in ("people", "name"):
        path = root / "people" / f"{people[0].handle}.yml"
        old, new = ("role: ", "role: Senior ") if edit == "people" else ("name: ", "name: Dr ")
    elif edit == "rename":
        path = root / "communities" / "clinical-handover" / "community.yml"
        old, new = "name: ", "name: The "
    else:
        path = root / "mkdocs.yml"
        text = path.read_text()
        # (`custom` since issue #18's colours, `teal` in repositories generated before; a kept
        # repository may have been edited before: then back)
        old = next(word for word in ("primary: custom", "primary: teal", "primary: indigo") if word in text)
        new = "primary: indigo" if old != "primary: indigo" else "primary: custom"
    before = path.read_text()
    path.write_text(before.replace(old, new, 1))
    if path.read_text() == before:
        raise SystemExit(f"the editor's change of {path.name} changed nothing: the bench would measure no rebuild")
    dirs = build_bench.DirCache()
    count, index = 0, topics + 1000 * int(time.time() % 1000)  # new topics, never generated before
    while count < 50:
        _, posts, files = build_bench.topic_posts(seed, index, people, posts_per_topic)
        posts = posts[: 50 - count]
        build_bench.write_intranet_topic(root, posts, files, dirs)
        count += len(posts)
        index += 1
    git(root, "add", "communities", str(path))  # (what is committed is what `intranet up` follows)
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", "An editor's batch")
    return count


def landed(log_path: Path) -> int:
    """How many full builds ``intranet up`` has swapped in so far (0 for a version that does not log it)."""
    return log_path.read_text(errors="replace").count("full build landed")


def resumed(log_path: Path) -> bool:
    """Whether ``intranet up`` took back the trees it saved at its last stop (no catch-up build)."""
    return "resumed: " in log_path.read_text(errors="replace")


def report(
    name: str, times: list[float], what: str = "messages", span: str = "from the 250 to the served page"
) -> None:
    if not times:
        print(f"{name}: none appeared")
        return
    times = sorted(times)
    p95 = times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    print(
        f"{name}: {len(times)} {what}: median {statistics.median(times):.2f} s, "
        f"95th percentile {p95:.2f} s, max {times[-1]:.2f} s ({span})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--posts-per-topic", type=float, default=10.0)
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument("--new-topics", type=int, default=10)
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between messages (default 1)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    parser.add_argument(
        "--rebuild",
        nargs="?",
        const="mkdocs",
        choices=sorted(EDITS),
        help="as the messages start, an editor makes this edit (default mkdocs: "
        + "; ".join(f"{k}: {v}" for k, v in EDITS.items())
        + ") and commits 50 posts; report the messages sent during the rebuild (for people and "
        "name: the first 30 s) apart, and after a full rebuild check they are still on their pages",
    )
    parser.add_argument("--timeline", action="store_true", help="also print the PSS of each process every 10 s")
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
    log_path = workdir / "up.log"
    log = log_path.open("w")
    up = subprocess.Popen(up_command(root, http, smtp), stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(up.pid)
    sampler.start()
    base = f"http://127.0.0.1:{http}/"
    probes = Probes(base, smtp)
    started = time.monotonic()
    try:
        while not fetch(base) or not (
            landed(log_path) or resumed(log_path)
        ):  # the catch-up build is in, or none is due
            if up.poll() is not None:
                raise SystemExit(f"intranet up stopped; see {log_path}")
            time.sleep(0.5)
        how = "took back its saved trees" if resumed(log_path) else "served its first build"
        print(f"intranet up {how} after {time.monotonic() - started:.0f} s", flush=True)
        # A first message, timed apart (the first after a start).
        slug, root_id, subject = targets.pop()
        probes.send(staff[0].email, slug, f"Re: {subject}", root_id, "warmup")
        probes.wait(130)
        print(f"first message after the start (not counted): {probes.latencies.pop('warmup'):.2f} s", flush=True)
        builds = landed(log_path)
        if args.rebuild:
            count = start_rebuild(root, args.rebuild, args.topics, args.posts_per_topic, args.seed)
            print(f"{EDITS[args.rebuild]}; {count} posts committed", flush=True)
        full = args.rebuild in ("mkdocs", "rename")
        edited = time.monotonic()
        plan = [("reply", t) for t in targets] + [("topic", None)] * args.new_topics
        rng.shuffle(plan)
        during: list[str] = []
        for n, (kind, target) in enumerate(plan):
            sender = rng.choice(staff)
            if kind == "reply":
                slug, root_id, subject = target  # type: ignore[misc]
                marker = probes.send(sender.email, slug, f"Re: {subject}", root_id, f"probe{n}")
            else:
                marker = probes.send(sender.email, rng.choice(slugs), "New topic", None, f"probe{n}")
            if (full and landed(log_path) == builds) or (
                args.rebuild in ("people", "name") and time.monotonic() - edited < 30
            ):
                during.append(marker)
            time.sleep(args.pace)
        probes.wait(130)
        if full:
            print("waiting for the rebuild to be swapped in ...", flush=True)
            while landed(log_path) == builds and up.poll() is None:
                time.sleep(1)
            print(f"rebuild swapped in {time.monotonic() - started:.0f} s after the start", flush=True)
            kept, sent = probes.still_there()
            print(f"after the swap, {kept} of {sent} messages are still on their pages", flush=True)
    finally:
        sampler.stop()
        stop(up)
        log.close()
    print()
    report("all messages", list(probes.latencies.values()))
    if args.rebuild:
        report(
            "sent while the full rebuild ran" if full else "sent in the first 30 s after the edit",
            [probes.latencies[m] for m in during if m in probes.latencies],
        )
    print(
        f"peak memory of the intranet up process tree: RSS {sampler.rss / 1024:.0f} MB, "
        f"PSS {sampler.pss / 1024:.0f} MB ({sampler.processes} processes at most)"
    )
    print(describe_peak(sampler))
    if args.timeline:
        print("PSS of the process tree (total: each process, parent first):")
        print(describe_timeline(sampler))
    return 0


class Probes:
    """Messages sent by SMTP, each watched on its topic page (in a thread) until its text is there."""

    def __init__(self, base: str, smtp: int) -> None:
        self.base = base
        self.smtp = smtp
        self.latencies: dict[str, float] = {}
        self.pages: dict[str, str] = {}  # marker -> page URL
        self.message_ids: dict[str, str] = {}  # marker -> the message's Message-ID
        self._watchers: list[threading.Thread] = []

    def send(self, sender: str, slug: str, subject: str, in_reply_to: str | None, name: str) -> str:
        marker = f"{name}x{time.time_ns()}"
        if in_reply_to is None:
            subject = f"{subject} {marker}"
        mail = message(sender, f"{slug}@{DOMAIN}", subject, f"Text {marker}.", in_reply_to)
        page_id = in_reply_to or mail["Message-ID"]
        url = f"{self.base}c/{slug}/t/{path_key(post_relpath(slug, page_id))[:12]}/"
        self.pages[marker] = url
        self.message_ids[marker] = mail["Message-ID"]
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=60) as client:
            client.sendmail(sender, [f"{slug}@{DOMAIN}"], mail.as_bytes())
            accepted = time.monotonic()
        thread = threading.Thread(target=self._watch, args=(name, marker, url, accepted), daemon=True)
        thread.start()
        self._watchers.append(thread)
        return marker if name != "warmup" else name

    def _watch(self, name: str, marker: str, url: str, accepted: float) -> None:
        while marker not in fetch(url):
            if time.monotonic() - accepted > 600:
                print(f"  {name} never appeared", flush=True)
                return
            time.sleep(0.01)
        self.latencies[name if name == "warmup" else marker] = time.monotonic() - accepted
        print(f"  {name:8s} {time.monotonic() - accepted:.2f} s", flush=True)

    def wait(self, timeout: float) -> None:
        for thread in self._watchers:
            thread.join(timeout=timeout)
        self._watchers.clear()

    def still_there(self) -> tuple[int, int]:
        """(messages found on their pages, messages sent), the first one apart."""
        pages = {marker: url for marker, url in self.pages.items() if not marker.startswith("warmup")}
        return sum(marker in fetch(url) for marker, url in pages.items()), len(pages)


if __name__ == "__main__":
    sys.exit(main())
