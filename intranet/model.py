"""The one in-memory model of the intranet a process holds, fed by one stream of changes.

A process (``intranet up``, ``intranet gateway``, ``intranet import``) holds
one :class:`Model`: communities, people and posts as read through
:mod:`intranet.format`. The builder, the worker and the notifier all read it;
none keeps a copy of its own.

Everything that changes it goes through :meth:`Model.apply`, which takes the
paths (relative to the root) that changed, reads just those files again and
returns a :class:`Change` saying what it did. Paths come from three places,
all of them the same stream to the model:

- :meth:`Model.follow`: the commits between the HEAD the model describes and
  the current HEAD (a Git tree diff: an editor's commit, a pull);
- :meth:`Model.committed`: the gateway's own commit, told by the store;
- a watcher of the work tree in ``intranet up`` (:mod:`intranet.watch`).

Applying the same paths twice changes nothing the second time, so a change
seen by two of them is harmless. Every change is numbered (``seq``) and handed
to the subscribers (:meth:`Model.subscribe`) in order; a subscriber that also
reads a :meth:`Model.snapshot` skips the changes the snapshot already holds.

:meth:`Model.load` reads in two phases: :meth:`Model.load_structure`
(communities and people: cheap, enough for ``intranet up`` to answer SMTP
and serve the last site at once) and :meth:`Model.load_posts` (every post;
only then is the model ``loaded``, and :meth:`Model.wait_loaded` returns).

A model for the gateway alone keeps posts without their text (``bodies=False``,
what threading and Message-ID look-ups need) and may start from a cache of
them in ``<state_dir>/index-cache.json``, marked with the commit it describes,
so a restart reads only the posts changed since (:mod:`intranet.modelcache`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import modelcache
from .addresses import short_ref, topic_ref
from .errors import StoreError
from .format import (
    COMMUNITIES,
    PEOPLE,
    POSTS_DIR,
    Community,
    Intranet,
    Person,
    Post,
    Problem,
    cross_check,
    iter_post_paths,
    normalize_address,
    read_intranet,
    read_post,
    share,
    spill,
)
from .gitrepo import changed_paths, discover, head_of
from .memory import settle
from .quarantine import Quarantine
from .threads import build_topics

log = logging.getLogger(__name__)

Pair = tuple[Post | None, Post | None]  # a post before and after a change; None: absent


@dataclass
class Change:
    """What one :meth:`Model.apply` did."""

    seq: int
    posts: dict[str, dict[str, Pair]] = field(default_factory=dict)  # community -> relpath -> (before, after)
    forced: set[str] = field(default_factory=set)  # posts whose attachments changed (same post, new files)
    structure: list[str] = field(default_factory=list)  # other paths: people, communities' files, mkdocs.yml

    def __bool__(self) -> bool:
        return bool(self.posts or self.structure)

    @property
    def post_count(self) -> int:
        return sum(len(pairs) for pairs in self.posts.values())


def merged(changes: list[Change]) -> Change:
    """Several changes of the model as one: each post's state before the first and after the last."""
    result = Change(max(c.seq for c in changes))
    for change in sorted(changes, key=lambda c: c.seq):
        for slug, pairs in change.posts.items():
            into = result.posts.setdefault(slug, {})
            for relpath, (before, after) in pairs.items():
                into[relpath] = (into[relpath][0] if relpath in into else before, after)
        result.forced |= change.forced
        result.structure += [p for p in change.structure if p not in result.structure]
    return result


@dataclass
class Known:
    """What one community's threads say, for the gateway: where each Message-ID belongs."""

    topic_of: dict[str, str] = field(default_factory=dict)  # Message-ID -> topic's first Message-ID
    by_ref: dict[str, str] = field(default_factory=dict)  # topic_ref and short_ref -> topic's first Message-ID
    closed: set[str] = field(default_factory=set)  # first Message-IDs of closed topics
    titles: dict[str, str] = field(default_factory=dict)  # first Message-ID -> title
    paths: dict[str, str] = field(default_factory=dict)  # Message-ID -> post file, relative to the root
    wanted: set[str] = field(default_factory=set)  # Message-IDs posts answer that are not here (yet)

    def refer(self, root: str) -> None:
        """Let reply addresses find topic ``root``; a short reference two topics share finds neither."""
        self.by_ref[topic_ref(root)] = root
        short = short_ref(root)
        self.by_ref[short] = root if self.by_ref.get(short, root) == root else ""

    def topic_by_ref(self, ref: str) -> str | None:
        return self.by_ref.get(ref) or None


