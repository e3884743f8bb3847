"""An inbound mail and where it goes, to a post file and its attachments (pure)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from intranet.format import Attachment, Author, Post, post_relpath
from intranet.settings import Settings
from intranet.subjects import names_title, without_tag

from .events import new_event
from .parse import Inbound, Part
from .plaintext import text_to_markdown


@dataclass
class Draft:
    post: Post
    files: dict[str, bytes] = field(default_factory=dict)  # safe name -> data
    skipped: list[Part] = field(default_factory=list)
    quotes_removed: bool = False  # quoted text from another community was left out
    subject_replaced: bool = False  # the subject named a topic some of this community's readers may not read


QUOTES_REMOVED = "_(Quoted text from another community was removed.)_"
SUBJECT_REMOVED = "(subject removed: it named a topic in another community)"
MIN_COPIED = 20  # shorter lines are too common to count as copied from another community's post
# A quote marker at the start of a Markdown line: ">" as HTML mail gives it, "\>" as plain text gives it,
# after any indentation, also supercite's "AB>".
_QUOTE_LINE_RE = re.compile(r"^(?:\s|&nbsp;)*(?:\\?>|[A-Za-z]{1,3}\\?>(?=\s|$))")
_ESCAPE_RE = re.compile(r"\\(?=[^\w\s])")


def _plain(text: str) -> str:
    """Markdown text without escapes, quote markers or spacing, to compare what was typed."""
    while _QUOTE_LINE_RE.match(text):
        text = _QUOTE_LINE_RE.sub("", text, count=1)
    return " ".join(_ESCAPE_RE.sub("", text.replace("&nbsp;", " ")).split())


def drop_foreign_quotes(body: str, foreign: list[str]) -> tuple[str, bool]:
    """``body`` without quote lines and without lines copied from the ``foreign`` texts; whether any went.

    ``foreign`` holds the texts of posts in another community that the mail answers. Their words must
    not reach this community, so quoted lines left in the body (an interleaved reply) are dropped, and so
    is any longer line found word for word in one of those posts (a quote without quote marks).
    """
    seen = [" ".join(filter(None, map(_plain, text.splitlines()))) for text in foreign]
    kept: list[str] = []
    removed = False
    for line in body.split("\n"):  # not splitlines: a U+2028 in the text stays as it was
        plain = _plain(line)
        if _QUOTE_LINE_RE.match(line) or (len(plain) > MIN_COPIED and any(plain in text for text in seen)):
            removed = True
            continue
        if line.strip() or (kept and kept[-1].strip()):  # no runs of blank lines where lines went
            kept.append(line)
    return "\n".join(kept).strip("\n"), removed


def sender_author(mail: Inbound, handle: str | None) -> Author:
    """Who a post is by: the person in people/ (``handle``), else the sender's name and address."""
    if handle:
        return Author(handle=handle)
    return Author(name=mail.from_name or mail.from_address, email=mail.from_address)


def keep_parts(parts: list[Part], settings: Settings) -> tuple[list[Part], list[Part]]:
    """Attachments within the count and total-size limits, in order, and the rest."""
    kept: list[Part] = []
    skipped: list[Part] = []
    total = 0
    for part in parts:
        if not part.data:
            continue
        if len(kept) >= settings.max_attachments or total + len(part.data) > settings.max_attachment_bytes:
            skipped.append(part)
            continue
        kept.append(part)
        total += len(part.data)
    return kept, skipped


def compose(
    mail: Inbound,
    community: str,
    source: str,
    author: Author,
    topic: str | None,
    parent: str | None,
    received: dt.datetime,
    settings: Settings,
    variant: str = "",
    foreign: list[str] | None = None,
    foreign_titles: Sequence[str] = (),
    subject_tag: str = "",
) -> Draft:
    """The post for ``mail`` in ``community``: a new topic when ``topic`` is None.

    ``foreign`` is None unless ``mail`` answers posts of another community; then it holds their texts
    (as many as could be read), and the post keeps none of the quoted text: dropped, not folded away.
    A subject that names one of ``foreign_titles`` (the titles of those topics that some readers of
    ``community`` may not read), even with prefixes, list tags or small edits, is replaced. The
    community's own ``subject_tag`` (which its mail puts in subjects) is taken out.
    """
    kept, skipped = keep_parts(mail.parts, settings)
    body, quoted, removed, subject = mail.body, mail.quoted, False, without_tag(mail.subject, subject_tag)
    event = None
    if topic is None:  # a new topic may be an event: #event and its lines, or an invitation (routing tells why not)
        event, _, body = new_event(mail, body, settings)
    replaced = any(names_title(subject, title) for title in foreign_titles)
    if replaced:
        subject = SUBJECT_REMOVED
    if foreign is not None:
        body, dropped = drop_foreign_quotes(body, foreign)
        removed = removed or dropped or bool(quoted.strip())
        quoted = ""
        if removed and (body.strip() or kept):
            body = f"{body}\n\n{QUOTES_REMOVED}".lstrip("\n")
    if skipped:
        names = ", ".join(p.filename or p.file for p in skipped)
        body += "\n\n" + text_to_markdown(f"(Not kept, over the attachment limits: {names})")
    date = mail.date
    if date > received + dt.timedelta(days=1):  # a clock far in the future would pin the topic on top
        date = received
    post = Post(
        community=community,
        relpath=post_relpath(community, mail.message_id, variant),
        message_id=mail.message_id,
        topic=topic or mail.message_id,
        in_reply_to=parent if topic else None,
        author=author,
        date=date,
        subject=subject,
        source=source,
        tags=[],
        attachments=[
            Attachment(file=p.file, name=p.filename or p.file, type=p.content_type, size=len(p.data)) for p in kept
        ],
        body=body,
        quoted=quoted,
        signature=mail.signature,
        content_hash=mail.content_hash,
        event=event,
    )
    return Draft(
        post=post,
        files={p.file: p.data for p in kept},
        skipped=skipped,
        quotes_removed=removed,
        subject_replaced=replaced,
    )


def is_empty(draft: Draft) -> bool:
    return not draft.post.body.strip() and not draft.files and draft.post.event is None
