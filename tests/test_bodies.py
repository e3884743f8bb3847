"""Mail bodies to Markdown: format=flowed, plain text, HTML, and splitting HTML replies."""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import html
import logging
import re
import unicodedata
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from helpers import skip_or_fail
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intranet.render import render_post_markdown
from mailgateway.flowed import decode_flowed
from mailgateway.htmlmail import html_to_markdown
from mailgateway.htmlquotes import split_html_reply
from mailgateway.plaintext import text_to_markdown

pytestmark = pytest.mark.filterwarnings("ignore::bs4.MarkupResemblesLocatorWarning")

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
TALON = CORPUS / "mailgun-talon"


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Whitespace-normalised lines; runs of blank lines count as one; no blank lines at the ends, nor
    before a "- " line (a list reads the same with or without one above it: the page shows neither)."""
    lines: list[str] = []
    for line in text.split("\n"):
        line = " ".join(line.split())
        if not line and (not lines or not lines[-1]):
            continue
        if line.startswith("- ") and lines and not lines[-1]:
            lines.pop()
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def visible(rendered: str, bullets: bool = True) -> str:
    """What a reader sees: tags stripped, entities unescaped, <br> and paragraph ends as newlines, a list's
    items as "- " lines (a list right after a paragraph: on the next line, as typed)."""
    text = re.sub(r"<br\s*/?>\n?", "\n", rendered)
    text = re.sub(r"<ul>\n?", "", text)
    text = re.sub(r"</ul>\n?", "\n\n", text)
    text = text.replace("<li>", "- " if bullets else "")
    text = re.sub(r"</p>\n?", "\n\n", text)
    text = re.sub(r"<[^>]*>", "", text)
    return normalise(html.unescape(text))


def shown(markdown: str, attachments: dict[str, str] | None = None, bullets: bool = True) -> str:
    return visible(render_post_markdown(markdown, attachments), bullets)


def soup_text(fragment: str) -> str:
    return "".join(BeautifulSoup(fragment, "html.parser").get_text().split())


BLOCK_ELEMENTS = (
    "<h1",
    "<h2",
    "<h3",
    "<h4",
    "<h5",
    "<h6",
    "<ul",
    "<ol",
    "<li",
    "<blockquote",
    "<pre",
    "<code",
    "<table",
    "<hr",
    "<em",
    "<strong",
    "<del",
    "<s>",
    "<img",
)


# ---------------------------------------------------------------------------
# decode_flowed
# ---------------------------------------------------------------------------


def test_flowed_joins_soft_breaks() -> None:
    assert decode_flowed("Hello \nworld\nNext line\n") == "Hello world\nNext line\n"


def test_flowed_delsp_removes_the_soft_break_space() -> None:
    assert decode_flowed("Supercalifragi \nlistic\n", delsp=True) == "Supercalifragilistic\n"
    assert decode_flowed("Supercalifragi \nlistic\n", delsp=False) == "Supercalifragi listic\n"


def test_flowed_space_stuffing_is_removed() -> None:
    assert decode_flowed(" From the start\n >not a quote\n  two spaces") == "From the start\n>not a quote\n two spaces"


def test_flowed_quote_depth() -> None:
    text = "> quoted \n> line\n>> deeper \n>> still\nnew \ntext\n"
    assert decode_flowed(text) == "> quoted line\n>> deeper still\nnew text\n"


def test_flowed_quote_depth_change_ends_a_paragraph() -> None:
    assert decode_flowed("> soft \nnot quoted") == "> soft \nnot quoted"


def test_flowed_signature_separator_is_fixed() -> None:
    assert decode_flowed("Bye \n-- \nAlice \nSmith") == "Bye -- \nAlice Smith"


def test_flowed_crlf_and_blank_lines() -> None:
    assert decode_flowed("a \r\nb\r\n\r\nc\r\n") == "a b\n\nc\n"


def test_flowed_space_stuffed_quote_marker() -> None:
    assert decode_flowed("> > not depth two") == "> > not depth two"
    assert decode_flowed(">>deep") == ">> deep"


@given(st.text(alphabet=st.sampled_from(list("ab> \n-")), max_size=60), st.booleans())
def test_flowed_never_raises_and_keeps_letters(text: str, delsp: bool) -> None:
    out = decode_flowed(text, delsp=delsp)
    assert [c for c in out if c in "ab-"] == [c for c in text if c in "ab-"]


# ---------------------------------------------------------------------------
# text_to_markdown
# ---------------------------------------------------------------------------

LITERALS = [
    "# heading",
    "## heading ##",
    "* item",
    "- item",
    "+ item",
    "1. item",
    "2) item",
    "> x",
    ">> x",
    "<b>bold</b>",
    "<script>alert(1)</script>",
    "&amp; &lt; &#65; &copy;",
    "[x](y)",
    "![x](https://example.com/x.png)",
    "[x]: https://example.com",
    "{{ x }}",
    "{% x %}",
    "{# x #}",
    '--8<-- "file"',
    "***",
    "___",
    "- - -",
    "`code`",
    "```",
    "~~~",
    "~~strike~~",
    "|a|b|\n|-|-|\n|1|2|",
    "a | b\n--- | ---\n1 | 2",
    "back\\slash\\",
    "\\*not emphasis\\*",
    "wow!",
    "Title\n===",
    "Title\n---",
    "*emph* _emph_ **strong** __strong__",
    "<https://example.com>",
    "<!-- comment -->",
    "line with trailing backslash\\\nnext",
    "a_b_c and 2*3*4",
]


@pytest.mark.parametrize("text", LITERALS)
def test_text_renders_literally(text: str) -> None:
    rendered = render_post_markdown(text_to_markdown(text))
    assert visible(rendered) == normalise(text)
    for element in BLOCK_ELEMENTS:
        assert element not in rendered, element


def test_text_line_breaks_and_paragraphs() -> None:
    rendered = render_post_markdown(text_to_markdown("one\ntwo\n\n\nthree"))
    assert rendered.count("<p>") == 2
    assert "one<br>\ntwo" in rendered


def test_text_indentation_is_kept_and_never_code() -> None:
    markdown = text_to_markdown("Code:\n    x = 1\n\n    indented paragraph start\n\tTabbed")
    rendered = render_post_markdown(markdown)
    assert "<pre" not in rendered and "<code" not in rendered
    assert "&nbsp;&nbsp;&nbsp;&nbsp;x = 1" in rendered
    assert "&nbsp;&nbsp;&nbsp;&nbsp;indented paragraph start" in rendered
    assert "&nbsp;&nbsp;&nbsp;&nbsp;Tabbed" in rendered


def test_text_urls_become_links_and_stay_intact() -> None:
    text = "See https://example.com/a_b_(c)?x=1&y=2#frag. Or www.example.org/~me_too, or http://a.com/%41."
    rendered = render_post_markdown(text_to_markdown(text))
    assert 'href="https://example.com/a_b_(c)?x=1&amp;y=2#frag"' in rendered
    assert 'href="http://www.example.org/~me_too"' in rendered
    assert 'href="http://a.com/%41"' in rendered
    assert visible(rendered) == normalise(text)


def test_text_url_uses_autolink() -> None:
    assert text_to_markdown("go https://example.com/x_y now") == "go <https://example.com/x_y> now"


def test_text_url_that_cannot_be_percent_encoded_is_a_plain_link(caplog: pytest.LogCaptureFixture) -> None:
    # A surrogate pair (two code points in a Python str) cannot be encoded as UTF-8 for the autolink check.
    with caplog.at_level(logging.DEBUG, logger="mailgateway.plaintext"):
        out = text_to_markdown("go https://example.com/\ud83d\ude00 now")
    assert out == "go [https://example.com/\ud83d\ude00](<https://example.com/\ud83d\ude00>) now"
    assert "UnicodeEncodeError" in caplog.text and "example.com" not in caplog.text


def test_text_bang_before_link_is_not_an_image() -> None:
    rendered = render_post_markdown(text_to_markdown("wow!www.example.com and see!https://example.com/x.png"))
    assert "<img" not in rendered
    assert rendered.count("<a ") == 2


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com/a_b![]",  # found by test_text_property_renders_as_typed
        "https://example.com/x![y](z)",
        "www.example.org/a![]",
        "see https://example.com/!![](https://example.com/i.png) now",
    ],
)
def test_text_bang_bracket_inside_a_link_shows_as_typed(text: str) -> None:
    # The "![" escape must not land in an autolink, which shows backslashes as typed.
    rendered = render_post_markdown(text_to_markdown(text))
    assert visible(rendered) == normalise(text)
    assert "<img" not in rendered
    assert rendered.count("<a ") == 1


def test_text_email_and_bare_domains_stay_text() -> None:
    text = "Mail jane.doe@example.com about main.py, ftp://files.example.com and //cdn.example.com"
    rendered = render_post_markdown(text_to_markdown(text))
    assert "<a " not in rendered
    assert visible(rendered) == normalise(text)


def test_text_is_readable_for_ordinary_prose() -> None:
    text = "Hi Anna,\n\nThe meeting is at 10.30 - see you there! Costs: 5$ (or 6€).\n\nBest,\nBob"
    assert text_to_markdown(text) == text


def test_text_empty() -> None:
    assert text_to_markdown("") == ""
    assert text_to_markdown(" \n\t\n") == ""


MARKDOWN_BITS = [
    "# ",
    "## ",
    "* ",
    "- ",
    "+ ",
    "1. ",
    "1) ",
    "> ",
    "    ",
    "\t",
    "\n",
    "\n\n",
    "<b>",
    "</b>",
    "<",
    ">",
    "&amp;",
    "&",
    "#",
    ";",
    "[",
    "]",
    "(",
    ")",
    "![",
    "](",
    "{{",
    "}}",
    "{%",
    "--8<--",
    "***",
    "___",
    "---",
    "===",
    "`",
    "```",
    "~~",
    "~~~",
    "|",
    "|---|",
    "\\",
    "!",
    "*",
    "_",
    "http://",
    "https://example.com/a_b",
    "www.",
    "www.example.org",
    "a@b.co",
    "example.com",
    ".",
    ":",
    "/",
    "%41",
    "xn--",
    "<https://x.org>",
    "mailto:",
    "ftp://x.org",
    "=",
    " ",
    "\u00a0",
    "\u2003",
    "0",
    "9",
    "a",
    "é",
    "日本",
]
TEXT = st.lists(
    st.one_of(
        st.sampled_from(MARKDOWN_BITS),
        st.characters(exclude_categories=["Cc", "Cs"]),
        st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=8),
    ),
    max_size=40,
).map("".join)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_text_property_renders_as_typed(text: str) -> None:
    markdown = text_to_markdown(text)
    assert shown(markdown) == normalise(text)


_LINE_TEXT = (
    st.lists(
        st.one_of(st.sampled_from(MARKDOWN_BITS[:9]), st.characters(exclude_categories=["Cc", "Cs", "Zl", "Zp"])),
        min_size=1,
        max_size=8,
    )
    .map("".join)
    .filter(lambda t: "\n" not in t and t.strip() == t and t != "")
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.just(""), _LINE_TEXT, _LINE_TEXT.map(lambda t: "- " + t)), max_size=12).map("\n".join))
def test_text_property_typed_lists_become_lists_and_read_as_typed(text: str) -> None:
    """Lines of "- item" (two or more together) are a list; everything still reads as typed."""
    markdown = text_to_markdown(text)
    assert shown(markdown) == normalise(text)


@settings(max_examples=200, deadline=None)
@given(st.text(st.one_of(st.characters(exclude_categories=["Cc", "Cs"]), st.sampled_from("\n\t")), max_size=80))
def test_text_property_any_unicode(text: str) -> None:
    assert shown(text_to_markdown(text)) == normalise(text)


# ---------------------------------------------------------------------------
# html_to_markdown
# ---------------------------------------------------------------------------


def md(fragment: str, cids: dict[str, str] | None = None) -> str:
    return html_to_markdown(fragment, cids or {})


def test_html_paragraphs_and_breaks() -> None:
    out = md("<p>First<br>second line</p><p>Next paragraph</p>")
    assert out == "First\nsecond line\n\nNext paragraph"
    assert "<br>" in render_post_markdown(out)


def test_html_source_newlines_are_just_spaces() -> None:
    assert md("<p>one\ntwo\n   three</p>") == "one two three"


def test_html_gmail_divs_are_lines() -> None:
    out = md('<div dir="ltr"><div>Hi</div><div><br></div><div>Line one</div><div>Line two</div></div>')
    assert out == "Hi\n\nLine one\nLine two"


def test_html_lists() -> None:
    out = md("<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul><ol start=3><li>three</li><li>four</li></ol>")
    rendered = render_post_markdown(out)
    assert rendered.count("<ul>") == 2
    assert '<ol start="3">' in rendered
    assert "<li>nested</li>" in rendered


def test_html_links_keep_only_safe_schemes() -> None:
    out = md(
        '<p><a href="https://example.com/a b">web</a> <a href="mailto:x@example.com">mail</a> '
        '<a href="javascript:alert(1)">js</a> <a href="data:text/html,x">data</a> <a href="/relative">rel</a> '
        '<a href="JAVA\nSCRIPT:alert(1)">js2</a></p>'
    )
    rendered = render_post_markdown(out)
    assert 'href="https://example.com/a%20b"' in rendered
    assert 'href="mailto:x@example.com"' in rendered
    assert "javascript" not in out.lower() and "data:" not in out and "/relative" not in out
    assert visible(rendered) == "web mail js data rel js2"


def test_html_link_text_equal_to_url_is_an_autolink() -> None:
    assert md('<a href="https://example.com/x_y">https://example.com/x_y</a>') == "<https://example.com/x_y>"


def test_html_emphasis_and_strike() -> None:
    rendered = render_post_markdown(md("<p><b>bold</b> <i>it</i> <strong>s</strong> <em>e</em> <s>gone</s></p>"))
    assert "<strong>bold</strong>" in rendered and "<em>it</em>" in rendered and "<s>gone</s>" in rendered


def test_html_headings_are_demoted() -> None:
    out = md("<h1>Title</h1><h2>Sub</h2><h5>Small</h5>")
    assert out == "### Title\n\n#### Sub\n\n###### Small"


def test_html_blockquote_and_code() -> None:
    out = md(
        "<blockquote><p>quoted</p><p>more</p></blockquote><p>use <code>a*b</code></p>"
        "<pre>line 1\n  ```indented```\n</pre>"
    )
    rendered = render_post_markdown(out)
    assert "<blockquote>" in rendered and "<code>a*b</code>" in rendered
    assert "<pre><code>line 1\n  ```indented```\n</code></pre>" in rendered


def test_html_data_table_becomes_pipe_table() -> None:
    out = md(
        "<table><tr><th>Name</th><th>Value</th></tr><tr><td>a|b</td><td><code>x|y</code></td></tr>"
        "<tr><td colspan=2>wide</td></tr></table>"
    )
    assert out.splitlines()[:2] == ["| Name | Value |", "| --- | --- |"]
    rendered = render_post_markdown(out)
    assert "<th>Name</th>" in rendered
    assert "<td>a|b</td>" in rendered and "<td><code>x|y</code></td>" in rendered
    assert "<td>wide</td>" in rendered


def test_html_outlook_table_with_mso_paragraphs() -> None:
    out = md(
        "<table class=MsoTableGrid border=1><tr><td><p class=MsoNormal>A<o:p></o:p></p></td>"
        "<td><p class=MsoNormal>B<o:p></o:p></p></td></tr><tr><td><p class=MsoNormal>1</p></td>"
        "<td><p class=MsoNormal>2</p></td></tr></table>"
    )
    assert out == "| A | B |\n| --- | --- |\n| 1 | 2 |"


def test_html_layout_tables_become_paragraphs() -> None:
    single = md("<table><tr><td>Header text</td></tr><tr><td><p>Body</p></td></tr></table>")
    assert "|" not in single and "Header text" in single and "Body" in single
    nested = md(
        "<table><tr><td><table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table></td>"
        "<td>side</td></tr></table>"
    )
    assert "| a | b |" in nested and "side" in nested
    assert nested.count("| --- |") == 1
    presentation = md('<table role="presentation"><tr><td>x</td><td>y</td></tr><tr><td>z</td><td>w</td></tr></table>')
    assert "|" not in presentation


def test_html_images() -> None:
    out = md(
        '<p><img src="cid:image001.png@01D0" alt="chart"> <img src="cid:missing" alt="gone">'
        '<img src="https://example.com/a.png" alt="remote"> <img src="data:image/png;base64,AAAA" alt="inline">'
        '<img src="https://t.example.com/p.gif" width="1" height="1"></p>',
        {"image001.png@01D0": "att-1.png"},
    )
    assert "![chart](att-1.png)" in out
    assert "[image: remote](https://example.com/a.png)" in out
    assert "base64" not in out and "t.example.com" not in out
    rendered = render_post_markdown(out, {"att-1.png": "/media/att-1.png"})
    assert '<img src="/media/att-1.png" alt="chart">' in rendered
    assert rendered.count("<img") == 1


def test_html_images_inside_links() -> None:
    out = md(
        '<a href="https://example.com/"><img src="cid:logo" alt="Logo"></a> '
        '<a href="https://example.com/promo"><img src="https://cdn.example.com/b.png"></a>',
        {"logo": "att-3.png"},
    )
    assert out == "[![Logo](att-3.png)](https://example.com/) [image](https://example.com/promo)"


def test_html_thunderbird_plain_quote() -> None:
    out = md('<pre class="moz-quote-pre" wrap="">&gt; # not a heading\n&gt;    indented</pre>')
    assert "```" not in out
    assert shown(out) == "> # not a heading\n> indented"


def test_html_cid_lookup_tolerates_brackets_and_case() -> None:
    assert md('<img src="cid:%3CAbc@X%3E" alt="a">', {"abc@x": "att-2.jpg"}) == "![a](att-2.jpg)"


def test_html_invisible_content_is_dropped() -> None:
    out = md(
        "<html><head><title>Secret title</title><style>p {color: red}</style></head><body>"
        "<script>alert('x')</script><!-- hidden comment --><p>Visible</p>"
        '<div style="display:none">preheader</div><noscript>nojs</noscript></body></html>'
    )
    assert out == "Visible"


def test_html_text_is_escaped() -> None:
    for text in [
        "<script>",
        "# x",
        "{{ x }}",
        "{% x %}",
        "* x",
        "1. x",
        "> x",
        "[a](b)",
        "`c`",
        "|a|b|",
        "&amp;",
        "---",
        "===",
        "***",
        "~~x~~",
        "a_b_c",
        "\\",
        "!",
    ]:
        out = md("<p>" + html.escape(text) + "</p>")
        rendered = render_post_markdown(out)
        assert visible(rendered) == text, (text, out)
        for element in BLOCK_ELEMENTS:
            assert element not in rendered, (text, element)


def test_html_bang_before_link_is_not_an_image() -> None:
    for source in [
        '<p>Wow!<a href="https://example.com/x.png">look</a></p>',
        '<p>Wow!<b></b><span><a href="https://example.com/x.png">look</a></span></p>',
        "<p><b>Wow!</b>www.example.com/x.png</p>",
        '<p><img alt="Wow!"><a href="https://example.com/x.png">look</a></p>',
    ]:
        rendered = render_post_markdown(md(source))
        assert "<img" not in rendered, source
        assert visible(rendered).startswith("Wow!"), source


def test_html_text_urls_become_links() -> None:
    rendered = render_post_markdown(md("<p>see https://example.com/a_b_c and mail me at a@b.example</p>"))
    assert 'href="https://example.com/a_b_c"' in rendered
    assert "mailto" not in rendered


def test_html_outlook_word_markup() -> None:
    source = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
        "<!--[if gte mso 9]><xml><o:OfficeDocumentSettings>"
        "</o:OfficeDocumentSettings></xml><![endif]--><style>p.MsoNormal {margin:0}</style></head><body>"
        "<div class=WordSection1><p class=MsoNormal>Hello&nbsp;team,<o:p></o:p></p>"
        "<p class=MsoNormal><o:p>&nbsp;</o:p></p>"
        "<p class=MsoNormal>Line&nbsp;one<o:p></o:p></p><p class=MsoNormal>Line two<o:p></o:p></p>"
        "<p class=MsoListParagraphCxSpFirst style='mso-list:l0 level1 lfo1'><![if !supportLists]>"
        "<span style='mso-list:Ignore'>·<span>&nbsp;&nbsp;&nbsp;</span></span><![endif]>First</p>"
        "<p class=MsoListParagraphCxSpLast style='mso-list:l0 level1 lfo1'><![if !supportLists]>"
        "<span style='mso-list:Ignore'>·<span>&nbsp;&nbsp;&nbsp;</span></span><![endif]>Second</p>"
        "<!--[if !mso]><p>not for outlook</p><![endif]--></div></body></html>"
    )
    out = md(source)
    assert out == "Hello team,\n\nLine one\nLine two\n\n- First\n- Second"


def test_html_nbsp_heavy() -> None:
    out = md(
        "<p>Hello&nbsp;&nbsp;&nbsp;world&nbsp;</p><p>&nbsp;</p><p>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;Next&nbsp;line</p>"
    )
    assert out == "Hello world\n\nNext line"
    assert "<pre" not in render_post_markdown(out)


def test_html_rule_and_stray_table_parts() -> None:
    out = md("<p>a</p><hr><ul><li><hr>b</li></ul><td>cell</td><tr><td>row</td></tr>")
    rendered = render_post_markdown(out)
    assert rendered.count("<hr>") == 2 and "<li>" in rendered
    assert "|" not in out and "cell" in out and "row" in out


def test_html_blank_lines_collapse() -> None:
    out = md("<p>a</p><br><br><br><br><div><br></div><div><br></div><p>b</p>")
    assert out == "a\n\nb"


def test_html_empty() -> None:
    assert md("") == ""
    assert md("<html><head><title>x</title></head><body> </body></html>") == ""


def test_html_deep_nesting_does_not_crash() -> None:
    out = md("<font>" * 1500 + "deep text" + "</font>" * 1500)
    assert out == "deep text"  # meaningless wrappers are unwrapped
    out = md("<blockquote><div>" * 500 + "# deep text" + "</div></blockquote>" * 500)
    assert shown(out) == "# deep text"  # too deep to convert: the words survive, still escaped


def test_html_too_deep_to_convert_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    source = "<blockquote><div>" * 500 + "# deep secret" + "</div></blockquote>" * 500
    with caplog.at_level(logging.WARNING, logger="mailgateway.htmlmail"):
        out = md(source)
    assert shown(out) == "# deep secret"
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "too deeply" in caplog.text and "secret" not in caplog.text  # what happened, never the body


def test_html_rendered_output_is_safe() -> None:
    source = (
        '<p onclick="x()">Hi <a href="javascript:alert(1)" onmouseover="y()">x</a>'
        '<img src="https://evil.example/track.gif" onerror="z()"><iframe src="https://evil.example"></iframe>'
        "<object data=x></object><svg><script>1</script></svg></p>"
    )
    rendered = render_post_markdown(md(source))
    for bad in ("onclick", "javascript", "onmouseover", "onerror", "<img", "iframe", "<script", "<svg"):
        assert bad not in rendered


PLAIN = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=40)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(MARKDOWN_BITS), PLAIN), max_size=20).map("".join))
def test_html_property_text_shows_literally(text: str) -> None:
    out = md("<p>" + html.escape(text) + "</p>")
    assert shown(out) == " ".join(text.replace("\u00a0", " ").split())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["p", "div", "li", "h2", "blockquote", "td", "b", "span"]),
            st.lists(st.one_of(st.sampled_from(MARKDOWN_BITS), PLAIN), max_size=6).map("".join),
        ),
        max_size=6,
    )
)
def test_html_property_structures_keep_text(parts: list[tuple[str, str]]) -> None:
    source = "".join(f"<{tag}>{html.escape(text)}</{tag}>" for tag, text in parts)
    out = md(source)
    words = "".join(shown(out, bullets=False).split())  # (the words only: not the bullets HTML's <li> gets)
    expected = "".join("".join(text.replace("\u00a0", " ").split()) for _, text in parts)
    assert words == expected


# ---------------------------------------------------------------------------
# split_html_reply
# ---------------------------------------------------------------------------

REPLIES = {
    "gmail": '<div dir="ltr">New text</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
    'On Mon, A wrote:<br></div><blockquote class="gmail_quote">Old text</blockquote></div>',
    "apple": "<div>New text</div><div><br><div>On 1 Jan 2024, at 10:00, A &lt;a@x.org&gt; wrote:</div><br>"
    '<blockquote type="cite"><div>Old text</div></blockquote></div>',
    "thunderbird": 'New text<br><div class="moz-cite-prefix">On 1/1/24 A wrote:<br></div>'
    '<blockquote type="cite">Old text</blockquote>',
    "outlook-web": '<div>New text</div><div id="appendonsend"></div><hr style="display:inline-block">'
    '<div id="divRplyFwdMsg"><b>From:</b> A<br><b>Sent:</b> Monday</div><div>Old text</div>',
    "outlook-rply": '<div>New text</div><hr><div id="divRplyFwdMsg"><b>From:</b> A</div><div>Old text</div>',
    "outlook-desktop": "<div class=WordSection1><p class=MsoNormal>New text</p><div><div style='border:none;"
    "border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in'><p class=MsoNormal><b>From:</b> A<br>"
    "<b>Sent:</b> Monday<br><b>Subject:</b> Hi</p></div></div><p class=MsoNormal>Old text</p></div>",
    "yahoo": '<div>New text</div><div class="yahoo_quoted" id="yahoo_quoted_123"><div>On Monday, A wrote:</div>'
    "<div>Old text</div></div>",
    "yahoo-prefixed": '<div>New text</div><div class="ydp1234yahoo_quoted">On Monday, A wrote:'
    "<div>Old text</div></div>",
    "proton": '<div>New text</div><div class="protonmail_quote">------- Original Message -------<br>'
    'On Monday, A wrote:<blockquote class="protonmail_quote" type="cite">Old text</blockquote></div>',
    "original-message": "<div>New text<br><br><div>-----Original Message-----<br>From: A<br>Old text</div></div>",
    "plain-blockquote": "<p>New text<br><br>1 Jan 2024, A &lt;a@x.org&gt;:</p><blockquote>Old text</blockquote>",
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_split_finds_the_quote(name: str) -> None:
    source = REPLIES[name]
    new, quoted = split_html_reply(source)
    assert "New text" in BeautifulSoup(new, "html.parser").get_text()
    assert "Old text" not in BeautifulSoup(new, "html.parser").get_text()
    assert "Old text" in BeautifulSoup(quoted, "html.parser").get_text()
    assert soup_text(new) + soup_text(quoted) == soup_text(source)


@pytest.mark.parametrize("name", ["gmail", "apple", "thunderbird", "yahoo", "proton", "plain-blockquote"])
def test_split_quoted_part_has_the_attribution(name: str) -> None:
    new, quoted = split_html_reply(REPLIES[name])
    assert "A" in BeautifulSoup(quoted, "html.parser").get_text().split("Old text")[0]
    assert "wrote" not in new and "a@x.org" not in new


def test_split_attribution_is_only_the_last_line() -> None:
    new, quoted = split_html_reply(REPLIES["plain-blockquote"])
    assert html_to_markdown(new, {}) == "New text"
    assert html_to_markdown(quoted, {}).startswith("1 Jan 2024, A \\<a\\@x\\.org>:")


def test_split_nothing_found() -> None:
    for source in [
        "<p>Just a message</p>",
        "",
        "plain text",
        "<blockquote>A quote I like</blockquote>",
        "<p>He said:</p><p>hello</p>",
    ]:
        assert split_html_reply(source) == (source, "")


def test_split_deep_nesting_does_not_raise() -> None:
    source = (
        "<div>" * 1500 + 'New<div class="gmail_quote">On A wrote:<blockquote>Old</blockquote></div>' + "</div>" * 1500
    )
    new, quoted = split_html_reply(source)
    assert soup_text(new) + soup_text(quoted) == soup_text(source)


def test_split_too_deep_to_walk_is_kept_whole_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    # The attribution line sits 1500 blocks deep: looking for it exceeds the recursion limit.
    source = "<div>" * 1500 + "On Mon, 1 Jan 2024, Ann Secret wrote:" + "</div>" * 1500 + "<blockquote>Old</blockquote>"
    with caplog.at_level(logging.WARNING, logger="mailgateway.htmlquotes"):
        assert split_html_reply(source) == (source, "")
    assert [r.getMessage() for r in caplog.records] == ["HTML reply not split (RecursionError); kept whole"]


def test_an_html_reply_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Splitting off the quote and converting both halves work on one parse of the body."""
    import mailgateway.htmltree as htmltree
    from mailgateway.parse import parse_message

    parsed: list[int] = []

    class CountingSoup(BeautifulSoup):
        def __init__(self, markup: str = "", *args: object, **kwargs: object) -> None:
            if markup:
                parsed.append(len(markup))
            super().__init__(markup, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(htmltree, "BeautifulSoup", CountingSoup)
    message = email.message.EmailMessage()
    message["From"] = "a@x.org"
    message["Subject"] = "Re: rota"
    message.set_content(
        '<div>New <b>text</b></div><div class="gmail_quote">On Mon, A wrote:<blockquote>Old</blockquote></div>',
        subtype="html",
    )
    mail = parse_message(message.as_bytes(), dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    assert (mail.body, mail.quoted) == ("New **text**", "On Mon, A wrote:\n\n> Old")
    assert len(parsed) == 1


def test_split_first_marker_wins() -> None:
    source = (
        '<div>New</div><div class="gmail_quote">On A wrote:<blockquote type="cite">Old'
        '<div class="gmail_quote">Older</div></blockquote></div>'
    )
    new, quoted = split_html_reply(source)
    assert soup_text(new) == "New"
    assert soup_text(quoted) == "OnAwrote:OldOlder"


TAGS = ["div", "p", "span", "blockquote", "b", "table", "tr", "td", "br", "hr", "pre", "a"]
ATTRS = [
    "",
    ' class="gmail_quote"',
    ' type="cite"',
    ' class="moz-cite-prefix"',
    ' id="divRplyFwdMsg"',
    ' id="appendonsend"',
    ' class="yahoo_quoted"',
    ' class="protonmail_quote"',
    ' style="border-top:solid #E1E1E1 1.0pt"',
    ' id="stopSpelling"',
]
WORDS = [
    "New",
    "Old",
    "From:",
    "Sent:",
    "Subject:",
    "wrote:",
    "On Monday,",
    "-----Original Message-----",
    " ",
    "&lt;",
    "&amp;",
    "é",
    "\n",
]


@st.composite
def html_documents(draw: st.DrawFn) -> str:
    pieces: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 3))
        if kind == 0:
            pieces.append(f"<{draw(st.sampled_from(TAGS))}{draw(st.sampled_from(ATTRS))}>")
        elif kind == 1:
            pieces.append(f"</{draw(st.sampled_from(TAGS))}>")
        else:
            pieces.append(draw(st.sampled_from(WORDS)))
    return "".join(pieces)


