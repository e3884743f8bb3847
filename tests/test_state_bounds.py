"""State that grows with traffic has a bound (issue #12).

Sent mail and finished fan-outs are remembered for ``redelivery_days``, which
is what exactly-once needs (an MTA retries a message for up to five days),
and pruned after it; ``records.jsonl`` is rotated by size; ``intranet spool
list`` reads only the records it shows. Real parts: a Git repository, the
worker and the notifier run pass by pass from the test with a clock of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mailtest import DOMAIN, git, git_root, mail, wire

from intranet.settings import read_settings
from mailgateway.notify import Notifier
from mailgateway.outgoing import read_outbox
from mailgateway.spool import Envelope, Records
from mailgateway.worker import Worker

START = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)  # 14:00 in Sydney: after the demo's digest time


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = git_root(tmp_path / "intranet", redelivery_days=10)
    (root / "communities/handover/subscribers.yml").write_text("bo.chen: each\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Subscribers")
    return root


def arrive(worker: Worker, notifier: Notifier, raw: bytes) -> None:
    """One delivery of ``raw`` to the community, worked through to the outbox."""
    envelope = Envelope(mail_from="ann.lee@example.org", rcpt_tos=[f"handover@{DOMAIN}"], peer="127.0.0.1")
    worker.spool.accept(raw, envelope)
    worker.run_once()
    notifier.pass_once()


def stamp(folder: Path, when: dt.datetime) -> None:
    """Date every file in ``folder`` to ``when``, as if written then."""
    for path in folder.iterdir():
        os.utime(path, (when.timestamp(), when.timestamp()))


def test_a_redelivery_inside_the_window_is_not_mailed_twice_and_older_state_is_pruned(root: Path) -> None:
    clock = Clock()
    settings = read_settings(root)
    assert settings.redelivery_days == 10
    notifier = Notifier(root, settings, clock=clock)
    worker = Worker(root, settings, clock=clock)
    worker.notifier = notifier
    assert worker.acquire()
    try:
        state = root / settings.state_dir / "outgoing"
        post = wire(mail(subject="Once", body="Only once, please.", message_id="<once@example.org>"))
        arrive(worker, notifier, post)
        assert len([m for m in read_outbox(state.parent) if m["Message-ID"] == "<once@example.org>"]) == 1
        sent, fanned = list((state / "sent").iterdir()), list((state / "fanned").iterdir())
        assert len(sent) == 1 and len(fanned) == 1
        for folder in (state / "sent", state / "fanned"):
            stamp(folder, START)

        # Five days on, the sender's MTA delivers the same message again (its 250 got lost).
        clock.now = START + dt.timedelta(days=5)
        arrive(worker, notifier, post)
        assert [r["outcome"] for r in worker.records.all() if r.get("message_id") == "<once@example.org>"] == [
            "published",
            "duplicate",
        ]
        assert len([m for m in read_outbox(state.parent) if m["Message-ID"] == "<once@example.org>"]) == 1
        assert list((state / "sent").iterdir()) == sent and list((state / "fanned").iterdir()) == fanned

        # A newer mail is kept while the first is forgotten once the window has passed.
        newer = wire(mail(subject="Later", body="A later post.", message_id="<later@example.org>"))
        arrive(worker, notifier, newer)
        clock.now = START + dt.timedelta(days=10, hours=1)
        notifier.pass_once()
        assert sent[0] not in list((state / "sent").iterdir()) and len(list((state / "sent").iterdir())) == 1
        assert fanned[0] not in list((state / "fanned").iterdir()) and len(list((state / "fanned").iterdir())) == 1
    finally:
        worker.stop()


def test_pruning_runs_at_most_once_an_hour(root: Path) -> None:
    clock = Clock()
    settings = read_settings(root)
    notifier = Notifier(root, settings, clock=clock)
    sent = notifier.queue.sent
    notifier.pass_once()
    (sent / "old").write_text("{}")
    stamp(sent, START - dt.timedelta(days=11))
    clock.now = START + dt.timedelta(minutes=59)
    notifier.pass_once()
    assert (sent / "old").exists()
    clock.now = START + dt.timedelta(hours=1)
    notifier.pass_once()
    assert not (sent / "old").exists()


def test_records_are_rotated_by_size_keeping_a_few_files(tmp_path: Path) -> None:
    records = Records(tmp_path, max_bytes=2_000, keep=3)
    for n in range(200):
        records.add(key=f"k{n:03d}", outcome="rejected", reason="empty", time="2026-11-02T03:00:00+00:00")
    names = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("records.jsonl"))
    assert names == ["records.jsonl", "records.jsonl.1", "records.jsonl.2", "records.jsonl.3"]
    assert all(p.stat().st_size <= 2_000 + 100 for p in tmp_path.glob("records.jsonl*"))
    kept = [r["key"] for r in records.tail(1_000)]
    assert kept == sorted(kept) and kept[-1] == "k199" and len(kept) < 200  # the oldest are gone
    assert [r["key"] for r in records.tail(3)] == ["k197", "k198", "k199"]


def test_spool_list_shows_the_last_fifty_not_published_from_the_tail(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    state = root / read_settings(root).state_dir
    records = Records(state, max_bytes=3_000, keep=4)
    for n in range(120):
        outcome = "published" if n % 2 else "rejected"
        records.add(key=f"k{n:03d}", outcome=outcome, reason="empty", message_id=f"<{n}@example.org>")
    assert (state / "records.jsonl.3").exists()  # the fifty are spread over the rotated files
    with (state / "records.jsonl").open("ab") as current:
        current.write(b'\xff\xfe{"torn')  # a torn last line, not even UTF-8: skipped
    listing = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "spool", "list", "--json", "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    shown = [r["key"] for r in json.loads(listing.stdout)["not_published"]]
    assert shown == [f"k{n:03d}" for n in range(20, 120, 2)]


def test_what_an_earlier_settle_kept_for_good_is_freed_once_it_is_garbage() -> None:
    """Trees a full build replaces hold reference cycles, and were frozen when they came in."""
    import gc
    import weakref

    from intranet.memory import settle

    class Tree:
        pass

    tree = Tree()
    tree.self = tree  # type: ignore[attr-defined]  # a cycle: only a garbage collection frees it
    gone = weakref.ref(tree)
    try:
        settle()  # the tree lands: kept for good, out of later collections
        del tree
        gc.collect()
        assert gone() is not None  # frozen: an ordinary collection leaves it alone
        settle()  # the next landing
        assert gone() is None
    finally:
        gc.unfreeze()
