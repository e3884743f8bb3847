"""Health at a glance (issue #19): the figures against a small intranet counted by hand, the chart,
what each audience's tree counts, and the pages kept current by updates (byte for byte a full build)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import add_community, add_post, small_intranet
from test_incremental import assert_same_as_full_build, changed_files

from generator.builder import Builder, build_site
from generator.charts import HEIGHT, week_chart
from generator.deferred import Deferred
from intranet.format import read_intranet
from intranet.health import Authors, Health, community_health, duration_text, site_as_of, tally
from intranet.threads import build_topics

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 20, 0, 0, tzinfo=UTC)  # a Friday: the last week is Monday 16 November's
DEE = {"name": "Dee Eve", "email": "dee@elsewhere.org"}  # writes from outside people/


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "health-test-secret-0123456789abcdef")


def at(day: int, hour: int = 9, month: int = 11, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


def counted_by_hand(root: Path) -> Path:
    """The small intranet's handover (a topic on Sunday 1 November, Bo's reply 2 h later), and more."""
    root.mkdir(parents=True, exist_ok=True)
    small_intranet(root)
    reply = root / "communities/handover/posts"
    for path in reply.rglob("*.md"):  # Bo's reply: two reactions
        text = path.read_text()
        if "<r1@example.org>" in text:
            path.write_text(
                text.replace("source: smtp\n", "source: smtp\nreactions:\n  ann.lee: like\n  sup.desk: love\n")
            )
    add_post(root, "handover", "<q1@x>", "Which ISBAR card?", "Asked.", date=at(10))  # no reply: waiting
    add_post(root, "handover", "<q2@x>", "Who covers nights?", "Asked.", date=at(19))  # no reply, but < 2 days
    add_post(root, "handover", "<q3@x>", "Glove sizes?", "Asked.", date=at(5))
    add_post(root, "handover", "<q3r@x>", "Re: Glove sizes?", "M.", DEE, "<q3@x>", "<q3@x>", at(5, 15))  # 6 h
    add_post(root, "handover", "<jul@x>", "Summer rota", "In the chart only.", date=at(1, month=7))
    add_post(
        root, "handover", "<old@x>", "Last year?", "Before the chart: not counted.", date=at(1, month=6, year=2025)
    )
    return root


def figures(root: Path, slug: str = "handover", now: dt.datetime = NOW) -> Health:
    intranet = read_intranet(root)
    topics = build_topics([p for p in intranet.posts if p.community == slug]).get(slug, [])
    return community_health(slug, topics, Authors(intranet.people, intranet.person_by_email()), now, UTC)


def test_the_figures_match_a_count_by_hand(tmp_path: Path) -> None:
    h = figures(counted_by_hand(tmp_path))
    weeks = {w.start.isoformat(): (w.posts, w.topics) for w in h.weeks if w.posts}
    assert weeks == {
        "2026-06-29": (1, 1),  # Summer rota (1 July)
        "2026-10-26": (2, 1),  # the first topic and Bo's reply (Sunday 1 November)
        "2026-11-02": (2, 1),  # Glove sizes? and Dee's reply
        "2026-11-09": (1, 1),
        "2026-11-16": (1, 1),
    }
    assert len(h.weeks) == 52 and h.weeks[0].start == dt.date(2025, 11, 24)  # Last year is before it
    assert (h.posts, h.topics, h.active, h.guest_posts) == (6, 4, 3, 1)  # not the July post; Dee is no partner
    assert h.guest_share == pytest.approx(1 / 6)
    assert (h.first_reply, h.replied) == (dt.timedelta(hours=4), 2)  # the median of 2 h and 6 h
    assert [t.title for t in h.unanswered] == ["Which ISBAR card?"] and h.unanswered_count == 1
    assert [(t.title, t.count) for t in h.unsolved] == [("Glove sizes?", 1)]
    assert [(p.author, p.reactions) for p in h.reacted] == [("Bo Chen", 2)]
    assert [(t.title, t.count) for t in h.busiest] == [
        ("Glove sizes?", 2),  # as busy as the first topic, and newer
        ("Night shift handover", 2),
        ("Who covers nights?", 1),
        ("Which ISBAR card?", 1),
    ]
    assert h.summary == (
        "Busier than the 4 weeks before: 6 posts in the last 4 weeks (against 0); "
        "3 people active in 90 days; 1 question waiting for a first reply."
    )
    # Accepted: no longer unsolved. Three days on, the Thursday question waits too; a post from after
    # the moment the figures are as of is not counted.
    root = tmp_path
    question = add_post(root, "handover", "<q3@x>", "Glove sizes?", "Asked.", date=at(5))
    question.write_text(question.read_text().replace("source: smtp\n", "source: smtp\naccepted: '<q3r@x>'\n"))
    add_post(root, "handover", "<dec@x>", "Later", "Not yet.", date=NOW + dt.timedelta(days=1))
    later = figures(root, now=NOW + dt.timedelta(days=3))
    assert [t.title for t in later.unanswered] == ["Which ISBAR card?", "Who covers nights?"]
    assert later.unsolved == () and later.posts == 7


def test_a_tally_follows_changed_topics_as_a_count_from_scratch_would(tmp_path: Path) -> None:
    intranet = read_intranet(counted_by_hand(tmp_path))
    authors = Authors(intranet.people, intranet.person_by_email())
    posts = [p for p in intranet.posts if p.community == "handover"]
    by_id = {p.message_id: p for p in posts}
    counted = tally("handover", build_topics(posts)["handover"], authors, NOW, UTC)
    answer = replace(by_id["<q1@x>"], message_id="<a@x>", relpath="communities/handover/posts/a.md")
    answer = replace(answer, in_reply_to="<q1@x>", topic="<q1@x>", author=by_id["<r1@example.org>"].author)
    answer = replace(answer, date=at(11), reactions=(("ann.lee", "thanks"),))
    fresh = replace(by_id["<q2@x>"], message_id="<n@x>", relpath="communities/handover/posts/n.md", date=at(18))
    changed = [p for p in posts if p.message_id != "<r1@example.org>"] + [answer, fresh]  # Bo's reply taken away
    before = {t.key: t for t in build_topics(posts)["handover"]}
    after = {t.key: t for t in build_topics(changed)["handover"]}
    for key in sorted(before.keys() | after.keys()):
        if before.get(key) is not None:
            counted.remove(before[key])
        if after.get(key) is not None:
            counted.add(after[key])
    expected = community_health("handover", build_topics(changed)["handover"], authors, NOW, UTC)
    assert counted.health() == expected
    assert (expected.posts, expected.unanswered_count, expected.reacted[0].post_key) == (7, 0, answer.key)


def test_a_quiet_community_and_durations_read_plainly(tmp_path: Path) -> None:
    h = figures(counted_by_hand(tmp_path), now=dt.datetime(2027, 6, 1, tzinfo=UTC))
    assert (h.posts, h.active, h.guest_share, h.first_reply) == (0, 0, None, None)
    assert h.summary.startswith("No posts in the last 8 weeks; 0 people active in 90 days;")
    assert [duration_text(dt.timedelta(minutes=m)) for m in (45, 200, 60 * 52)] == [
        "45 min",
        "3 h 20 min",
        "2 days 4 h",
    ]
    assert duration_text(None) == "none yet"


def test_the_site_is_as_of_the_end_of_the_day_of_its_latest_post() -> None:
    sydney = __import__("zoneinfo").ZoneInfo("Australia/Sydney")
    assert site_as_of(None, UTC) is None
    assert site_as_of(at(19, 23), UTC) == NOW
    # 23:00 UTC on the 19th is already the 20th in Sydney: its day ends at midnight there.
    assert site_as_of(at(19, 23), sydney) == dt.datetime(2026, 11, 21, tzinfo=sydney)


def test_the_chart_draws_a_bar_a_week_scaled_to_the_busiest(tmp_path: Path) -> None:
    h = figures(counted_by_hand(tmp_path))
    svg = str(week_chart(h.weeks, "c", "Posts <a week>", "Numbers & more"))
    assert svg.count('class="intranet-chart__posts"') == 5 and svg.count('class="intranet-chart__topics"') == 5
    heights = sorted(float(x) for x in re.findall(r'class="intranet-chart__posts"[^>]* height="([\d.]+)"', svg))
    assert heights == [HEIGHT / 2] * 3 + [HEIGHT] * 2  # weeks of 1 post are half the weeks of 2
    assert 'role="img"' in svg and 'aria-labelledby="c-t c-d"' in svg
    assert '<title id="c-t">Posts &lt;a week&gt;</title>' in svg and "Numbers &amp; more" in svg  # escaped
    assert "<script" not in svg


def leaky_intranet(root: Path) -> Path:
    """The hand-counted intranet, and a members-only community whose posts are later than any other."""
    counted_by_hand(root)
    add_community(root, "leads", name="Leads", audience=["members"], members=["ann.lee"])
    add_post(root, "leads", "<lead1@x>", "Secret plans?", "Hush.", date=at(28))
    add_post(root, "leads", "<lead2@x>", "Re: Secret plans?", "Yes.", "ann.lee", "<lead1@x>", "<lead1@x>", at(28, 10))
    return root


def page(site: Path, tree: str, path: str) -> str:
    return (site / tree / path / "index.html").read_text()


def test_each_tree_counts_only_what_its_readers_may_read(tmp_path: Path) -> None:
    root = leaky_intranet(tmp_path / "root")
    build_site(root)
    site = root / "site"
    staff = page(site, "staff", "health")
    assert "Leads" not in staff and "Secret" not in staff
    # Its figures are as of its own latest post (19 November), not the hidden community's (28 November).
    assert "As of the end of 19 Nov 2026" in staff and "28 Nov" not in staff
    assert "As of the end of 19 Nov 2026" in page(site, "staff", "c/handover/health")
    assert not (site / "staff" / "c" / "leads").exists()
    partners = page(site, "partners", "health")
    assert "Clinical Handover" in partners and "Procurement" not in partners
    # A reader of the members-only community sees it, and every figure as of its latest post.
    own = page(site, "staff+leads", "health")
    assert "Leads" in own and "As of the end of 28 Nov 2026" in own
    leads = page(site, "staff+leads", "c/leads/health")
    assert "1 person active in 90 days" in leads and "Secret plans?" in leads
    # (The hand-counted figures, as the page shows them.)
    handover = page(site, "staff", "c/handover/health")
    assert "3 people active in 90 days" in handover and "17 %" in handover and "4 h" in handover
    assert "Which ISBAR card?" in handover and 'href="../t/' in handover
    assert 'href="health/">Health at a glance' in page(site, "staff", "c/handover")  # linked from the community
    assert 'href="../health/">health at a glance' in page(site, "staff", "c")  # and from the list of them


def test_updates_keep_the_health_pages_a_full_build(tmp_path: Path) -> None:
    root = leaky_intranet(tmp_path / "root")
    builder = Builder(root)
    try:
        builder.build()
        site = root / "site" / "staff"
        other = site / "c" / "procurement" / "health" / "index.html"
        before = other.read_bytes()
        # The same day as the latest post: only the community's own page and the network's change.
        path = add_post(
            root,
            "handover",
            "<r-q1@x>",
            "Re: Which ISBAR card?",
            "The blue one.",
            "bo.chen",
            "<q1@x>",
            "<q1@x>",
            at(19, 12),
        )
        assert builder.update(changed_files(root, path)) == "updated"
        assert other.read_bytes() == before
        assert (
            "Which ISBAR card?"
            not in (site / "c" / "handover" / "health" / "index.html").read_text().split('id="unsolved"')[0]
        )
        assert_same_as_full_build(root, tmp_path)
        # A new day: every community's figures move on (Procurement is quieter than the 4 weeks before now).
        path = add_post(root, "handover", "<dec@x>", "December rota", "Posted.", date=at(3, month=12))
        assert builder.update(changed_files(root, path)) == "updated"
        assert other.read_bytes() != before
        assert_same_as_full_build(root, tmp_path)
        # A post taken away, a person's kind changed: still a full build's figures.
        path.unlink()
        assert builder.update([path.relative_to(root).as_posix()]) == "updated"
        person = root / "people" / "bo.chen.yml"
        person.write_text(person.read_text().replace("kind: partner", "kind: staff"))
        builder.update(["people/bo.chen.yml"])
    finally:
        builder.close()
    assert_same_as_full_build(root, tmp_path)
    shutil.rmtree(tmp_path / "fresh", ignore_errors=True)


def test_in_up_a_new_days_health_pages_wait_behind_new_mail(tmp_path: Path) -> None:
    """As ``intranet up`` updates (``defer``): when the day moves on, the changed community's page and
    the network's are rendered with the mail, the others' behind it; once they are, a full build's."""
    root = leaky_intranet(tmp_path / "root")
    builder = Builder(root)
    builder.defer, builder.deferred = True, Deferred(part=4)
    try:
        builder.build()
        site = root / "site" / "staff"
        other = site / "c" / "procurement" / "health" / "index.html"
        own, network = site / "c" / "handover" / "health" / "index.html", site / "health" / "index.html"
        before = {path: path.read_bytes() for path in (other, own, network)}
        path = add_post(root, "handover", "<dec@x>", "December rota", "Posted.", date=at(3, month=12))
        assert builder.update(changed_files(root, path)) == "updated"
        assert other.read_bytes() == before[other]  # not yet: behind the mail
        assert own.read_bytes() != before[own] and network.read_bytes() != before[network]
        assert builder.deferred
        while builder.deferred:
            builder.render_deferred()
        assert other.read_bytes() != before[other]
    finally:
        builder.close()
    assert_same_as_full_build(root, tmp_path)


