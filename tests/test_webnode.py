"""Web nodes: `intranet up --no-gateway` with a remote follows the remote's branch, each node on its own.

Real Git: a bare repository as the remote, whose ``post-receive`` hook runs ``intranet notify`` for
each node (``poll_seconds`` is far beyond the test, so only the notifications bring pushes in); an
editor's clone pushes, rewrites history with a force-push, and pushes again; two web nodes, each
``intranet up --no-gateway`` in a folder of its own with its own port, serve what they follow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import free_port
from gitremote import EDITOR, editor_clone, editor_commit, editor_push, remote_root, wait_for
from helpers import add_post
from mailtest import git
from test_up import fetch, start_with_ctrl_c
from test_up_background import _differences

from generator.builder import build_site
from intranet.format import path_key, post_relpath


class WebNode:
    """``intranet up --no-gateway`` on a folder that holds only settings naming the remote."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.http = free_port()
        self.base = f"http://127.0.0.1:{self.http}/"
        command = [sys.executable, "-m", "intranet.cli", "up", "--root", str(root), "--no-gateway"]
        command += ["--http", f"127.0.0.1:{self.http}"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = start_with_ctrl_c(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout or ()), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def site(self) -> Path:
        return self.root / "site"

    def stop(self) -> int:
        self.process.send_signal(subprocess.signal.SIGINT)  # type: ignore[attr-defined]
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=60)
        return self.process.returncode


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
    nodes = [WebNode(root) for root in roots]
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
            wait_for(lambda node=node: _differences(fresh, node.site()) == [], 90, "a node to equal a full build")
        assert fetch(nodes[0].base + "c/handover/pages/gone/")[0] == 404
    finally:
        codes = [node.stop() for node in nodes]
    for node, code in zip(nodes, codes, strict=True):
        assert code == 0, node.output[-3000:]
        assert "Traceback" not in node.output
        assert "a web node following" in node.output and "followed main to" in node.output
    assert not any((root / ".intranet" / "checkout" / ".git" / "refs" / "heads" / "other").exists() for root in roots)
