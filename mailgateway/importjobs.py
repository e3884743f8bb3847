"""The reading half of `intranet import`: each message made into a small record, on every core.

Reading a message (its MIME parts, the reply trimmed off, Markdown, the post's text) is most of an
import's work and needs nothing but the message and what does not change while the import runs
(the people, the other communities, the settings). So worker processes, forked once the model is
loaded, do it, and send back a :class:`Ready`: the post's text around the two lines that depend on
the messages before it (``topic``, ``in_reply_to``), its attachments, and what threading needs.
No :class:`~email.message.Message` and no body travels back but the post's own text. What depends
on the posts imported so far (duplicates, threads) stays with the importer, in the archive's order.

A message that answers a post of another community comes back whole (its
:class:`~mailgateway.parse.Inbound`): whether that post is still elsewhere depends on what was
imported before it, and its quotes are left out as live mail's are (see
:func:`mailgateway.compose.compose`); such mail is rare.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import itertools
import logging
import multiprocessing
import os
import pickle
import queue
import re
import threading
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import NamedTuple

from intranet.format import EMAIL_RE, Author
from intranet.model import Model
from intranet.processes import die_with_parent
from intranet.settings import Settings
from intranet.subjects import bare_subject

from . import classify
from .archive import Piece, Raw, unframe
from .compose import compose, is_empty, sender_author
from .gitpack import deflated_end
from .parse import Inbound, parse_message
from .routing import NO_SENDER

log = logging.getLogger(__name__)

PARSE_CHUNK = 32  # messages a worker process reads at a time
PARSE_AHEAD = 64  # chunks read ahead of the one being imported (a few MB)
WORKER_AHEAD = 8  # chunks sent to a worker ahead (some 600 KB: they fit in its pipe)
UNPARSABLE = "unparsable"
SOURCE = "import"
_LIST_TAG_RE = re.compile(r"^\s*(?:\[[^\]]{1,60}\]\s*)+")
_AT_RE = re.compile(r"^([^\s@]+) at ([^\s@]+\.[^\s@]+)$")  # pipermail's "user at example.org"
_HEADER_RE = re.compile(rb"^[!-9;-~]+:")  # a first line that is a header field
_UNDATED = dt.datetime(1, 1, 1, tzinfo=dt.UTC)  # what parse_message is given for "received": this very object


@dataclass(frozen=True)
class Context:
    """What reading a message for one import needs besides the message."""

    model: Model  # people and the other communities (the importing community's threads are not used)
    slug: str
    settings: Settings
    now: dt.datetime


class Ready(NamedTuple):
    """A message read into a post of the community, not yet threaded (see :meth:`Post.text_parts`)."""

    message_id: str
    relpath: str
    thread_ids: list[str]  # Message-IDs it answers, nearest first
    subject_key: str
    sent: dt.datetime  # its Date: threading by subject compares it
    head: str  # the post's text before its topic line
    tail: str  # and after its topic and in_reply_to lines
    files: dict[str, bytes]  # attachments, by their safe names
    author: Author
    date: dt.datetime  # the post's date (its Date, unless that is in the future)
    subject: str
    content_hash: str
    empty: bool  # nothing to show: not posted
    ends: dict[str, tuple[int, bytes]]  # "" (the tail, as UTF-8) and each attachment: length, deflated_end


Result = Ready | Inbound | str | None  # a post, a whole mail (see the module), why it is skipped, not read


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
        mail = parse_message(raw.data, _UNDATED, domain)
    except Exception:
        log.warning("%s: could not be parsed", raw.where, exc_info=True)
        return UNPARSABLE
    if mail.date is _UNDATED:  # no Date it could read: the mbox's date, else now (read only now: it is rare)
        mail.date = raw.envelope_date or now
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


def ready(piece: Piece, context: Context) -> Ready | Inbound | str:
    """What the importer needs of one message of the archive (pure but for logging)."""
    raw = unframe(piece)
    mail = prepare(raw, context.now, context.settings.mail_domain)
    if isinstance(mail, str) or context.model.elsewhere(context.slug, mail.thread_ids()):
        return mail
    try:
        return _ready(mail, context)
    except Exception:  # the message makes composing fail, and would every time: it is reported, not posted
        log.warning("%s: could not be made into a post", raw.where, exc_info=True)
        return UNPARSABLE


def _ready(mail: Inbound, context: Context) -> Ready:
    author = sender_author(mail, context.model.handle_for(mail.from_address))
    draft = compose(mail, context.slug, SOURCE, author, None, None, context.now, context.settings)
    post = draft.post
    head, tail = post.text_parts()
    ends = {name: (len(data), deflated_end(data)) for name, data in draft.files.items()}
    encoded = tail.encode("utf-8")
    ends[""] = (len(encoded), deflated_end(encoded))  # compressed here, not in the process that writes
    return Ready(
        post.message_id,
        post.relpath,
        mail.thread_ids(),
        subject_key(post.subject),
        mail.date,
        head,
        tail,
        draft.files,
        post.author,
        post.date,
        post.subject,
        post.content_hash,
        is_empty(draft),
        ends,
    )


# -- on every core ---------------------------------------------------------------------
#
# The worker processes are this module's own rather than a multiprocessing.Pool: a pool's threads
# in this process (one sends tasks, one takes results, one watches the workers and wakes up each
# time a result is waiting) took the interpreter's lock from the thread that imports many times a
# message; here that thread alone sends and receives. Each worker hands its results to a thread of
# its own to send, so it goes on reading while this process is busy (a commit): a send from here
# never waits on a worker that waits on a send to here. Each worker is sent a few chunks ahead;
# this process reads the chunks beyond those itself when it would otherwise wait for a result, so
# on a busy machine the import's share of it is three processes' (two idle cores: about the same).

Item = tuple[Piece, str, bool]  # a message, its Message-ID as found quickly, whether to leave it unread
Chunk = tuple[int, list[Piece | None]]  # a numbered chunk of messages for a worker (None: not read)
PIPE_BYTES = 1 << 20  # asked for each pipe (Linux allows this much by default; else pipes are smaller)


def _work(chunk: list[Piece | None], context: Context) -> list[Result]:
    return [None if piece is None else ready(piece, context) for piece in chunk]


def _serve(context: Context, tasks: Connection, results: Connection, inherited: list[Connection], parent: int) -> None:
    """A worker process: read chunks from ``tasks`` until None, send what they make to ``results``."""
    die_with_parent(parent)
    for conn in inherited:  # other workers' pipes, as this process was forked
        conn.close()
    outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    sender = threading.Thread(target=_send_all, args=(outbox, results), daemon=True)
    sender.start()
    try:
        while (task := tasks.recv()) is not None:
            number, chunk = task
            try:
                outbox.put(pickle.dumps((number, _work(chunk, context), ""), pickle.HIGHEST_PROTOCOL))
            except Exception:  # noqa: BLE001 - sent back with its traceback: the importing process raises it
                outbox.put(pickle.dumps((number, [], traceback.format_exc())))
    except (EOFError, KeyboardInterrupt):  # the importing process has gone, or is stopping
        pass
    outbox.put(None)
    sender.join()


def _send_all(outbox: queue.SimpleQueue[bytes | None], results: Connection) -> None:
    try:
        while (data := outbox.get()) is not None:
            results.send_bytes(data)
    except OSError:  # the importing process has gone
        pass


def _widen(conn: Connection) -> None:
    try:
        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or more than this user may have: the pipe stays as it is
        pass


class _Worker:
    """A worker process, the pipe that sends it chunks and the one that brings back what they made."""

    def __init__(self, context: Context, inherited: list[Connection]) -> None:
        fork = multiprocessing.get_context("fork")
        their_tasks, self.tasks = fork.Pipe(duplex=False)
        self.results, their_results = fork.Pipe(duplex=False)
        for conn in (self.tasks, self.results):
            _widen(conn)
        self.process = fork.Process(
            target=_serve, args=(context, their_tasks, their_results, inherited, os.getpid()), daemon=True
        )
        self.process.start()
        their_tasks.close()
        their_results.close()
        self.outstanding = 0  # chunks sent, not yet brought back


class _Workers:
    """Worker processes reading chunks of messages, results taken back in the order they were given."""

    def __init__(self, count: int, context: Context) -> None:
        self.workers: list[_Worker] = []
        for _ in range(count):
            self.workers.append(_Worker(context, [c for w in self.workers for c in (w.tasks, w.results)]))
        self.by_results = {w.results: w for w in self.workers}
        self.done: dict[int, list[Result]] = {}
        self.context = context

    def read(self, items: Iterator[Item]) -> Iterator[tuple[Piece, str, Result]]:
        pending: deque[tuple[int, list[Item]]] = deque()  # every chunk not given back yet, in order
        unsent: deque[tuple[int, list[Item]]] = deque()  # those no worker has: read here rather than wait
        number = 0
        more = True
        while True:
            while more and len(pending) <= PARSE_AHEAD:
                chunk = list(itertools.islice(items, PARSE_CHUNK))
                if not chunk:
                    more = False
                    break
                pending.append((number, chunk))
                unsent.append((number, chunk))
                number += 1
            self._receive(block=False)
            self._hand_out(unsent)
            if not pending:
                return
            first, chunk = pending.popleft()
            while first not in self.done:
                if unsent:  # the workers have enough to do: this process reads a chunk too
                    number_here, chunk_here = unsent.popleft()
                    self.done[number_here] = _work([None if skip else p for p, _, skip in chunk_here], self.context)
                    self._receive(block=False)
                else:
                    self._receive(block=True)
                self._hand_out(unsent)
            results = self.done.pop(first)
            yield from ((piece, quick, result) for (piece, quick, _), result in zip(chunk, results, strict=True))

    def _hand_out(self, unsent: deque[tuple[int, list[Item]]]) -> None:
        """Send chunks to the workers until each has :data:`WORKER_AHEAD` (a send then never waits)."""
        while unsent:
            worker = min(self.workers, key=lambda w: w.outstanding)
            if worker.outstanding >= WORKER_AHEAD:
                return
            number, chunk = unsent.popleft()
            try:
                worker.tasks.send((number, [None if skip else piece for piece, _, skip in chunk]))
            except OSError:
                raise RuntimeError(f"import worker process {worker.process.pid} ended unexpectedly") from None
            worker.outstanding += 1

    def _receive(self, block: bool) -> None:
        """Take back every result that is waiting (with ``block``: at least one)."""
        for conn in wait(list(self.by_results), None if block else 0):
            assert isinstance(conn, Connection)
            worker = self.by_results[conn]
            try:
                number, results, error = conn.recv()  # what _serve pickled
            except EOFError:
                raise RuntimeError(f"import worker process {worker.process.pid} ended unexpectedly") from None
            if error:
                raise RuntimeError(f"import worker process {worker.process.pid} failed:\n{error}")
            worker.outstanding -= 1
            self.done[number] = results

    def close(self, finished: bool) -> None:
        """Let the workers end (``finished``: they are told to; else they are stopped at once)."""
        for worker in self.workers:
            if finished:
                try:
                    worker.tasks.send(None)
                except OSError:
                    pass
            else:
                worker.process.terminate()
            worker.tasks.close()
        for worker in self.workers:
            worker.process.join()
            worker.results.close()


def prepared(items: Iterator[Item], context: Context) -> Iterator[tuple[Piece, str, Result]]:
    """Each message with what :func:`ready` made of it (None where it was left unread), in order.

    Worker processes read them, forked now, so they hold the model as it is, and this process reads
    those it would otherwise wait for (a process with other threads is not forked: then this one
    reads them all). ``items`` is consumed only :data:`PARSE_AHEAD`
    chunks ahead of what was given back, so memory stays flat and whether to leave a message unread
    is decided with what the importer knows by then.
    """
    count = os.cpu_count() or 1
    if count < 2 or threading.active_count() > 1:  # forking a process with threads is not safe
        yield from ((piece, quick, None if skip else ready(piece, context)) for piece, quick, skip in items)
        return
    workers = _Workers(count, context)
    finished = False
    try:
        yield from workers.read(items)
        finished = True
    finally:
        workers.close(finished)
