"""Other processes, as the ones that leave files behind (a lock, a staging folder) need to ask."""

from __future__ import annotations

import os
import stat


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user's counts: it cannot be signalled, but it is there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def close_inherited_channels(keep: frozenset[int] = frozenset({0, 1, 2})) -> int:
    """In a child forked from a process with other threads: close the pipes and sockets it inherited.

    Call it first thing after ``os.fork()``. A thread of the parent may have been starting a program
    at that moment: ``subprocess`` then reads a pipe until the program has started, which it learns
    from the pipe's last writer closing it. A forked child that does not start a program holds a copy
    of that writer, so the parent's thread would wait as long as the child lives (a full build: minutes,
    with mail waiting behind it). The same holds for a socket: a connection the parent closes stays
    open to its peer. Files are left open (the child reads posts' texts and Git's packs through them);
    so are ``keep`` (standard input, output and error). Returns how many it closed. Linux only (reads
    ``/proc/self/fd``); elsewhere it closes nothing.
    """
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return 0
    closed = 0
    for name in names:
        fd = int(name)
        if fd in keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:  # (the descriptor listdir itself used)
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.close(fd)
            closed += 1
    return closed
