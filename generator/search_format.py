"""The files of the sharded search index (pure): their format, constants, paths and bytes.

:class:`generator.search_index.SearchIndex` decides what goes in the files and
uses the functions here to write them; :func:`pages_with` reads them back as
the worker (``templates/search-worker.js``) does. The thresholds below are read
when a function runs, so a test may shrink them for a while.

Format (version 1; every path is relative to the tree's root)
-------------------------------------------------------------

Words are as :mod:`generator.search_text` makes them: folded (*Café* is
found as *cafe*), no words longer than 32 characters, no English stop words
(listed in ``config.intranet.stopwords``). A document's *title list* entry for
a word says the word is in its title; its *body list* entry, that the word is
in its text but not its title.

Document ids are 24-bit numbers made from a hash of the location, so adding a
document moves no other one: documents sorted by (hash, location) take
``id = max(hash, previous id + 1)``; a collision moves the few documents of
one run of consecutive ids.

``search/search_index.json``
    What Material expects (``config`` with ``lang``, ``separator``,
    ``pipeline``, ``fields``; ``docs`` empty), plus ``config.intranet``: the
    format version, the constants below, the stop words, and ``initials``,
    the first characters that words in the index start with.

*id list* (binary, inside other files), ids ascending
    A varint ``h``. If ``h`` is odd, ``h >> 1`` ids follow, 3 bytes each,
    little-endian. If even, ``h >> 1`` blocks: per block the high byte of its
    ids and a varint count; then the low 16 bits of every id, little-endian
    (lists of ``BLOCKS_MIN`` ids or more). Varints are little-endian base 128.

``search/d/<key>.bin`` - the dictionary, one file per key
    A key is the first 1, 2 or 3 characters of a word, written as the word's
    ASCII letters and digits with any other character as ``_<hex>_``. Each
    initial has a file, and so does each 2-character prefix; when more than
    ``SPLIT`` words start with a 2-character prefix, each 3-character prefix
    under it has a file too. A file holds every word that starts with its
    key, except the file of an initial or of a split 2-character prefix: it
    holds the word equal to the key, if any, and the ``SUMMARY`` most frequent
    longer words starting with it (ties by word).
    File: varint count of keys, then that many keys (u8 length, UTF-8): in an
    initial's file, the 2-character keys under it and the 3-character keys
    that have files; none in the others. Then entries in word order: u8
    length and UTF-8 of the word, u8 flags (bits 0-1 where the title list is,
    bits 2-3 the body list: 0 none, 1 inline here, 2 shard, 3 own file),
    varint title count, varint body count, then the inline lists (title
    first).

``search/s/<n>.bin`` - lists of middling size, ``n = crc32(kind + word) % shards``
    where kind is ``t`` (title) or ``b`` (body): varint count; per list the
    kind byte, u8 length and UTF-8 of the word, varint byte length; then the
    lists in that order (sorted by kind, then word).

``search/p/<kind><word>.bin`` - one big list (``OWN_MIN`` bytes or more).

``search/m/<n>.json`` - what a result shows, ``n = id >> meta_shift``
    ``[[id, location, title, parent, day, excerpt], ...]`` in id order; day
    counts days since 1970-01-01 (0 when unknown); excerpt is the start of
    the text, whitespace collapsed, about ``EXCERPT`` characters.

``search/r.bin`` - ranking: the id list of every document, then each one's
    day as u16 little-endian, in the same order.

Lists of ``INLINE`` ids or fewer are inline, ``OWN_MIN`` encoded bytes or
more get their own file, the others go to a shard. The worker reads
``shards``, ``meta_shift``, ``max_term``, ``stopwords``, and its own limits
(``results``, ``expand``, ``budget``, ``enough``) from ``config.intranet``.

Counting what matches
---------------------

A word's title and body lists never share a document, so its entry's title
count plus body count is the number of documents that have it: a word's
count, and what its lists cost to fetch, come with the dictionary file. No
file holds counts of queries: the worker counts a query as it ranks it, from
the lists it fetches to rank it (every document with every word, the last
word, while it is typed, standing for the words it starts), so a count costs
nothing more than the first page. It is exact when the worker had every list
the query stands for: always for whole words (any but the last, or the last
followed by a space), and for a word being typed when the lists of all the
words it starts fit ``expand`` and ``budget`` (the worker then takes them
all). Otherwise it is a lower bound, and the worker says so (``exact``
false): a prefix standing for more than that, or of one or two characters
(those look at title words only, of the most frequent words). The worker
sends the first ``results`` documents and the rest on request
(``templates/search-worker.js`` describes its messages).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import sys
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .search_text import MAX_TERM, STOP_WORDS

FORMAT = 1
INDEX_FILE = "search/search_index.json"
RANK_FILE = "search/r.bin"

INLINE = 4  # lists this short live in the dictionary entry
OWN_MIN = 2048  # lists this big (in bytes, about 1,000 ids) get a file of their own
SHARDS = 4096  # files for the lists in between: about 2.5 KB each at 10,000 topics
BLOCKS_MIN = 512  # lists this long are written in blocks (2 bytes an id), shorter ones as 3 bytes an id
META_SHIFT = 11  # 8,192 metadata files at most: about one document each at 10,000
SUMMARY = 16  # most frequent words in the file of an initial or a split 2-character prefix
SPLIT = 256  # words starting with a 2-character prefix before they go to 3-character files
RESULTS = 20  # results a query returns (the worker's default)
EXPAND = 8  # lists (in shards or files of their own) fetched for the words a prefix stands for (the worker's default)
BUDGET = 20_000  # ids fetched for one prefix, about 40 KB (the worker's default)
ENOUGH = 1_000  # pages a prefix's words cover before no more are taken, unless all fit (the worker's default)

ID_BITS = 24
ID_SPACE = (1 << ID_BITS) - (1 << 12)  # hashes stay below this; collisions move ids up
EPOCH = date(1970, 1, 1).toordinal()

# Material's default: where its page highlighter splits the query.
SEPARATOR = r"[\s\-]+"

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_NONE, _INLINE, _SHARD, _OWN = 0, 1, 2, 3  # where a title or body list is (dictionary entry flags)

assert array("I").itemsize == 4


# -- paths -----------------------------------------------------------------------


def file_name(word: str) -> str:
    """``word`` as part of a file name: ASCII letters and digits as they are, others as ``_<hex>_``."""
    if word.isascii() and word.isalnum():
        return word
    return "".join(c if c in _ALNUM else f"_{ord(c):x}_" for c in word)


def key_of(name: str) -> str:
    """The word or key a file name was made from (the inverse of :func:`file_name`)."""
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), name)


def prefixes(term: str) -> list[str]:
    """The dictionary keys a word falls under: its first 1, 2 and 3 characters."""
    return [term[:n] for n in (1, 2, 3) if n <= len(term)]


def dict_path(key: str) -> str:
    return f"search/d/{file_name(key)}.bin"


def shard_path(kind: str, word: str) -> str:
    return f"search/s/{zlib.crc32((kind + word).encode()) % SHARDS}.bin"


def own_path(kind: str, word: str) -> str:
    return f"search/p/{kind}{file_name(word)}.bin"


def meta_path(bucket: int) -> str:
    return f"search/m/{bucket}.json"


# -- documents -------------------------------------------------------------------


def doc_hash(location: str) -> int:
    """Where a document's id starts from: a hash of its location below :data:`ID_SPACE`."""
    return int.from_bytes(hashlib.blake2b(location.encode(), digest_size=8).digest(), "big") % ID_SPACE


