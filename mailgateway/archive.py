"""Reading mail archives for `intranet import`: an mbox, a Maildir, a folder of messages or of mboxes.

An mbox is cut into messages at each ``From `` line that starts the file or follows a blank line
(mboxrd and mboxo alike), with a regular expression over large blocks of the file: no line of a
message is looked at one by one in the process that reads the archive. What each message needs
done on its own (its envelope line read, mboxrd's ``>From `` quoting undone, the blank line before
the next ``From `` dropped) is :func:`unframe`, which the processes that parse the mail run.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from intranet.format import EMAIL_RE

BLOCK = 1 << 20  # bytes of an mbox read at a time
MBOX, FILE = "mbox", "file"  # a piece of an mbox (from its "From " line on), or a whole file
_BOUNDARY_RE = re.compile(rb"\n\r?\n(?=From )")  # a blank line, then a "From " line: a message starts after it
_QUOTED_FROM_RE = re.compile(rb"^>(>*From )", re.M)


@dataclass
class Raw:
    """One message as read from the archive."""

    data: bytes
    where: str  # file, and the message's number in an mbox
    envelope_from: str = ""  # from an mbox ``From `` line
    envelope_when: str = ""  # the date of that line, as written there

    @property
    def envelope_date(self) -> dt.datetime | None:
        """The date of the ``From `` line (read when asked: most messages have a Date of their own)."""
        return _envelope_date(self.envelope_when)


# A message as the archive holds it: (MBOX or FILE, its bytes, where it is).
Piece = tuple[str, bytes, str]


def read_pieces(path: Path) -> tuple[Iterator[Piece], int]:
    """The messages of ``path`` (mbox, Maildir, folder of messages or of mboxes), and its size in bytes."""
    if path.is_file():
        return _pieces_of(path), path.stat().st_size
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if (path / "cur").is_dir() and (path / "new").is_dir():  # a Maildir
        files = sorted(p for sub in ("cur", "new") for p in (path / sub).iterdir() if p.is_file())
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path)))
    return (piece for f in files for piece in _pieces_of(f)), sum(f.stat().st_size for f in files)


def read_archive(path: Path) -> tuple[Iterator[Raw], int]:
    """The messages of ``path``, each read whole, and its size in bytes."""
    pieces, total = read_pieces(path)
    return (unframe(piece) for piece in pieces), total


def _hidden(relpath: Path) -> bool:
    return any(part.startswith(".") for part in relpath.parts)


def _pieces_of(path: Path) -> Iterator[Piece]:
    with path.open("rb") as handle:
        first = handle.read(5)
        handle.seek(0)
        if first == b"From ":
            yield from mbox_pieces(handle, str(path))
        else:
            yield FILE, handle.read(), str(path)


def mbox_pieces(handle: BinaryIO, name: str, block: int = BLOCK) -> Iterator[Piece]:
    """The messages of an mbox stream that starts with a ``From `` line, each from that line up to the
    next one (the blank line before it included), read ``block`` bytes at a time."""
    buffer = handle.read(block)
    start = search = count = 0
    while True:
        found = _BOUNDARY_RE.search(buffer, search)
        if found is not None:
            count += 1
            yield MBOX, buffer[start : found.end()], f"{name}#{count}"
            start = search = found.end()
            continue
        more = handle.read(block)
        if not more:
            break
        buffer = buffer[start:] + more
        search = max(0, len(buffer) - len(more) - 7)  # a boundary may begin in the last bytes already searched
        start = 0
    if start < len(buffer):
        yield MBOX, buffer[start:], f"{name}#{count + 1}"


def read_mbox(handle: BinaryIO, name: str) -> Iterator[Raw]:
    """Messages of an mbox stream, one at a time (mboxrd ``>From `` quoting undone)."""
    return (unframe(piece) for piece in mbox_pieces(handle, name))


def unframe(piece: Piece) -> Raw:
    """The message of a piece: for an mbox, without its ``From `` line, ``>From `` quoting undone and
    without the blank line that came before the next message; with what the ``From `` line says."""
    kind, data, where = piece
    if kind != MBOX:
        return Raw(data, where)
    end = data.find(b"\n") + 1 or len(data)
    from_line, body = data[:end], data[end:]
    if body.endswith(b"\n") and (len(body) == 1 or body[-2:-1] == b"\n"):
        body = body[:-1]  # a last line "\n": the blank line before the next "From "
    elif body.endswith(b"\r\n") and (len(body) == 2 or body[-3:-2] == b"\n"):
        body = body[:-2]
    if b">From " in body:
        body = _QUOTED_FROM_RE.sub(rb"\1", body)
    sender, date = _envelope(from_line)
    return Raw(body, where, sender, date)


def _envelope(from_line: bytes) -> tuple[str, str]:
    """The sender and the date's text of an mbox ``From `` line (also pipermail's ``From user at example.org ...``)."""
    words = from_line.decode("latin-1").split()
    sender = words[1] if len(words) > 1 else ""
    if len(words) > 3 and words[2] == "at":
        sender = f"{words[1]}@{words[3]}"
        words = words[:2] + words[4:]
    return sender if EMAIL_RE.match(sender) else "", " ".join(words[2:])


def _envelope_date(text: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        date = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return date.replace(tzinfo=dt.UTC) if date.tzinfo is None else date
