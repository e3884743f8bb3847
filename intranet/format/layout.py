"""Where content lives in the repository, how posts and messages are named, and the body sections."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

COMMUNITIES = "communities"
PEOPLE = "people"
COMMUNITY_FILE = "community.yml"
PAGES_DIR = "pages"
POSTS_DIR = "posts"

KINDS = ("staff", "partner", "supplier")
AUDIENCES = ("staff", "partners", "suppliers", "members")
KIND_AUDIENCE = {"staff": "staff", "partner": "partners", "supplier": "suppliers"}
POSTING_POLICIES = ("anyone", "known", "members", "moderators")
DELIVERY_MODES = ("each", "digest", "none")
SUBSCRIBERS_FILE = "subscribers.yml"
SOURCES = ("smtp", "lmtp", "imap", "import", "editor")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
TAG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?$")
SUBJECT_TAG_RE = re.compile(r"^[\w -]{1,20}$")
# Reactions a post can carry (front matter ``reactions:``, handle -> one of these), as the site shows them.
REACTIONS = {"like": "\U0001f44d", "love": "\u2764\ufe0f", "thanks": "\U0001f64f"}
LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
ATTACHMENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}(?:\.[A-Za-z0-9]{1,10})?$")
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"'.][^@\s<>\"']*$")

# A person's picture: people/<handle>.<one of these>, checked by its first bytes, at most this big.
PICTURE_MAGIC = {".jpg": b"\xff\xd8\xff", ".jpeg": b"\xff\xd8\xff", ".png": b"\x89PNG\r\n\x1a\n", ".webp": b"RIFF"}
PICTURE_MAX_BYTES = 1_000_000

QUOTED_MARK = "<!-- intranet:quoted -->"
SIGNATURE_MARK = "<!-- intranet:signature -->"


# --------------------------------------------------------------------------
# Identity and paths


def normalize_message_id(value: str) -> str:
    """Return a Message-ID in canonical ``<left@right>`` form."""
    value = "".join(str(value).split())
    value = value.strip("<>")
    return f"<{value}>"


def message_key(message_id: str) -> str:
    """SHA-256 hex of a normalised Message-ID: the basis of a post's path."""
    return hashlib.sha256(normalize_message_id(message_id).encode("utf-8")).hexdigest()


def post_relpath(community: str, message_id: str, variant: str = "") -> str:
    """Path, relative to the root, where the gateway stores a message.

    ``variant`` distinguishes a different message that reuses a Message-ID
    (a short content hash); the first message with an ID has none.
    """
    k = message_key(message_id)
    name = k[2:20] + (f"-{variant}" if variant else "")
    return f"{COMMUNITIES}/{community}/{POSTS_DIR}/{k[:2]}/{name}.md"


def attachments_dir(post_path: Path) -> Path:
    """The folder holding a post's attachments: beside it, named like it."""
    return post_path.with_suffix("")


def derived_message_id(community: str, relpath: str) -> str:
    """Message-ID for a hand-written post that has none: stable per path."""
    digest = hashlib.sha256(f"{community}/{relpath}".encode()).hexdigest()[:24]
    return f"<editor-{digest}@intranet.invalid>"


def path_key(relpath: str) -> str:
    """Short stable key of a file path; names topic pages and attachment folders."""
    return hashlib.sha256(relpath.encode("utf-8")).hexdigest()[:20]


def parse_date(value: Any) -> dt.datetime | None:
    """Return an aware datetime for a front-matter date, or None if unusable."""
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            result = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if result.tzinfo is None:
        result = result.replace(tzinfo=dt.UTC)
    return result


def format_date(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


# --------------------------------------------------------------------------
# The model


def normalize_address(address: str) -> str:
    """Lower-case an address and drop ``+tag`` plus-addressing from the local part."""
    address = address.strip().lower()
    local, _, domain = address.rpartition("@")
    if not local:
        return address
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


# --------------------------------------------------------------------------
# Body sections


def join_body(body: str, quoted: str = "", signature: str = "") -> str:
    parts = [body.rstrip("\n") + "\n"]
    if quoted.strip():
        parts.append(f"\n{QUOTED_MARK}\n{quoted.rstrip()}\n")
    if signature.strip():
        parts.append(f"\n{SIGNATURE_MARK}\n{signature.rstrip()}\n")
    return "".join(parts)


def split_body(text: str) -> tuple[str, str, str]:
    """Split a post body into (new text, quoted text, signature)."""
    sections = {"body": [], "quoted": [], "signature": []}  # type: dict[str, list[str]]
    current = "body"
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == QUOTED_MARK:
            current = "quoted"
            continue
        if stripped == SIGNATURE_MARK:
            current = "signature"
            continue
        sections[current].append(line)
    return tuple("".join(sections[k]).strip("\n") for k in ("body", "quoted", "signature"))  # type: ignore[return-value]


def picture_problem(suffix: str, head: bytes, size: int) -> str | None:
    """What is wrong with a person's picture named with ``suffix`` (".jpg"...), whose first 16 bytes
    are ``head``, of ``size`` bytes; None if nothing."""
    magic = PICTURE_MAGIC.get(suffix)
    if magic is None:
        return f"people/ holds .yml files and pictures ({', '.join(sorted(PICTURE_MAGIC))})"
    if size > PICTURE_MAX_BYTES:
        return f"a picture is at most {PICTURE_MAX_BYTES:,} bytes; this one is {size:,}"
    if not head.startswith(magic) or (suffix == ".webp" and head[8:12] != b"WEBP"):
        return f"not a {suffix[1:].upper()} picture (its first bytes say otherwise)"
    return None
