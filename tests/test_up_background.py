"""`intranet up` is never deaf, never dark: it answers and serves at once, and full builds run behind it.

A full build runs in a child process; ``INTRANET_TEST_HOLD_BUILD`` names a file the child waits on
before it renders, so a test can act while a build is observably under way (what it builds is not
changed).
"""

from __future__ import annotations

import filecmp
import os
import re
import signal
import smtplib
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from conftest import free_port
from mailtest import DOMAIN, git, git_root, mail, wire
from test_up import fetch, start_with_ctrl_c, wait_for

from generator.builder import build_site
from generator.resume import STATE_FILE
from generator.serve import make_server
from intranet.format import path_key, post_relpath

TOPIC = post_relpath("procurement", "<p1@example.org>")


class Up:
    """``intranet up`` on ``root`` in a subprocess, its output collected as it goes."""

    def __init__(self, root: Path, hold: Path | None, gateway: bool = True) -> None:
        self.root = root
        self.http, self.smtp = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.http}/"
        self.page = f"{self.base}c/procurement/t/{path_key(TOPIC)[:12]}/"
        command = [sys.executable, "-m", "intranet.cli", "up", "--root", str(root), "--http", f"127.0.0.1:{self.http}"]
        command += ["--smtp", f"127.0.0.1:{self.smtp}", "--lmtp", ""] if gateway else ["--no-gateway"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if hold is not None:
            env["INTRANET_TEST_HOLD_BUILD"] = str(hold)
        self.process = start_with_ctrl_c(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout or ()), daemon=True)
        self._reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def send_reply(self, body: str) -> None:
        reply = mail(subject="Re: Glove supply", body=body, to=f"procurement@{DOMAIN}", in_reply_to="<p1@example.org>")
        with smtplib.SMTP("127.0.0.1", self.smtp, timeout=30) as client:
            client.sendmail("ann.lee@example.org", [f"procurement@{DOMAIN}"], wire(reply))

    def stop(self, sig: int = signal.SIGINT) -> int:
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=60)
        return self.process.returncode


def _smtp_answers(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def test_up_serves_the_last_site_and_takes_mail_before_the_catch_up_build_and_stops_cleanly(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    build_site(root)  # the last good site, on disk
    before = (root / "site" / "staff" / "index.html").read_bytes()
    path = root / TOPIC
    path.write_text(path.read_text().replace("Delays expected.", "Stock arrives Friday."))
    git(root, "commit", "-qam", "An edit the catch-up build shows")
    hold = tmp_path / "hold"
    hold.touch()
    up = Up(root, hold)
    try:
        wait_for(lambda: _smtp_answers(up.smtp), what="SMTP to answer")
        up.send_reply("Thanks for the warning.")  # a 250: the message is spooled
        status, body = fetch(up.page)
        assert status == 200 and "Delays expected." in body  # the last site, served at once
        wait_for(lambda: up.count("full build: rendering in process"), what="the catch-up build to start")
        child = int(re.search(r"rendering in process (\d+)", up.output).group(1))  # type: ignore[union-attr]
        # The worker routes the spooled message once the posts are read; the build is still held.
        try:
            wait_for(lambda: "Re: Glove supply" in git(root, "log", "-1", "--format=%s"), what="the reply committed")
        except AssertionError as exc:  # (seldom seen, not yet understood: keep what `intranet up` said)
            raise AssertionError(f"{exc}; intranet up said:\n{up.output[-6000:]}") from None
        assert up.count("full build landed") == 0
        assert "Delays expected." in fetch(up.page)[1]
    finally:
        returncode = up.stop(signal.SIGTERM)
    assert returncode == 0, up.output
    assert "Traceback" not in up.output
    assert (root / "site" / "staff" / "index.html").read_bytes() == before  # the last good site stays
    assert not [p.name for p in root.iterdir() if p.name.startswith(".site.")]  # no staging left behind
    assert not Path(f"/proc/{child}").exists()  # the build process is gone


def test_mail_during_a_full_rebuild_reaches_its_page_first_and_stays_after_the_swap(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    hold = tmp_path / "hold"
    up = Up(root, hold)
    try:
        wait_for(lambda: up.count("full build landed") == 1, what="the first build")
        assert fetch(up.base)[0] == 200
        hold.touch()
        config = root / "mkdocs.yml"  # the site's name is on every page: a full rebuild
        config.write_text(config.read_text().replace("site_name: Northfield", "site_name: Renamed Northfield", 1))
        git(root, "commit", "-qm", "Renamed", "--", "mkdocs.yml")  # what is committed is followed
        wait_for(lambda: up.count("full build: rendering in process") == 2, what="the rebuild to start")
        up.send_reply("Thanks for the warning.")
        wait_for(lambda: "Thanks for the warning." in fetch(up.page)[1], what="the reply on its page")
        assert up.count("full build landed") == 1  # while the rebuild is still held
        assert "Renamed Northfield" not in fetch(up.page)[1]
        hold.unlink()
        wait_for(lambda: up.count("full build landed") == 2, what="the rebuild to land")
        body = fetch(up.page)[1]
        assert "Thanks for the warning." in body and "Renamed Northfield" in body
    finally:
        returncode = up.stop()
    assert returncode == 0, up.output
    assert "Traceback" not in up.output
    assert "saved the trees' state for the next start" in up.output
    # While it is stopped an editor changes a post; at the restart the trees saved at the stop are
    # taken back and brought up to date: no full build (one would be held), the edit shows at once.
    path = root / TOPIC
    path.write_text(path.read_text().replace("Delays expected.", "Stock arrives Friday."))
    git(root, "commit", "-qam", "An edit while it is stopped")
    hold.touch()
    again = Up(root, hold)
    try:
        wait_for(lambda: again.count("resumed: updated") == 1, what="the saved trees to be taken back")
        assert "Stock arrives Friday." in fetch(again.page)[1]
        assert again.count("1 post(s) changed since") == 1
        assert again.count("full build: rendering in process") == 0
        assert not (root / "site" / STATE_FILE).exists()  # taken: a crash now would not resume it
    finally:
        returncode = again.stop()
    assert returncode == 0, again.output
    assert "Traceback" not in again.output
    (root / "site" / STATE_FILE).unlink()  # (saved again at this stop)
    fresh = tmp_path / "fresh"
    build_site(root, fresh)
    assert _differences(fresh, root / "site") == []  # the tree after all of it is what a full build makes


def test_the_first_start_answers_503_with_retry_after_until_there_is_a_site(tmp_path: Path) -> None:
    server = make_server(tmp_path / "site" / "staff", ("127.0.0.1", free_port()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/c/x/"
        try:
            urllib.request.urlopen(url, timeout=10)
            raise AssertionError("expected 503")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503
            assert exc.headers["Retry-After"].isdigit()
            assert "being built" in exc.read().decode()
        (tmp_path / "site" / "staff").mkdir(parents=True)
        (tmp_path / "site" / "staff" / "index.html").write_text("<p>here</p>")
        assert fetch(f"http://127.0.0.1:{server.server_address[1]}/") == (200, "<p>here</p>")
    finally:
        server.shutdown()
        server.server_close()


def _differences(a: Path, b: Path) -> list[str]:
    found: list[str] = []
    compare = filecmp.dircmp(a, b)
    found += [f"only in {a}: {n}" for n in compare.left_only] + [f"only in {b}: {n}" for n in compare.right_only]
    found += [str(Path(compare.left) / n) for n in compare.diff_files + compare.funny_files]
    for name in compare.common_dirs:
        found += _differences(a / name, b / name)
    return found