def classify(path: str) -> str:
    """``post``, ``attachment`` (a file in a post's folder), ``skip`` or ``structure`` (anything else read)."""
    parts = path.split("/")
    if parts[0] == COMMUNITIES and len(parts) >= 4 and parts[2] == POSTS_DIR:
        rest = parts[3:]
        if any(part.startswith(".") for part in rest):
            return "skip"
        if rest[-1].endswith(".md"):
            return "post"
        return "attachment" if len(rest) > 1 else "skip"
    if parts[0] in (COMMUNITIES, PEOPLE) or path in ("mkdocs.yml", ""):
        return "structure"
    return "skip"


def is_post_path(root: Path, relpath: str) -> bool:
    """True if ``relpath`` is where a post file lives, not a Markdown file inside a post's attachments."""
    parts = relpath.split("/")
    folder = root / "/".join(parts[:3])
    for part in parts[3:-1]:
        if (folder / f"{part}.md").is_file():
            return False
        folder = folder / part
    return True


def stub(post: Post) -> Post:
    """``post`` with only what threading and look-ups need (the gateway's model keeps no text)."""
    if not (post.body or post.quoted or post.signature or post.tags or post.attachments or post.reactions):
        return post  # one already (an import makes them so)
    return replace(post, body="", quoted="", signature="", tags=[], attachments=[], reactions=())


