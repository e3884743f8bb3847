"""New mail first, inside one process: the gateway's intake before the site's updates and the fan-out.

``intranet up`` runs the mail worker, the notifier and the site's updater as threads of one process,
and Python runs one thread at a time. Left to themselves they share that time about evenly, so
under a flood of mail the worker, which only has to commit each message, waits behind page
rendering and mail composition that could as well come a little later. The worker says, for
every message it takes while more wait behind it, that intake is busy (:meth:`Pacing.intake`):
a single reply does not slow the update that shows it. While intake is busy, the updater
and the notifier call :meth:`Pacing.give_way` between their units of work (a page, a post's
fan-out) and pause, so that they take at most :data:`SHARE` of the time. Nothing is skipped or
reordered: once the spool is dry (:data:`HOLD` seconds after the last message) they run at full
speed and catch up. :data:`PACING` is the process's one instance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

SHARE = 0.4  # of the time, at most, for a thread that gives way while intake is busy
HOLD = 0.5  # seconds after the worker's last message that intake still counts as busy
MOST = 0.25  # seconds: the longest single pause


class Pacing:
    """See the module's docstring. ``clock`` and ``sleep`` are for tests."""

    def __init__(
        self,
        share: float = SHARE,
        hold: float = HOLD,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.share = share
        self.hold = hold
        self.clock = clock
        self.sleep = sleep
        self._busy_until = 0.0
        self._local = threading.local()  # per thread: when it last gave way
        self.paused = 0.0  # seconds paused in all, for logs and benches

    def intake(self) -> None:
        """The worker takes a message: intake is busy for the next :data:`HOLD` seconds."""
        self._busy_until = self.clock() + self.hold

    def busy(self) -> bool:
        return self.clock() < self._busy_until

    def give_way(self) -> float:
        """Between two units of work: pause while intake is busy, long enough that the work done since
        this thread last gave way is at most ``share`` of the time; return the seconds paused."""
        now = self.clock()
        last = getattr(self._local, "last", None)
        self._local.last = now
        if last is None or now >= self._busy_until or now - last > 1.0:  # (after a wait: a new start)
            return 0.0
        pause = min(MOST, (now - last) * (1 - self.share) / self.share)
        if pause <= 0:
            return 0.0
        self.sleep(pause)
        self._local.last = self.clock()
        self.paused += pause
        return pause


PACING = Pacing()
