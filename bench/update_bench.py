"""Update benchmark: CPU per incremental update, at two sizes side by side.

The cost of an update should depend on what changed, not on how big the
intranet is. This bench generates two synthetic intranets with
:func:`build_bench.generate` (``--sizes``, default 3,000 and 30,000 topics,
about 6 posts each), and for each one, in a child process of its own:

1. builds every tree once (``Builder.build``),
2. writes ``--updates`` new replies (each to a random topic) and as many new
   topics (with a community tag and a general one), alternately, each one
   post file followed by ``Builder.update`` of its path, as ``intranet up``
   does for a post that came in by mail,
3. prints the CPU seconds (``time.process_time``) of each update, then
   removes the posts it wrote, so the next child starts from the same
   content.

The first two updates warm caches and are not counted. It prints the median
CPU seconds per update (replies, new topics, all) at each size and the ratio
of the largest size to the smallest; the target is at most 1.5. With
``--before REV`` the same updates are also timed with the code of that
commit (``git archive`` of ``intranet`` and ``generator``), on the same
content, so both are measured in one run on the same machine state.
``--profile DIR`` writes a cProfile of each child's updates there.

Run it with the project's environment, from the repository root::

    python bench/update_bench.py                          # 3,000 and 30,000 topics
    python bench/update_bench.py --sizes 1000 10000 --updates 10 --before main
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
WARMUP = 2  # updates not counted: the first ones fill caches (templates, the post renderer)


# -- the child: one code version, one intranet --------------------------------------------


def child(root: Path, code: Path, updates: int, seed: int, profile: Path | None) -> dict[str, Any]:
    sys.path.insert(0, str(code))
    import logging

    from generator.builder import Builder
    from intranet.format import Author, Post, post_relpath

    for name in ("mkdocs", "material"):
        logging.getLogger(name).setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(1))  # the posts written are removed
    builder = Builder(root, root / "site")
    started = time.perf_counter()
    builder.build()
    build_seconds = time.perf_counter() - started
    model = builder.model
    rng = random.Random(seed)
    slugs = sorted(model.communities)
    people = sorted(h for h, p in model.people.items() if p.kind == "staff")
    latest = max(p.date for posts in model.posts.values() for p in posts.values())
    written: list[Path] = []
    times: dict[str, list[float]] = {"reply": [], "topic": []}
    results: dict[str, list[str]] = {"reply": [], "topic": []}
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
    try:
        for n in range(2 * (updates + WARMUP)):
            kind = "reply" if n % 2 == 0 else "topic"
            slug = rng.choice(slugs)
            date = latest + dt.timedelta(minutes=10 * (n + 1))
            message_id = f"<update-{n}.s{seed}@bench.example.org>"
            in_reply_to, topic, subject, tags = None, message_id, f"A new question {n}", []
            if kind == "reply":
                parent = rng.choice(sorted(model.posts[slug].values(), key=lambda p: p.relpath))
                in_reply_to, topic, subject = parent.message_id, parent.topic, f"Re: {parent.subject}"
            else:
                community = model.communities[slug]
                tags = [rng.choice(community.tags), rng.choice(("question", "policy", "urgent"))]
            relpath = post_relpath(slug, message_id)
            post = Post(
                community=slug,
                relpath=relpath,
                message_id=message_id,
                topic=topic,
                in_reply_to=in_reply_to,
                author=Author(handle=rng.choice(people)),
                date=date,
                subject=subject,
                source="smtp",
                tags=tags,
                attachments=[],
                body=f"Update {n}: what we do on the ward, and why it works.",
            )
            path = root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(post.to_text(), encoding="utf-8")
            written.append(path)
            counted = n >= 2 * WARMUP
            if profiler is not None and counted:
                profiler.enable()
            started_cpu = time.process_time()
            result = builder.update([relpath])
            cpu = time.process_time() - started_cpu
            if profiler is not None and counted:
                profiler.disable()
            if counted:
                times[kind].append(cpu)
                results[kind].append(result)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
        builder.close()
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return {"build_seconds": build_seconds, "times": times, "results": results}


# -- the parent: content, children, the table ------------------------------------------


def code_of(rev: str, folder: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "intranet", "generator"], capture_output=True
    )
    if archive.returncode:
        raise SystemExit(archive.stderr.decode(errors="replace").strip() or f"no commit {rev}")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def run_child(root: Path, code: Path, args: argparse.Namespace, profile: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(root), "--code", str(code)]
    command += ["--updates", str(args.updates), "--seed", str(args.seed)]
    if profile is not None:
        command += ["--profile-file", str(profile)]
    env = {**os.environ, "INTRANET_SECRET": os.environ.get("INTRANET_SECRET", "update-bench-secret-0123456789abcdef")}
    run = subprocess.run(command, capture_output=True, text=True, env=env)
    if run.returncode:
        raise SystemExit(f"the child for {root} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(sizes: list[int], found: dict[str, dict[int, dict[str, Any]]]) -> None:
    print()
    print(f"{'code':<16}{'topics':>8}{'build s':>9}{'reply CPU s':>13}{'topic CPU s':>13}{'all CPU s':>11}  results")
    for label, by_size in found.items():
        for size in sizes:
            row = by_size[size]
            times = row["times"]
            everything = times["reply"] + times["topic"]
            outcomes = sorted(set(row["results"]["reply"] + row["results"]["topic"]))
            print(
                f"{label:<16}{size:>8,}{row['build_seconds']:>9.1f}{median(times['reply']):>13.3f}"
                f"{median(times['topic']):>13.3f}{median(everything):>11.3f}  {', '.join(outcomes)}"
            )
    small, large = min(sizes), max(sizes)
    print()
    for label, by_size in found.items():
        medians = {s: median(by_size[s]["times"]["reply"] + by_size[s]["times"]["topic"]) for s in (small, large)}
        print(f"{label}: CPU per update at {large:,} / at {small:,} topics: {medians[large] / medians[small]:.2f}x")
    if len(found) == 2:
        (new_label, new), (old_label, old) = found.items()
        for size in sizes:
            ours = median(new[size]["times"]["reply"] + new[size]["times"]["topic"])
            theirs = median(old[size]["times"]["reply"] + old[size]["times"]["topic"])
            print(f"at {size:,} topics: {old_label} / {new_label}: {theirs / ours:.1f}x the CPU per update")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 30000], help="topics (default 3000 30000)")
    parser.add_argument("--updates", type=int, default=15, help="replies and as many new topics timed (default 15)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--before", metavar="REV", help="also time the code of this commit, on the same content")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="write a cProfile of each child's updates here")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="generate into DIR and keep it")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.code, args.updates, args.seed, args.profile_file)))
        return 0
    sys.path.insert(0, str(REPO / "bench"))
    from build_bench import generate, revision

    code = revision()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="intranet-update-bench-"))
    try:
        versions = {f"this ({code})": REPO}
        if args.before:
            versions[args.before] = code_of(args.before, workdir / "before-code")
        found: dict[str, dict[int, dict[str, Any]]] = {label: {} for label in versions}
        sizes = sorted(args.sizes)
        for size in sizes:
            folder = workdir / f"topics-{size}"
            if not (folder / "intranet" / "communities").is_dir():
                print(f"generating {size:,} topics ...", flush=True)
                generate(folder, size, args.seed, with_plain=False)
            for n, (label, path) in enumerate(versions.items()):
                print(f"{label}: build and updates at {size:,} topics ...", flush=True)
                profile = args.profile / f"updates-{size}-{n}.prof" if args.profile else None
                if profile is not None:
                    profile.parent.mkdir(parents=True, exist_ok=True)
                found[label][size] = run_child(folder / "intranet", path, args, profile)
                shutil.rmtree(folder / "intranet" / "site", ignore_errors=True)
        report(sizes, found)
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
