"""Archive import: an mbox, a Maildir or a folder of messages, into one community.

Each message goes through the same steps as live mail (:func:`~mailgateway.parse.parse_message`,
:func:`~mailgateway.classify.drop_reason`, :func:`~mailgateway.compose.compose`), but an editor
imports deliberately: no notices, no notifications, no moderation holds; the original Date is kept.

- **Threading** as live mail: In-Reply-To and References against the Message-IDs the community
  knows (its posts, and those imported so far). When those headers were lost, a message whose
  subject, without ``Re:``/``Fwd:`` and ``[list]`` tags, is that of a topic seen within
  :data:`SUBJECT_WINDOW` joins it.
- **Duplicates**: a post's path comes from its Message-ID (a message without one gets a stable one
  from a hash of its content, as live mail does), so a message already posted is recognised.
- **Commits**: posts are written to the work tree first, then committed :data:`COMMIT_EVERY` at a
  time through :class:`~mailgateway.store.Store` (author: the editor; committer: the gateway).
  A post file that is written but not committed (an import killed half way) is picked up and
  committed by the next run; a run over an archive already imported changes nothing.
- **Memory** holds the Message-ID index and one subject per topic, not the archive: an mbox is
  read as a stream.
- **Speed**: messages are read (parsed, trimmed, turned into the post's text) in worker processes
  (:mod:`mailgateway.importjobs`); this process only threads the posts and commits them. A message
  whose Message-ID is already posted, or is that of a message just before it, is not read at all.
  The files are written by a process of their own (:mod:`mailgateway.importwrite`), which makes the
  blobs of a batch from the bytes as it writes them, not read back from disk; the workers compress
  all of each blob but the few lines that depend on threading. A batch is committed on a thread
  while the next one is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranet.format import Post, attachments_dir, normalize_message_id, post_relpath, thread_lines
from intranet.model import Known, Model
from intranet.progress import Progress
from intranet.settings import Settings

from .archive import Piece, Raw, read_archive, read_mbox, read_pieces
from .compose import compose, is_empty, sender_author
from .existing import foreign_texts
from .importjobs import SOURCE, UNPARSABLE, Context, Item, Ready, Result, prepare, prepared, ready, subject_key
from .importwrite import Files, FilesProcess, files_for
from .parse import Inbound
from .routing import EMPTY
from .store import Store

__all__ = ["Importer", "Raw", "Summary", "UNPARSABLE", "prepare", "read_archive", "read_mbox", "subject_key"]

log = logging.getLogger(__name__)

COMMIT_EVERY = 5000  # posts per commit
SUBJECT_WINDOW = dt.timedelta(days=30)  # headers lost: a same-subject message this close joins the topic


@dataclass
class Summary:
    """What became of every message read."""

    read: int = 0
    imported: int = 0  # new posts committed by this run (including ones a killed run had written)
    duplicates: int = 0  # already in the community
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> count
    commits: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"read: {self.read}", f"imported: {self.imported}", f"duplicates: {self.duplicates}"]
        out.append(f"skipped: {sum(self.skipped.values())}")
        out += [f"  {reason}: {count}" for reason, count in sorted(self.skipped.items())]
        out.append(f"commits: {len(self.commits)}")
        return out


class Importer:
    """Imports archives into one community of the intranet at ``root``."""

    def __init__(
        self,
        root: Path,
        settings: Settings,
        slug: str,
        editor: tuple[str, str],
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings
        self.slug = slug
        self.editor = editor
        self.now = (clock or (lambda: dt.datetime.now(dt.UTC)))()
        self.store = Store(self.root)
        self.store.recover()  # a killed import's index lock, if any
        self.model = Model.cached(self.root, self.root / settings.state_dir)
        if slug not in self.model.communities:
            raise ValueError(f"no community {slug!r} in {self.root / 'communities'}")
        self.context = Context(self.model, slug, settings, self.now)
        self.topics_by_subject: dict[str, tuple[str, str, dt.datetime]] = {}  # key -> (topic, last id, last date)
        self.base = str(self.root)
        self.batch: list[str] = []  # paths (strings: this is done for every message)
        self.in_batch: set[str] = set()  # posts of the batch, committed or not yet
        self.files: Files | FilesProcess | None = None  # what writes the files and their blobs, during a run
        self.listed: dict[str, set[str]] = {}  # folders of posts -> their files (listed when first met, kept up)
        self.in_flight: Counter[str] = Counter()  # Message-IDs (found quickly) handed out, not yet taken
        self.tmp = self.root / settings.state_dir / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.tmp_file = os.path.join(self.tmp, "import.tmp")  # each file is written here, then renamed
        self.batch_posts = 0
        self.committing: threading.Thread | None = None  # the batch before this one, being committed
        self.commit_error: BaseException | None = None  # what committing it raised

    def run(self, path: Path, progress: Progress | None = None) -> Summary:
        summary = Summary()
        pieces, total = read_pieces(path)
        done = 0
        for slug in sorted(self.model.communities):
            self.model.known(slug)  # threaded once here, not in every worker process
        self.files = files_for(self.store, self.root, self.tmp_file)  # (forked before the workers)
        try:
            for piece, quick, result in prepared(self._handed_out(pieces), self.context):
                summary.read += 1
                done += len(piece[1])
                outcome = self.take(piece, quick, result)
                if outcome == "imported":
                    summary.imported += 1
                elif outcome == "duplicate":
                    summary.duplicates += 1
                else:
                    summary.skipped[outcome] += 1
                if self.batch_posts >= COMMIT_EVERY:
                    self._commit(path.name, summary)
                if progress is not None and summary.read % 200 == 0:
                    progress.update(min(done, total), total)
            self._commit(path.name, summary, last=True)
        finally:
            try:
                self._committed()
            finally:
                self.files.close()  # (after what it was given is written)
                self.files = None
                self.store.flush()
                if progress is not None:
                    progress.update(total, total)
                    progress.close()
        return summary

    def _handed_out(self, pieces: Iterator[Piece]) -> Iterator[Item]:
        """Each message, and whether it need not be read: its Message-ID is posted already (a re-run),
        or is that of a message handed out before it and not yet taken (archived twice)."""
        for piece in pieces:
            quick = _quick_message_id(piece[1])
            skip = bool(quick) and (quick in self.in_flight or quick in self.model.known(self.slug).topic_of)
            if quick:
                self.in_flight[quick] += 1
            yield piece, quick, skip

    def take(self, piece: Piece, quick: str, result: Result) -> str:
        """Import one message; return "imported", "duplicate" or the reason it was skipped.

        ``result`` is what :func:`~mailgateway.importjobs.ready` made of it, None if it was not read.
        """
        if quick:
            self.in_flight[quick] -= 1
            if not self.in_flight[quick]:
                del self.in_flight[quick]
            if quick in self.model.known(self.slug).topic_of:  # a re-run: no need to read it
                return self._present(f"{self.base}/{post_relpath(self.slug, quick)}")
        if result is None:  # left unread for a copy before it, which was not posted after all: read it now
            result = ready(piece, self.context)
        if isinstance(result, str):
            return result
        if isinstance(result, Ready):
            return self._take_ready(result)
        return self._take_mail(result)

    def _present(self, path: str) -> str:
        """A message whose Message-ID is taken here: a duplicate, unless a killed run wrote it uncommitted."""
        if not os.path.isfile(path) or path in self.in_batch:
            return "duplicate"
        self._committed()  # (the store is used by one thread at a time)
        if self.store.is_committed(Path(path)):
            return "duplicate"
        folder = attachments_dir(Path(path))
        files = sorted(str(p) for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        self._add_to_batch(path, files)
        return "imported"

    def _add_to_batch(self, path: str, files: list[str]) -> None:
        self.batch += files
        self.batch.append(path)
        self.in_batch.add(path)
        self.batch_posts += 1

    def _thread(
        self, thread_ids: list[str], key: str, date: dt.datetime, known: Known | None = None
    ) -> tuple[str | None, str | None]:
        """(topic, parent) as live mail finds them, or by subject when the headers were lost."""
        known = self.model.known(self.slug) if known is None else known
        parent = next((mid for mid in thread_ids if mid in known.topic_of), None)
        if parent:
            return known.topic_of[parent], parent
        seen = self.topics_by_subject.get(key) if key else None
        if seen is not None and abs(date - seen[2]) <= SUBJECT_WINDOW:
            return seen[0], seen[1]
        return None, None

    def _take_ready(self, ready: Ready) -> str:
        path = f"{self.base}/{ready.relpath}"  # (relpath: forward slashes, never absolute)
        known = self.model.known(self.slug)
        if ready.message_id in known.topic_of or self._exists(path):
            return self._present(path)
        if ready.empty:
            return EMPTY
        topic, parent = self._thread(ready.thread_ids, ready.subject_key, ready.sent, known)
        post = Post(  # what the model keeps of it: no text (see intranet.model.stub)
            self.slug,
            ready.relpath,
            ready.message_id,
            topic or ready.message_id,
            parent if topic else None,
            ready.author,
            ready.date,
            ready.subject,
            SOURCE,
            [],
            [],
            "",
            content_hash=ready.content_hash,
        )
        text = ready.head + thread_lines(post.topic, post.in_reply_to) + ready.tail
        self._write(path, text.encode("utf-8"), ready.files, post, ready.subject_key, ready.ends)
        return "imported"

    def _take_mail(self, mail: Inbound) -> str:
        """A message read whole (it answers another community's post): composed here, as live mail is."""
        path = os.path.join(self.base, post_relpath(self.slug, mail.message_id))
        if mail.message_id in self.model.known(self.slug).topic_of or self._exists(path):
            return self._present(path)
        topic, parent = self._thread(mail.thread_ids(), subject_key(mail.subject), mail.date)
        author = sender_author(mail, self.model.handle_for(mail.from_address))
        draft = compose(
            mail,
            self.slug,
            SOURCE,
            author,
            topic,
            parent,
            self.now,  # the original date is kept; only one in the future is brought back to now
            self.settings,
            "",
            *foreign_texts(self.root, self.model, self.slug, mail),
        )
        if is_empty(draft):
            return EMPTY
        text = draft.post.to_text().encode("utf-8")
        self._write(path, text, draft.files, draft.post, subject_key(draft.post.subject))
        return "imported"

    def _write(
        self,
        path: str,
        text: bytes,
        files: dict[str, bytes],
        post: Post,
        key: str,
        ends: dict[str, tuple[int, bytes]] | None = None,
    ) -> None:
        """Attachments first, the post last: a post file on disk is a complete post. ``ends``: the
        compressed ends of their blobs, made by a worker process (see :meth:`BlobPack.add`)."""
        ends = ends or {}
        assert self.files is not None
        folder, _, filename = path.rpartition("/")
        written = []
        if files:
            attachments = str(attachments_dir(Path(path)))
            for name, data in files.items():
                written.append(f"{attachments}/{name}")
                self.files.write(written[-1], data, ends.get(name))
        self.files.write(path, text, ends.get(""))
        self._listing(folder).add(filename)
        self.model.insert(post)
        if key:
            self.topics_by_subject[key] = (post.topic, post.message_id, post.date)
        self._add_to_batch(path, written)

    def _exists(self, path: str) -> bool:
        """Whether a file ``path`` is there (a killed run's post, or one the gateway wrote meanwhile):
        each folder of posts is listed once, when first met, not every post looked for on disk."""
        folder, _, name = path.rpartition("/")
        return name in self._listing(folder)

    def _listing(self, folder: str) -> set[str]:
        names = self.listed.get(folder)
        if names is None:
            try:
                names = {entry.name for entry in os.scandir(folder) if entry.is_file()}
            except FileNotFoundError:
                names = set()
            self.listed[folder] = names
        return names

    def _commit(self, name: str, summary: Summary, last: bool = False) -> None:
        """Commit the batch written so far, once the one before it is committed. Unless it is the
        ``last``, on a thread of its own: it mostly waits for the disk (the sync, Git's index), and
        meanwhile this thread goes on writing the next batch into a new pack."""
        self._committed()
        if not self.batch:
            return
        assert self.files is not None
        blobs = self.files.end_batch()
        batch, posts = self.batch, self.batch_posts
        self.batch, self.batch_posts = [], 0  # in_batch stays: those are committed now
        if last or not self.files.packs():  # (loose blobs are written through the store)
            self._store_batch(name, summary, batch, posts, blobs)
            return
        self.committing = threading.Thread(
            target=self._store_in_background, args=(name, summary, batch, posts, blobs), name="import-commit"
        )
        self.committing.start()

    def _committed(self) -> None:
        """Wait for the batch being committed; raise what committing it raised."""
        if self.committing is None:
            return
        self.committing.join()
        self.committing = None
        error, self.commit_error = self.commit_error, None
        if error is not None:
            raise error

    def _store_in_background(self, *args: Any) -> None:
        try:
            self._store_batch(*args)
        except BaseException as exc:  # noqa: BLE001 - raised by _committed, in the thread that imports
            self.commit_error = exc

    def _store_batch(
        self, name: str, summary: Summary, batch: list[str], posts: int, synced: Callable[[], dict[str, str]]
    ) -> None:
        blobs = synced()  # the posts and their blobs reach the disk before the commit that names them
        commit = self.store.commit(
            batch,
            subject=f"import: {posts} posts from {name}",
            body=f"Imported into {self.slug} by {self.editor[0]} with `intranet import`.",
            author=self.editor,
            committer=self.settings.committer,
            trailers={},
            blobs=blobs,
            packed=True,
        )
        self.store.flush()
        if commit is not None:
            summary.commits.append(commit.sha)
            log.info("import into %s: committed %d posts as %s", self.slug, posts, commit.sha[:12])


_MESSAGE_ID_RE = re.compile(rb"^message-id:[ \t]*(<[^<>\s]+@[^<>\s]+>)[ \t]*\r?$", re.I | re.M)


def _quick_message_id(data: bytes) -> str:
    """The Message-ID, when the header holds a plain one (else "": the message is parsed to find it)."""
    end = data.find(b"\n\n")
    found = _MESSAGE_ID_RE.findall(data if end < 0 else data[:end])
    return normalize_message_id(found[0].decode("ascii", "replace")) if len(found) == 1 else ""
