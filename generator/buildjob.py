"""A full build's snapshot, and the job a build process is given to plan and render it.

:class:`Staged` is a full build from one snapshot of the model: the content, the trees it makes, the
settings and the staging folder the trees are written into. :func:`plan_state` plans one of its
trees. In ``intranet up`` the build runs in a process of its own, started fresh
(:mod:`generator.background`); that process is given a :class:`BuildJob` and calls its
:meth:`BuildJob.render`. Tests give it a job of their own (a subclass) to fail or to watch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intranet.format import Intranet
from intranet.settings import Settings

from .audiences import Tree, listed_people, view_of
from .handover import render_trees
from .mkdocs_adapter import TreeRenderer
from .plans import SitePlan, plan_frame
from .site_model import Site
from .treestate import TreeState


@dataclass
class Staged:
    """A full build planned from one snapshot of the model, to be rendered into ``staging``."""

    intranet: Intranet
    seq: int  # the model's change the snapshot is as of
    settings: Settings
    problems: list[str]
    trees: list[Tree]
    states: list[TreeState]
    staging: Path
    audience: str | None
    started: float
    secret: bytes = b""
    directory_urls: bool = True


def plan_state(root: Path, docs_dir: Path, staged: Staged, tree: Tree) -> TreeState:
    """``tree`` of ``staged`` planned: its topics, tags and people (:class:`Site`), and its frame."""
    settings = staged.settings
    view = view_of(staged.intranet, tree)
    listed = listed_people(view, tree, settings.guest_directory)
    profiles = "names" if tree.guest and settings.guest_directory == "names" else "full"
    site = Site(view, settings, staged.secret, staged.directory_urls, listed, profiles)
    return state_of(root, docs_dir, tree, site, staged.staging)


def state_of(root: Path, docs_dir: Path, tree: Tree, site: Site, folder: Path) -> TreeState:
    """The state of ``tree`` showing ``site``, written under ``folder`` (nothing rendered yet)."""
    frame = SitePlan()
    plan_frame(site, frame)
    return TreeState(tree, site, TreeRenderer(root, frame, docs_dir), folder / tree.name)


@dataclass
class BuildJob:
    """What a build process is given: the snapshot, the root it is of, the site folder beside which it
    stages, and MkDocs' (empty) docs folder."""

    root: Path
    site_dir: Path
    docs_dir: Path
    staged: Staged

    def render(self, emit: Callable[[Any], None]) -> int:
        """In the build process: plan, render and hand over one tree at a time (:mod:`generator.handover`)."""
        staged, root, docs = self.staged, self.root, self.docs_dir
        return render_trees(staged, lambda tree: plan_state(root, docs, staged, tree), self.site_dir, emit)
