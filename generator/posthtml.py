"""Posts' HTML kept on disk through a full build, so that a build that renders its trees one at a
time renders each post's Markdown once, not once in each tree that shows it.

:class:`generator.plans.PostRenderer` keeps a few hundred posts' HTML in memory: enough when a
full build renders each topic in every tree at once. The build process of ``intranet up`` renders
one tree at a time (:mod:`generator.handover`, to hold one tree's plan), so a post shown in three
trees would be rendered three times (35 % more CPU). With a :class:`HtmlStore` in use, each
rendered post part is appended to a file of the process that rendered it, and found there by the
next tree. The forked process that renders the other share of a tree writes a file of its own and
hands over where its posts are with what it rendered (:func:`taken`, :func:`adopt`). The files go
when the build does (:meth:`HtmlStore.close`).

The index holds no Python object per post: it grows while the biggest tree renders, when the
build's memory is at its peak, and a forked process reading Python objects would copy the pages
they are on. A part's key is 64 bits of a digest of the post's file, the part and its Markdown, in
a sorted array beside an array of places (file, offset, length): 16 bytes a part. What a tree adds
is looked up from the next tree on (:meth:`HtmlStore.settle`). Each HTML is written after the
whole 128-bit digest, which a read compares: two parts that share a key are rendered again, never
mistaken for each other.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from bisect import bisect_left
from pathlib import Path

from intranet.render import render_post_markdown

_DIGEST = 16
_LENGTH_BITS, _OFFSET_BITS = 24, 32  # a place: (file number << 56) | (offset << 24) | length
_MOST = (1 << _LENGTH_BITS) - 1  # bytes of HTML kept (a bigger part is rendered each time)


class HtmlStore:
    """Post parts' HTML in files of ``folder``, one a process (see the module's docstring)."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self.names: list[str] = []  # file number -> name
        self._keys, self._places = array("Q"), array("Q")  # sorted by key: what earlier trees rendered
        self._new_keys, self._new_places = array("Q"), array("Q")  # this tree's, in the order written
        self._handed = 0  # how many of the new ones :func:`taken` handed over (in a forked process)
        self._fds: dict[int, int] = {}  # file number -> open descriptor
        self._own: tuple[int, int] | None = None  # (pid, file number) this process appends to

    @staticmethod
    def digest(relpath: str, part: str, text: str) -> bytes:
        return hashlib.blake2b(f"{relpath}\0{part}\0{text}".encode(), digest_size=_DIGEST).digest()

    def get(self, digest: bytes) -> str | None:
        key = int.from_bytes(digest[:8], "little")
        at = bisect_left(self._keys, key)
        while at < len(self._keys) and self._keys[at] == key:
            place = self._places[at]
            number, offset, length = place >> 56, (place >> _LENGTH_BITS) & ((1 << _OFFSET_BITS) - 1), place & _MOST
            data = os.pread(self._fd(number), _DIGEST + length, offset)
            if data[:_DIGEST] == digest:
                return data[_DIGEST:].decode()
            at += 1
        return None

    def put(self, digest: bytes, html: str) -> None:
        data = html.encode()
        if len(data) > _MOST:
            return
        if self._own is None or self._own[0] != os.getpid():  # (a forked process writes a file of its own)
            self._fds = {}  # (the parent's descriptors stay the parent's to close)
            self._new_keys, self._new_places, self._handed = array("Q"), array("Q"), 0
            self._own = (os.getpid(), self.number(f"{self.prefix}{os.getpid()}"))
        number = self._own[1]
        fd = self._fd(number)
        offset = os.lseek(fd, 0, os.SEEK_END)
        if offset >= 1 << _OFFSET_BITS:
            return
        os.write(fd, digest + data)
        self._new_keys.append(int.from_bytes(digest[:8], "little"))
        self._new_places.append((number << 56) | (offset << _LENGTH_BITS) | len(data))

    def number(self, name: str) -> int:
        """The file number of file ``name`` (numbered here if new)."""
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def settle(self) -> None:
        """What this tree added (here, and handed over by the other process), found from now on."""
        if not self._new_keys:
            return
        keys, places = self._keys + self._new_keys, self._places + self._new_places
        order = sorted(range(len(keys)), key=keys.__getitem__)
        self._keys, self._places = array("Q", (keys[i] for i in order)), array("Q", (places[i] for i in order))
        self._new_keys, self._new_places = array("Q"), array("Q")

    def taken(self) -> tuple[str, bytes, bytes]:
        """Where the posts this forked process rendered since the last call are, to hand over to the
        process it was forked from: its file's name, their keys and their places (as arrays' bytes)."""
        if self._own is None or self._own[0] != os.getpid():
            return "", b"", b""  # (nothing written here)
        start, self._handed = self._handed, len(self._new_keys)
        return self.names[self._own[1]], self._new_keys[start:].tobytes(), self._new_places[start:].tobytes()

    def adopt(self, handed: tuple[str, bytes, bytes]) -> None:
        """Posts another process of the build rendered (:meth:`taken` there): found from the next tree on."""
        name, keys, places = handed
        if not keys:
            return
        number = self.number(name) << 56
        self._new_keys.frombytes(keys)
        self._new_places.extend(number | (place & ((1 << 56) - 1)) for place in array("Q", places))

    def close(self) -> None:
        """Close the files and remove them, and this process's own."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}
        for name in self.names:
            (self.folder / name).unlink(missing_ok=True)

    def _fd(self, number: int) -> int:
        fd = self._fds.get(number)
        if fd is None:
            fd = self._fds[number] = os.open(self.folder / self.names[number], os.O_RDWR | os.O_CREAT, 0o600)
        return fd


STORE: HtmlStore | None = None  # the store in use (a build process's), or None


def rendered(relpath: str, part: str, text: str, links: dict[str, str]) -> str:
    """Part ``part`` of post ``relpath`` (Markdown ``text``) as HTML: from the store in use, if it has it."""
    store = STORE
    if store is None or not text:
        return render_post_markdown(text, links)
    digest = store.digest(relpath, part, text)
    html = store.get(digest)
    if html is None:
        html = render_post_markdown(text, links)
        store.put(digest, html)
    return html


def taken() -> tuple[str, bytes, bytes]:
    """Where the posts this forked process rendered since the last call are (:meth:`HtmlStore.taken`)."""
    return STORE.taken() if STORE is not None else ("", b"", b"")


def adopt(handed: tuple[str, bytes, bytes]) -> None:
    """Posts another process of the build rendered (:meth:`HtmlStore.adopt`)."""
    if STORE is not None:
        STORE.adopt(handed)
