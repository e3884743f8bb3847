"""The on-disk format of an intranet: communities, posts, pages and people.

This module is the only code that knows how content is laid out in the
repository. The mail gateway writes through it and the generator reads
through it; ``docs/format.md`` is the human-readable specification and the
two are kept in step (``tests/test_format.py`` checks the examples there).

Layout under the intranet root::

    communities/<slug>/community.yml        metadata of one community
    communities/<slug>/pages/<name>.md      hand-written pages (trusted Markdown)
    communities/<slug>/posts/**/<name>.md   one Markdown file per message
    communities/<slug>/posts/**/<name>/     that message's attachments
    communities/<slug>/subscribers.yml      who gets the community's mail: handle: each|digest|none
    people/<handle>.yml                     one person or team account

A post written by the gateway lives at ``posts/<k[0:2]>/<k[2:20]>.md`` where
``k`` is the SHA-256 of its Message-ID (:func:`post_relpath`), so a repeated
delivery lands on the same file. Editors may add posts anywhere under
``posts/`` by hand and leave out what can be derived (see :func:`read_post`).

Front matter is YAML, written with :func:`dump_front_matter` (a safe dumper)
and read with a safe loader: nothing in a post can construct a Python object,
and any string round-trips exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml is several times faster; both are safe loaders.
    from yaml import CSafeDumper as _Dumper
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeDumper as _Dumper  # type: ignore[assignment]
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

COMMUNITIES = "communities"
PEOPLE = "people"
COMMUNITY_FILE = "community.yml"
PAGES_DIR = "pages"
POSTS_DIR = "posts"

KINDS = ("staff", "partner", "supplier")
AUDIENCES = ("staff", "partners", "suppliers", "members")
KIND_AUDIENCE = {"staff": "staff", "partner": "partners", "supplier": "suppliers"}
POSTING_POLICIES = ("anyone", "known", "members")
DELIVERY_MODES = ("each", "digest", "none")
SUBSCRIBERS_FILE = "subscribers.yml"
SOURCES = ("smtp", "lmtp", "imap", "import", "editor")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
HANDLE_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
TAG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,40}[a-z0-9])?$")
LOCAL_PART_RE = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")
ATTACHMENT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,80}(?:\.[A-Za-z0-9]{1,10})?$")
EMAIL_RE = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"'.][^@\s<>\"']*$")

QUOTED_MARK = "<!-- intranet:quoted -->"
SIGNATURE_MARK = "<!-- intranet:signature -->"

_FM_OPEN = "---\n"
_FM_CLOSE_RE = re.compile(r"^(?:---|\.\.\.)[ \t]*$", re.M)


class FormatError(ValueError):
    """A file that cannot be read at all (no or broken front matter)."""

    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, as ``intranet check`` reports it."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


# --------------------------------------------------------------------------
# Front matter


def dump_yaml(data: dict[str, Any]) -> str:
    """``data`` as block-style YAML, keys in the given order (safe dumper)."""
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1_000_000
    )


def dump_front_matter(data: dict[str, Any], body: str = "") -> str:
    """Return file text: ``data`` as YAML front matter, then ``body``."""
    return f"{_FM_OPEN}{dump_yaml(data)}---\n{body}"


def split_front_matter(text: str) -> tuple[str, str, int]:
    """Split file text into (yaml text, body, line number where the body starts)."""
    text = text.lstrip("\ufeff")
    if not text.startswith(_FM_OPEN) and not text.startswith("---\r\n"):
        raise FormatError("file must start with a '---' line opening YAML front matter")
    text = text.replace("\r\n", "\n")
    close = _FM_CLOSE_RE.search(text, len(_FM_OPEN))
    if close is None:
        raise FormatError("front matter is never closed by a '---' line")
    head = text[len(_FM_OPEN) : close.start()]
    body = text[close.end() + 1 :] if close.end() < len(text) else ""
    body_line = head.count("\n") + 3
    return head, body, body_line


def load_yaml(text: str) -> Any:
    """Parse YAML with the safe loader; raise :class:`FormatError` with a line."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - safe loader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 1) if mark is not None else 1
        raise FormatError(f"invalid YAML: {exc.problem or exc}", line) from None
    except yaml.YAMLError as exc:
        raise FormatError(f"invalid YAML: {exc}") from None


