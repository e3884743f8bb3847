"""``intranet check``: report every content problem as ``path:line: field: problem``."""

from __future__ import annotations

import sys
from pathlib import Path

from .config import read_settings
from .content import read_intranet
from .threads import build_topics


def run_check(root: Path) -> int:
    root = Path(root)
    if not (root / "communities").is_dir():
        print(f"intranet check: error: {root}: no communities/ folder; is this an intranet root?", file=sys.stderr)
        return 2
    problems = []
    try:
        read_settings(root)
    except (ValueError, OSError) as exc:
        problems.append(f"mkdocs.yml:1: intranet: {exc}")
    intranet = read_intranet(root)
    problems.extend(str(p) for p in sorted(intranet.problems, key=lambda p: (p.path, p.line, p.field)))
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    topics = sum(len(t) for t in build_topics(intranet.posts).values())
    print(
        f"OK: {len(intranet.communities)} communities, {topics} topics, "
        f"{len(intranet.posts)} posts, {len(intranet.people)} people; no problems."
    )
    return 0
