"""The gateway's commits: written with libgit2, the branch swapped only if it did not move, the index
kept in step in batches, and repaired after a crash between a commit and the index update."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pygit2
import pytest
from mailtest import Harness, git, git_root, mail

from intranet.settings import read_settings
from mailgateway import gitpack
from mailgateway.store import LOCK_MARKER, Store, StoreError
from mailgateway.worker import Worker

GATEWAY = ("Intranet gateway", "intranet-noreply@intranet.localhost")


def write(root: Path, relpath: str, text: str) -> Path:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def commit(store: Store, path: Path, subject: str = "handover: A post", message_id: str = "<m1@example.org>"):
    return store.commit(
        [path],
        subject=subject,
        body="A new topic by Ann Lee in Clinical Handover, received by email.",
        author=("Ann Lee", "ann.lee@example.org"),
        committer=GATEWAY,
        trailers={"Message-ID": message_id},
    )


def status(root: Path) -> str:
    return git(root, "status", "--porcelain", "--untracked-files=all").strip()


def editor_commit_without_index(root: Path, relpath: str, text: str) -> str:
    """An editor's commit that lands on the branch without this checkout's index, as a push does."""
    head = git(root, "rev-parse", "HEAD").strip()
    env = {**os.environ, "GIT_INDEX_FILE": str(root / ".git" / "editor-index")}
    run = {"cwd": root, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run(["git", "read-tree", head], **run)
    blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], input=text, **run).stdout.strip()
    subprocess.run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{relpath}"], **run)
    tree = subprocess.run(["git", "write-tree"], **run).stdout.strip()
    ident = {"GIT_AUTHOR_NAME": "Editor", "GIT_AUTHOR_EMAIL": "editor@example.org"}
    ident |= {"GIT_COMMITTER_NAME": "Editor", "GIT_COMMITTER_EMAIL": "editor@example.org"}
    new = subprocess.run(
        ["git", "commit-tree", tree, "-p", head, "-m", "Editor's page"], **{**run, "env": env | ident}
    ).stdout.strip()
    subprocess.run(["git", "update-ref", "refs/heads/main", new, head], **run)
    return new


def test_commit_is_authored_by_the_sender_with_trailers_and_one_path(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    store = Store(root)
    before = git(root, "rev-parse", "HEAD").strip()
    made = commit(store, write(root, "communities/handover/posts/ab/post.md", "---\nsubject: x\n---\nHi\n"))
    store.flush()
    assert made is not None and made.parent == before
    assert made.paths == ("communities/handover/posts/ab/post.md",)
    assert git(root, "rev-parse", "HEAD").strip() == made.sha
    fields = git(root, "log", "-1", "--format=%an|%ae|%cn|%ce|%s|%(trailers:key=Message-ID,valueonly)").strip()
    assert (
        fields
        == "Ann Lee|ann.lee@example.org|Intranet gateway|intranet-noreply@intranet.localhost|handover: A post|<m1@example.org>"
    )
    body = git(root, "log", "-1", "--format=%B")
    assert "received by email.\n\nMessage-ID: <m1@example.org>\n" in body
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["communities/handover/posts/ab/post.md"]
    assert "commit: handover: A post" in git(root, "reflog", "-1")
    assert status(root) == ""
    assert git(root, "fsck", "--no-dangling").strip() == ""


def test_a_redelivery_makes_no_commit_and_is_recognised(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    store = Store(root)
    path = write(root, "communities/handover/posts/ab/post.md", "---\nsubject: x\n---\nHi\n")
    assert not store.is_committed(path)
    assert commit(store, path) is not None
    assert store.is_committed(path)
    assert commit(store, path) is None  # the same file again: nothing to commit
    store.flush()
    path.write_text("changed on disk")
    assert not store.is_committed(path)


def test_an_editors_commit_between_reading_head_and_moving_the_branch_is_kept(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")

    class Racing(Store):
        """The editor's commit lands just before the gateway's first attempt to move the branch."""

        raced = ""

        def _swap(self, repo, name, parent, oid, why):  # type: ignore[no-untyped-def]
            if not self.raced:
                self.raced = editor_commit_without_index(root, "communities/handover/pages/rota.md", "# Rota\n")
            return super()._swap(repo, name, parent, oid, why)

    store = Racing(root)
    made = commit(store, write(root, "communities/handover/posts/ab/post.md", "---\nsubject: x\n---\nHi\n"))
    store.flush()
    assert made is not None and made.parent == store.raced  # built again on the editor's commit
    log = git(root, "log", "-3", "--format=%an %s").splitlines()
    assert log[:2] == ["Ann Lee handover: A post", "Editor Editor's page"]
    files = git(root, "ls-tree", "-r", "--name-only", "HEAD").split()
    assert "communities/handover/pages/rota.md" in files and "communities/handover/posts/ab/post.md" in files
    git(root, "checkout", "HEAD", "--", "communities/handover/pages/rota.md")  # as a push-to-checkout would
    assert status(root) == ""


def test_the_index_is_locked_during_a_batch_and_clean_after_it(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    store = Store(root)
    paths = [write(root, f"communities/handover/posts/0{n}/post.md", f"---\nsubject: {n}\n---\nHi\n") for n in range(3)]
    for n, path in enumerate(paths):
        assert commit(store, path, message_id=f"<m{n}@example.org>") is not None
    lock = root / ".git" / "index.lock"
    assert lock.read_text().startswith(LOCK_MARKER)  # an editor's `git commit` now waits for the batch
    editor = subprocess.run(["git", "add", "README"], cwd=root, capture_output=True, text=True)
    assert editor.returncode != 0 and "index.lock" in editor.stderr
    store.flush()
    assert not lock.exists()
    assert status(root) == ""
    assert git(root, "diff", "--cached", "--name-only", "HEAD").strip() == ""
    assert git(root, "rev-list", "--count", "HEAD").strip() == "4"


def test_someone_elses_index_lock_is_waited_for_then_reported(tmp_path: Path, monkeypatch) -> None:
    root = git_root(tmp_path / "intranet")
    monkeypatch.setattr("mailgateway.store.LOCK_RETRIES", 2)
    (root / ".git" / "index.lock").write_text("")  # an editor's Git command, busy or dead
    store = Store(root)
    with pytest.raises(StoreError, match="index.lock"):
        commit(store, write(root, "communities/handover/posts/ab/post.md", "hi\n"))
    assert store.recover() == 0  # not ours: left alone
    assert (root / ".git" / "index.lock").read_text() == ""
    assert git(root, "rev-list", "--count", "HEAD").strip() == "1"


CRASH = """
import os, signal, sys
from pathlib import Path
from mailgateway.store import Store
root = Path(sys.argv[1])
store = Store(root)
for n in range(3):
    path = root / f"communities/handover/posts/0{n}/post.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"post {n}\\n")
    store.commit([path], subject=f"handover: {n}", body="", author=("Ann Lee", "ann.lee@example.org"),
                 committer=("Gateway", "gw@example.org"), trailers={"Message-ID": f"<m{n}@example.org>"})