def parse_front_matter(text: str) -> tuple[dict[str, Any], str, int]:
    """Return (front matter mapping, body, body start line)."""
    head, body, body_line = split_front_matter(text)
    data = load_yaml(head) if head.strip() else {}
    if not isinstance(data, dict):
        raise FormatError("front matter must be a mapping of field: value", 2)
    return data, body, body_line


def key_lines(yaml_text: str, offset: int = 0) -> dict[str, int]:
    """Map each top-level key of a YAML mapping to its 1-based line number."""
    try:
        node = yaml.compose(yaml_text, Loader=_Loader)  # noqa: S506
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): k.start_mark.line + 1 + offset for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


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


@dataclass(frozen=True)
class Author:
    """Who wrote a post: a handle in ``people/``, or a name and address."""

    handle: str | None = None
    name: str = ""
    email: str = ""

    def to_yaml(self) -> Any:
        if self.handle:
            return self.handle
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class Attachment:
    file: str  # generated safe name inside the post's attachment folder
    name: str  # original name, as sent; display only
    type: str = "application/octet-stream"
    size: int = 0


@dataclass
class Post:
    community: str
    relpath: str  # relative to the root, with forward slashes
    message_id: str
    topic: str  # Message-ID of the topic's first post
    in_reply_to: str | None
    author: Author
    date: dt.datetime
    subject: str
    source: str
    tags: list[str]
    attachments: list[Attachment]
    body: str
    quoted: str = ""
    signature: str = ""
    content_hash: str = ""  # of the message as received; tells a redelivery from a reused Message-ID
    closed: bool = False  # on a topic's first post: no more replies by email
    derived: tuple[str, ...] = ()  # fields filled in by derivation, not written

    @property
    def key(self) -> str:
        return path_key(self.relpath)

    def front_matter(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "topic": self.topic,
        }
        if self.in_reply_to:
            data["in_reply_to"] = self.in_reply_to
        data["author"] = self.author.to_yaml()
        data["date"] = format_date(self.date)
        data["subject"] = self.subject
        data["source"] = self.source
        if self.tags:
            data["tags"] = list(self.tags)
        if self.attachments:
            data["attachments"] = [
                {"file": a.file, "name": a.name, "type": a.type, "size": a.size} for a in self.attachments
            ]
        if self.content_hash:
            data["content_hash"] = self.content_hash
        if self.closed:
            data["closed"] = True
        return data

    def to_text(self) -> str:
        return dump_front_matter(self.front_matter(), join_body(self.body, self.quoted, self.signature))


@dataclass
class Page:
    """A hand-written page an editor keeps in ``communities/<slug>/pages/``."""

    community: str
    relpath: str
    name: str  # file stem: the page's URL part
    title: str
    text: str  # Markdown, rendered by MkDocs as trusted content


@dataclass
class Community:
    slug: str
    name: str
    purpose: str
    mail: str
    moderators: list[str]
    audience: list[str]
    members: list[str]
    posting: str
    tags: list[str]
    relpath: str
    pages: list[Page] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)  # non-Markdown files in pages/
    subscription: str = "each"  # the mode +subscribe gives, and members' mode in a members-only community
    subscribers: dict[str, str] = field(default_factory=dict)  # handle -> each|digest|none (subscribers.yml)

    @property
    def members_only(self) -> bool:
        return self.audience == ["members"]

    def delivery(self, handle: str) -> str:
        """How ``handle`` gets this community's mail: each, digest or none."""
        if handle in self.subscribers:
            return self.subscribers[handle]
        if self.members_only and (handle in self.members or handle in self.moderators):
            return self.subscription
        return "none"


