"""The gateway's cache of its model: posts without their text, marked with the commit they describe.

``<state_dir>/index-cache.json`` lets ``intranet gateway`` start without
reading every post file: it loads the cached posts, then reads only the files
changed between the cached commit and HEAD. It is only a cache: a missing,
unreadable or foreign one means reading everything once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from pathlib import Path

from .format import Author, Fields, Post
from .format.events import read_event

log = logging.getLogger(__name__)

CACHE_FILE = "index-cache.json"
CACHE_VERSION = 4

# relpath -> (community, message_id, topic, in_reply_to, date (ISO), subject, closed, content_hash,
# author's handle ("" for a sender not in people/), poll options, event entry)
Record = tuple[str, str, str, str | None, str, str, bool, str, str, list[str], dict | None]


def record_of(post: Post) -> Record:
    return (
        post.community,
        post.message_id,
        post.topic,
        post.in_reply_to,
        post.date.isoformat(),
        post.subject,
        post.closed,
        post.content_hash,
        post.author.handle or "",  # who may #accept, and close their poll
        list(post.poll),  # what a reply to the topic votes for
        post.event.to_yaml() if post.event is not None else None,  # (calendar mail finds its event by UID)
    )


def post_of(relpath: str, record: Record) -> Post:
    community, message_id, topic, in_reply_to, date, subject, closed, content_hash, handle, poll, event = record
    return Post(
        community=community,
        relpath=relpath,
        message_id=message_id,
        topic=topic,
        in_reply_to=in_reply_to,
        author=Author(handle=handle or None),
        date=dt.datetime.fromisoformat(date),
        subject=subject,
        source="",
        tags=[],
        attachments=[],
        body="",
        content_hash=content_hash,
        closed=closed,
        poll=tuple(poll),
        event=read_event(Fields({"event": event}, relpath, {})) if event else None,
    )


def save(state_dir: Path, root: Path, commit: str, posts: dict[str, dict[str, Post]]) -> None:
    """Keep ``posts`` for the next start, marked with the commit they describe."""
    records = {relpath: record_of(p) for slug in sorted(posts) for relpath, p in posts[slug].items()}
    data = {"version": CACHE_VERSION, "root": str(root), "commit": commit, "records": records}
    path = state_dir / CACHE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def load(state_dir: Path, root: Path) -> tuple[str, dict[str, Post]] | None:
    """(commit, posts) from the cache, or None if there is none this root can use."""
    try:
        data = json.loads((state_dir / CACHE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("the model cache %s cannot be read (%s): reading every post", state_dir / CACHE_FILE, exc)
        return None
    try:
        if data.get("version") != CACHE_VERSION or data.get("root") != str(root):
            return None
        posts = {str(k): post_of(str(k), tuple(v)) for k, v in data["records"].items()}  # type: ignore[arg-type]
        return str(data["commit"]), posts
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        log.warning("the model cache %s is not usable (%s): reading every post", state_dir / CACHE_FILE, exc)
        return None
