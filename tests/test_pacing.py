"""intranet.pacing: while the worker takes mail, the other threads pause in proportion to their work."""

from __future__ import annotations

from pathlib import Path

import pytest
from mailtest import DOMAIN, git_root, mail, wire

import mailgateway.worker as worker_module
from intranet.pacing import MOST, Pacing
from intranet.settings import read_settings
from mailgateway.spool import Envelope
from mailgateway.worker import Worker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make() -> tuple[Pacing, Clock]:
    clock = Clock()
    return Pacing(share=0.25, hold=0.5, clock=clock, sleep=clock.sleep), clock


def test_no_pause_without_intake() -> None:
    pacing, clock = make()
    for _ in range(3):
        pacing.give_way()
        clock.now += 0.1
    assert clock.slept == [] and pacing.paused == 0


def test_while_intake_is_busy_work_takes_its_share_of_the_time() -> None:
    pacing, clock = make()
    pacing.give_way()  # the thread's first unit starts
    pacing.intake()
    clock.now += 0.02  # a page rendered
    assert pacing.give_way() == pytest.approx(0.06)  # share 1/4: three times as long paused as worked
    clock.now += 0.01
    pacing.intake()
    assert pacing.give_way() == pytest.approx(0.03)  # timed from the end of the last pause
    assert clock.slept == pytest.approx([0.06, 0.03])


def test_pauses_are_capped_and_end_with_the_flood() -> None:
    pacing, clock = make()
    pacing.give_way()
    pacing.intake()
    clock.now += 0.4
    assert pacing.give_way() == MOST
    clock.now += 0.6  # no message for longer than the hold
    assert not pacing.busy()
    assert pacing.give_way() == 0.0


def test_a_thread_back_from_a_wait_starts_afresh() -> None:
    pacing, clock = make()
    pacing.give_way()
    clock.now += 5  # idle: waiting for changes
    pacing.intake()
    assert pacing.give_way() == 0.0


class Recorder(Pacing):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def intake(self) -> None:
        self.calls += 1


def test_the_worker_marks_a_flood_not_a_single_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = git_root(tmp_path / "intranet")
    pacing = Recorder()
    monkeypatch.setattr(worker_module, "PACING", pacing)
    worker = Worker(root, read_settings(root))
    assert worker.acquire()
    envelope = Envelope("ann.lee@example.org", [f"handover@{DOMAIN}"], "127.0.0.1")
    try:
        worker.spool.accept(wire(mail(subject="One alone")), envelope)
        worker.run_once()
        assert pacing.calls == 0  # a single reply: the update that shows it is not slowed
        for n in range(3):
            worker.spool.accept(wire(mail(subject=f"Flood {n}")), envelope)
        worker.run_once()
        assert pacing.calls == 2  # each message with more behind it
    finally:
        worker.stop()
    assert [r["outcome"] for r in worker.records.all()] == ["published"] * 4
