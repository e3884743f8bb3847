"""Bringing the gateway's branch onto the remote's after someone else pushed (pygit2).

Run in the worker's thread, between two batches of commits (see
:meth:`mailgateway.worker.Worker.run_once`), so the gateway's branch, index and
files have one writer. :func:`integrate` looks at the heads
(:func:`mailgateway.pushplan.plan`): when the remote's branch is ahead it moves
the gateway's branch there; when both moved it makes each of the gateway's own
commits again, oldest first, on the remote's (:func:`replay`, file by file as
:func:`mailgateway.pushplan.merge_file` says), keeping author, committer, date
and message. A commit whose change the remote already has is not made again,
so a post that got there by an earlier push cut short is not there twice. The
branch is then swapped (compare-and-swap), and the checkout's index and files
follow it (:meth:`intranet.gitremote.Checkout.move`); the worker's model reads
what changed as a diff of the two commits when it next catches up.

A crash at any point leaves the branch either as it was (the new commits are
unreferenced objects) or moved; :meth:`mailgateway.worker.Worker.acquire`
brings the files to the branch when the gateway starts again.
"""

from __future__ import annotations

import logging

import pygit2

from intranet.gitrepo import file_at

from .pushplan import FORWARD, REPLAY, merge_file, own, plan
from .remote import Remote
from .store import FILE, tree_with

log = logging.getLogger(__name__)


def integrate(remote: Remote, gateway_email: str) -> tuple[str, str] | None:
    """Put the gateway's branch on top of the remote's as last fetched; (old, new) head, or None."""
    repo = remote.repo()
    heads = remote.heads(repo)
    action = plan(heads)
    if action not in (FORWARD, REPLAY):
        return None
    onto = repo[heads.remote].peel(pygit2.Commit)
    new = onto
    if action == REPLAY:
        walker = repo.walk(
            pygit2.Oid(hex=heads.local), pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE
        )
        walker.hide(onto.id)
        mine = own(((str(c.id), c.committer.email) for c in walker), gateway_email)
        new = replay(repo, [repo[sha].peel(pygit2.Commit) for sha in mine], onto)
        log.info(
            "the remote's %s moved to %s: %d commits of the gateway's made again on it",
            remote.branch,
            str(onto.id)[:12],
            len(mine),
        )
    ref = repo.references.get(remote.local)
    if ref is None or str(ref.resolve().target) != heads.local:
        return None  # moved meanwhile: the pusher asks again
    remote.move(heads.local, str(new.id), f"intranet: onto {remote.tracking} {str(onto.id)[:12]}")
    return heads.local, str(new.id)


def replay(repo: pygit2.Repository, commits: list[pygit2.Commit], onto: pygit2.Commit) -> pygit2.Commit:
    """Make each of ``commits`` (oldest first) again on ``onto``; the last commit made (or ``onto``)."""
    head = onto
    for commit in commits:
        parent = commit.parents[0] if commit.parents else None
        files: dict[str, tuple[int, str] | None] = {}
        for path in _changed(repo, parent, commit):
            base = file_at(parent.tree, path) if parent is not None else None
            ours = file_at(commit.tree, path)
            theirs = file_at(head.tree, path)
            merged = merge_file(path, base, ours, theirs)
            if merged.note:
                log.warning("%s in %s (%s): %s", path, str(commit.id)[:12], commit.message.split("\n")[0], merged.note)
            if merged.data != theirs:
                files[path] = (
                    None if merged.data is None else (_mode(commit.tree, path), str(repo.create_blob(merged.data)))
                )
        if not files:
            log.info("%s is on the remote already: not made again", commit.message.split("\n")[0])
            continue
        tree = tree_with(repo, head.tree, files)
        oid = repo.create_commit(None, commit.author, commit.committer, commit.message, tree, [head.id])
        head = repo[oid].peel(pygit2.Commit)
    return head


def _changed(repo: pygit2.Repository, parent: pygit2.Commit | None, commit: pygit2.Commit) -> list[str]:
    diff = parent.tree.diff_to_tree(commit.tree) if parent is not None else commit.tree.diff_to_tree(swap=True)
    paths: list[str] = []
    for delta in diff.deltas:
        for path in (delta.old_file.path, delta.new_file.path):
            if path not in paths:
                paths.append(path)
    return paths


def _mode(tree: pygit2.Tree, path: str) -> int:
    try:
        return int(tree[path].filemode)
    except KeyError:
        return int(FILE)
