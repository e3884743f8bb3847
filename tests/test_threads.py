"""Threading posts into topics."""

from __future__ import annotations

import datetime as dt

from intranet.format import Author, Post
from intranet.threads import build_topics

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def post(
    mid: str, parent: str | None = None, topic: str = "", minutes: int = 0, community: str = "c", subject: str = ""
) -> Post:
    return Post(
        community=community,
        relpath=f"communities/{community}/posts/{mid}.md",
        message_id=f"<{mid}@x>",
        topic=f"<{topic}@x>" if topic else (f"<{mid}@x>" if parent is None else ""),
        in_reply_to=f"<{parent}@x>" if parent else None,
        author=Author(handle="ann"),
        date=T0 + dt.timedelta(minutes=minutes),
        subject=subject or (f"S {mid}" if parent is None else ""),
        source="smtp",
        tags=[],
        attachments=[],
        body=mid,
    )


def order(topic) -> list[tuple[str, int]]:
    return [(e.post.body, e.depth) for e in topic.entries]


def test_branching_thread_is_depth_first_with_siblings_by_date() -> None:
    posts = [
        post("root"),
        post("b", "root", minutes=5),
        post("a", "root", minutes=1),
        post("a1", "a", minutes=9),
        post("b1", "b", minutes=6),
    ]
    [topic] = build_topics(posts)["c"]
    assert order(topic) == [("root", 0), ("a", 1), ("a1", 2), ("b", 1), ("b1", 2)]
    assert topic.reply_count == 4 and topic.last.body == "a1"
    assert [e.post.subject for e in topic.entries][1] == "Re: S root"


def test_reply_with_only_topic_field_joins_topic_and_orphans_start_their_own() -> None:
    posts = [
        post("root"),
        post("late", "missing-parent", topic="root", minutes=3),
        post("orphan", "nowhere", minutes=4),
    ]
    topics = build_topics(posts)["c"]
    by_root = {t.root.body: t for t in topics}
    assert order(by_root["root"]) == [("root", 0), ("late", 1)]
    assert order(by_root["orphan"]) == [("orphan", 0)]


def test_threads_never_cross_communities() -> None:
    posts = [post("root", community="a"), post("reply", "root", topic="root", community="b", minutes=1)]
    topics = build_topics(posts)
    assert [t.root.body for t in topics["a"]] == ["root"]
    assert [t.root.body for t in topics["b"]] == ["reply"]


def test_reply_cycles_do_not_hang_or_lose_posts() -> None:
    x, y = post("x", "y", minutes=1), post("y", "x", minutes=2)
    x.topic = y.topic = ""
    topics = build_topics([x, y])["c"]
    assert sorted(p.body for t in topics for p in t.posts) == ["x", "y"]


def test_topics_sorted_by_latest_activity() -> None:
    posts = [post("old"), post("new", minutes=10), post("bump", "old", minutes=20)]
    assert [t.root.body for t in build_topics(posts)["c"]] == ["old", "new"]
