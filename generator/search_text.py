"""Words as the search index sees them (pure): folding, tokenising, compact text and excerpts.

The text is put in NFKD form, lower-cased, stripped of combining marks (so
*Café* is found as *cafe*), and split into runs of letters and digits; words
longer than :data:`MAX_TERM` characters and the English stop words in
:data:`STOP_WORDS` are dropped. :mod:`generator.search_format` describes the
files these words are written to.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from itertools import chain

MAX_TERM = 32  # longer "words" are hashes, URLs and the like
EXCERPT = 360  # characters of text kept for the result's excerpt

# Lucene's English stop words: frequent enough to be useless as search terms.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split()
)

_WORD = re.compile(r"[^\W_]+")


@functools.cache
def _marks() -> dict[int, None]:
    """str.translate table deleting every combining mark (Unicode category M)."""
    planes = chain(range(0x300, 0x20000), range(0xE0100, 0xE01F0))
    return {cp: None for cp in planes if unicodedata.category(chr(cp))[0] == "M"}


def fold(text: str) -> str:
    """NFKD, lower case, no combining marks: the form words are indexed and looked up in."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).lower().translate(_marks())


def tokenize(text: str) -> list[str]:
    """The words of ``text`` as the index sees them, in order, stop words and overlong words dropped."""
    return [w for w in _WORD.findall(fold(text)) if len(w) <= MAX_TERM and w not in STOP_WORDS]


def distinct_words(text: str, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The distinct words of ``text`` (but ``without``)."""
    words = set(_WORD.findall(fold(text))).difference(STOP_WORDS, without)
    return tuple(w for w in words if len(w) <= MAX_TERM)


def compact_text(text: str) -> str:
    """``text`` as the index needs it: its opening (for the excerpt) and then each other word once.

    A document built from the compact text is indexed exactly as from the whole text; builders use
    it to hold thousands of pages' words in little memory.
    """
    if len(text) <= EXCERPT * 2:
        return text
    cut = next((i for i in range(EXCERPT * 2, len(text)) if text[i].isspace()), len(text))
    head, rest = text[:cut], text[cut:]
    words = sorted(set(_WORD.findall(fold(rest))) - set(_WORD.findall(fold(head))))
    return head + (" " + " ".join(words) if words else "")


def result_excerpt(text: str) -> str:
    """What a result shows of ``text``: its start, whitespace collapsed, about :data:`EXCERPT` characters."""
    flat = " ".join(text[: EXCERPT * 2].split()) if len(text) > EXCERPT * 2 else " ".join(text.split())
    if len(flat) <= EXCERPT:
        return flat
    cut = flat.rfind(" ", EXCERPT // 2, EXCERPT)
    return flat[: cut if cut > 0 else EXCERPT] + " …"
