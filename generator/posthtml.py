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

The index is kept small, for it grows while the biggest tree renders, when the build's memory is
at its peak: a post part's key is one number (a 128-bit digest of the post's file, the part and its
Markdown), and where its HTML is another (file, offset, length): some 130 bytes a part.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from intranet.render import render_post_markdown

_LENGTH_BITS, _OFFSET_BITS = 32, 48  # a place: (file number << 80) | (offset << 32) | length


class HtmlStore:
    """Post parts' HTML in files of ``folder``, one a process (see the module's docstring)."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self.index: dict[int, int] = {}  # key -> place
        self.names: list[str] = []  # file number -> name
        self.new: dict[int, int] = {}  # written by a forked process since :func:`taken`: key -> (offset, length)
        self._maker = os.getpid()
        self._fds: dict[int, int] = {}  # file number -> open descriptor
        self._own: tuple[int, int] | None = None  # (pid, file number) this process appends to

    @staticmethod
    def key(relpath: str, part: str, text: str) -> int:
        digest = hashlib.blake2b(f"{relpath}\0{part}\0{text}".encode(), digest_size=16).digest()
        return int.from_bytes(digest, "little")

    def get(self, key: int) -> str | None:
        place = self.index.get(key)
        if place is None:
            return None
        number, offset, length = _unpack(place)
        return os.pread(self._fd(number), length, offset).decode()

    def put(self, key: int, html: str) -> None:
        if self._own is None or self._own[0] != os.getpid():  # (a forked process writes a file of its own)
            self._fds = {}  # (the parent's descriptors stay the parent's to close)
            self.new = {}
            self._own = (os.getpid(), self.number(f"{self.prefix}{os.getpid()}"))
        number = self._own[1]
        fd = self._fd(number)
        data = html.encode()
        offset = os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, data)
        at = (offset << _LENGTH_BITS) | len(data)
        self.index[key] = (number << (_OFFSET_BITS + _LENGTH_BITS)) | at
        if os.getpid() != self._maker:
            self.new[key] = at

    def number(self, name: str) -> int:
        """The file number of file ``name`` (numbered here if new)."""
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def close(self) -> None:
        """Close the files and remove them, and this process's own."""
        for fd in self._fds.values():
            os.close(fd)
        for name in self.names:
            (self.folder / name).unlink(missing_ok=True)
        self.index, self.names, self.new, self._fds, self._own = {}, [], {}, {}, None

    def _fd(self, number: int) -> int:
        fd = self._fds.get(number)
        if fd is None:
            fd = self._fds[number] = os.open(self.folder / self.names[number], os.O_RDWR | os.O_CREAT, 0o600)
        return fd


def _unpack(place: int) -> tuple[int, int, int]:
    return (
        place >> (_OFFSET_BITS + _LENGTH_BITS),
        (place >> _LENGTH_BITS) & ((1 << _OFFSET_BITS) - 1),
        place & ((1 << _LENGTH_BITS) - 1),
    )


STORE: HtmlStore | None = None  # the store in use (a build process's), or None


def rendered(relpath: str, part: str, text: str, links: dict[str, str]) -> str:
    """Part ``part`` of post ``relpath`` (Markdown ``text``) as HTML: from the store in use, if it has it."""
    store = STORE
    if store is None or not text:
        return render_post_markdown(text, links)
    key = store.key(relpath, part, text)
    html = store.get(key)
    if html is None:
        html = render_post_markdown(text, links)
        store.put(key, html)
    return html


def taken() -> tuple[str, dict[int, int]]:
    """Where the posts this process rendered since the last call are: its file's name, and each key's
    (offset, length) (to hand over to the process it was forked from)."""
    if STORE is None or STORE._own is None:
        return "", {}
    new, STORE.new = STORE.new, {}
    return STORE.names[STORE._own[1]], new


def adopt(handed: tuple[str, dict[int, int]]) -> None:
    """Posts another process of the build rendered (:func:`taken` there): found here from now on."""
    name, places = handed
    if STORE is not None and places:
        number = STORE.number(name) << (_OFFSET_BITS + _LENGTH_BITS)
        STORE.index.update({key: number | at for key, at in places.items()})
