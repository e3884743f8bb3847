"""The durable spool: accepted mail waits here until the worker has dealt with it.

The SMTP/LMTP step only calls :meth:`Spool.accept`, which writes the raw
message and its envelope to ``tmp/``, fsyncs the file, renames it into
``new/`` and fsyncs the folder, all before the server answers 250. From then
on the message survives any crash: the worker takes it from ``new/``, and
only removes it after its outcome is on record. A message that keeps failing
moves to ``failed/`` with its error; ``intranet spool retry`` puts it back.
Mail held for a moderator waits in ``held/``.

Layout under ``<state_dir>/spool``::

    tmp/<key>.msg        being written (ignored after a crash)
    new/<key>.msg        accepted, waiting for the worker
    new/<key>.tries      how many times the worker failed on it
    failed/<key>.msg     gave up after too many failures; <key>.json says why
    held/<key>.<community>.msg  held for moderation; <key>.<community>.json says why

A ``.msg`` file is one line of JSON (the envelope), a newline, then the
message bytes exactly as received.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RECORDS_MAX_BYTES = 8 * 1024 * 1024  # records.jsonl is rotated at this size ...
RECORDS_KEEP = 4  # ... and this many rotated files are kept: at most about 40 MB of records


@dataclass
class Envelope:
    mail_from: str
    rcpt_tos: list[str]
    peer: str = ""
    protocol: str = "smtp"  # smtp, lmtp, imap, import
    received: str = ""  # ISO time of acceptance
    helo: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def received_at(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.received)


@dataclass
class Spooled:
    key: str
    path: Path
    envelope: Envelope
    raw: bytes


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes, tmp_dir: Path, sync_dir: bool = True) -> None:
    """Write ``data`` to ``path`` so that after return it survives a crash or power loss.

    With ``sync_dir=False`` the file's bytes are on disk but its name is not yet: the caller fsyncs
    ``path.parent`` later (:func:`fsync_dirs`), once for many files, before it relies on them.
    """
    tmp = tmp_dir / f"{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if sync_dir:
        fsync_dir(path.parent)


def fsync_dirs(paths: Iterable[Path]) -> None:
    """fsync each folder once (the folders of files written with ``sync_dir=False``)."""
    for folder in dict.fromkeys(paths):
        fsync_dir(folder)


def remove_durably(folder: Path, names: Iterable[str], suffixes: Sequence[str]) -> None:
    """Remove each ``name + suffix`` in ``folder`` that is there, then fsync the folder once for them all."""
    for name in names:
        for suffix in suffixes:
            try:
                os.unlink(folder / f"{name}{suffix}")
            except FileNotFoundError:
                pass
    fsync_dir(folder)


def _read(path: Path) -> tuple[Envelope, bytes]:
    data = path.read_bytes()
    head, _, raw = data.partition(b"\n")
    envelope = Envelope(**json.loads(head))
    return envelope, raw


class Spool:
    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "spool"
        self.tmp = self.root / "tmp"
        self.new = self.root / "new"
        self.failed_dir = self.root / "failed"
        self.held_dir = self.root / "held"
        for folder in (self.tmp, self.new, self.failed_dir, self.held_dir):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- intake -------------------------------------------------------------------

    def accept(self, raw: bytes, envelope: Envelope) -> str:
        """Store a message durably and return its spool key. Called before the 250."""
        key = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
        if not envelope.received:
            envelope.received = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        head = json.dumps(asdict(envelope), separators=(",", ":")).encode("utf-8")
        write_durably(self.new / f"{key}.msg", head + b"\n" + raw, self.tmp)
        log.info("spooled %s from %s for %s", key, envelope.mail_from or "<>", ",".join(envelope.rcpt_tos))
        return key

    # -- the worker's side --------------------------------------------------------

    def pending(self) -> list[str]:
        return sorted(p.stem for p in self.new.glob("*.msg"))

    def load(self, key: str) -> Spooled:
        path = self.new / f"{key}.msg"
        envelope, raw = _read(path)
        return Spooled(key, path, envelope, raw)

    def finish(self, *keys: str) -> None:
        """The outcomes are on record: forget the messages (one fsync of the folder for them all)."""
        if keys:
            remove_durably(self.new, keys, (".msg", ".tries"))

    def tries(self, key: str) -> int:
        try:
            return int((self.new / f"{key}.tries").read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def record_failure(self, key: str, error: str, max_tries: int) -> bool:
        """Count a failure; after ``max_tries`` move the message to failed/. True if moved."""
        tries = self.tries(key) + 1
        if tries < max_tries:
            write_durably(self.new / f"{key}.tries", str(tries).encode(), self.tmp)
            return False
        info = {"key": key, "error": error, "tries": tries, "failed": _now()}
        write_durably(self.failed_dir / f"{key}.json", json.dumps(info, indent=1).encode(), self.tmp)
        os.rename(self.new / f"{key}.msg", self.failed_dir / f"{key}.msg")
        try:
            os.unlink(self.new / f"{key}.tries")
        except FileNotFoundError:
            pass
        fsync_dir(self.failed_dir)
        fsync_dir(self.new)
        return True

    def hold(self, spooled: Spooled, community: str, info: dict[str, Any]) -> str:
        """Keep a copy for moderation, outside the published history."""
        name = f"{spooled.key}.{community}"
        data = spooled.path.read_bytes()
        write_durably(self.held_dir / f"{name}.msg", data, self.tmp)
        write_durably(self.held_dir / f"{name}.json", json.dumps(info, indent=1).encode(), self.tmp)
        return name

    def load_held(self, held_id: str) -> tuple[Spooled, dict[str, Any]]:
        """A held message, as it was spooled, and why it was held."""
        path = self.held_dir / f"{held_id}.msg"
        info = json.loads((self.held_dir / f"{held_id}.json").read_text())
        envelope, raw = _read(path)
        return Spooled(info["key"], path, envelope, raw), info

    def forget_held(self, held_id: str) -> None:
        """A moderator has decided: the held copy goes."""
        for suffix in (".msg", ".json", ".shared", ".deciding"):  # (the last two: mailgateway.heldshare)
            (self.held_dir / f"{held_id}{suffix}").unlink(missing_ok=True)
        fsync_dir(self.held_dir)

    # -- operators ----------------------------------------------------------------

    def failed(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.failed_dir.glob("*.json")):
            yield json.loads(path.read_text())

    def held(self) -> Iterator[dict[str, Any]]:
        for path in sorted(self.held_dir.glob("*.json")):
            info = json.loads(path.read_text())
            info.setdefault("id", path.stem)
            yield info

    def retry(self, key: str) -> bool:
        """Put a failed message back in the queue."""
        source = self.failed_dir / f"{key}.msg"
        if not source.is_file():
            return False
        os.rename(source, self.new / f"{key}.msg")
        fsync_dir(self.new)
        try:
            os.unlink(self.failed_dir / f"{key}.json")
        except FileNotFoundError:
            pass
        return True


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Records:
    """Append-only log of what became of each message (one JSON object a line), rotated by size.

    ``records.jsonl`` grows to ``max_bytes``, then becomes ``records.jsonl.1``
    (the one before becomes ``.2``, and so on); ``keep`` rotated files are kept
    and the oldest is dropped. Nothing relies on the records to decide
    anything: they are for people (``intranet spool list``) and tests.
    """

    def __init__(self, state_dir: Path, max_bytes: int = RECORDS_MAX_BYTES, keep: int = RECORDS_KEEP) -> None:
        self.path = Path(state_dir) / "records.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.keep = keep

    def add(self, **record: Any) -> None:
        self.add_all([record])

    def add_all(self, records: Sequence[dict[str, Any]]) -> None:
        """Append ``records`` with one write and one fsync (a batch of the worker's outcomes)."""
        if not records:
            return
        lines = []
        for record in records:
            record.setdefault("time", _now())
            lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
        data = "".join(lines).encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            full = os.fstat(fd).st_size > self.max_bytes
        finally:
            os.close(fd)
        if full:
            self._rotate()

    def _rotate(self) -> None:
        """Shift the files along by one, under a lock: writers in other threads and processes may
        rotate at the same moment (a line written meanwhile lands in ``.1``, never lost)."""
        with open(self.path.with_name("records.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if self.path.stat().st_size <= self.max_bytes:
                    return  # another writer rotated first
            except FileNotFoundError:
                return
            files = self.files()
            for older, newer in zip(reversed(files[1:]), reversed(files[:-1]), strict=True):
                if newer.exists():
                    os.replace(newer, older)
            fsync_dir(self.path.parent)

    def files(self) -> list[Path]:
        """The current file, then the rotated ones, newest first (some may not exist)."""
        return [self.path] + [self.path.with_name(f"{self.path.name}.{n}") for n in range(1, self.keep + 1)]

    def tail(self, limit: int, wanted: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
        """The last ``limit`` records (that ``wanted`` accepts), oldest first, read from the end of
        the files: only as much as it takes to find them."""
        found: list[dict[str, Any]] = []
        for path in self.files():
            for line in _lines_backwards(path):
                record = _record(line)
                if record is not None and (wanted is None or wanted(record)):
                    found.append(record)
                    if len(found) >= limit:
                        return found[::-1]
        return found[::-1]

    def all(self) -> list[dict[str, Any]]:
        """Every record still kept, oldest first."""
        result = []
        for path in reversed(self.files()):
            try:
                lines = path.read_bytes().splitlines()
            except FileNotFoundError:
                continue
            result += [record for record in map(_record, lines) if record is not None]
        return result


def _record(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # a torn last line after a crash
    return record if isinstance(record, dict) else None


def _lines_backwards(path: Path, block: int = 64 * 1024) -> Iterator[bytes]:
    """The non-empty lines of ``path``, last first, read a block at a time from the end."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        partial = b""
        while end > 0:
            start = max(0, end - block)
            handle.seek(start)
            lines = (handle.read(end - start) + partial).split(b"\n")
            partial = lines.pop(0)  # may begin before this block
            yield from (line for line in reversed(lines) if line)
            end = start
        if partial:
            yield partial
