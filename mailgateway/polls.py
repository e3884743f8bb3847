"""Polls by mail (pure): a new topic that starts with ``#poll``, and a reply that is a vote.

As Groups.io runs polls as messages: a new topic whose first line is ``#poll``, followed by the
options as a Markdown list (``- option``, ``* option``, ``1. option`` or ``1) option``; 2 to
:data:`~intranet.format.POLL_MAX`), opens a poll. Its subject and any other text are the question.
The post keeps that text, with the options as a numbered list (so a reader of the mail sees which
number to send) and a line saying how to vote; its front matter gains ``poll: {options: [...]}``
(docs/format.md). A ``#poll`` that cannot open one is published as written, and :func:`poll_in`
says why, for the sender's notice.

A reply to a poll's topic whose whole new text (quote and signature set aside, as for reactions:
:mod:`mailgateway.reactwords`) is an option's number (``2``, ``#2``, ``2.``) or its text (case,
spacing and a closing ``.`` or ``!`` aside) is a vote: :func:`vote_of` says which.
:mod:`mailgateway.votes` carries it out.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, replace

from intranet.format import POLL_MAX, POLL_MIN, POLL_OPTION_CHARS

from .compose import Draft
from .parse import Inbound

_OPENING = re.compile(r"\\?#poll", re.IGNORECASE)  # (Markdown made from HTML may escape the '#')
# A list item: a bullet or a number with "." or ")" (either maybe escaped, as plain text mail gives it).
_ITEM = re.compile(r"[ \t]{0,3}(?:\\?[-*+]|\d{1,3}\\?[.)])[ \t]+(\S.*?)[ \t]*")
_ESCAPE = re.compile(r"\\(?=[!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation (CommonMark)
_NUMBER = re.compile(r"#?[ \t]*(\d{1,3})[ \t]*[.)]?")
HOW_TO_VOTE = "_To vote, reply with the number or the text of one option._"
POLL_NOT_OPENED = "poll-not-opened"  # the notice a #poll that opens none gets
_LONGEST_VOTE = POLL_OPTION_CHARS + 40  # a longer reply is never a vote: not worth reading as one


@dataclass(frozen=True)
class Opened:
    """What a new topic's ``#poll`` opens: its ``options`` and the post's ``body``, or the ``problem``
    that kept it from opening one (then ``options`` is empty and ``body`` the text as written)."""

    options: tuple[str, ...]
    body: str
    problem: str = ""


def plain(markdown: str) -> str:
    """Markdown text of one line as the plain text it shows: escapes, entities and spacing undone."""
    text = html.unescape(_ESCAPE.sub("", markdown.replace("&nbsp;", " ")))
    return " ".join(unicodedata.normalize("NFC", text).split())


def comparable(text: str) -> str:
    """``text`` as two spellings of the same option compare: case, spacing and a closing ``.``/``!`` aside."""
    return " ".join(plain(text).casefold().rstrip(".!").split())


def poll_in(body: str) -> Opened | None:
    """The poll a new topic's text (Markdown) opens, or why it opens none; None if it does not start with #poll."""
    lines = body.split("\n")
    at = next((n for n, line in enumerate(lines) if line.strip()), len(lines))
    if at == len(lines) or not _OPENING.fullmatch(lines[at].strip()):
        return None
    rest = lines[at + 1 :]
    start = next((n for n, line in enumerate(rest) if _ITEM.fullmatch(line)), len(rest))
    end, items = start, []
    while end < len(rest) and (not rest[end].strip() or _ITEM.fullmatch(rest[end])):
        found = _ITEM.fullmatch(rest[end])
        if found:
            items.append(found.group(1))
        end += 1
    options = tuple(plain(item) for item in items)
    problem = _problem(options)
    if problem:
        return Opened((), body, problem)
    numbered = "\n".join(f"{n}. {item}" for n, item in enumerate(items, 1))
    parts = ["\n".join(rest[:start]).strip(), numbered, "\n".join(rest[end:]).strip(), HOW_TO_VOTE]
    return Opened(options, "\n\n".join(part for part in parts if part))


def opening(draft: Draft) -> tuple[Draft, str]:
    """``draft`` (a new topic's) with the poll its text opens, if it does; and why a ``#poll`` opened none ("")."""
    opened = poll_in(draft.post.body)
    if opened is None or opened.problem:
        return draft, opened.problem if opened is not None else ""
    return replace(draft, post=replace(draft.post, body=opened.body, poll=opened.options)), ""


def _problem(options: tuple[str, ...]) -> str:
    """Why ``options`` cannot be a poll's ("" if they can)."""
    if len(options) < POLL_MIN:
        found = "none" if not options else "only one"
        return (
            f"a poll needs at least {POLL_MIN} options, as a list under the #poll line "
            f"(lines that start with - or 1.), and there was {found}"
        )
    if len(options) > POLL_MAX:
        return f"a poll has at most {POLL_MAX} options, and there were {len(options)}"
    long = next((o for o in options if len(o) > POLL_OPTION_CHARS), "")
    if long:
        return f"an option is longer than {POLL_OPTION_CHARS} characters: \u201c{long[:40]}\u2026\u201d"
    seen: dict[str, str] = {}
    for option in options:
        if comparable(option) in seen:
            return f"two options are the same: \u201c{seen[comparable(option)]}\u201d and \u201c{option}\u201d"
        seen[comparable(option)] = option
    return ""


def vote_of(text: str, options: tuple[str, ...]) -> int | None:
    """The number (from 1) of the option ``text`` (a reply's whole new text, Markdown) chooses, or None.

    A number is read as an option's number when there is an option of that number; otherwise the
    text is compared with each option's."""
    if not options or len(text) > _LONGEST_VOTE:
        return None
    said = plain(text)
    number = _NUMBER.fullmatch(said)
    if number and 1 <= int(number.group(1)) <= len(options):
        return int(number.group(1))
    wanted = comparable(said)
    return next((n for n, option in enumerate(options, 1) if wanted and comparable(option) == wanted), None)


def vote_in(mail: Inbound, options: tuple[str, ...]) -> int | None:
    """The vote ``mail`` (a reply to a poll's topic) is, when its whole new text is one and it carries no file."""
    return None if mail.parts else vote_of(mail.body, options)
