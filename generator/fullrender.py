"""A full build's rendering: every generated page of every tree, on both cores where it can.

:func:`render_all` splits the pages into units (a community's own pages, one topic, the people,
the tags, the home page) and renders them in this process and, when it is the only thread, in a
forked one, whose output comes back through a file; :func:`render_units` renders a share.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from . import posthtml
from .healthpages import plan_health
from .mkdocs_adapter import BuildError
from .output import write_new
from .plans import SitePlan, plan_community, plan_home, plan_people, plan_tags, plan_topic
from .treestate import Output, TreeState, merge, write_plan

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]


def render_all(site_dir: Path, states: list[TreeState], progress: ProgressCallback | None) -> int:
    """Render every generated page of every tree, on both cores when this process may fork."""
    units: list[tuple[str, str, int]] = []
    slugs = sorted({slug for state in states for slug in state.tree.communities})
    for slug in slugs:
        units.append(("community", slug, 0))
        count = max((len(s.site.topics.get(slug, [])) for s in states if slug in s.tree.communities), default=0)
        units += [("topic", slug, i) for i in range(count)]
    units += [("people", "", 0), ("tags", "", 0), ("home", "", 0)]
    workers = 2 if (os.cpu_count() or 1) > 1 and threading.active_count() == 1 and len(units) > 50 else 1
    total = len(units)
    if workers == 1:
        output = render_units(states, units, progress, total)
        merge(states, [output])
        return output.count
    # The other share's result goes through a file: each process has exited, or is done, before the
    # other reads it, so the two never hold it at once.
    with tempfile.TemporaryFile(dir=site_dir.parent, prefix=f".{site_dir.name}.share-") as spill:
        # Both processes read the planned trees; a garbage collection in either would write to every
        # object's header and so copy every page of them into it. (Frozen for the rest of this
        # process: a build's, which ends with the build.)
        gc.freeze()
        pid = os.fork()
        if pid == 0:  # the other share: render, report what was written, leave without cleanup
            status = 1
            try:
                # Written as it goes, a part at a time: what this share rendered is not held here too.
                def hand_over(part: Output) -> None:
                    part.html = posthtml.taken()  # (the posts it rendered, kept on disk: their places)
                    pickle.dump(part, spill, protocol=pickle.HIGHEST_PROTOCOL)

                hand_over(render_units(states, units[1::2], None, total, hand_over))
                spill.flush()
                status = 0
            except BaseException:
                log.exception("build worker failed")
            finally:
                os._exit(status)
        try:
            mine = render_units(states, units[0::2], progress, total)
        finally:
            _, status = os.waitpid(pid, 0)
        if status != 0:
            raise BuildError("the second build process failed (see the log above)")
        end = os.fstat(spill.fileno()).st_size
        spill.seek(0)
        theirs: list[Output] = []
        while spill.tell() < end:
            theirs.append(pickle.load(spill))  # noqa: S301 - our own child's output
            posthtml.adopt(theirs[-1].html)
    merge(states, [mine, *theirs])
    return mine.count + sum(part.count for part in theirs)


HAND_OVER = 500  # units rendered before what they wrote is handed over (with ``hand_over``)


def render_units(
    states: list[TreeState],
    units: list[tuple[str, str, int]],
    progress: ProgressCallback | None,
    total: int,
    hand_over: Callable[[Output], None] | None = None,
) -> Output:
    """Render ``units`` (a community's page, a topic by its index, people, tags, home) of every tree; what
    was written, or with ``hand_over``, what was written since it was last given a part."""
    output = Output()
    for number, (kind, slug, index) in enumerate(units, start=1):
        if hand_over is not None and number % HAND_OVER == 0:
            hand_over(output)
            output = Output()
        for state in states:
            site = state.site
            plan = SitePlan()
            if kind == "community":
                if slug not in state.tree.communities:
                    continue
                plan_community(site, plan, site.intranet.communities[slug])
                plan_health(site, plan, [slug], index=False)
            elif kind == "topic":
                topics = site.topics.get(slug, []) if slug in state.tree.communities else []
                if index >= len(topics):
                    continue
                plan_topic(site, plan, site.intranet.communities[slug], topics[index])
            elif kind == "people":
                plan_people(site, plan)
            elif kind == "tags":
                plan_tags(site, plan)
            else:
                plan_home(site, plan)
                plan_health(site, plan, [])
            write_plan(state, plan, output, write_new)
        if progress is not None:
            progress(number * 2 if total != len(units) else number, total)
    return output
