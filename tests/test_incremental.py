"""Incremental updates: after any run of changes, every tree equals a from-scratch build, byte for byte.

The builder follows posts being added, answered, edited, moved between
threads and deleted (what the gateway and editors do between full builds)
and re-renders only what shows them. After each run the site is compared
file by file with a full build of the same content in another folder.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
from pathlib import Path

import pytest
from helpers import add_community, add_person, add_post, copy_demo, write_config

from generator.builder import Builder, build_site
from intranet.format import attachments_dir, post_relpath, read_intranet

UTC = dt.UTC


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # Reply addresses are signed with the secret: both builds must use the same one.
    monkeypatch.setenv("INTRANET_SECRET", "incremental-test-secret-0123456789abcdef")


def tree_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def assert_same_as_full_build(root: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir()
    for name in ("communities", "people"):
        shutil.copytree(root / name, fresh / name)
    shutil.copy(root / "mkdocs.yml", fresh / "mkdocs.yml")
    build_site(fresh)
    updated, full = tree_files(root / "site"), tree_files(fresh / "site")
    assert sorted(updated) == sorted(full), set(updated) ^ set(full)
    differing = [name for name in full if updated[name] != full[name]]
    assert differing == [], differing[:10]


def changed_files(root: Path, *paths: Path) -> list[str]:
    result = []
    for path in paths:
        result.append(str(path.relative_to(root)))
        folder = attachments_dir(path)
        if folder.is_dir():
            result += [str(p.relative_to(root)) for p in folder.iterdir()]
    return result


def test_a_hundred_changes_to_the_demo_match_a_full_build(tmp_path: Path) -> None:
    root = copy_demo(tmp_path / "demo")
    write_config(root, topics_per_page=4)  # archives of communities and tags, with pages to shift
    builder = Builder(root)
    try:
        builder.build()
        intranet = read_intranet(root)
        people = sorted(h for h, p in intranet.people.items() if p.kind == "staff")
        ids = {
            slug: sorted(p.message_id for p in intranet.posts if p.community == slug) for slug in intranet.communities
        }
        rng = random.Random(5)
        added: list[tuple[str, str, Path]] = []
        kinds = []
        for n in range(100):
            slug = rng.choice(sorted(ids))
            date = dt.datetime(2026, 11, 25, tzinfo=UTC) + dt.timedelta(minutes=37 * n)
            roll = rng.random()
            if roll < 0.25:  # a new topic, sometimes tagged (new tags and pages of tags)
                tags = rng.sample(["isbar", "handover", f"zz-new-{n % 4}"], k=rng.randint(0, 2))
                path = add_post(
                    root, slug, f"<n{n}@x>", f"Topic {n}", f"New topic {n}.", rng.choice(people), date=date, tags=tags
                )
                kinds.append("topic")
            elif roll < 0.75 or not added:  # a reply, sometimes with an attachment
                attachments = {f"notes-{n}.txt": f"notes {n}".encode()} if rng.random() < 0.2 else None
                parent = rng.choice(ids[slug])
                path = add_post(
                    root,
                    slug,
                    f"<n{n}@x>",
                    "Re: x",
                    f"Reply {n}.",
                    rng.choice(people),
                    in_reply_to=parent,
                    date=date,
                    attachments=attachments,
                )
                kinds.append("reply")
            elif roll < 0.88:  # an editor corrects a post
                slug, mid, path = rng.choice(added)
                path.write_text(path.read_text().replace(".\n", ". (edited)\n"))
                builder.update(changed_files(root, path))
                kinds.append("edit")
                continue
            else:  # an editor deletes a post (and its attachments)
                slug, mid, path = added.pop(rng.randrange(len(added)))
                ids[slug].remove(mid)
                gone = changed_files(root, path)
                shutil.rmtree(attachments_dir(path), ignore_errors=True)
                path.unlink()
                builder.update(gone)
                kinds.append("delete")
                continue
            ids[slug].append(f"<n{n}@x>")
            added.append((slug, f"<n{n}@x>", path))
            assert builder.update(changed_files(root, path)) in ("updated", "rebuilt")
        assert {"topic", "reply", "edit", "delete"} <= set(kinds)
    finally:
        builder.close()
    assert_same_as_full_build(root, tmp_path)


def test_a_late_parent_pulls_its_reply_into_its_thread(tmp_path: Path) -> None:
    root = tmp_path / "late"
    root.mkdir()
    write_config(root, topics_per_page=2)
    add_person(root, "ann.lee", name="Ann Lee")
    add_community(root, "handover", audience=["staff", "partners"], tags=["nursing"])
    for n in range(5):  # enough topics for three pages of two
        add_post(root, "handover", f"<t{n}@x>", f"Topic {n}", date=dt.datetime(2026, 11, 1, n, tzinfo=UTC))
    builder = Builder(root)
    try:
        builder.build()
        # The reply arrives first: it starts a topic of its own.
        reply = add_post(
            root, "handover", "<late-reply@x>", "Re: Late", "Reply.", in_reply_to="<late@x>", tags=["nursing"]
        )
        assert builder.update(changed_files(root, reply)) == "updated"
        assert_same_as_full_build(root, tmp_path)
        parent = add_post(
            root, "handover", "<late@x>", "Late", "The parent.", date=dt.datetime(2026, 10, 1, tzinfo=UTC)
        )
        assert builder.update(changed_files(root, parent)) == "updated"
        assert_same_as_full_build(root, tmp_path)
        # An editor deletes a whole topic: the last page of topics goes.
        first = root / post_relpath("handover", "<t0@x>")
        first.unlink()
        assert builder.update([str(first.relative_to(root))]) == "updated"
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()


def test_other_changes_rebuild_every_tree(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root)
    try:
        builder.build()
        assert builder.update(["communities/handover/subscribers.yml"]) == "nothing"
        add_person(small_root, "ann.lee", name="Ann Lee-Smith", role="Charge nurse")
        assert builder.update(["people/ann.lee.yml"]) == "rebuilt"
        assert "Ann Lee-Smith" in (small_root / "site" / "partners" / "index.html").read_text()
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)


def test_a_renamed_community_or_thousands_of_posts_make_a_full_build(small_root: Path, tmp_path: Path) -> None:
    builder = Builder(small_root)
    try:
        builder.build()
        (small_root / "communities" / "procurement").rename(small_root / "communities" / "buying")
        assert builder.update(["communities/procurement", "communities/buying"]) == "rebuilt"
        assert (small_root / "site" / "staff" / "c" / "buying" / "index.html").is_file()
        assert not (small_root / "site" / "staff" / "c" / "procurement").exists()
        many = [f"communities/handover/posts/x/{n}.md" for n in range(600)]  # a checkout of another branch
        (small_root / "communities" / "handover" / "posts" / "x").mkdir()
        for n, relpath in enumerate(many):
            (small_root / relpath).write_text(
                f"---\nmessage_id: <flood-{n}@example.org>\nauthor: ann.lee\ndate: 2026-11-03T09:00:00+00:00\n"
                f"subject: Flood {n}\n---\nPost {n}.\n"
            )
        assert builder.update(many) == "rebuilt"
    finally:
        builder.close()
    assert_same_as_full_build(small_root, tmp_path)
