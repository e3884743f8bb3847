"""What is already on disk for a new message: its own earlier copy, and the posts it answers elsewhere.

Both read post files (the adapter's side of :func:`mailgateway.routing.route`): the routing
decision gets their answers as values.
"""

from __future__ import annotations

from pathlib import Path

from intranet.errors import FormatError, UnreadablePost
from intranet.format import load_yaml, may_read, post_relpath, read_post, split_front_matter
from intranet.model import Model

from .parse import Inbound
from .routing import DUPLICATE_MARK
from .store import Store


def existing_variant(root: Path, store: Store, slug: str, mail: Inbound) -> str | None:
    """DUPLICATE_MARK if ``mail`` is already a committed post in ``slug``; a variant suffix if its
    Message-ID is taken there by different content; None if the ID is free."""
    for variant in ("", mail.content_hash[7:15]):
        path = root / post_relpath(slug, mail.message_id, variant)
        if not path.is_file():
            return variant or None
        if _hash_of(path) == mail.content_hash:
            if store.is_committed(path):
                return DUPLICATE_MARK
            return variant or None  # written before a crash, not yet committed: finish the job
    return mail.content_hash[7:23]


def foreign_texts(root: Path, model: Model, slug: str, mail: Inbound) -> tuple[list[str] | None, list[str]]:
    """The texts of the posts ``mail`` answers that live in another community than ``slug``, and the
    titles of those among them that some readers of ``slug`` may not read; (None, []) when it answers
    none. They are kept out of this one (see compose)."""
    found = model.elsewhere(slug, mail.thread_ids())
    if not found:
        return None, []
    texts, titles = [], []
    for other, relpath in found:
        path = root / relpath
        if relpath and not path.is_symlink() and path.is_file():
            post, _ = read_post(root, other, path)
            if post is not None:
                texts.append(f"{post.body}\n{post.quoted}")
                if hidden_from_some(model, other, slug):
                    titles.append(post.subject)
                    titles.append(model.known(other).titles.get(post.topic, ""))
    return texts, titles


def hidden_from_some(model: Model, other: str, slug: str) -> bool:
    """Whether someone who may read community ``slug`` may not read community ``other``."""
    here, there = model.communities.get(slug), model.communities.get(other)
    if here is None or there is None:
        return True
    return any(may_read(here, person) and not may_read(there, person) for person in model.people.values())


def _hash_of(path: Path) -> str:
    """The ``content_hash`` a post file records ("" for none).

    A file that cannot be read raises :class:`UnreadablePost`: whether the message is already posted
    cannot be told, so nothing is written (no second copy); the message is retried, then kept in
    ``failed/`` with the reason, until the file is mended.
    """
    try:
        head, _, _ = split_front_matter(path.read_text(encoding="utf-8"))
        data = load_yaml(head)
    except (OSError, UnicodeDecodeError, FormatError) as exc:
        raise UnreadablePost(f"{path.name}: the post file for this Message-ID cannot be read ({exc})") from exc
    return str(data.get("content_hash", "")) if isinstance(data, dict) else ""
