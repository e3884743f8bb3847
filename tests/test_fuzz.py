"""Hostile variants of the public corpora through the whole gateway (issue #13, "Fuzzing").

The mutations are in :mod:`mailfuzz`, the pipeline and its three properties (every message ends
with an outcome; nothing live comes out; nothing is written outside the post's folder) in
:mod:`fuzzpipe`. Here a short run with a fixed seed, so ``make test`` is repeatable; the long run
with fresh seeds is ``python bench/fuzz_bench.py --seconds 300``. Below them: the checker itself
on known attacks, and each bug the fuzzer found, as the smallest message that showed it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fuzzpipe import EndToEnd, InProcess, changed, live_markup, snapshot, url_scheme
from helpers import need_corpus
from hypothesis import given, settings
from hypothesis import strategies as st
from mailfuzz import CORPUS, HOSTILE_HTML, PROFILE, AddAttachment, Case, Header, cases

from mailgateway.outgoing import read_outbox
from mailgateway.parse import parse_message

IN_PROCESS_EXAMPLES = 100  # about 3 s of CPU on this project's machine
END_TO_END_EXAMPLES = 20  # about 2 s of CPU: a spool, a child process reading the mail, a commit, the outbox


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> InProcess:
    need_corpus(CORPUS)
    return InProcess(tmp_path_factory.mktemp("fuzz-in-process"))


@pytest.fixture(scope="module")
def end_to_end(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EndToEnd]:
    need_corpus(CORPUS)
    pipeline = EndToEnd(tmp_path_factory.mktemp("fuzz-end-to-end"))
    yield pipeline
    pipeline.close()


def test_hostile_mail_keeps_every_property_in_the_pure_steps(in_process: InProcess) -> None:
    outcomes: Counter[str] = Counter()

    @settings(settings.get_profile(PROFILE), max_examples=IN_PROCESS_EXAMPLES)
    @given(case=st.deferred(cases))
    def run(case: Case) -> None:
        outcomes[in_process.run(case).outcome] += 1

    run()
    # The cases reach every end, so the properties were checked on published posts too.
    assert outcomes["published"] >= IN_PROCESS_EXAMPLES // 5, outcomes
    assert outcomes["rejected"] and outcomes["dropped"] and outcomes["held"], outcomes


def test_hostile_mail_keeps_every_property_through_the_real_worker(end_to_end: EndToEnd) -> None:
    outcomes: Counter[str] = Counter()

    @settings(settings.get_profile(PROFILE), max_examples=END_TO_END_EXAMPLES)
    @given(case=st.deferred(cases))
    def run(case: Case) -> None:
        outcomes[end_to_end.run(case).outcome] += 1

    run()
    assert outcomes["published"] >= END_TO_END_EXAMPLES // 5, outcomes


# -- the checker ----------------------------------------------------------------------------


NOT_LIVE = (  # known attacks that are only text (or a link to a file) until something else renders them
    '<img src="../../../../mkdocs.yml">',
    "<javascript:alert(1)> <data:text/html,x>",
    "<![CDATA[<script>alert(1)</script>]]>",  # in HTML a bogus comment, then text
    '{: onclick="alert(1)" } {{ config.site_name }} --8<-- "/etc/passwd"',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    '<a href="mailto:x@example.org?body=%3Cscript%3E">mail</a>',
    "<table><tr><td>a table, so the HTML part is the one read</td></tr></table>",
)


@pytest.mark.parametrize("html", HOSTILE_HTML)
def test_the_checker_finds_each_known_attack_that_is_live(html: str) -> None:
    assert bool(live_markup(html)) is (html not in NOT_LIVE), html


def test_the_checker_reads_urls_as_a_browser_does() -> None:
    assert url_scheme("&#106;avascript:x") == ""  # the checker is given parsed attribute values, entities read
    assert url_scheme(" \x01JaVa\tScRi\npt:alert(1)") == "javascript"
    assert url_scheme("https://example.org/a:b") == "https"
    assert url_scheme("../a:b") == "" and url_scheme("#x") == ""
    assert live_markup('<a href=" &#x6A;ava&#x09;script:alert(1)">x</a>')
    assert live_markup('<img src="https://x.example/p.png" srcset="a.png 1x, javascript:alert(1) 2x">')
    assert live_markup('<svg><a xlink:href="javascript:alert(1)">x</a></svg>')
    assert live_markup('<p style="color:red">x</p>') and not live_markup('<p style="x">y</p>', frozenset({"x"}))
    assert live_markup('<a href="https://ok.example/" title="javascript:x">ok</a>') == []
    assert live_markup('<a href="mailto:a@example.org">a</a> <img src="att-1.png" alt="x">') == []


def test_the_file_check_sees_a_file_written_or_changed_outside_the_post(tmp_path: Path) -> None:
    post = tmp_path / "communities/open/posts/ab/cd.md"
    post.parent.mkdir(parents=True)
    post.write_text("post")
    (tmp_path / ".git").mkdir()
    before = snapshot(tmp_path, (".git",))
    (tmp_path / "communities/open/posts/ab/cd").mkdir()
    (tmp_path / "communities/open/posts/ab/cd/att-1.png").write_bytes(b"png")
    (tmp_path / "communities/open/x.md").write_text("outside")
    (tmp_path / ".git/objects").write_text("git's own")
    os.utime(post, ns=(0, 0))
    assert changed(before, snapshot(tmp_path, (".git",))) == [
        "communities/open/posts/ab/cd.md",
        "communities/open/posts/ab/cd/att-1.png",
        "communities/open/x.md",
    ]


# -- what the fuzzer found ------------------------------------------------------------------

RECEIVED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)


def test_a_charset_name_with_a_nul_byte_falls_back_instead_of_making_the_mail_unreadable() -> None:
    raw = b'From: a@example.org\r\nSubject: s\r\nContent-Type: text/plain; charset="utf-8\x00"\r\n\r\nHello.\r\n'
    assert parse_message(raw, RECEIVED).body == "Hello."


def test_a_forwarded_multipart_without_its_boundary_and_with_8bit_text_is_kept() -> None:
    raw = b"From: a@example.org\r\nContent-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed\r\n\r\ncaf\xe9\r\n"
    [part] = parse_message(raw, RECEIVED).parts  # it raised UnicodeEncodeError: rejected as unreadable
    assert part.content_type == "message/rfc822" and b"caf" in part.data


# Each of these made the worker fail on the message five times and move it to failed/ (a lone
# surrogate in the post file or the records cannot be written as UTF-8), or stopped every later
# notification (a Message-ID that is not ASCII cannot go in a mail header, and the notifier tried
# that job again at every pass, before any other).
UNWRITABLE = {
    "<8bit-from@example.org>": b"From: Ann <ann@ex\xa6ample.org>\r\nSubject: 8-bit address\r\n",
    "<8bit-name@example.org>": b"From: \xe9ric <eric@example.org>\r\nSubject: 8-bit name\r\n",
    "<utf7@example.org>": b"From: b@example.org\r\nSubject: UTF-7\r\nContent-Type: text/plain; charset=utf-7\r\n",
    "<caf\xc3\xa9@example.org>": b"From: b@example.org\r\nSubject: Message-ID not ASCII\r\n",
}


def test_8bit_headers_a_utf7_surrogate_and_a_non_ascii_message_id_are_published_and_mailed(tmp_path: Path) -> None:
    pipeline = EndToEnd(tmp_path / "intranet")
    try:
        for message_id, head in [
            *UNWRITABLE.items(),
            ("<plain@example.org>", b"From: b@example.org\r\nSubject: Plain\r\n"),
        ]:
            raw = head + b"Message-ID: " + message_id.encode("latin-1") + b"\r\n\r\nHello +2AA- there.\r\n"
            assert pipeline.deliver(raw).outcome == "published", message_id
        assert list(pipeline.worker.spool.failed()) == []
        mailed = {m["Subject"] for m in read_outbox(pipeline.state)}
        assert mailed == {"8-bit address", "8-bit name", "UTF-7", "Message-ID not ASCII", "Plain"}
    finally:
        pipeline.close()


def test_a_fuzz_case_is_the_same_message_each_time_and_its_mutations_reach_the_parser() -> None:
    need_corpus(CORPUS)
    case = Case(
        seed="discourse-email-fixtures/gmail_html_reply.eml",
        tree=[AddAttachment("../../x.html", "rfc2231", "text/html", "", b"<script>alert(1)</script>")],
        raw=[Header("Subject", b"=?utf-8?q?Hostile?=", replace=True)],
    )
    assert case.message() == case.message()
    mail = parse_message(case.message(), RECEIVED)
    assert mail.subject == "Hostile"
    assert [(p.filename, p.file) for p in mail.parts] == [("../../x.html", "att-1.html")]
