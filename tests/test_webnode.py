"""Web nodes: `intranet up --no-gateway` with a remote follows the remote's branch, each node on its own.

Real Git: a bare repository as the remote, whose ``post-receive`` hook runs ``intranet notify`` for
each node (``poll_seconds`` is far beyond the test, so only the notifications bring pushes in); an
editor's clone pushes, rewrites history with a force-push, and pushes again; two web nodes, each
``intranet up --no-gateway`` in a folder of its own with its own port, serve what they follow.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from gitremote import EDITOR, editor_clone, editor_commit, editor_push, remote_root, wait_for
from helpers import add_post
from mailtest import git
from test_up import fetch
from test_up_background import Up, _differences

from generator.builder import build_site
from intranet.format import path_key, post_relpath


def test_two_web_nodes_follow_pushes_and_a_force_push_and_each_is_a_full_build_of_the_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "webnode-test-secret-0123456789abcdef")  # the same reply addresses
    origin, bare = remote_root(tmp_path, poll_seconds=3600)
    roots = []
    for name in ("web1", "web2"):
        roots.append(tmp_path / name)
        roots[-1].mkdir()
        shutil.copy(origin / "mkdocs.yml", roots[-1] / "mkdocs.yml")  # the settings: the same remote
    hook = bare / "hooks" / "post-receive"
    hook.write_text(
        "#!/bin/sh\n" + "".join(f"{sys.executable} -m intranet.cli notify --root {root}\n" for root in roots)
    )
    hook.chmod(0o755)
    ann = editor_clone(bare, tmp_path / "ann")
    nodes = [Up(root, None, gateway=False) for root in roots]  # web nodes: no gateway
    try:
        for node in nodes:
            wait_for(lambda node=node: fetch(node.base)[0] == 200, 90, "a web node's site")
        add_post(ann, "handover", "<w1@example.org>", subject="Rota for January", body="First draft.")
        editor_commit(ann, "Ann: a new topic", {})
        editor_push(ann)
        page = f"c/handover/t/{path_key(post_relpath('handover', '<w1@example.org>'))[:12]}/"
        for node in nodes:
            wait_for(lambda node=node: "First draft." in fetch(node.base + page)[1], 60, "the pushed topic")
        editor_commit(ann, "Ann: a page that goes", {"communities/handover/pages/gone.md": "# Gone\n\nSoon.\n"})
        editor_push(ann)
        for node in nodes:
            wait_for(lambda node=node: "Soon." in fetch(node.base + "c/handover/pages/gone/")[1], 60, "the page")
        git(ann, *EDITOR, "reset", "-q", "--hard", "HEAD~1")  # the page is taken back out of history
        path = ann / post_relpath("handover", "<w1@example.org>")
        path.write_text(path.read_text().replace("First draft.", "Second draft."))
        git(ann, *EDITOR, "commit", "-qam", "Ann: the rota, again")
        git(ann, "push", "-q", "--force", "origin", "HEAD:main")
        head = tmp_path / "head"
        git(tmp_path, "clone", "-q", str(bare), str(head))
        fresh = tmp_path / "fresh"
        build_site(head, fresh)
        for node in nodes:
            wait_for(
                lambda node=node: _differences(fresh, node.root / "site") == [], 90, "a node to equal a full build"
            )
        assert fetch(nodes[0].base + "c/handover/pages/gone/")[0] == 404
    finally:
        codes = [node.stop() for node in nodes]
    for node, code in zip(nodes, codes, strict=True):
        assert code == 0, node.output[-3000:]
        assert "Traceback" not in node.output
        assert "a web node following" in node.output and "followed main to" in node.output
    assert not any((root / ".intranet" / "checkout" / ".git" / "refs" / "heads" / "other").exists() for root in roots)
