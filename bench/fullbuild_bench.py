"""CPU of repeated full builds in one process: the demo intranet and the tests' small one.

Each build sets MkDocs and Material up again for every tree (the renderer), then renders every
page. The first build of a process pays for what is done once per process (compiling Material's
templates, listing the theme's files); the later ones show what each further build costs, as in
``intranet up`` or a test run. The CPU counted is this process's and its waited children's (a
build renders on two processes when it can), in ``--rounds`` runs, alternating with the code of
``--before REV`` when given (``git archive`` into a temporary folder, run in a child process), so
both columns come from the same machine at the same time. It asserts nothing.

Run it from the repository root::

    python bench/fullbuild_bench.py
    python bench/fullbuild_bench.py --before 2ff9c95   # the commit before the per-process caches
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(code: Path, kind: str, builds: int) -> list[float]:
    """CPU seconds of ``builds`` full builds, one after the other, with the code in ``code``."""
    sys.path[:0] = [str(code), str(code / "tests")]
    os.environ.setdefault("INTRANET_SECRET", "fullbuild-bench-secret-0123456789abcdef")
    from helpers import copy_demo, small_intranet

    import generator
    from generator.builder import build_site

    assert Path(generator.__file__).is_relative_to(code), f"{generator.__file__} is not the code in {code}"

    with tempfile.TemporaryDirectory(prefix="fullbuild-bench-") as folder:
        root = Path(folder) / "root"
        root.mkdir()
        if kind == "demo":
            copy_demo(root)
        else:
            small_intranet(root)
        result = []
        for n in range(builds):
            started = _cpu()
            build_site(root, Path(folder) / f"site-{n}")
            result.append(_cpu() - started)
    return result


def run(code: Path, kind: str, builds: int) -> list[float]:
    command = [sys.executable, __file__, "--code", str(code), "--kind", kind, "--builds", str(builds), "--json"]
    return json.loads(subprocess.run(command, capture_output=True, check=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--builds", type=int, default=4, help="full builds per process (default 4)")
    parser.add_argument("--rounds", type=int, default=3, help="processes per intranet and code (default 3)")
    parser.add_argument("--before", metavar="REV", help="also time the code of this commit")
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(Path(args.code), args.kind, args.builds)))
        return
    with tempfile.TemporaryDirectory(prefix="fullbuild-bench-code-") as folder:
        codes = {"now": REPO}
        if args.before:
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.before], capture_output=True, check=True)
            subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
            codes[args.before] = Path(folder)
        print(f"{'intranet':<8} {'code':<10} {'first build':>12} {'later builds (mean)':>20}   CPU seconds")
        for kind in ("demo", "small"):
            later: dict[str, list[float]] = {name: [] for name in codes}
            first: dict[str, list[float]] = {name: [] for name in codes}
            for _ in range(args.rounds):
                for name, code in codes.items():
                    times = run(code, kind, args.builds)
                    first[name].append(times[0])
                    later[name] += times[1:]
            for name in codes:
                mean_first = sum(first[name]) / len(first[name])
                mean_later = sum(later[name]) / max(len(later[name]), 1)
                print(f"{kind:<8} {name:<10} {mean_first:>12.2f} {mean_later:>20.2f}")
    print(f"({time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
