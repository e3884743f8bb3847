"""A tree's sitemap, kept in memory and split so an update rewrites only a small part of it (pure).

Up to ``SPLIT_ABOVE`` pages the tree has one ``sitemap.xml`` listing every page. Beyond, ``sitemap.xml``
is a sitemap index (sitemaps.org) of ``sitemaps/<n>.xml`` files, and each page is listed in file
``crc32(location) mod files``, where ``files`` is the smallest power of two that keeps them at
``PER_FILE`` pages or fewer on average: a page that comes or goes rewrites one small file, not a
list of every page (a file of tens of thousands of lines, and its gzip copy, on each new topic).
``sitemap.xml.gz`` is the gzip of ``sitemap.xml``, as MkDocs writes it. Locations are in sorted
order in every file; the files depend only on the set of pages, however that set was reached.
The limits are read when the files are made, so a test may shrink them for a while.
"""

from __future__ import annotations

import gzip
import zlib
from xml.sax.saxutils import escape as xml_escape

SITEMAP = "sitemap.xml"
PACKED = "sitemap.xml.gz"
FOLDER = "sitemaps"
SPLIT_ABOVE = 2000  # pages listed in one sitemap.xml before it becomes an index
PER_FILE = 1000  # pages per file of a split sitemap, on average at most


def file_count(pages: int) -> int:
    """How many files list ``pages`` pages (1: ``sitemap.xml`` alone)."""
    if pages <= SPLIT_ABOVE:
        return 1
    count = 2
    while count * PER_FILE < pages:
        count *= 2
    return count


def part_path(number: int) -> str:
    return f"{FOLDER}/{number}.xml"


def urlset(base: str, locations: list[str]) -> bytes:
    """A sitemap listing ``locations`` (relative to ``base``), in a stable order, without dates."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">']
    lines += [f"  <url><loc>{xml_escape(base + location)}</loc></url>" for location in locations]
    lines.append("</urlset>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def sitemap_index(base: str, count: int) -> bytes:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ]
    lines += [f"  <sitemap><loc>{xml_escape(base + part_path(n))}</loc></sitemap>" for n in range(count)]
    lines.append("</sitemapindex>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def base_of(site_url: str) -> str:
    return site_url.rstrip("/") + "/" if site_url else "/"


class Sitemap:
    """The pages of one tree, by the file of the sitemap that lists them; what changed since the last write."""

    def __init__(self) -> None:
        self.count = 0  # files the pages were last written in (0: never)
        self.parts: dict[int, set[str]] = {}  # file number -> locations (one file: everything in 0)
        self.dirty: set[int] = set()  # files whose pages changed since the last write

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts.values())

    def add(self, location: str) -> None:
        number = self._number(location)
        part = self.parts.setdefault(number, set())
        if location not in part:
            part.add(location)
            self.dirty.add(number)

    def discard(self, location: str) -> None:
        number = self._number(location)
        part = self.parts.get(number)
        if part is not None and location in part:
            part.discard(location)
            self.dirty.add(number)

    def files(self, site_url: str) -> dict[str, bytes | None]:
        """The files to write (relpath -> bytes) or remove (None) since the last call."""
        base = base_of(site_url)
        count = file_count(len(self))
        result: dict[str, bytes | None] = {}
        if count != self.count:
            if self.count > 1:
                result.update({part_path(n): None for n in range(self.count)})
            locations = [loc for part in self.parts.values() for loc in part]
            self.count = count
            self.parts = {n: set() for n in range(count)}
            for location in locations:
                self.parts[self._number(location)].add(location)
            self.dirty = set(range(count))
            index = sitemap_index(base, count) if count > 1 else None
            if index is not None:
                result[SITEMAP], result[PACKED] = index, gzip.compress(index, mtime=0)
        for number in sorted(self.dirty):
            data = urlset(base, sorted(self.parts.get(number, ())))
            if count == 1:
                result[SITEMAP], result[PACKED] = data, gzip.compress(data, mtime=0)
            else:
                result[part_path(number)] = data
        self.dirty = set()
        return result

    def _number(self, location: str) -> int:
        if self.count <= 1:
            return 0
        return zlib.crc32(location.encode("utf-8")) % self.count
