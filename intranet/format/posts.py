"""Reading one post file: its front matter checked field by field, what is absent derived."""

from __future__ import annotations

import datetime as dt
import re
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import FormatError

# Reading, with validation
from .events import RSVP, read_event
from .fields import POST_FIELDS, Fields
from .frontmatter import (
    Problem,
    key_lines,
    load_yaml,
    split_front_matter,
    yaml_lines,
)
from .layout import (
    ATTACHMENT_NAME_RE,
    EMAIL_RE,
    HANDLE_RE,
    POSTS_DIR,
    REACTIONS,
    SOURCES,
    TAG_RE,
    attachments_dir,
    derived_message_id,
    join_body,
    normalize_message_id,
    parse_date,
    split_body,
)
from .records import (
    Attachment,
    Author,
    Post,
)


def read_post(
    root: Path, community: str, path: Path, now: dt.datetime | None = None
) -> tuple[Post | None, list[Problem]]:
    """Read one post file (see :func:`parse_post`); its attachments are looked for beside it."""
    relpath = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    folder = attachments_dir(path)

    def attachment_size(name: str) -> int | None:
        # The post was reached without following links, so checking the
        # folder and the file is enough to stay inside the content.
        try:
            found = (folder / name).lstat()
        except OSError:
            return None
        return found.st_size if stat.S_ISREG(found.st_mode) and not folder.is_symlink() else None

    return parse_post(community, relpath, text, attachment_size, now)


def parse_post(
    community: str,
    relpath: str,
    text: str,
    attachment_size: Callable[[str], int | None],
    now: dt.datetime | None = None,
) -> tuple[Post | None, list[Problem]]:
    """One post from the text of its file at ``relpath``; ``attachment_size(file)`` is the size of a
    regular file of that name in the post's attachment folder, or None (the work tree's, or a commit's).

    Required: ``author``, ``subject`` (for the first post of a topic), ``date``.
    Derived when absent: ``message_id`` (from the path), ``topic`` (from
    ``in_reply_to``, resolved when threads are built; the post itself when it
    replies to nothing), ``source`` (``editor``), ``subject`` of a reply
    (``Re:`` and the topic's), ``tags`` and ``attachments`` (none).
    """
    opened = _front_matter(text, relpath)
    if isinstance(opened, Problem):
        return None, [opened]
    data, head, body_text = opened
    f = Fields(data, relpath, key_lines(head, offset=1))
    f.unknown(POST_FIELDS)
    derived: list[str] = []
    message_id, in_reply_to, topic = _read_ids(f, community, relpath, derived)
    author = _read_author(f)
    date = _read_date(f, now)
    subject = f.string("subject", required=in_reply_to is None)
    if not subject:
        derived.append("subject")
    source = f.choice("source", SOURCES, default="editor")
    if "source" not in data:
        derived.append("source")
    attachments = _read_attachments(f, relpath, attachment_size)
    body, quoted, signature = split_body(body_text)
    poll = _read_poll(f)
    post = Post(
        community=community,
        relpath=relpath,
        message_id=message_id,
        topic=topic,
        in_reply_to=in_reply_to,
        author=author,
        date=date,
        subject=subject,
        source=source,
        tags=f.strings("tags", TAG_RE),
        attachments=attachments,
        body=body,
        quoted=quoted,
        signature=signature,
        content_hash=f.string("content_hash"),
        closed=_read_flag(f, "closed"),
        pinned=_read_flag(f, "pinned"),
        derived=tuple(derived),
        reactions=_read_marks(f, "reactions"),
        notify=_read_marks(f, "notify"),
        poll=poll,
        votes=_read_votes(f, len(poll)),
        accepted=_read_accepted(f),
        edited=_read_edited(f),
        deleted=_read_flag(f, "deleted"),
        event=read_event(f),
        rsvp=_read_marks(f, "rsvp"),
    )
    return post, f.problems


# A poll's options (``poll: {options: [...]}``, written when it is opened): how many, how long each.
POLL_MIN, POLL_MAX, POLL_OPTION_CHARS = 2, 20, 200
# The entries of a post's front matter that mail may change, written last and in this order.
MANAGED = ("closed", "pinned", "accepted", "edited", "deleted", "notify", "event", "rsvp", "reactions", "votes")
_MANAGED_KEY = re.compile(r"(closed|pinned|accepted|edited|deleted|notify|event|rsvp|reactions|votes)[ \t]*:")
# The entries that map a person's handle to their own choice, and the choices each allows.
MARKS = {
    "reactions": tuple(REACTIONS),
    "notify": ("follow", "mute"),
    "rsvp": RSVP,
    "votes": tuple(range(1, POLL_MAX + 1)),
}
_ATTACHMENTS_KEY = re.compile(r"attachments[ \t]*:")


