"""Commands in a reply (pure): ``#accept``, ``#close``, ``#edit`` and the like, alone on lines at the top.

As Tender reads ``#resolve`` alone on a line, and Mailman at most ten command lines: the first
lines of a reply's new text that are each a ``#`` and a word (blank lines between them allowed,
at most :data:`MAX_LINES`) are commands; the text after them, if any, is posted as usual. Every
command acts on the topic the reply belongs to, or on the post it answers (``#edit``, ``#delete``),
for someone in ``people/`` whose mail is authentic (:mod:`mailgateway.routing` sees to that);
:func:`refusal` says who may do what.
The sender gets one receipt: what was done, what was refused and why, what was not understood.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intranet.format import with_entries, with_mark

# What each command does, as the receipt says it.
COMMANDS = {
    "accept": "marked the reply you answered as the accepted answer",
    "close": "closed the topic to replies",
    "reopen": "opened the topic to replies again",
    "pin": "pinned the topic: it is listed first on the community's page",
    "unpin": "unpinned the topic",
    "edit": "replaced the text of the post you answered with the text after the command",
    "delete": "took the post you answered off the site (its place in the thread stays)",
    "follow": "you get every post of this topic by mail, whatever you get from the community",
    "mute": "you get no more mail about this topic",
    "unfollow": "you get this topic's mail as you get the community's again",
    "unmute": "you get this topic's mail as you get the community's again",
    "guide": "made a page of the community from this topic (the question, the answer or your summary, "
    "who took part), for editors to refine",
    "event": "changed when and where the event is to the lines after the command",
    "cancel": "cancelled the event",
    "going": "you are on the event's list as going",
    "maybe": "you are on the event's list as maybe going",
    "not-going": "you are on the event's list as not going",
}
ANSWERS = ("going", "maybe", "not-going")  # an event's answers: the sender's own, like NOTIFY
EVENT_WORDS = ("event", "cancel", *ANSWERS)  # carried out by mailgateway.eventacts
ON_THE_POST = ("edit", "delete")  # act on the post answered, not on the topic's first post
NOTIFY = {"follow": "follow", "mute": "mute", "unfollow": None, "unmute": None}  # the sender's own choice
COMING: tuple[str, ...] = ()  # known words, not carried out yet
MAX_LINES = 10
_LINE = re.compile(r"\\?#([A-Za-z][A-Za-z-]{0,30})")  # (Markdown made from HTML may escape the '#')


@dataclass(frozen=True)
class Found:
    """The command words of a reply (lower case, in order) and the new text after them."""

    words: tuple[str, ...]
    rest: str


def commands_in(body: str) -> Found | None:
    """The commands at the top of ``body`` (a reply's new text, Markdown), or None if it starts otherwise."""
    lines = body.split("\n")
    words: list[str] = []
    at = 0
    while at < len(lines) and len(words) < MAX_LINES:
        line = lines[at].strip()
        if line:
            match = _LINE.fullmatch(line)
            if match is None:
                break
            words.append(match.group(1).lower())
        at += 1
    return Found(tuple(words), "\n".join(lines[at:]).strip()) if words else None


def refusal(
    word: str,
    handle: str,
    author: str | None,
    moderators: list[str],
    to_first_post: bool,
    writer: str | None = None,
    poll: bool = False,
) -> str:
    """Why ``handle`` may not give command ``word`` in a topic started by ``author``, in reply to a post
    by ``writer`` ("" if they may); ``poll``: the topic is a poll, which its author may close and reopen."""
    if word == "poll":
        return "a poll is opened by a new topic whose first line is #poll, not by a reply"
    if word in COMING:
        return "not available by mail yet"
    if word not in COMMANDS:
        return "not a command we know (the commands are " + ", ".join(f"#{w}" for w in COMMANDS) + ")"
    moderator = handle in moderators
    if word in NOTIFY or word in ANSWERS:
        return ""  # anyone who may read the topic, for themselves
    if word in EVENT_WORDS and handle != author and not moderator:
        return "only the person who started the topic, or a moderator, may change its event"
    if word in ON_THE_POST:
        if handle != writer and not moderator:
            return "only the post's author, or a moderator, may change or delete it"
    elif word == "accept":
        if to_first_post:
            return "send it in reply to the answer you accept, not to the question"
        if handle != author and not moderator:
            return "only the person who asked, or a moderator, may accept an answer"
    elif word == "guide" and not moderator:
        return "only a moderator of the community may make a guide of a topic"
    elif word in ("close", "reopen") and poll and handle == author:
        return ""
    elif not moderator:
        return f"only a moderator of the community may {word} a topic"
    return ""


def change_of(word: str, handle: str, answer: str, text: str = "", now: str = "") -> Callable[[str], str]:
    """What command ``word`` by ``handle`` does to the text of the post it acts on (``answer``: the reply
    answered; ``text``: the text after the commands; ``now``: the time, ISO 8601)."""
    if word in NOTIFY:
        return lambda post: with_mark(post, "notify", handle, NOTIFY[word])
    found: dict[str, dict[str, Any]] = {
        "accept": {"accepted": answer},
        "close": {"closed": True},
        "reopen": {"closed": None},
        "pin": {"pinned": True},
        "unpin": {"pinned": None},
        "edit": {"body": text, "edited": now},
        "delete": {"body": "", "drop_files": True, "deleted": True},
    }
    entries = found[word]
    return lambda post: with_entries(post, **entries)


def receipt(done: list[tuple[str, bool]], refused: list[tuple[str, str]]) -> str:
    """The text of the receipt: each command done (or found done already), each refused and why."""
    lines = [f"#{word}: {'done, ' if changed else 'it was so already: '}{COMMANDS[word]}." for word, changed in done]
    lines += [f"#{word}: not done: {why}." for word, why in refused]
    return "\n".join(lines)