@settings(max_examples=400, deadline=None)
@given(html_documents())
def test_split_property_never_raises_and_keeps_text(source: str) -> None:
    new, quoted = split_html_reply(source)
    assert soup_text(new) + soup_text(quoted) == soup_text(source)
    if not quoted:
        assert new == source


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_split_property_arbitrary_text(source: str) -> None:
    new, quoted = split_html_reply(source)
    assert soup_text(new) + soup_text(quoted) == soup_text(source)


@settings(max_examples=200, deadline=None)
@given(html_documents())
def test_html_property_random_markup_converts_safely(source: str) -> None:
    rendered = render_post_markdown(html_to_markdown(source, {}))
    assert "<script" not in rendered and "<img" not in rendered


# ---------------------------------------------------------------------------
# real messages (read in place from the shared corpus)
# ---------------------------------------------------------------------------


def corpus_html_parts() -> list[tuple[str, str]]:
    if not CORPUS.is_dir():
        return []
    parts = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.suffix not in (".eml", ".txt", ""):
            continue
        data = path.read_bytes()
        if b"text/html" not in data.lower():
            continue
        message = email.message_from_bytes(data, policy=email.policy.default)
        for index, part in enumerate(message.walk()):
            if part.get_content_type() == "text/html":
                try:
                    parts.append((f"{path.relative_to(CORPUS)}#{index}", part.get_content()))
                except (LookupError, ValueError):
                    continue
    return parts