def day_number(value: str) -> int:
    """Days from 1970-01-01 to the ISO date ``value`` begins with (0 when unknown)."""
    try:
        return min(max(date.fromisoformat(value[:10]).toordinal() - EPOCH, 0), 0xFFFF)
    except ValueError:
        return 0


# -- id lists --------------------------------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_ids(ids: array) -> bytes:
    """An ascending array('I') of 24-bit ids as an id list (see the module docstring)."""
    raw = ids.tobytes()
    if sys.byteorder == "big":
        swapped = array("I", ids)
        swapped.byteswap()
        raw = swapped.tobytes()
    n = len(ids)
    if n < BLOCKS_MIN:
        out = bytearray(3 * n)
        out[0::3] = raw[0::4]
        out[1::3] = raw[1::4]
        out[2::3] = raw[2::4]
        return _varint(n << 1 | 1) + bytes(out)
    highs = raw[2::4]
    bounds = [bisect.bisect_left(highs, h) for h in range(257)]
    head = bytearray()
    for h in range(256):
        count = bounds[h + 1] - bounds[h]
        if count:
            head.append(h)
            head += _varint(count)
    lows = bytearray(2 * n)
    lows[0::2] = raw[0::4]
    lows[1::2] = raw[1::4]
    blocks = sum(1 for h in range(256) if bounds[h + 1] > bounds[h])
    return _varint(blocks << 1) + bytes(head) + bytes(lows)


