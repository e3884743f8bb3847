"""A restart of ``intranet up`` that goes on from where it stopped, instead of a full build.

At a clean stop (SIGTERM, Ctrl-C) ``intranet up`` saves what its builder knows of the trees it
wrote (their plans, digests, search indexes and sitemaps, and the posts, people and communities as
the pages show them) in ``STATE_FILE`` inside the site folder. At the next start, once the model
has read the content, the builder takes that state back and applies what changed meanwhile (posts
that came or changed while it was down, edits of people and communities) as an ordinary update:
new mail shows within seconds of a restart instead of after the catch-up build.

The state is only taken back if it describes exactly the site on disk and what would be built
now: the same code, MkDocs and Material versions, ``mkdocs.yml`` and reply-address secret (a
:func:`fingerprint`), and the same tree folders (a build by ``intranet build`` swaps in new ones;
a full build also drops the file with the old site folder). The file is removed as it is read, so
a crash later never resumes a stale state; anything amiss means the catch-up full build, as before.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from intranet.addresses import load_secret
from intranet.format import Intranet, Post
from intranet.memory import settle
from intranet.model import Change

from .codestamp import code_digest
from .mkdocs_adapter import read_settings_of
from .pickling import Named, Naming, dump_posts, load_posts

if TYPE_CHECKING:
    from .builder import Builder

log = logging.getLogger(__name__)

STATE_FILE = ".state.pickle"  # in the site folder, beside the trees (never served: not in a tree)
FORMAT = 2  # (2: the posts a few thousand to a pickle: generator.pickling)


def save_trees(builder: Builder) -> Path | None:
    """At a clean stop: save what ``builder`` knows of its trees (None if it knows nothing whole)."""
    if not builder.states or builder.deferred or builder.intranet is None or builder.settings is None:
        return None
    trees = [(s.tree, s.site, s.digests, s.pages, s.files, s.search, s.sitemap) for s in builder.states]
    shown = replace(builder.intranet, posts=[p for posts in builder.posts.values() for p in posts.values()])
    secret = load_secret(builder.secret_dir or builder.root / builder.settings.state_dir)
    return save(builder.site_dir, fingerprint(builder.root, secret), shown, trees)


def resume_trees(builder: Builder) -> str | None:
    """At a start: take the saved trees back and bring them up to date (what :meth:`Builder.apply`
    says), or None if there is no state to take back (then a full build is due)."""
    if not (builder.site_dir / STATE_FILE).is_file():
        return None
    settings, _ = read_settings_of(builder.root, builder.docs_dir)
    secret = load_secret(builder.secret_dir or builder.root / settings.state_dir)
    with builder.model.lock:
        if not builder.model.loaded:
            builder.model.load()
    now, seq = builder.model.snapshot()
    saved = load(builder.site_dir, fingerprint(builder.root, secret), now)
    if saved is None:
        return None
    shown = saved.shown
    builder.install(shown, settings, saved.trees)
    del saved
    settle()  # what reading the file left behind; the trees stay for good: out of later collections
    change = changes_since(shown, now, seq)
    log.info("took back the trees saved at the last stop; %d post(s) changed since", change.post_count)
    return builder.apply(change)


@dataclass
class Saved:
    """What :func:`load` gives back: the content as the trees show it, and the trees' states."""

    shown: Intranet
    trees: list[tuple[Any, ...]]  # (tree, site, digests, pages, files, search, sitemap)


def fingerprint(root: Path, secret: bytes) -> str:
    """What the pages depend on besides the content: the code, its libraries, ``mkdocs.yml``, the secret."""
    digest = hashlib.sha256(code_digest().encode())
    config = root / "mkdocs.yml"
    digest.update(config.read_bytes() if config.is_file() else b"")
    digest.update(b"\0" + secret)
    return digest.hexdigest()


def _folders(site_dir: Path, names: list[str]) -> dict[str, tuple[int, int]]:
    result = {}
    for name in names:
        stat = os.stat(site_dir / name)
        result[name] = (stat.st_dev, stat.st_ino)
    return result


def save(site_dir: Path, stamp: str, shown: Intranet, trees: list[tuple[Any, ...]]) -> Path:
    """Write the state (``trees`` as in :class:`Saved`) into the site folder, atomically; its path.

    The posts go first, on their own, a few thousand to a pickle (read back a pickle at a time, keeping
    only those that changed since); then the rest in one piece (people and communities are shared
    between the content and the trees' views of it), naming each post by its path.
    """
    names = [tree.name for tree, *_ in trees]
    path = site_dir / STATE_FILE
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as handle:
        pickle.dump({"format": FORMAT, "stamp": stamp, "folders": _folders(site_dir, names)}, handle)
        dump_posts(handle, shown.posts)
        Naming(handle, {p.relpath: p for p in shown.posts}).dump((shown, trees))
    os.replace(partial, path)
    return path


def load(site_dir: Path, stamp: str, now: Intranet) -> Saved | None:
    """The saved state, if it still describes the site and ``stamp``; the file is removed either way.

    Posts that are the same as in ``now`` (the model's content) are ``now``'s own objects in what
    is given back, so only the posts that changed are held twice.
    """
    path = site_dir / STATE_FILE
    try:
        handle: IO[bytes] = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        path.unlink()
        try:
            meta = pickle.load(handle)  # noqa: S301 (written by `intranet up` itself, in the site folder it owns)
            if meta.get("format") != FORMAT or meta.get("stamp") != stamp:
                log.info("the saved state of the site is for other code or settings: a full build")
                return None
            if _folders(site_dir, list(meta["folders"])) != meta["folders"]:
                log.info("the site's trees changed since the state was saved: a full build")
                return None
            current = {p.relpath: p for p in now.posts}
            posts: dict[str, Post] = {}
            for chunk in load_posts(handle):  # (a few thousand at a time: only those that changed are kept)
                posts.update((p.relpath, _same(p, current.get(p.relpath))) for p in chunk)
            shown, trees = Named(handle, posts).load()
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, KeyError, TypeError) as exc:
            log.warning("the saved state of the site cannot be read (%s): a full build", exc)
            return None
    return Saved(shown, trees)


def _same(old: Post, new: Post | None) -> Post:
    return new if new is not None and new == old else old


def changes_since(shown: Intranet, now: Intranet, seq: int) -> Change:
    """What differs between the content the trees show and ``now``, as one change of the model."""
    change = Change(seq)
    before = {p.relpath: p for p in shown.posts}
    after = {p.relpath: p for p in now.posts}
    for relpath in sorted(before.keys() | after.keys()):
        old, new = before.get(relpath), after.get(relpath)
        if old is not new:
            community = (new or old).community  # type: ignore[union-attr]
            change.posts.setdefault(community, {})[relpath] = (old, new)
    if shown.people != now.people or shown.communities != now.communities:
        change.structure.append("people")  # (the builder compares them itself)
    return change
