"""``intranet build``: one whole build, with progress and a summary."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from intranet.progress import Progress

from .builder import BuildError, BuildResult, build_site

log = logging.getLogger(__name__)


def run_build(
    root: Path, site: Path | None = None, quiet: bool = False, audience: str | None = None
) -> BuildResult | None:
    """Build and print a summary; on failure print why and return None."""
    progress = Progress("Rendering pages", enabled=not quiet)
    try:
        result = build_site(root, site, progress=progress.update, audience=audience)
    except BuildError as exc:
        progress.close()
        print(f"intranet build: error: {exc}", file=sys.stderr)
        print("The previous site, if any, was left as it was.", file=sys.stderr)
        return None
    progress.close()
    if not quiet:
        print(summary(result))
        if result.problems:
            print(
                f"{len(result.problems)} content problem(s) were skipped over; run `intranet check` to list them.",
                file=sys.stderr,
            )
    return result


def summary(result: BuildResult) -> str:
    c = result.counts
    return (
        f"Built {c['communities']} communities, {c['topics']} topics, {c['posts']} posts, "
        f"{c['people']} people: {result.pages} pages in {len(result.trees)} "
        f"tree{'s' if len(result.trees) != 1 else ''} ({', '.join(result.trees)}) "
        f"in {result.seconds:.1f} s -> {result.site_dir}"
    )
