"""Progress for long work: a bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("intranet.progress")


class Progress:
    def __init__(self, label: str, enabled: bool = True, every: float = 5.0, unit: str = "page") -> None:
        self.label = label
        self.unit = unit  # "B": bytes, shown scaled (kB, MB)
        self.enabled = enabled
        self.every = every
        self._bar: Any = None
        self._last_log = time.monotonic()
        self._tty = sys.stderr.isatty()

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._tty:
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=total, desc=self.label, unit=self.unit, unit_scale=self.unit == "B", leave=False)
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()
            return
        now = time.monotonic()
        if done == total or now - self._last_log >= self.every:
            self._last_log = now
            log.info("%s: %d/%d", self.label, done, total)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
