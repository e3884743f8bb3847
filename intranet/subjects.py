"""What a mail subject says once mail clients' and lists' decorations are set aside (pure).

Mail clients put ``Re:``, ``AW:``, ``Sv:``, ``Fwd:``, ``WG:`` ... in front of a subject, lists put
``[tag]`` before or after it, and people retype a title with other case, punctuation or a typo.
:func:`bare_subject` takes off prefixes and spacing; :func:`subject_words` goes further (tags,
punctuation, width and case forms) for comparing; :func:`names_title` tells whether a subject
names a topic's title closely enough that showing it would show the title.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

# Reply and forward prefixes of the common mail clients, in several languages, with Outlook's
# "Re[2]:" counters: re aw sv vs antw odp rif res ref r, fw fwd wg tr enc doorst rv.
_PREFIX = r"(?:re|aw|sv|vs|antw|odp|rif|res|ref|r|fwd?|wg|tr|enc|doorst|rv)"
_REPLY_PREFIX_RE = re.compile(rf"^(?:\s*{_PREFIX}\s*(?:\[\d+\])?\s*:)+", re.IGNORECASE)
_LIST_TAG_RE = re.compile(r"\[[^\]]{0,60}\]")
_NOT_WORD_RE = re.compile(r"[\W_]+")

MIN_CONTAINED = 10  # a shorter title found inside a subject is too likely a common phrase to count
CLOSE = 0.85  # difflib ratio above which two subjects count as the same words with small edits


def bare_subject(subject: str) -> str:
    """A subject without reply and forward prefixes, spacing and case, to compare titles."""
    return " ".join(_REPLY_PREFIX_RE.sub("", subject).split()).casefold()


def without_tag(subject: str, tag: str) -> str:
    """``subject`` without the list tag ``[tag]`` a notification put in it (wherever a reply left it)."""
    if not tag:
        return subject
    return " ".join(re.sub(rf"\[{re.escape(tag)}\]", " ", subject, flags=re.IGNORECASE).split())


def with_tag(subject: str, tag: str) -> str:
    """``subject`` with ``[tag]`` in front, once (a reply's subject may carry it already)."""
    if not tag or f"[{tag}]".casefold() in subject.casefold():
        return subject
    return f"[{tag}] {subject}"


def subject_words(subject: str) -> str:
    """``subject`` reduced to its words: no prefixes, no ``[list tags]`` anywhere, no punctuation,
    one case, compatibility forms folded (full-width letters, ligatures), single spaces."""
    text = unicodedata.normalize("NFKC", subject)
    for _ in range(8):  # "[tag] Re: [tag] Fwd: x" peels in turns
        stripped = _LIST_TAG_RE.sub(" ", _REPLY_PREFIX_RE.sub("", text)).strip()
        if stripped == text:
            break
        text = stripped
    return " ".join(_NOT_WORD_RE.sub(" ", text).split()).casefold()


def names_title(subject: str, title: str) -> bool:
    """Whether ``subject`` repeats ``title``: the same words, the title's words inside it, or the
    same words with small edits (a typo, a word added or dropped in a long title)."""
    said, named = subject_words(subject), subject_words(title)
    if not said or not named:
        return False
    if said == named:
        return True
    if len(named) >= MIN_CONTAINED and f" {named} " in f" {said} ":
        return True
    if min(len(said), len(named)) < MIN_CONTAINED:
        return False
    return difflib.SequenceMatcher(None, said, named, autojunk=False).ratio() >= CLOSE
