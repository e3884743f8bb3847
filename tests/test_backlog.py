"""The updater's order: new mail first, an editor's big commit in parts behind it (pure)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from generator.backlog import Backlog
from generator.builder import FULL_BUILD_ABOVE, Builder
from intranet.model import Change


def post(topic: str) -> Any:
    return SimpleNamespace(topic=topic)


def change(seq: int, *relpaths: str, topic: str = "<t@x>", structure: tuple[str, ...] = ()) -> Change:
    return Change(seq, posts={"c": {r: (None, post(topic)) for r in relpaths}}, structure=list(structure))


def relpaths(change: Change | None) -> list[str]:
    return sorted(r for pairs in (change.posts if change else {}).values() for r in pairs)


def test_small_changes_go_now_and_a_big_one_waits_in_parts() -> None:
    backlog = Backlog(part=3)
    big = Change(1, posts={"c": {f"p{n}": (None, post(f"<t{n}@x>")) for n in range(7)}}, structure=["people/a.yml"])
    now = backlog.add([big, change(2, "mail1")])
    assert relpaths(now) == ["mail1"]
    assert now is not None and now.structure == ["people/a.yml"]  # what it did to people is never deferred
    assert backlog.waiting_posts == 7
    parts = []
    while (part := backlog.next_part()) is not None:
        assert part.seq == 1
        parts.append(relpaths(part))
    assert parts == [["p0", "p1", "p2"], ["p3", "p4", "p5"], ["p6"]]
    assert not backlog


def test_a_newer_change_takes_its_posts_out_of_the_waiting_ones() -> None:
    backlog = Backlog(part=2)
    assert backlog.add([change(1, "a", "b", "c")]) is None
    now = backlog.add([change(2, "b")])  # the gateway's edit of a post the big change also wrote
    assert relpaths(now) == ["b"]
    assert relpaths(backlog.next_part()) == ["a", "c"]
    assert backlog.next_part() is None


def test_a_topic_s_posts_go_one_after_another() -> None:
    backlog = Backlog(part=2)
    big = Change(
        1, posts={"c": {"a3": (None, post("<a@x>")), "b1": (None, post("<b@x>")), "a1": (None, post("<a@x>"))}}
    )
    big.posts["c"]["a2"] = (None, post("<a@x>"))
    backlog.add([big])
    assert relpaths(backlog.next_part()) == ["a1", "a2"]
    assert relpaths(backlog.next_part()) == ["a3", "b1"]


def test_a_change_big_enough_for_a_full_build_goes_whole() -> None:
    backlog = Backlog(part=2, whole_above=4)
    now = backlog.add([change(1, "a", "b", "c", "d", "e")])
    assert relpaths(now) == ["a", "b", "c", "d", "e"]
    assert not backlog


def test_big_changes_merge_while_they_wait() -> None:
    backlog = Backlog(part=10)
    backlog.add([change(1, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k")])
    later = change(3, *[f"z{n}" for n in range(11)])
    later.posts["c"]["a"] = (post("<t@x>"), None)  # the later commit deletes one the first wrote
    backlog.add([later])
    assert backlog.waiting is not None and backlog.waiting.seq == 3
    assert backlog.waiting.posts["c"]["a"][1] is None
    assert backlog.waiting_posts == 22


def test_a_burst_of_small_changes_goes_in_turns_and_never_makes_a_full_build() -> None:
    backlog = Backlog(part=5, whole_above=500, most=100)
    burst = [change(n, f"m{n:04d}", topic=f"<t{n}@x>") for n in range(1, 351)]
    first = backlog.add(burst)
    assert first is not None and first.post_count == 100 and backlog
    later = backlog.add([change(400, "m0300", "new")])  # (m0300 again: its newest state)
    assert later is not None and later.post_count == 100
    assert relpaths(later)[0] == "m0101"  # what waited goes first
    rest = [backlog.add([]) for _ in range(3)]
    assert [c.post_count if c else 0 for c in rest] == [100, 51, 0] and not backlog
    seen = relpaths(first) + relpaths(later) + relpaths(rest[0]) + relpaths(rest[1])
    assert sorted(seen) == sorted({*(f"m{n:04d}" for n in range(1, 351)), "new"})


def test_one_change_big_enough_for_a_full_build_is_not_cut() -> None:
    backlog = Backlog(part=5, whole_above=500, most=100)
    now = backlog.add([change(1, *[f"p{n}" for n in range(600)]), change(2, "mail")])
    assert now is not None and now.post_count == 601 and not backlog


def test_a_full_build_takes_over_at_a_tenth_of_the_posts_shown(tmp_path: Path) -> None:
    builder = Builder(tmp_path)
    try:
        assert builder.full_build_above == FULL_BUILD_ABOVE  # a small intranet: a full build is quick
        builder.posts = {"a": dict.fromkeys(map(str, range(12_000))), "b": dict.fromkeys(map(str, range(8_000)))}
        assert builder.full_build_above == 2_000  # a large one: updates are cheaper, up to a tenth of it
    finally:
        builder.close()