@dataclass
class Person:
    handle: str
    name: str
    emails: list[str]
    kind: str
    organisation: str
    role: str
    expertise: list[str]
    teams: list[str]
    members: list[str]  # a team account lists the people who read its inbox
    about: str
    relpath: str
    undeliverable: dict[str, str] = field(default_factory=dict)  # address -> date mail to it stopped (bounces)

    @property
    def is_team(self) -> bool:
        return bool(self.members)

    def mail_address(self) -> str | None:
        """Where this person's mail goes: the first listed address that is not bouncing."""
        for address in self.emails:
            if normalize_address(address) not in {normalize_address(a) for a in self.undeliverable}:
                return address
        return None


def may_read(community: Community, person: Person | None) -> bool:
    """Whether ``person`` is in the audience of ``community`` (the site and its mail alike)."""
    if person is None:
        return False
    if community.members_only:
        return person.handle in community.members or person.handle in community.moderators
    return KIND_AUDIENCE.get(person.kind) in community.audience


@dataclass
class Intranet:
    """Everything read from one root, plus every problem found reading it."""

    root: Path
    communities: dict[str, Community]
    people: dict[str, Person]
    posts: list[Post]
    problems: list[Problem]

    def person_by_email(self) -> dict[str, str]:
        index: dict[str, str] = {}
        for person in self.people.values():
            for address in person.emails:
                index[normalize_address(address)] = person.handle
        return index


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


# --------------------------------------------------------------------------
# Reading, with validation


class _Fields:
    """Reads typed fields from one front-matter mapping, collecting problems."""

    def __init__(self, data: dict[str, Any], relpath: str, lines: dict[str, int]) -> None:
        self.data = data
        self.relpath = relpath
        self.lines = lines
        self.problems: list[Problem] = []

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.relpath, self.lines.get(name, 1), name, message))

    def string(self, name: str, required: bool = False, default: str = "") -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, "required field is missing")
            return default
        if isinstance(value, (dict, list)):
            self.problem(name, "must be text")
            return default
        if isinstance(value, bool):
            self.problem(name, "must be text, not true/false (quote it)")
            return default
        return str(value)

    def strings(self, name: str, pattern: re.Pattern[str] | None = None) -> list[str]:
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
            self.problem(name, "must be a list of text values")
            return []
        result = [str(v) for v in value]
        if pattern is not None:
            for item in result:
                if not pattern.match(item):
                    self.problem(name, f"{item!r} is not valid here")
            result = [v for v in result if pattern.match(v)]
        return result

    def choice(self, name: str, choices: Iterable[str], default: str | None = None) -> str:
        choices = tuple(choices)
        value = self.string(name, required=default is None, default=default or "")
        if value and value not in choices:
            self.problem(name, f"{value!r} is not one of: {', '.join(choices)}")
            return default or choices[0]
        return value

    def unknown(self, known: Iterable[str]) -> None:
        allowed = set(known)
        for name in self.data:
            if str(name) not in allowed:
                self.problem(str(name), "unknown field (misspelt?)")


COMMUNITY_FIELDS = ("name", "purpose", "mail", "moderators", "audience", "members", "posting", "tags", "subscription")
PERSON_FIELDS = (
    "name",
    "emails",
    "kind",
    "organisation",
    "role",
    "expertise",
    "teams",
    "members",
    "about",
    "undeliverable",
)
POST_FIELDS = (
    "message_id",
    "topic",
    "in_reply_to",
    "author",
    "date",
    "subject",
    "source",
    "tags",
    "attachments",
    "content_hash",
    "closed",
)