def with_entries(text: str, *, body: str | None = None, drop_files: bool = False, **changes: Any) -> str:
    """The text of a post file with the :data:`MANAGED` entries ``changes`` names set (None, False or
    empty: taken out). Those entries are written again, last and in that order; every other line stays
    as it was written. ``body``: the new text of the post (its quoted text and signature kept; "": all
    three emptied). ``drop_files``: the ``attachments`` entry goes too. Raises :class:`FormatError` if
    the front matter cannot be read."""
    head, text_after, _ = split_front_matter(text)
    if body is not None:
        _, quoted, signature = split_body(text_after)
        text_after = join_body(body, quoted, signature) if body else join_body("")
    data = load_yaml(head) if head.strip() else {}
    if not isinstance(data, dict):
        raise FormatError("front matter must be a mapping of field: value")
    values = {key: data[key] for key in MANAGED if key in data}
    for key, value in changes.items():
        if key not in MANAGED:
            raise ValueError(f"not an entry mail may change: {key}")
        if value in (None, False, {}):
            values.pop(key, None)
        else:
            values[key] = value
    kept, inside = [], False
    for line in head.splitlines(keepends=True):
        if _MANAGED_KEY.match(line) or (drop_files and _ATTACHMENTS_KEY.match(line)):
            inside = True  # an old entry: its line and the indented lines under it go
        elif not (inside and (line[:1] in (" ", "\t", "-") or not line.strip())):
            inside = False
            kept.append(line)
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    entries = yaml_lines({key: values[key] for key in MANAGED if key in values}) if values else ""
    return f"---\n{''.join(kept)}{entries}---\n{text_after}"


def with_reaction(text: str, handle: str, reaction: str | None) -> str:
    """The text of a post file with ``handle``'s reaction set to ``reaction`` (None: taken away), as
    :func:`with_entries` writes it. Raises ValueError if ``reaction`` is not one of :data:`REACTIONS`."""
    return with_mark(text, "reactions", handle, reaction)


def with_vote(text: str, handle: str, option: int | None) -> str:
    """The text of a poll's first post with ``handle``'s vote set to ``option`` (its number, from 1;
    None: taken away), as :func:`with_entries` writes it; a later vote replaces an earlier one."""
    return with_mark(text, "votes", handle, option)


def with_mark(text: str, entry: str, handle: str, value: str | int | None) -> str:
    """The text of a post file with ``handle``'s choice in ``entry`` (one of :data:`MARKS`: reactions,
    notify, votes) set to ``value`` (None: taken away). Raises ValueError if it is not one of that entry's."""
    if value is not None and (isinstance(value, bool) or value not in MARKS[entry]):
        raise ValueError(f"not one of {entry}: {value!r}")
    head = split_front_matter(text)[0]
    found = load_yaml(head) if head.strip() else {}
    found = found.get(entry) if isinstance(found, dict) else None
    marks = {str(k): v for k, v in found.items()} if isinstance(found, dict) else {}
    if value is None:
        marks.pop(handle, None)
    else:
        marks[handle] = value
    changes: dict[str, Any] = {entry: dict(sorted(marks.items()))}
    return with_entries(text, **changes)


def _read_edited(f: Fields) -> dt.datetime | None:
    if "edited" not in f.data:
        return None
    found = parse_date(f.data.get("edited"))
    if found is None:
        f.problem("edited", "must be a date and time such as 2026-11-02T09:14:00+00:00")
    return found


def _read_accepted(f: Fields) -> str:
    value = f.string("accepted")
    if not value:
        return ""
    value = normalize_message_id(value)
    if "@" not in value:
        f.problem("accepted", "must be the Message-ID of a reply in the topic, like <left@right>")
        return ""
    return value


def _read_flag(f: Fields, name: str) -> bool:
    value = f.data.get(name, False)
    if not isinstance(value, bool):
        f.problem(name, "must be true or false")
        return False
    return value


def _read_marks(f: Fields, entry: str) -> tuple[tuple[str, str], ...]:
    value = f.data.get(entry)
    if value is None:
        return ()
    if not isinstance(value, dict):
        f.problem(entry, f"must be a mapping of handle: {' or '.join(map(str, MARKS[entry]))}")
        return ()
    found = []
    for handle, choice in value.items():
        if not isinstance(handle, str) or not HANDLE_RE.match(handle):
            f.problem(entry, f"{handle!r} is not a handle")
        elif choice not in MARKS[entry]:
            f.problem(entry, f"{handle}: {choice!r} is not one of {', '.join(map(str, MARKS[entry]))}")
        else:
            found.append((handle, str(choice)))
    return tuple(sorted(found))


