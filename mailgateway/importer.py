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
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import multiprocessing
import os
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult
from pathlib import Path

from intranet.format import (
    EMAIL_RE,
    attachments_dir,
    normalize_message_id,
    post_relpath,
)
from intranet.model import Model
from intranet.progress import Progress
from intranet.settings import Settings
from intranet.subjects import bare_subject

from . import classify
from .compose import compose, is_empty, sender_author
from .existing import foreign_texts
from .parse import Inbound, parse_message
from .routing import EMPTY, NO_SENDER
from .store import Store

log = logging.getLogger(__name__)

COMMIT_EVERY = 5000  # posts per commit
PARSE_CHUNK = 32  # messages a worker process parses at a time
PARSE_AHEAD = 8  # chunks read ahead of the one being imported
SUBJECT_WINDOW = dt.timedelta(days=30)  # headers lost: a same-subject message this close joins the topic
UNPARSABLE = "unparsable"
SOURCE = "import"
_LIST_TAG_RE = re.compile(r"^\s*(?:\[[^\]]{1,60}\]\s*)+")
_AT_RE = re.compile(r"^([^\s@]+) at ([^\s@]+\.[^\s@]+)$")  # pipermail's "user at example.org"
_HEADER_RE = re.compile(rb"^[!-9;-~]+:")  # a first line that is a header field


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


@dataclass
class Raw:
    """One message as read from the archive."""

    data: bytes
    where: str  # file, and the message's number in an mbox
    envelope_from: str = ""  # from an mbox ``From `` line
    envelope_date: dt.datetime | None = None


# -- reading archives -----------------------------------------------------------------


def read_archive(path: Path) -> tuple[Iterator[Raw], int]:
    """The messages of ``path`` (mbox, Maildir, folder of messages or of mboxes), and its size in bytes."""
    if path.is_file():
        return _read_file(path), path.stat().st_size
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if (path / "cur").is_dir() and (path / "new").is_dir():  # a Maildir
        files = sorted(p for sub in ("cur", "new") for p in (path / sub).iterdir() if p.is_file())
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    return (raw for f in files for raw in _read_file(f)), sum(f.stat().st_size for f in files)


def _hidden(relpath: Path) -> bool:
    return any(part.startswith(".") for part in relpath.parts)


def _read_file(path: Path) -> Iterator[Raw]:
    with path.open("rb") as handle:
        first = handle.read(5)
        handle.seek(0)
        if first == b"From ":
            yield from read_mbox(handle, str(path))
        else:
            yield Raw(handle.read(), str(path))


def read_mbox(handle: object, name: str) -> Iterator[Raw]:
    """Messages of an mbox stream, one at a time (mboxrd ``>From `` quoting undone)."""
    lines: list[bytes] = []
    from_line = b""
    count = 0
    blank = True  # a "From " line starts a message at the start of the file or after a blank line
    for line in handle:  # type: ignore[attr-defined]
        if line.startswith(b"From ") and blank:
            if from_line:
                count += 1
                yield _raw(lines, from_line, f"{name}#{count}")
            lines, from_line = [], line
            blank = False
            continue
        blank = line in (b"\n", b"\r\n")
        if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line[1:]
        lines.append(line)
    if from_line:
        yield _raw(lines, from_line, f"{name}#{count + 1}")


def _raw(lines: list[bytes], from_line: bytes, where: str) -> Raw:
    if lines and lines[-1] in (b"\n", b"\r\n"):  # the blank line before the next "From "
        lines.pop()
    words = from_line.decode("latin-1").split()
    sender = words[1] if len(words) > 1 else ""
    if len(words) > 3 and words[2] == "at":  # pipermail: "From user at example.org  Tue Jul 10 ..."
        sender = f"{words[1]}@{words[3]}"
        words = words[:2] + words[4:]
    date = None
    if len(words) > 2:
        try:
            date = email.utils.parsedate_to_datetime(" ".join(words[2:]))
        except (TypeError, ValueError, IndexError):
            date = None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=dt.UTC)
    return Raw(b"".join(lines), where, sender if EMAIL_RE.match(sender) else "", date)


