"""@mentions in a post (pure): ``@handle`` of someone in ``people/``, as Yammer and Discourse take them.

The site links a mention to the person's profile where they may read the community and have a
profile in that tree (else it stays text); the gateway mails a mentioned person who may read the
community the post, once, and tells the author about anyone mentioned who may not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container

# A handle (see HANDLE_RE) after an '@' that does not end a word, an address or a path.
MENTION_RE = re.compile(r"(?<![\w@./-])@([a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?)(?![\w@-])")
_TAG_RE = re.compile(r"(<[^>]*>)")
_SKIP = ("a", "code", "pre")  # no link is made inside these


def mentioned(text: str, people: Container[str]) -> list[str]:
    """The handles of ``people`` that ``text`` mentions, each once, in the order first mentioned."""
    return list(dict.fromkeys(h for h in MENTION_RE.findall(text) if h in people))


def link_mentions(html: str, link: Callable[[str], str | None]) -> str:
    """``html`` (a rendered post, well-formed) with each mention outside links and code made a link to
    ``link(handle)``, where that gives one."""
    if "@" not in html:
        return html
    out: list[str] = []
    inside = 0
    for part in _TAG_RE.split(html):
        if part.startswith("<"):
            name = part[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if len(part) > 2 else ""
            if name in _SKIP and not part.endswith("/>"):
                inside = max(inside + (-1 if part.startswith("</") else 1), 0)
            out.append(part)
        elif inside or "@" not in part:
            out.append(part)
        else:
            out.append(MENTION_RE.sub(lambda m: _linked(m, link), part))
    return "".join(out)


def _linked(match: re.Match[str], link: Callable[[str], str | None]) -> str:
    url = link(match.group(1))
    return f'<a class="intranet-mention" href="{url}">@{match.group(1)}</a>' if url else match.group(0)
