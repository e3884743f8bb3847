"""Make the small attachment files used by the demo content (stdlib only).

The demo intranet under ``communities/`` has a few posts with attachments: a
one-page PDF and a few PNG charts. They are made here rather than copied from
anywhere, so they are tiny, free of metadata and reproducible byte for byte.

Use as a library (``make_pdf``, ``make_bar_chart``) or from the shell::

    python docs/demo_attachments.py pdf OUT.pdf "Title" "line two" ...
    python docs/demo_attachments.py bars OUT.png 12,9,14,7 [--target 10]

Nothing here reads the content format; the demo generator decides where the
files go (beside their post, see ``generator.content.attachments_dir``).
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

# --------------------------------------------------------------------------
# PDF: one A4 page of Helvetica text, with a correct cross-reference table.


def _pdf_escape(text: str) -> str:
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(title: str, lines: list[str] | tuple[str, ...] = ()) -> bytes:
    """A minimal valid single-page PDF: a bold title and some body lines."""
    ops = ["BT", "/F2 18 Tf", "56 780 Td", f"({_pdf_escape(title)}) Tj", "ET"]
    y = 748
    for line in lines:
        if line.startswith("## "):
            ops += ["BT", "/F2 12 Tf", f"56 {y} Td", f"({_pdf_escape(line[3:])}) Tj", "ET"]
            y -= 20
            continue
        if line:
            ops += ["BT", "/F1 11 Tf", f"56 {y} Td", f"({_pdf_escape(line)}) Tj", "ET"]
        y -= 16
        if y < 60:
            break
    # a thin rule under the title
    ops += ["0.6 w", "56 770 m", "539 770 l", "S"]
    stream = "\n".join(ops).encode("latin-1")

    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


# --------------------------------------------------------------------------
# PNG: a simple bar chart drawn pixel by pixel.

WHITE = (255, 255, 255)
GRID = (226, 230, 236)
AXIS = (90, 98, 110)
TARGET = (200, 60, 60)
PALETTE = ((46, 117, 182), (84, 160, 120), (232, 150, 54), (140, 100, 180))

# 3x5 digits, so bars can carry their value; each row is 3 bits, left to right.
_DIGITS = {
    "0": (7, 5, 5, 5, 7),
    "1": (2, 6, 2, 2, 7),
    "2": (7, 1, 7, 4, 7),
    "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7),
    "6": (7, 4, 7, 5, 7),
    "7": (7, 1, 1, 1, 1),
    "8": (7, 5, 7, 5, 7),
    "9": (7, 5, 7, 1, 7),
    ".": (0, 0, 0, 0, 2),
    "%": (5, 1, 2, 4, 5),
}


def _png(width: int, height: int, pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def make_bar_chart(
    values: list[float] | tuple[float, ...],
    width: int = 480,
    height: int = 260,
    target: float | None = None,
    colours: tuple[tuple[int, int, int], ...] = PALETTE[:1],
    labels: bool = True,
) -> bytes:
    """A PNG bar chart: light grid, one bar per value, optional target line."""
    pixels = [bytearray(WHITE * width) for _ in range(height)]

    def put(x: int, y: int, colour: tuple[int, int, int]) -> None:
        if 0 <= x < width and 0 <= y < height:
            pixels[y][3 * x : 3 * x + 3] = bytes(colour)

    def rect(x0: int, y0: int, x1: int, y1: int, colour: tuple[int, int, int]) -> None:
        for y in range(max(0, y0), min(height, y1)):
            row = pixels[y]
            for x in range(max(0, x0), min(width, x1)):
                row[3 * x : 3 * x + 3] = bytes(colour)

    def text(x: int, y: int, s: str, colour: tuple[int, int, int], scale: int = 2) -> None:
        for ch in s:
            rows = _DIGITS.get(ch)
            if rows is not None:
                for r, bits in enumerate(rows):
                    for c in range(3):
                        if bits & (4 >> c):
                            rect(x + c * scale, y + r * scale, x + (c + 1) * scale, y + (r + 1) * scale, colour)
            x += 4 * scale

    left, right, top, bottom = 36, width - 16, 18, height - 28
    top_value = max(list(values) + ([target] if target is not None else [])) or 1
    top_value *= 1.15
    for i in range(1, 5):  # grid lines
        y = bottom - round((bottom - top) * i / 4)
        rect(left, y, right, y + 1, GRID)
    n = max(1, len(values))
    slot = (right - left) / n
    tops: list[tuple[int, int, int, float]] = []
    for i, value in enumerate(values):
        x0 = round(left + slot * i + slot * 0.18)
        x1 = round(left + slot * (i + 1) - slot * 0.18)
        y0 = bottom - round((bottom - top) * value / top_value)
        rect(x0, y0, x1, bottom, colours[i % len(colours)])
        tops.append((x0, x1, y0, value))
    rect(left, top, left + 2, bottom + 1, AXIS)  # axes
    rect(left, bottom, right, bottom + 2, AXIS)
    if target is not None:
        y = bottom - round((bottom - top) * target / top_value)
        for x in range(left, right, 8):
            rect(x, y, x + 5, y + 2, TARGET)
    if labels:  # after the target line, so it never strikes through a value
        for x0, x1, y0, value in tops:
            label = f"{value:g}"
            lx, ly = x0 + max(0, (x1 - x0 - len(label) * 8) // 2), y0 - 14
            rect(lx - 2, ly - 2, lx + len(label) * 8, ly + 12, WHITE)
            text(lx, ly, label, AXIS)
    return _png(width, height, pixels)


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "pdf":
        Path(argv[1]).write_bytes(make_pdf(argv[2], argv[3:]))
        return 0
    if len(argv) >= 3 and argv[0] == "bars":
        target = None
        rest = argv[3:]
        if len(rest) == 2 and rest[0] == "--target":
            target = float(rest[1])
        values = [float(v) for v in argv[2].split(",") if v]
        Path(argv[1]).write_bytes(make_bar_chart(values, target=target))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
