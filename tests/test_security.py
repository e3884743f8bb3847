"""Untrusted post text never becomes live markup on a page."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import built_once
from helpers import add_community, add_person, add_post, write_config
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.builder import build_site
from intranet.format import attachments_dir, path_key, post_relpath
from intranet.render import render_post_markdown, sanitize

PAYLOADS = {
    "script": "<script>window.__xss = 'script'</script>",
    "img": "<img src=x onerror=\"window.__xss='img'\">",
    "svg": "<svg onload=\"window.__xss='svg'\"></svg>",
    "js-link": "[click me](javascript:window.__xss='link')",
    "js-link-entity": "[click](&#106;avascript:window.__xss='entity')",
    "data-link": "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "data-image": "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "attr-list": 'Hello {: onclick="window.__xss=\'attr\'" }\n{: .md-button onmouseover="alert(1)" }',
    "snippet": '--8<-- "mkdocs.yml"\n\n;--8<-- "/etc/passwd"',
    "template": "{{ config.site_name }} {% include 'base.html' %} {{ ''.__class__ }}",
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "style": '<p style="background:url(javascript:alert(1))">styled</p>',
    "form": '<form action="https://evil.example"><input name=x></form>',
    "md-in-html": '<div markdown="1">**bold** <script>alert(1)</script></div>',
}
SUBJECT = "<script>window.__xss='subject'</script> & <b>bold</b>"
NAME = "<img src=x onerror=\"window.__xss='name'\">Mallory"


def hostile_intranet(root: Path) -> Path:
    write_config(root)
    add_person(root, "ann.lee", name="Ann Lee")
    add_community(root, "open", name="Open", audience=["staff"])
    add_post(
        root,
        "open",
        "<evil-topic@x>",
        subject=SUBJECT,
        body="\n\n".join(PAYLOADS.values()),
        author={"name": NAME, "email": "m@evil.example"},
    )
    add_post(
        root,
        "open",
        "<evil-reply@x>",
        subject="",
        in_reply_to="<evil-topic@x>",
        topic="<evil-topic@x>",
        body="Reply with a [relative link](../../../../mkdocs.yml) and ![pic](att-1.html)",
        quoted="> <script>window.__xss='quoted'</script>",
        signature="<img src=x onerror=alert(1)>",
        attachments={'"><script>alert(1)</script>.html': b"<script>alert(1)</script>"},
    )
    return root


def _hostile_built(root: Path) -> None:
    build_site(hostile_intranet(root))


@pytest.fixture(name="hostile_site", scope="session")
def hostile_site_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hostile intranet's staff tree, built once per test run. Read only."""
    return built_once(tmp_path_factory, "hostile", _hostile_built) / "site" / "staff"


def page_of(site: Path, message_id: str) -> Path:
    return site / "c" / "open" / "t" / path_key(post_relpath("open", message_id))[:12] / "index.html"


