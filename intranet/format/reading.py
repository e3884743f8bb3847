"""Reading content files, with validation: every problem is collected, never raised."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import FormatError

# Reading, with validation
from .fields import COMMUNITY_FIELDS, PERSON_FIELDS, Fields, parse_yaml_mapping
from .frontmatter import (
    Problem,
    dump_yaml,
    parse_front_matter,
)
from .layout import (
    AUDIENCES,
    COMMUNITIES,
    COMMUNITY_FILE,
    DELIVERY_MODES,
    EMAIL_RE,
    HANDLE_RE,
    KINDS,
    LOCAL_PART_RE,
    PAGES_DIR,
    PEOPLE,
    POSTING_POLICIES,
    POSTS_DIR,
    SLUG_RE,
    SUBJECT_TAG_RE,
    SUBSCRIBERS_FILE,
    TAG_RE,
    normalize_address,
    picture_problem,
)
from .posts import read_post
from .records import (
    Community,
    Intranet,
    Page,
    Person,
    Post,
)


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
    f = Fields(data, relpath, lines)
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
        subject_tag=f.string("subject_tag").strip(),
    )
    if community.subject_tag and not SUBJECT_TAG_RE.match(community.subject_tag):
        f.problem("subject_tag", "must be 1-20 letters, digits, spaces, '-' or '_' (no brackets)")
        community.subject_tag = ""
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
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return {}, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    return parse_subscribers(relpath, text)


def parse_subscribers(relpath: str, text: str) -> tuple[dict[str, str], list[Problem]]:
    """The text of a ``subscribers.yml`` at ``relpath``: handle -> each, digest or none."""
    data, lines, problems = parse_yaml_mapping(text, relpath)
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
        title, topic = _page_meta(text)
        title = title or path.stem.replace("-", " ").capitalize()
        pages.append(Page(community=slug, relpath=relpath, name=path.stem, title=title, text=text, topic=topic))
    return pages, assets, problems


def _page_meta(text: str) -> tuple[str, str]:
    """(title, topic) of a page: its front matter's, or its first ``# `` heading and no topic."""
    topic = ""
    if text.startswith("---"):
        try:
            data, text, _ = parse_front_matter(text)
        except FormatError:
            return "", ""
        topic = data["topic"] if isinstance(data.get("topic"), str) else ""
        if isinstance(data.get("title"), str):
            return data["title"], topic
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip(), topic
    return "", topic


def read_person(root: Path, path: Path) -> tuple[Person | None, list[Problem]]:
    relpath = path.relative_to(root).as_posix()
    if not HANDLE_RE.match(path.stem):
        return parse_person(relpath, "")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [Problem(relpath, 1, "file", "is not valid UTF-8")]
    return parse_person(relpath, text)


def parse_person(relpath: str, text: str) -> tuple[Person | None, list[Problem]]:
    """One person from the text of ``people/<handle>.yml`` (``relpath``)."""
    handle = relpath.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not HANDLE_RE.match(handle):
        return None, [
            Problem(relpath, 1, "file", "person file names must be lower-case letters, digits, '.', '_' and '-'")
        ]
    data, lines, problems = parse_yaml_mapping(text, relpath)
    if data is None:
        return None, problems
    f = Fields(data, relpath, lines)
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


def _read_undeliverable(f: Fields) -> dict[str, str]:
    value = f.data.get("undeliverable")
    if value is None:
        return {}
    if not isinstance(value, dict):
        f.problem("undeliverable", "must map an address to the date mail to it stopped")
        return {}
    return {str(k): str(v) for k, v in value.items()}


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
    pictures: dict[str, list[Path]] = {}  # handle -> people/<handle>.<not yml>
    people_dir = root / PEOPLE
    if people_dir.is_dir():
        for path in sorted(_walk_files(people_dir, problems, root)):
            if path.parent != people_dir:
                problems.append(
                    Problem(path.relative_to(root).as_posix(), 1, "file", "people files sit directly in people/")
                )
                continue
            if path.suffix not in (".yml", ".yaml"):
                pictures.setdefault(path.stem, []).append(path)
                continue
            person, found = read_person(root, path)
            problems.extend(found)
            if person is not None:
                people[person.handle] = person
        for handle, paths in sorted(pictures.items()):
            for path in paths:
                relpath = path.relative_to(root).as_posix()
                why = picture_problem(path.suffix, _head(path), path.stat().st_size)
                if why is None and handle not in people:
                    why = f"a picture of nobody: there is no people/{handle}.yml"
                if why is None and len(paths) > 1:
                    why = f"one picture a person: {', '.join(sorted(p.name for p in paths))}"
                if why is not None:
                    problems.append(Problem(relpath, 1, "file", why))
                else:
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
                    people[handle] = dataclasses.replace(people[handle], picture=relpath, picture_digest=digest)
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


def _head(path: Path, size: int = 16) -> bytes:
    with path.open("rb") as file:
        return file.read(size)