def _read_varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def decode_ids(data: bytes, offset: int = 0) -> tuple[list[int], int]:
    """The ids of the id list at ``offset``, and the offset after it (for tests and tools)."""
    head, at = _read_varint(data, offset)
    if head & 1:
        n = head >> 1
        return [int.from_bytes(data[at + 3 * i : at + 3 * i + 3], "little") for i in range(n)], at + 3 * n
    blocks = []
    for _ in range(head >> 1):
        count, after = _read_varint(data, at + 1)
        blocks.append((data[at], count))
        at = after
    ids = []
    for high, count in blocks:
        for _ in range(count):
            ids.append(high << 16 | data[at] | data[at + 1] << 8)
            at += 2
    return ids, at


# -- where lists go, and the dictionary's rules --------------------------------------


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one title or body list lives, and its bytes (none for a list in a shard: the shard has them)."""

    place: int
    path: str  # "" when inline
    data: bytes

    @property
    def inline(self) -> bool:
        return self.place == _INLINE

    @property
    def in_shard(self) -> bool:
        return self.place == _SHARD

    @property
    def own(self) -> bool:
        return self.place == _OWN


def place_list(kind: str, term: str, ids: array) -> Placement:
    """Where the ``kind`` (``t`` or ``b``) list of ``term`` goes: inline, a shard, or a file of its own."""
    data = encode_ids(ids)
    if len(ids) <= INLINE:
        return Placement(_INLINE, "", data)
    if len(data) >= OWN_MIN:
        return Placement(_OWN, own_path(kind, term), data)
    return Placement(_SHARD, shard_path(kind, term), b"")


def is_split(count: int) -> bool:
    """Whether the ``count`` words starting with a 2-character prefix are kept in 3-character files."""
    return count > SPLIT


def summary(ranked: list[str]) -> list[str]:
    """The words a summary keeps of ``ranked`` (most frequent first)."""
    return ranked[:SUMMARY]


# -- writing the files ---------------------------------------------------------------


def dict_entry(term: str, title: Placement | None, body: Placement | None, title_count: int, body_count: int) -> bytes:
    """A word's entry in a dictionary file."""
    word = term.encode()
    flags = (title.place if title else _NONE) | (body.place if body else _NONE) << 2
    out = bytearray((len(word),))
    out += word
    out.append(flags)
    out += _varint(title_count)
    out += _varint(body_count)
    for unit in (title, body):
        if unit is not None and unit.inline:
            out += unit.data
    return bytes(out)


def dict_file(keys: list[str], entries: Iterable[bytes]) -> bytes:
    out = bytearray(_varint(len(keys)))
    for child in keys:
        raw = child.encode()
        out.append(len(raw))
        out += raw
    for data in entries:
        out += data
    return bytes(out)


def shard_file(lists: Iterable[tuple[str, str, array]]) -> bytes:
    """A shard holding the (kind, word, ids) ``lists``, sorted by kind, then word."""
    members = list(lists)
    head = bytearray(_varint(len(members)))
    body = bytearray()
    for kind, term, ids in members:
        data = encode_ids(ids)
        raw = term.encode()
        head += kind.encode()
        head.append(len(raw))
        head += raw
        head += _varint(len(data))
        body += data
    return bytes(head + body)


def meta_file(rows: list[list[object]]) -> bytes:
    """A metadata file of ``[id, location, title, parent, day, excerpt]`` rows in id order."""
    return _json(rows)


