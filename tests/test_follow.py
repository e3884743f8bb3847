"""The site follows commits on the remote's branch, told by `intranet notify` (a post-receive hook,
a webhook), never by the files of a work tree.

Real Git: a bare repository as the remote with a real ``post-receive`` hook running
``intranet notify``, two editors' clones pushing to it, and ``intranet up`` with the ``remote``
setting in a subprocess (its gateway pushes too). ``poll_seconds`` is set far beyond the test's
length, so only the notifications can bring the editors' pushes in.
"""

from __future__ import annotations

import os
import smtplib
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from conftest import free_port
from gitremote import EDITOR, editor_clone, editor_commit, editor_push, remote_root, trailers, wait_for
from helpers import add_post
from mailtest import DOMAIN, git, mail, wire
from test_push import assert_once, on_remote
from test_up import fetch
from test_up_background import Up, _differences

from generator.builder import build_site
from intranet.cli import main
from intranet.follow import Follower, notify
from intranet.format import post_relpath
from intranet.model import Model

TO = f"handover@{DOMAIN}"
GUEST = "name: Guest One\nemails: [guest.one@example.org]\nkind: staff\norganisation: Example Health\n"
MESSAGES = 80  # (4 senders of 20: mail keeps coming while both editors push)


def _send(port: int, messages: list) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for message in messages:
            assert client.sendmail("ann.lee@example.org", [TO], wire(message)) == {}


def _hook(bare: Path, root: Path) -> None:
    """The remote's post-receive hook, as an operator installs it (README, "Working with Git")."""
    hook = bare / "hooks" / "post-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m intranet.cli notify --root {root}\n")
    hook.chmod(0o755)


def _merge_and_push(clone: Path) -> None:
    """Push as an editor who merges (never rebases): each refusal makes a merge commit."""
    for _ in range(50):
        git(clone, *EDITOR, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
        if subprocess.run(["git", "push", "-q", "origin", "main"], cwd=clone, capture_output=True).returncode == 0:
            return
    raise AssertionError("the editor could not push")


def test_two_editors_and_the_gateway_push_while_mail_arrives_and_the_site_is_the_heads_full_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "follow-test-secret-0123456789abcdef")  # the same reply addresses
    root, bare = remote_root(tmp_path, poll_seconds=3600)
    _hook(bare, root)
    ann, bob = editor_clone(bare, tmp_path / "ann"), editor_clone(bare, tmp_path / "bob")
    messages = [mail(subject=f"Shift note {n}", body=f"Note {n}.") for n in range(MESSAGES)]
    ids = [m["Message-ID"] for m in messages]
    glove = post_relpath("procurement", "<p1@example.org>")
    up = Up(root, tmp_path / "no-hold")
    try:
        wait_for(lambda: fetch(up.base)[0] == 200, 90, "the site")
        senders = [threading.Thread(target=_send, args=(up.smtp, messages[n::4])) for n in range(4)]
        for sender in senders:
            sender.start()
        # Ann: a new topic by file, an edit, and the edit's revert.
        topic = add_post(ann, "handover", "<ed1@example.org>", subject="Rota for December", body="Draft rota.")
        editor_commit(ann, "Ann: a new topic", {})
        editor_push(ann)
        text = (ann / glove).read_text()
        editor_commit(ann, "Ann: an edit", {glove: text.replace("Delays expected.", "Gloves are here.")})
        editor_push(ann)
        git(ann, *EDITOR, "revert", "--no-edit", "HEAD")
        editor_push(ann)
        # Bob: a new person merged (a merge commit), a renamed post, then a page he pushes and drops
        # again with a force-push.
        editor_commit(bob, "Bob: a new person", {"people/guest-one.yml": GUEST})
        _merge_and_push(bob)
        renamed = topic.relative_to(ann).with_name("rota-december.md").as_posix()
        git(bob, "mv", topic.relative_to(ann).as_posix(), renamed)
        git(bob, *EDITOR, "commit", "-qm", "Bob: a renamed post")
        editor_push(bob)
        editor_commit(bob, "Bob: a page that goes", {"communities/handover/pages/gone.md": "# Gone\n"})
        editor_push(bob)
        page = git(bob, "rev-parse", "HEAD").strip()  # his commit of the page, on top
        for _ in range(10):  # (a push of the gateway's may hold the remote's branch at that moment: again)
            git(bob, "checkout", "-q", page)
            git(bob, "fetch", "-q", "origin")
            git(bob, *EDITOR, "rebase", "-q", "--onto", "HEAD~1", "HEAD", "origin/main")  # all but his page
            forced = subprocess.run(
                ["git", "push", "-q", "--force", "origin", "HEAD:main"], cwd=bob, capture_output=True
            )
            if forced.returncode == 0:
                break
        assert forced.returncode == 0, forced.stderr
        for sender in senders:
            sender.join(timeout=300)
        wait_for(lambda: on_remote(bare, ids), 120, "every post on the remote")
        # After the mail: one more push, which only the hook's notification can bring in.
        git(ann, *EDITOR, "pull", "-q", "--rebase", "origin", "main")
        editor_commit(ann, "Ann: a page", {"communities/handover/pages/rota.md": "# Rota\n\nPublished.\n"})
        editor_push(ann)
        head = tmp_path / "head"
        wait_for(lambda: "Published." in fetch(f"{up.base}c/handover/pages/rota/")[1], 60, "the last push on the site")
        git(tmp_path, "clone", "-q", str(bare), str(head))
        fresh = tmp_path / "fresh"
        build_site(head, fresh)
        wait_for(lambda: _differences(fresh, root / "site") == [], 90, "the site to be a full build of the head")
    finally:
        returncode = up.stop()
    assert returncode == 0, up.output[-3000:]
    assert "Traceback" not in up.output
    assert "told that the remote moved" in up.output
    assert_once(bare, ids)
    subjects = git(bare, "log", "main", "--format=%s").splitlines()
    for kept in ("Ann: a new topic", "Ann: an edit", "Bob: a renamed post", "Ann: a page"):
        assert subjects.count(kept) == 1, subjects
    assert sum(s.startswith('Revert "Ann: an edit"') for s in subjects) == 1
    assert "Bob: a page that goes" not in subjects and "gone.md" not in git(bare, "ls-tree", "-r", "main")
    assert git(bare, "show", f"main:{renamed}").count("Rota for December") == 1
    assert "Delays expected." in git(bare, "show", f"main:{glove}")
    assert git(bare, "show", "main:people/guest-one.yml") == GUEST
    assert any(s.startswith("Merge branch") for s in subjects), subjects  # (the merge is followed too)
    assert trailers(bare)  # (the gateway's commits carry their Message-IDs)


