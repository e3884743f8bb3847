"""Scale of the Git remote: what one repository costs at 100,000 to 1,000,000 posts.

Generates a remote with ``git fast-import``: the people and communities of
``bench/build_bench.py``'s synthetic intranet, then ``--posts`` posts of its
topics (the same text, threads, tags and attachments), ``--per-commit`` posts a
commit (a gateway makes one commit a post; fewer, larger commits keep the
generation short and change none of the figures below but the commit count).
Then it times what the nodes of a deployment do with it (docs/deployment.md,
"More than one machine"):

- ``clone``: a new node's clone of the branch over Git's protocol
  (``--no-local``), with the work tree of every post, and its size on disk;
- ``fetch 1``: an existing clone fetching one new commit (one post);
- ``commit 1 + push``: a post committed in a clone, as the gateway does it
  (``mailgateway.store.Store``, pygit2's index), then pushed;
- ``diff 1``: the files one commit changed (``git diff-tree``), what a web node
  and the gateway read after each fetch;
- ``model``: the gateway's cold start without its cache, in a process of its
  own: every post's front matter read (``intranet.model.Model``), its time and
  peak memory; ``--bodies`` also with the posts' text, as a web node keeps them.

Prints one line per figure. Asserts nothing.

    python bench/scale_bench.py --posts 100000
    python bench/scale_bench.py --posts 1000000 --per-commit 1000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from build_bench import make_people, topic_posts, write_intranet_skeleton

from intranet.format import attachments_dir, post_relpath

EDITOR = ["-c", "user.name=Bench", "-c", "user.email=bench@example.org"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def topics_of(seed: int, start: int, stop: int) -> list[list[tuple[str, bytes]]]:
    """Each topic's files (path, bytes): its posts and their attachments."""
    people = make_people(random.Random(seed))
    found = []
    for index in range(start, stop):
        _community, posts, files = topic_posts(seed, index, people)
        entries = [(p.relpath, p.to_text().encode("utf-8")) for p in posts]
        for post in posts:
            for attachment in post.attachments:
                folder = attachments_dir(Path(post.relpath)).as_posix()
                entries.append((f"{folder}/{attachment.file}", files[post.relpath]))
        found.append(entries)
    return found


def posts_stream(seed: int, wanted: int) -> Iterator[tuple[str, bytes, bool]]:
    """(path, bytes, is a post) of topics in order, until ``wanted`` posts, made on every core."""
    made, index, chunk = 0, 0, 500
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        while made < wanted:
            starts = [index + n * chunk for n in range(4)]
            for topics in pool.map(topics_of, [seed] * 4, starts, [s + chunk for s in starts]):
                for entries in topics:
                    for path, data in entries:
                        is_post = path.endswith(".md")
                        if is_post and made >= wanted:
                            return
                        made += is_post
                        yield path, data, is_post
            index += 4 * chunk


def generate(folder: Path, posts: int, per_commit: int, seed: int) -> Path:
    """A bare remote with the skeleton, then ``posts`` posts; its path."""
    skeleton = folder / "skeleton"
    write_intranet_skeleton(skeleton, make_people(random.Random(seed)), random.Random(seed))
    git(skeleton, "init", "-q", "-b", "main")
    git(skeleton, "add", "-A")
    git(skeleton, *EDITOR, "commit", "-qm", "The intranet's people and communities")
    bare = folder / "remote.git"
    git(folder, "clone", "-q", "--bare", str(skeleton), str(bare))
    importer = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=bare, stdin=subprocess.PIPE)
    assert importer.stdin is not None
    out = importer.stdin
    when = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp())
    pending: list[tuple[str, bytes]] = []
    count = commits = 0

    def commit() -> None:
        nonlocal commits, when
        message = f"{len(pending)} posts\n".encode()
        out.write(b"commit refs/heads/main\n")
        out.write(f"committer Intranet gateway <intranet-noreply@intranet.localhost> {when} +0000\n".encode())
        out.write(b"data %d\n%s\n" % (len(message), message))
        if commits == 0:
            out.write(b"from refs/heads/main^0\n")
        for path, data in pending:
            out.write(f"M 100644 inline {path}\n".encode() + b"data %d\n" % len(data) + data + b"\n")
        pending.clear()
        commits += 1
        when += 60

    for path, data, is_post in posts_stream(seed, posts):
        pending.append((path, data))
        count += is_post
        if is_post and count % per_commit == 0:
            commit()
    if pending:
        commit()
    out.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    return bare


