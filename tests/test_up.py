"""`intranet up` as a person runs it: serves, follows edits, stops cleanly on Ctrl-C."""

from __future__ import annotations

import datetime as dt
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import free_port
from helpers import add_post
from mailtest import DOMAIN, git, git_root, mail, wire

from intranet.format import path_key, post_relpath


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""


def wait_for(predicate, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def start_with_ctrl_c(command: list[str], **options) -> subprocess.Popen:
    """Start ``command`` so that SIGINT is Ctrl-C to it, as in a terminal.

    A command started in the background by a shell without job control (as CI or `nohup make
    test &` may start the tests) inherits SIGINT ignored, and Python then never turns it into
    KeyboardInterrupt. An ignored signal stays ignored across exec while a handled one is reset,
    so SIGINT is handled here while the child starts.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(command, **options)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)


def test_up_serves_rebuilds_on_change_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port, smtp, unsubscribe = free_port(), free_port(), free_port()
    small_root = git_root(tmp_path / "intranet", unsubscribe_http=f"127.0.0.1:{unsubscribe}")
    base = f"http://127.0.0.1:{port}/"
    process = start_with_ctrl_c(
        [
            sys.executable,
            "-m",
            "intranet.cli",
            "up",
            "--root",
            str(small_root),
            "--http",
            f"127.0.0.1:{port}",
            "--smtp",
            f"127.0.0.1:{smtp}",
            "--lmtp",
            "",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []  # what it has printed so far, read as it goes
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        wait_for(lambda: fetch(base)[0] == 200, what="the site to be served")
        key = path_key(post_relpath("procurement", "<p1@example.org>"))[:12]
        page = f"{base}c/procurement/t/{key}/"
        assert "Delays expected." in fetch(page)[1]
        assert fetch(base + "no/such/page/")[0] == 404
        # The gateway's one-click unsubscribe endpoint is up too (a token that does not check out: 404);
        # the gateway starts after the site, so it may take a moment more on a busy machine.
        bad_token = f"http://127.0.0.1:{unsubscribe}/unsubscribe/procurement/u0123456789abcdef01234567"
        wait_for(lambda: fetch(bad_token)[0] != 0, what="the one-click endpoint to answer")
        assert fetch(bad_token)[0] == 404

        # An editor saves a file without committing it: readers see nothing of it ...
        path = small_root / post_relpath("procurement", "<p1@example.org>")
        path.write_text(path.read_text().replace("Delays expected.", "Stock arrives Friday."))
        # ... while a commit of another file (a new topic, as the gateway will write it) is followed.
        new = add_post(
            small_root,
            "procurement",
            "<p2@example.org>",
            subject="Recall notice for lot 42",
            body="Check your shelves.",
        )
        git(small_root, "add", str(new))
        git(small_root, "commit", "-qm", "A new topic", "--", str(new))
        wait_for(lambda: "Recall notice for lot 42" in fetch(f"{base}c/procurement/")[1], what="the new topic")
        assert "Delays expected." in fetch(page)[1]  # the saved edit was read by no one: not committed
        git(small_root, "commit", "-qm", "The edit", "--", str(path))
        wait_for(lambda: "Stock arrives Friday." in fetch(page)[1], what="the committed edit to be served")

        # A reply by email: committed by the gateway, then on the page.
        reply = mail(
            subject="Re: Glove supply",
            body="Thanks for the warning.",
            to=f"procurement@{DOMAIN}",
            in_reply_to="<p1@example.org>",
        )
        with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
            client.sendmail("ann.lee@example.org", [f"procurement@{DOMAIN}"], wire(reply))
        wait_for(lambda: "Thanks for the warning." in fetch(page)[1], what="the emailed reply to be served")
        assert "procurement: Re: Glove supply" in git(small_root, "log", "-1", "--format=%s")

        # A broken edit keeps the last good site.
        (small_root / "mkdocs.yml").write_text("theme:\n  name: no-such-theme\n")
        git(small_root, "commit", "-qm", "A broken theme", "--", "mkdocs.yml")
        wait_for(lambda: any("build failed" in line for line in lines), what="the broken edit to be tried")
        status, body = fetch(page)
        assert status == 200 and "Stock arrives Friday." in body
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=60)
    output = "".join(lines)
    assert process.returncode == 0, output
    assert "serving" in output and "stopping" in output and "SMTP on 127.0.0.1" in output
    assert f"one-click unsubscribe (HTTP) on 127.0.0.1:{unsubscribe}" in output
    assert "build failed, the last good site stays" in output
    assert "Traceback" not in output


def test_bursts_of_changes_coalesce_into_few_rebuilds(small_root: Path) -> None:
    from generator.builder import Builder
    from generator.serve import Rebuilder

    builder = Builder(small_root)
    model = builder.model
    rebuilder = Rebuilder(builder)
    model.subscribe(rebuilder.take)
    # The burst comes before the thread looks: however slow the machine, it is one burst.
    for _ in range(50):
        model.apply(["mkdocs.yml"])
    rebuilder.start()
    try:
        wait_for(lambda: rebuilder.builds >= 1, what="a rebuild")
        model.apply([])  # nothing named: nothing to do
        time.sleep(0.3)  # a gap, so that it is looked at alone (on a slow machine it may join the next: no harm)
        model.apply(["mkdocs.yml"])  # the theme's settings: always a full build (a people/ edit no longer is)
        wait_for(lambda: rebuilder.builds >= 2, what="a second rebuild")
    finally:
        rebuilder.stop()
        builder.close()
    assert rebuilder.builds == 2
    assert (small_root / "site" / "staff" / "index.html").is_file()


def test_new_mail_that_comes_during_a_turn_goes_before_a_big_changes_next_part(small_root: Path) -> None:
    from generator.builder import Builder
    from generator.deferred import Deferred
    from generator.serve import Rebuilder

    builder = Builder(small_root)
    builder.defer, builder.deferred = True, Deferred()
    rebuilder = Rebuilder(builder)  # (not started: the turns are taken here)
    try:
        builder.build()
        model = builder.model
        day = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        edited = [add_post(small_root, "handover", f"<e{n}@x>", f"Editor {n}", date=day) for n in range(8)]
        big = model.apply([str(p.relative_to(small_root)) for p in edited])
        first = model.apply([str(add_post(small_root, "handover", "<m1@x>", "Mail 1").relative_to(small_root))])
        rebuilder.take(model.apply([str(add_post(small_root, "handover", "<m2@x>", "Mail 2").relative_to(small_root))]))
        assert rebuilder._take_turn([big, first]) == "updated"
        assert rebuilder.backlog.waiting_posts == 8  # the second mail came meanwhile: the part waits for it
        with rebuilder._lock:
            waiting, rebuilder._changes = rebuilder._changes, []
        rebuilder._take_turn(waiting)  # the second mail, then a part: nothing else waits now
        assert rebuilder.backlog.waiting_posts == 3
    finally:
        builder.close()