class LiveMarkup(HTMLParser):
    """Collects the markup a browser would act on: elements and their attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("iframe", "object", "embed", "base", "meta", "link", "style") and self.in_fragment:
            self.found.append(tag)
        if tag == "form" and any(v and "evil" in v for _, v in attrs):
            self.found.append("form")
        self.in_script = tag == "script"
        for name, value in attrs:
            value = (value or "").strip().lower()
            if name.startswith("on"):
                self.found.append(f"{tag} {name}")
            if name in ("href", "src", "action", "formaction") and value.startswith(
                ("javascript:", "data:", "vbscript:")
            ):
                self.found.append(f"{tag} {name}={value[:20]}")

    def handle_data(self, data: str) -> None:
        # The theme has inline scripts of its own; the posts' payloads all say __xss or alert(.
        if self.in_script and ("__xss" in data or "alert(" in data):
            self.found.append("script from content")

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False

    in_fragment = False
    in_script = False


def live_markup(text: str, fragment: bool) -> list[str]:
    parser = LiveMarkup()
    parser.in_fragment = fragment
    parser.feed(text)
    parser.close()
    return parser.found


def html_fragments(path: Path) -> list[str]:
    """The parts of a built file that a browser treats as HTML."""
    if path.suffix == ".html":
        return [path.read_text()]
    if path.suffix == ".xml" and path.name == "feed.xml":
        root = ET.parse(path).getroot()
        return [el.text or "" for el in root.iter("{http://www.w3.org/2005/Atom}content")]
    if path.suffix == ".json" and "search" in path.parts:
        # The search index holds text, not HTML (the worker escapes it for Material): no markup in its bytes.
        assert b"<" not in path.read_bytes() and b">" not in path.read_bytes(), path
        return []
    if path.suffix == ".json":
        found: list[str] = []

        def walk(value: object) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        walk(json.loads(path.read_text()))
        return found
    return []


THEME_SCRIPT = r'<script( id="__config" type="application/json"| src="[./]*(assets/javascripts|search)/[\w./-]+")?>'


def test_no_live_markup_from_posts_anywhere(hostile_site: Path) -> None:
    checked = 0
    for path in hostile_site.rglob("*"):
        for text in html_fragments(path):
            checked += 1
            assert live_markup(text, fragment=path.suffix != ".html") == [], path
        if path.suffix == ".html":
            # Every script element on a page is the theme's own.
            for script in re.findall(r"<script\b[^>]*>", path.read_text()):
                assert re.fullmatch(THEME_SCRIPT, script), (path, script)
    assert checked > 10


def test_payloads_show_as_text(hostile_site: Path) -> None:
    html = page_of(hostile_site, "<evil-topic@x>").read_text()
    assert (
        "&lt;script&gt;window.__xss = 'script'&lt;/script&gt;" in html
        or "&lt;script&gt;window.__xss = &#39;script&#39;&lt;/script&gt;" in html
    )
    assert "--8&lt;-- " in html and "site_name: Northfield" not in html and "root:x:0" not in html
    assert "{{ config.site_name }}" in html
    assert (
        "<title>&lt;script&gt;window.__xss=&#x27;subject&#x27;&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt; - " in html
    )
    assert "&lt;img src=x onerror=" in html  # the display name, as text


def test_relative_links_and_active_attachments_are_defused(hostile_site: Path) -> None:
    html = page_of(hostile_site, "<evil-topic@x>").read_text()
    assert not re.search(r'href="[^"]*mkdocs.yml"', html)
    assert "relative link" in html
    files = list((hostile_site / "c" / "open" / "files").rglob("*"))
    names = [f.name for f in files if f.is_file()]
    assert names == ["att-1.html.bin"]
    assert 'download="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;.html"' in html
    assert re.search(r'<img src="[./]*c/open/files/\w+/att-1.html.bin" alt="pic"', html) or 'src="../../files/' in html


def test_renderer_allow_list_directly() -> None:
    html = render_post_markdown(
        '<a href="javascript:alert(1)">x</a> [ok](https://example.org) **b** [no](javascript:alert(2))'
    )
    assert live_markup(html, fragment=True) == []
    assert "&lt;a href=" in html and 'href="https://example.org"' in html and "<strong>b</strong>" in html
    # The sanitiser holds even for raw HTML the parser never lets through.
    raw = (
        '<a href="javascript:x" onclick="y">a</a><script>z</script>'
        '<p class="md-button" style="x" id="y">p</p><img src="data:x">'
    )
    assert sanitize(raw) == '<a rel="nofollow noopener noreferrer">a</a><p>p</p><img>'

    assert 'rel="nofollow noopener noreferrer"' in html
    assert render_post_markdown("www.example.org").count('href="http://www.example.org"') == 1


def test_content_outside_the_root_is_never_published(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    root = hostile_intranet(tmp_path / "root")
    outside = tmp_path / "outside.txt"
    outside.write_text("TOP SECRET")
    post = root / post_relpath("open", "<evil-reply@x>")
    folder = attachments_dir(post)
    (folder / "att-2.pdf").symlink_to(outside)
    post.write_text(post.read_text().replace("attachments:\n", "attachments:\n- file: att-2.pdf\n  name: x.pdf\n"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "att-1.pdf").write_text("TOP SECRET too")
    other = add_post(root, "open", "<linked-folder@x>", attachments={"a.pdf": b"%PDF"})
    shutil.rmtree(attachments_dir(other))
    attachments_dir(other).symlink_to(elsewhere)
    build_site(root)
    for path in (root / "site").rglob("*"):
        if path.is_file():
            assert b"TOP SECRET" not in path.read_bytes(), path


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=200))
def test_skipping_linkify_changes_nothing_when_nothing_looks_like_a_link(text: str) -> None:
    from intranet.render import _LINK_HINT, _parser

    if _LINK_HINT.search(text) is None:
        assert _parser(False).render(text) == _parser(True).render(text)
