"""Two mail nodes behind one Postfix and one Git remote, under load: the scenario of issue #16.

A real Postfix (with the milters of docs/deployment.md) delivers the mail domain over LMTP to two
gateways, `intranet gateway` processes with their own roots, states and checkouts (``node`` mx1
and mx2), trying mx1 first and mx2 when mx1 does not answer, as a sender's MTA tries a domain's
second MX. The remote is a bare repository served by `git daemon`. While ``clients`` clients
each send ``each`` signed messages, one a session:

- mx1 is killed with SIGKILL twice and started again, and an editor pushes a page;
- the remote goes away (its daemon stopped) for ``away`` seconds;
- a message from a known person whose mail is not authenticated is held at mx1 when the load
  begins, and its moderator's approval reaches mx2 (sent while mx1 is down).

:func:`run` carries it out and returns what happened; :func:`problems` says what is wrong with it
(nothing, when every message is on the remote once, each subscriber got each post once, the held
message is published once, and the editor's page is there). tests/test_two_mx.py runs it small;
``bench/two_mx_bench.py`` at the issue's size, with the times.
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
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import dkim
from conftest import free_port
from gitremote import Daemon, editor_clone, editor_commit, editor_push, post_files, remote_root, trailers, wait_for
from helpers import add_person
from mailtest import DOMAIN, git, git_root, mail, wire
from postfix import AUTHSERV_ID, MailStack, dkim_key
from test_mail_out import reply

from mailgateway.outgoing import read_outbox
from mailgateway.parse import parse_message

NORTH = "northhospital.org.uk"
AMIRA = f"amira.haddad@{NORTH}"  # signs her mail (DKIM), a moderator of handover
CY = "cy.diaz@example.org"  # a subscriber; his own domain signs nothing, so his post is held
SUBSCRIBERS = ("bo.chen@example.org", CY)
PAGE = "communities/handover/pages/rotas.md"


@dataclass
class Load:
    clients: int = 10
    each: int = 12  # messages a client sends, one an SMTP session
    pause: float = 0.3  # seconds between a client's messages
    away: float = 3.0  # seconds the remote is away


@dataclass
class Outcome:
    ids: list[str]  # the load's Message-IDs, then the held one
    subjects: dict[str, str]  # Message-ID -> subject
    authors: dict[str, str]  # Message-ID -> sender
    files: Counter[str]  # post files on the remote's branch, by Message-ID
    commits: Counter[str]  # commits on the remote's branch, by Message-ID trailer
    tree: list[str]  # the remote's files
    sent: dict[str, list[EmailMessage]]  # each node's outbox
    taken: dict[str, Counter[str]]  # Message-IDs each node's worker read (its log)
    times: dict[str, float] = field(default_factory=dict)


class Node:
    """`intranet gateway` on ``root``, taking LMTP on ``port``; its log in ``root``'s parent."""

    def __init__(self, name: str, root: Path, port: int) -> None:
        self.name, self.root, self.port = name, root, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "intranet.cli", "gateway", "--root", str(self.root)]
        command += ["--smtp", "", "--lmtp", f"127.0.0.1:{self.port}"]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},  # (its log is read while it runs)
            )
        wait_for(self._answers, 60, f"{self.name} to answer LMTP\n{self.log_tail()}")

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

    @property
    def log(self) -> Path:
        return self.root.parent / "gateway.log"

    def state(self) -> Path:
        return self.root / ".intranet"

    def idle(self) -> bool:
        out = self.state() / "outgoing"
        return not list((out / "queue").glob("*.msg")) and not list((out / "jobs").glob("*"))

    def outcomes(self) -> Counter[str]:
        """(Message-ID, outcome) pairs its worker logged, as "MID outcome"."""
        found: Counter[str] = Counter()
        for line in self.text().splitlines():  # "spool KEY MID to RCPT: OUTCOME (REASON)"
            words = line.split(" spool ", 1)[-1].split()
            if len(words) >= 5 and words[2] == "to" and words[3].endswith(":"):
                found[f"{words[1]} {words[4]}"] += 1
        return found

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def log_tail(self) -> str:
        return "\n".join(self.text().splitlines()[-30:])

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                return conn.recv(100).startswith(b"220")
        except OSError:
            return False


