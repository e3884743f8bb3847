"""@mentions in a post (pure): ``@handle``, or ``@First Last`` naming one person, as Yammer and Discourse take them.

A name mention is two or three capitalised words after the ``@`` that are someone's whole name in
``people/`` (case and spacing aside), when nobody else has that name; the longer reading wins.

The site links a mention to the person's profile where they may read the community and have a
profile in that tree (else it stays text); the gateway mails a mentioned person who may read the
community the post, once, and tells the author about anyone mentioned who may not.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Iterator, Mapping

# A handle (see HANDLE_RE) after an '@' that does not end a word, an address or a path.
MENTION_RE = re.compile(r"(?<![\w@./-])@([a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?)(?![\w@-])")
_WORD = r"[^\W\d_][\w'’-]{0,40}"
NAME_RE = re.compile(rf"(?<![\w@./-])@({_WORD}) ({_WORD})(?: ({_WORD}))?")
NAME_KEY = "name:"  # how the site's index of mentions keys a name (a handle has no colon)
_TAG_RE = re.compile(r"(<[^>]*>)")
_SKIP = ("a", "code", "pre")  # no link is made inside these


def name_key(name: str) -> str:
    """A person's whole name as a mention is matched: case folded, spaces made single."""
    return " ".join(name.casefold().split())


def unique_names(people: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Name key -> handle, for the names only one of ``people`` ((handle, name) pairs) has."""
    found: dict[str, str | None] = {}
    for handle, name in people:
        key = name_key(name)
        if key.count(" ") in (1, 2):
            found[key] = handle if key not in found else None
    return {key: handle for key, handle in found.items() if handle is not None}


def name_keys(text: str) -> set[str]:
    """Every name ``text`` might mention (whoever has it now: a person may come later)."""
    keys = set()
    for match in NAME_RE.finditer(text):
        words = [w for w in match.groups() if w]
        if words[0][0].isupper() and words[1][0].isupper():
            keys.add(name_key(" ".join(words[:2])))
            if len(words) == 3 and words[2][0].isupper():
                keys.add(name_key(" ".join(words)))
    return keys


def mentioned(text: str, people: Container[str], names: Mapping[str, str] | None = None) -> list[str]:
    """The handles of ``people`` that ``text`` mentions (by handle, or by a name in ``names``, from
    :func:`unique_names`), each once, in the order first mentioned."""
    return list(dict.fromkeys(handle for _, _, handle in _found(text, people, names or {})))


def _found(text: str, people: Container[str] | None, names: Mapping[str, str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, handle) of each mention in ``text``, in order (``people`` None: any handle)."""
    spans = [(m.start(), m.end(), m.group(1)) for m in MENTION_RE.finditer(text)]
    spans = [s for s in spans if people is None or s[2] in people]
    if names and "@" in text:
        for match in NAME_RE.finditer(text):
            span = _name_span(match, names)
            if span is not None:
                spans.append(span)
    return iter(sorted(spans))


def _name_span(match: re.Match[str], names: Mapping[str, str]) -> tuple[int, int, str] | None:
    first, last, third = match.groups()
    if not (first[0].isupper() and last[0].isupper()):
        return None
    if third and third[0].isupper() and (handle := names.get(name_key(f"{first} {last} {third}"))):
        return match.start(), match.end(3), handle
    if handle := names.get(name_key(f"{first} {last}")):
        return match.start(), match.end(2), handle
    return None


def link_mentions(html: str, link: Callable[[str], str | None], names: Mapping[str, str] | None = None) -> str:
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
            out.append(_linked(part, link, names or {}))
    return "".join(out)


def _linked(text: str, link: Callable[[str], str | None], names: Mapping[str, str]) -> str:
    out, at = [], 0
    for start, end, handle in _found(text, None, names):
        url = link(handle)
        if url is None or start < at:
            continue
        out += [text[at:start], f'<a class="intranet-mention" href="{url}">{text[start:end]}</a>']
        at = end
    return "".join(out) + text[at:]