def corpus_plain_texts() -> list[tuple[str, str]]:
    """Every plain-text body in the corpus: text/plain parts of messages, and the bare body files."""
    if not CORPUS.is_dir():
        return []
    texts = []
    for path in sorted(CORPUS.rglob("*")):
        if not path.is_file() or path.suffix in (".html", ".md", ".py") or path.stat().st_size > 200_000:
            continue
        data = path.read_bytes()
        name = str(path.relative_to(CORPUS))
        message = email.message_from_bytes(data, policy=email.policy.default)
        parts = [p for p in message.walk() if p.get_content_type() == "text/plain"] if message.keys() else []
        if not parts:
            texts.append((name, data.decode("utf-8", "replace")))
        for index, part in enumerate(parts):
            try:
                body = part.get_content()
            except (LookupError, ValueError):
                continue
            if str(part.get_param("format", "")).lower() == "flowed":
                body = decode_flowed(body, delsp=str(part.get_param("delsp", "")).lower() == "yes")
            texts.append((f"{name}#{index}", body))
    return texts


def talon_html_files() -> list[Path]:
    if not TALON.is_dir():
        return []
    files = sorted((TALON / "html_replies").glob("*.html"))
    return files + [TALON / "OLK_SRC_BODY_SECTION.html", TALON / "reply-separated-by-hr.html"]