def _settings(node: str) -> dict[str, object]:
    return {"node": node, "smtp": "", "trust_local_senders": False, "trusted_authserv_id": AUTHSERV_ID}


def _setup(tmp_path: Path, daemon: Daemon) -> tuple[Path, Path, Path]:
    """(mx1's root, mx2's root, the bare remote) with Amira, Cy and the subscribers committed."""
    root_a, bare = remote_root(tmp_path / "mx1", daemon.url("mx1/remote.git"), **_settings("mx1"))
    add_person(root_a, "amira.haddad", name="Amira Haddad", emails=[AMIRA], organisation="North Hospital")
    add_person(root_a, "cy.diaz", name="Cy Diaz", emails=[CY], organisation="Example Health")
    (root_a / "communities/handover/subscribers.yml").write_text("bo.chen: each\ncy.diaz: each\n")
    community = root_a / "communities/handover/community.yml"
    community.write_text(community.read_text().replace("- ann.lee", "- ann.lee\n- amira.haddad"))
    git(root_a, "add", "-A")
    git(root_a, "-c", "user.name=E", "-c", "user.email=e@example.org", "commit", "-qm", "Amira, Cy, subscribers")
    git(root_a, "push", "-q", str(bare), "main")
    root_b = git_root(tmp_path / "mx2" / "intranet", remote=daemon.url("mx1/remote.git"), **_settings("mx2"))
    return root_a, root_b, bare


def run(tmp_path: Path, load: Load) -> Outcome:
    """Carry out the scenario in ``tmp_path``; raises AssertionError (with the logs) when it cannot finish."""
    daemon = Daemon(tmp_path)
    root_a, root_b, bare = _setup(tmp_path, daemon)
    key, record = dkim_key(tmp_path, NORTH)
    records = {f"s1._domainkey.{NORTH}": record, NORTH: "v=spf1 ip4:192.0.2.25 -all"}
    mx1, mx2 = Node("mx1", root_a, free_port()), Node("mx2", root_b, free_port())
    editor = editor_clone(bare, tmp_path / "editor")

    def signed(message: EmailMessage) -> tuple[str, bytes]:
        raw = wire(message)
        return AMIRA, dkim.sign(raw, b"s1", NORTH.encode(), key) + raw

    batches = [
        [signed(mail(subject=f"Ward rota {c * load.each + n:04d}", body=f"Rota change {n}.", sender=AMIRA))]
        for c in range(load.clients)
        for n in range(load.each)
    ]
    clients = [batches[c * load.each : (c + 1) * load.each] for c in range(load.clients)]
    now = dt.datetime.now(dt.UTC)
    parsed = [parse_message(raw, now) for batch in batches for _, raw in batch]
    held = mail(subject="Handing over to GPs", body="How do you hand over to GPs?", sender=CY)
    ids = [p.message_id for p in parsed] + [held["Message-ID"]]
    subjects = {p.message_id: p.subject for p in parsed} | {held["Message-ID"]: str(held["Subject"])}
    authors = dict.fromkeys(ids, AMIRA) | {held["Message-ID"]: CY}
    times: dict[str, float] = {}
    daemon.start()
    with MailStack(tmp_path / "mta", records, [mx1.port, mx2.port], DOMAIN) as stack:
        try:
            mx1.start()
            mx2.start()
            stack.send([(CY, wire(held))], f"handover@{DOMAIN}")  # unsigned: held at mx1, the first MX
            wait_for(lambda: f"{held['Message-ID']} held" in mx1.outcomes(), 60, f"mx1 to hold\n{mx1.log_tail()}")
            request = _request(mx1, held)
            wait_for(lambda: git(bare, "for-each-ref", "refs/intranet/held/"), 60, "the held message on the remote")
            errors: list[BaseException] = []

            def client(batch: list[list[tuple[str, bytes]]]) -> None:
                try:
                    for messages in batch:  # one session a message, spread out: the kills fall among them
                        stack.send(messages, f"handover@{DOMAIN}")
                        time.sleep(load.pause)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=(batch,)) for batch in clients]
            began = time.monotonic()
            for thread in threads:
                thread.start()
            total = len(batches)
            _at(0.2, total, mx1, mx2)
            mx1.kill()
            time.sleep(1.5)
            mx1.start()
            editor_commit(editor, "A page about rotas", {PAGE: "# Rotas\n"})
            editor_push(editor)
            _at(0.4, total, mx1, mx2)
            daemon.stop()  # the remote goes away; the nodes take mail, commit, and push when it is back
            time.sleep(load.away)
            daemon.start()
            _at(0.6, total, mx1, mx2)
            mx1.kill()  # and the moderator's approval, sent now, reaches mx2
            yes = reply(request, "approve", AMIRA)
            stack.send([signed(yes)], str(request["Reply-To"]))
            said = f"{yes['Message-ID']} moderated"
            wait_for(lambda: said in mx2.outcomes(), 60, f"mx2 to take the approval\n{mx2.log_tail()}")
            mx1.start()
            for thread in threads:
                thread.join()
            times["sending"] = time.monotonic() - began
            assert errors == [], errors
            on_remote = lambda: sum(1 for n in post_files(bare, ids).values() if n >= 1)  # noqa: E731
            wait_for(lambda: on_remote() == len(ids), 300, f"every post on the remote\n{mx1.log_tail()}")
            times["on the remote"] = time.monotonic() - began
            wait_for(lambda: mx1.idle() and mx2.idle(), 300, "both nodes to have sent their mail")
            times["mailed"] = time.monotonic() - began
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{stack.log_tail()}") from None
        finally:
            mx1.stop()
            mx2.stop()
            daemon.stop()
    return Outcome(
        ids=ids,
        subjects=subjects,
        authors=authors,
        files=post_files(bare, ids),
        commits=trailers(bare),
        tree=git(bare, "ls-tree", "-r", "--name-only", "main").split(),
        sent={"mx1": read_outbox(mx1.state()), "mx2": read_outbox(mx2.state())},
        taken={"mx1": mx1.outcomes(), "mx2": mx2.outcomes()},
        times=times,
    )


