"""Notifications' plain text (issue #18, in part): what the page shows, as text a mail client shows well."""

from __future__ import annotations

from intranet.readable import html_to_readable
from intranet.render import excerpt, render_post_markdown
from mailgateway.plaintext import text_to_markdown


def as_sent(typed: str) -> str:
    """A plain-text body as the gateway keeps it (escaped Markdown) and the notification's text of it."""
    return html_to_readable(render_post_markdown(text_to_markdown(typed)))


def test_plain_text_comes_back_as_typed_without_markdown_escapes() -> None:
    typed = (
        "Our ISBAR order:\n- Identify\n- Situation\n\n"
        "Ward | Score\n7 | 92%\n\n*bold* stays, so do \\ and <b>tags</b> -- and # not a heading\n"
        "1. first\n2. second"
    )
    # (nothing escaped, nothing lost; a list now a list, set apart by a blank line)
    assert as_sent(typed) == typed.replace("order:\n- Identify", "order:\n\n- Identify")
    assert "\\-" not in as_sent("- a\n- b") and "\\|" not in as_sent("a|b")


def test_structure_becomes_readable_text() -> None:
    html = render_post_markdown(
        "Some **bold** and a [guide](https://example.org/guide), https://example.org/plain, "
        "and ![card](att-1.png)\n\n"
        "| Ward | Score |\n|---|---|\n| 7 | 92% |\n\n"
        "```\ncode  kept\n  as written\n```\n\n"
        "- a list item long enough to be wrapped at seventy-two characters, with a hanging indent\n"
        "  - nested\n- b\n\n"
        "> a quote\n>\n> its second paragraph\n\n"
        "3. numbered from three\n4. four",
        {"att-1.png": "https://intranet.example/att-1.png"},
    )
    assert html_to_readable(html) == (
        "Some bold and a guide [1], https://example.org/plain, and [card]\n\n"
        "Ward | Score\n7 | 92%\n\n"
        "code  kept\n  as written\n\n"
        "- a list item long enough to be wrapped at seventy-two characters, with\n"
        "  a hanging indent\n"
        "  - nested\n- b\n\n"
        "> a quote\n>\n> its second paragraph\n\n"
        "3. numbered from three\n4. four\n\n"
        "[1] https://example.org/guide"
    )


def test_an_excerpt_is_words_never_markdown() -> None:
    body = "See ![the card](att-1.png) and [the guide](https://example.org/g) \\- " + "word " * 80
    short = excerpt(body, 60)
    assert short.startswith("See and the guide - word") and short.endswith("…")
    assert "](" not in short and "\\" not in short and len(short) < 80
