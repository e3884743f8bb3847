"""What the worker knows: communities, people, and every post's Message-ID and topic.

Read from the work tree through the format module (:mod:`intranet.format`)
and threaded by :func:`intranet.threads.build_topics`, like the site. With
100,000 posts reading everything takes some seconds, so it is done as seldom
as possible:

- the gateway's own posts are added as they are committed (:meth:`Index.add`);
- after someone else's commit, only the post files that commit changed are
  read again, and only their communities are threaded again
  (:meth:`Index.update`; the changed paths come from a Git tree diff);
- the worker keeps a copy in ``<state_dir>/index-cache.json``, marked with the
  commit it describes, so a restart reads the posts changed since that commit
  only. The cache is only a cache: a missing, unreadable or foreign one means
  reading everything once, as before.

Each post is kept as a small record (community, Message-ID, topic, reply-to,
date, subject, closed), enough to thread it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from intranet.addresses import topic_ref
from intranet.format import (
    COMMUNITIES,
    POSTS_DIR,
    Author,
    Community,
    Post,
    iter_post_paths,
    read_intranet,
    read_post,
)
from intranet.threads import build_topics

log = logging.getLogger(__name__)

CACHE_FILE = "index-cache.json"
CACHE_VERSION = 1

# relpath -> (community, message_id, topic, in_reply_to, date (ISO), subject, closed)
Record = tuple[str, str, str, str | None, str, str, bool]


@dataclass
class Known:
    """What the worker knows of one community's posts."""

    topic_of: dict[str, str]  # Message-ID -> topic's first Message-ID
    by_ref: dict[str, str]  # topic_ref -> topic's first Message-ID
    closed: set[str]  # first Message-IDs of closed topics
    titles: dict[str, str]  # first Message-ID -> title
    paths: dict[str, str] = field(default_factory=dict)  # Message-ID -> post file, relative to the root


def record_of(post: Post) -> Record:
    return (
        post.community,
        post.message_id,
        post.topic,
        post.in_reply_to,
        post.date.isoformat(),
        post.subject,
        post.closed,
    )


def _stub(relpath: str, record: Record) -> Post:
    """A post with only what threading needs."""
    community, message_id, topic, in_reply_to, date, subject, closed = record
    return Post(
        community=community,
        relpath=relpath,
        message_id=message_id,
        topic=topic,
        in_reply_to=in_reply_to,
        author=Author(),
        date=dt.datetime.fromisoformat(date),
        subject=subject,
        source="",
        tags=[],
        attachments=[],
        body="",
        closed=closed,
    )


def is_post_path(root: Path, relpath: str) -> bool:
    """True if ``relpath`` is where a post file lives (as :func:`intranet.format.iter_post_paths` walks)."""
    parts = relpath.split("/")
    if len(parts) < 4 or parts[0] != COMMUNITIES or parts[2] != POSTS_DIR or not parts[-1].endswith(".md"):
        return False
    if any(part.startswith(".") for part in parts[3:]):
        return False
    folder = root / "/".join(parts[:3])
    for part in parts[3:-1]:  # inside a post's attachment folder: an attachment, not a post
        if (folder / f"{part}.md").is_file():
            return False
        folder = folder / part
    return True