def problems(outcome: Outcome) -> list[str]:
    """What went wrong: a message lost or doubled, a subscriber's mail missing or doubled."""
    found = [
        f"{mid}: {outcome.files[mid]} files, {outcome.commits[mid]} commits"
        for mid in outcome.ids
        if outcome.files[mid] != 1 or outcome.commits[mid] != 1
    ]
    if PAGE not in outcome.tree:
        found.append("the editor's page is not on the remote")
    got: Counter[tuple[str, str]] = Counter()
    for messages in outcome.sent.values():
        got.update((str(m["Delivered-To"]), str(m["Subject"])) for m in messages)
    for mid in outcome.ids:
        for address in SUBSCRIBERS:
            if address == outcome.authors[mid]:
                continue  # nobody is mailed their own post
            times = sum(n for (to, subject), n in got.items() if to == address and outcome.subjects[mid] in subject)
            if times != 1:
                found.append(f"{address} got {outcome.subjects[mid]!r} {times} times")
    if not all(outcome.sent.values()):
        found.append("a node mailed nothing: the kills did not share the load")
    return found


def _at(share: float, total: int, *nodes: Node) -> None:
    """Wait until the nodes have spooled ``share`` of the load."""
    taken = lambda: sum(node.text().count(" spooled ") for node in nodes)  # noqa: E731
    wait_for(lambda: taken() >= share * total, 300, f"{share:.0%} of the mail to be taken")


def _request(node: Node, held: EmailMessage) -> EmailMessage:
    """The moderation request for ``held`` that ``node`` mailed to Amira."""

    def found() -> list[EmailMessage]:
        return [
            m
            for m in read_outbox(node.state())
            if m["Delivered-To"] == AMIRA and str(held["Subject"]) in str(m["Subject"])
        ]

    wait_for(found, 60, f"the moderation request to Amira\n{node.log_tail()}")
    return found()[0]
