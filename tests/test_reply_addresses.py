"""Reply addresses: short, readable, signed; the older long form still read."""

from __future__ import annotations

import hashlib
import hmac
import string

from intranet.addresses import (
    ANYONE,
    BASE32,
    check_token,
    make_token,
    parse_suffix,
    reply_address,
    short_ref,
    topic_ref,
    who_of,
)
from intranet.model import Known

SECRET = b"s" * 32
TOPIC = "<t1@example.org>"


def test_short_and_readable() -> None:
    anyone = make_token(SECRET, "handover", TOPIC)
    personal = make_token(SECRET, "handover", TOPIC, "Bo.Chen@Example.org")
    assert (len(anyone), len(personal)) == (16, 20)
    assert anyone[0] == "t" and personal[0] == "p"
    assert set(anyone[1:] + personal[1:]) <= set(BASE32) and not set("ilou") & set(BASE32)
    assert reply_address(SECRET, "handover", "x.example", TOPIC) == f"handover+{anyone}@x.example"
    assert anyone[1:8] == personal[1:8] == short_ref(TOPIC)


def test_issued_to_whom() -> None:
    anyone = check_token(SECRET, "handover", make_token(SECRET, "handover", TOPIC))
    assert anyone is not None and anyone.who == ANYONE and anyone.issued_to("whoever@example.net")
    personal = check_token(SECRET, "handover", make_token(SECRET, "handover", TOPIC, "bo.chen@example.org"))
    assert personal is not None and personal.topic == short_ref(TOPIC)
    assert personal.issued_to("BO.CHEN@example.org") and not personal.issued_to("ann.lee@example.org")


def test_any_change_is_refused() -> None:
    for token in (make_token(SECRET, "handover", TOPIC), make_token(SECRET, "handover", TOPIC, "bo@example.org")):
        assert check_token(SECRET, "handover", token) is not None
        assert check_token(SECRET, "procurement", token) is None  # signed for its community
        assert check_token(b"other", "handover", token) is None
        for at in range(len(token)):
            for other in BASE32[:4] + "tp":
                changed = token[:at] + other + token[at + 1 :]
                if changed != token:
                    assert check_token(SECRET, "handover", changed) is None, changed
        assert check_token(SECRET, "handover", token[:-1]) is None
        assert check_token(SECRET, "handover", token + "0") is None


def test_read_as_typed() -> None:
    """Upper case, and i or l for 1, o for 0, as someone copying it by hand might write it."""
    token = next(
        t for n in range(200) if "1" in (t := make_token(SECRET, "handover", f"<t{n}@example.org>")) and "0" in t
    )
    typed = token.upper().replace("1", "l").replace("0", "O")
    found = parse_suffix(SECRET, "handover", typed)
    assert found is not None and found.kind == "reply" and found.token == check_token(SECRET, "handover", token)


def test_older_long_addresses_still_work() -> None:
    """Addresses sent before the short form are in people's mailboxes: made here as the old code did."""
    topic, who = topic_ref(TOPIC), who_of("bo.chen@example.org")
    mac = hmac.new(SECRET, f"handover|{topic}|{who}".encode(), hashlib.sha256).hexdigest()[:12]
    old = f"r{topic}{who}{mac}"
    assert len(old) == 33 and set(old[1:]) <= set(string.hexdigits.lower())
    token = check_token(SECRET, "handover", old)
    assert token is not None and token.topic == topic
    assert token.issued_to("bo.chen@example.org") and not token.issued_to("ann.lee@example.org")
    assert check_token(SECRET, "handover", old[:-1] + ("0" if old[-1] != "0" else "1")) is None
    known = Known()
    known.refer(TOPIC)
    assert known.topic_by_ref(token.topic) == known.topic_by_ref(short_ref(TOPIC)) == TOPIC


def test_topics_sharing_a_short_reference_are_not_guessed() -> None:
    """35 bits: two topics of one community may share them (these two do); neither is then found by it."""
    first, second = "<clash-147940@example.org>", "<clash-314780@example.org>"
    assert short_ref(first) == short_ref(second) and topic_ref(first) != topic_ref(second)
    known = Known()
    known.refer(first)
    assert known.topic_by_ref(short_ref(first)) == first
    known.refer(first)  # the same topic again changes nothing
    assert known.topic_by_ref(short_ref(first)) == first
    known.refer(second)
    assert known.topic_by_ref(short_ref(first)) is None
    assert known.topic_by_ref(topic_ref(first)) == first and known.topic_by_ref(topic_ref(second)) == second