def read_yaml_file(path: Path, relpath: str) -> tuple[dict[str, Any] | None, dict[str, int], list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, {}, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    return parse_yaml_mapping(text, relpath)


def parse_yaml_mapping(text: str, relpath: str) -> tuple[dict[str, Any] | None, dict[str, int], list[Problem]]:
    """The text of a YAML file holding one mapping: (mapping or None, key lines, problems)."""
    try:
        data = load_yaml(text) if text.strip() else {}
    except FormatError as exc:
        return None, {}, [Problem(relpath, exc.line, "file", str(exc))]
    if not isinstance(data, dict):
        return None, {}, [Problem(relpath, 1, "file", "must be a mapping of field: value")]
    return data, key_lines(text), []


def read_community(root: Path, slug: str) -> tuple[Community | None, list[Problem]]:
    relpath = f"{COMMUNITIES}/{slug}/{COMMUNITY_FILE}"
    path = root / relpath
    if not SLUG_RE.match(slug):
        return None, [
            Problem(f"{COMMUNITIES}/{slug}", 1, "slug", "folder name must be lower-case letters, digits and '-'")
        ]
    if not path.is_file() or path.is_symlink():
        return None, [Problem(relpath, 1, "file", "missing: every community folder needs a community.yml")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    community, problems = parse_community(slug, text)
    if community is None:
        return None, problems
    community.subscribers, sub_problems = read_subscribers(root, slug)
    community.pages, community.assets, page_problems = read_pages(root, slug)
    return community, problems + sub_problems + page_problems


def parse_community(slug: str, text: str) -> tuple[Community | None, list[Problem]]:
    """The fields of ``communities/<slug>/community.yml`` from its text; no pages or subscribers.

    :func:`read_community` reads a folder through this; ``intranet check`` also
    reads earlier versions of the file from Git with it.
    """
    relpath = f"{COMMUNITIES}/{slug}/{COMMUNITY_FILE}"
    data, lines, problems = parse_yaml_mapping(text, relpath)
    if data is None:
        return None, problems
    f = _Fields(data, relpath, lines)
    f.unknown(COMMUNITY_FIELDS)
    audience = f.strings("audience") or ["staff"]
    for item in audience:
        if item not in AUDIENCES:
            f.problem("audience", f"{item!r} is not one of: {', '.join(AUDIENCES)}")
    audience = [a for a in audience if a in AUDIENCES] or ["staff"]
    if "members" in audience and len(audience) > 1:
        f.problem("audience", "'members' cannot be combined with other audiences")
    community = Community(
        slug=slug,
        name=f.string("name", required=True, default=slug),
        purpose=f.string("purpose", required=True),
        mail=f.string("mail", default=slug).lower(),
        moderators=f.strings("moderators", HANDLE_RE),
        audience=audience,
        members=f.strings("members", HANDLE_RE),
        posting=f.choice("posting", POSTING_POLICIES, default="known"),
        tags=f.strings("tags", TAG_RE),
        relpath=relpath,
        subscription=f.choice("subscription", DELIVERY_MODES, default="each"),
    )
    if not LOCAL_PART_RE.match(community.mail) or "+" in community.mail:
        f.problem("mail", f"{community.mail!r} is not a valid mail local part")
    if community.audience == ["members"] and not community.members:
        f.problem("members", "a members-only community must list its members")
    return community, f.problems


def read_subscribers(root: Path, slug: str) -> tuple[dict[str, str], list[Problem]]:
    """``communities/<slug>/subscribers.yml``: a mapping of handle to each, digest or none."""
    relpath = f"{COMMUNITIES}/{slug}/{SUBSCRIBERS_FILE}"
    path = root / relpath
    if not path.is_file() or path.is_symlink():
        return {}, []
    data, lines, problems = read_yaml_file(path, relpath)
    if data is None:
        return {}, problems
    result: dict[str, str] = {}
    for handle, mode in data.items():
        line = lines.get(str(handle), 1)
        if not isinstance(handle, str) or not HANDLE_RE.match(handle):
            problems.append(Problem(relpath, line, str(handle), "not a person's handle"))
        elif mode not in DELIVERY_MODES:
            problems.append(Problem(relpath, line, handle, f"{mode!r} is not one of: {', '.join(DELIVERY_MODES)}"))
        else:
            result[handle] = mode
    return result, problems


def subscribers_text(subscribers: dict[str, str]) -> str:
    """The text of a subscribers.yml, sorted by handle."""
    head = "# Who gets this community's mail: handle: each (every post), digest (daily) or none.\n"
    return head + (dump_yaml(dict(sorted(subscribers.items()))) if subscribers else "{}\n")


def read_pages(root: Path, slug: str) -> tuple[list[Page], list[str], list[Problem]]:
    folder = root / COMMUNITIES / slug / PAGES_DIR
    pages: list[Page] = []
    assets: list[str] = []
    problems: list[Problem] = []
    if not folder.is_dir() or folder.is_symlink():
        return pages, assets, problems
    for path in sorted(_walk_files(folder, problems, root)):
        relpath = path.relative_to(root).as_posix()
        if path.suffix != ".md":
            assets.append(relpath)
            continue
        if path.parent != folder:
            problems.append(Problem(relpath, 1, "file", "pages must sit directly in pages/, not in a sub-folder"))
            continue
        if not SLUG_RE.match(path.stem):
            problems.append(Problem(relpath, 1, "file", "page file names must be lower-case letters, digits and '-'"))
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        title = _page_title(text) or path.stem.replace("-", " ").capitalize()
        pages.append(Page(community=slug, relpath=relpath, name=path.stem, title=title, text=text))
    return pages, assets, problems


def _page_title(text: str) -> str:
    if text.startswith("---"):
        try:
            data, text, _ = parse_front_matter(text)
            if isinstance(data.get("title"), str):
                return data["title"]
        except FormatError:
            return ""
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return ""


def read_person(root: Path, path: Path) -> tuple[Person | None, list[Problem]]:
    relpath = path.relative_to(root).as_posix()
    handle = path.stem
    if not HANDLE_RE.match(handle):
        return None, [
            Problem(relpath, 1, "file", "person file names must be lower-case letters, digits, '.', '_' and '-'")
        ]
    data, lines, problems = read_yaml_file(path, relpath)
    if data is None:
        return None, problems
    f = _Fields(data, relpath, lines)
    f.unknown(PERSON_FIELDS)
    emails = [e.strip() for e in f.strings("emails")]
    for address in emails:
        if not EMAIL_RE.match(address):
            f.problem("emails", f"{address!r} is not an email address")
    person = Person(
        handle=handle,
        name=f.string("name", required=True, default=handle),
        emails=emails,
        kind=f.choice("kind", KINDS),
        organisation=f.string("organisation", required=True),
        role=f.string("role"),
        expertise=f.strings("expertise"),
        teams=f.strings("teams"),
        members=f.strings("members", HANDLE_RE),
        about=f.string("about"),
        relpath=relpath,
        undeliverable=_read_undeliverable(f),
    )
    if not emails:
        f.problem("emails", "list at least one address")
    return person, f.problems + problems


def _read_undeliverable(f: _Fields) -> dict[str, str]:
    value = f.data.get("undeliverable")
    if value is None:
        return {}
    if not isinstance(value, dict):
        f.problem("undeliverable", "must map an address to the date mail to it stopped")
        return {}
    return {str(k): str(v) for k, v in value.items()}


def read_post(
    root: Path, community: str, path: Path, now: dt.datetime | None = None
) -> tuple[Post | None, list[Problem]]:
    """Read one post file.

    Required: ``author``, ``subject`` (for the first post of a topic), ``date``.
    Derived when absent: ``message_id`` (from the path), ``topic`` (from
    ``in_reply_to``, resolved when threads are built; the post itself when it
    replies to nothing), ``source`` (``editor``), ``subject`` of a reply
    (``Re:`` and the topic's), ``tags`` and ``attachments`` (none).
    """
    relpath = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    try:
        head, body_text, _ = split_front_matter(text)
    except FormatError as exc:
        return None, [Problem(relpath, exc.line, "front matter", str(exc))]
    try:
        data = load_yaml(head) if head.strip() else {}
    except FormatError as exc:  # YAML lines count from the line after '---'
        return None, [Problem(relpath, exc.line + 1, "front matter", str(exc))]
    if not isinstance(data, dict):
        return None, [Problem(relpath, 2, "front matter", "must be a mapping of field: value")]
    f = _Fields(data, relpath, key_lines(head, offset=1))
    f.unknown(POST_FIELDS)
    derived: list[str] = []

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

    author = _read_author(f)
    date = parse_date(data.get("date"))
    if date is None:
        if "date" in data:
            f.problem("date", "must be a date and time such as 2026-11-02T09:14:00+00:00")
        else:
            f.problem("date", "required field is missing")
        date = now or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    subject = f.string("subject", required=in_reply_to is None)
    if not subject:
        derived.append("subject")
    source = f.choice("source", SOURCES, default="editor")
    if "source" not in data:
        derived.append("source")
    attachments = _read_attachments(f, path)
    body, quoted, signature = split_body(body_text)
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
        derived=tuple(derived),
    )
    return post, f.problems


def _read_flag(f: _Fields, name: str) -> bool:
    value = f.data.get(name, False)
    if not isinstance(value, bool):
        f.problem(name, "must be true or false")
        return False
    return value


def _read_author(f: _Fields) -> Author:
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


def _read_attachments(f: _Fields, post_path: Path) -> list[Attachment]:
    value = f.data.get("attachments")
    if value is None:
        return []
    if not isinstance(value, list):
        f.problem("attachments", "must be a list")
        return []
    folder = attachments_dir(post_path)
    result = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("file"), str):
            f.problem("attachments", "each attachment needs file: (its name in the post's folder)")
            continue
        name = item["file"]
        if not ATTACHMENT_NAME_RE.match(name):
            f.problem("attachments", f"file {name!r} is not a safe attachment name")
            continue
        target = folder / name
        # The post was reached without following links, so checking the
        # folder and the file is enough to stay inside the content.
        if folder.is_symlink() or target.is_symlink() or not target.is_file():
            f.problem("attachments", f"file {name!r} is not a file in {folder.name}/")
            continue
        original = item.get("name", name)
        size = item.get("size")
        result.append(
            Attachment(
                file=name,
                name=str(original),
                type=str(item.get("type") or "application/octet-stream"),
                size=int(size) if isinstance(size, int) and not isinstance(size, bool) else target.stat().st_size,
            )
        )
    return result


