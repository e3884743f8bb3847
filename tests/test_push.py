"""The gateway pushes to a Git remote: nothing lost, nothing twice, no editor's commit undone.

Real Git throughout: a bare repository as the remote (served by `git daemon`
where a test takes it away), an editor's clone pushing to it, and the gateway
with the ``remote`` setting, in this process or as `intranet gateway` killed
with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import smtplib
import threading
from pathlib import Path

import yaml
from gitremote import Daemon, editor_clone, editor_commit, editor_push, post_files, remote_root, trailers, wait_for
from mailtest import DOMAIN, Harness, git, mail, wire
from test_crash import log_tail, start_gateway

from intranet.cli import main
from mailgateway.pusher import read_status
from mailgateway.pushplan import REJECTED
from mailgateway.remote import Remote

TO = f"handover@{DOMAIN}"


def send_all(port: int, messages: list) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for message in messages:
            assert client.sendmail("ann.lee@example.org", [TO], wire(message)) == {}


def on_remote(bare: Path, ids: list[str]) -> bool:
    return all(post_files(bare, ids)[mid] == 1 for mid in ids)


def assert_once(bare: Path, ids: list[str]) -> None:
    files, commits = post_files(bare, ids), trailers(bare)
    assert [mid for mid in ids if files[mid] != 1] == []
    assert [mid for mid in ids if commits[mid] != 1] == []


def test_the_gateway_and_an_editor_push_while_mail_arrives(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path)
    editor = editor_clone(bare, tmp_path / "editor")
    messages = [mail(subject=f"Busy day {n}", body=f"Message {n}.") for n in range(50)]
    ids = [m["Message-ID"] for m in messages]
    pages = {
        f"people/guest-{n}.yml": f"name: Guest {n}\nemails: [guest{n}@example.org]\nkind: staff\norganisation: Example Health\n"
        for n in range(8)
    }

    def edit() -> None:
        for n, (relpath, text) in enumerate(pages.items()):
            editor_commit(editor, f"Add guest {n}", {relpath: text})
            editor_push(editor)

    with Harness(root) as gw:
        editing = threading.Thread(target=edit)
        editing.start()
        send_all(gw.smtp, messages)
        editing.join(timeout=120)
        wait_for(lambda: on_remote(bare, ids), 60, "every post on the remote")
        wait_for(lambda: read_status(root / ".intranet").get("waiting") == 0, 30, "nothing left to push")
        checkout = gw.gateway.root
        # The gateway's checkout (and so its model) has the editor's commits too.
        wait_for(lambda: (checkout / "people" / "guest-7.yml").is_file(), 60, "the editor's files in the checkout")
        assert gw.gateway.worker.model().person_for("guest7@example.org") is not None
    assert_once(bare, ids)
    subjects = git(bare, "log", "main", "--format=%s").splitlines()
    assert all(subjects.count(f"Add guest {n}") == 1 for n in range(8)), subjects
    for relpath, text in pages.items():
        assert git(bare, "show", f"main:{relpath}") == text
    assert git(root, "log", "--format=%H").count("\n") == 1  # the root itself is not where the gateway commits


def test_mail_is_taken_while_the_remote_is_away_and_pushed_when_it_is_back(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    root, bare = remote_root(tmp_path, daemon.url("remote.git"))
    daemon.start()
    try:
        with Harness(root) as gw:
            daemon.stop()
            messages = [mail(subject=f"While away {n}") for n in range(5)]
            ids = [m["Message-ID"] for m in messages]
            send_all(gw.smtp, messages)  # 250 for each
            for mid in ids:
                assert gw.wait(mid)[0]["outcome"] == "published"
            checkout = gw.gateway.root
            local = git(checkout, "log", "main", "--format=%(trailers:key=Message-ID,valueonly)").split()
            assert sorted(set(ids) & set(local)) == sorted(ids)
            wait_for(lambda: read_status(root / ".intranet").get("waiting") == 5, 30, "the status to count 5")
            status = read_status(root / ".intranet")
            assert "could not reach" in str(status["error"]), status
            assert post_files(bare, ids) == {}
            daemon.start()
            wait_for(lambda: on_remote(bare, ids), 90, "the posts pushed once the remote is back")
            wait_for(lambda: read_status(root / ".intranet").get("waiting") == 0, 30, "the status to clear")
        assert_once(bare, ids)
    finally:
        daemon.stop()


def test_a_subscription_by_mail_and_an_editors_change_to_the_same_file_both_survive(tmp_path: Path) -> None:
    from test_mail_out import subscribe

    daemon = Daemon(tmp_path)
    root, bare = remote_root(tmp_path, daemon.url("remote.git"))
    editor = editor_clone(bare, tmp_path / "editor")
    subscribers = "communities/handover/subscribers.yml"
    editor_commit(editor, "Subscribers", {subscribers: "# Who gets mail\nann.lee: digest\n"})
    editor_push(editor)
    daemon.start()
    try:
        with Harness(root) as gw:
            wait_for(lambda: (gw.gateway.root / subscribers).is_file(), 30, "the gateway to have the file")
            daemon.stop()
            subscribe(gw, "bo.chen@example.org")  # committed by the gateway, not pushed: the remote is away
            post = mail(subject="Meanwhile")
            send_all(gw.smtp, [post])
            gw.wait(post["Message-ID"])
            # Meanwhile an editor changes the same file and pushes (straight to the repository).
            editor_commit(editor, "Ann wants each post", {subscribers: "# Who gets mail\nann.lee: each  # asked\n"})
            editor_push(editor)
            daemon.start()
            wait_for(lambda: on_remote(bare, [post["Message-ID"]]), 90, "the post on the remote")
            wait_for(lambda: read_status(root / ".intranet").get("waiting") == 0, 30, "nothing left to push")
        text = git(bare, "show", f"main:{subscribers}")
        assert yaml.safe_load(text) == {"ann.lee": "each", "bo.chen": "each"}, text
        assert "# asked" in text and text.startswith("# Who gets mail")
        assert_once(bare, [post["Message-ID"]])
        subjects = git(bare, "log", "main", "--format=%s").splitlines()
        assert subjects.count("Ann wants each post") == 1 and subjects.count("handover: bo.chen gets every post") == 1
    finally:
        daemon.stop()


def test_a_gateway_killed_before_and_during_a_push_pushes_each_post_once(tmp_path: Path) -> None:
    daemon = Daemon(tmp_path)
    root, bare = remote_root(tmp_path, daemon.url("remote.git"))
    port = int(_setting(root, "smtp").rpartition(":")[2])
    daemon.start()
    process = start_gateway(root, port)
    try:
        # Killed between its commits and their push: the remote is away, the commits are made.
        daemon.stop()
        first = [mail(subject=f"Before the push {n}") for n in range(5)]
        send_all(port, first)
        checkout = root / ".intranet" / "checkout"
        wait_for(lambda: _committed(checkout, first), 60, f"the commits in the checkout\n{log_tail(root)}")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        daemon.start()
        process = start_gateway(root, port)
        wait_for(
            lambda: on_remote(bare, _ids(first)), 60, f"the first posts pushed after the restart\n{log_tail(root)}"
        )

        # Killed during a push: the remote's hook holds the push until the gateway is dead.
        started = tmp_path / "push-started"
        hook = bare / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\ntouch {started}\nsleep 1\n")
        hook.chmod(0o755)
        second = [mail(subject=f"During the push {n}") for n in range(5)]
        send_all(port, second)
        wait_for(started.exists, 60, f"the push to begin\n{log_tail(root)}")
        killed = _kill_tree(process.pid)  # the gateway and its `git push`, as a power cut would
        process.wait()
        assert len(killed) >= 2, killed
        hook.unlink()
        process = start_gateway(root, port)
        wait_for(lambda: on_remote(bare, _ids(second)), 60, f"the second posts pushed\n{log_tail(root)}")
        wait_for(lambda: _pushed_all(checkout), 30, "nothing left to push")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        daemon.stop()
    assert_once(bare, _ids(first) + _ids(second))


def _kill_tree(pid: int) -> list[int]:
    """SIGKILL ``pid`` and every process below it (found before any dies); their ids."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        found.append(todo.pop())
        todo += children.get(found[-1], [])
    for each in found:
        try:
            os.kill(each, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return found


def _setting(root: Path, name: str) -> str:
    text = (root / "mkdocs.yml").read_text()
    return next(line.split(":", 1)[1].strip().strip('"') for line in text.splitlines() if line.strip().startswith(name))


def _ids(messages: list) -> list[str]:
    return [m["Message-ID"] for m in messages]


def _committed(checkout: Path, messages: list) -> bool:
    if not checkout.is_dir():
        return False
    found = git(checkout, "log", "main", "--format=%(trailers:key=Message-ID,valueonly)").split()
    return set(_ids(messages)) <= set(found)


def _pushed_all(checkout: Path) -> bool:
    return git(checkout, "rev-parse", "main") == git(checkout, "rev-parse", "origin/main")


def test_a_force_push_drops_an_editors_commit_but_never_a_post(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path)
    editor = editor_clone(bare, tmp_path / "editor")
    start = git(editor, "rev-parse", "HEAD").strip()
    with Harness(root) as gw:
        first = mail(subject="Before the force-push")
        send_all(gw.smtp, [first])
        wait_for(lambda: on_remote(bare, _ids([first])), 30, "the first post on the remote")
        editor_commit(editor, "A page that goes", {"communities/handover/pages/gone.md": "# Gone\n"})
        editor_push(editor)
        second = mail(subject="After the editor's commit")
        send_all(gw.smtp, [second])  # its push is refused, and the gateway takes the editor's commit
        wait_for(lambda: on_remote(bare, _ids([second])), 30, "the second post on the remote")
        assert (gw.gateway.root / "communities/handover/pages/gone.md").is_file()
        # The editor rewrites the branch from the start: their page and both posts are gone from it.
        git(editor, "reset", "-q", "--hard", start)
        editor_commit(editor, "A page that stays", {"communities/handover/pages/stays.md": "# Stays\n"})
        git(editor, "push", "-q", "--force", "origin", "main")
        third = mail(subject="After the force-push")
        send_all(gw.smtp, [third])
        ids = _ids([first, second, third])
        wait_for(lambda: on_remote(bare, ids), 30, "every post on the remote again")
        wait_for(lambda: _pushed_all(gw.gateway.root), 30, "nothing left to push")
        assert not (gw.gateway.root / "communities/handover/pages/gone.md").exists()
    assert_once(bare, ids)
    files = git(bare, "ls-tree", "-r", "--name-only", "main", "communities/handover/pages").split()
    assert "communities/handover/pages/stays.md" in files and "communities/handover/pages/gone.md" not in files
    assert "A page that goes" not in git(bare, "log", "main", "--format=%s")


def test_a_push_the_remotes_hook_refuses_waits_and_goes_once_the_hook_allows_it(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'communities/handover: closed for the audit' >&2\nexit 1\n")
    hook.chmod(0o755)
    with Harness(root) as gw:
        post = mail(subject="Refused at first")
        send_all(gw.smtp, [post])
        assert gw.wait(post["Message-ID"])[0]["outcome"] == "published"
        wait_for(
            lambda: "refused" in str(read_status(root / ".intranet").get("error")), 30, "the refusal in the status"
        )
        status = read_status(root / ".intranet")
        assert status["waiting"] == 1 and "closed for the audit" in str(status["error"]), status
        assert post_files(bare, _ids([post])) == {}
        hook.unlink()
        wait_for(lambda: on_remote(bare, _ids([post])), 60, "the post pushed once the hook allows it")
    assert_once(bare, _ids([post]))


def test_a_force_push_dropping_an_editors_commit_the_gateway_had_taken_is_not_pushed_back(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path)
    editor = editor_clone(bare, tmp_path / "editor")
    start = git(editor, "rev-parse", "HEAD").strip()
    with Harness(root) as gw:
        page = gw.gateway.root / "communities/handover/pages/gone.md"
        editor_commit(editor, "A page that goes", {"communities/handover/pages/gone.md": "# Gone\n"})
        editor_push(editor)
        gw.gateway.remote_moved()  # (as `intranet notify` does)
        wait_for(page.is_file, 30, "the editor's page in the gateway's checkout")
        # Nothing of the gateway's on top: its branch is the remote's old head, ahead of the new one.
        git(editor, "push", "-q", "--force", "origin", f"{start}:main")
        gw.gateway.remote_moved()
        wait_for(lambda: not page.exists(), 30, "the page to leave the gateway's checkout")
        wait_for(lambda: _pushed_all(gw.gateway.root), 30, "nothing left to push")
    assert git(bare, "rev-parse", "main").strip() == start


def test_a_push_over_a_force_push_made_since_the_last_fetch_is_refused_not_taken_as_a_fast_forward(
    tmp_path: Path,
) -> None:
    root, bare = remote_root(tmp_path)
    editor = editor_clone(bare, tmp_path / "editor")
    start = git(editor, "rev-parse", "HEAD").strip()
    editor_commit(editor, "A page that goes", {"communities/handover/pages/gone.md": "# Gone\n"})
    editor_push(editor)
    checkout = tmp_path / "checkout"
    remote = Remote(checkout, str(bare), "main")
    remote.clone()  # the editor's page fetched ...
    (checkout / "communities/handover/pages/ours.md").write_text("# Ours\n")
    git(checkout, "add", "-A")
    git(checkout, "-c", "user.name=Gateway", "-c", "user.email=gw@example.org", "commit", "-qm", "Ours, on the page")
    git(editor, "push", "-q", "--force", "origin", f"{start}:main")  # ... and taken off the remote since
    # Pushing ours would be a fast-forward of the remote's branch, bringing the page back: refused.
    assert remote.push(git(checkout, "rev-parse", "HEAD").strip())[0] == REJECTED
    assert git(bare, "rev-parse", "main").strip() == start


def test_the_gateway_alone_fetches_when_intranet_notify_says_the_remote_moved(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path, poll_seconds=3600)
    port = int(_setting(root, "smtp").rpartition(":")[2])
    editor = editor_clone(bare, tmp_path / "editor")
    process = start_gateway(root, port)
    try:
        editor_commit(editor, "A new person", {"people/guest-two.yml": "name: Guest Two\nemails: [g2@example.org]\n"})
        editor_push(editor)
        assert main(["notify", "--root", str(root)]) == 0  # as the remote's post-receive hook runs it
        person = root / ".intranet" / "checkout" / "people" / "guest-two.yml"
        wait_for(person.is_file, 30, f"the editor's commit fetched\n{log_tail(root)}")
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert "told that the remote moved" in log_tail(root, 400)