def need_corpus() -> None:
    if not TALON.is_dir():
        skip_or_fail("shared corpus not present")


def test_corpus_talon_html_replies_convert_and_split() -> None:
    need_corpus()
    files = talon_html_files()
    assert len(files) >= 11
    found = 0
    for path in files:
        source = path.read_text(encoding="utf-8", errors="replace")
        markdown = html_to_markdown(source, {})
        assert markdown.strip(), path.name
        assert "{" not in markdown.replace("\\{", ""), path.name  # no CSS leaked
        assert "mso-" not in markdown and "font-family" not in markdown, path.name
        render_post_markdown(markdown)
        new, quoted = split_html_reply(source)
        assert soup_text(new) + soup_text(quoted) == soup_text(source), path.name
        if quoted:
            found += 1
            new_text = shown(html_to_markdown(new, {}))
            quoted_text = shown(html_to_markdown(quoted, {}))
            assert "How are you" not in new_text and "Hi" not in quoted_text.split("\n")[0], path.name
    # Measured: all 11 (9 html_replies, OLK_SRC_BODY_SECTION, reply-separated-by-hr) have a quote found.
    assert found >= 11


def test_corpus_talon_new_parts_are_the_reply() -> None:
    need_corpus()
    for path in sorted((TALON / "html_replies").glob("*.html")):
        new, _ = split_html_reply(path.read_text(encoding="utf-8", errors="replace"))
        text = shown(html_to_markdown(new, {}))
        assert text.startswith("Hi. I am fine."), (path.name, text)
        assert "Thanks," in text and "Alex" in text, path.name
        assert "Hello!" not in text and "Sasha" not in text, path.name


