"""Memory of a process tree (``intranet up`` and the build processes it forks), for the benches."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
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


def memory_kb(pid: int) -> tuple[int, int, int]:
    """(RSS, PSS, private) of one process in kB (zeros if it is gone)."""
    values = {"Rss": 0, "Pss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in values:
                values[key] = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return values["Rss"], values["Pss"], values["Private_Clean"] + values["Private_Dirty"]


@dataclass
class Sampler:
    """Peak RSS and PSS of a process tree, sampled in a thread."""

    pid: int
    rss: int = 0
    pss: int = 0
    processes: int = 1
    at_peak: list[tuple[int, str, int]] = field(default_factory=list)  # (pid, name, PSS kB) at the PSS peak
    peak_at: float = 0.0  # seconds after start() of the PSS peak
    timeline: list[tuple[float, list[tuple[int, int]]]] = field(default_factory=list)  # every 10 s: (PSS, private) kB
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self._started = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            pids = tree_of(self.pid)
            sizes = [memory_kb(p) for p in pids]
            self.rss = max(self.rss, sum(s[0] for s in sizes))
            if sum(s[1] for s in sizes) > self.pss:
                self.pss = sum(s[1] for s in sizes)
                self.at_peak = [(p, _name(p), s[1]) for p, s in zip(pids, sizes, strict=True)]
                self.peak_at = time.monotonic() - self._started
            now = time.monotonic() - self._started
            if not self.timeline or now - self.timeline[-1][0] >= 10:
                self.timeline.append((now, [(s[1], s[2]) for s in sizes]))
            self.processes = max(self.processes, len(pids))


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def describe_peak(sampler: Sampler) -> str:
    """One line: the PSS of each process at the peak, and when it came."""
    parts = ", ".join(f"{name} {pss / 1024:.0f} MB" for _, name, pss in sampler.at_peak)
    return f"at the peak ({sampler.peak_at:.0f} s after the start): {parts}"


def describe_timeline(sampler: Sampler) -> str:
    """Lines of the process tree's PSS every 10 s: the total, and each process's PSS (private) in MB."""
    return "\n".join(
        f"  {t:5.0f} s  {sum(s[0] for s in sizes) / 1024:6.0f} MB  "
        + " + ".join(f"{pss / 1024:.0f} ({private / 1024:.0f})" for pss, private in sizes)
        for t, sizes in sampler.timeline
    )


def stop(process: subprocess.Popen, timeout: float = 120) -> None:
    """Stop ``intranet up`` as Ctrl-C does (it saves its trees), or kill it after ``timeout`` seconds."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
