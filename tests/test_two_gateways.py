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
import pytest
from gitremote import Daemon, editor_clone, post_files, remote_root, trailers, wait_for
from mailtest import DOMAIN, Harness, git, git_root, mail
from test_mail_out import reply

from intranet.cli import main
from intranet.gitremote import Checkout
from mailgateway.claims import PREFIX, Claims, claim_commit, claim_ref
from mailgateway.outgoing import read_outbox

TO = f"handover@{DOMAIN}"
SENDER = "ann.lee@example.org"
SUBSCRIBERS = ("bo.chen@example.org", "cy.diaz@example.org")  # each post mailed to them
DIGEST = "dee.ng@example.org"  # on the daily digest


def _subscribe(root: Path, bare: Path) -> None:
    (root / "people/cy.diaz.yml").write_text(
        "name: Cy Diaz\nemails: [cy.diaz@example.org]\nkind: staff\norganisation: Example Health\n"
    )
    (root / "people/dee.ng.yml").write_text(
        "name: Dee Ng\nemails: [dee.ng@example.org]\nkind: staff\norganisation: Example Health\n"
    )
    (root / "communities/handover/subscribers.yml").write_text("bo.chen: each\ncy.diaz: each\ndee.ng: digest\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@example.org", "commit", "-qm", "Subscribers")
    git(root, "push", "-q", str(bare), "main")


def test_a_message_both_gateways_take_is_posted_once_and_mailed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
        a.outbox(), b.outbox()  # (each post's mail queued and sent)
        digests = []  # the next day's digest, asked of both at once: one sends it, of every post
        askers = [
            threading.Thread(target=lambda gw=gw: digests.append(gw.gateway.notifier.send_digests("2099-01-02")))
            for gw in (a, b)
        ]
        for thread in askers:
            thread.start()
        for thread in askers:
            thread.join()
        sent = a.outbox() + b.outbox()
        assert main(["digest", "--root", str(root_b)]) == 0  # at a terminal: what waits, read on the remote
        assert capsys.readouterr().out.startswith("0 posts wait for the next digest")
    files, commits = post_files(bare, ids), trailers(bare)
    assert [mid for mid in ids if files[mid] != 1 or commits[mid] != 1] == [], (files, commits)
    got = Counter((str(m["Delivered-To"]), str(m["Subject"])) for m in sent)
    for message in alone_a + alone_b + both:  # each subscriber once (the sender is not one)
        for address in SUBSCRIBERS:
            times = sum(n for (to, subject), n in got.items() if to == address and message["Subject"] in subject)
            assert times == 1, (message["Subject"], address, got)
    assert 0 in digests  # at most one of the two sent it
    # (Today's digest may have come first, at the start: each post is in exactly one digest.)
    texts = {str(m["Subject"]): m.get_body(("plain",)).get_content() for m in sent if m["Delivered-To"] == DIGEST}
    assert len(texts) == len([m for m in sent if m["Delivered-To"] == DIGEST])  # one a day
    for message in alone_a + alone_b + both:
        assert sum(message["Subject"] in text for text in texts.values()) == 1, (message["Subject"], list(texts))
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
    assert mx1.claim({fresh: "what mx1 says"}) == {fresh: True}
    assert mx2.claim({fresh: "what mx2 says", old: "old"}) == {fresh: False, old: True}  # one push: one lost
    assert mx1.claim({fresh: "what mx1 says"}) == {fresh: True}  # claimed again after a crash: its own
    assert mx1.claim({fresh: "said otherwise after a restart"}) == {fresh: True}  # (still its own)
    assert mx1.claim({old: "old"}) == {old: False}
    assert mx2.read([f"{PREFIX}/fanout/*"]) == {
        fresh: ("noreply+mx1@example.org", "what mx1 says\n"),
        old: ("noreply+mx2@example.org", "old\n"),
    }
    marked = pygit2.Repository(str(bare)).references[fresh].target
    assert str(marked) == claim_commit(one.repo(), "noreply+mx1@example.org", "what mx1 says")
    assert mx2.prune("fanout", today, 10) == 1  # the claim of 11 days ago
    refs = git(bare, "for-each-ref", "--format=%(refname)", "refs/intranet/").split()
    assert refs == [fresh]
    git(tmp_path / "one", "remote", "set-url", "origin", str(tmp_path / "nowhere.git"))
    assert mx1.claim({fresh: "what mx1 says"}) is None  # the remote cannot be reached: nothing is known