def test_corpus_html_parts_convert() -> None:
    parts = corpus_html_parts()
    if not parts:
        skip_or_fail("shared corpus not present")
    found = 0
    for name, source in parts:
        markdown = html_to_markdown(source, {})
        rendered = render_post_markdown(markdown)
        assert "<script" not in rendered and "<style" not in rendered, name
        assert "<img" not in rendered, name  # remote images stay links
        if "<p" in source.lower() or "<div" in source.lower():
            assert markdown.strip(), name
        new, quoted = split_html_reply(source)
        assert soup_text(new) + soup_text(quoted) == soup_text(source), name
        found += bool(quoted)
    # Measured: 30 HTML parts in the corpus, 10 with a recognisable quote marker.
    assert len(parts) >= 30
    assert found >= 10


def test_corpus_plain_texts_render_as_typed() -> None:
    texts = corpus_plain_texts()
    if not texts:
        skip_or_fail("shared corpus not present")
    # Measured: 597 plain-text bodies (bare body files and text/plain parts), every one renders as typed.
    assert len(texts) >= 590
    for name, text in texts:
        text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) != "Cc")
        assert shown(text_to_markdown(text)) == normalise(text), name


def test_corpus_discourse_replies() -> None:
    path = CORPUS / "discourse-email-fixtures" / "ios_default.eml"
    if not path.is_file():
        skip_or_fail("shared corpus not present")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    source = next(p.get_content() for p in message.walk() if p.get_content_type() == "text/html")
    new, quoted = split_html_reply(source)
    new_md = html_to_markdown(new, {})
    assert new_md.startswith("\\### this is a reply from iOS default mail")
    assert "Here's some \\*\\*bold\\*\\* markdown text." in new_md
    assert "<http://example.com>" in new_md
    assert "wrote" not in new_md
    quoted_md = html_to_markdown(quoted, {})
    assert quoted_md.startswith("On Nov 28, 2014, at 12:35 PM, Arpit Jalan")
    assert "| " not in quoted_md  # the notification's layout tables are not pipe tables
    assert "Test reply." in quoted_md


def test_corpus_outlook_message_is_readable() -> None:
    path = CORPUS / "hyperkitty" / "html-email-1.txt"
    if not path.is_file():
        skip_or_fail("shared corpus not present")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    source = next(p.get_content() for p in message.walk() if p.get_content_type() == "text/html")
    markdown = html_to_markdown(source, {})
    assert markdown.startswith("Bonjour,\n\nVous connaissez ?\n")
    assert "font" not in markdown and "@page" not in markdown
    assert markdown.endswith("Amicalement\nYves")
