"""Mail to commit on the remote: from the gateway's 250 to its commit on the remote's branch.

Generates a synthetic intranet (``bench/build_bench.py``'s generator) in a Git
repository, clones it bare as the remote, and runs ``intranet gateway`` twice,
one after the other on the same corpus:

- ``no remote``: single-folder mode, timed from the 250 to the commit on the
  root's branch (the baseline: the local commit alone);
- ``remote``: with ``remote`` set to the bare repository, timed from the 250 to
  the commit on the *remote's* branch (the push included).

Each run sends ``--messages`` new topics and replies one at a time, ``--pace``
seconds apart, from known staff. Commits are noticed by polling the branch's
ref file every 5 ms and reading the ``Message-ID:`` trailers of the new
commits. With ``--editor``, an editor also pushes a commit to the remote every
second while the remote run goes on (each such push makes the gateway's next
push fail, fetch and replay). Prints median, 95th percentile and maximum per
run, and their ratio. Asserts nothing.

    python bench/push_bench.py                        # 1,000 topics, 50 messages each run
    python bench/push_bench.py --topics 10000 --editor
"""

from __future__ import annotations

import argparse
import random
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pygit2

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import build_bench  # noqa: E402
from mail_to_page import message, prepare  # noqa: E402
from reply_latency import free_port  # noqa: E402

from intranet.gitrepo import head_of  # noqa: E402

DOMAIN = "intranet.localhost"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def set_remote(root: Path, remote: str) -> None:
    """Name ``remote`` in the root's settings (an operator's change: not committed)."""
    config = root / "mkdocs.yml"
    config.write_text(config.read_text().replace("  - intranet:\n", f"  - intranet:\n      remote: {remote}\n", 1))


class Watch:
    """Notices each Message-ID reaching a branch (a ref file polled every 5 ms)."""

    def __init__(self, git_dir: Path) -> None:
        self.git_dir = git_dir
        self.seen: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._head = head_of(git_dir)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        repo = pygit2.Repository(str(self.git_dir))
        while not self._stop.is_set():
            head = head_of(self.git_dir)
            if head and head != self._head:
                now = time.monotonic()
                walker = repo.walk(pygit2.Oid(hex=head))
                if self._head:
                    walker.hide(pygit2.Oid(hex=self._head))
                for commit in walker:
                    for line in commit.message.splitlines():
                        if line.startswith("Message-ID: "):
                            self.seen.setdefault(line[12:].strip(), now)
                self._head = head
            time.sleep(0.005)


def run(root: Path, watched: Path, args: argparse.Namespace, label: str, editor: Path | None) -> list[float]:
    """Start the gateway on ``root``, send the messages, return each one's time from 250 to ``watched``."""
    smtp = free_port()
    log = (root.parent / f"gateway-{label}.log").open("w")
    gateway = subprocess.Popen(
        [sys.executable, "-m", "intranet.cli", "gateway", "--root", str(root), "--smtp", f"127.0.0.1:{smtp}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    rng = random.Random(args.seed)
    people = build_bench.make_people(random.Random(args.seed))
    staff = [p for p in people if p.kind == "staff"]
    slugs = sorted({c.slug for c in build_bench.community_specs() if c.slug != "procurement"})
    watch = Watch(watched)
    stop_editing = threading.Event()
    editing = threading.Thread(target=edit, args=(editor, stop_editing), daemon=True) if editor else None
    sent: dict[str, float] = {}
    try:
        wait_smtp(smtp, gateway, root.parent / f"gateway-{label}.log")
        watch.start()
        if editing is not None:
            editing.start()
        for n in range(args.messages):
            sender = rng.choice(staff)
            mail = message(sender.email, f"{rng.choice(slugs)}@{DOMAIN}", f"Push bench {label} {n}", f"{n}", None)
            with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
                client.sendmail(sender.email, [mail["To"]], mail.as_bytes())
            sent[mail["Message-ID"]] = time.monotonic()
            time.sleep(args.pace)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(mid in watch.seen for mid in sent):
            time.sleep(0.05)
    finally:
        stop_editing.set()
        if editing is not None and editing.is_alive():
            editing.join()
        if watch._thread.is_alive():
            watch.stop()
        gateway.terminate()
        gateway.wait(timeout=60)
        log.close()
    missing = [mid for mid in sent if mid not in watch.seen]
    if missing:
        print(f"{label}: {len(missing)} messages never reached the branch", flush=True)
    return [watch.seen[mid] - at for mid, at in sent.items() if mid in watch.seen]


def edit(editor: Path, stop: threading.Event) -> None:
    """An editor pushing a commit every second (pulling with rebase when refused)."""
    ident = ("-c", "user.name=Editor", "-c", "user.email=editor@example.org")
    n = 0
    while not stop.wait(1.0):
        n += 1
        (editor / "people").mkdir(exist_ok=True)
        (editor / "people" / f"bench-editor-{n}.yml").write_text(f"name: Editor Guest {n}\nkind: staff\n")
        git(editor, "add", "-A")
        git(editor, *ident, "commit", "-qm", f"Editor's commit {n}")
        for _ in range(20):
            if (
                subprocess.run(["git", "push", "-q", "origin", "HEAD:main"], cwd=editor, capture_output=True).returncode
                == 0
            ):
                break
            git(editor, *ident, "pull", "-q", "--rebase", "origin", "main")


def wait_smtp(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the gateway stopped:\n" + "\n".join(log.read_text().splitlines()[-20:]))
        try:
            smtplib.SMTP("127.0.0.1", port, timeout=2).quit()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the gateway did not answer SMTP")


def summary(label: str, times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    if not times:
        print(f"{label}: nothing arrived")
        return 0.0, 0.0
    median, p95 = statistics.median(times), times[min(len(times) - 1, round(0.95 * len(times)) - 1)]
    print(f"{label}: {len(times)} messages: median {median:.3f} s, 95th percentile {p95:.3f} s, max {times[-1]:.3f} s")
    return median, p95


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=1000)
    parser.add_argument("--posts-per-topic", type=float, default=6.0)
    parser.add_argument("--messages", type=int, default=50, help="messages per run")
    parser.add_argument("--pace", type=float, default=0.3, help="seconds between two messages")
    parser.add_argument("--editor", action="store_true", help="an editor pushes every second during the remote run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the folder with the repositories and logs")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="push-bench-"))
    try:
        root = prepare(workdir, args.topics, args.posts_per_topic, args.seed)
        git(root, "branch", "-M", "main")
        local = workdir / "local"
        git(workdir, "clone", "-q", str(root), str(local))  # the baseline: the same corpus, no remote
        shutil.copyfile(root / "mkdocs.yml", local / "mkdocs.yml")
        bare = workdir / "remote.git"
        git(workdir, "clone", "-q", "--bare", str(root), str(bare))
        set_remote(root, str(bare))
        editor = None
        if args.editor:
            editor = workdir / "editor"
            git(workdir, "clone", "-q", str(bare), str(editor))
        before = run(local, local / ".git", args, "no-remote", None)
        after = run(root, bare, args, "remote", editor)
        print()
        print(f"{args.topics:,} topics, {args.messages} messages per run, {args.pace} s apart")
        m0, p0 = summary("no remote, 250 to the local commit", before)
        m1, p1 = summary("remote, 250 to the commit on the remote" + (" (an editor pushing)" if editor else ""), after)
        if m0 and p0:
            print(f"ratio remote / no remote: median {m1 / m0:.2f}, 95th percentile {p1 / p0:.2f}")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
