"""The markdownify converter for mail HTML (pure).

:class:`MailConverter` turns a body cleaned by
:func:`mailgateway.htmlclean.clean_html` into Markdown for
:func:`intranet.render.render_post_markdown`: text escaped with
:func:`mailgateway.plaintext.escape_inline`, only http, https and mailto
links, ``cid:`` images as attachments, remote images as links, headings
demoted to ``###`` and below, data tables as pipe tables, and emphasis only
where CommonMark will read it as emphasis. :func:`mailgateway.htmlmail.html_to_markdown`
drives it.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

from bs4 import NavigableString, Tag
from bs4.element import PageElement
from markdownify import MarkdownConverter

from .htmltree import (
    BLOCK_TAGS,
    at_line_start,
    attr_text,
    class_names,
    contains,
    is_blank,
    is_block,
    link_follows,
    neighbour,
    row_cells,
    style_text,
    table_rows,
)
from .plaintext import ASCII_PUNCT, autolink_ok, escape_inline, link_destination, text_to_markdown

__all__ = ["MailConverter"]

_SPACE_RE = re.compile(r"[\t\n\r\f\v \u00a0]+")
_TIGHT_MARGIN_RE = re.compile(r"(?:^|;)\s*margin\s*:\s*0(?:px|pt|in|cm|em)?\s*(?:;|$)", re.IGNORECASE)
_WRAPPING_BLOCKS = BLOCK_TAGS - {"br"}
_CODE_TAGS = frozenset({"code", "tt", "kbd", "samp"})


def _is_md_punct(char: str) -> bool:
    return char in ASCII_PUNCT or unicodedata.category(char).startswith(("P", "S"))


def _can_open(before: str, first: str) -> bool:
    if first.isspace():
        return False
    return not _is_md_punct(first) or not before or before.isspace() or _is_md_punct(before)


def _can_close(last: str, after: str) -> bool:
    if last.isspace():
        return False
    return not _is_md_punct(last) or not after or after.isspace() or _is_md_punct(after)


def _clean_href(href: str) -> str | None:
    href = re.sub(r"[\t\r\n]", "", href).strip()
    lowered = href.lower()
    if lowered.startswith(("http://", "https://")) and len(href) > len("https://"):
        return href
    if lowered.startswith("mailto:") and len(href) > len("mailto:"):
        return href
    return None


def _fence(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def _newlines(count: int) -> str:
    return "\n" * max(1, min(2, count))


def _escape_trailing_bang(markdown: str) -> str:
    """Escape a final "!" unless a backslash already escapes it."""
    if not markdown.endswith("!"):
        return markdown
    backslashes = len(markdown[:-1]) - len(markdown[:-1].rstrip("\\"))
    return markdown if backslashes % 2 else markdown[:-1] + "\\!"


def _chomp(text: str) -> tuple[str, str, str]:
    """Split text into leading whitespace, the words, and trailing whitespace (so markup hugs the words)."""
    body = text.strip()
    if not body:
        return text, "", ""
    start = text.index(body[0])
    return text[:start], text[start + len(body) :], body


def _lead(prefix: str, el: PageElement) -> str:
    """Leading whitespace of an inline element, minus spaces that would indent a new line."""
    if " " not in prefix or not at_line_start(el):
        return prefix
    return prefix[: prefix.rindex("\n") + 1] if "\n" in prefix else ""


class MailConverter(MarkdownConverter):
    """markdownify tuned for mail: escaped text, safe links, pipe tables, demoted headings.

    markdownify walks the tree and calls ``convert_<tag>(el, text, parent_tags)``
    with the already converted children; ``parent_tags`` holds the names of the
    ancestors plus ``_inline`` (inside a heading or table cell) and ``_noformat``
    (inside code).
    """

    def __init__(self, cid_names: dict[str, str]) -> None:
        super().__init__(
            heading_style="atx",
            bullets="-",
            wrap=True,
            wrap_width=None,
            escape_asterisks=False,
            escape_underscores=False,
            escape_misc=False,
            autolinks=False,
            strip_document="strip",
        )
        self.cid_names = cid_names
        self.cid_lower = {key.lower(): value for key, value in cid_names.items()}
        self.captured: dict[int, str] = {}  # table cells and captions, by id(element)
        self.real_links: dict[int, bool] = {}  # <a> elements that become Markdown links, by id(element)
        self.images: set[str] = set()  # the ![alt](file) we wrote ourselves

    # -- text ---------------------------------------------------------------

    def process_text(self, el: NavigableString, parent_tags: set[str] | None = None) -> str:
        parent_tags = parent_tags or set()
        text = str(el)
        if "pre" in parent_tags:
            return text
        text = _SPACE_RE.sub(" ", text)
        if "_noformat" not in parent_tags:
            mode = "link" if "a" in parent_tags and self._in_link_label(el) else "flow"
            before = neighbour(el, before=True)[0]
            text = escape_inline(text, mode=mode, line_start=at_line_start(el), html=True, before=before)
            if link_follows(el):
                text = _escape_trailing_bang(text)  # "!" then "[...](...)" would make an image
        previous, following = el.previous_sibling, el.next_sibling
        in_block = el.parent is not None and el.parent.name in BLOCK_TAGS
        if (isinstance(previous, Tag) and previous.name == "br") or is_block(previous) or (in_block and not previous):
            text = text.lstrip(" ")
        if is_block(following) or (in_block and not following):
            text = text.rstrip(" ")
        return text

    def _in_link_label(self, el: PageElement) -> bool:
        """Whether this text ends up inside ``[...](url)``, where linkify does not run."""
        for parent in el.parents:
            if parent.name == "a":
                key = id(parent)
                if key not in self.real_links:
                    self.real_links[key] = _clean_href(attr_text(parent, "href")) is not None and not contains(
                        parent, _WRAPPING_BLOCKS
                    )
                if self.real_links[key]:
                    return True
        return False

    # -- inline -------------------------------------------------------------

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags or ("a" in parent_tags and self._in_link_label(el)):
            return text  # no links inside links
        href = _clean_href(attr_text(el, "href"))
        if href is None:
            return text  # javascript:, data:, relative: keep the words, drop the target
        if contains(el, _WRAPPING_BLOCKS):
            # A "button": <a><div>..</div></a>. A link label is one paragraph, so keep just its words.
            label = escape_inline(" ".join(el.get_text(" ").split()), mode="link")
            return "\n\n[" + label + "](" + link_destination(href) + ")\n\n" if label else text
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix
        body = re.sub(r"\n[ \t]*\n\s*", "\n", body)  # a link label cannot hold a blank line
        if " ".join(el.get_text().split()) == href and autolink_ok(href):
            return prefix + "<" + href + ">" + suffix
        return prefix + "[" + body + "](" + link_destination(href) + ")" + suffix

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        src = attr_text(el, "src").strip()
        alt = " ".join((attr_text(el, "alt") or attr_text(el, "title")).split())
        if attr_text(el, "width").strip() in ("0", "1", "2") or attr_text(el, "height").strip() in ("0", "1", "2"):
            return ""  # tracking pixel
        if "_noformat" in parent_tags:
            return alt
        in_label = "a" in parent_tags and self._in_link_label(el)
        label = escape_inline(alt, mode="link")
        # Alt text shown in place of the image is ordinary text, possibly at the start of a line.
        plain = label if in_label else escape_inline(alt, line_start=True, html=True)
        plain = _escape_trailing_bang(plain)  # a link right after it would make "!" + "[..](..)" an image
        lowered = src.lower()
        if lowered.startswith("cid:"):
            name = self._cid_name(src[4:])
            if name:
                image = "![" + label + "](" + link_destination(name) + ")"
                self.images.add(image)
                return image
            return plain
        if lowered.startswith(("http://", "https://")):
            caption = escape_inline("image: " + alt if alt else "image", mode="link")
            if in_label:
                return label or caption  # no link inside a link; the outer link keeps the target
            return "[" + caption + "](" + link_destination(src) + ")"
        return plain

    def _cid_name(self, ref: str) -> str | None:
        for key in (ref.strip().strip("<>"), unquote(ref).strip().strip("<>")):
            if key in self.cid_names:
                return self.cid_names[key]
            if key.lower() in self.cid_lower:
                return self.cid_lower[key.lower()]
        return None

    def convert_br(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if ("_inline" in parent_tags or "_noformat" in parent_tags) and "pre" not in parent_tags:
            return " "  # a table cell, heading or code span is one line
        return "\n"  # the renderer has breaks=True: a newline is a line break

    def convert_code(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_noformat" in parent_tags:
            return text
        if contains(el, _WRAPPING_BLOCKS):  # <code><p>..</p></code>: no span can hold that; keep the words
            return "\n\n" + text_to_markdown(" ".join(el.get_text(" ").split())) + "\n\n"
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix
        # Two code spans touching ("`a``b`") would read as one: keep a space between them.
        if not prefix:
            char, marked = neighbour(el, before=True, marks=_CODE_TAGS)
            prefix = " " if marked and char and not char.isspace() else ""
        if not suffix:
            char, marked = neighbour(el, before=False, marks=_CODE_TAGS)
            suffix = " " if marked and char and not char.isspace() else ""
        longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
        if longest:
            body = " " + body + " "
        result = prefix + "`" * (longest + 1) + body + "`" * (longest + 1) + suffix
        if "table" in parent_tags and ("td" in parent_tags or "th" in parent_tags):
            result = result.replace("|", "\\|")  # GFM tables split on | even inside code
        return result

    convert_kbd = convert_code
    convert_samp = convert_code
    convert_tt = convert_code

    def _emphasis(self, el: Tag, text: str, parent_tags: set[str], marker: str, family: tuple[str, ...]) -> str:
        if "_noformat" in parent_tags or any(name in parent_tags for name in family):
            return text  # nested <b><b>: one level of markup is enough
        if contains(el, _WRAPPING_BLOCKS):
            return text  # <b><p>..</p></b>: markers cannot wrap blocks
        prefix, suffix, body = _chomp(text)
        prefix = _lead(prefix, el)
        if not body:
            return prefix  # <b> </b> is still a space
        if re.search(r"\n[ \t]*\n", body):
            return text  # emphasis cannot span paragraphs
        before, before_marked = (prefix[-1:], False) if prefix else neighbour(el, before=True)
        after, after_marked = (suffix[:1], False) if suffix else neighbour(el, before=False)
        touching = (before_marked and not before.isspace()) or (after_marked and not after.isspace())
        if touching or not (_can_open(before, body[0]) and _can_close(body[-1], after)):
            return prefix + body + suffix  # CommonMark would not see the markers as emphasis
        return prefix + marker + body + marker + suffix

    def convert_b(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "**", ("b", "strong"))

    def convert_i(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "*", ("i", "em"))

    def convert_s(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return self._emphasis(el, text, parent_tags, "~~", ("s", "del", "strike"))

    convert_strong = convert_b
    convert_em = convert_i
    convert_del = convert_s
    convert_strike = convert_s

    def convert_sub(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # no Markdown for it; keep the words (and any blocks inside) as they are

    convert_sup = convert_sub

    def convert_hr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return " " if "_inline" in parent_tags else "\n\n***\n\n"  # not "---": "- - ---" is one rule

    def convert_q(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return '"' + text + '"'

    def convert_video(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return ""

    # -- blocks -------------------------------------------------------------

    def convert_div(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        body = text.strip(" \t\r\n")
        if not body:
            # An empty block still ends the line; one holding a <br> or a blank paragraph is a blank line.
            return "\n\n" if "\n" in text or el.find("br") is not None else "\n"
        leading = text[: len(text) - len(text.lstrip(" \t\r\n"))].count("\n")
        trailing = text[len(text.rstrip(" \t\r\n")) :].count("\n")
        return _newlines(leading) + body + _newlines(trailing)

    convert_article = convert_div
    convert_section = convert_div
    convert_center = convert_div
    convert_header = convert_div
    convert_footer = convert_div
    convert_main = convert_div
    convert_nav = convert_div
    convert_aside = convert_div
    convert_address = convert_div
    convert_figure = convert_div
    convert_figcaption = convert_div
    convert_details = convert_div
    convert_summary = convert_div
    convert_fieldset = convert_div
    convert_form = convert_div
    convert_dl = convert_div
    convert_dt = convert_div
    convert_dd = convert_div

    def convert_p(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        text = text.strip(" \t\r\n")
        tight = any(c.startswith("Mso") for c in class_names(el)) or _TIGHT_MARGIN_RE.search(style_text(el))
        if tight:  # Outlook writes one <p class=MsoNormal> per line, empty ones for blank lines
            return "\n" + text + "\n" if text else "\n\n"
        return "\n\n" + text + "\n\n" if text else "\n"

    def convert_hN(self, n: int, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        text = " ".join(text.split())  # blocks inside a heading were flattened (_inline)
        if not text:
            return "\n"
        text = re.sub(r"(^|\s)(#+)$", r"\1\\\2", text)  # a trailing " #" would be read as a closing sequence
        return "\n\n" + "#" * max(3, min(6, n + 2)) + " " + text + "\n\n"

    def convert_pre(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + escape_inline(" ".join(el.get_text().split()), line_start=True, html=True) + " "
        if not text.strip():
            return "\n"
        if "moz-quote-pre" in class_names(el) or "moz-signature" in class_names(el):
            return "\n\n" + text_to_markdown(el.get_text()) + "\n\n"  # Thunderbird's plain-text quotes
        text = el.get_text().strip("\n")  # only the characters: markup inside <pre> would show as text
        fence = _fence(text)
        return "\n\n" + fence + "\n" + text + "\n" + fence + "\n\n"

    def convert_blockquote(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip(" \t\r\n")
        if "_inline" in parent_tags:
            return " " + text + " "
        if not text:
            return "\n"
        quoted = "\n".join("> " + line if line else ">" for line in text.split("\n"))
        return "\n\n" + quoted + "\n\n"

    def convert_ul(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + text.strip() + " "
        return "\n\n" + text.strip("\n") + "\n\n" if text.strip() else "\n"

    convert_ol = convert_ul

    def convert_li(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        text = text.strip()
        if "_inline" in parent_tags:
            return " " + text + " "
        if not text:
            return "\n"
        parent = el.parent
        if parent is not None and parent.name == "ol":
            start = attr_text(parent, "start").strip()
            first = min(int(start), 10**8) if start.isdigit() else 1
            index = first + sum(1 for s in el.previous_siblings if isinstance(s, Tag) and s.name == "li")
            bullet = f"{index}. "
        else:
            bullet = "- "
        indent = " " * len(bullet)
        lines = text.split("\n")
        body = "\n".join([lines[0]] + [indent + line if line else "" for line in lines[1:]])
        previous = el.previous_sibling
        while previous is not None and is_blank(previous):
            previous = previous.previous_sibling
        # Always on a line of its own; after stray text in the list, a blank line too ("2." cannot
        # interrupt a paragraph).
        lead = "\n" if previous is None or (isinstance(previous, Tag) and previous.name == "li") else "\n\n"
        return lead + bullet + body + "\n"

    # -- tables -------------------------------------------------------------

    def convert_td(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        self.captured[id(el)] = " ".join(text.split("\n")).strip()
        return text

    convert_th = convert_td

    def convert_tr(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        return text  # the table assembles its rows from the captured cells

    def convert_caption(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        self.captured[id(el)] = " ".join(text.split())
        return self.convert_div(el, text, parent_tags)

    def convert_table(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if "_inline" in parent_tags:
            return " " + " ".join(text.split()) + " "
        rows: list[list[str]] = []
        for tr in table_rows(el):
            cells: list[str] = []
            for cell in row_cells(tr):
                cells.append(self.captured.get(id(cell), ""))
                span = attr_text(cell, "colspan").strip()
                if span.isdigit():
                    cells.extend([""] * (min(int(span), 50) - 1))
            rows.append(cells)
        width = max((len(row) for row in rows), default=0)
        if not any(cell for row in rows for cell in row):
            return "\n"
        if width <= 1 or len(rows) <= 1:
            return "\n\n" + "\n".join(cell for row in rows for cell in row if cell) + "\n\n"
        lines = []
        for index, row in enumerate(rows):
            row = row + [""] * (width - len(row))
            lines.append("| " + " | ".join(row) + " |")
            if index == 0:
                lines.append("|" + " --- |" * width)
        caption = el.find("caption", recursive=False)
        title = self.captured.get(id(caption), "") if caption is not None else ""
        return "\n\n" + (title + "\n\n" if title else "") + "\n".join(lines) + "\n\n"
