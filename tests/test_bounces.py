"""Reading bounces with flufl.bounce, and the bounce score book.

The corpus is flufl.bounce's own test data (see its SOURCE.md). The expected
addresses below are flufl's own test expectations, each checked by reading the
message; read_bounce lower-cases them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
from pathlib import Path

import pytest
from helpers import need_corpus

from mailgateway import bounces
from mailgateway.bounces import BounceBook, BouncePolicy, Failures, is_permanent, read_bounce

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "flufl-bounce"

# Files in which flufl.bounce finds no failing address at all.
KNOWN_EMPTY = {
    "bounce_01.txt",  # "Mail Error" from Jetmail naming no address
    "dumbass_01.txt",  # flufl: "No address can be detected in these"
    # flufl's SimpleMatch drops any address whose domain has a hyphen (its VALID pattern is
    # [a-z0-9._]+ after the @), so these four real failures go unseen; see HYPHEN_BUG below.
    "simple_08.txt",
    "simple_09.txt",
    "simple_16.txt",
    "simple_32.txt",
}

HYPHEN_BUG = pytest.mark.xfail(
    strict=True, reason="flufl.bounce SimpleMatch rejects hyphenated domains; flufl's own tests expect this address"
)

# (file, permanent, temporary)
EXPECTED = [
    # RFC 3464 delivery status notifications
    ("dsn_01.txt", {"jimmymcegypt@go.com"}, set()),  # Original-recipient wins over Final-recipient
    ("dsn_02.txt", {"zzzzz@zeus.hud.ac.uk"}, set()),
    ("dsn_04.txt", {"max.haas@unibas.ch"}, set()),
    ("dsn_05.txt", set(), {"pkocmid@atlas.cz"}),  # Action: delayed, Status 4.4.1
    ("dsn_09.txt", {"pr@allen-heath.com"}, set()),
    ("dsn_10.txt", {"anne.person@dom.ain"}, set()),
    ("dsn_13.txt", {"marcooherbst@cardinal.com"}, set()),
    # The returned message is itself a delay notice; flufl walks into it and reports its address too.
    ("dsn_16.txt", {"hishealinghand@pastors.com"}, {"spam@michael-mueller-verlag.de"}),
    ("dsn_17.txt", set(), {"christine.barsas@sivarikeskus.fi"}),  # delayed; Original-Recipient
    # vendor formats
    ("postfix_01.txt", {"xxxxx@local.ie"}, set()),
    ("exim_01.txt", {"delangen@its.tudelft.nl"}, set()),
    ("qmail_01.txt", {"psadisc@wwwmail.n-h.de"}, set()),
    ("sendmail_01.txt", {"zzzzz@shaft.coal.nl", "zzzzz@nfg.nl"}, set()),  # "(expanded from: zzzzz@nfg.nl)"
    ("microsoft_01.txt", {"djbennett@ikon.com"}, set()),
    ("groupwise_01.txt", {"thoff@mainex1.asu.edu"}, set()),
    ("smtp32_04.txt", {"after_another@pacbell.net", "one_bad_address@pacbell.net"}, set()),
    ("yahoo_04.txt", {"agarciamartiartu@yahoo.es", "open00now@yahoo.co.uk"}, set()),
    ("sina_01.txt", {"boboman76@sina.com", "alan_t18@sina.com"}, set()),
    ("aol_01.txt", {"screenname@aol.com"}, set()),
    ("netscape_01.txt", {"aaaaa@corel.com", "bbbbb@corel.com"}, set()),
    ("llnl_01.txt", {"trotts1@llnl.gov"}, set()),
    ("yale_01.txt", {"thomas.dtankengine@cs.yale.edu", "thomas.dtankengine@yale.edu"}, set()),
    # unstructured ones
    ("simple_01.txt", {"bbbsss@turbosport.com"}, set()),
    ("simple_03.txt", set(), {"jacobus@geo.co.za"}),  # Exim "has not yet been delivered" warning
    ("simple_14.txt", {"dump@dachamp.com", "iqxwmmfauudpo@dachamp.com"}, set()),
    ("bounce_02.txt", {"acinsp1@midsouth.rr.com"}, set()),
    pytest.param("simple_08.txt", {"severin.xxx@t-online.de"}, set(), marks=HYPHEN_BUG),
    pytest.param("simple_09.txt", {"robotmail@auto-walther.de"}, set(), marks=HYPHEN_BUG),
]


@pytest.fixture(scope="module")
def corpus() -> Path:
    return need_corpus(CORPUS)


# -- read_bounce over the corpus -------------------------------------------------


@pytest.mark.parametrize(("name", "permanent", "temporary"), EXPECTED)
def test_expected_addresses(corpus: Path, name: str, permanent: set[str], temporary: set[str]) -> None:
    failures = read_bounce((corpus / name).read_bytes())
    assert failures == Failures(permanent=frozenset(permanent), temporary=frozenset(temporary))


def test_whole_corpus(corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = sorted(p for p in corpus.iterdir() if p.suffix == ".txt")
    assert len(files) == 103
    with caplog.at_level(logging.WARNING, logger=bounces.__name__):
        results = {p.name: read_bounce(p.read_bytes()) for p in files}
    assert not caplog.records, "no corpus file should make flufl.bounce raise"
    found = [name for name, failures in results.items() if failures]
    permanent = sum(1 for failures in results.values() if failures.permanent)
    temporary = sum(1 for failures in results.values() if failures.temporary)
    print(
        f"\nbounce corpus: {len(found)} of {len(files)} files name a failure ({permanent} permanent, {temporary} temporary)"
    )
    assert set(results) - set(found) <= KNOWN_EMPTY
    assert len(found) >= len(files) - len(KNOWN_EMPTY)
    for failures in results.values():
        for address in failures.permanent | failures.temporary:
            assert isinstance(address, str) and address == address.lower() and "@" in address


def test_mangled_corpus_never_raises(corpus: Path) -> None:
    files = sorted(corpus.glob("*.txt"))
    rng = random.Random(3464)
    for _ in range(300):
        data = bytearray(rng.choice(files).read_bytes())
        for _ in range(rng.randint(1, 30)):
            if not data:
                break
            pos = rng.randrange(len(data))
            if rng.random() < 0.5:
                data[pos] = rng.randrange(256)
            else:
                del data[pos : pos + rng.randint(1, 300)]
        assert isinstance(read_bounce(bytes(data)), Failures)


# -- read_bounce on odd input ------------------------------------------------------

EXIM_STYLE = b"""Subject: Mail delivery failed: returning message to sender
Content-Type: text/plain

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  <Gone@Example.COM>

