"""A guide from a discussion: a moderator's ``#guide`` adds a page to the community (issue #19).

A community of practice turns what it learns into practice its members find later. A moderator's
reply that starts with ``#guide`` in a topic with an accepted answer, or with a summary written
after the command, adds ``communities/<slug>/pages/<name>.md`` in a commit authored by that
moderator: the question, the accepted answer or the summary, who took part, and a link to the
discussion. Its front matter names the topic (``topic: <Message-ID>``), so the topic's page links to
the guide; editors refine the page afterwards like any page of theirs.

Pages are trusted Markdown (docs/format.md), and this one is made from mail, which is not: every
piece of mail's text goes in as plain text (:func:`intranet.readable.html_to_readable` of the
sanitised post) with every character Markdown or HTML would read escaped (:func:`inert`), so
nothing in a post becomes a link, markup or script on the page. A second ``#guide`` in the same
topic changes nothing: the page is the editors' from then on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intranet import urls
from intranet.format import PAGES_DIR, Community, Post, dump_yaml, read_post
from intranet.readable import html_to_readable
from intranet.render import render_post_markdown

from .spool import write_durably

if TYPE_CHECKING:
    from intranet.model import Model

    from .effects import Effects

MAX_NAME = 60  # characters of a page's name made from the topic's title
MAX_SUFFIX = 50  # name-2 ... name-50, then the guide is refused
_ESCAPED = re.compile(r"([\\`*_{}\[\]()#+\-.!])")  # Python-Markdown's backslash escapes
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "~": "&#126;", "?": "&#63;", "=": "&#61;"}
_AS_ENTITY = re.compile("[" + re.escape("".join(_ENTITIES)) + "]")
_LINK_LINE = re.compile(r"\[(\d+)\] (https?://[^\s<>\"'`\\]+)")
_LIST_ITEM = re.compile(r"( *)([-*]|\d+\.) (.*)")


def inert(text: str) -> str:
    """``text`` (plain text) as Markdown that shows it as typed: every character Python-Markdown reads
    as syntax escaped with a backslash, and ``& < >`` (HTML) and ``| ~ ? =`` (tables, fences, folds,
    headings; no backslash escape for them) as character references; lines kept, without their
    indent (a code block to Markdown), and a list item stays an item."""
    out = []
    for line in text.split("\n"):
        link = _LINK_LINE.fullmatch(line)
        if link:  # (html_to_readable lists a post's links so: made clickable, http and https only)
            out.append(f"\\[{link.group(1)}\\] <{link.group(2)}>")
            continue
        item = _LIST_ITEM.fullmatch(line)
        marker, line = (f"{item.group(1)}{item.group(2)} ", item.group(3)) if item else ("", line.lstrip())
        escaped = _ESCAPED.sub(r"\\\1", line)  # (before the entities, whose "#" must stay as it is)
        out.append(marker + _AS_ENTITY.sub(lambda m: _ENTITIES[m.group()], escaped))
    return "\n".join(out)


def page_name(title: str, taken: set[str]) -> str | None:
    """A page name (lower-case letters, digits and ``-``) from ``title``, not in ``taken``; None if
    the first :data:`MAX_SUFFIX` are all taken."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    ascii_title = re.sub(r"^((re|aw|sv|fw|fwd)\s*:\s*)+", "", ascii_title.strip(), flags=re.IGNORECASE)
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    base = (words if len(words) <= MAX_NAME else words[: MAX_NAME + 1].rsplit("-", 1)[0])[:MAX_NAME] or "guide"
    for n in range(1, MAX_SUFFIX + 1):
        name = base if n == 1 else f"{base}-{n}"
        if name not in taken:
            return name
    return None


def as_text(markdown: str) -> str:
    """What a post's Markdown says, as plain text (what its page shows)."""
    return html_to_readable(render_post_markdown(markdown)).strip()


