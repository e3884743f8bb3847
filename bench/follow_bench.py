"""The site following a Git remote: mail to page with the push, an editor's push to page, a big commit.

Generates a synthetic intranet (``bench/build_bench.py``'s generator: by
default 10,000 topics and about 100,000 posts), clones it bare as the remote
with a ``post-receive`` hook that runs ``intranet notify`` (as the README
says), sets ``remote`` and runs ``intranet up`` on it as a subprocess. Once
the site is in (a catch-up build on a first run; the saved trees with
``--keep`` after that), it measures, one phase after the other:

1. **mail to page with a remote**: ``--messages`` replies sent over SMTP,
   ``--pace`` seconds apart; for each, from the 250 to its text on the served
   topic page, and from the 250 to its commit on the *remote's* branch (the
   push included);
2. **an editor's push to the site**: ``--pushes`` times, an editor (a clone of
   the remote) changes one post, commits and pushes; from the start of
   ``git push`` (the hook's notification included) to the change on its page;
3. **a 1,000-file editor commit**: the editor changes ``--big`` posts in one
   commit and pushes; the time until the first of 20 sampled pages shows the
   change (noticed and applied in part) and until ``intranet up`` logs the
   last part applied (all of it), then the 20 pages are checked.

Prints medians, 95th percentiles and maxima, and the peak memory of the
``intranet up`` process tree. Asserts nothing.

    python bench/follow_bench.py                         # 10,000 topics
    python bench/follow_bench.py --topics 1000 --posts-per-topic 6 --big 300
    python bench/follow_bench.py --keep /tmp/follow       # keep (and reuse) repositories and saved trees
"""

from __future__ import annotations

import argparse
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import build_bench  # noqa: E402
from mail_to_page import Probes, landed, prepare, report, resumed  # noqa: E402
from proctree import Sampler, stop  # noqa: E402
from push_bench import Watch, git, set_remote  # noqa: E402
from reply_latency import fetch, free_port, up_command  # noqa: E402

from intranet.format import path_key, post_relpath  # noqa: E402

EDITOR = ("-c", "user.name=Editor", "-c", "user.email=editor@example.org")
FIELD = re.compile(r"^(message_id|topic): '?(<[^>\n]+>)'?$", re.M)


def remote_for(workdir: Path, root: Path) -> Path:
    """The bare remote (cloned from the root once), its hook, and the root's ``remote`` setting."""
    bare = workdir / "remote.git"
    if not bare.is_dir():
        git(workdir, "clone", "-q", "--bare", str(root), str(bare))
        set_remote(root, str(bare))
        branch = git(root, "rev-parse", "--abbrev-ref", "HEAD").strip()
        config = root / "mkdocs.yml"
        config.write_text(config.read_text().replace("      remote: ", f"      branch: {branch}\n      remote: ", 1))
    hook = bare / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m intranet.cli notify --root {root}\n")
    hook.chmod(0o755)
    return bare


def editor_clone(workdir: Path, bare: Path) -> Path:
    clone = workdir / "editor"
    if clone.is_dir():
        git(clone, "pull", "-q", "--rebase")
    else:
        git(workdir, "clone", "-q", str(bare), str(clone))
    return clone


def topic_page(base: str, path: Path) -> str:
    """The served page of the topic the post file at ``path`` is in."""
    fields = dict(m.groups() for m in FIELD.finditer(path.read_text().split("\n---\n", 1)[0]))
    slug = path.relative_to(path.parents[3]).parts[0]
    topic = fields.get("topic") or fields["message_id"]
    return f"{base}c/{slug}/t/{path_key(post_relpath(slug, topic))[:12]}/"


def edit_post(path: Path, marker: str) -> None:
    head, sep, body = path.read_text().partition("\n---\n")
    path.write_text(f"{head}{sep}Edited {marker}. {body}")


def wait_page(url: str, marker: str, started: float, timeout: float = 600) -> float | None:
    while marker not in fetch(url):
        if time.monotonic() - started > timeout:
            return None
        time.sleep(0.01)
    return time.monotonic() - started


def mail_phase(args: argparse.Namespace, root: Path, bare: Path, smtp: int, base: str) -> None:
    rng = random.Random(args.seed)
    people = build_bench.make_people(random.Random(args.seed))
    staff = [p for p in people if p.kind == "staff"]
    watch = Watch(bare)
    watch.start()
    probes = Probes(base, smtp)
    sent: dict[str, tuple[str, float]] = {}  # marker -> (Message-ID, when the 250 came)
    try:
        for n, index in enumerate(rng.sample(range(args.topics), args.messages)):
            community, posts, _ = build_bench.topic_posts(args.seed, index, people, args.posts_per_topic)
            marker = probes.send(
                rng.choice(staff).email, community.slug, f"Re: {posts[0].subject}", posts[0].message_id, f"m{n}"
            )
            sent[marker] = (probes.message_ids[marker], time.monotonic())
            time.sleep(args.pace)
        probes.wait(300)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not all(mid in watch.seen for mid, _ in sent.values()):
            time.sleep(0.1)
    finally:
        watch.stop()
    report("mail to page with a remote", list(probes.latencies.values()))
    pushed = [watch.seen[mid] - at for mid, at in sent.values() if mid in watch.seen]
    report("mail to commit on the remote", pushed, span="from the 250 to the commit on the remote's branch")