os.kill(os.getpid(), signal.SIGKILL)  # after the commits, before the index update
"""


def test_a_crash_between_commit_and_index_update_is_repaired_at_start(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    repo = Path(__file__).resolve().parent.parent
    crashed = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASH), str(root)], cwd=repo)
    assert crashed.returncode == -9
    assert git(root, "rev-list", "--count", "HEAD").strip() == "4"
    lock = root / ".git" / "index.lock"
    assert lock.read_text().startswith(LOCK_MARKER)
    broken = git(root, "status", "--porcelain")
    assert "D  communities/handover/posts/00/post.md" in broken  # the index lags behind the commits
    worker = Worker(root, read_settings(root))
    assert worker.acquire()  # the gateway's start: takes the spool lock, then repairs
    worker.stop()
    assert not lock.exists()
    assert status(root) == ""


def test_the_editors_uncommitted_work_is_neither_committed_nor_lost(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    page = root / "communities/handover/pages/best-practice.md"
    page.write_text("# Handover best practice\n\nEdited, not committed.\n")
    people = root / "people/ann.lee.yml"
    people.write_text(people.read_text() + "about: Staged, not committed.\n")
    git(root, "add", "people/ann.lee.yml")
    (root / "communities/handover/draft.md").write_text("untracked\n")
    store = Store(root)
    post = write(root, "communities/handover/posts/ab/post.md", "---\nsubject: x\n---\nHi\n")
    assert commit(store, post) is not None
    store.flush()
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == ["communities/handover/posts/ab/post.md"]
    assert git(root, "show", "HEAD:communities/handover/pages/best-practice.md").count("Edited") == 0
    assert page.read_text().endswith("Edited, not committed.\n")
    assert git(root, "diff", "--cached", "--name-only").split() == ["people/ann.lee.yml"]  # still staged
    assert git(root, "diff", "--name-only").split() == ["communities/handover/pages/best-practice.md"]
    assert sorted(git(root, "status", "--porcelain", "--untracked-files=all").splitlines()) == [
        " M communities/handover/pages/best-practice.md",
        "?? communities/handover/draft.md",
        "M  people/ann.lee.yml",
    ]


def test_a_first_commit_on_an_unborn_branch(tmp_path: Path) -> None:
    root = tmp_path / "fresh"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    store = Store(root)
    made = commit(store, write(root, "communities/handover/posts/ab/post.md", "hi\n"))
    store.flush()
    assert made is not None and made.parent == ""
    assert pygit2.Repository(str(root)).head.peel(pygit2.Commit).author.email == "ann.lee@example.org"
    assert status(root) == ""


def test_the_workers_index_survives_its_own_commits_and_follows_an_editors_post(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    with Harness(root) as h:
        first = mail(subject="Rota", message_id="<rota@example.org>")
        h.send(first, "handover@intranet.localhost")
        h.wait("<rota@example.org>")
        worker = h.gateway.worker
        model = worker.model()
        h.send(
            mail(subject="Re: Rota", message_id="<re@example.org>", in_reply_to="<rota@example.org>"),
            "handover@intranet.localhost",
        )
        h.send(mail(subject="Another", message_id="<another@example.org>"), "handover@intranet.localhost")
        h.wait("<re@example.org>")
        h.wait("<another@example.org>")
        assert worker.model() is model  # the gateway's own commits did not make it read everything again
        # An editor writes a post by hand and commits it; a reply to it by mail lands in its topic.
        hand = write(
            root,
            "communities/handover/posts/by-hand.md",
            "---\nmessage_id: <hand@example.org>\nauthor: ann.lee\ndate: 2026-11-03T09:00:00+00:00\n"
            "subject: Written by hand\n---\nHello.\n",
        )
        git(root, "add", str(hand))
        git(root, "-c", "user.name=Editor", "-c", "user.email=e@example.org", "commit", "-qm", "A post by hand")
        h.send(
            mail(subject="Re: Written by hand", message_id="<re-hand@example.org>", in_reply_to="<hand@example.org>"),
            "handover@intranet.localhost",
        )
        record = h.wait("<re-hand@example.org>")[0]
        assert record["reason"] == "reply"
        assert worker.model() is model  # brought up to date, not read again
        assert h.post("<re-hand@example.org>").topic == "<hand@example.org>"
    assert (root / ".intranet" / "index-cache.json").is_file()
    restarted = Worker(root, read_settings(root))
    known = restarted.model().known("handover")
    assert known.topic_of["<re-hand@example.org>"] == "<hand@example.org>"
    assert status(root) == ""


CRASH_IN_SWAP = """
import os, signal, sys
from pathlib import Path
from mailgateway.store import Store
root = Path(sys.argv[1])
store = Store(root)
path = root / "communities/handover/posts/00/post.md"
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text("post\\n")
store.commit([path], subject="handover: 0", body="", author=("Ann Lee", "ann.lee@example.org"),
             committer=("Gateway", "gw@example.org"), trailers={"Message-ID": "<m0@example.org>"})