def test_held_mail_is_approved_at_the_other_gateway_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "two-gateways-test-secret-0123456789")  # the same on both
    root_a, bare = remote_root(tmp_path / "a", node="mx1")
    root_b = git_root(tmp_path / "b" / "intranet", remote=str(bare), node="mx2")
    held = mail(subject="Handing over to GPs", body="How do you hand over to GPs?", sender="eve@gp.example")
    with Harness(root_a) as a, Harness(root_b) as b:
        a.send(held, TO, sender="eve@gp.example")
        assert a.wait(held["Message-ID"])[0]["outcome"] == "held"
        [request] = [m for m in a.outbox() if m["Delivered-To"] == "ann.lee@example.org"]
        wait_for(lambda: git(bare, "for-each-ref", "refs/intranet/held/"), 30, "the held message on the remote")
        # Ann's approval reaches the other gateway, which has never seen the message.
        yes = reply(request, "approve", "ann.lee@example.org")
        b.send(yes, request["Reply-To"], sender="ann.lee@example.org")
        assert b.wait(yes["Message-ID"])[0]["outcome"] == "moderated"
        wait_for(lambda: post_files(bare, [held["Message-ID"]])[held["Message-ID"]] == 1, 30, "the post")
        assert git(bare, "for-each-ref", "refs/intranet/held/") == ""  # taken off: decided
        a.gateway.pusher.held.sync()  # (after its next fetch) the first gateway lets its copy go
        assert list(a.gateway.worker.spool.held()) == []
        again = reply(request, "approve", "ann.lee@example.org")  # approved a second time, at the first
        a.send(again, request["Reply-To"], sender="ann.lee@example.org")
        assert a.wait(again["Message-ID"])[0]["reason"] == "nothing-held"
    assert post_files(bare, [held["Message-ID"]])[held["Message-ID"]] == 1
    assert trailers(bare)[held["Message-ID"]] == 1


def test_while_the_remote_is_away_both_take_mail_and_nothing_is_mailed_twice_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(tmp_path)
    root_a, bare = remote_root(tmp_path / "a", daemon.url("a/remote.git"), node="mx1")
    _subscribe(root_a, bare)
    root_b = git_root(tmp_path / "b" / "intranet", remote=daemon.url("a/remote.git"), node="mx2")
    both = [mail(subject=f"Sent to both while away {n}", body=f"Away {n}.", sender=SENDER) for n in range(3)]
    alone = [mail(subject=f"Sent to one while away {n}", body=f"Alone {n}.", sender=SENDER) for n in range(3)]
    ids = [m["Message-ID"] for m in both + alone]
    daemon.start()
    try:
        with Harness(root_a) as a, Harness(root_b) as b:
            daemon.stop()  # the remote goes away: mail is still taken, published and committed
            for message in both + alone:
                a.send(message, TO, sender=SENDER)
            for message in both:
                b.send(message, TO, sender=SENDER)
            for mid in ids:
                assert a.wait(mid)[0]["outcome"] == "published"

            def tried() -> bool:  # both notifiers tried to claim their posts, and could not
                said = [
                    r.getMessage() for r in caplog.records if "claims: the remote cannot be reached" in r.getMessage()
                ]
                return len(said) >= 2 and not list((a.root / ".intranet/outgoing/jobs").glob("*")) == []

            wait_for(tried, 30, "both gateways to try to claim")
            queued = list((a.root / ".intranet/outgoing").glob("*/*.msg")) + list(
                (b.root / ".intranet/outgoing").glob("*/*.msg")
            )
            assert queued == [] and read_outbox(a.root / ".intranet") + read_outbox(b.root / ".intranet") == []
            daemon.start()  # back: the posts are pushed, claimed, and each mailed by one of the two
            wait_for(lambda: all(post_files(bare, ids)[mid] == 1 for mid in ids), 90, "every post on the remote")
            sent = a.outbox(90) + b.outbox(90)
    finally:
        daemon.stop()
    files, commits = post_files(bare, ids), trailers(bare)
    assert [mid for mid in ids if files[mid] != 1 or commits[mid] != 1] == []
    got = Counter((str(m["Delivered-To"]), str(m["Subject"])) for m in sent)
    for message in both + alone:
        for address in SUBSCRIBERS:
            times = sum(n for (to, subject), n in got.items() if to == address and message["Subject"] in subject)
            assert times == 1, (message["Subject"], address, got)