SYMLINK_PROBLEM = "symbolic links are not allowed in content"


def _walk_files(
    folder: Path, problems: list[Problem], root: Path, skip_dir: Callable[[str, list[str]], bool] | None = None
) -> Iterator[Path]:
    """Regular files under ``folder``; symlinks are reported and never followed.

    ``skip_dir(name, filenames)`` may prune a sub-folder from the walk.
    """
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in list(dirnames):
            if (base / name).is_symlink():
                problems.append(Problem((base / name).relative_to(root).as_posix(), 1, "file", SYMLINK_PROBLEM))
                dirnames.remove(name)
            elif name.startswith(".") or (skip_dir is not None and skip_dir(name, filenames)):
                dirnames.remove(name)
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = base / name
            if path.is_symlink():
                problems.append(Problem(path.relative_to(root).as_posix(), 1, "file", SYMLINK_PROBLEM))
                continue
            yield path


def iter_post_paths(root: Path, community: str, problems: list[Problem]) -> Iterator[Path]:
    """Post files of one community: Markdown under posts/, not inside an attachment folder."""
    folder = root / COMMUNITIES / community / POSTS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return

    def is_attachment_folder(name: str, filenames: list[str]) -> bool:
        return f"{name}.md" in filenames

    for path in _walk_files(folder, problems, root, skip_dir=is_attachment_folder):
        if path.suffix == ".md":
            yield path


