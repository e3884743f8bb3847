"""The on-disk format of an intranet: communities, posts, pages and people.

This package is the only code that knows how content is laid out in the
repository. The mail gateway writes through it and the generator reads
through it; ``docs/format.md`` is the human-readable specification and the
two are kept in step (``tests/test_format.py`` checks the examples there).

Its modules: :mod:`.layout` (paths, names, body sections), :mod:`.frontmatter`
(YAML), :mod:`.records` (the dataclasses) and :mod:`.reading` (validation).

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

from .frontmatter import (  # noqa: F401
    FormatError,
    Problem,
    dump_front_matter,
    dump_yaml,
    key_lines,
    load_yaml,
    parse_front_matter,
    split_front_matter,
)
from .layout import (  # noqa: F401
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
    POSTING_POLICIES,
    POSTS_DIR,
    QUOTED_MARK,
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
    post_relpath,
    split_body,
)
from .reading import (  # noqa: F401
    COMMUNITY_FIELDS,
    PERSON_FIELDS,
    POST_FIELDS,
    SYMLINK_PROBLEM,
    cross_check,
    iter_post_paths,
    parse_community,
    parse_yaml_mapping,
    read_community,
    read_intranet,
    read_pages,
    read_person,
    read_post,
    read_subscribers,
    read_yaml_file,
    subscribers_text,
)
from .records import (  # noqa: F401
    Attachment,
    Author,
    Community,
    Intranet,
    Page,
    Person,
    Post,
    may_read,
)
