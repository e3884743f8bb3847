"""An inbound mail and where it goes, to a post file and its attachments (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from generator.config import Settings
from generator.content import Attachment, Author, Post, post_relpath

from .bodies import text_to_markdown
from .parse import Inbound, Part


@dataclass
class Draft:
    post: Post
    files: dict[str, bytes] = field(default_factory=dict)  # safe name -> data
    skipped: list[Part] = field(default_factory=list)


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
) -> Draft:
    """The post for ``mail`` in ``community``: a new topic when ``topic`` is None."""
    kept, skipped = keep_parts(mail.parts, settings)
    body = mail.body
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
        subject=mail.subject,
        source=source,
        tags=[],
        attachments=[
            Attachment(file=p.file, name=p.filename or p.file, type=p.content_type, size=len(p.data)) for p in kept
        ],
        body=body,
        quoted=mail.quoted,
        signature=mail.signature,
        content_hash=mail.content_hash,
    )
    return Draft(post=post, files={p.file: p.data for p in kept}, skipped=skipped)


def is_empty(draft: Draft) -> bool:
    return not draft.post.body.strip() and not draft.files