def test_notifications_by_file_and_by_webhook_are_passed_on_and_head_is_followed(tmp_path: Path) -> None:
    from mailtest import git_root

    root = git_root(tmp_path / "intranet")
    model = Model(root)
    model.load()
    pokes: list[str] = []
    port = free_port()
    follower = Follower(model, root / ".intranet", True, [lambda: pokes.append("poke")], ("127.0.0.1", port))
    assert follower.start() == [f"notifications of pushes (HTTP POST) on 127.0.0.1:{port}"]
    try:
        notify(root / ".intranet")  # what `intranet notify --root` does
        wait_for(lambda: len(pokes) == 1, 30, "the file's notification")
        request = urllib.request.Request(f"http://127.0.0.1:{port}/hooks/gitea", data=b'{"ref": "x"}')
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 204
        wait_for(lambda: len(pokes) == 2, 30, "the webhook's notification")
        assert fetch(f"http://127.0.0.1:{port}/")[0] == 405  # only POST
        assert main(["notify", "--url", f"http://127.0.0.1:{port}/"]) == 0  # what a hook on another machine runs
        wait_for(lambda: len(pokes) == 3, 30, "the notification by `intranet notify --url`")
        # A saved file is not followed; its commit is.
        path = root / post_relpath("procurement", "<p1@example.org>")
        path.write_text(path.read_text().replace("Delays expected.", "Gloves are here."))
        seen: list[int] = []
        model.subscribe(lambda change: seen.append(change.post_count))
        before = model.seq
        git(root, "commit", "-qam", "An edit")
        wait_for(lambda: model.seq > before, 30, "the commit to be followed")
        assert seen == [1]
        assert "Gloves are here." in model.posts["procurement"][post_relpath("procurement", "<p1@example.org>")].body
    finally:
        follower.stop()
    assert os.path.exists(root / ".intranet" / "notify")


def test_notify_http_is_a_host_and_a_port() -> None:
    from intranet.settings import Settings

    for good in ("127.0.0.1:8026", "[::1]:8026", "intranet.example.org:80"):
        assert Settings.from_mapping({"notify_http": good}).notify_http == good
    for bad in ("8026", "127.0.0.1", "a b:80"):
        with pytest.raises(ValueError, match="notify_http"):
            Settings.from_mapping({"notify_http": bad})
