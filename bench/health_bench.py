"""Health figures benchmark: CPU to work out one community's figures, at two sizes side by side.

An update that changes a community takes the topics it changed out of that community's
tally and puts them in again (:class:`intranet.health.Tally`); once a day, when the day the
figures are as of moves on, every community is counted from scratch. This bench generates synthetic
intranets with :func:`build_bench.generate` (``--sizes``, default 1,000 and 10,000 topics,
about 6 posts each), threads them as the site does, and prints the CPU milliseconds
(``time.process_time``, the median of ``--runs``) of the figures of the biggest community and
of every community, counted from scratch (the first update of a day), and of the biggest
community's figures after one of its topics changed (``update ms``: every other update), and
the posts they went over.

Run it with the project's environment, from the repository root::

    python bench/health_bench.py
    python bench/health_bench.py --sizes 3000 30000 --runs 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))


def measure(topics: int, runs: int, seed: int) -> dict[str, float]:
    from build_bench import generate

    from intranet.format import read_intranet
    from intranet.health import Authors, community_health, site_as_of, tally
    from intranet.threads import build_topics

    with tempfile.TemporaryDirectory(prefix="health-bench-") as folder:
        root = generate(Path(folder), topics, seed, with_plain=False).root
        intranet = read_intranet(root)
    threaded = build_topics(intranet.posts)
    authors = Authors(intranet.people, intranet.person_by_email())
    now = site_as_of(max(p.date for p in intranet.posts), dt.UTC)
    assert now is not None
    biggest = max(threaded, key=lambda slug: sum(len(t.entries) for t in threaded[slug]))

    def timed(slugs: list[str]) -> float:
        times = []
        for _ in range(runs):
            started = time.process_time()
            for slug in slugs:
                community_health(slug, threaded[slug], authors, now, dt.UTC)
            times.append(time.process_time() - started)
        return statistics.median(times) * 1000

    counted = tally(biggest, threaded[biggest], authors, now, dt.UTC)
    topic = threaded[biggest][0]  # the most recently active: an update's usual topic
    times = []
    for _ in range(runs):
        started = time.process_time()
        counted.remove(topic)
        counted.add(topic)
        counted.health()
        times.append(time.process_time() - started)
    return {
        "update_ms": statistics.median(times) * 1000,
        "posts": len(intranet.posts),
        "biggest_posts": sum(len(t.entries) for t in threaded[biggest]),
        "one_ms": timed([biggest]),
        "all_ms": timed(sorted(threaded)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], help="topics in each intranet")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()
    print(f"{'topics':>8} {'posts':>8} {'biggest':>8} {'one ms':>8} {'all ms':>8} {'update ms':>9}")
    for size in args.sizes:
        r = measure(size, args.runs, args.seed)
        print(
            f"{size:>8} {r['posts']:>8} {r['biggest_posts']:>8} {r['one_ms']:>8.1f} {r['all_ms']:>8.1f}"
            f" {r['update_ms']:>9.2f}"
        )


if __name__ == "__main__":
    main()