# -- importing ------------------------------------------------------------------------


def subject_key(subject: str) -> str:
    """A subject without reply prefixes and list tags (``[list] Re: [list] x`` -> ``x``)."""
    text = subject
    for _ in range(5):
        stripped = bare_subject(_LIST_TAG_RE.sub("", text))
        if stripped == text:
            break
        text = stripped
    return text


def prepare(raw: Raw, now: dt.datetime, domain: str) -> Inbound | str:
    """Parse and filter one message (pure): the mail to post, or the reason it is skipped."""
    if not _HEADER_RE.match(raw.data.lstrip(b"\r\n")[:200]):
        return UNPARSABLE
    try:
        mail = parse_message(raw.data, raw.envelope_date or now, domain)
    except Exception:
        log.warning("%s: could not be parsed", raw.where, exc_info=True)
        return UNPARSABLE
    if mail.header("list-id"):
        mail.headers.pop("precedence", None)  # set by the list itself on every message it archived
    drop = classify.drop_reason(mail, domain, raw.envelope_from)
    if drop:
        return drop
    if not EMAIL_RE.match(mail.from_address):
        at = _AT_RE.match(mail.from_address.strip())
        mail.from_address = f"{at[1]}@{at[2]}" if at else raw.envelope_from
        if not EMAIL_RE.match(mail.from_address):
            return NO_SENDER
    return mail


def _prepare_job(job: tuple[Raw, bool, dt.datetime, str]) -> tuple[Raw, Inbound | str | None]:
    raw, known, now, domain = job
    return raw, None if known else prepare(raw, now, domain)


