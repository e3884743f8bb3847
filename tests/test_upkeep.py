"""Faults of a long-running server (issue #12), each shown with real parts: a failed update, a
shutdown while the worker is busy, the Git index behind the gateway's commits, signals from a
shell that ignores SIGINT, and an unreadable post file met by a redelivery."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_port
from helpers import add_post
from mailtest import Harness, git, git_root, mail

from generator.builder import Builder
from intranet.format import path_key, post_relpath
from intranet.settings import read_settings
from mailgateway.spool import Spooled
from mailgateway.worker import Worker


def status(root: Path) -> str:
    return git(root, "status", "--porcelain")


def test_a_failed_update_does_not_leave_a_post_off_the_site(small_root: Path) -> None:
    builder = Builder(small_root)
    try:
        builder.build()
        relpath = post_relpath("handover", "<late@example.org>")
        add_post(small_root, "handover", "<late@example.org>", "Late shift", "Who covers?", "ann.lee")
        # Something in the way of the topic's page: the update fails half way.
        blocker = small_root / "site" / "staff" / "c" / "handover" / "t" / path_key(relpath)[:12]
        blocker.parent.mkdir(parents=True, exist_ok=True)
        blocker.write_text("in the way")
        with pytest.raises(OSError):
            builder.update([relpath])
        blocker.unlink()
        # The same file reported again is still a change to the site: it was never shown.
        assert builder.update([relpath]) in ("updated", "rebuilt")
        assert (blocker / "index.html").is_file()
        assert "Late shift" in (blocker / "index.html").read_text()
    finally:
        builder.close()


class _HeldWorker(Worker):
    """A worker whose thread stays inside a message until told to go on (a slow commit, say)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.inside = threading.Event()
        self.go_on = threading.Event()

    def process(self, spooled: Spooled) -> None:
        self.inside.set()
        self.go_on.wait(30)
        super().process(spooled)


def test_stop_never_ends_the_batch_from_another_thread_while_the_worker_is_inside_a_message(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    worker = _HeldWorker(root, read_settings(root))
    message = mail(subject="Handover at six", message_id="<six@example.org>")
    worker.spool.accept(message.as_bytes(), _envelope())
    worker.start()
    try:
        assert worker.inside.wait(30)
        assert worker.stop(timeout=0.2) is False  # still busy: stop says so and leaves the batch alone
        assert not (root / ".intranet" / "index-cache.json").exists()
        assert (root / ".intranet" / "worker.lock").exists()
    finally:
        worker.go_on.set()
    assert worker.stop(timeout=30) is True
    # The worker's own thread finished the message, ended the batch and kept its cache.
    log = git(root, "log", "--format=%s")
    assert "handover: Handover at six" in log
    assert status(root) == ""
    assert (root / ".intranet" / "index-cache.json").is_file()


def _envelope():
    from mailgateway.spool import Envelope

    return Envelope(mail_from="ann.lee@example.org", rcpt_tos=["handover@intranet.localhost"], peer="127.0.0.1")


def test_an_outcome_is_recorded_only_once_its_post_is_in_the_git_index(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    seen: list[str] = []
    with Harness(root) as h:
        ids = [f"<burst{n}@example.org>" for n in range(12)]

        def send_all() -> None:
            for n, mid in enumerate(ids):
                h.send(mail(subject=f"Burst {n}", message_id=mid), "handover@intranet.localhost")

        sender = threading.Thread(target=send_all)
        sender.start()
        deadline = time.monotonic() + 60
        while len(seen) < len(ids) and time.monotonic() < deadline:
            done = {r["message_id"] for r in h.records() if r.get("outcome") == "published"}
            fresh = [mid for mid in ids if mid in done and mid not in seen]
            if fresh:
                # Whoever sees an outcome finds its post in the Git index: never "deleted" and "untracked".
                lines = git(root, "status", "--porcelain", "--untracked-files=all").splitlines()
                paths = {post_relpath("handover", mid) for mid in fresh}
                assert [line for line in lines if line[3:] in paths] == [], fresh
                seen += fresh
            time.sleep(0.01)
        sender.join()
    assert sorted(seen) == sorted(ids)
    assert status(root) == ""  # and once the spool is empty, nothing at all


def _up(root: Path, ignore_sigint: bool) -> subprocess.Popen[str]:
    def before() -> None:
        if ignore_sigint:  # as `nohup` or `cmd &` in a script leave it
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intranet.cli",
            "up",
            "--root",
            str(root),
            "--http",
            f"127.0.0.1:{free_port()}",
            "--smtp",
            f"127.0.0.1:{free_port()}",
            "--lmtp",
            "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=before,
    )


def _wait_running(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "running (Ctrl-C or SIGTERM to stop)" in line:
            return "".join(lines)
    process.kill()
    raise AssertionError("intranet up did not start:\n" + "".join(lines))


@pytest.mark.parametrize(("sig", "ignore_sigint"), [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_up_stops_cleanly_on_sigint_even_when_started_ignoring_it_and_on_sigterm(
    tmp_path: Path, sig: signal.Signals, ignore_sigint: bool
) -> None:
    root = git_root(tmp_path / "intranet")
    process = _up(root, ignore_sigint)
    _wait_running(process)
    process.send_signal(sig)
    try:
        output, _ = process.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"intranet up did not stop on {sig.name}:\n{output[-4000:]}") from None
    assert process.returncode == 0, output
    assert "stopping" in output and "Traceback" not in output


def test_a_redelivery_meeting_an_unreadable_post_file_writes_no_second_copy(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = git_root(tmp_path / "intranet")
    message = mail(subject="Rota", message_id="<rota@example.org>")
    with Harness(root) as h:
        h.send(message, "handover@intranet.localhost")
        h.wait("<rota@example.org>")
    path = root / post_relpath("handover", "<rota@example.org>")
    path.write_bytes(b"\xff\xfe not a post")  # an editor's tool mangled it
    worker = Worker(root, read_settings(root))
    assert worker.acquire()
    try:
        key = worker.spool.accept(message.as_bytes(), _envelope())
        worker.run_once()
    finally:
        worker.stop()
    posts = sorted(p.name for p in path.parent.glob("*.md"))
    assert posts == [path.name]  # no "<name>-<hash>.md" beside it
    assert key in worker.spool.pending() and worker.spool.tries(key) == 1  # tried again, then failed/ with why
    assert "the post file for this Message-ID cannot be read" in caplog.text
