"""@mentions (issue #17): linked to the profile where the person may read, mailed to them once, the author
told about anyone mentioned who may not read. Real gateway on loopback, real Git, real MkDocs builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import add_person, add_post
from mailtest import DOMAIN, Harness, git_root, mail, with_subscribers
from test_incremental import assert_same_as_full_build

from generator.builder import Builder, build_site
from intranet.format import path_key, post_relpath
from intranet.mentions import link_mentions, mentioned, unique_names

TO = f"handover@{DOMAIN}"
ANN = "ann.lee@example.org"


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTRANET_SECRET", "mentions-test-secret-0123456789abcdef")


def test_mentions_are_handles_after_an_at_sign_not_addresses_or_paths() -> None:
    people = {"ann.lee", "bo.chen"}
    text = "Thanks @bo.chen, and @ann.lee. Mail bo@example.org, see a/@ann.lee or @nobody; @bo.chen again."
    assert mentioned(text, people) == ["bo.chen", "ann.lee"]
    html = "<p>Ask @bo.chen.</p><p><code>@ann.lee</code> <a href='x'>@ann.lee</a> @ann.lee</p>"
    linked = link_mentions(html, lambda h: f"../people/{h}/" if h == "ann.lee" else None)
    assert linked == (
        "<p>Ask @bo.chen.</p><p><code>@ann.lee</code> <a href='x'>@ann.lee</a> "
        '<a class="intranet-mention" href="../people/ann.lee/">@ann.lee</a></p>'
    )


def test_a_mention_by_whole_name_is_taken_only_when_one_person_has_that_name() -> None:
    names = unique_names(
        [
            ("ann.lee", "Ann Lee"),
            ("mary.ann.lee", "Mary Ann Lee"),
            ("jo.wu", "Jo Wu"),
            ("jo.wu2", "jo  wu"),
            ("ines", "Inês Carvalho-Dias"),
            ("one", "Cher"),
        ]
    )
    assert names == {"ann lee": "ann.lee", "mary ann lee": "mary.ann.lee", "inês carvalho-dias": "ines"}
    text = (
        "Thanks @Mary Ann Lee and @Ann Lee, and @Inês Carvalho-Dias; not @Jo Wu (two of them), "
        "@ann lee (not capitalised), @Cher (one word), mail@Ann Lee, or @Ann Leeway. @ann.lee once more."
    )
    assert mentioned(text, {"ann.lee"}, names) == ["mary.ann.lee", "ann.lee", "ines"]
    assert mentioned("Ask @Ann Lee today", {"ann.lee"}, names) == ["ann.lee"]  # a lower-case word after it
    html = "<p>Ask @Ann Lee, or <code>@Ann Lee</code>; @Mary Ann Lee knows.</p>"
    linked = link_mentions(html, lambda h: f"../people/{h}/", names)
    assert linked == (
        '<p>Ask <a class="intranet-mention" href="../people/ann.lee/">@Ann Lee</a>, or <code>@Ann Lee</code>; '
        '<a class="intranet-mention" href="../people/mary.ann.lee/">@Mary Ann Lee</a> knows.</p>'
    )


def test_a_mention_mails_who_may_read_once_and_the_author_hears_of_who_may_not(tmp_path: Path) -> None:
    root = with_subscribers(git_root(tmp_path / "intranet"), "bo.chen: each\ncy.diaz: none\n")
    post = mail(
        subject="Laminated cards", body="Thanks @Cy Diaz and @sup.desk; @bo.chen has the cards, @cy.diaz.", sender=ANN
    )
    with Harness(root) as gw:
        gw.send(post, TO, sender=ANN)
        assert gw.wait(post["Message-ID"])[0]["outcome"] == "published"
        sent = gw.outbox()
    by = {str(m["Delivered-To"]): str(m["Subject"]) for m in sent}
    assert by["cy.diaz@example.org"] == "Ann Lee mentioned you: Laminated cards"  # not subscribed, mentioned
    assert by["bo.chen@example.org"] == "Laminated cards"  # a subscriber gets the post once, as always
    assert "sup.desk@example.org" not in by  # a supplier may not read handover
    [told] = [m for m in sent if str(m["Delivered-To"]) == ANN]
    assert "were not told" in str(told["Subject"]) and "MediSupply support" in told.get_body(("plain",)).get_content()
    build_site(root)
    key = path_key(post_relpath("handover", post["Message-ID"]))[:12]
    page = (root / f"site/staff/c/handover/t/{key}/index.html").read_text()
    assert '<a class="intranet-mention" href="../../../../people/cy.diaz/">@Cy Diaz</a>' in page
    assert '<a class="intranet-mention" href="../../../../people/cy.diaz/">@cy.diaz</a>' in page
    assert "@sup.desk" in page and 'href="../../../../people/sup.desk/"' not in page


def test_a_mention_of_someone_who_comes_later_links_once_they_do(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    builder = Builder(root)
    try:
        builder.build()
        path = add_post(root, "handover", "<m1@x>", "Welcome", "Say hello to @dee.ng, who starts Monday.")
        assert builder.update([str(path.relative_to(root))]) == "updated"
        named = add_post(root, "handover", "<m2@x>", "Welcome too", "And to @Eve Stone, who starts Tuesday.")
        assert builder.update([str(named.relative_to(root))]) == "updated"
        add_person(root, "dee.ng", name="Dee Ng")
        assert builder.update(["people/dee.ng.yml"]) == "updated"
        add_person(root, "eve.stone", name="Eve Stone")
        assert builder.update(["people/eve.stone.yml"]) == "updated"
        assert_same_as_full_build(root, tmp_path)
        key = path_key(post_relpath("handover", "<m1@x>"))[:12]
        assert 'class="intranet-mention"' in (root / f"site/staff/c/handover/t/{key}/index.html").read_text()
        page = root / f"site/staff/c/handover/t/{path_key(post_relpath('handover', '<m2@x>'))[:12]}/index.html"
        assert '">@Eve Stone</a>' in page.read_text()
        add_person(root, "eve.stone2", name="Eve Stone")  # a second Eve Stone: the name is no one's mention
        assert builder.update(["people/eve.stone2.yml"]) == "updated"
        assert '">@Eve Stone</a>' not in page.read_text()
        (root / "people/eve.stone2.yml").unlink()
        add_person(root, "eve.stone", name="Eve Stone-Hart")  # renamed: the old name mentions nobody
        assert builder.update(["people/eve.stone.yml", "people/eve.stone2.yml"]) == "updated"
        assert '">@Eve Stone</a>' not in page.read_text() and "@Eve Stone" in page.read_text()
        assert_same_as_full_build(root, tmp_path)
    finally:
        builder.close()
