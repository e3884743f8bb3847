"""Memory of one model: what a process holds for the posts of an intranet, after reading them all.

Reads ``ROOT`` as ``intranet up`` does (``intranet.model.Model``, with the posts' text, which goes
to the spill file), in this fresh process, and prints the posts read, the seconds it took and the
growth of the resident set (after a garbage collection). Give ``--before REV`` to read the same
root with the code of an older commit too, in its own process, for a ratio in the same run.

    python bench/model_memory.py /work/bench-data/up/t10000c/intranet --before d801c1f~1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CODE = """
import gc, sys, time
sys.path.insert(0, sys.argv[2])
from intranet.model import Model
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
base, start = rss(), time.perf_counter()
model = Model(sys.argv[1], bodies=True)
model.load()
gc.collect()
print(model.post_count(), round(time.perf_counter() - start, 1), rss() - base)
"""


def measure(root: Path, code_dir: Path) -> tuple[int, float, int]:
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(root), str(code_dir)], capture_output=True, text=True, check=True
    )
    posts, seconds, mb = out.stdout.split()
    return int(posts), float(seconds), int(mb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path)
    parser.add_argument("--before", help="also measure the code of this commit (a worktree of it, made and removed)")
    args = parser.parse_args()
    posts, seconds, mb = measure(args.root, REPO)
    print(f"this code:   {posts:,} posts in {seconds:.1f} s, model {mb} MB")
    if args.before:
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run(["git", "worktree", "add", "-q", "--detach", folder, args.before], cwd=REPO, check=True)
            try:
                posts, seconds, old = measure(args.root, Path(folder))
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", folder], cwd=REPO, check=False)
        print(f"{args.before}: {posts:,} posts in {seconds:.1f} s, model {old} MB (ratio {mb / old:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