------ This is a copy of the message, including all the headers. ------
"""


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 500,
        bytes(range(256)) * 20,
        b"not a mail at all",
        b"Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nAction: failed\n",
        b"Content-Type: multipart/report; boundary=x\n\n" + b"--x\nContent-Type: multipart/mixed; boundary=x\n\n" * 500,
        b"Content-Type: text/plain; charset=\xff\nContent-Transfer-Encoding: base64\n\n!!!!",
    ],
)
def test_garbage_gives_no_failures(raw: bytes) -> None:
    assert read_bounce(raw) == Failures(frozenset(), frozenset())


def test_raw_8bit_from_header() -> None:
    # compat32 turns such a header into an email.header.Header, on which flufl's detectors call .lower().
    raw = b"From: Syst\xc3\xa8me de courrier <MAILER-DAEMON@example.org>\n" + EXIM_STYLE
    assert read_bounce(raw).permanent == {"gone@example.com"}


def test_single_part_without_from() -> None:
    # flufl's Yale detector indexes the first From address even when there is none.
    assert read_bounce(EXIM_STYLE).permanent == {"gone@example.com"}


def test_a_detector_raising_is_logged(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def boom(msg: object) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(bounces, "all_failures", boom)
    with caplog.at_level(logging.WARNING, logger=bounces.__name__):
        assert read_bounce(b"From: a@b\n\nhi") == Failures(frozenset(), frozenset())
    assert "IndexError" in caplog.text


def test_rfc3464_delayed_and_failed() -> None:
    raw = b"""From: MAILER-DAEMON@example.org
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Delivery report.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org

Final-Recipient: rfc822; Hard@Example.com
Action: failed
Status: 5.1.1

Final-Recipient: rfc822; soft@example.net
Action: delayed
Status: 4.4.1

