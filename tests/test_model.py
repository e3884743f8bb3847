"""The one model of the intranet a process holds: fed by paths, commits and the gateway's own commits."""

from __future__ import annotations

from pathlib import Path

from helpers import add_community, add_post
from mailtest import git, git_root

from intranet.format import post_relpath
from intranet.model import Change, Model
from intranet.threads import build_topics


def commit_all(root: Path, message: str) -> None:
    git(root, "add", "-A")
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", message)


def test_apply_reads_what_changed_once_and_tells_subscribers_in_order(small_root: Path) -> None:
    model = Model(small_root)
    model.load()
    heard: list[Change] = []
    model.subscribe(heard.append)
    relpath = post_relpath("handover", "<new@example.org>")
    add_post(small_root, "handover", "<new@example.org>", "Night rota", "Who swaps?", "ann.lee")
    change = model.apply([relpath])
    assert change.posts == {"handover": {relpath: (None, model.posts["handover"][relpath])}}
    assert model.apply([relpath]) == Change(change.seq + 1)  # the same file again: nothing, nobody told
    assert [c.seq for c in heard] == [change.seq]
    (small_root / relpath).unlink()
    gone = model.apply([relpath])
    assert gone.posts["handover"][relpath][1] is None and relpath not in model.posts["handover"]
    assert [c.seq for c in heard] == [change.seq, gone.seq]


def test_a_snapshot_says_which_change_it_holds(small_root: Path) -> None:
    model = Model(small_root)
    model.load()
    add_post(small_root, "handover", "<snap@example.org>", "Snapshot", "Hello.", "ann.lee")
    change = model.apply([post_relpath("handover", "<snap@example.org>")])
    intranet, seq = model.snapshot()
    assert seq == change.seq
    assert "<snap@example.org>" in {p.message_id for p in intranet.posts}


def test_follow_reads_an_editors_commit_as_a_diff_and_structure_as_structure(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    model = Model(root, bodies=False)
    model.load()
    assert model.follow() is None  # nothing new
    add_post(root, "handover", "<edited@example.org>", "By hand", "Hello.", "ann.lee")
    add_community(root, "wound-care", mail="wound-care")
    commit_all(root, "A post and a community")
    change = model.follow()
    assert change is not None
    assert set(change.posts["handover"]) == {post_relpath("handover", "<edited@example.org>")}
    assert "communities/wound-care/community.yml" in change.structure
    assert model.community_for("wound-care") is not None
    assert model.posts["handover"][post_relpath("handover", "<edited@example.org>")].body == ""  # no text kept
    assert model.known("handover").topic_of["<edited@example.org>"] == "<edited@example.org>"


def test_a_new_post_joins_the_known_threads_and_one_someone_waited_for_threads_again(small_root: Path) -> None:
    model = Model(small_root)
    model.load()
    add_post(small_root, "handover", "<late-reply@example.org>", "", "Me!", "ann.lee", in_reply_to="<late@example.org>")
    model.apply([post_relpath("handover", "<late-reply@example.org>")])
    assert model.known("handover").topic_of["<late-reply@example.org>"] == "<late-reply@example.org>"  # on its own
    add_post(small_root, "handover", "<late@example.org>", "Late shift", "Who covers?", "ann.lee")
    model.apply([post_relpath("handover", "<late@example.org>")])
    assert model.known("handover").topic_of["<late-reply@example.org>"] == "<late@example.org>"


def test_a_replys_derived_subject_follows_its_topics_title(small_root: Path) -> None:
    model = Model(small_root)
    model.load()
    first = add_post(small_root, "handover", "<rota@example.org>", "Rota", "Swaps?", "ann.lee")
    add_post(small_root, "handover", "<re@example.org>", "", "Me.", "ann.lee", in_reply_to="<rota@example.org>")
    model.apply([post_relpath("handover", "<rota@example.org>"), post_relpath("handover", "<re@example.org>")])
    reply_path = post_relpath("handover", "<re@example.org>")

    def reply_subject() -> str:
        build_topics(model.posts_of("handover"))
        return model.posts["handover"][reply_path].subject

    assert reply_subject() == "Re: Rota"
    first.write_text(first.read_text().replace("subject: Rota", "subject: Night rota"))
    change = model.apply([post_relpath("handover", "<rota@example.org>")])
    assert list(change.posts["handover"]) == [post_relpath("handover", "<rota@example.org>")]
    assert reply_subject() == "Re: Night rota"
    assert not model.apply([reply_path])  # its file did not change: threading's subject is no change


def test_structure_first_then_posts_and_a_post_written_in_between_is_kept(small_root: Path) -> None:
    model = Model(small_root)
    model.load_structure()  # what `intranet up` reads before it answers SMTP
    assert model.community_for("procurement") is not None and model.person_for("ann.lee@example.org") is not None
    assert not model.loaded and not model.wait_loaded(0) and model.post_count() == 0
    relpath = post_relpath("handover", "<between@example.org>")
    add_post(small_root, "handover", "<between@example.org>", "Written meanwhile", "Hello.", "ann.lee")
    model.apply([relpath])  # the watcher saw it before the posts were read
    model.load_posts()
    assert model.loaded and model.wait_loaded(0)
    whole = Model(small_root)
    whole.load()
    assert model.posts == whole.posts and relpath in model.posts["handover"]
