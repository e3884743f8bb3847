"""Real MkDocs builds of small intranets: facts about the pages a reader gets."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers import UTC, add_community, add_person, add_post, write_config

from generator.builder import BuildError, build_site
from generator.search_format import pages_with
from intranet.addresses import check_token, load_secret, short_ref
from intranet.format import path_key, post_relpath, with_entries

ATOM = "{http://www.w3.org/2005/Atom}"


def topic_page(site: Path, community: str, message_id: str) -> Path:
    key = path_key(post_relpath(community, message_id))[:12]
    return site / "c" / community / "t" / key / "index.html"


def text_of(path: Path) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", path.read_text()))


def test_build_summary_and_pages(small_root: Path) -> None:
    result = build_site(small_root)
    site = small_root / "site" / "staff"
    assert result.counts == {"communities": 2, "topics": 2, "posts": 3, "people": 3}
    for page in (
        "index.html",
        "c/index.html",
        "c/handover/index.html",
        "people/index.html",
        "people/ann.lee/index.html",
        "tags/index.html",
        "tags/isbar/index.html",
        "c/handover/pages/best-practice/index.html",
        "404.html",
    ):
        assert (site / page).is_file(), page
    assert not (site / "communities").exists(), "raw content must not be published"


def test_topic_page_thread_reply_link_attachments_and_folding(small_site: Path) -> None:
    html = topic_page(small_site / "site" / "staff", "handover", "<t1@example.org>").read_text()
    assert "<title>Night shift handover - " in html
    first, second = html.index("How do you run it?"), html.index("<strong>ISBAR</strong> cards")
    assert first < second
    assert 'href="../../../../people/bo.chen/"' in html
    reply = re.search(r'class="md-button md-button--primary intranet-reply" href="([^"]+)"', html)
    assert reply is not None
    link = re.fullmatch(
        r"mailto:handover\+(\w+)@intranet\.localhost\?subject=Re: Night shift handover",
        unquote(unescape(reply.group(1))),
    )
    assert link is not None
    token = check_token(load_secret(small_site / ".intranet"), "handover", link.group(1))
    assert token is not None and token.topic == short_ref("<t1@example.org>") and token.issued_to("anyone@example.org")
    attachment = re.search(
        r'<a href="([^"]+)" download="ISBAR card.pdf">ISBAR card.pdf</a> <span class="intranet-size">\((\d+) B\)', html
    )
    assert attachment is not None and attachment.group(2) == "13"
    target = (
        topic_page(small_site / "site" / "staff", "handover", "<t1@example.org>").parent / attachment.group(1)
    ).resolve()
    assert target.read_bytes() == b"%PDF-1.4 tiny"
    quoted = re.search(
        r'<details class="quote intranet-quoted"><summary>Quoted text</summary>(.*?)</details>', html, re.S
    )
    assert quoted is not None and "How do you run it?" in quoted.group(1)
    assert re.search(
        r'<details class="note intranet-signature"><summary>Signature</summary>\s*<p>Bo Chen<br>\s*Coop Nursing</p>',
        html,
    )


def test_questions_without_an_accepted_answer_are_listed_where_readers_can_help(tmp_path: Path) -> None:
    write_config(tmp_path)
    add_person(tmp_path, "ann.lee", name="Ann Lee")
    add_person(tmp_path, "bo.chen", name="Bo Chen")
    add_community(tmp_path, "ward", name="Ward", moderators=["ann.lee"])
    add_community(tmp_path, "news", name="News", moderators=["ann.lee"], posting="moderators")
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)

    def topic(slug: str, name: str, subject: str, replies: int, hours: int, **marks: object) -> None:
        path = add_post(tmp_path, slug, f"<{name}@x>", subject=subject, date=start + dt.timedelta(hours=hours))
        for n in range(replies):
            add_post(
                tmp_path,
                slug,
                f"<{name}-r{n}@x>",
                subject=f"Re: {subject}",
                author="bo.chen",
                in_reply_to=f"<{name}@x>",
                topic=f"<{name}@x>",
                date=start + dt.timedelta(hours=hours + n + 1),
            )
        if marks:
            path.write_text(with_entries(path.read_text(), **marks))

    topic("ward", "asked", "Which gloves fit best?", 2, 0)  # listed
    topic("ward", "tagged", "Glove sizes", 1, 10)  # listed: tagged a question (below)
    topic("ward", "unanswered", "Anyone on nights?", 0, 20)  # waiting for a reply instead
    topic("ward", "solved", "Where is the rota?", 1, 30, accepted="<solved-r0@x>")
    topic("ward", "closed", "Is the lift fixed?", 1, 40, closed=True)
    topic("ward", "statement", "New rota is out", 1, 50)  # not a question
    topic("news", "announced", "Questions for the board?", 1, 60)  # announcements: not listed
    tagged = tmp_path / post_relpath("ward", "<tagged-r0@x>")
    tagged.write_text(tagged.read_text().replace("subject:", "tags:\n- question\nsubject:", 1))
    build_site(tmp_path)
    for page, limit in (("c/ward/index.html", "topics"), ("index.html", "by-email")):
        html = (tmp_path / "site" / "staff" / page).read_text()
        listed = html[html.index('id="unsolved"') : html.index(f'id="{limit}"')]
        assert re.findall(r'<li><a href="[^"]*">([^<]+)</a>', listed) == [
            "Glove sizes",
            "Which gloves fit best?",
        ], listed  # most recently active first
        for absent in ("Anyone on nights?", "Where is the rota?", "Is the lift fixed?", "New rota", "board"):
            assert absent not in listed
        assert "2 replies" in listed and "1 reply" in listed
        waiting = html[html.index('id="waiting"') : html.index('id="unsolved"')]
        assert "Anyone on nights?" in waiting


def test_a_long_thread_reads_easily_and_a_profile_lists_topics(tmp_path: Path) -> None:
    write_config(tmp_path)
    add_person(tmp_path, "ann.lee", name="Ann Lee")
    add_person(tmp_path, "bo.chen", name="Bo Chen")
    add_community(tmp_path, "ward", name="Ward", moderators=["ann.lee"])
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    add_post(tmp_path, "ward", "<root@x>", subject="Night shift handover", date=start)
    subjects = [
        "Re: Night shift handover",
        "RE: Re: night shift handover",
        "AW: Night shift handover [ward]",
        "Sv: Night shift handvoer",  # (a typo)
        "Gloves for nights",  # a subject of its own
        "",
    ]
    for n, subject in enumerate(subjects, start=1):
        add_post(
            tmp_path,
            "ward",
            f"<r{n}@x>",
            subject=subject,
            author="bo.chen" if n % 2 else "ann.lee",
            in_reply_to="<root@x>",
            topic="<root@x>",
            date=start + dt.timedelta(hours=n),
        )
    add_post(tmp_path, "ward", "<other@x>", subject="Rota", date=start + dt.timedelta(days=2))
    build_site(tmp_path)
    staff = tmp_path / "site" / "staff"
    key = path_key(post_relpath("ward", "<root@x>"))[:12]
    page = (staff / "c" / "ward" / "t" / key / "index.html").read_text()
    assert re.findall(r'class="intranet-post__subject"><strong>([^<]*)<', page) == ["Gloves for nights"]
    last = path_key(post_relpath("ward", "<r6@x>"))[:12]
    assert re.search(
        rf'<p class="intranet-latest-link"><a href="#p-{last}">Jump to the latest reply</a>, by Ann Lee', page
    )
    assert f'id="p-{last}"' in page
    assert page.count('<span class="intranet-avatar" aria-hidden="true">AL</span>') == 4  # root and 3 replies
    assert page.count('<span class="intranet-avatar" aria-hidden="true">BC</span>') == 3
    profile = (staff / "people" / "ann.lee" / "index.html").read_text()
    recent = profile[profile.index('id="recent"') :]
    assert re.findall(r"<li><a [^>]*>([^<]+)</a>", recent) == ["Rota", "Night shift handover"]  # a topic once
    assert "started <time" in recent and "last posted <time" in recent


def test_community_page_lists_latest_activity_and_an_archive_by_start(tmp_path: Path) -> None:
    write_config(tmp_path, topics_per_page=50)
    add_person(tmp_path, "ann.lee", name="Ann Lee")
    add_person(tmp_path, "bo.chen", name="Bo Chen")
    add_community(tmp_path, "big", name="Big", moderators=["ann.lee"])
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(120):
        add_post(tmp_path, "big", f"<t{n}@x>", subject=f"Topic number {n:03d}", date=start + dt.timedelta(hours=n))
    # An old topic with a fresh reply moves to the top.
    add_post(
        tmp_path,
        "big",
        "<late@x>",
        author="bo.chen",
        in_reply_to="<t5@x>",
        topic="<t5@x>",
        subject="",
        date=start + dt.timedelta(days=30),
    )
    build_site(tmp_path)
    site = tmp_path / "site" / "staff" / "c" / "big"
    index = (site / "index.html").read_text()
    waiting = index[index.index('id="waiting"') : index.index('id="topics"')]
    assert re.findall(r"Topic number (\d{3})", waiting) == ["119", "118", "117", "116", "115"]  # none answered
    table = index[index.index('id="topics"') :]
    titles = re.findall(r"Topic number (\d{3})", table)
    assert titles[0] == "005" and titles[1] == "119" and len(titles) == 50  # latest activity first
    row = table[table.index("Topic number 005") : table.index("Topic number 119")]
    assert re.search(r"<td[^>]*>1</td>", row) and "Bo Chen" in row
    assert 'href="mailto:big@intranet.localhost"' in index and "md-button" in index
    assert 'href="../../people/ann.lee/"' in index
    assert 'href="page-3/"' in index and 'href="page-1/"' in index  # the archive: newest and oldest pages
    # The archive lists every topic by the date it started; page 1 holds the oldest, so pages stay put.
    pages = [(site / f"page-{n}" / "index.html").read_text() for n in (1, 2, 3)]
    assert not (site / "page-4").exists()
    numbers = [re.findall(r"Topic number (\d{3})", page) for page in pages]
    assert numbers[0] == [f"{n:03d}" for n in range(49, -1, -1)]  # newest first on each page
    assert numbers[1] == [f"{n:03d}" for n in range(99, 49, -1)]
    assert numbers[2] == [f"{n:03d}" for n in range(119, 99, -1)]
    assert 'href="../page-3/"' in pages[1] and 'href="../page-1/"' in pages[1]
    # An archive page does not say how many there are: a new page changes only the one before it.
    assert "<span>Page 2</span>" in pages[1] and "of 3" not in pages[1]
    assert 'href="../page-3/"' not in pages[0] and 'href="../page-3/"' not in pages[2]


def test_people_directory_groups_by_kind_and_organisation(small_site: Path) -> None:
    html = (small_site / "site" / "staff" / "people" / "index.html").read_text()
    assert (
        html.index('id="staff"')
        < html.index("Example Health")
        < html.index('id="partner"')
        < html.index("Coop Nursing")
    )
    assert html.index('id="supplier"') < html.index("MediSupply support")
    profile = text_of(small_site / "site" / "staff" / "people" / "bo.chen" / "index.html")
    assert "Clinical Handover" in profile and "Night shift handover" in profile
    assert "MediSupply support" in profile  # answers for the team account
    team = text_of(small_site / "site" / "staff" / "people" / "sup.desk" / "index.html")
    assert "team account" in team and "Bo Chen" in team


def test_tags_pages_cross_communities(small_site: Path) -> None:
    tag = text_of(small_site / "site" / "staff" / "tags" / "isbar" / "index.html")
    assert "Night shift handover" in tag and "Clinical Handover" in tag
    community_tag = text_of(small_site / "site" / "staff" / "tags" / "nursing" / "index.html")
    assert "Clinical Handover" in community_tag


def test_feeds_are_valid_atom(small_site: Path) -> None:
    whole = ET.parse(small_site / "site" / "staff" / "feed.xml").getroot()
    entries = whole.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [  # newest first; posts of one moment by path
        "Re: Night shift handover",
        "Glove supply",
        "Night shift handover",
    ]
    assert entries[0].find(f"{ATOM}link").get("href").startswith("http://127.0.0.1:8000/c/handover/t/")
    community = ET.parse(small_site / "site" / "staff" / "c" / "procurement" / "feed.xml").getroot()
    assert [e.findtext(f"{ATOM}title") for e in community.findall(f"{ATOM}entry")] == ["Glove supply"]


def test_search_index_has_posts(small_site: Path) -> None:
    tree = small_site / "site" / "staff"
    files = {str(p.relative_to(tree)): p.read_bytes() for p in (tree / "search").rglob("*") if p.is_file()}
    handover = next(p for p in pages_with(files, "isbar") if p.startswith("c/handover/t/"))
    assert (tree / handover / "index.html").is_file()
    assert any(p.startswith("c/procurement/t/") for p in pages_with(files, "delays"))
    assert pages_with(files, "nosuchwordanywhere") == set()
    partners = small_site / "site" / "partners"
    files = {str(p.relative_to(partners)): p.read_bytes() for p in (partners / "search").rglob("*") if p.is_file()}
    assert pages_with(files, "delays") == set()  # procurement is not the partners'


def test_home_shows_latest_and_community_cards(small_site: Path) -> None:
    home = (small_site / "site" / "staff" / "index.html").read_text()
    cards = home[home.index('class="grid cards"') : home.index('id="latest"')]
    assert "Clinical Handover" in cards and "Purpose of handover." in cards and "1 topic · 2 posts" in cards
    latest = home[home.index('id="latest"') : home.index('id="by-email"')]
    assert latest.index("reply by") < latest.index("new topic by")
    assert "mailto:procurement@intranet.localhost" in home


def test_failed_build_keeps_last_good_site(small_site: Path) -> None:
    before = (small_site / "site" / "staff" / "index.html").read_text()
    (small_site / "mkdocs.yml").write_text("site_name: x\ntheme:\n  name: no-such-theme\n")
    with pytest.raises(BuildError):
        build_site(small_site)
    assert (small_site / "site" / "staff" / "index.html").read_text() == before
    assert not list(small_site.glob(".site.*")), "staging folder left behind"


def test_rebuild_replaces_site_atomically_and_shows_edits(small_site: Path) -> None:
    path = small_site / post_relpath("procurement", "<p1@example.org>")
    path.write_text(path.read_text().replace("Delays expected.", "Delivery back to normal."))
    build_site(small_site)
    page = text_of(topic_page(small_site / "site" / "staff", "procurement", "<p1@example.org>"))
    assert "Delivery back to normal." in page and "Delays expected." not in page


def test_cli_build_and_check(small_root: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "build", "--root", str(small_root)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert re.search(
        r"Built 2 communities, 2 topics, 3 posts, 3 people: \d+ pages in 3 trees \(staff, partners, suppliers\) in [\d.]+ s",
        run.stdout,
    )
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "check", "--root", str(small_root)], capture_output=True, text=True
    )
    assert run.returncode == 0 and run.stdout.startswith("OK: 2 communities, 2 topics, 3 posts, 3 people")
    (small_root / "communities" / "handover" / "community.yml").write_text("name: X\npurpose: y\nposting: never\n")
    bad = small_root / post_relpath("handover", "<t1@example.org>")
    bad.write_text(bad.read_text().replace("date: '2026", "date: 'soon 2026"))
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "check", "--root", str(small_root)], capture_output=True, text=True
    )
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    assert (
        "communities/handover/community.yml:3: posting: 'never' is not one of: anyone, known, members, moderators"
        in lines
    )
    assert any(
        re.fullmatch(r"communities/handover/posts/\w\w/\w+\.md:\d+: date: must be a date .*", line) for line in lines
    )
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "build", "--root", str(small_root / "nope")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "no communities/ folder" in run.stderr


def test_the_second_build_process_hands_over_in_parts_and_the_site_is_the_same(
    small_root: Path, tmp_path: Path
) -> None:
    """In a process of one thread a full build renders on both cores (the forked share writes what it
    rendered a part at a time): however many parts, the same files."""
    for n in range(60):  # more units than the fork needs
        add_post(small_root, "handover", f"<many{n}@x>", f"Topic {n}", date=dt.datetime(2026, 10, 1, tzinfo=UTC))
    script = (
        "import sys, threading\n"
        "from pathlib import Path\n"
        "from generator import fullrender\n"
        "from generator.builder import build_site\n"
        "fullrender.HAND_OVER = int(sys.argv[2])\n"
        "render = fullrender.render_units\n"
        "def counted(*args):\n"
        "    if len(args) > 4:  # the forked share: say each part it hands over\n"
        "        hand_over = args[4]\n"
        "        args = (*args[:4], lambda part: print('part', flush=True) or hand_over(part))\n"
        "    return render(*args)\n"
        "fullrender.render_units = counted\n"
        "assert threading.active_count() == 1\n"
        "build_site(Path(sys.argv[1]))\n"
    )
    trees, parts = [], []
    for hand_over in (7, 100_000):
        run = subprocess.run(
            [sys.executable, "-c", script, str(small_root), str(hand_over)],
            check=True,
            cwd=Path(__file__).resolve().parents[1],
            capture_output=True,
            text=True,
        )
        parts.append(run.stdout.count("part"))
        trees.append(
            {p.relative_to(small_root): p.read_bytes() for p in (small_root / "site").rglob("*") if p.is_file()}
        )
    assert parts[0] >= 3 and parts[1] == 0  # parts handed over before the share was done
    assert len(trees[0]) > 100 and trees[0] == trees[1]
