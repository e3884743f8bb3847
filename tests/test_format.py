"""The on-disk format: front matter round trips, paths, derivation, problems."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from helpers import REPO, add_community, add_person, add_post
from hypothesis import given, settings
from hypothesis import strategies as st

from intranet.format import (
    Attachment,
    Author,
    Post,
    attachments_dir,
    derived_message_id,
    dump_front_matter,
    dump_yaml,
    join_body,
    message_key,
    parse_front_matter,
    post_relpath,
    read_intranet,
    read_post,
    split_body,
    thread_lines,
)
from intranet.format.frontmatter import block_yaml

UTC = dt.UTC
NASTY = [
    "---",
    "key: value",
    "!!python/object/apply:os.system ['id']",
    "a\nb",
    "...",
    "- item",
    "'\"",
    "{x: 1}",
    "&a *a",
    "#",
    "",
]


def _post(subject: str, name: str = "Ann", body: str = "text") -> Post:
    return Post(
        community="c",
        relpath="communities/c/posts/x.md",
        message_id="<m@x>",
        topic="<m@x>",
        in_reply_to=None,
        author=Author(name=name, email="ann@example.org"),
        date=dt.datetime(2026, 11, 2, 9, 14, tzinfo=UTC),
        subject=subject,
        source="smtp",
        tags=[],
        attachments=[],
        body=body,
    )


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(NASTY), st.text()), st.text())
def test_any_subject_and_name_round_trip_exactly(subject: str, name: str) -> None:
    text = _post(subject, name).to_text()
    data, _, _ = parse_front_matter(text)
    assert data["subject"] == subject
    assert data["author"]["name"] == name
    assert set(data) == {"message_id", "topic", "author", "date", "subject", "source"}


# Strings the resolver reads as something else, and strings libyaml's emitter looks twice at.
YAML_WORDS = [
    *"yes no on off true False NULL null ~ Y n 1 0x1f 0o7 1_000 3.14 .inf -.inf .NaN 1e5 +1 - --- ... = <<".split(),
    *["2019-01-01", "2019-01-01T10:00:00+00:00", "2019-1-1 1:00:00", "1:20", "190:20:30", "- x", "? x", ": x"],
    *["a: b", "a #b", "a#b", "x:", "#x", "'x'", '"x"', "[x]", "{x}", "&x", "*x", "!x", "|x", ">x", "%x", "@x", "`x"],
    *["<a@b>", "<#1@x>", "<a:b@x>", "sha256:00ff", " x", "x ", "x  y", "tab\tx", "nbsp\xa0x", "bom\ufeffx"],
    *["ls\u2028x", "nel\x85x", "emoji 😀", "✓ ü", "\ud7ff\ue000\ufffd", "\x7f", "x" * 20000],
]
SCALARS = st.one_of(st.text(), st.sampled_from(YAML_WORDS), st.integers(), st.booleans())
MAPPINGS = st.dictionaries(
    st.one_of(st.sampled_from(["name", "email", "size"]), st.text(max_size=4)), SCALARS, max_size=4
)
VALUES = st.one_of(SCALARS, SCALARS, MAPPINGS, st.lists(SCALARS, max_size=3), st.lists(MAPPINGS, max_size=3))
KEYS = st.one_of(
    st.sampled_from(["message_id", "topic", "subject", "author", "tags", "attachments"]), st.text(max_size=8)
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=6))
def test_block_yaml_writes_what_pyyaml_writes(data: dict) -> None:
    """The quick writer of front matter says exactly what PyYAML (libyaml) says, or leaves it to it."""
    fast = block_yaml(data)
    if fast is not None:
        assert fast == dump_yaml(data)


def test_block_yaml_takes_the_words_yaml_quotes_and_a_posts_front_matter() -> None:
    for word in YAML_WORDS:
        for data in ({"k": word}, {"k": [word]}, {"k": {"name": word}}, {"k": [{"file": word, "size": 3}]}):
            fast = block_yaml(data)
            assert fast is None or fast == dump_yaml(data), data
    post = _post("Re: [ward] rota: nights #2")
    post.attachments = [Attachment("att-1.pdf", "rota.pdf", "application/pdf", 1234)]
    assert block_yaml(post.front_matter()) == dump_yaml(post.front_matter())


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.sampled_from(YAML_WORDS), st.text()),
    st.one_of(st.sampled_from(["<m@x>", "<t@x>", "<#1@x>", "yes"]), st.text(min_size=1)),
    st.one_of(st.none(), st.sampled_from(["<p@x>", "<a: b@x>"]), st.text()),
)
def test_a_posts_text_is_its_parts_around_its_thread(subject: str, topic: str, parent: str | None) -> None:
    post = _post(subject)
    post.topic, post.in_reply_to = topic, parent
    head, tail = post.text_parts()
    assert head + thread_lines(topic, parent) + tail == post.to_text()


def test_nasty_subjects_stay_strings_and_add_no_keys() -> None:
    for subject in NASTY:
        data, body, _ = parse_front_matter(dump_front_matter({"subject": subject}, "body\n"))
        assert data == {"subject": subject}
        assert body == "body\n"


def test_front_matter_cannot_construct_python_objects(tmp_path: Path) -> None:
    path = tmp_path / "communities" / "c" / "posts" / "evil.md"
    path.parent.mkdir(parents=True)
    path.write_text(
        "---\nsubject: !!python/object/apply:os.system ['touch pwned']\nauthor: ann\ndate: 2026-01-01\n---\nx\n"
    )
    post, problems = read_post(tmp_path, "c", path)
    assert post is None
    assert problems and problems[0].line == 2 and "YAML" in problems[0].message
    assert not (tmp_path / "pwned").exists()


def test_post_path_comes_from_message_id_only() -> None:
    a = post_relpath("handover", "<abc@example.org>")
    assert a == post_relpath("handover", " abc@example.org ")
    assert a != post_relpath("handover", "<abd@example.org>")
    assert re.fullmatch(r"communities/handover/posts/[0-9a-f]{2}/[0-9a-f]{18}\.md", a)
    assert a.split("/")[3] == message_key("<abc@example.org>")[:2]
    assert post_relpath("handover", "<abc@example.org>", variant="1f2e").endswith("-1f2e.md")
    assert attachments_dir(Path(a)).as_posix() == a[:-3]


def test_body_sections_round_trip() -> None:
    text = join_body("New text.", "> old text", "Ann\nWard 7")
    assert split_body(text) == ("New text.", "> old text", "Ann\nWard 7")
    assert split_body("Only new text.\n") == ("Only new text.", "", "")


def test_written_post_reads_back(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c")
    path = add_post(
        tmp_path,
        "c",
        "<m1@x>",
        subject="key: value",
        body="Body\n\nmore",
        quoted="> q",
        signature="sig",
        attachments={"a.pdf": b"%PDF"},
    )
    post, problems = read_post(tmp_path, "c", path)
    assert problems == []
    assert post is not None
    assert (post.subject, post.body, post.quoted, post.signature) == ("key: value", "Body\n\nmore", "> q", "sig")
    assert post.attachments[0].name == "a.pdf" and post.attachments[0].size == 4
    assert post.to_text() == path.read_text()


def test_editor_topic_needs_only_author_subject_date(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c")
    path = tmp_path / "communities" / "c" / "posts" / "editor" / "welcome.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nauthor: ann.lee\ndate: 2026-11-02 09:00\nsubject: Welcome\n---\nHello all.\n")
    intranet = read_intranet(tmp_path)
    assert intranet.problems == []
    [post] = intranet.posts
    assert post.message_id == derived_message_id("c", "editor/welcome.md")
    assert post.topic == post.message_id
    assert post.source == "editor"
    assert set(post.derived) == {"message_id", "topic", "source"}


def test_problems_name_file_line_and_field(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c", posting="sometimes", audience=["staff", "aliens"])
    path = tmp_path / "communities" / "c" / "posts" / "bad.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nauthor: nobody\nsubject: Hi\ndate: not a date\ncolour: red\n---\nx\n")
    problems = {(p.path, p.line, p.field) for p in read_intranet(tmp_path).problems}
    assert ("communities/c/posts/bad.md", 4, "date") in problems
    assert ("communities/c/posts/bad.md", 5, "colour") in problems
    assert ("communities/c/posts/bad.md", 1, "author") in problems
    community = "communities/c/community.yml"
    assert any(p[0] == community and p[2] == "posting" for p in problems)
    assert any(p[0] == community and p[2] == "audience" for p in problems)


def test_symlinks_in_content_are_refused_and_not_followed(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c")
    posts = tmp_path / "communities" / "c" / "posts"
    posts.mkdir()
    secret = tmp_path / "secret.md"
    secret.write_text("---\nauthor: ann.lee\nsubject: Secret\ndate: 2026-01-01\n---\nsecret\n")
    (posts / "link.md").symlink_to(secret)
    intranet = read_intranet(tmp_path)
    assert intranet.posts == []
    assert any("symbolic link" in p.message for p in intranet.problems)


def test_format_spec_examples_are_valid(tmp_path: Path) -> None:
    """Every example file in docs/format.md reads without a problem."""
    spec = (REPO / "docs" / "format.md").read_text()
    examples = re.findall(r"<!-- example: (\S+) -->\n```\w*\n(.*?)```", spec, re.S)
    assert len(examples) >= 4
    for relpath, text in examples:
        path = tmp_path / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    intranet = read_intranet(tmp_path)
    assert intranet.problems == []
    assert intranet.posts and intranet.communities and intranet.people


def test_attachment_folders_of_dotted_posts_are_not_posts(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c")
    post = tmp_path / "communities" / "c" / "posts" / "notes" / "v1.2.md"
    post.parent.mkdir(parents=True)
    post.write_text(
        "---\nauthor: ann.lee\nsubject: V1.2\ndate: 2026-01-01\n"
        "attachments: [{file: att-1.md, name: readme.md}]\n---\nx\n"
    )
    (tmp_path / "communities" / "c" / "posts" / "notes" / "v1.2").mkdir()
    (tmp_path / "communities" / "c" / "posts" / "notes" / "v1.2" / "att-1.md").write_text("not a post")
    intranet = read_intranet(tmp_path)
    assert intranet.problems == []
    assert [p.subject for p in intranet.posts] == ["V1.2"]


def test_duplicate_message_ids_by_hand_are_reported(tmp_path: Path) -> None:
    add_person(tmp_path, "ann.lee")
    add_community(tmp_path, "c")
    folder = tmp_path / "communities" / "c" / "posts" / "notes"
    folder.mkdir(parents=True)
    for name in ("welcome-new", "welcome-old"):
        (folder / f"{name}.md").write_text(
            "---\nmessage_id: <same@x>\nauthor: ann.lee\nsubject: S\ndate: 2026-01-01\n---\nx\n"
        )
    problems = read_intranet(tmp_path).problems
    assert [(p.field, p.message) for p in problems] == [
        ("message_id", "<same@x> is also used by communities/c/posts/notes/welcome-new.md")
    ]
    # The gateway's variant for a reused Message-ID with other content is not a problem.
    add_post(tmp_path, "c", "<reused@x>")
    first = tmp_path / post_relpath("c", "<reused@x>")
    (first.parent / (first.stem + "-9a8b7c6d.md")).write_text(first.read_text().replace("Hello.", "Other content."))
    assert len(read_intranet(tmp_path).problems) == 1