def _read_date(f: Fields, now: dt.datetime | None) -> dt.datetime:
    date = parse_date(f.data.get("date"))
    if date is not None:
        return date
    if "date" in f.data:
        f.problem("date", "must be a date and time such as 2026-11-02T09:14:00+00:00")
    else:
        f.problem("date", "required field is missing")
    return now or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _read_poll(f: Fields) -> tuple[str, ...]:
    value = f.data.get("poll")
    if value is None:
        return ()
    options = value.get("options") if isinstance(value, dict) else None
    if not isinstance(options, list) or set(value) != {"options"}:
        f.problem("poll", "must be a mapping with options: (a list of the poll's options)")
        return ()
    found = tuple(str(o).strip() for o in options if isinstance(o, (str, int)) and not isinstance(o, bool))
    if len(found) != len(options) or not all(found) or any(len(o) > POLL_OPTION_CHARS for o in found):
        f.problem("poll", f"each option must be text of 1 to {POLL_OPTION_CHARS} characters")
        return ()
    if not POLL_MIN <= len(found) <= POLL_MAX:
        f.problem("poll", f"must have {POLL_MIN} to {POLL_MAX} options")
        return ()
    return found


def _read_votes(f: Fields, options: int) -> tuple[tuple[str, int], ...]:
    value = f.data.get("votes")
    if value is None:
        return ()
    if not options:
        f.problem("votes", "only a post with a poll: entry can have votes")
        return ()
    if not isinstance(value, dict):
        f.problem("votes", "must be a mapping of handle: option number")
        return ()
    found = []
    for handle, choice in value.items():
        if not isinstance(handle, str) or not HANDLE_RE.match(handle):
            f.problem("votes", f"{handle!r} is not a handle")
        elif isinstance(choice, bool) or not isinstance(choice, int) or not 1 <= choice <= options:
            f.problem("votes", f"{handle}: {choice!r} is not the number of an option (1 to {options})")
        else:
            found.append((handle, choice))
    return tuple(sorted(found))


def _read_author(f: Fields) -> Author:
    value = f.data.get("author")
    if value is None:
        f.problem("author", "required field is missing")
        return Author(name="Unknown")
    if isinstance(value, str):
        if not HANDLE_RE.match(value):
            f.problem("author", f"{value!r} is not a handle; use a people/ handle or name: and email:")
        return Author(handle=value)
    if isinstance(value, dict):
        name = value.get("name")
        email = value.get("email")
        if not isinstance(email, str) or not EMAIL_RE.match(email):
            f.problem("author", "needs an email: address when it is not a handle")
            email = ""
        if name is not None and not isinstance(name, str):
            f.problem("author", "name: must be text")
            name = ""
        return Author(name=name or (email or "Unknown"), email=email or "")
    f.problem("author", "must be a handle or a mapping with name: and email:")
    return Author(name="Unknown")


def _read_attachments(f: Fields, relpath: str, size_of: Callable[[str], int | None]) -> list[Attachment]:
    value = f.data.get("attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        f.problem("attachments", "must be a list")
        return []
    folder = relpath.rsplit("/", 1)[-1].removesuffix(".md")
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            f.problem("attachments", "each attachment needs file: (its name in the post's folder)")
            continue
        name = item["file"]
        if not ATTACHMENT_NAME_RE.match(name):
            f.problem("attachments", f"file {name!r} is not a safe attachment name")
            continue
        found = size_of(name)
        if found is None:
            f.problem("attachments", f"file {name!r} is not a file in {folder}/")
            continue
        original = item.get("name", name)
        size = item.get("size")
        result.append(
            Attachment(
                file=name,
                name=str(original),
                type=str(item.get("type") or "application/octet-stream"),
                size=int(size) if isinstance(size, int) and not isinstance(size, bool) else found,
            )
        )
    return result


def _front_matter(text: str, relpath: str) -> tuple[dict[str, Any], str, str] | Problem:
    """(front matter, its YAML text, body) of a post file, or the problem that stops reading it."""
    try:
        head, body_text, _ = split_front_matter(text)
    except FormatError as exc:
        return Problem(relpath, exc.line, "front matter", str(exc))
    try:
        data = load_yaml(head) if head.strip() else {}
    except FormatError as exc:  # YAML lines count from the line after '---'
        return Problem(relpath, exc.line + 1, "front matter", str(exc))
    if not isinstance(data, dict):
        return Problem(relpath, 2, "front matter", "must be a mapping of field: value")
    return data, head, body_text


def _read_ids(f: Fields, community: str, relpath: str, derived: list[str]) -> tuple[str, str | None, str]:
    """(message_id, in_reply_to, topic), derived where absent."""
    message_id = f.string("message_id")
    if message_id:
        message_id = normalize_message_id(message_id)
        if message_id == "<>" or "@" not in message_id:
            f.problem("message_id", "must look like <left@right>")
    else:
        message_id = derived_message_id(community, relpath.split(f"/{POSTS_DIR}/", 1)[-1])
        derived.append("message_id")
    in_reply_to = f.string("in_reply_to") or None
    if in_reply_to:
        in_reply_to = normalize_message_id(in_reply_to)
    topic = f.string("topic")
    if topic:
        topic = normalize_message_id(topic)
    else:
        topic = message_id if not in_reply_to else ""
        derived.append("topic")
    return message_id, in_reply_to, topic
