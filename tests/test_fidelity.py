"""Replies from every common client, as their senders wrote them (issue #18): the new text, the quote and
the signature each where they belong (tests/clientshapes.py makes the set; bench/fidelity_bench.py
compares other parsers on it)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from clientshapes import Case, cases

from mailgateway.parse import parse_message

CASES = cases()
# Cases our parser gets wrong, and why: each is reported by the bench, and a fix makes its test fail
# here until it is taken off this list.
KNOWN: dict[str, str] = {}


def words(text: str) -> list[str]:
    """The words of ``text`` as a reader sees them: Markdown's escapes and punctuation aside."""
    return re.findall(r"[\w']+", text.replace("\\", "").casefold())


def verdict(case: Case, new: str, quoted: str, signature: str) -> list[str]:
    """What is wrong with a parse of ``case`` (empty: right)."""
    wrong = []
    if words(new) != words(case.new):
        wrong.append(f"new text {new!r}")
    said = words(quoted)
    expected = words(case.quoted)
    if not any(said[i : i + len(expected)] == expected for i in range(len(said) - len(expected) + 1)):
        wrong.append(f"quote {quoted!r}")
    if words(signature) != words(case.signature):
        wrong.append(f"signature {signature!r}")
    return wrong


def test_the_set_is_big_enough_and_covers_every_client() -> None:
    assert len(CASES) >= 40
    assert {c.name.rsplit("-", 1)[0] for c in CASES} >= {"gmail-html", "outlook-desktop-html", "iphone-text"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_each_reply_is_split_as_its_sender_wrote_it(case: Case) -> None:
    mail = parse_message(case.raw, dt.datetime(2026, 11, 2, tzinfo=dt.UTC))
    wrong = verdict(case, mail.body, mail.quoted, mail.signature)
    if case.name in KNOWN:
        assert wrong, f"{case.name} is right now: take it off KNOWN"
        pytest.xfail(KNOWN[case.name])
    assert wrong == []
