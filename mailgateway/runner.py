"""A background thread that repeats one pass of work and never dies.

The worker and the notifier are both runners, in the manner of Mailman's
queue runners: a pass that raises is logged and tried again shortly, and a
pass that found nothing to do sleeps until woken or until ``idle`` seconds
have gone by.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class Runner:
    name = "runner"
    idle = 1.0  # seconds to sleep after a pass that did nothing

    def __init__(self) -> None:
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pass_once(self) -> bool:
        """Do what is due; True if there was anything."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def finish(self) -> None:
        """Called once in the runner's own thread when it stops (and by ``stop`` if it never started)."""

    def stop(self, timeout: float = 60.0) -> bool:
        """Ask the thread to stop and wait for it; False if it is still busy after ``timeout`` seconds.

        Whatever the runner must do last (:meth:`finish`) is done by its own thread, never by the
        caller's while the runner may still be inside a unit of work.
        """
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.error("%s is still busy after %.0f s; it finishes on its own", self.name, timeout)
                return False
        return True

    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self.pass_once()
            except Exception:
                log.exception("%s pass failed; trying again shortly", self.name)
                worked = False
            if not worked:
                self._wake.wait(self.idle)
                self._wake.clear()
        try:
            self.finish()
        except Exception:
            log.exception("%s could not finish cleanly; the next start repairs what is left", self.name)
