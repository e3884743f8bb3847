"""Validation at the door (the pre-receive hook) and quarantine of what gets in anyway (issue #15)."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest
from mailtest import Harness, git, git_root, mail

from generator.builder import build_site
from generator.check import run_check
from intranet.format import read_intranet
from intranet.gate import check_update, pre_receive
from intranet.model import Model
from intranet.quarantine import Quarantine
from intranet.settings import read_settings
from mailgateway.outgoing import read_outbox

TIM = ("-c", "user.name=Typo Tim", "-c", "user.email=tim@example.org")
BROKEN_COMMUNITY = "name: Clinical Handover\npurpose: How we hand over.\nmoderators: [ann.lee\naudience: [staff]\n"


def push(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "push", "origin", *args], cwd=clone, capture_output=True, text=True, timeout=120)


def hooked_remote(tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository with the hook installed, and an editor's clone that pushed the small intranet to it."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m intranet.cli check --pre-receive\n")
    hook.chmod(0o755)
    clone = git_root(tmp_path / "clone")
    git(clone, "remote", "add", "origin", str(remote))
    assert push(clone, "main").returncode == 0
    return remote, clone


def commit_all(root: Path, message: str, who: tuple[str, ...] = TIM) -> str:
    git(root, *who, "add", "-A")
    git(root, *who, "commit", "-qm", message)
    return git(root, "rev-parse", "HEAD").strip()


def test_hook_refuses_broken_content_with_line_numbers(tmp_path: Path) -> None:
    remote, clone = hooked_remote(tmp_path)
    good = git(remote, "rev-parse", "main").strip()
    (clone / "communities/handover/community.yml").write_text(BROKEN_COMMUNITY)
    commit_all(clone, "Typo")
    refused = push(clone, "main")
    assert refused.returncode != 0
    expected = [str(p) for p in read_intranet(clone).problems]  # what `intranet check` says in the clone
    assert len(expected) == 1 and re.match(
        r"communities/handover/community\.yml:[2-9]: file: invalid YAML", expected[0]
    )
    assert f"remote: {expected[0]}" in refused.stderr
    assert "pre-receive hook declined" in refused.stderr
    assert git(remote, "rev-parse", "main").strip() == good

    # A rule across files: a person who moderates a community and wrote posts cannot go.
    git(clone, "reset", "-q", "--hard", "origin/main")
    (clone / "people/ann.lee.yml").unlink()
    commit_all(clone, "Ann leaves")
    refused = push(clone, "main")
    assert refused.returncode != 0
    assert "remote: communities/handover/community.yml:1: moderators: no person 'ann.lee' in people/" in refused.stderr
    assert re.search(r"remote: communities/handover/posts/\S+\.md:1: author: no person 'ann.lee'", refused.stderr)

    # A valid change goes in; deleting the intranet's branch does not, deleting another branch does.
    git(clone, "reset", "-q", "--hard", "origin/main")
    (clone / "communities/handover/pages/rota.md").write_text("# Rota\n")
    fine = commit_all(clone, "A page")
    accepted = push(clone, "main", "main:draft")
    assert accepted.returncode == 0, accepted.stderr
    assert git(remote, "rev-parse", "main").strip() == fine
    refused = push(clone, ":main")
    assert refused.returncode != 0 and "refusing to delete refs/heads/main" in refused.stderr
    assert push(clone, ":draft").returncode == 0


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def told(root: Path) -> list:
    state = root / read_settings(root).state_dir
    return [m for m in read_outbox(state) if str(m["Message-ID"]).startswith("<quarantine-")]


def test_direct_commit_quarantines_the_community_and_tells_its_author_once(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    yml = root / "communities/handover/community.yml"
    with Harness(root) as h:
        yml.write_text(BROKEN_COMMUNITY)
        broke = commit_all(root, "Typo in handover")
        notices = wait_for(lambda: told(root) if len(told(root)) >= 2 else None)  # the gateway follows the commit
        assert h.send(mail(message_id="<after-typo@example.org>"), f"handover@{h.settings.mail_domain}") == {}
        assert h.wait("<after-typo@example.org>")[0]["outcome"] == "published"
        model = h.gateway.worker.model()
        assert model.communities["handover"].name == "Clinical Handover"
        assert [e.path for e in model.quarantine.listed()] == ["communities/handover/community.yml"]
    problem = str(read_intranet(root).problems[0])
    assert sorted(m["Delivered-To"] for m in notices) == ["ann.lee@example.org", "tim@example.org"]  # and a copy
    assert len({m["Message-ID"] for m in notices}) == 1
    body = notices[0].get_body(("plain",)).get_content()
    assert problem in body and broke[:12] in body

    # The pages are still built from the kept version; the status lists it.
    result = build_site(root, tmp_path / "site")
    assert (tmp_path / "site/staff/c/handover/pages/best-practice/index.html").is_file()
    assert "Clinical Handover" in (tmp_path / "site/staff/c/handover/index.html").read_text()
    assert any("community.yml" in p for p in result.problems)
    status = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "status", "--root", str(root)], capture_output=True, text=True
    )
    assert f"{problem} (since {broke[:12]} by Typo Tim <tim@example.org>;" in status.stdout
    assert "author told: tim@example.org, ann.lee@example.org" in status.stdout

    # A restart tells nobody again; the fix is used.
    with Harness(root) as h:
        assert h.send(mail(message_id="<after-restart@example.org>"), f"handover@{h.settings.mail_domain}") == {}
        assert h.wait("<after-restart@example.org>")[0]["outcome"] == "published"  # kept from Git at start
        yml.write_text(BROKEN_COMMUNITY.replace("[ann.lee\n", "[ann.lee]\n").replace("Clinical", "Fixed"))
        commit_all(root, "Fix the typo")
        wait_for(lambda: h.gateway.worker.model().communities["handover"].name == "Fixed Handover")
        assert h.gateway.worker.model().quarantine.listed() == []
    assert len(told(root)) == 2  # the one notice, to the author and the moderator


def post_path(root: Path, message_id: str) -> Path:
    [post] = [p for p in read_intranet(root).posts if p.message_id == message_id]
    return root / post.relpath


def test_a_broken_post_keeps_its_last_good_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = git_root(tmp_path / "intranet")
    running = Model(root)
    running.load()
    path = post_path(root, "<t1@example.org>")
    relpath = path.relative_to(root).as_posix()
    path.write_text(path.read_text().replace("How do you run it?", "Edited text").replace("date: ", "date: [", 1))
    broke = commit_all(root, "Edit a post, badly")
    new = root / "communities/handover/posts/new.md"
    new.write_text("---\nauthor: ann.lee\ndate: 2026-11-03T09:00:00+00:00\nsubject: [oops\n---\nNever valid.\n")
    commit_all(root, "A broken new post")

    # While running, the version read before stays; at a start, the newest valid version in Git.
    running.follow()
    started = Model(root)
    started.load()
    for model in (running, started):
        assert model.posts["handover"][relpath].body == "How do you run it?"
        assert "communities/handover/posts/new.md" not in model.posts["handover"]
        entries = {e.path: e for e in model.quarantine.listed()}
        assert entries[relpath].since == broke and not entries[relpath].left_out
        assert entries["communities/handover/posts/new.md"].left_out
    assert started.quarantine.entries[relpath].kept == git(root, "rev-parse", "HEAD~2").strip()

    assert run_check(root) == 1
    listed = capsys.readouterr().out.split("Quarantined (2 file(s)", 1)[1]
    assert re.search(
        rf"{relpath}:\d+: front matter: invalid YAML.* \(since {broke[:12]} by Typo Tim .*; using the", listed
    )
    assert re.search(r"posts/new\.md:\d+: front matter: .*; left out: no valid version\)", listed)
    build_site(root, tmp_path / "site")
    pages = [p.read_text() for p in (tmp_path / "site/staff/c/handover/t").glob("*/index.html")]
    assert any("How do you run it?" in page for page in pages)  # the topic is there, with its last good text

    path.write_text(path.read_text().replace("date: [", "date: "))
    commit_all(root, "Fix the post")
    running.follow()
    assert running.posts["handover"][relpath].body == "Edited text"
    assert relpath not in running.quarantine.entries


def test_the_hook_refuses_only_what_a_push_brings_in(tmp_path: Path) -> None:
    """In process, on one repository: what each kind of push would be told (intranet.gate)."""
    root = git_root(tmp_path / "intranet")
    repo = pygit2.Repository(str(root / ".git"))

    def update(old: str) -> list[str]:
        new = git(root, "rev-parse", "HEAD").strip()
        return [str(p) for p in check_update(repo, old, new)]

    start = git(root, "rev-parse", "HEAD").strip()
    (root / "communities/handover/community.yml").write_text(BROKEN_COMMUNITY)
    broken = commit_all(root, "A direct commit of a typo, no hook")
    assert len(update(start)) == 1
    (root / "communities/handover/pages/rota.md").write_text("# Rota\n")
    commit_all(root, "Unrelated: a page")
    assert update(broken) == []  # the typo was there before, in a file this push leaves alone
    (root / "communities/handover/community.yml").write_text(BROKEN_COMMUNITY + "tags: [x]\n")
    commit_all(root, "Touches the broken file, still broken")
    assert [p.split(": ")[1] for p in update(broken)] == ["file"]

    # A post naming an attachment that is not there, a page in a sub-folder, a link, broken settings.
    git(root, "reset", "-q", "--hard", start)
    post = post_path(root, "<t1@example.org>")
    post.write_text(post.read_text().replace("source: smtp", "source: smtp\nattachments:\n- file: gone.pdf"))
    (root / "communities/handover/pages/deep").mkdir()
    (root / "communities/handover/pages/deep/page.md").write_text("# Deep\n")
    (root / "people/link.yml").symlink_to(root / "people/ann.lee.yml")
    (root / "mkdocs.yml").write_text((root / "mkdocs.yml").read_text().replace("plugins:", "plugins: [", 1))
    commit_all(root, "Four mistakes")
    found = update(start)
    relpath = post.relative_to(root).as_posix()
    assert [p.split(":")[0] for p in found] == [
        "communities/handover/pages/deep/page.md",
        relpath,
        "mkdocs.yml",
        "people/link.yml",
    ]
    assert "file 'gone.pdf' is not a file in" in found[1]

    # Refs: a new branch is compared with HEAD's; tags are not checked; HEAD's branch cannot be deleted.
    bad = git(root, "rev-parse", "HEAD").strip()
    git(root, "reset", "-q", "--hard", start)  # main, the branch HEAD names, is back at the start
    zero = "0" * 40
    accepted, lines = pre_receive(repo, [f"{zero} {bad} refs/heads/draft", f"{zero} {bad} refs/tags/v1"])
    assert not accepted and lines[0].startswith("intranet: refusing refs/heads/draft") and len(lines) == 6
    assert pre_receive(repo, [f"{zero} {bad} refs/tags/v1", f"{start} {zero} refs/heads/other"]) == (True, [])
    accepted, lines = pre_receive(repo, [f"{start} {zero} refs/heads/main"])
    assert not accepted and "refusing to delete refs/heads/main" in lines[0]


def test_history_is_searched_by_galloping_along_the_first_parent_chain(tmp_path: Path) -> None:
    """1,000 commits: a community.yml valid at commit 700, broken at 750 by Bea, broken differently at 820 by Cy."""
    path = "communities/c/community.yml"
    valid, broken_1, broken_2 = "name: C\npurpose: Valid.\n", "name: [C\n", "name: C\npurpose: [x\n"
    stream = []
    for n in range(1000):
        files = {f"communities/c/posts/{n}.txt": f"{n}\n"}
        files.update({700: {path: valid}, 750: {path: broken_1}, 820: {path: broken_2}}.get(n, {}))
        who = {750: "Bea <bea@example.org>", 820: "Cy <cy@example.org>"}.get(n, "Gateway <gw@example.org>")
        stream.append(f"commit refs/heads/main\nmark :{n + 1}\nauthor {who} {1_700_000_000 + n} +0000\n")
        stream.append(f"committer Gateway <gw@example.org> {1_700_000_000 + n} +0000\ndata {len(str(n))}\n{n}\n")
        for name, text in files.items():
            stream.append(f"M 100644 inline {name}\ndata {len(text.encode())}\n{text}\n")
    root = tmp_path / "repo"
    git(tmp_path, "init", "-q", "-b", "main", str(root))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, input="".join(stream), text=True, check=True)
    git(root, "checkout", "-q", "main")
    commit = {n: git(root, "rev-parse", f":/^{n}$").strip() for n in (749, 820)}

    quarantine = Quarantine(root)
    quarantine.history.git_dir = root / ".git"
    head = git(root, "rev-parse", "HEAD").strip()
    kept = quarantine.note(path, [], None, head)
    entry = quarantine.entries[path]
    assert (entry.since, entry.author, entry.kept) == (commit[820], ("Cy", "cy@example.org"), commit[749])
    assert kept.purpose == "Valid."
    assert len(quarantine.history.chain.ids) < 600  # the search did not walk the whole chain

    (root / path).write_text("name: C\npurpose: [y\n")  # not committed: no breaking commit, nobody to tell
    quarantine.note(path, [], None, head)
    assert (quarantine.entries[path].since, quarantine.entries[path].kept) == ("", commit[749])
    (root / path).write_text(broken_2)
    assert quarantine.note(path, [], "remembered", head) == "remembered"
    assert (quarantine.entries[path].since, quarantine.entries[path].kept) == (commit[820], "")