def guide_page(
    community: Community,
    topic: Post,
    answer: Post | None,
    summary: str,
    contributors: list[str],
    names: dict[str, str],
    name: str,
    directory_urls: bool = True,
) -> str:
    """The text of the guide page (front matter and Markdown). ``answer``: the accepted reply, if any;
    ``summary``: the moderator's text after ``#guide`` (a post's Markdown, or ""); ``contributors``: the
    names of those who wrote in the topic; ``names``: handle -> name, for authors in ``people/``;
    ``name``: the page's (its link to the topic is relative, as MkDocs' ``use_directory_urls`` lays
    pages out: the topic pages are not among the files MkDocs could link by their sources)."""
    title = topic.subject or "(no subject)"
    here = urls.community_page(community.slug, name)
    thread = urls.relative(here, urls.topic(community.slug, topic.key[:12]), directory_urls)

    def by(post: Post) -> str:
        return inert(names.get(post.author.handle or "", "") or post.author.name or "someone")

    parts = [
        "---\n" + dump_yaml({"title": title, "topic": topic.message_id}) + "---",
        f"# {inert(title)}",
        f"## The question\n\nAsked by {by(topic)} on {topic.date:%d %B %Y}.\n\n{inert(as_text(topic.body))}",
    ]
    if summary.strip():
        parts.append(f"## In short\n\n{inert(as_text(summary))}")
    if answer is not None:
        parts.append(f"## The accepted answer\n\nBy {by(answer)}.\n\n{inert(as_text(answer.body))}")
    people = ", ".join(inert(name) for name in contributors)
    parts.append(f"## Who took part\n\n{people}.\n\n[The whole discussion]({thread})")
    return "\n\n".join(parts) + "\n"


def make_guide(
    fx: Effects, model: Model, community: Community, topic_id: str, summary: str, **message: Any
) -> tuple[bool, str]:
    """Carry out ``#guide`` in ``topic_id`` (``summary``: the text after it): (whether a page was
    committed, why not if it was refused: "" when done or done already)."""
    if any(page.topic == topic_id for page in community.pages):
        return False, ""  # a guide of this topic is there already: it is the editors' now
    posts = model.posts.get(community.slug, {})
    known = model.known(community.slug)
    ids = [mid for mid, root in known.topic_of.items() if root == topic_id]
    in_topic = sorted(
        (posts[path] for path in (known.paths.get(mid, "") for mid in ids) if path in posts),
        key=lambda p: (p.message_id != topic_id, p.date),
    )
    if not in_topic or in_topic[0].message_id != topic_id:
        return False, "that topic is not in the repository yet"
    root = _whole(fx, in_topic[0])
    answer = next((_whole(fx, p) for p in in_topic if p.message_id == root.accepted and not p.deleted), None)
    if answer is None and not summary.strip():
        return False, "write a summary after #guide, or #accept an answer first"
    names = {h: person.name for h, person in model.people.items()}
    writers = (names.get(p.author.handle or "", "") or p.author.name or "someone" for p in in_topic if not p.deleted)
    contributors = list(dict.fromkeys(writers))

    def text(name: str) -> str:
        return guide_page(community, root, answer, summary, contributors, names, name, fx.settings.directory_urls)

    name = write_guide(fx, community, text, root.subject or "guide", **message)
    return (True, "") if name else (False, "no free page name for it: ask an editor")


def write_guide(
    fx: Effects, community: Community, text: Callable[[str], str], title: str, **message: Any
) -> str | None:
    """Commit ``text(name)`` as a new page of ``community`` named from ``title``: the first name that
    the branch and the work tree both leave free (or that holds this very text already, from an
    attempt cut short). The page's name, or None if none is free."""
    folder = fx.root / "communities" / community.slug / PAGES_DIR
    taken = {page.name for page in community.pages}
    for _ in range(MAX_SUFFIX):
        name = page_name(title, taken)
        if name is None:
            return None
        path, data = folder / f"{name}.md", text(name).encode("utf-8")
        if path.is_symlink() or fx.store.committed(path) not in (None, data) or _read(path) not in (None, data):
            taken.add(name)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(path, data, fx.spool.tmp)
        fx.commit([], rewrites={path: lambda current, data=data: data if current in (None, data) else None}, **message)
        if fx.store.committed(path) == data:
            return name
        if _read(path) == data:
            path.unlink()  # an editor committed a page of that name meanwhile: try the next
        taken.add(name)
    return None


def _whole(fx: Effects, post: Post) -> Post:
    """``post`` with its text (the model keeps posts without it), read from its file."""
    whole, _ = read_post(fx.root, post.community, fx.root / post.relpath)
    return whole or post


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