Final-Recipient: rfc822; fine@example.net
Action: delivered
Status: 2.0.0
--B--
"""
    failures = read_bounce(raw)
    assert failures == Failures(permanent=frozenset({"hard@example.com"}), temporary=frozenset({"soft@example.net"}))
    assert is_permanent(failures, "HARD@example.com") is True
    assert is_permanent(failures, "soft@example.net") is False
    assert is_permanent(failures, "fine@example.net") is None


# -- the bounce book ------------------------------------------------------------------

T0 = dt.datetime(2025, 3, 3, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def book(tmp_path: Path, **policy: object) -> BounceBook:
    return BounceBook(tmp_path / "state" / "bounces.json", BouncePolicy(**policy))  # type: ignore[arg-type]


def test_hard_and_soft_scores(tmp_path: Path) -> None:
    b = book(tmp_path)
    assert b.record("A@Example.com", permanent=True, now=T0) == 1.0
    assert b.record("a@example.com", permanent=False, now=T0 + DAY) == 1.5
    assert b.score(" a@EXAMPLE.com ", T0 + DAY) == 1.5
    assert b.score("other@example.com", T0) == 0.0
    assert [(e.permanent, e.added, e.score) for e in b.history("a@example.com")] == [
        (True, 1.0, 1.0),
        (False, 0.5, 1.5),
    ]


def test_threshold_crossed(tmp_path: Path) -> None:
    b = book(tmp_path, threshold=3.0)
    for day in range(2):
        b.record("a@example.com", permanent=True, now=T0 + day * DAY)
    assert not b.crossed("a@example.com", T0 + 1 * DAY)
    b.record("a@example.com", permanent=True, now=T0 + 2 * DAY)
    assert b.crossed("a@example.com", T0 + 2 * DAY)
    b.reset("A@example.com")
    assert not b.crossed("a@example.com", T0 + 2 * DAY)
    assert b.history("a@example.com") == []


def test_one_bounce_a_day_counts_the_worst(tmp_path: Path) -> None:
    b = book(tmp_path)
    assert b.record("a@example.com", permanent=False, now=T0) == 0.5
    assert b.record("a@example.com", permanent=False, now=T0 + dt.timedelta(hours=3)) == 0.5
    assert b.record("a@example.com", permanent=True, now=T0 + dt.timedelta(hours=5)) == 1.0  # topped up to hard
    assert b.record("a@example.com", permanent=True, now=T0 + dt.timedelta(hours=8)) == 1.0
    assert b.record("a@example.com", permanent=True, now=T0 + DAY) == 2.0
    assert [e.added for e in b.history("a@example.com")] == [0.5, 0.0, 0.5, 0.0, 1.0]


def test_every_bounce_counts_without_one_per_day(tmp_path: Path) -> None:
    b = book(tmp_path, one_per_day=False)
    for hour in range(3):
        b.record("a@example.com", permanent=True, now=T0 + dt.timedelta(hours=hour))
    assert b.score("a@example.com", T0 + dt.timedelta(hours=3)) == 3.0


def test_stale_score_starts_again(tmp_path: Path) -> None:
    b = book(tmp_path, stale_after=dt.timedelta(days=7))
    for day in range(4):
        b.record("a@example.com", permanent=True, now=T0 + day * DAY)
    last = T0 + 3 * DAY
    assert b.score("a@example.com", last + 7 * DAY - dt.timedelta(seconds=1)) == 4.0
    assert b.score("a@example.com", last + 7 * DAY) == 0.0
    assert b.record("a@example.com", permanent=False, now=last + 8 * DAY) == 0.5
    assert len(b.history("a@example.com")) == 5  # the history survives the reset


def test_history_is_bounded(tmp_path: Path) -> None:
    b = book(tmp_path)
    for day in range(25):
        b.record("a@example.com", permanent=False, now=T0 + day * DAY)
    history = b.history("a@example.com")
    assert len(history) == bounces.HISTORY_LENGTH
    assert history[-1].at == (T0 + 24 * DAY).isoformat()


def test_persists_across_instances(tmp_path: Path) -> None:
    b = book(tmp_path)
    b.record("a@example.com", permanent=True, now=T0)
    b.record("b@example.com", permanent=False, now=T0)
    again = book(tmp_path)
    assert again.score("a@example.com", T0) == 1.0
    assert again.score("b@example.com", T0) == 0.5
    assert again.record("a@example.com", permanent=True, now=T0 + dt.timedelta(hours=1)) == 1.0  # same day still
    assert again.history("b@example.com")[0].permanent is False
    assert list((tmp_path / "state").iterdir()) == [tmp_path / "state" / "bounces.json"]  # no temp files left


def test_missing_file_starts_empty(tmp_path: Path) -> None:
    b = book(tmp_path)
    assert b.score("a@example.com", T0) == 0.0
    assert not (tmp_path / "state").exists()  # reading writes nothing


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"version": 1, "addresses": {"a@example.com": {"score": 1}}}',
        '{"version": 1, "addresses": {"a@example.com": {"score": 1, "last_bounce": "yesterday", "day": "", "day_added": 0, "history": []}}}',
        "",
    ],
)
def test_corrupt_file_tolerated(tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str) -> None:
    path = tmp_path / "state" / "bounces.json"
    path.parent.mkdir()
    path.write_text(content)
    with caplog.at_level(logging.WARNING, logger=bounces.__name__):
        b = BounceBook(path, BouncePolicy())
    assert "unreadable" in caplog.text
    assert b.score("a@example.com", T0) == 0.0
    assert b.record("a@example.com", permanent=True, now=T0) == 1.0
    assert path.with_name("bounces.json.corrupt").read_text() == content  # kept for the operator
    assert json.loads(path.read_text())["addresses"]["a@example.com"]["score"] == 1.0


def test_naive_times_are_taken_as_utc(tmp_path: Path) -> None:
    b = book(tmp_path)
    b.record("a@example.com", permanent=True, now=dt.datetime(2025, 3, 3, 9, 0))
    assert b.score("a@example.com", T0 + DAY) == 1.0
