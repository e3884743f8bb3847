"""The pusher's decisions (pure): what to do given the heads, and how a file of ours is replayed."""

from __future__ import annotations

import yaml

from mailgateway.pushplan import (
    FORWARD,
    IDLE,
    MAX_RETRY,
    PUSH,
    REPLAY,
    Heads,
    merge_file,
    own,
    plan,
    retry_delay,
)


def test_plan_follows_the_heads() -> None:
    assert plan(Heads("a", "a", "")) == IDLE
    assert plan(Heads("b", "a", "a")) == PUSH  # ours is theirs plus commits of ours
    assert plan(Heads("b", "", "")) == PUSH  # the remote's branch is empty
    assert plan(Heads("a", "b", "a")) == FORWARD  # an editor pushed; nothing of ours waits
    assert plan(Heads("b", "c", "a")) == REPLAY  # both moved
    assert plan(Heads("b", "c", "")) == REPLAY  # no shared history (a force-push of another history)
    # Ahead, but with an editor's commit a force-push took off the remote: not pushed back, replayed without it.
    assert plan(Heads("b", "a", "a", strangers=True)) == REPLAY


def test_retries_back_off_to_a_ceiling() -> None:
    delays = [retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [1.0, 2.0, 4.0, 8.0]
    assert delays == sorted(delays) and delays[-1] == MAX_RETRY


def test_own_commits_are_the_gateways_only() -> None:
    commits = [("1", "intranet-noreply@x.org"), ("2", "editor@x.org"), ("3", "Intranet-Noreply@X.org")]
    assert own(commits, "intranet-noreply@x.org") == ["1", "3"]


def test_a_post_goes_in_as_it_is_and_a_post_already_there_is_not_made_again() -> None:
    post = b"---\nmessage_id: <a@x>\n---\nHello.\n"
    assert merge_file("communities/c/posts/2026/a.md", None, post, None).data == post
    same = merge_file("communities/c/posts/2026/a.md", None, post, post)
    assert same.data == post and not same.note


def test_the_gateways_subscription_is_made_on_the_editors_version() -> None:
    base = b"# Who gets mail\nann.lee: digest\n"
    ours = b"# Who gets mail\nann.lee: digest\ncy.diaz: each\n"
    theirs = b"# Who gets mail\nann.lee: digest  # asked at the meeting\nbo.chen: none\n"
    merged = merge_file("communities/c/subscribers.yml", base, ours, theirs)
    text = merged.data.decode()
    assert yaml.safe_load(text) == {"ann.lee": "digest", "bo.chen": "none", "cy.diaz": "each"}
    assert "# asked at the meeting" in text and text.startswith("# Who gets mail")
    assert not merged.note


def test_a_removed_key_and_a_nested_change_are_made_on_the_editors_version() -> None:
    base = yaml.safe_dump({"name": "Ann", "undeliverable": {"a@x": "2026-01-01", "b@x": "2026-01-02"}}).encode()
    ours = yaml.safe_dump({"name": "Ann", "undeliverable": {"b@x": "2026-01-02", "c@x": "2026-02-01"}}).encode()
    theirs = yaml.safe_dump(
        {"name": "Ann Lee", "role": "Nurse", "undeliverable": {"a@x": "2026-01-01", "b@x": "2026-01-02"}}
    ).encode()
    data = yaml.safe_load(merge_file("people/ann.yml", base, ours, theirs).data)
    assert data == {"name": "Ann Lee", "role": "Nurse", "undeliverable": {"b@x": "2026-01-02", "c@x": "2026-02-01"}}
    gone = yaml.safe_dump({"name": "Ann"}).encode()  # mail resumed: the whole key goes
    assert yaml.safe_load(merge_file("people/ann.yml", base, gone, theirs).data) == {"name": "Ann Lee", "role": "Nurse"}


def test_both_writing_a_new_file_keeps_the_editors_keys() -> None:
    ours = b"ann.lee: each\nbo.chen: digest\n"
    theirs = b"bo.chen: none\n"
    merged = merge_file("communities/c/subscribers.yml", None, ours, theirs)
    assert yaml.safe_load(merged.data) == {"bo.chen": "none", "ann.lee": "each"}
    assert "bo.chen" in merged.note


def test_a_key_the_editor_changed_too_keeps_the_editors_value() -> None:
    base = b"ann.lee: digest\nbo.chen: none\n"
    ours = b"ann.lee: each\nbo.chen: each\n"
    theirs = b"ann.lee: none\nbo.chen: none\n"  # the editor turned Ann's mail off; Bo's left alone
    merged = merge_file("communities/c/subscribers.yml", base, ours, theirs)
    assert yaml.safe_load(merged.data) == {"ann.lee": "none", "bo.chen": "each"}
    assert "ann.lee" in merged.note and "bo.chen" not in merged.note


def test_an_editors_broken_file_or_other_text_is_kept_and_said() -> None:
    broken = merge_file("people/ann.yml", b"name: Ann\n", b"name: Ann\nx: 1\n", b"name: [Ann\n")
    assert broken.data == b"name: [Ann\n" and "YAML" in broken.note
    page = merge_file("communities/c/pages/a.md", b"one\n", b"two\n", b"three\n")
    assert page.data == b"three\n" and page.note
    assert merge_file("people/ann.yml", b"a: 1\n", b"a: 1\n", b"a: 2\n").data == b"a: 2\n"  # not ours
