"""Two mail nodes behind one Postfix, one Git remote: a node killed twice loses no mail and doubles none.

A real Postfix (with the milters of docs/deployment.md) delivers the mail domain over LMTP to two
gateways, `intranet gateway` processes with their own roots, states and checkouts (``node`` mx1
and mx2), trying mx1 first and mx2 when mx1 does not answer, as a sender's MTA tries a domain's
second MX. While ten clients send, mx1 is killed with SIGKILL twice and started again, and an
editor pushes. Then every message is on the remote once, each subscriber got each post once (the
two nodes' outboxes together), and the editor's commit is there.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import dkim
import pytest
from conftest import free_port
from gitremote import editor_clone, editor_commit, editor_push, post_files, remote_root, trailers, wait_for
from helpers import add_person
from mailtest import DOMAIN, git, git_root, mail, wire
from postfix import AUTHSERV_ID, MailStack, dkim_key, need_tools

from mailgateway.outgoing import read_outbox
from mailgateway.parse import parse_message

NORTH = "northhospital.org.uk"
AMIRA = f"amira.haddad@{NORTH}"
SUBSCRIBERS = ("bo.chen@example.org", "cy.diaz@example.org")
CLIENTS, EACH = 10, 12  # messages: CLIENTS * EACH


class Node:
    """`intranet gateway` on ``root``, taking LMTP on ``port``; its log in ``root``'s parent."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "intranet.cli", "gateway", "--root", str(self.root)]
        command += ["--smtp", "", "--lmtp", f"127.0.0.1:{self.port}"]
        with (self.root.parent / "gateway.log").open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},  # (its log is read while it runs)
            )
        wait_for(self._answers, 60, f"{self.root.parent.name} to answer LMTP\n{self.log_tail()}")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # the gateway and any `git` it runs, as a power cut
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def state(self) -> Path:
        return self.root / ".intranet"

    def idle(self) -> bool:
        out = self.state() / "outgoing"
        return not list((out / "queue").glob("*.msg")) and not list((out / "jobs").glob("*"))

    def log_tail(self) -> str:
        path = self.root.parent / "gateway.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-30:]) if path.exists() else ""

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                return conn.recv(100).startswith(b"220")
        except OSError:
            return False


def _settings(node: str) -> dict[str, object]:
    return {"node": node, "smtp": "", "trust_local_senders": False, "trusted_authserv_id": AUTHSERV_ID}


def test_two_gateways_behind_postfix_lose_nothing_and_double_nothing_while_one_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tools("postfix", "opendkim", "opendmarc", "dnsmasq", "unshare", "ip")
    monkeypatch.setenv("INTRANET_SECRET", "two-mx-test-secret-0123456789abcdef")  # the same on both nodes
    key, record = dkim_key(tmp_path, NORTH)
    records = {f"s1._domainkey.{NORTH}": record, NORTH: "v=spf1 ip4:192.0.2.25 -all"}
    root_a, bare = remote_root(tmp_path / "mx1", **_settings("mx1"))
    add_person(root_a, "amira.haddad", name="Amira Haddad", emails=[AMIRA], organisation="North Hospital")
    add_person(root_a, "cy.diaz", name="Cy Diaz", emails=["cy.diaz@example.org"], organisation="Example Health")
    (root_a / "communities/handover/subscribers.yml").write_text("bo.chen: each\ncy.diaz: each\n")
    git(root_a, "add", "-A")
    git(root_a, "-c", "user.name=E", "-c", "user.email=e@example.org", "commit", "-qm", "Amira, Cy, subscribers")
    git(root_a, "push", "-q", str(bare), "main")
    root_b = git_root(tmp_path / "mx2" / "intranet", remote=str(bare), **_settings("mx2"))
    mx1, mx2 = Node(root_a, free_port()), Node(root_b, free_port())
    editor = editor_clone(bare, tmp_path / "editor")

    def signed(n: int) -> tuple[str, bytes]:
        raw = wire(mail(subject=f"Ward rota {n:03d}", body=f"Rota change {n}.", sender=AMIRA))
        return AMIRA, dkim.sign(raw, b"s1", NORTH.encode(), key) + raw

    batches = [[signed(c * EACH + n) for n in range(EACH)] for c in range(CLIENTS)]
    ids = [parse_message(raw, dt.datetime.now(dt.UTC)).message_id for batch in batches for _, raw in batch]
    with MailStack(tmp_path / "mta", records, [mx1.port, mx2.port], DOMAIN) as stack:
        try:
            mx1.start()
            mx2.start()
            errors: list[BaseException] = []

            def client(batch: list[tuple[str, bytes]]) -> None:
                try:
                    for message in batch:  # one session a message, spread out: the kills fall among them
                        stack.send([message], f"handover@{DOMAIN}")
                        time.sleep(0.3)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            clients = [threading.Thread(target=client, args=(batch,)) for batch in batches]
            for thread in clients:
                thread.start()
            for share in (0.25, 0.6):  # mx1 dies twice while mail comes in, and comes back
                wait_for(lambda share=share: _taken(mx1, mx2) >= share * len(ids), 120, "mail to be taken")
                mx1.kill()
                time.sleep(1.5)
                mx1.start()
                if share < 0.5:
                    editor_commit(editor, "A page about rotas", {"communities/handover/pages/rotas.md": "# Rotas\n"})
                    editor_push(editor)
            for thread in clients:
                thread.join()
            assert errors == []
            wait_for(lambda: _on_remote(bare, ids) == len(ids), 120, f"every post on the remote\n{mx1.log_tail()}")
            wait_for(lambda: mx1.idle() and mx2.idle(), 120, "both nodes to have sent their mail")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.log_tail()}") from None
        finally:
            mx1.stop()
            mx2.stop()
    files, commits = post_files(bare, ids), trailers(bare)
    assert [mid for mid in ids if files[mid] != 1 or commits[mid] != 1] == []
    assert "communities/handover/pages/rotas.md" in git(bare, "ls-tree", "-r", "--name-only", "main")
    sent = read_outbox(mx1.state()) + read_outbox(mx2.state())
    got = Counter((str(m["Delivered-To"]), str(m["Subject"])) for m in sent)
    for n in range(len(ids)):  # each subscriber once (Amira, the author, is not one)
        for address in SUBSCRIBERS:
            times = sum(k for (to, subject), k in got.items() if to == address and f"Ward rota {n:03d}" in subject)
            assert times == 1, (n, address, times)
    both = (
        {str(m["Delivered-To"]) for m in read_outbox(mx1.state())},
        {str(m["Delivered-To"]) for m in read_outbox(mx2.state())},
    )
    assert all(both), "each node mailed some of the posts"


def _taken(*nodes: Node) -> int:
    """Messages the nodes spooled (said 250 to), from their logs."""
    logs = [node.root.parent / "gateway.log" for node in nodes]
    return sum(path.read_text(errors="replace").count(" spooled ") for path in logs if path.exists())


def _on_remote(bare: Path, ids: list[str]) -> int:
    return sum(1 for n in post_files(bare, ids).values() if n >= 1)
