"""Memory of a process tree (``intranet up`` and the build processes it forks), for the benches."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path


def tree_of(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [pid], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in kB (0, 0 if it is gone)."""
    values = {"Rss": 0, "Pss": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values["Rss"], values["Pss"]


@dataclass
class Sampler:
    """Peak RSS and PSS of a process tree, sampled in a thread."""

    pid: int
    rss: int = 0
    pss: int = 0
    processes: int = 1
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            pids = tree_of(self.pid)
            sizes = [memory_kb(p) for p in pids]
            self.rss = max(self.rss, sum(s[0] for s in sizes))
            self.pss = max(self.pss, sum(s[1] for s in sizes))
            self.processes = max(self.processes, len(pids))


def stop(process: subprocess.Popen, timeout: float = 120) -> None:
    """Stop ``intranet up`` as Ctrl-C does (it saves its trees), or kill it after ``timeout`` seconds."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