class Model:
    """Communities, people and posts of one root, kept current by :meth:`apply`."""

    def __init__(self, root: Path | str, *, bodies: bool = True) -> None:
        self.root = Path(root).resolve()
        self.bodies = bodies
        self.lock = threading.RLock()
        self.communities: dict[str, Community] = {}
        self.people: dict[str, Person] = {}
        self.by_email: dict[str, str] = {}  # normalised address -> handle
        self.by_mail: dict[str, str] = {}  # community mail (local part) -> slug
        self.posts: dict[str, dict[str, Post]] = {}  # community -> relpath -> post
        self.problems: dict[str, list[Problem]] = {}  # file -> what is wrong with it
        self.quarantine = Quarantine(self.root)  # files that do not validate, and what is kept of them
        self.head = ""  # the commit the model has followed up to
        self.seq = 0
        self.loaded = False  # posts read too (set once, by load_posts)
        self._ready = threading.Event()
        self._known: dict[str, Known] = {}
        self._listeners: list[Callable[[Change], None]] = []
        self.git_dir: Path | None = None

    # -- loading ----------------------------------------------------------------------

    def load(self, posts: dict[str, Post] | None = None) -> None:
        """Read everything (or, with ``posts`` from a cache, communities and people only)."""
        with self.lock:
            self.load_structure()
            self.load_posts(posts)

    def load_structure(self) -> None:
        """The first, cheap phase of :meth:`load`: HEAD, communities and people, no posts yet.

        Enough to tell which addresses take mail (``intranet up`` answers SMTP before the posts are
        read); :meth:`load_posts` reads the rest, and only then is the model ``loaded``.
        """
        with self.lock:
            self.head = self._current_head()
            self._read_structure()
            self.posts = {slug: self.posts.get(slug, {}) for slug in self.communities}

    def load_posts(self, posts: dict[str, Post] | None = None) -> None:
        """The second phase of :meth:`load`: every post (or ``posts`` from a cache)."""
        started = time.monotonic()
        with self.lock:
            self.posts = {slug: {} for slug in self.communities}
            if posts is None:
                for slug in sorted(self.communities):
                    self._read_community_posts(slug, {})
            else:
                for relpath, post in posts.items():
                    self.posts.setdefault(post.community, {})[relpath] = post
            self._known.clear()
            self.loaded = True
            self._ready.set()
        settle()  # hundreds of thousands of long-lived objects now, and the garbage of reading them
        log.info(
            "model: %d communities, %d people, %d posts read in %.1f s",
            len(self.communities),
            len(self.people),
            self.post_count(),
            time.monotonic() - started,
        )

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Until the posts are read (:meth:`load_posts`, maybe in another thread); False after ``timeout``."""
        return self._ready.wait(timeout)

    @classmethod
    def cached(cls, root: Path | str, state_dir: Path) -> Model:
        """A model without post text, started from the cache in ``state_dir`` where it can be."""
        model = cls(root, bodies=False)
        found = modelcache.load(state_dir, model.root)
        if found is None:
            model.load()
            return model
        commit, posts = found
        model.load(posts)
        model.head = commit
        model.follow()  # what changed since the cache was written
        return model

    def save(self, state_dir: Path) -> None:
        """Keep this model (without post text) for the next start; see :mod:`intranet.modelcache`."""
        with self.lock:
            modelcache.save(state_dir, self.root, self.head, self.posts)

    def _current_head(self) -> str:
        if self.git_dir is None:
            try:
                self.git_dir = discover(self.root)[0]
            except StoreError:  # no repository (a plain folder of content): the model follows files only
                log.debug("no Git repository at %s: following files only", self.root)
                return ""
            self.quarantine.history.git_dir = self.git_dir
        return head_of(self.git_dir)

    def _read_structure(self) -> None:
        intranet = read_intranet(self.root, posts=False)
        across = set(cross_check(intranet))  # snapshot() checks across files again, with the posts
        own: dict[str, list[Problem]] = {}
        for problem in (p for p in intranet.problems if p not in across):
            own.setdefault(problem.path, []).append(problem)
        before = (self.communities, self.people)
        self.quarantine.keep_structure(intranet.communities, intranet.people, own, before, self.head)
        self.communities = intranet.communities
        self.people = intranet.people
        self.by_email = intranet.person_by_email()
        self.by_mail = {c.mail.lower(): c.slug for c in intranet.communities.values()}
        self.problems = {k: v for k, v in self.problems.items() if classify(k) == "post"}
        self.problems.update(own)

    def _read_community_posts(self, slug: str, before: dict[str, Post]) -> dict[str, Post]:
        found: list[Problem] = []
        posts: dict[str, Post] = {}
        for path in iter_post_paths(self.root, slug, found):
            post, problems = read_post(self.root, slug, path)
            relpath = path.relative_to(self.root).as_posix()
            self._note_problems(relpath, problems)
            if problems:
                post = self.quarantine.note(relpath, problems, before.get(relpath), self.head)
            if post is not None:
                posts[post.relpath] = self._keep(post)
        for problem in found:
            self.problems.setdefault(problem.path, []).append(problem)
        self.posts[slug] = posts
        return posts

    def _keep(self, post: Post) -> Post:
        """``post`` as the model keeps it: without its text (the gateway's), or its text in the spill file."""
        return spill(share(post)) if self.bodies else share(stub(post))

    def _note_problems(self, relpath: str, problems: list[Problem]) -> None:
        if problems:
            self.problems[relpath] = list(problems)
        else:
            self.problems.pop(relpath, None)

    # -- the stream of changes -----------------------------------------------------------

    def subscribe(self, listener: Callable[[Change], None]) -> None:
        """Call ``listener`` with every change from now on (in the applying thread; keep it short)."""
        with self.lock:
            self._listeners.append(listener)

    def apply(self, paths: Iterable[str]) -> Change:
        """Read again what ``paths`` (relative to the root) hold now; say what changed."""
        with self.lock:
            change = Change(self.seq + 1)
            posts: set[str] = set()
            for path in sorted({p.replace("\\", "/").strip("/") for p in paths}):
                kind = classify(path)
                if kind == "post":
                    posts.add(path)
                elif kind == "attachment":
                    owner = path.rsplit("/", 1)[0] + ".md"
                    posts.add(owner)
                    change.forced.add(owner)
                elif kind == "structure":
                    change.structure.append(path)
            if any(p.split("/")[0] in (COMMUNITIES, PEOPLE) for p in change.structure):
                self._apply_structure(change)
            for relpath in sorted(posts):
                self._apply_post(relpath, change)
            if change:
                self.seq = change.seq
                for listener in self._listeners:
                    listener(change)
            return change

    def _apply_structure(self, change: Change) -> None:
        before = set(self.communities)
        self._read_structure()
        after = set(self.communities)
        # A community that came or went, or whose folder or posts/ folder moved as a whole: read its posts.
        whole = [p.split("/") for p in change.structure if p.startswith(f"{COMMUNITIES}/")]
        rescan = (before ^ after) | {parts[1] for parts in whole if parts[2:] in ([], [POSTS_DIR])}
        for slug in sorted(rescan):
            old = self.posts.pop(slug, {})
            self.quarantine.clear_under(f"{COMMUNITIES}/{slug}/{POSTS_DIR}/")
            new = self._read_community_posts(slug, old) if slug in after else {}
            pairs = {r: (old.get(r), new.get(r)) for r in old.keys() | new.keys() if old.get(r) is not new.get(r)}
            pairs = {r: pair for r, pair in pairs.items() if not _same(*pair)}
            if pairs:
                change.posts.setdefault(slug, {}).update(pairs)
        self._known.clear()  # people, addresses or communities moved: thread again when asked

    def _apply_post(self, relpath: str, change: Change) -> None:
        slug = relpath.split("/")[1]
        if slug not in self.communities:
            return
        old = self.posts.setdefault(slug, {}).get(relpath)
        path = self.root / relpath
        post = None
        if path.is_file() and not path.is_symlink() and is_post_path(self.root, relpath):
            post, problems = read_post(self.root, slug, path)
            self._note_problems(relpath, problems)
            if problems:  # keep the last valid version
                post = self.quarantine.note(relpath, problems, old, self.head)
            else:
                self.quarantine.clear(relpath)
            if post is not None:
                post = self._keep(post)
        else:
            self.problems.pop(relpath, None)
            self.quarantine.clear(relpath)
        if post is None and old is None:
            return
        if post is not None and old is not None and _same(old, post) and relpath not in change.forced:
            return
        if post is None:
            del self.posts[slug][relpath]
        else:
            self.posts[slug][relpath] = post
        change.posts.setdefault(slug, {})[relpath] = (old, post)
        self._follow_known(slug, old, post)

    def insert(self, post: Post) -> Change:
        """A post just written by this process (an import's batch, not committed yet): no need to read it."""
        with self.lock:
            change = Change(self.seq + 1)
            posts = self.posts.setdefault(post.community, {})
            old = posts.get(post.relpath)
            posts[post.relpath] = self._keep(post)
            change.posts[post.community] = {post.relpath: (old, posts[post.relpath])}
            self._follow_known(post.community, old, posts[post.relpath])
            self.seq = change.seq
            for listener in self._listeners:
                listener(change)
            return change

    def follow(self) -> Change | None:
        """Catch up with commits made since the HEAD the model describes (None: nothing new)."""
        if self.git_dir is None:
            return None
        head = head_of(self.git_dir)
        with self.lock:
            if head == self.head:
                return None
            changed = changed_paths(self.git_dir, self.head, head)
            old, self.head = self.head, head
            if changed is None:  # history rewritten or unknown: read everything again
                log.info("model: HEAD moved from %s to %s: reading everything", old[:12] or "nothing", head[:12])
                return self.apply(self._all_paths())
            return self.apply(changed)

    def committed(self, parent: str, sha: str, paths: Iterable[str]) -> Change:
        """The gateway's own commit ``sha`` on ``parent`` wrote ``paths``."""
        with self.lock:
            if self.head == sha:  # followed already (intranet.follow saw HEAD move first): read once
                return Change(self.seq)
            if parent == self.head:
                self.head = sha
            return self.apply(paths)

    def _all_paths(self) -> list[str]:
        slugs = set(self.communities) | set(self.posts)
        found = [f"{COMMUNITIES}/{slug}" for slug in sorted(slugs)] + [PEOPLE]
        return found

    # -- reading -----------------------------------------------------------------------

    def snapshot(self) -> tuple[Intranet, int]:
        """Everything as one :class:`Intranet` (posts in a new list), and the change it is as of."""
        with self.lock:
            posts = [p for slug in sorted(self.posts) for _, p in sorted(self.posts[slug].items())]
            problems = [p for _, found in sorted(self.problems.items()) for p in found]
            intranet = Intranet(self.root, dict(self.communities), dict(self.people), posts, problems)
            intranet.problems.extend(cross_check(intranet))
            return intranet, self.seq

    def post_count(self) -> int:
        return sum(len(posts) for posts in self.posts.values())

    def posts_of(self, slug: str) -> list[Post]:
        """The posts of one community, in path order (a new list)."""
        with self.lock:
            return [p for _, p in sorted(self.posts.get(slug, {}).items())]

    def community_for(self, mail: str) -> Community | None:
        """The community whose address (local part) is ``mail``."""
        slug = self.by_mail.get(mail.lower())
        return self.communities.get(slug) if slug else None

    def person_for(self, address: str) -> Person | None:
        handle = self.by_email.get(normalize_address(address))
        return self.people.get(handle) if handle else None

    def handle_for(self, address: str) -> str | None:
        return self.by_email.get(normalize_address(address))

    def known(self, slug: str) -> Known:
        """Where each Message-ID of community ``slug`` belongs (threaded on first use after a change)."""
        with self.lock:
            known = self._known.get(slug)
            if known is None:
                known = self._known[slug] = _thread(list(self.posts.get(slug, {}).values()))
            return known

    def elsewhere(self, slug: str, message_ids: list[str]) -> list[tuple[str, str]]:
        """(community, post file) of each of ``message_ids`` known in another community but not in ``slug``."""
        here = self.known(slug).topic_of
        found = []
        for mid in message_ids:
            if mid in here:
                continue
            for other in sorted(self.communities):
                if other != slug and mid in (known := self.known(other)).topic_of:
                    found.append((other, known.paths.get(mid, "")))
        return found

    def _follow_known(self, slug: str, old: Post | None, new: Post | None) -> None:
        """Keep the threads of ``slug`` when a post is only added and nothing waited for it; else thread again."""
        known = self._known.get(slug)
        if known is None:
            return
        if old is not None or new is None or new.message_id in known.wanted or new.message_id in known.topic_of:
            self._known.pop(slug, None)
            return
        root = new.topic if new.topic in known.titles else None
        if root is None and (new.topic != new.message_id or new.in_reply_to):
            self._known.pop(slug, None)  # a reply whose topic is not known here: let threading decide
            return
        _know(known, new, root or new.message_id)


def _thread(posts: list[Post]) -> Known:
    known = Known()
    ids = {p.message_id for p in posts}
    known.wanted = {i for p in posts for i in (p.in_reply_to, p.topic) if i and i not in ids}
    for topics in build_topics(posts).values():
        for topic in topics:
            root_id = topic.root.message_id
            known.refer(root_id)
            known.titles[root_id] = topic.title
            if topic.root.closed:
                known.closed.add(root_id)
            for post in topic.posts:
                known.topic_of[post.message_id] = root_id
                known.paths[post.message_id] = post.relpath
    return known


def _know(known: Known, post: Post, root: str) -> None:
    known.topic_of[post.message_id] = root
    known.paths[post.message_id] = post.relpath
    if root == post.message_id:
        known.refer(root)
        known.titles[root] = post.subject
        if post.closed:
            known.closed.add(root)
    for wanted in (post.in_reply_to, post.topic):
        if wanted and wanted not in known.topic_of:
            known.wanted.add(wanted)


def _same(a: Post | None, b: Post | None) -> bool:
    """The same post, as its file says (a reply's subject threading derived is not in the file)."""
    if a is None or b is None:
        return a is b
    if "subject" in a.derived and "subject" in b.derived:
        return replace(a, subject="") == replace(b, subject="")
    return a == b
