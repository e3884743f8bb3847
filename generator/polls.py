"""A poll's results as the topic page shows them (pure): each option's count and share, and the bar's width.

The page draws each share as a horizontal bar in inline SVG, made at build time (no script), with
the counts also as text: the bars are decoration for who can see them (``aria-hidden``), the text
is what a screen reader reads (templates/poll.html). Who voted what is not shown: a poll by mail is
a quick show of hands, and its counts are what a reader needs; the votes by handle stay in the
topic's file, as Git keeps every change (docs/format.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from intranet.format import Post


@dataclass(frozen=True)
class Option:
    number: int  # from 1, as people vote for it
    text: str
    count: int
    share: int  # per cent of the votes, rounded
    width: float  # the bar's length, out of 100: the share, unrounded


@dataclass(frozen=True)
class Results:
    options: tuple[Option, ...]
    votes: int  # how many people voted (one vote each)
    closed: bool


def results_of(post: Post) -> Results | None:
    """The results of the poll ``post`` (a topic's first post) opens, or None if it opens none."""
    if not post.poll:
        return None
    counts = [0] * len(post.poll)
    for _, option in post.votes:
        if 1 <= option <= len(counts):
            counts[option - 1] += 1
    total = sum(counts)
    options = tuple(
        Option(n, text, count, round(100 * count / total) if total else 0, 100 * count / total if total else 0.0)
        for n, (text, count) in enumerate(zip(post.poll, counts, strict=True), 1)
    )
    return Results(options, total, post.closed)
