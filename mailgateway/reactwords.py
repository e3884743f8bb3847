"""What a reaction by mail is (pure): a reply whose whole new text is "+1", a heart or "thanks".

Discourse takes a whole body of ``+1``, ``<3`` or "like" as a like; so do we, and thanks. The
routing (:mod:`mailgateway.routing`) asks :func:`reaction_of`; :mod:`mailgateway.reactions`
carries a reaction out.
"""

from __future__ import annotations

import html
import re
import unicodedata

from .parse import Inbound

# What people type as their whole reply, by the reaction it is (lower case, without trailing "!" or ".").
WORDS = {
    "like": ("+1", "\U0001f44d", "like", "liked", "like it", "like this", "agree", "agreed"),
    "love": ("\u2764", "\u2665", "\U0001f496", "\U0001f60d", "<3", "love", "love it", "love this"),
    "thanks": ("thanks", "thank you", "thanks a lot", "many thanks", "thank you so much", "thx", "ta", "\U0001f64f"),
}
_WORD = {word: reaction for reaction, words in WORDS.items() for word in words}
_NOISE = re.compile("[\ufe0e\ufe0f\u200d\U0001f3fb-\U0001f3ff]")  # emoji variation selectors, joiners, skin tones
_LONGEST = max(len(word) for word in _WORD) + 4


def reaction_of(mail: Inbound) -> str | None:
    """The reaction ``mail`` is, when its whole new text is one (see :data:`WORDS`) and it carries no file."""
    if mail.parts or len(mail.body) > 4 * _LONGEST:
        return None
    text = html.unescape(mail.body.replace("\\", ""))  # the Markdown of "+1" or "<3" may be escaped
    text = _NOISE.sub("", unicodedata.normalize("NFC", text)).strip().lower()
    return _WORD.get(text.rstrip("!.").strip())