class Index:
    """Communities, people and known Message-IDs, read from the work tree."""

    def __init__(self, root: Path, records: dict[str, Record] | None = None) -> None:
        self.root = root
        self.communities: dict[str, Community] = {}
        self.reload_people()
        if records is None:  # a first start: every post is read once, one at a time, and only its record kept
            records = {}
            for slug in sorted(self.communities_by_slug()):
                for path in iter_post_paths(self.root, slug, []):
                    post, _ = read_post(self.root, slug, path)
                    if post is not None:
                        records[post.relpath] = record_of(post)
        self.records = records
        self.known: dict[str, Known] = {}
        self._thread(set(self.communities_by_slug()) | {r[0] for r in records.values()})

    def reload_people(self) -> None:
        """Re-read people and communities (subscriptions, bounces) without re-reading posts."""
        intranet = read_intranet(self.root, posts=False)
        self.communities.clear()
        self.communities.update({c.mail: c for c in intranet.communities.values()})
        self.by_email = intranet.person_by_email()
        self.people = intranet.people

    def communities_by_slug(self) -> dict[str, Community]:
        return {c.slug: c for c in self.communities.values()}

    def update(self, changed: list[str]) -> None:
        """Read again the post files among ``changed`` (paths relative to the root) and thread again
        the communities they are in; other paths make communities and people be read again."""
        posts = [p for p in changed if p.startswith(f"{COMMUNITIES}/") and f"/{POSTS_DIR}/" in p]
        if len(posts) < len(changed):
            self.reload_people()
        slugs = self.communities_by_slug()
        touched = set()
        for relpath in posts:
            old = self.records.pop(relpath, None)
            if old is not None:
                touched.add(old[0])
            slug = relpath.split("/")[1]
            path = self.root / relpath
            if slug in slugs and is_post_path(self.root, relpath) and path.is_file() and not path.is_symlink():
                post, _ = read_post(self.root, slug, path)
                if post is not None:
                    self.records[relpath] = record_of(post)
                    touched.add(slug)
        self._thread(touched)

    def _thread(self, slugs: set[str]) -> None:
        by_community: dict[str, list[Post]] = {slug: [] for slug in slugs}
        for relpath, record in self.records.items():
            if record[0] in by_community:
                by_community[record[0]].append(_stub(relpath, record))
        for slug, posts in by_community.items():
            known = Known({}, {}, set(), {})
            for topic in build_topics(posts).get(slug, []):
                root_id = topic.root.message_id
                known.by_ref[topic_ref(root_id)] = root_id
                known.titles[root_id] = topic.title
                if topic.root.closed:
                    known.closed.add(root_id)
                for post in topic.posts:
                    known.topic_of[post.message_id] = root_id
                    known.paths[post.message_id] = post.relpath
            self.known[slug] = known

    def community_for(self, mail: str) -> Community | None:
        return self.communities.get(mail.lower())

    def known_in(self, slug: str) -> Known:
        return self.known.setdefault(slug, Known({}, {}, set(), {}))

    def elsewhere(self, slug: str, message_ids: list[str]) -> list[tuple[str, str]]:
        """(community, post file) of each of ``message_ids`` known in another community but not in ``slug``."""
        here = self.known_in(slug).topic_of
        return [
            (other, known.paths.get(mid, ""))
            for mid in message_ids
            if mid not in here
            for other, known in self.known.items()
            if other != slug and mid in known.topic_of
        ]

    def add(self, post: Post) -> None:
        """A post the gateway has just committed."""
        self.records[post.relpath] = record_of(post)
        known = self.known_in(post.community)
        known.topic_of[post.message_id] = post.topic
        known.paths[post.message_id] = post.relpath
        if post.topic == post.message_id:
            known.by_ref[topic_ref(post.topic)] = post.topic
            known.titles[post.topic] = post.subject

    # -- the cache ------------------------------------------------------------------

    def save(self, state_dir: Path, commit: str) -> None:
        """Keep the records for the next start, marked with the commit they describe."""
        data = {"version": CACHE_VERSION, "root": str(self.root), "commit": commit, "records": self.records}
        path = state_dir / CACHE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)


def load_cache(root: Path, state_dir: Path) -> tuple[str, dict[str, Record]] | None:
    """(commit, records) from the cache, or None if there is none this worker can use."""
    try:
        data = json.loads((state_dir / CACHE_FILE).read_text(encoding="utf-8"))
        if data.get("version") != CACHE_VERSION or data.get("root") != str(root):
            return None
        records = {str(k): tuple(v) for k, v in data["records"].items()}
        return str(data["commit"]), records  # type: ignore[return-value]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
