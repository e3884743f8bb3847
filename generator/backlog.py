"""What the site's updater applies next: new mail first, an editor's big commit in parts behind it.

A post that came in by mail is one small change of the model; an editor's commit of fifty posts is
one big one, which takes the updater seconds at ten thousand topics. Applied in the order they
came, the big one holds back every reply sent meanwhile. :class:`Backlog` takes the changes the
updater has received and says what to apply now (the small changes, merged, and what any change
did to people, communities and settings, which is never deferred), and keeps the posts of big
changes waiting, handed out :data:`PART` at a time (a topic's posts one after another), between the
small changes that keep coming.

Applying out of order is safe because the two never overlap: a post a newer change touches is
taken out of the waiting ones (the newer change already brings it to its latest state), and a
builder compares each post with the one its trees show, not with the change's "before".
Pure: no I/O, no clock.
"""

from __future__ import annotations

from intranet.model import Change, Pair, merged

PART = 5  # posts: a change with more waits, and is applied this many at a time
MOST = 100  # posts applied at once: the rest of a burst of small changes goes first at the next turn


class Backlog:
    """Changes received but not applied yet (see the module's docstring)."""

    def __init__(self, part: int = PART, whole_above: int | None = None, most: int = MOST) -> None:
        self.part = part
        self.most = most  # posts applied at once: more, from a burst of mail, wait
        self.whole_above = whole_above  # a change with more posts is applied whole (it makes a full build)
        self.waiting: Change | None = None  # posts of big changes, not applied yet
        self.overflow: Change | None = None  # small changes beyond ``most``: applied first at the next turn

    def __bool__(self) -> bool:
        return self.waiting is not None or self.overflow is not None

    @property
    def waiting_posts(self) -> int:
        return self.waiting.post_count if self.waiting is not None else 0

    def add(self, changes: list[Change]) -> Change | None:
        """Take ``changes`` (in the order received); what to apply now, or None."""
        now: list[Change] = []
        for change in changes:
            if change.post_count <= self.part or (
                self.whole_above is not None and change.post_count > self.whole_above
            ):
                now.append(change)
                continue
            if change.structure:
                now.append(Change(change.seq, structure=list(change.structure)))
            posts = Change(change.seq, posts=change.posts, forced=set(change.forced))
            self.waiting = posts if self.waiting is None else merged([self.waiting, posts])
        if self.overflow is not None:
            now.insert(0, self.overflow)
            self.overflow = None
        if not now:
            return None
        result = merged(now)
        whole = self.whole_above is not None and any(c.post_count > self.whole_above for c in now)
        if not whole and result.post_count > self.most:  # a burst of mail: the rest goes first next time
            result, self.overflow = _split(result, self.most)
        if self.waiting is not None:
            newer = {
                relpath
                for c in (result, self.overflow)
                if c is not None
                for pairs in c.posts.values()
                for relpath in pairs
            }
            self.waiting = _without(self.waiting, newer)
        return result

    def next_part(self) -> Change | None:
        """The next :data:`PART` waiting posts (a topic's together, in order), or None if none wait."""
        waiting = self.waiting
        if waiting is None:
            return None
        entries = sorted(
            ((slug, _topic(pair), relpath) for slug, pairs in waiting.posts.items() for relpath, pair in pairs.items())
        )
        taken = {relpath for _, _, relpath in entries[: self.part]}
        part = Change(waiting.seq, forced=waiting.forced & taken)
        for slug, pairs in waiting.posts.items():
            mine = {relpath: pair for relpath, pair in pairs.items() if relpath in taken}
            if mine:
                part.posts[slug] = mine
        self.waiting = _without(waiting, taken)
        return part


def _split(change: Change, count: int) -> tuple[Change, Change]:
    """The first ``count`` posts of ``change`` (with what it did to people and settings), and the rest."""
    first = Change(change.seq, structure=list(change.structure))
    rest = Change(change.seq)
    for n, (slug, relpath, pair) in enumerate(
        sorted((slug, relpath, pair) for slug, pairs in change.posts.items() for relpath, pair in pairs.items())
    ):
        into = first if n < count else rest
        into.posts.setdefault(slug, {})[relpath] = pair
        if relpath in change.forced:
            into.forced.add(relpath)
    return first, rest


def _topic(pair: Pair) -> str:
    before, after = pair
    post = after if after is not None else before
    return post.topic if post is not None else ""


def _without(change: Change, relpaths: set[str]) -> Change | None:
    """``change`` less the posts at ``relpaths``; None if no post is left."""
    rest = Change(change.seq, forced=change.forced - relpaths)
    for slug, pairs in change.posts.items():
        kept = {relpath: pair for relpath, pair in pairs.items() if relpath not in relpaths}
        if kept:
            rest.posts[slug] = kept
    return rest if rest.posts else None