def read_intranet(root: Path | str, now: dt.datetime | None = None, posts: bool = True) -> Intranet:
    """Read every community, person and post under ``root``; never raises on bad content.

    ``posts=False`` reads communities and people only (and skips the checks that need posts).
    """
    read_posts = posts
    root = Path(root)
    problems: list[Problem] = []
    people: dict[str, Person] = {}
    people_dir = root / PEOPLE
    if people_dir.is_dir():
        for path in sorted(_walk_files(people_dir, problems, root)):
            if path.parent != people_dir:
                problems.append(
                    Problem(path.relative_to(root).as_posix(), 1, "file", "people files sit directly in people/")
                )
                continue
            if path.suffix not in (".yml", ".yaml"):
                problems.append(Problem(path.relative_to(root).as_posix(), 1, "file", "people/ holds only .yml files"))
                continue
            person, found = read_person(root, path)
            problems.extend(found)
            if person is not None:
                people[person.handle] = person
    communities: dict[str, Community] = {}
    all_posts: list[Post] = []
    communities_dir = root / COMMUNITIES
    if communities_dir.is_dir():
        for entry in sorted(communities_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            relpath = entry.relative_to(root).as_posix()
            if entry.is_symlink():
                problems.append(Problem(relpath, 1, "file", SYMLINK_PROBLEM))
                continue
            if not entry.is_dir():
                problems.append(Problem(relpath, 1, "file", "communities/ holds only community folders"))
                continue
            community, found = read_community(root, entry.name)
            problems.extend(found)
            if community is None:
                continue
            communities[community.slug] = community
            if not read_posts:
                continue
            for path in iter_post_paths(root, community.slug, problems):
                post, found = read_post(root, community.slug, path, now)
                problems.extend(found)
                if post is not None:
                    all_posts.append(post)
    intranet = Intranet(root=root, communities=communities, people=people, posts=all_posts, problems=problems)
    problems.extend(cross_check(intranet))
    return intranet


def cross_check(intranet: Intranet) -> list[Problem]:
    """Problems that need more than one file: unknown handles, duplicate addresses."""
    problems: list[Problem] = []
    people = intranet.people
    seen: dict[str, str] = {}
    for person in people.values():
        for address in person.emails:
            norm = normalize_address(address)
            if norm in seen and seen[norm] != person.handle:
                problems.append(
                    Problem(person.relpath, 1, "emails", f"{address} is also listed by people/{seen[norm]}.yml")
                )
            seen.setdefault(norm, person.handle)
        for member in person.members:
            if member not in people:
                problems.append(Problem(person.relpath, 1, "members", f"no person {member!r} in people/"))
    for community in intranet.communities.values():
        for field_name in ("moderators", "members"):
            for handle in getattr(community, field_name):
                if handle not in people:
                    problems.append(Problem(community.relpath, 1, field_name, f"no person {handle!r} in people/"))
    mails: dict[str, str] = {}
    for community in intranet.communities.values():
        if community.mail in mails:
            problems.append(
                Problem(
                    community.relpath, 1, "mail", f"{community.mail!r} is also the address of {mails[community.mail]}"
                )
            )
        mails.setdefault(community.mail, community.slug)
    ids: dict[tuple[str, str], str] = {}
    for post in intranet.posts:
        if post.author.handle and post.author.handle not in people:
            problems.append(Problem(post.relpath, 1, "author", f"no person {post.author.handle!r} in people/"))
        key = (post.community, post.message_id)
        if key in ids and not _is_variant(post.relpath, ids[key]):
            problems.append(Problem(post.relpath, 1, "message_id", f"{post.message_id} is also used by {ids[key]}"))
        ids.setdefault(key, post.relpath)
    return problems


_GATEWAY_NAME = re.compile(r"^([0-9a-f]{18})(?:-[0-9a-f]{4,64})?\.md$")


def _is_variant(a: str, b: str) -> bool:
    """Two gateway paths for one Message-ID with different content (``<name>-<hash>.md``)."""
    match_a = _GATEWAY_NAME.match(a.rsplit("/", 1)[-1])
    match_b = _GATEWAY_NAME.match(b.rsplit("/", 1)[-1])
    return bool(match_a and match_b and match_a.group(1) == match_b.group(1) and a != b)