# The next swap: journalled, then libgit2 has made the branch's lock file when the process dies.
store._journal_swap("refs/heads/main", "0" * 40)
(root / ".git/refs/heads/main.lock").write_text("")
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_crash_inside_the_branch_swap_leaves_no_stale_ref_lock(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    repo = Path(__file__).resolve().parent.parent
    crashed = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASH_IN_SWAP), str(root)], cwd=repo)
    assert crashed.returncode == -9
    assert (root / ".git/refs/heads/main.lock").exists()
    (root / ".git/refs/heads/other.lock").write_text("")  # not journalled: someone else's, left alone
    worker = Worker(root, read_settings(root))
    assert worker.acquire()
    assert not (root / ".git/refs/heads/main.lock").exists()
    assert (root / ".git/refs/heads/other.lock").exists()
    made = commit(worker.store, write(root, "communities/handover/posts/01/post.md", "next\n"))
    worker.stop()
    assert made is not None
    assert status(root) == ""


def test_a_branch_lock_held_for_a_moment_delays_the_commit(tmp_path: Path) -> None:
    import threading

    root = git_root(tmp_path / "intranet")
    ref_lock = root / ".git/refs/heads/main.lock"
    ref_lock.write_text("")  # `git gc` packing refs, or an editor's `git update-ref`
    threading.Timer(0.3, ref_lock.unlink).start()
    store = Store(root)
    made = commit(store, write(root, "communities/handover/posts/ab/post.md", "hi\n"))
    store.flush()
    assert made is not None and git(root, "rev-parse", "HEAD").strip() == made.sha
    assert status(root) == ""


# -- many blobs at once: a pack (mailgateway/gitpack.py) ---------------------------------------------