def push_phase(args: argparse.Namespace, editor: Path, base: str) -> None:
    files = git(editor, "ls-files", "communities").split()
    posts = [f for f in files if "/posts/" in f and f.endswith(".md")]
    times, returned = [], []
    for n, relpath in enumerate(random.Random(args.seed + 1).sample(posts, args.pushes)):
        marker = f"push{n}x{time.time_ns()}"
        path = editor / relpath
        edit_post(path, marker)
        git(editor, *EDITOR, "commit", "-qam", f"An editor's edit {n}")
        started = time.monotonic()
        git(editor, "push", "-q")
        returned.append(time.monotonic() - started)
        took = wait_page(topic_page(base, path), marker, started)
        print(f"  push {n}: {'never' if took is None else f'{took:.2f} s'}", flush=True)
        if took is not None:
            times.append(took)
        time.sleep(1.0)
    report("an editor's push to the site", times, "pushes", "from the start of git push to the change on the page")
    print(f"  (git push itself, the hook's notification included: median {sorted(returned)[len(returned) // 2]:.2f} s)")


def big_phase(args: argparse.Namespace, editor: Path, base: str, log_path: Path) -> None:
    files = git(editor, "ls-files", "communities").split()
    posts = [f for f in files if "/posts/" in f and f.endswith(".md")]
    chosen = random.Random(args.seed + 2).sample(posts, args.big)
    marker = f"big{time.time_ns()}"
    for relpath in chosen:
        edit_post(editor / relpath, marker)
    git(editor, *EDITOR, "commit", "-qam", f"An editor's commit of {args.big} posts")
    sample = [topic_page(base, editor / relpath) for relpath in chosen[:20]]
    offset = log_path.stat().st_size
    started = time.monotonic()
    git(editor, "push", "-q")
    first = None
    while first is None and time.monotonic() - started < 900:
        if any(marker in fetch(url) for url in sample):
            first = time.monotonic() - started
        time.sleep(0.05)
    done = None
    while done is None and time.monotonic() - started < 1800:
        with log_path.open(errors="replace") as log:
            log.seek(offset)
            if re.search(r"post\(s\) of a big change applied, 0 wait|full build landed", log.read()):
                done = time.monotonic() - started
        time.sleep(0.2)
    shown = sum(marker in fetch(url) for url in sample)
    print(
        f"a {args.big}-post editor commit: first sampled page after {first or float('nan'):.1f} s, "
        f"all applied after {done or float('nan'):.1f} s; {shown} of {len(sample)} sampled pages show it"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=10000)
    parser.add_argument("--posts-per-topic", type=float, default=10.0)
    parser.add_argument("--messages", type=int, default=50, help="replies in the mail phase")
    parser.add_argument("--pace", type=float, default=1.0, help="seconds between two messages")
    parser.add_argument("--pushes", type=int, default=10, help="an editor's pushes of one post each")
    parser.add_argument("--big", type=int, default=1000, help="posts in the editor's big commit (0: skip)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder")
    args = parser.parse_args()

    workdir = args.keep or Path(os.environ.get("TMPDIR", "/tmp")) / f"follow-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    root = prepare(workdir, args.topics, args.posts_per_topic, args.seed)
    bare = remote_for(workdir, root)
    http, smtp = free_port(), free_port()
    base = f"http://127.0.0.1:{http}/"
    log_path = workdir / "up.log"
    with log_path.open("w") as log:
        up = subprocess.Popen(up_command(root, http, smtp), stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(up.pid)
    sampler.start()
    started = time.monotonic()
    try:
        while not fetch(base) or not (landed(log_path) or resumed(log_path)):
            if up.poll() is not None:
                raise SystemExit(f"intranet up stopped; see {log_path}")
            time.sleep(0.5)
        how = "took back its saved trees" if resumed(log_path) else "served its first build"
        print(f"intranet up {how} after {time.monotonic() - started:.0f} s", flush=True)
        if args.messages:
            mail_phase(args, root, bare, smtp, base)
        editor = editor_clone(workdir, bare)
        if args.pushes:
            push_phase(args, editor, base)
        if args.big:
            big_phase(args, editor, base, log_path)
    finally:
        sampler.stop()
        stop(up)
    print(
        f"peak memory of the intranet up process tree: RSS {sampler.rss / 1024:.0f} MB, "
        f"PSS {sampler.pss / 1024:.0f} MB ({sampler.processes} processes at most)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