def prepared(
    messages: Iterator[Raw], now: dt.datetime, domain: str, known: Callable[[Raw], bool]
) -> Iterator[tuple[Raw, Inbound | str | None]]:
    """Each message with what :func:`prepare` made of it, parsed on every core, in the archive's order.

    Messages ``known`` already (a re-run) are not parsed at all. Parsing is most of the work and
    needs nothing but the message, so worker processes do it; what depends on the posts imported
    so far stays in this process, in order.
    """
    workers = os.cpu_count() or 1
    if workers < 2 or threading.active_count() > 1:  # forking a process with threads is not safe
        yield from ((raw, None) for raw in messages)
        return
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pending: deque[AsyncResult[list[tuple[Raw, Inbound | str | None]]]] = deque()
        chunk: list[tuple[Raw, bool, dt.datetime, str]] = []
        for raw in messages:
            chunk.append((raw, known(raw), now, domain))
            if len(chunk) == PARSE_CHUNK:
                pending.append(pool.map_async(_prepare_job, chunk))
                chunk = []
                if len(pending) > PARSE_AHEAD:  # read no further ahead than this: memory stays flat
                    yield from pending.popleft().get()
        if chunk:
            pending.append(pool.map_async(_prepare_job, chunk))
        while pending:
            yield from pending.popleft().get()


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
        self.topics_by_subject: dict[str, tuple[str, str, dt.datetime]] = {}  # key -> (topic, last id, last date)
        self.batch: list[Path] = []
        self.in_batch: set[Path] = set()  # posts of the batch, committed or not yet
        self.tmp = self.root / settings.state_dir / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.batch_posts = 0

    def run(self, path: Path, progress: Progress | None = None) -> Summary:
        summary = Summary()
        messages, total = read_archive(path)
        done = 0
        domain = self.settings.mail_domain

        def known(raw: Raw) -> bool:
            quick = _quick_message_id(raw.data)
            return bool(quick) and quick in self.model.known(self.slug).topic_of

        try:
            for raw, ready in prepared(messages, self.now, domain, known):
                summary.read += 1
                done += len(raw.data)
                outcome = self.take(raw, ready)
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
            self._commit(path.name, summary)
        finally:
            self.store.flush()
            if progress is not None:
                progress.update(total, total)
                progress.close()
        return summary

    def take(self, raw: Raw, prepared: Inbound | str | None = None) -> str:
        """Import one message; return "imported", "duplicate" or the reason it was skipped.

        ``prepared`` is what :func:`prepare` made of it (in another process), if it ran already.
        """
        quick = _quick_message_id(raw.data)
        if quick and quick in self.model.known(self.slug).topic_of:  # a re-run: no need to parse it again
            return self._present(self.root / post_relpath(self.slug, quick))
        if prepared is None:
            prepared = prepare(raw, self.now, self.settings.mail_domain)
        if isinstance(prepared, str):
            return prepared
        mail = prepared
        relpath = post_relpath(self.slug, mail.message_id)
        path = self.root / relpath
        if mail.message_id in self.model.known(self.slug).topic_of or path.is_file():
            return self._present(path)
        return self._write(mail, path)

    def _present(self, path: Path) -> str:
        """A message whose Message-ID is taken here: a duplicate, unless a killed run wrote it uncommitted."""
        if not path.is_file() or path in self.in_batch or self.store.is_committed(path):
            return "duplicate"
        self._add_to_batch(path)
        return "imported"

    def _add_to_batch(self, path: Path) -> None:
        folder = attachments_dir(path)
        if folder.is_dir():
            self.batch += sorted(p for p in folder.iterdir() if p.is_file())
        self.batch.append(path)
        self.in_batch.add(path)
        self.batch_posts += 1

    def _thread(self, mail: Inbound) -> tuple[str | None, str | None]:
        """(topic, parent) as live mail finds them, or by subject when the headers were lost."""
        known = self.model.known(self.slug)
        parent = next((mid for mid in mail.thread_ids() if mid in known.topic_of), None)
        if parent:
            return known.topic_of[parent], parent
        key = subject_key(mail.subject)
        seen = self.topics_by_subject.get(key) if key else None
        if seen is not None and abs(mail.date - seen[2]) <= SUBJECT_WINDOW:
            return seen[0], seen[1]
        return None, None

    def _write(self, mail: Inbound, path: Path) -> str:
        topic, parent = self._thread(mail)
        handle = self.model.handle_for(mail.from_address)
        author = sender_author(mail, handle)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        if draft.files:  # attachments first, the post last: a post file on disk is a complete post
            folder = attachments_dir(path)
            folder.mkdir(exist_ok=True)
            for name, data in draft.files.items():
                _write_file(folder / name, data, self.tmp)
        _write_file(path, draft.post.to_text().encode("utf-8"), self.tmp)
        self.model.insert(draft.post)
        key = subject_key(draft.post.subject)
        if key:
            self.topics_by_subject[key] = (draft.post.topic, draft.post.message_id, draft.post.date)
        self._add_to_batch(path)
        return "imported"

    def _commit(self, name: str, summary: Summary) -> None:
        if not self.batch:
            return
        os.sync()  # the posts reach the disk before the commit that names them
        commit = self.store.commit(
            self.batch,
            subject=f"import: {self.batch_posts} posts from {name}",
            body=f"Imported into {self.slug} by {self.editor[0]} with `intranet import`.",
            author=self.editor,
            committer=(self.settings.gateway_name, self.settings.noreply),
            trailers={},
        )
        self.store.flush()
        if commit is not None:
            summary.commits.append(commit.sha)
            log.info("import into %s: committed %d posts as %s", self.slug, self.batch_posts, commit.sha[:12])
        self.batch, self.batch_posts = [], 0  # in_batch stays: those are committed now


_MESSAGE_ID_RE = re.compile(rb"^message-id:[ \t]*(<[^<>\s]+@[^<>\s]+>)[ \t]*\r?$", re.I | re.M)


def _quick_message_id(data: bytes) -> str:
    """The Message-ID, when the header holds a plain one (else "": the message is parsed to find it)."""
    head = data.split(b"\n\n", 1)[0]
    found = _MESSAGE_ID_RE.findall(head)
    return normalize_message_id(found[0].decode("ascii", "replace")) if len(found) == 1 else ""


def _write_file(path: Path, data: bytes, tmp_dir: Path) -> None:
    """Write whole or not at all (a temporary file renamed); fsync comes once per commit."""
    tmp = tmp_dir / "import.tmp"
    tmp.write_bytes(data)
    os.replace(tmp, path)
