"""What many posts a process keeps hold alike, held once: at 100,000 posts, some 40 MB.

Read from files, each post has its own copy of its community's name, of ``smtp``, of its topic's
Message-ID (which its topic's first post holds too), of its parent's Message-ID, and of its author
(an :class:`~intranet.format.records.Author` equal to those of the author's other posts).
:func:`share` swaps these for one shared object each: the strings interned (``sys.intern``), the
authors from one table (authors are frozen, so sharing them changes nothing a reader can see).
"""

from __future__ import annotations

import sys

from .records import Author, Post

_AUTHORS: dict[Author, Author] = {}  # every author seen, once (as many as people write: small)


def share(post: Post) -> Post:
    """``post``, its shared fields swapped for the one copy of each (in place); ``post``."""
    post.community = sys.intern(post.community)
    post.source = sys.intern(post.source)
    post.message_id = sys.intern(post.message_id)
    post.topic = sys.intern(post.topic)
    if post.in_reply_to:
        post.in_reply_to = sys.intern(post.in_reply_to)
    post.author = _AUTHORS.setdefault(post.author, post.author)
    return post
