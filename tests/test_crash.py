"""Once the gateway has said 250 the message is not lost, and never posted twice.

A client sends 200 messages while the gateway is killed with SIGKILL at
random moments and restarted, as a crashing server and a retrying MTA would
do. Afterwards every message that got a 250 is a post exactly once, in one
commit.
"""

from __future__ import annotations

import os
import random
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from conftest import free_port
from mailtest import DOMAIN, git, git_root, mail, wire

from intranet.format import read_intranet
from mailgateway.spool import Spool

MESSAGES = 140  # at least 5 kills, one every 3-25 accepted messages (about 10)


def start_gateway(root: Path, port: int) -> subprocess.Popen:
    """`intranet gateway` on ``port``; what it logs goes to gateway.log beside ``root`` (see log_tail)."""
    with (root.parent / "gateway.log").open("ab") as log:
        return _start(root, port, log)


def _start(root: Path, port: int, log) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intranet.cli",
            "gateway",
            "--root",
            str(root),
            "--smtp",
            f"127.0.0.1:{port}",
            "--lmtp",
            "",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"},  # SIGABRT prints every thread's stack (see stuck)
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None:
                raise AssertionError(f"gateway exited on start:\n{log_tail(root)}") from None
            time.sleep(0.05)
    raise AssertionError(f"gateway did not start:\n{log_tail(root)}")


def log_tail(root: Path, lines: int = 60) -> str:
    return "\n".join((root.parent / "gateway.log").read_text(errors="replace").splitlines()[-lines:])


def stuck(process: subprocess.Popen, root: Path) -> str:
    """Why the gateway is not getting on: its threads' stacks (it dies of the SIGABRT) and its log."""
    process.send_signal(signal.SIGABRT)
    process.wait(timeout=30)
    return log_tail(root, 200)


def test_sigkill_at_random_moments_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    port = free_port()
    messages = [mail(subject=f"Crash test {n}", body=f"Message number {n}.") for n in range(MESSAGES)]
    accepted: list[str] = []
    done = threading.Event()

    def client() -> None:
        for message in messages:
            while True:  # a sending MTA retries until it gets an answer
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                        smtp.sendmail("ann.lee@example.org", [f"handover@{DOMAIN}"], wire(message))
                    accepted.append(message["Message-ID"])
                    break
                except (OSError, smtplib.SMTPException):
                    time.sleep(0.05)
        done.set()

    rng = random.Random(2026)
    process = start_gateway(root, port)
    sender = threading.Thread(target=client, daemon=True)
    sender.start()
    kills = 0
    next_kill = rng.randint(3, 25)
    try:
        while not done.is_set():
            # Kill after a random number of accepted messages, at a random moment after that.
            if len(accepted) < next_kill:
                time.sleep(0.01)
                continue
            next_kill = len(accepted) + rng.randint(3, 25)
            time.sleep(rng.uniform(0.0, 0.15))
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
            process = start_gateway(root, port)
        sender.join(timeout=300)
        # Let the last gateway drain the spool.
        spool = Spool(root / ".intranet")
        deadline = time.monotonic() + 180
        while spool.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        pending = spool.pending()
        assert pending == [], f"{len(pending)} messages left in the spool:\n{stuck(process, root)}"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()

    assert kills >= 5, "the gateway was hardly killed: the test proved nothing"
    assert sorted(accepted) == sorted(m["Message-ID"] for m in messages)
    posts = Counter(p.message_id for p in read_intranet(root).posts if p.community == "handover")
    assert all(posts[mid] == 1 for mid in accepted), [mid for mid in accepted if posts[mid] != 1]
    trailers = Counter(git(root, "log", "--format=%(trailers:key=Message-ID,valueonly)").split())
    assert all(trailers[mid] == 1 for mid in accepted), [mid for mid in accepted if trailers[mid] != 1]
    assert list(Spool(root / ".intranet").failed()) == []
    status = git(root, "status", "--porcelain", "--untracked-files=all").strip()
    assert status == "", status
