"""Other processes, as the ones that leave files behind (a lock, a staging folder) need to ask."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (one of another user's counts: it cannot be signalled, but it is there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PR_SET_PDEATHSIG = 1  # prctl(2)


def die_with_parent(parent: int) -> None:
    """In a helper process forked or started by ``parent``: be killed when ``parent`` dies (Linux), or end now if it
    has died already. A helper blocked reading a pipe whose other writers are its siblings (each holds
    the others' ends, inherited at the fork) would otherwise wait for ever once its parent is killed."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the helper ends when it next reads from its parent
        return
    if os.getppid() != parent:  # it died before the call: nobody would signal us now
        os._exit(1)
