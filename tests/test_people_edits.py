"""The gateway's edits of ``people/<handle>.yml`` (issue #12).

Bounce bookkeeping (``undeliverable:``) and ``approve known`` change people's
files. They start from the committed file, keep an editor's comments and
key order, and never commit, overwrite or lose an editor's uncommitted work.
Real parts: a Git repository and the worker, run from the test with a clock.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from mailtest import DOMAIN, git, git_root, mail, wire

from intranet.settings import read_settings
from mailgateway.commands import Decision
from mailgateway.people_edits import PeopleFiles, edited_yaml, resume_mail, stop_mail
from mailgateway.spool import Envelope
from mailgateway.store import Store
from mailgateway.worker import Worker

ANN = "people/ann.lee.yml"
COMMENTED = """\
# Ann runs the night handover huddles: ask her first.
name: Ann Lee
emails: [ann.lee@example.org]   # her work address only
kind: staff
organisation: Example Health

# Kept up to date by the ward manager.
role: Charge nurse
expertise:
  - handover   # ISBAR mostly
"""
DAY = dt.datetime(2026, 11, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = git_root(tmp_path / "intranet")
    (root / ANN).write_text(COMMENTED)
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qam", "Ann's file")
    return root


class Clock:
    def __init__(self) -> None:
        self.now = DAY

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def worker(root: Path, clock: Clock):
    worker = Worker(root, read_settings(root), clock=clock)
    assert worker.acquire()
    yield worker
    worker.stop()


def committed(root: Path, relpath: str) -> str:
    return git(root, "show", f"HEAD:{relpath}")


def bounce_until_stopped(worker: Worker, clock: Clock, address: str) -> None:
    for n in range(5):  # one hard bounce a day reaches the threshold of 5
        clock.now = DAY + dt.timedelta(days=n)
        worker.commands.count_bounce(address, True, "relay: 550 no such user", worker.model())
    worker.store.flush()


def test_stopping_and_resuming_mail_keeps_the_comments_and_order(root: Path, worker: Worker, clock: Clock) -> None:
    bounce_until_stopped(worker, clock, "ann.lee@example.org")
    stopped = COMMENTED + "undeliverable:\n  ann.lee@example.org: '2026-11-05'\n"
    assert committed(root, ANN) == stopped
    assert (root / ANN).read_text() == stopped
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "log", "-1", "--format=%s").strip() == "people: stop mail to ann.lee@example.org"

    clock.now = DAY + dt.timedelta(days=13)
    assert worker.commands.probe_due(worker.clock(), worker.model()) == ["ann.lee@example.org"]
    worker.store.flush()
    assert committed(root, ANN) == COMMENTED
    assert (root / ANN).read_text() == COMMENTED and git(root, "status", "--porcelain") == ""


def test_an_uncommitted_edit_is_not_committed_and_is_left_in_the_work_tree(
    root: Path, worker: Worker, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    edited = COMMENTED.replace("role: Charge nurse", "role: Nurse unit manager")
    (root / ANN).write_text(edited)  # an editor's work, not committed yet
    with caplog.at_level(logging.WARNING, logger="mailgateway.people_edits"):
        bounce_until_stopped(worker, clock, "ann.lee@example.org")
    assert committed(root, ANN) == COMMENTED + "undeliverable:\n  ann.lee@example.org: '2026-11-05'\n"
    assert git(root, "show", "--name-only", "--format=", "HEAD").split() == [ANN]
    assert (root / ANN).read_text() == edited
    assert any(ANN in r.getMessage() and "uncommitted" in r.getMessage() for r in caplog.records)


def test_approve_known_never_takes_a_committed_persons_file(root: Path, worker: Worker) -> None:
    eve = "people/eve.yml"
    (root / eve).write_text("# Eve Adams, pharmacy: not the GP.\nname: Eve Adams\nemails: [eve@pharmacy.example]\n")
    (root / eve).write_text((root / eve).read_text() + "kind: staff\norganisation: Example Health\n")
    git(root, "add", eve)
    git(root, "-c", "user.name=Editor", "-c", "user.email=editor@example.org", "commit", "-qm", "Eve Adams")
    before = committed(root, eve)
    git(root, "mv", eve, "people/eve.adams.yml")  # an editor's rename, not committed yet

    held = mail(
        subject="Question from a GP", body="How do you hand over to GPs?", sender="Dr Eve Moss <eve@gp.example>"
    )
    envelope = Envelope(mail_from="eve@gp.example", rcpt_tos=[f"handover@{DOMAIN}"], peer="127.0.0.1")
    worker.spool.accept(wire(held), envelope)
    worker.run_once()
    [item] = worker.spool.held()
    decision = Decision("approve", known=True)
    assert worker.commands.decide(item["id"], decision, "Ann Lee <ann.lee@example.org>", worker.model()) == "published"
    worker.store.flush()

    assert committed(root, eve) == before  # the committed Eve, comment and all
    added = committed(root, "people/eve-2.yml")
    assert "name: Dr Eve Moss" in added and "eve@gp.example" in added
    assert not (root / eve).exists() and (root / "people/eve.adams.yml").read_text() == before  # still the editor's
    assert "people/eve.adams.yml" not in git(root, "ls-tree", "-r", "--name-only", "HEAD")


def test_edited_yaml_keeps_comments_quotes_indentation_and_order() -> None:
    text = "# top\nb: 'quoted'  # why\na: [1, 2]\nlist:\n    - x\n    - y\n"

    def change(data: dict) -> None:
        data["c"] = {"k": "2026-11-05"}

    assert edited_yaml(text, change) == text + "c:\n    k: '2026-11-05'\n"
    assert edited_yaml(text, lambda data: None) == text
    written = "name: Bo\nemails:\n- bo@example.org\nundeliverable:\n  bo@example.org: '2026-11-05'\n"
    assert edited_yaml(written, resume_mail("bo@example.org")) == "name: Bo\nemails:\n- bo@example.org\n"
    assert edited_yaml("a: 1\n", stop_mail("x@y", "2026-11-05")) == "a: 1\nundeliverable:\n  x@y: '2026-11-05'\n"
    with pytest.raises(ValueError):
        edited_yaml("- a list\n", stop_mail("x@y", "2026-11-05"))


def test_an_editors_commit_of_the_same_file_meanwhile_is_built_on_not_undone(root: Path) -> None:
    from test_store import editor_commit_without_index

    edited = COMMENTED.replace("role: Charge nurse", "role: Nurse unit manager")

    class Racing(Store):
        """The editor's commit of Ann's file lands just before the gateway first moves the branch."""

        raced = ""

        def _swap(self, repo, name, parent, oid, why):  # type: ignore[no-untyped-def]
            if not self.raced:
                self.raced = editor_commit_without_index(root, ANN, edited)
            return super()._swap(repo, name, parent, oid, why)

    store = Racing(root)
    (root / ".intranet").mkdir()
    people = PeopleFiles(root, store, store.commit, root / ".intranet")
    gateway = ("Intranet gateway", "intranet-noreply@intranet.localhost")
    made = people.edit(
        "ann.lee",
        stop_mail("ann.lee@example.org", "2026-11-05"),
        subject="people: stop mail to ann.lee@example.org",
        body="",
        author=gateway,
        committer=gateway,
        trailers={},
    )
    store.flush()
    assert made is not None and made.parent == store.raced
    stopped = edited + "undeliverable:\n  ann.lee@example.org: '2026-11-05'\n"
    assert committed(root, ANN) == stopped and (root / ANN).read_text() == stopped
    assert git(root, "status", "--porcelain") == ""