@pytest.mark.browser
def test_the_health_page_shows_its_chart_without_javascript(browser, demo_site: Path, serve, tmp_path: Path) -> None:
    """A screenshot in headless Chromium, scripts off: the bars are drawn, in the stylesheet's colours.
    (Sideways scrolling and contrast, with scripts on: tests/test_accessibility.py.)"""
    import io

    from PIL import Image

    slug = sorted(p.parent.name for p in demo_site.glob("c/*/health"))[0]
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(serve(demo_site) + f"c/{slug}/health/", wait_until="load")
        chart = page.locator("svg.intranet-chart")
        box = chart.bounding_box()
        assert box is not None and box["width"] >= 300 and box["height"] >= 100  # (8rem high, the column wide)
        fill = chart.locator(".intranet-chart__posts").first.evaluate("e => getComputedStyle(e).fill")
        assert fill == "rgb(0, 87, 78)"  # the link colour, #00574e: 7.6:1 on white
        shot = chart.screenshot(path=str(tmp_path / "health-chart.png"))
    finally:
        context.close()
    colours = dict((colour, count) for count, colour in Image.open(io.BytesIO(shot)).convert("RGB").getcolors(1 << 24))
    assert colours.get((0, 87, 78), 0) > 200  # bars on the screen, not only in the markup
