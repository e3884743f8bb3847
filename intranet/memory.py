"""Give memory the process has freed back to the system.

CPython frees objects of more than 512 bytes (post bodies, rendered pages) with the C library's
``free``, which keeps the space for later instead of returning it. After a large release (the old
trees when a full build lands, the garbage of reading every post) that space would stay resident,
and counted in the process's memory, until reused. glibc's ``malloc_trim`` returns what it can;
elsewhere (another C library) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging

log = logging.getLogger(__name__)


@functools.cache
def _trim() -> object | None:
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_free_memory() -> None:
    """Return the C library's free memory to the system, where it can (glibc's ``malloc_trim``)."""
    trim = _trim()
    if trim is not None:
        trim(0)  # type: ignore[operator]


def settle() -> None:
    """After a large change in what the process keeps for good (every post read, new trees landed or
    taken back): free what became garbage, keep what lives on out of later garbage collections (a
    full collection would walk those millions of objects again and again, for nothing, holding the
    interpreter), and give the freed memory back.

    What an earlier call froze is thawed first: frozen objects are never collected, and the trees a
    full build replaces hold reference cycles, which only a collection frees.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    release_free_memory()
