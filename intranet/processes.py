"""Other processes, as the ones that leave files behind (a lock, a staging folder) need to ask."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
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


PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent(parent: int) -> None:
    """In a helper process forked by ``parent``: be killed when ``parent`` dies (Linux), or end now if it
    has died already. A helper blocked reading a pipe whose other writers are its siblings (each holds
    the others' ends, inherited at the fork) would otherwise wait for ever once its parent is killed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the helper ends when it next reads from its parent
        return
    if os.getppid() != parent:  # it died before the call: nobody would signal us now
        os._exit(1)
