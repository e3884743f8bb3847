"""The on-disk format of an intranet: communities, posts, pages and people.

This package is the only code that knows how content is laid out in the
repository. The mail gateway writes through it and the generator reads
through it; ``docs/format.md`` is the human-readable specification and the
two are kept in step (``tests/test_format.py`` checks the examples there).

Its modules: :mod:`.layout` (paths, names, body sections), :mod:`.frontmatter`
(YAML), :mod:`.records` (the dataclasses), :mod:`.fields` (typed fields),
:mod:`.posts` (one post file), :mod:`.events` (a topic's event), :mod:`.reading` (everything else, and the
checks across files) and :mod:`.spill` (a post's text kept in a file of the
process instead of in memory, read back when asked for).

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

from .events import RSVP, Event, parse_when
from .fields import (
    COMMUNITY_FIELDS,
    PERSON_FIELDS,
    POST_FIELDS,
    Fields,
    parse_yaml_mapping,
    read_yaml_file,
)
from .frontmatter import (
    FormatError,
    Problem,
    dump_front_matter,
    dump_yaml,
    key_lines,
    load_yaml,
    parse_front_matter,
    split_front_matter,
)
from .layout import (
    ATTACHMENT_NAME_RE,
    AUDIENCES,
    COMMUNITIES,
    COMMUNITY_FILE,
    DELIVERY_MODES,
    EMAIL_RE,
    HANDLE_RE,
    KIND_AUDIENCE,
    KINDS,
    LOCAL_PART_RE,
    PAGES_DIR,
    PEOPLE,
    PICTURE_MAGIC,
    PICTURE_MAX_BYTES,
    POSTING_POLICIES,
    POSTS_DIR,
    QUOTED_MARK,
    REACTIONS,
    SIGNATURE_MARK,
    SLUG_RE,
    SOURCES,
    SUBSCRIBERS_FILE,
    TAG_RE,
    attachments_dir,
    derived_message_id,
    format_date,
    join_body,
    message_key,
    normalize_address,
    normalize_message_id,
    parse_date,
    path_key,
    picture_problem,
    post_relpath,
    split_body,
)
from .posts import (
    MANAGED,
    MARKS,
    POLL_MAX,
    POLL_MIN,
    POLL_OPTION_CHARS,
    parse_post,
    read_post,
    with_entries,
    with_mark,
    with_reaction,
    with_vote,
)
from .reading import (
    SYMLINK_PROBLEM,
    cross_check,
    iter_post_paths,
    parse_community,
    parse_person,
    parse_subscribers,
    read_community,
    read_intranet,
    read_pages,
    read_person,
    read_subscribers,
    subscribers_text,
)
from .records import (
    Attachment,
    Author,
    Community,
    Intranet,
    Page,
    Person,
    Post,
    may_read,
    thread_lines,
)
from .sharing import share
from .spill import is_spilled, spill

__all__ = [
    "is_spilled",
    "share",
    "spill",
    "ATTACHMENT_NAME_RE",
    "AUDIENCES",
    "Attachment",
    "Author",
    "COMMUNITIES",
    "COMMUNITY_FIELDS",
    "COMMUNITY_FILE",
    "Community",
    "DELIVERY_MODES",
    "EMAIL_RE",
    "Fields",
    "FormatError",
    "HANDLE_RE",
    "Intranet",
    "KINDS",
    "KIND_AUDIENCE",
    "LOCAL_PART_RE",
    "PAGES_DIR",
    "PEOPLE",
    "PICTURE_MAGIC",
    "PICTURE_MAX_BYTES",
    "PERSON_FIELDS",
    "POSTING_POLICIES",
    "POSTS_DIR",
    "POST_FIELDS",
    "Page",
    "Person",
    "Post",
    "Problem",
    "QUOTED_MARK",
    "SIGNATURE_MARK",
    "SLUG_RE",
    "SOURCES",
    "SUBSCRIBERS_FILE",
    "SYMLINK_PROBLEM",
    "REACTIONS",
    "TAG_RE",
    "attachments_dir",
    "cross_check",
    "derived_message_id",
    "dump_front_matter",
    "dump_yaml",
    "format_date",
    "iter_post_paths",
    "join_body",
    "key_lines",
    "load_yaml",
    "may_read",
    "message_key",
    "normalize_address",
    "normalize_message_id",
    "parse_community",
    "parse_date",
    "parse_person",
    "parse_post",
    "parse_subscribers",
    "parse_front_matter",
    "parse_yaml_mapping",
    "path_key",
    "picture_problem",
    "post_relpath",
    "read_community",
    "read_intranet",
    "read_pages",
    "read_person",
    "read_post",
    "with_entries",
    "with_mark",
    "MANAGED",
    "MARKS",
    "with_reaction",
    "POLL_MAX",
    "POLL_MIN",
    "POLL_OPTION_CHARS",
    "with_vote",
    "read_subscribers",
    "read_yaml_file",
    "split_body",
    "split_front_matter",
    "subscribers_text",
    "thread_lines",
    "Event",
    "RSVP",
    "parse_when",
]