@pytest.mark.parametrize("large_from", [gitpack.LARGE_OFFSET, 1000])
def test_a_pack_of_blobs_is_read_by_git_and_by_libgit2(tmp_path: Path, monkeypatch, large_from: int) -> None:
    """Every blob comes back as it went in; ``git verify-pack`` and ``git fsck`` find nothing wrong,
    also with offsets in the index's 64-bit table (forced here from 1,000 bytes on)."""
    monkeypatch.setattr(gitpack, "LARGE_OFFSET", large_from)
    root = git_root(tmp_path / "r")
    store = Store(root)
    rng = random.Random(14)
    blobs = [b"", b"x", b"post\n"] + [rng.randbytes(n) for n in (15, 16, 17, 127, 128, 2047, 70_000, 300_000)]
    pack = store.blob_writer()
    assert isinstance(pack, gitpack.BlobPack)
    ids = [pack.add(data) for data in blobs]
    assert pack.add(blobs[4]) == ids[4]  # once in the pack
    pack.close()
    packs = list((root / ".git" / "objects" / "pack").glob("pack-*.idx"))
    assert len(packs) == 1 and not list(packs[0].parent.glob("tmp_*"))
    git(root, "verify-pack", str(packs[0]))
    git(root, "fsck", "--full", "--no-dangling")
    repo = pygit2.Repository(str(root))
    for data, oid in zip(blobs, ids, strict=True):
        assert repo[oid].data == data
        hashed = subprocess.run(
            ["git", "hash-object", "--stdin"], cwd=root, input=data, capture_output=True, check=True
        )
        assert hashed.stdout.decode().strip() == oid
    cat = subprocess.run(["git", "cat-file", "blob", ids[-1]], cwd=root, capture_output=True, check=True)
    assert cat.stdout == blobs[-1]


def test_an_empty_or_abandoned_pack_leaves_nothing(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    folder = root / ".git" / "objects" / "pack"
    before = sorted(folder.iterdir())
    gitpack.BlobPack(root / ".git").close()
    pack = gitpack.BlobPack(root / ".git")
    pack.add(b"never committed")
    pack.abandon()
    assert sorted(folder.iterdir()) == before


def test_a_blob_whose_end_was_compressed_elsewhere_reads_back_whole(tmp_path: Path) -> None:
    """BlobPack.add with the deflated end of a blob (as import workers make it): git and libgit2
    read every blob back, ``git fsck`` finds nothing wrong, whatever the split."""
    root = git_root(tmp_path / "r")
    store = Store(root)
    rng = random.Random(15)
    words = [b"ward ", b"round ", "Grüße ".encode(), b"\n", b"---\n"]
    blobs = [b"".join(rng.choice(words) for _ in range(rng.randint(0, 3000))) for _ in range(30)]
    blobs += [rng.randbytes(n) for n in (0, 1, 5000, 70_000)]
    pack = store.blob_writer()
    assert isinstance(pack, gitpack.BlobPack)
    ids = []
    for data in blobs:
        n = rng.choice([0, len(data), rng.randint(0, len(data))])
        ids.append(pack.add(data, (n, gitpack.deflated_end(data[len(data) - n :]))))
    pack.close()
    git(root, "fsck", "--full", "--no-dangling")
    repo = pygit2.Repository(str(root))
    assert [repo[oid].data for oid in ids] == blobs


def test_trees_written_into_a_pack_are_those_libgit2_writes(tmp_path: Path) -> None:
    """packed_tree makes the very trees Store's tree builder makes: Git's order (a folder sorts as if
    its name ended in "/"), files replaced and removed, a folder left empty gone, an empty root."""
    from mailgateway.store import FILE, tree_with

    root = git_root(tmp_path / "r")
    repo = pygit2.Repository(str(root))
    one, two = str(repo.create_blob(b"one\n")), str(repo.create_blob(b"two\n"))
    tree = repo.head.peel(pygit2.Commit).tree
    changes: list[dict[str, tuple[int, str] | None]] = [
        {"a/b.md": (FILE, one), "a.b": (FILE, one), "a0": (FILE, one), "a-": (FILE, one), "ü/é.md": (FILE, two)},
        {"gone/x.md": (FILE, one), "a/c/d.md": (FILE, two), "communities/handover/posts/ab/p.md": (FILE, one)},
        {"gone/x.md": None, "a.b": (FILE, two), "a/b.md": None, "README.md": None, "a/c": None},
        {name: None for name in [str(entry.name) for entry in tree] + ["a", "a.b", "a0", "a-", "ü", "gone"]},
    ]
    for change in changes:
        expected = tree_with(repo, tree, change)
        pack = gitpack.BlobPack(root / ".git")
        assert gitpack.packed_tree(repo, tree, change, pack) == str(expected)
        pack.close()
        tree = repo[expected].peel(pygit2.Tree)
    assert len(tree) == 0
    git(root, "fsck", "--full", "--no-dangling")
