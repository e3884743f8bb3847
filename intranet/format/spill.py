"""Post text kept in a file instead of the heap, read back each time it is asked for.

A post's ``body``, ``quoted`` and ``signature`` are most of what a process that holds every post
keeps: about 1.8 KB of a post's 2.5 KB at 100,000 posts. A model that keeps posts for the site
(``intranet up``, ``intranet build``) moves each long text into one file per process with
:func:`spill`; the post then holds an ``int`` saying where its text is, and reading the attribute
reads the text back (one ``pread``, about two microseconds). Nothing else changes for the post's
users: the attributes are ``str`` when read, comparing, copying (``dataclasses.replace``) and
pickling see the text, and a post made with text keeps it.

The file is created in the temporary folder, removed from the folder at once (the process holds it
open; it disappears when the process ends) and only ever appended to, so a reference stays good as
long as the process lives. The kernel keeps the file's pages in its cache while memory is free and
drops them when it is not: they are not part of any process's memory, and a forked child does not
copy them when it reads them, as it copies the heap pages it touches.

A text that is edited is written again at the end; what it replaced stays until the process ends.

A full build of ``intranet up`` runs in a process of its own, started fresh
(:mod:`generator.background`), not forked: it is given the posts with their texts' references
(:func:`by_reference`) and a descriptor of this file opened for reading only
(:meth:`TextFile.reader`), which it reads them from (:meth:`TextFile.attach`) and never writes to.
"""

from __future__ import annotations

import functools
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

SIZE_BITS = 24  # a spilled text is (offset << SIZE_BITS) | size: texts up to 16 MB
SMALLEST = 64  # shorter texts stay in the heap: a reference costs about as much
FIELDS = ("body", "quoted", "signature")


class TextFile:
    """One process's file of spilled texts: append-only, read at any offset, shared with forked children."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._file: Any = None
        self._fd = -1
        self._end = 0
        self._attached = False  # reading another process's file (:meth:`attach`): never written to

    def put(self, text: str) -> int:
        """Write ``text`` at the end; the reference to read it back with."""
        data = text.encode("utf-8", "surrogatepass")
        if len(data) >= 1 << SIZE_BITS:
            raise ValueError("text too long to spill")
        with self._lock:
            if self._attached:
                raise RuntimeError("this process reads another process's texts: it spills none of its own")
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="intranet-text-")
                self._fd = self._file.fileno()
            offset = self._end
            written = os.pwrite(self._fd, data, offset)
            if written != len(data):
                raise OSError(f"short write of spilled text ({written} of {len(data)} bytes)")
            self._end += len(data)
        return (offset << SIZE_BITS) | len(data)

    def get(self, ref: int) -> str:
        size = ref & ((1 << SIZE_BITS) - 1)
        data = os.pread(self._fd, size, ref >> SIZE_BITS)
        if len(data) != size:
            raise OSError(f"spilled text cut short ({len(data)} of {size} bytes)")
        return data.decode("utf-8", "surrogatepass")

    def reader(self) -> int:
        """A new descriptor of this file, open for reading only (for a process started to read the texts
        of posts given to it by reference: :meth:`attach`); -1 if nothing was spilled. The caller closes it."""
        with self._lock:
            if self._fd < 0:
                return -1
            return os.open(f"/proc/self/fd/{self._fd}", os.O_RDONLY | os.O_CLOEXEC)

    def attach(self, fd: int) -> None:
        """Read texts from ``fd`` (another process's file, from :meth:`reader`): the references of posts
        given by that process point there. This process then spills nothing of its own."""
        with self._lock:
            self._file, self._fd, self._end, self._attached = None, fd, os.fstat(fd).st_size, True

    @property
    def size(self) -> int:
        """Bytes written so far (texts replaced since included)."""
        return self._end


TEXTS = TextFile()  # the process's one file (a forked child, or a build process attached, reads the parent's)


class SpilledText:
    """A data descriptor over a slot holding a ``str`` or a reference into :data:`TEXTS`."""

    def __init__(self, slot: Any) -> None:
        self._slot = slot

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self._slot
        value = self._slot.__get__(obj, owner)
        return TEXTS.get(value) if value.__class__ is int else value

    def __set__(self, obj: object, value: Any) -> None:
        self._slot.__set__(obj, value)

    def spill(self, obj: object) -> None:
        value = self._slot.__get__(obj, type(obj))
        if value.__class__ is str and len(value) >= SMALLEST:
            self._slot.__set__(obj, TEXTS.put(value))

    def spilled(self, obj: object) -> bool:
        return self._slot.__get__(obj, type(obj)).__class__ is int


def install(cls: type) -> None:
    """Let ``cls``'s (a slotted dataclass) text fields hold spilled texts."""
    for name in FIELDS:
        setattr(cls, name, SpilledText(cls.__dict__[name]))


def spill(obj: Any) -> Any:
    """Move ``obj``'s long texts into the process's file (see the module's docstring); ``obj``."""
    cls = type(obj)
    for name in FIELDS:
        cls.__dict__[name].spill(obj)
    return obj


def is_spilled(obj: Any) -> bool:
    """Whether any of ``obj``'s texts is in the file."""
    return any(type(obj).__dict__[name].spilled(obj) for name in FIELDS)


def by_reference(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    """A reduction for a pickler's ``dispatch_table``: ``cls``'s objects (a slotted class) pickled as
    their slots hold them, a spilled text as its reference, not its text. Read back only in a process
    that reads this process's file (:meth:`TextFile.attach`)."""
    slots = _slots(cls)

    def reduce(obj: Any) -> tuple[Any, ...]:
        return _from_slots, (cls, tuple(slot.__get__(obj, cls) for slot in slots))

    return reduce


@functools.cache
def _slots(cls: type) -> tuple[Any, ...]:
    """``cls``'s slots, in order (under a text's :class:`SpilledText`, the slot itself)."""
    names: tuple[str, ...] = cls.__slots__  # type: ignore[attr-defined]
    return tuple(getattr(cls.__dict__[name], "_slot", cls.__dict__[name]) for name in names)


def _from_slots(cls: type, values: tuple[Any, ...]) -> Any:
    obj: Any = object.__new__(cls)
    for slot, value in zip(_slots(cls), values, strict=True):
        slot.__set__(obj, value)
    return obj
