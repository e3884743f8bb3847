"""RFC 3676 ``format=flowed`` plain text, decoded (pure).

Mail clients that send ``format=flowed`` break long lines with a trailing
space ("soft" breaks) so that the receiver can join them again;
:func:`decode_flowed` undoes that, and turns the quote marks it finds into
``"> "`` prefixes.
"""

from __future__ import annotations

__all__ = ["decode_flowed"]


def _quoted(depth: int, text: str) -> str:
    if not depth:
        return text
    return ">" * depth + (" " + text if text else "")


def decode_flowed(text: str, delsp: bool = False) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (trailing space), handle space-stuffing and quote depth,
    DelSp=yes.

    A line ending in a space is joined with the next line of the same quote
    depth; with ``delsp`` that space is removed (DelSp=yes). One leading space
    after the quote marks is space-stuffing and is removed. The signature
    separator ``"-- "`` is never flowed. Quoted lines come out as ``"> text"``
    (``">> text"`` for depth 2, and so on).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    final_newline = text.endswith("\n")
    if final_newline:
        text = text[:-1]
    out: list[str] = []
    paragraph: list[str] | None = None
    paragraph_depth = 0
    for raw in text.split("\n"):
        body = raw.lstrip(">")
        depth = len(raw) - len(body)
        if body.startswith(" "):
            body = body[1:]
        flowed = body.endswith(" ") and body != "-- "
        if paragraph is not None and depth != paragraph_depth:
            # A flowed line followed by a different quote depth: RFC 3676 4.5 says treat it as fixed.
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = None
        if flowed:
            if delsp:
                body = body[:-1]
            if paragraph is None:
                paragraph = []
                paragraph_depth = depth
            paragraph.append(body)
            continue
        if paragraph is not None:
            paragraph.append(body)
            out.append(_quoted(paragraph_depth, "".join(paragraph)))
            paragraph = None
        else:
            out.append(_quoted(depth, body))
    if paragraph is not None:
        out.append(_quoted(paragraph_depth, "".join(paragraph)))
    return "\n".join(out) + ("\n" if final_newline else "")
