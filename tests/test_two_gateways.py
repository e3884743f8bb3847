"""Two gateways push to one remote: each post is on it once, and mailed to each subscriber once.

Two mail exchangers each run a gateway with its own checkout and state. The same message can
reach both (a sender's MTA tries the other exchanger after the first went quiet); both then
publish it, the remote keeps one, and the claim on the remote (:mod:`mailgateway.claims`) lets
exactly one of them mail it to subscribers. Real Git: a bare repository as the remote.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from pathlib import Path

import pygit2
from gitremote import editor_clone, post_files, remote_root, trailers, wait_for
from mailtest import DOMAIN, Harness, git, git_root, mail

from intranet.gitremote import Checkout
from mailgateway.claims import Claims, claim_ref, mark

TO = f"handover@{DOMAIN}"
SENDER = "ann.lee@example.org"
SUBSCRIBERS = ("bo.chen@example.org", "cy.diaz@example.org")


def _subscribe(root: Path, bare: Path) -> None:
    (root / "people/cy.diaz.yml").write_text(
        "name: Cy Diaz\nemails: [cy.diaz@example.org]\nkind: staff\norganisation: Example Health\n"
    )
    (root / "communities/handover/subscribers.yml").write_text("bo.chen: each\ncy.diaz: each\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@example.org", "commit", "-qm", "Subscribers")
    git(root, "push", "-q", str(bare), "main")


def test_a_message_both_gateways_take_is_posted_once_and_mailed_once(tmp_path: Path) -> None:
    root_a, bare = remote_root(tmp_path / "a", node="mx1")
    _subscribe(root_a, bare)
    root_b = git_root(tmp_path / "b" / "intranet", remote=str(bare), node="mx2")
    alone_a = [mail(subject=f"Only at mx1 {n}", body=f"First exchanger {n}.", sender=SENDER) for n in range(4)]
    alone_b = [mail(subject=f"Only at mx2 {n}", body=f"Second exchanger {n}.", sender=SENDER) for n in range(4)]
    both = [mail(subject=f"Delivered twice {n}", body=f"Both exchangers {n}.", sender=SENDER) for n in range(4)]
    with Harness(root_a) as a, Harness(root_b) as b:

        def send(gw: Harness, messages: list) -> None:
            for message in messages:
                gw.send(message, TO, sender=SENDER)

        senders = [
            threading.Thread(target=send, args=(a, alone_a + both)),
            threading.Thread(target=send, args=(b, alone_b + both)),
        ]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        ids = [m["Message-ID"] for m in alone_a + alone_b + both]
        wait_for(lambda: all(post_files(bare, ids)[mid] == 1 for mid in ids), 60, "every post on the remote")
        sent = a.outbox() + b.outbox()
    files, commits = post_files(bare, ids), trailers(bare)
    assert [mid for mid in ids if files[mid] != 1 or commits[mid] != 1] == [], (files, commits)
    got = Counter((str(m["Delivered-To"]), str(m["Subject"])) for m in sent)
    for message in alone_a + alone_b + both:  # each subscriber once (the sender is not one)
        for address in SUBSCRIBERS:
            times = sum(n for (to, subject), n in got.items() if to == address and message["Subject"] in subject)
            assert times == 1, (message["Subject"], address, got)
    # The two gateways committed as themselves.
    committers = set(git(bare, "log", "main", "--format=%ce").split())
    assert {"intranet-noreply+mx1@intranet.localhost", "intranet-noreply+mx2@intranet.localhost"} <= committers


def test_a_claim_is_kept_by_the_gateway_that_made_it_and_old_ones_are_removed(tmp_path: Path) -> None:
    root, bare = remote_root(tmp_path)
    one = Checkout(editor_clone(bare, tmp_path / "one"), str(bare), "main")
    two = Checkout(editor_clone(bare, tmp_path / "two"), str(bare), "main")
    mx1, mx2 = Claims(one, "noreply+mx1@example.org"), Claims(two, "noreply+mx2@example.org")
    today = dt.date(2026, 12, 6)
    fresh, old = claim_ref("fanout", today, "k1"), claim_ref("fanout", today - dt.timedelta(days=11), "k2")
    assert mx1.claim([fresh]) == {fresh: True}
    assert mx2.claim([fresh, old]) == {fresh: False, old: True}  # one push: one lost, one taken
    assert mx1.claim([fresh]) == {fresh: True}  # claimed again after a crash: still its own
    assert mx1.claim([old]) == {old: False}
    marked = pygit2.Repository(str(bare)).references[fresh].target
    assert str(marked) == mark(one.repo(), "noreply+mx1@example.org")
    assert mx2.prune("fanout", today, 10) == 1  # the claim of 11 days ago
    refs = git(bare, "for-each-ref", "--format=%(refname)", "refs/intranet/").split()
    assert refs == [fresh]
    git(tmp_path / "one", "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    assert mx1.claim([fresh]) is None  # the remote cannot be reached: nothing is known
