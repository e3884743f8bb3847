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
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from intranet.render import render_post_markdown

Key = tuple[str, str, bytes]  # (post file, part, digest of the part's Markdown)
Place = tuple[str, int, int]  # (file name, offset, length)


class HtmlStore:
    """Post parts' HTML in files of ``folder``, one a process (see the module's docstring)."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder
        self.prefix = prefix
        self.index: dict[Key, Place] = {}
        self.new: dict[Key, Place] = {}  # written by a forked process since :func:`taken`
        self._maker = os.getpid()
        self._fds: dict[str, int] = {}  # open files, by name (reading and this process's own)
        self._own: tuple[int, str] | None = None  # (pid, file name) this process appends to

    @staticmethod
    def key(relpath: str, part: str, text: str) -> Key:
        return relpath, part, hashlib.blake2b(text.encode(), digest_size=16).digest()

    def get(self, key: Key) -> str | None:
        place = self.index.get(key)
        if place is None:
            return None
        name, offset, length = place
        return os.pread(self._fd(name), length, offset).decode()

    def put(self, key: Key, html: str) -> None:
        if self._own is None or self._own[0] != os.getpid():  # (a forked process writes a file of its own)
            self._fds = {}  # (the parent's descriptors stay the parent's to close)
            self._own = (os.getpid(), f"{self.prefix}{os.getpid()}")
            self.new = {}
        name = self._own[1]
        fd = self._fd(name)
        data = html.encode()
        offset = os.lseek(fd, 0, os.SEEK_END)
        os.write(fd, data)
        self.index[key] = (name, offset, len(data))
        if os.getpid() != self._maker:
            self.new[key] = self.index[key]

    def close(self) -> None:
        """Close the files and remove every file named in the index, and this process's own."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds = {}
        names = {name for name, _, _ in self.index.values()} | ({self._own[1]} if self._own else set())
        for name in names:
            (self.folder / name).unlink(missing_ok=True)
        self.index, self.new, self._own = {}, {}, None

    def _fd(self, name: str) -> int:
        fd = self._fds.get(name)
        if fd is None:
            fd = self._fds[name] = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


STORE: HtmlStore | None = None  # the store in use (a build process's), or None


def rendered(relpath: str, part: str, text: str, links: dict[str, str]) -> str:
    """Part ``part`` of post ``relpath`` (Markdown ``text``) as HTML: from the store in use, if it has it."""
    store = STORE
    if store is None:
        return render_post_markdown(text, links)
    key = store.key(relpath, part, text)
    html = store.get(key)
    if html is None:
        html = render_post_markdown(text, links)
        store.put(key, html)
    return html


def taken() -> dict[Key, Place]:
    """Where the posts this process rendered since the last call are (to hand over to the process it
    was forked from)."""
    if STORE is None:
        return {}
    new, STORE.new = STORE.new, {}
    return new


def adopt(places: dict[Key, Place]) -> None:
    """Posts another process of the build rendered: found here from now on."""
    if STORE is not None:
        STORE.index.update(places)
