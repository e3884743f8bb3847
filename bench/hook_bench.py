"""Pre-receive hook benchmark: the time a push that changes a few files takes, with and without the hook.

``intranet check --pre-receive`` must be fast on a big intranet: it reads only
what a push changes, plus the communities and people. This bench generates a
synthetic intranet (:func:`build_bench.generate`, ``--topics``, about 6 posts
each: 17,000 topics make about 100,000 posts), commits it, and makes two bare
repositories of it: one with the hook installed, one without. Then, ``--pushes``
times, it commits a change of a few files in a clone (a new post, an edited
post, a community's purpose) and pushes it to both, timing each ``git push``
(wall clock), and times the check alone in this process
(:func:`intranet.gate.check_update`). It also times one refused push (a broken
``community.yml``). It prints the medians and the ratio of the hooked push to
the plain one.

Run it with the project's environment, from the repository root::

    python bench/hook_bench.py                       # 17,000 topics
    python bench/hook_bench.py --topics 2000 --pushes 3
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pygit2

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_bench import generate

from intranet.gate import check_update

WHO = ["-c", "user.name=Bench Editor", "-c", "user.email=bench@example.org"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *WHO, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


CPU: list[tuple[str, float]] = []  # (what, CPU seconds of the push: git and the hook, all child processes)


def timed_push(clone: Path, remote: str, what: str = "") -> tuple[float, int, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(["git", "push", "-q", remote, "main"], cwd=clone, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append((what, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    return seconds, done.returncode, done.stderr


def change_a_few_files(clone: Path, round_no: int) -> None:
    community = sorted(p for p in (clone / "communities").iterdir() if p.is_dir())[0]
    yml = community / "community.yml"
    yml.write_text(yml.read_text().replace("purpose: ", f"purpose: (round {round_no}) ", 1))
    posts = sorted((community / "posts").rglob("*.md"))
    edited = posts[round_no % len(posts)]
    edited.write_text(edited.read_text() + f"\nEdited in round {round_no}.\n")
    author = next(
        line.split(":", 1)[1].strip() for line in edited.read_text().splitlines() if line.startswith("author:")
    )
    new = community / "posts" / "bench" / f"round-{round_no}.md"
    new.parent.mkdir(exist_ok=True)
    new.write_text(
        f"---\nauthor: {author}\ndate: 2026-12-01T09:00:00+00:00\nsubject: Round {round_no}\n---\nA new topic.\n"
    )


def _has_posts(clone: Path, handle: str) -> bool:
    found = subprocess.run(
        ["git", "grep", "-q", "-e", f"^author: {handle}$", "HEAD", "--", "communities"], cwd=clone, check=False
    )
    return found.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topics", type=int, default=17_000)
    parser.add_argument("--pushes", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="hook-bench-"))
    started = time.perf_counter()
    generated = generate(work, args.topics, seed=1, with_plain=False)
    clone = generated.root
    posts = sum(1 for _ in (clone / "communities").rglob("posts/**/*.md"))
    git(clone, "init", "-q", "-b", "main")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "Start")
    for name in ("hooked.git", "plain.git"):
        subprocess.run(["git", "clone", "-q", "--bare", str(clone), str(work / name)], check=True)
    hook = work / "hooked.git" / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m intranet.cli check --pre-receive\n")
    hook.chmod(0o755)
    print(f"{posts} posts, {args.topics} topics; set up in {time.perf_counter() - started:.0f} s ({work})")

    hooked, plain, alone = [], [], []
    for round_no in range(args.pushes):
        before = git(clone, "rev-parse", "HEAD").strip()
        change_a_few_files(clone, round_no)
        git(clone, "add", "-A")
        git(clone, "commit", "-qm", f"Round {round_no}")
        after = git(clone, "rev-parse", "HEAD").strip()
        repo = pygit2.Repository(str(clone / ".git"))
        t0 = time.perf_counter()
        problems = check_update(repo, before, after)
        alone.append(time.perf_counter() - t0)
        assert not problems, problems
        for remote, times, what in (
            (str(work / "plain.git"), plain, "plain"),
            (str(work / "hooked.git"), hooked, "hooked"),
        ):
            seconds, code, err = timed_push(clone, remote, what)
            assert code == 0, err
            times.append(seconds)
    yml = sorted(p for p in (clone / "communities").iterdir() if p.is_dir())[0] / "community.yml"
    yml.write_text(yml.read_text() + "moderators: [oops\n")
    git(clone, "commit", "-qam", "A typo")
    refused_seconds, code, err = timed_push(clone, str(work / "hooked.git"), "typo")
    assert code != 0 and "community.yml" in err, err
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    author = next(p for p in sorted((clone / "people").glob("*.yml")) if _has_posts(clone, p.stem))
    author.unlink()
    git(clone, "commit", "-qam", "A person who wrote posts leaves")
    gone_seconds, code, err = timed_push(clone, str(work / "hooked.git"), "gone")
    assert code != 0 and f"no person '{author.stem}'" in err, err

    def median(values: list[float]) -> float:
        return statistics.median(values)

    cpu = {w: median([c for what, c in CPU if what == w]) for w in ("plain", "hooked", "typo", "gone")}
    print(f"check_update alone (in process): median {median(alone) * 1000:.0f} ms")
    print(
        f"CPU per push (git and the hook):  plain {cpu['plain']:.2f} s, hooked {cpu['hooked']:.2f} s, "
        f"refused typo {cpu['typo']:.2f} s, refused author gone {cpu['gone']:.2f} s"
    )
    print(f"git push, no hook:               median {median(plain) * 1000:.0f} ms")
    print(f"git push, with the hook:         median {median(hooked) * 1000:.0f} ms")
    print(f"ratio hooked / plain:            {median(hooked) / median(plain):.1f}")
    print(f"a refused push (broken YAML):    {refused_seconds * 1000:.0f} ms")
    print(f"a refused push (an author gone): {gone_seconds * 1000:.0f} ms (reads every post's front matter)")
    if args.workdir is None and os.environ.get("KEEP") != "1":
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