def timed(label: str, run: object, note: str = "") -> float:
    start = time.perf_counter()
    run()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    print(f"{label:<28} {seconds:9.2f} s  {note}", flush=True)
    return seconds


def du(path: Path) -> str:
    return subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True).stdout.split()[0]


def model_load(root: Path, bodies: bool) -> None:
    """In a child process: read every post as the gateway (or a web node) does at a cold start."""
    code = (
        "import resource, sys, time; sys.path.insert(0, sys.argv[3]);"
        "from intranet.model import Model;"
        "t = time.perf_counter(); m = Model(sys.argv[1], bodies=sys.argv[2] == '1'); m.load();"
        "print(f'{m.post_count():,} posts in {time.perf_counter() - t:.1f} s, peak',"
        " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, 'MB')"
    )
    repo = str(Path(__file__).resolve().parent.parent)
    result = subprocess.run(
        [sys.executable, "-c", code, str(root), "1" if bodies else "0", repo], capture_output=True, text=True
    )
    print(
        f"{'model (bodies)' if bodies else 'model (front matter)':<28} {result.stdout.strip() or result.stderr[-300:]}"
    )


def one_post(clone: Path, n: int) -> str:
    """A new post's path, written into ``clone``'s work tree."""
    relpath = post_relpath("procurement", f"<scale-{n}-{time.time_ns()}@bench.example.org>")
    path = clone / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"---\nmessage_id: '<scale-{n}@bench.example.org>'\ntopic: '<scale-{n}@bench.example.org>'\n"
        "author: {name: Bench, email: bench@example.org}\ndate: 2026-12-06T10:00:00Z\n"
        f"subject: Scale {n}\nsource: smtp\n---\n\nOne more post.\n"
    )
    return relpath


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--per-commit", type=int, default=100, help="posts a commit in the generated history")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--bodies", action="store_true", help="also load the model with the posts' text")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"{args.posts:,} posts, {args.per_commit} a commit, in {folder}", flush=True)
        bare = folder / "remote.git"
        if not bare.exists():
            timed("generate (fast-import)", lambda: generate(folder, args.posts, args.per_commit, args.seed))
        commits = git(bare, "rev-list", "--count", "main")
        print(f"{'remote':<28} {du(bare):>9}    {commits} commits", flush=True)
        work, other = folder / "work", folder / "other"
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(other, ignore_errors=True)
        timed("clone (with work tree)", lambda: git(folder, "clone", "-q", "--no-local", str(bare), str(work)))
        print(f"{'clone on disk':<28} {du(work):>9}", flush=True)
        timed(
            "clone (no work tree)",
            lambda: git(folder, "clone", "-q", "--no-local", "--no-checkout", str(bare), str(other)),
        )
        relpath = one_post(other, 1)
        git(other, "read-tree", "main")  # (no work tree: the index says what the commit keeps)
        git(other, "add", relpath)
        git(other, *EDITOR, "commit", "-qm", "One post")
        git(other, "push", "-q", "origin", "main")
        timed("fetch 1 (one new commit)", lambda: git(work, "fetch", "-q", "origin"))
        timed("diff 1 (diff-tree)", lambda: git(work, "diff-tree", "-r", "--name-only", "HEAD", "origin/main"))
        timed("merge 1 (fast-forward)", lambda: git(work, "merge", "-q", "--ff-only", "origin/main"))
        from mailgateway.store import Store

        store = Store(work)
        relpath = one_post(work, 2)
        timed(
            "commit 1 (gateway's Store)",
            lambda: store.commit(
                [work / relpath],
                "One more post",
                "",
                author=("Bench", "bench@example.org"),
                committer=("Intranet gateway", "intranet-noreply@intranet.localhost"),
                trailers={"Message-ID": "<scale-2@bench.example.org>"},
            ),
        )
        timed("push 1", lambda: git(work, "push", "-q", "origin", "main"))
        model_load(work, bodies=False)
        if args.bodies:
            model_load(work, bodies=True)
        print(f"{'this process, peak':<28} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024:>6} MB")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
