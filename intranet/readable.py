"""A post's safe HTML as plain text that reads well in a mail client (pure).

Notifications carry the post twice: as HTML (the rendered post) and as plain text for the
clients, filters and screen readers that read that part. The plain text is made from the rendered
HTML, not from the stored Markdown, so it shows what the page shows and none of Markdown's
escapes (``\\-``, ``\\|``) or syntax (``[card](att-1.png)``): paragraphs wrapped at
:data:`WIDTH`, line breaks where the sender put them, lists as ``-`` or ``1.`` items, quotes as
``> `` lines, table rows as cells between `` | ``, code as written, and each link's address
listed once below the text as ``[1] https://...``, its place marked ``[1]``.
"""

from __future__ import annotations

import textwrap
from html.parser import HTMLParser

WIDTH = 72
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "ul", "ol", "table", "hr", "details"}


def html_to_readable(fragment: str, width: int = WIDTH) -> str:
    """``fragment`` (sanitised post HTML) as plain text, links listed at the end."""
    reader = _Reader()
    reader.feed(fragment)
    reader.close()
    text = ""
    for kind, block in reader.blocks:
        wrapped = _wrap(kind, block, width)
        if wrapped:  # (two paragraphs of one quote: a quoted blank line between them)
            between = "\n>\n" if kind.startswith(">") and text.rpartition("\n")[2].startswith(">") else "\n\n"
            text += (between if text else "") + wrapped
    if reader.links:
        text += "\n\n" + "\n".join(f"[{n}] {url}" for n, url in enumerate(reader.links, start=1))
    return text.strip("\n")


def _wrap(kind: str, text: str, width: int) -> str:
    """One block: ``kind`` is "" (a paragraph), "pre", or the prefix of each of its lines ("> ")."""
    if kind == "pre":
        return text.strip("\n")
    lines = []
    for line in text.strip("\n").split("\n"):
        indent = line[: len(line) - len(line.lstrip())]
        hang = " " * len(indent + _marker(line.lstrip()))
        filled = textwrap.fill(
            line.strip(),
            width=max(width - len(kind), 20),
            initial_indent=indent,
            subsequent_indent=hang,
            break_long_words=False,
            break_on_hyphens=False,
        )
        lines += [kind + part if part else kind.rstrip() for part in (filled.split("\n") if filled else [""])]
    return "\n".join(lines)


def _marker(line: str) -> str:
    """The list marker a line starts with ("- ", "12. "), so its continuation lines hang under the text."""
    if line.startswith("- "):
        return "- "
    number, dot, _ = line.partition(". ")
    return number + ". " if dot and number.isdigit() else ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []  # (kind, text)
        self.links: list[str] = []
        self._text: list[str] = []
        self._quote = 0
        self._pre = 0
        self._lists: list[list[int]] = []  # per open list: [next number] (0 for a bulleted one)
        self._href: list[tuple[str | None, int]] = []  # per open link: its address, where its text starts
        self._cells: list[str] = []
        self._in_cell = False

    # -- blocks -----------------------------------------------------------------------

    def _flush(self) -> None:
        text = "".join(self._text)
        self._text = []
        if not text.strip():
            return
        if self._pre:
            self.blocks.append(("pre", ("> " * self._quote) + text if self._quote else text))
        else:
            lines = [" ".join(line.split()) if not line.startswith(" ") else line.rstrip() for line in text.split("\n")]
            self.blocks.append(("> " * self._quote, "\n".join(ln for ln in lines if ln.strip())))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS and not (self._lists and tag in ("ul", "ol", "p", "div")):  # (a list stays one block)
            self._flush()
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1
        elif tag in ("ul", "ol"):
            if self._lists and self._text and not self._text[-1].endswith("\n"):
                self._text.append("\n")
            start = dict(attrs).get("start")
            self._lists.append([int(start) if tag == "ol" and start and start.isdigit() else (1 if tag == "ol" else 0)])
        elif tag == "li":
            depth = "  " * (len(self._lists) - 1)
            counter = self._lists[-1] if self._lists else [0]
            marker = f"{counter[0]}. " if counter[0] else "- "
            if counter[0]:
                counter[0] += 1
            if self._text and not "".join(self._text).endswith("\n"):
                self._text.append("\n")
            self._text.append(depth + marker)
        elif tag == "br":
            self._text.append("\n")
        elif tag == "hr":
            self.blocks.append(("", "-" * 20))
        elif tag == "a":
            self._href.append((dict(attrs).get("href"), len(self._text)))
        elif tag in ("td", "th"):
            self._in_cell = True
            self._cells.append("")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._write(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            href, start = self._href.pop() if self._href else (None, 0)
            shown = "".join(self._text[start:]).strip()
            if href and not href.startswith("mailto:") and shown not in (href, href.removesuffix("/")):
                if href not in self.links:
                    self.links.append(href)
                self._write(f" [{self.links.index(href) + 1}]")
        elif tag in ("td", "th"):
            self._in_cell = False
        elif tag == "tr":
            self._text.append(" | ".join(" ".join(c.split()) for c in self._cells) + "\n")
            self._cells = []
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            if not self._lists:
                self._flush()
        elif tag in ("p", "div") and self._lists:
            return  # (a paragraph in a list item)
        elif tag in _BLOCKS:
            self._flush()
            if tag == "blockquote":
                self._quote = max(self._quote - 1, 0)
            elif tag == "pre":
                self._pre = max(self._pre - 1, 0)

    def handle_data(self, data: str) -> None:
        self._write(data)

    def _write(self, text: str) -> None:
        if self._in_cell:
            self._cells[-1] += text
        elif self._pre:
            self._text.append(text)
        else:
            text = text.replace("\n", " ")
            if not self._text or self._text[-1].endswith("\n"):
                text = text.lstrip()  # (the source's own line break after a <br> or an item)
            if text:
                self._text.append(text)

    def close(self) -> None:
        super().close()
        self._flush()
