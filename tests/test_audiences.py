"""Per-audience site trees: each tree holds every byte its readers may see and nothing else.

The leak test plants a marker string in every place a community's content can
surface (its name and purpose, tags, a topic's title, body, tags and
attachment, a reply on a member's profile, an editor's page and its image)
in a copy of the demo, builds it, and searches every file of every tree -
HTML, JSON, XML, JS, the gzipped sitemap, attachments - for the markers of
the communities that tree may not show. The same search must find the
markers of the communities it does show, so the test cannot pass by finding
nothing.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import add_community, add_person, add_post, copy_demo, write_config

from generator.audiences import plan_trees
from generator.builder import BuildError, build_site
from intranet.format import read_intranet

UTC = dt.UTC


def marker(slug: str) -> str:
    """A word found nowhere else: lower-case, so it also works as a tag and a file name."""
    return "zq" + re.sub(r"[^a-z]", "", slug)[:12] + "mark"


def plant(root: Path, slug: str, author: str, replier: str) -> None:
    """Put ``slug``'s marker everywhere the community's content can reach a page."""
    mark = marker(slug)
    path = root / "communities" / slug / "community.yml"
    data = yaml.safe_load(path.read_text())
    data["name"] = f"{data['name']} {mark}name"
    data["purpose"] = f"{data['purpose']} {mark}purpose"
    data["tags"] = [*data.get("tags", []), f"{mark}-tag"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    topic = f"<{mark}-topic@example.org>"
    add_post(
        root,
        slug,
        topic,
        subject=f"Topic {mark}title",
        body=f"Body text {mark}body.",
        author=author,
        date=dt.datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        tags=[f"{mark}-topictag"],
        attachments={f"{mark}-file.txt": f"attachment {mark}content".encode()},
    )
    add_post(
        root,
        slug,
        f"<{mark}-reply@example.org>",
        subject=f"Re: Topic {mark}title",
        body=f"Reply {mark}reply.",
        author=replier,
        in_reply_to=topic,
        date=dt.datetime(2026, 11, 21, 9, 0, tzinfo=UTC),
    )
    pages = root / "communities" / slug / "pages"
    pages.mkdir(exist_ok=True)
    (pages / f"{mark}-guide.md").write_text(f"# Guide {mark}guide\n\nSee ![chart]({mark}-chart.png).\n")
    (pages / f"{mark}-chart.png").write_bytes(b"\x89PNG fake " + mark.encode() + b"asset")


def files_of(tree: Path) -> dict[Path, bytes]:
    result = {}
    for path in tree.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            result[path] = gzip.decompress(data) if path.suffix == ".gz" else data
    return result


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_demo(tmp_path_factory.mktemp("planted"))
    intranet = read_intranet(root)
    # Amira reads every staff community and the members-only one: her profile
    # would gather replies from all of them.
    for slug, community in intranet.communities.items():
        author = community.moderators[0] if community.moderators else "amira.haddad"
        plant(root, slug, author, "amira.haddad" if slug != "procurement" else "nikolai.petrov")
    build_site(root)
    return root


def test_every_tree_holds_exactly_its_communities(planted: Path) -> None:
    intranet = read_intranet(planted)
    assert not intranet.problems, intranet.problems
    trees = json.loads((planted / "site" / "trees.json").read_text())["trees"]
    assert set(trees) == {
        "staff",
        "partners",
        "suppliers",
        "staff+medication-safety-leads",
        "partners+medication-safety-leads",
    }
    assert set(trees["suppliers"]["communities"]) == {"procurement"}
    assert "medication-safety-leads" not in trees["staff"]["communities"]
    checked = 0
    for name, tree in trees.items():
        files = files_of(planted / "site" / name)
        assert any(p.name == "search_index.json" for p in files) and any(p.name == "404.html" for p in files)
        assert any(p.name == "sitemap.xml.gz" for p in files) and any(p.name == "feed.xml" for p in files)
        for slug in intranet.communities:
            mark = marker(slug).encode()
            holders = [path for path, data in files.items() if mark in data]
            if slug in tree["communities"]:
                # Shown: in pages, search index, feeds, sitemap-listed pages, the attachment, the asset.
                kinds = {p.suffix for p in holders}
                assert {".html", ".json", ".xml", ".txt", ".png"} <= kinds, (name, slug, kinds)
                assert any(p.name.startswith(marker(slug)) for p in holders), (name, slug)
                sitemap = files[planted / "site" / name / "sitemap.xml"].decode()
                assert f"/c/{slug}/" in sitemap
            else:
                assert holders == [], f"{name} leaks {slug}: {[str(p) for p in holders[:5]]}"
                assert not any(marker(slug) in str(p) for p in files), (name, slug)
                assert f"/c/{slug}/".encode() not in files[planted / "site" / name / "sitemap.xml"]
            checked += 1
    assert checked == len(trees) * len(intranet.communities)


def test_counts_and_profiles_reveal_nothing_outside_the_tree(planted: Path) -> None:
    intranet = read_intranet(planted)
    readable = json.loads((planted / "site" / "trees.json").read_text())["trees"]["staff"]["communities"]
    own = [p for p in intranet.posts if p.author.handle == "amira.haddad"]
    shown = [p for p in own if p.community in readable]
    assert len(shown) < len(own), "the fixture should give Amira posts the staff tree may not show"
    profile = (planted / "site" / "staff" / "people" / "amira.haddad" / "index.html").read_text()
    assert f"{len(shown)} posts in all" in profile
    member = (planted / "site" / "staff+medication-safety-leads" / "people" / "amira.haddad" / "index.html").read_text()
    assert f"{len(own)} posts in all" in member
    home = (planted / "site" / "staff" / "index.html").read_text()
    cards = re.findall(r'<p class="intranet-meta">(\d+) topics? · (\d+) posts?', home)
    assert len(cards) == len(readable)
    assert sum(int(posts) for _, posts in cards) == len([p for p in intranet.posts if p.community in readable])


def test_access_map_sends_each_address_to_its_tree(planted: Path) -> None:
    site = planted / "site"
    people = json.loads((site / "trees.json").read_text())["people"]
    lines = (site / "trees.map").read_text().splitlines()
    entries = dict(re.findall(r'^"([^"]+)" "([^"]+)";$', "\n".join(lines), re.M))
    assert entries == people
    assert entries["amira.haddad@northfield-health.example"] == "staff+medication-safety-leads"
    assert entries["samir.nasser@eastside-gp.example"] == "partners+medication-safety-leads"
    assert entries["bridget@harbour-allied.example"] == "partners"
    assert entries["ben.archer@medisupply.example"] == "suppliers"
    assert entries["daniel.mercer@northfield-health.example"] == "staff"
    for tree in set(entries.values()):
        assert (site / tree / "index.html").is_file()


def test_access_map_never_holds_a_pattern(small_root: Path) -> None:
    # nginx reads a map key starting with "~" as a regular expression: "~." would match everyone.
    add_person(small_root, "odd.one", emails=["~.@x.example", "odd.one@x.example"])
    # An address the format refuses leaves the file invalid: it is quarantined, and as it never was valid, left out.
    add_person(small_root, "odd.two", emails=['q"x@x.example', "odd.two@x.example"])
    add_community(small_root, "board", audience=["members"], members=["odd.one", "odd.two"])
    build_site(small_root)
    text = (small_root / "site" / "trees.map").read_text()
    assert '"odd.one@x.example" "staff+board";' in text
    assert "~" not in text and 'q"x' not in text and "odd.two" not in text


# -- the guest directory -------------------------------------------------------


def guests(root: Path, directory: str) -> Path:
    write_config(root, guest_directory=directory)
    add_person(root, "ann.lee", name="Ann Lee", role="Charge nurse", expertise=["handover"], about="Ann about.")
    add_person(root, "cy.ward", name="Cy Ward", role="Buyer")  # staff, takes part in procurement only
    add_person(root, "bo.chen", name="Bo Chen", kind="partner", organisation="Coop Nursing")
    add_community(root, "handover", name="Handover", moderators=["ann.lee"], audience=["staff", "partners"])
    add_community(root, "procurement", name="Procurement", moderators=["cy.ward"], audience=["staff", "suppliers"])
    add_post(root, "handover", "<h1@x>", subject="Handover topic", author="ann.lee")
    add_post(root, "handover", "<h2@x>", subject="Re: Handover topic", author="bo.chen", in_reply_to="<h1@x>")
    add_post(root, "procurement", "<p1@x>", subject="Gloves", author="cy.ward")
    add_post(root, "procurement", "<p2@x>", subject="Re: Gloves", author="ann.lee", in_reply_to="<p1@x>")
    build_site(root)
    return root / "site" / "partners"


def test_partners_see_their_contacts_by_default(tmp_path: Path) -> None:
    tree = guests(tmp_path, "contacts")
    listed = {p.name for p in (tree / "people").iterdir() if p.is_dir()}
    assert listed == {"ann.lee", "bo.chen"}  # Cy takes part only where partners cannot read
    ann = (tree / "people" / "ann.lee" / "index.html").read_text()
    assert "1 post in all" in ann and "Gloves" not in ann and "Procurement" not in ann
    assert (tmp_path / "site" / "staff" / "people" / "cy.ward" / "index.html").is_file()


def test_partners_see_names_and_roles_only(tmp_path: Path) -> None:
    tree = guests(tmp_path, "names")
    listed = {p.name for p in (tree / "people").iterdir() if p.is_dir()}
    assert listed == {"ann.lee", "bo.chen", "cy.ward"}
    ann = (tree / "people" / "ann.lee" / "index.html").read_text()
    assert "Charge nurse" in ann and "Ann about." not in ann and "handover</dd>" not in ann
    assert "Recent topics" not in ann and "Handover topic" not in ann
    staff = (tmp_path / "site" / "staff" / "people" / "ann.lee" / "index.html").read_text()
    assert "Ann about." in staff and "Recent topics" in staff


def test_no_directory_for_guests(tmp_path: Path) -> None:
    tree = guests(tmp_path, "none")
    assert not (tree / "people").exists()
    topic = next((tree / "c" / "handover" / "t").glob("*/index.html")).read_text()
    assert "Ann Lee" in topic and "/people/" not in topic
    assert "people/" not in (tree / "index.html").read_text()
    assert (tmp_path / "site" / "staff" / "people" / "index.html").is_file()


def test_unknown_directory_setting_is_an_error(tmp_path: Path) -> None:
    write_config(tmp_path, guest_directory="all")
    add_community(tmp_path, "handover")
    with pytest.raises(BuildError, match="guest_directory"):
        build_site(tmp_path)


# -- building one tree, and symlinks -------------------------------------------


def test_build_one_audience_leaves_the_other_trees(small_site: Path) -> None:
    staff_index = small_site / "site" / "staff" / "index.html"
    before = staff_index.stat().st_mtime_ns
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "build", "--root", str(small_site), "--audience", "partners"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "1 tree (partners)" in run.stdout
    assert staff_index.stat().st_mtime_ns == before
    assert (small_site / "site" / "partners" / "index.html").is_file()
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "build", "--root", str(small_site), "--audience", "board"],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1
    assert "no audience 'board'" in run.stderr and "staff, partners, suppliers" in run.stderr


def test_members_only_tree_exists_only_for_its_members(small_root: Path) -> None:
    add_community(small_root, "board", audience=["members"], members=["ann.lee"])
    trees = {t.name: t for t in plan_trees(read_intranet(small_root))}
    assert set(trees) == {"staff", "partners", "suppliers", "staff+board"}
    assert trees["staff+board"].communities == {"handover", "procurement", "board"}
    add_community(small_root, "board", audience=["members"], members=["ann.lee", "bo.chen"])
    assert "partners+board" in {t.name for t in plan_trees(read_intranet(small_root))}


def test_symlinks_in_content_are_refused_and_never_walked(small_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "notes.md").write_text("# zqoutsidemark\n")
    (outside / "community.yml").write_text("name: zqoutsidemark\npurpose: x\n")
    (small_root / "communities" / "linked").symlink_to(outside)
    (small_root / "communities" / "handover" / "loop").symlink_to(small_root / "communities")
    (small_root / "communities" / "handover" / "pages" / "stolen.md").symlink_to(outside / "notes.md")
    result = build_site(small_root)
    assert result.problems and all("symbolic link" in p for p in result.problems if "linked" in p)
    for path in (small_root / "site").rglob("*"):
        if path.is_file():
            assert b"zqoutsidemark" not in path.read_bytes(), path
        assert not path.is_symlink(), path
    check = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "check", "--root", str(small_root)], capture_output=True, text=True
    )
    assert check.returncode == 1
    assert "communities/linked" in check.stdout and "pages/stolen.md" in check.stdout
