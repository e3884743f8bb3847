"""``intranet check``: report every content problem as ``path:line: field: problem``.

It also warns, as ``path: audience: warning: ...``, when the people who may
read a community change against Git (see :mod:`generator.audit`). Warnings do
not fail the check unless ``strict`` is set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pygit2

from intranet.format import COMMUNITIES, cross_check, read_intranet
from intranet.gate import open_receiving, pre_receive
from intranet.quarantine import quarantined_files
from intranet.settings import read_settings
from intranet.threads import build_topics

from .audit import HistoryError, audience_warnings


def run_pre_receive() -> int:
    """``intranet check --pre-receive``: the Git hook (see :mod:`intranet.gate`); 0 accepts the push."""
    try:
        repo = open_receiving()
    except pygit2.GitError as exc:
        print(f"intranet check --pre-receive: error: not in a Git repository: {exc}", file=sys.stderr)
        return 2
    accepted, messages = pre_receive(repo, sys.stdin.read().splitlines())
    for line in messages:
        print(line, file=sys.stderr)
    return 0 if accepted else 1


def run_check(root: Path, since: str | None = None, strict: bool = False) -> int:
    """Print problems and audience warnings; 0 if all is well, 1 if not, 2 if the check cannot run.

    ``since``: compare audiences with this revision instead of HEAD (or HEAD^).
    ``strict``: audience warnings fail the check too.
    """
    root = Path(root)
    if not (root / COMMUNITIES).is_dir():
        print(f"intranet check: error: {root}: no communities/ folder; is this an intranet root?", file=sys.stderr)
        return 2
    try:
        warnings = audience_warnings(root, since)
    except HistoryError as exc:
        print(f"intranet check: error: {exc}", file=sys.stderr)
        return 2
    problems = []
    try:
        read_settings(root)
    except (ValueError, OSError) as exc:
        problems.append(f"mkdocs.yml:1: intranet: {exc}")
    intranet = read_intranet(root)
    problems.extend(str(p) for p in sorted(intranet.problems, key=lambda p: (p.path, p.line, p.field)))
    for line in problems + [str(w) for w in warnings]:
        print(line)
    quarantined = quarantined_files(root, intranet.problems, cross_check(intranet))
    if quarantined:
        print(f"Quarantined ({len(quarantined)} file(s); the site and the gateway use the last valid version):")
    for entry in quarantined:
        for line in entry.lines():
            print(f"  {line}")
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return 1
    if warnings and strict:
        print(f"{len(warnings)} audience warning(s); --strict makes them fail the check.", file=sys.stderr)
        return 1
    topics = sum(len(t) for t in build_topics(intranet.posts).values())
    noted = f"; {len(warnings)} audience warning(s)" if warnings else ""
    print(
        f"OK: {len(intranet.communities)} communities, {topics} topics, "
        f"{len(intranet.posts)} posts, {len(intranet.people)} people; no problems{noted}."
    )
    return 0