def rank_file(ids: array, days: array) -> bytes:
    """The ranking: every document's id (ascending) and its day (an array('H') in the same order)."""
    if sys.byteorder == "big":
        days = array("H", days)
        days.byteswap()
    return encode_ids(ids) + days.tobytes()


def index_file(lang: list[str], separator: str, initials: list[str]) -> bytes:
    config = {
        "lang": lang,
        "separator": separator,
        "pipeline": ["stopWordFilter"],
        "fields": {"title": {"boost": 1000.0}, "text": {"boost": 1.0}, "tags": {"boost": 1000000.0}},
        "intranet": {
            "format": FORMAT,
            "initials": initials,
            "stopwords": sorted(STOP_WORDS),
            "max_term": MAX_TERM,
            "shards": SHARDS,
            "meta_shift": META_SHIFT,
            "results": RESULTS,
            "expand": EXPAND,
            "budget": BUDGET,
            "enough": ENOUGH,
        },
    }
    return _json({"config": config, "docs": []})


def _json(value: object) -> bytes:
    """Compact JSON whose bytes hold no markup: ``<``, ``>`` and ``&`` in text are written as escapes.

    The worker reads titles and excerpts as text and escapes them for Material; written this way the
    file stays inert even to something that would mistake it for HTML.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").encode()


# -- reading the files back (for tests and tools; the worker does the same in JavaScript) --


def pages_with(files: Mapping[str, bytes], word: str) -> set[str]:
    """The locations of the pages whose title or text has ``word`` (a word as ``tokenize`` gives it)."""
    found: set[str] = set()
    for ids in _lists_of(files, word).values():
        for ident in ids:
            rows = json.loads(files.get(meta_path(ident >> META_SHIFT), b"[]"))
            found.update(row[1] for row in rows if row[0] == ident)
    return found


def _lists_of(files: Mapping[str, bytes], word: str) -> dict[str, list[int]]:
    initial = _read_dict(files.get(dict_path(word[:1])))
    key = next((k for k in (word[:3], word[:2]) if k in initial[0]), word[:1] if len(word) == 1 else None)
    if key is None:
        return {}
    for entry_word, places, inline in _read_dict(files.get(dict_path(key)))[1]:
        if entry_word != word:
            continue
        lists = {}
        for kind, place in zip("tb", places, strict=True):
            if place == _INLINE:
                lists[kind] = inline[kind]
            elif place == _OWN:
                lists[kind] = decode_ids(files[own_path(kind, word)])[0]
            elif place == _SHARD:
                lists[kind] = _read_shard(files[shard_path(kind, word)])[kind + word]
        return lists
    return {}


def _read_dict(data: bytes | None) -> tuple[set[str], list[tuple[str, tuple[int, int], dict[str, list[int]]]]]:
    """A dictionary file: its keys, and (word, (title place, body place), inline lists) per entry."""
    if data is None:
        return set(), []
    keys = set()
    count, at = _read_varint(data, 0)
    for _ in range(count):
        keys.add(data[at + 1 : at + 1 + data[at]].decode())
        at += 1 + data[at]
    entries = []
    while at < len(data):
        word = data[at + 1 : at + 1 + data[at]].decode()
        at += 1 + data[at]
        places = (data[at] & 3, data[at] >> 2 & 3)
        _, at = _read_varint(data, at + 1)  # title count
        _, at = _read_varint(data, at)  # body count
        inline = {}
        for kind, place in zip("tb", places, strict=True):
            if place == _INLINE:
                inline[kind], at = decode_ids(data, at)
        entries.append((word, places, inline))
    return keys, entries


def _read_shard(data: bytes) -> dict[str, list[int]]:
    at = 0
    heads = []
    count, at = _read_varint(data, at)
    for _ in range(count):
        kind = chr(data[at])
        word = data[at + 2 : at + 2 + data[at + 1]].decode()
        at += 2 + data[at + 1]
        length, at = _read_varint(data, at)
        heads.append((kind + word, length))
    lists = {}
    for name, length in heads:
        lists[name] = decode_ids(data, at)[0]
        at += length
    return lists
