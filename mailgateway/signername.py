"""Whether a line is the sender's own name, where a signature without a delimiter starts (pure).

Many people sign with no ``-- `` above: a last paragraph of their name, a title and perhaps a phone
number ("Bo Chen / Clinical Nurse Educator, Ward 9"). A name and a title alone look like any two
short lines, so the one sign taken here is the sender's own name, from the ``From`` header, on a
line of its own: as typed, in either order for Outlook's "Chen, Bo", after a title ("Dr") and
before post-nominals ("RN", "MSc, PhD") or a separator (", Ward 9", "| Northfield"). Names of one
word are never taken: "Bo" at the end of a message is a sign-off, and part of what they wrote.
"""

from __future__ import annotations

import re

MAX_LINE = 80  # longer lines are sentences, not names
_TITLES = r"(?:dr|prof|professor|assoc\.? prof|a/prof|mr|mrs|ms|mx|miss|sr|sister|rev)\.?\s+"
_POST_NOMINAL = re.compile(r"[A-Z][a-z]?[A-Z][A-Za-z]*\.?,?")  # RN, MSc, PhD, FRACP
_SEPARATORS = (",", "|", "-", "\u2013", "\u2014", "(", "/", "\u00b7", "\u2022")
_WORD_RE = re.compile(r"[^\W\d_][\w'\u2019.-]*")


def name_words(display_name: str) -> list[tuple[str, ...]]:
    """The ways a display name may be written as words: ``[("bo", "chen")]``; both orders for "Chen, Bo"."""
    core = re.split(r"[(|/\[]| - ", display_name, maxsplit=1)[0]
    last, comma, first = core.partition(",")
    found = []
    for text in ([f"{first} {last}"] if comma and first.strip() else []) + [core.replace(",", " ")]:
        words = tuple(w.casefold().strip(".") for w in _WORD_RE.findall(text))
        if len(words) >= 2 and words not in found:
            found.append(words)
    return found


def is_own_name(line: str, display_name: str) -> bool:
    """Whether ``line`` is the sender's name on a line of its own (see the module's docstring)."""
    line = line.strip(" \t\xa0*_")
    if not line or len(line) > MAX_LINE or not display_name:
        return False
    for words in name_words(display_name):
        pattern = rf"^(?:{_TITLES})?" + r"[\s.]+".join(re.escape(w) for w in words) + r"(?P<rest>.*)$"
        match = re.match(pattern, line, re.IGNORECASE)
        if match is None:
            continue
        rest = match.group("rest").strip()
        if not rest or rest.startswith(_SEPARATORS) or all(_POST_NOMINAL.fullmatch(t) for t in rest.split()):
            return True
    return False
