"""Search that stays instant at 10,000 topics: a sharded index and its reader (pure).

Material for MkDocs' own search downloads one ``search_index.json`` holding
every page's text (60 MB at 10,000 topics) on the first search. This module
writes the same information as many small files instead, and
``templates/search-worker.js`` is a drop-in for Material's search worker (the
same messages, so the theme's search box, results, suggestions and page
highlighting look and behave as before) that fetches only the files a query
needs. :class:`SearchIndex` keeps the index in memory and, after a change,
re-writes only the files whose bytes change. The files for a set of documents
are the same byte for byte however that set was reached.

The build puts :func:`worker_script` at Material's worker path
(:func:`worker_relpath`) in each tree and every file of
:meth:`SearchIndex.files` under the tree's root; each audience's tree gets an
index of its own documents only.

Format (version 1; every path is relative to the tree's root)
-------------------------------------------------------------

Words: the text is put in NFKD form, lower-cased, stripped of combining marks
(so *Café* is found as *cafe*), and split into runs of letters and digits;
words longer than 32 characters and the English stop words in
``config.intranet.stopwords`` are dropped. A document's *title list* entry for
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
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import json
import re
import sys
import unicodedata
import zlib
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib.util import find_spec
from itertools import chain
from pathlib import Path

FORMAT = 1
INDEX_FILE = "search/search_index.json"
RANK_FILE = "search/r.bin"
WORKER_SOURCE = Path(__file__).parent / "templates" / "search-worker.js"

MAX_TERM = 32  # longer "words" are hashes, URLs and the like
INLINE = 4  # lists this short live in the dictionary entry
OWN_MIN = 2048  # lists this big (in bytes, about 1,000 ids) get a file of their own
SHARDS = 4096  # files for the lists in between: about 2.5 KB each at 10,000 topics
BLOCKS_MIN = 512  # lists this long are written in blocks (2 bytes an id), shorter ones as 3 bytes an id
META_SHIFT = 11  # 8,192 metadata files at most: about one document each at 10,000
SUMMARY = 16  # most frequent words in the file of an initial or a split 2-character prefix
SPLIT = 256  # words starting with a 2-character prefix before they go to 3-character files
EXCERPT = 360  # characters of text kept for the result's excerpt
RESULTS = 20  # results a query returns (the worker's default)
EXPAND = 8  # words a prefix stands for, at most, per query (the worker's default)
BUDGET = 20_000  # ids fetched for one prefix, about 40 KB (the worker's default)
ENOUGH = 1_000  # pages a prefix's words must cover before it stops taking more (the worker's default)

ID_BITS = 24
ID_SPACE = (1 << ID_BITS) - (1 << 12)  # hashes stay below this; collisions move ids up
EPOCH = date(1970, 1, 1).toordinal()

# Lucene's English stop words: frequent enough to be useless as search terms.
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there "
    "these they this to was will with".split()
)

# Material's default: where its page highlighter splits the query.
SEPARATOR = r"[\s\-]+"

_WORD = re.compile(r"[^\W_]+")
_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_NONE, _INLINE, _SHARD, _OWN = 0, 1, 2, 3

assert array("I").itemsize == 4


@dataclass(frozen=True, slots=True)
class SearchDoc:
    """One result the search can show: a page (or a part of one, with ``#anchor``).

    ``location`` is the page's URL relative to the site root (``c/handover/t/0a1b2c3d4e5f/``);
    ``text`` is plain text; ``parent`` names what the page belongs to (a topic's community, the
    page of an anchored part), shown with the result; ``date`` is ISO 8601 (newer ranks first).
    """

    location: str
    title: str
    text: str
    parent: str = ""
    date: str = ""


# -- words ---------------------------------------------------------------------


@functools.cache
def _marks() -> dict[int, None]:
    """str.translate table deleting every combining mark (Unicode category M)."""
    planes = chain(range(0x300, 0x20000), range(0xE0100, 0xE01F0))
    return {cp: None for cp in planes if unicodedata.category(chr(cp))[0] == "M"}


def fold(text: str) -> str:
    """NFKD, lower case, no combining marks: the form words are indexed and looked up in."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKD", text).lower().translate(_marks())


def tokenize(text: str) -> list[str]:
    """The words of ``text`` as the index sees them, in order, stop words and overlong words dropped."""
    return [w for w in _WORD.findall(fold(text)) if len(w) <= MAX_TERM and w not in STOP_WORDS]


def _terms(text: str, without: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The distinct words of ``text`` (but ``without``)."""
    words = set(_WORD.findall(fold(text))).difference(STOP_WORDS, without)
    return tuple(w for w in words if len(w) <= MAX_TERM)


def file_name(word: str) -> str:
    """``word`` as part of a file name: ASCII letters and digits as they are, others as ``_<hex>_``."""
    if word.isascii() and word.isalnum():
        return word
    return "".join(c if c in _ALNUM else f"_{ord(c):x}_" for c in word)


def dict_path(key: str) -> str:
    return f"search/d/{file_name(key)}.bin"


def shard_path(kind: str, word: str) -> str:
    return f"search/s/{zlib.crc32((kind + word).encode()) % SHARDS}.bin"


def own_path(kind: str, word: str) -> str:
    return f"search/p/{kind}{file_name(word)}.bin"


def meta_path(bucket: int) -> str:
    return f"search/m/{bucket}.json"


# -- binary pieces ---------------------------------------------------------------


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


# -- documents -------------------------------------------------------------------


def _natural(location: str) -> int:
    return int.from_bytes(hashlib.blake2b(location.encode(), digest_size=8).digest(), "big") % ID_SPACE


def _day(value: str) -> int:
    try:
        return min(max(date.fromisoformat(value[:10]).toordinal() - EPOCH, 0), 0xFFFF)
    except ValueError:
        return 0


def compact_text(text: str) -> str:
    """``text`` as the index needs it: its opening (for the excerpt) and then each other word once.

    A document built from the compact text is indexed exactly as from the whole text; builders use
    it to hold thousands of pages' words in little memory.
    """
    if len(text) <= EXCERPT * 2:
        return text
    cut = next((i for i in range(EXCERPT * 2, len(text)) if text[i].isspace()), len(text))
    head, rest = text[:cut], text[cut:]
    words = sorted(set(_WORD.findall(fold(rest))) - set(_WORD.findall(fold(head))))
    return head + (" " + " ".join(words) if words else "")


def _excerpt(text: str) -> str:
    flat = " ".join(text[: EXCERPT * 2].split()) if len(text) > EXCERPT * 2 else " ".join(text.split())
    if len(flat) <= EXCERPT:
        return flat
    cut = flat.rfind(" ", EXCERPT // 2, EXCERPT)
    return flat[: cut if cut > 0 else EXCERPT] + " …"


@dataclass(frozen=True, slots=True)
class _Doc:
    """What the index keeps of a document: its words compressed (to take them out again) and what a result shows."""

    natural: int
    words: bytes
    title: str
    parent: str
    day: int
    excerpt: str

    @classmethod
    def of(cls, doc: SearchDoc) -> tuple[_Doc, tuple[str, ...], tuple[str, ...]]:
        """The document, its title words, and the words of its text that are not in the title."""
        title = _terms(doc.title)
        body = _terms(doc.text, title)
        words = zlib.compress(" ".join(title).encode() + b"\n" + " ".join(body).encode(), 1)
        kept = cls(_natural(doc.location), words, doc.title, doc.parent, _day(doc.date), _excerpt(doc.text))
        return kept, title, body

    def terms(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        title, body = zlib.decompress(self.words).decode().split("\n")
        return tuple(title.split()), tuple(body.split())


@dataclass(frozen=True, slots=True)
class _Unit:
    """Where one title or body list lives, and its bytes."""

    place: int
    path: str  # "" when inline
    data: bytes


# -- the index -------------------------------------------------------------------


class SearchIndex:
    """The sharded search index of one site tree, kept up to date in memory.

    ``update`` applies changed and removed documents and returns the relpaths
    whose bytes changed or vanished; ``files`` and ``file`` give the bytes.
    """

    def __init__(self, docs: Iterable[SearchDoc] = (), *, lang: Iterable[str] = ("en",), separator: str = SEPARATOR):
        self._lang = list(lang)
        self._separator = separator
        self._docs: dict[str, _Doc] = {}
        self._order: list[tuple[int, str]] = []  # (hash, location), ascending: ids ascend the same way
        self._id: dict[str, int] = {}
        self._buckets: dict[int, set[str]] = {}
        self._lists: dict[str, dict[str, array]] = {"t": {}, "b": {}}
        self._df: dict[str, int] = {}
        self._vocab: list[str] = []  # sorted
        self._keys: dict[str, int] = {}  # 1-3 character prefix -> words starting with it
        self._children: dict[str, set[str]] = {}  # initial -> the 2- and 3-character prefixes under it
        self._ranked: dict[str, list[str]] = {}  # 1-2 character prefix -> the longer words, most frequent first
        self._units: dict[tuple[str, str], _Unit] = {}
        self._shards: dict[str, set[tuple[str, str]]] = {}
        self._entries: dict[str, bytes] = {}
        self._files: dict[str, bytes] = {}
        self._build({doc.location: doc for doc in docs})

    # -- public ------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        """Every file of the index, relpath -> bytes, search/search_index.json included."""
        return dict(self._files)

    def file(self, relpath: str) -> bytes | None:
        return self._files.get(relpath)

    def __len__(self) -> int:
        return len(self._docs)

    def update(self, changed: Iterable[SearchDoc], removed: Iterable[str]) -> set[str]:
        """Add or replace ``changed``, drop the ``removed`` locations; the relpaths whose bytes changed or vanished.

        A location both changed and removed stays, as changed.
        """
        given = {doc.location: _Doc.of(doc)[0] for doc in changed}
        new = {loc: d for loc, d in given.items() if self._docs.get(loc) != d}
        gone = {loc for loc in removed if loc in self._docs and loc not in given}
        if not new and not gone:
            return set()
        inserted = [loc for loc in new if loc not in self._docs]
        for loc in gone:
            del self._order[bisect.bisect_left(self._order, (self._docs[loc].natural, loc))]
        for loc in inserted:
            bisect.insort(self._order, (new[loc].natural, loc))
        starts = [bisect.bisect_left(self._order, (self._docs[loc].natural, loc)) for loc in gone]
        starts += [bisect.bisect_left(self._order, (new[loc].natural, loc)) for loc in inserted]
        ids = self._reslot(starts, set(inserted))

        # Documents that keep their id and change only lose and gain words; the
        # others (gone, new, or moved by a collision) leave every list they were in.
        same = {loc for loc in new if loc in self._docs and loc not in ids}
        moved = {loc for loc in ids if loc in self._docs and loc not in new}
        words: set[str] = set()
        buckets: set[int] = set()
        for loc in gone | moved | (new.keys() - same - set(inserted)):
            self._unpost(loc, self._docs[loc], words, buckets)
        for loc in same:
            self._repost(loc, self._docs[loc], new[loc], words, buckets)
        for loc in gone:
            del self._docs[loc], self._id[loc]
        self._id.update(ids)
        self._docs.update(new)
        for loc in moved | (new.keys() - same):
            self._post(loc, self._docs[loc], words, buckets)

        dirty = self._refresh(words)
        dirty.update(meta_path(b) for b in buckets)
        dirty.add(RANK_FILE)
        return self._render(dirty)

    # -- building ------------------------------------------------------------------

    def _build(self, docs: dict[str, SearchDoc]) -> None:
        self._order = sorted((_natural(loc), loc) for loc in docs)
        self._id = self._reslot([0], set(docs)) if docs else {}
        for _, loc in self._order:  # ascending ids: appends keep every list sorted
            ident = self._id[loc]
            self._docs[loc], title, body = _Doc.of(docs[loc])
            self._buckets.setdefault(ident >> META_SHIFT, set()).add(loc)
            for kind, terms in (("t", title), ("b", body)):
                lists = self._lists[kind]
                for term in terms:
                    found = lists.get(term)
                    if found is None:
                        lists[term] = array("I", (ident,))
                    else:
                        found.append(ident)
        for term in set(self._lists["t"]) | set(self._lists["b"]):
            self._df[term] = self._count(term)
        self._vocab = sorted(self._df)
        for term in self._vocab:
            for key in _prefixes(term):
                self._keys[key] = self._keys.get(key, 0) + 1
                if len(key) < len(term) and len(key) < 3:
                    self._ranked.setdefault(key, []).append(term)
        for ranked in self._ranked.values():
            ranked.sort(key=self._rank)
        for key in self._keys:
            if len(key) > 1:
                self._children.setdefault(key[0], set()).add(key)
        for kind in ("t", "b"):
            for term, ids in self._lists[kind].items():
                unit = self._encode(kind, term, ids)
                self._units[kind, term] = unit
                if unit.place == _SHARD:
                    self._shards.setdefault(unit.path, set()).add((kind, term))
        for term in self._vocab:
            self._entries[term] = self._entry(term)
        paths = {INDEX_FILE, RANK_FILE}
        paths.update(dict_path(key) for key in self._keys)
        paths.update(self._shards)
        paths.update(unit.path for unit in self._units.values() if unit.place == _OWN)
        paths.update(meta_path(b) for b in self._buckets)
        self._render(paths)

    def _reslot(self, starts: list[int], inserted: set[str]) -> dict[str, int]:
        """New ids from the positions in the order where documents came or went on: location -> id, changed only."""
        order, new = self._order, dict[str, int]()
        covered = -1
        for start in sorted(starts):
            if start <= covered:
                continue
            i = start
            prev = -1 if i == 0 else new.get(order[i - 1][1], self._id.get(order[i - 1][1], -1))
            while i < len(order):
                natural, loc = order[i]
                ident = max(natural, prev + 1)
                if loc not in inserted and self._id.get(loc) == ident:
                    break
                if ident >= 1 << ID_BITS:
                    raise OverflowError("search: ran out of document ids")
                new[loc] = ident
                prev = ident
                i += 1
            covered = i
        return new

    # -- postings --------------------------------------------------------------------

    def _count(self, term: str) -> int:
        return len(self._lists["t"].get(term, ())) + len(self._lists["b"].get(term, ()))

    def _post(self, loc: str, doc: _Doc, words: set[str], buckets: set[int]) -> None:
        ident = self._id[loc]
        for kind, terms in zip("tb", doc.terms(), strict=True):
            lists = self._lists[kind]
            for term in terms:
                bisect.insort(lists.setdefault(term, array("I")), ident)
            words.update(terms)
        buckets.add(ident >> META_SHIFT)
        self._buckets.setdefault(ident >> META_SHIFT, set()).add(loc)

    def _unpost(self, loc: str, doc: _Doc, words: set[str], buckets: set[int]) -> None:
        ident = self._id[loc]
        for kind, terms in zip("tb", doc.terms(), strict=True):
            self._drop(kind, terms, ident)
            words.update(terms)
        bucket = ident >> META_SHIFT
        buckets.add(bucket)
        members = self._buckets[bucket]
        members.discard(loc)
        if not members:
            del self._buckets[bucket]

    def _repost(self, loc: str, old: _Doc, doc: _Doc, words: set[str], buckets: set[int]) -> None:
        """Same id, new content: only the words that came or went."""
        ident = self._id[loc]
        for kind, before, after in zip("tb", old.terms(), doc.terms(), strict=True):
            gone, came = set(before).difference(after), set(after).difference(before)
            self._drop(kind, gone, ident)
            lists = self._lists[kind]
            for term in came:
                bisect.insort(lists.setdefault(term, array("I")), ident)
            words.update(gone, came)
        buckets.add(ident >> META_SHIFT)

    def _drop(self, kind: str, terms: Iterable[str], ident: int) -> None:
        lists = self._lists[kind]
        for term in terms:
            ids = lists[term]
            del ids[bisect.bisect_left(ids, ident)]
            if not ids:
                del lists[term]

    # -- words and their files ---------------------------------------------------------

    def _encode(self, kind: str, term: str, ids: array) -> _Unit:
        data = encode_ids(ids)
        if len(ids) <= INLINE:
            return _Unit(_INLINE, "", data)
        if len(data) >= OWN_MIN:
            return _Unit(_OWN, own_path(kind, term), data)
        return _Unit(_SHARD, shard_path(kind, term), b"")  # the shard's file has the bytes

    def _entry(self, term: str) -> bytes:
        title = self._units.get(("t", term))
        body = self._units.get(("b", term))
        word = term.encode()
        flags = (title.place if title else _NONE) | (body.place if body else _NONE) << 2
        out = bytearray((len(word),))
        out += word
        out.append(flags)
        out += _varint(len(self._lists["t"].get(term, ())))
        out += _varint(len(self._lists["b"].get(term, ())))
        for unit in (title, body):
            if unit is not None and unit.place == _INLINE:
                out += unit.data
        return bytes(out)

    def _top(self, key: str) -> list[str]:
        return self._ranked.get(key, [])[:SUMMARY]

    def _rank(self, term: str) -> tuple[int, str]:
        return (-self._df[term], term)

    def _split(self, key: str) -> bool:
        """Whether the words starting with a 2-character ``key`` are kept in 3-character files."""
        return self._keys.get(key, 0) > SPLIT

    def _refresh(self, words: set[str]) -> set[str]:
        """Bring counts, lists, entries and summaries of ``words`` up to date; the paths that may have changed."""
        dirty: set[str] = set()
        counted: dict[str, int] = {}  # 2-character prefix -> its count before
        tops: dict[str, list[str]] = {}  # 1-2 character prefix -> its summary before
        changed: set[str] = set()
        for term in words:
            for key in (term[:1], term[:2]):
                if len(key) < len(term) and key not in tops:
                    tops[key] = self._top(key)
            old, df = self._df.get(term, 0), self._count(term)
            if old != df:
                self._count_word(term, old, df, counted, dirty)
            for kind in ("t", "b"):
                self._place(kind, term, dirty)
            entry = self._entry(term) if df else None
            if entry == self._entries.get(term):
                continue
            if entry is None:
                del self._entries[term]
            else:
                self._entries[term] = entry
            changed.add(term)
            keys = _prefixes(term)
            dirty.update(dict_path(key) for key in keys[1:] or keys)  # the files that hold every such word
        for key, before in tops.items():
            after = self._top(key)
            if after != before or changed.intersection(after):
                dirty.add(dict_path(key))
        for key, old in counted.items():
            if (old > SPLIT) != self._split(key):
                dirty.add(dict_path(key[0]))
                dirty.update(dict_path(child) for child in self._children.get(key[0], ()) if child.startswith(key))
        return dirty

    def _count_word(self, term: str, old: int, df: int, counted: dict[str, int], dirty: set[str]) -> None:
        """A word's count went from ``old`` to ``df``: the vocabulary, prefix counts and rankings follow."""
        ranked = [self._ranked.setdefault(key, []) for key in _prefixes(term)[:2] if len(key) < len(term)]
        if old:
            for words in ranked:
                del words[bisect.bisect_left(words, self._rank(term), key=self._rank)]
        if df:
            self._df[term] = df
            for words in ranked:
                bisect.insort(words, term, key=self._rank)
        else:
            del self._df[term]
        if not old:
            bisect.insort(self._vocab, term)
        elif not df:
            del self._vocab[bisect.bisect_left(self._vocab, term)]
        for key in _prefixes(term):
            if key in self._ranked and not self._ranked[key]:
                del self._ranked[key]
            if old and df:
                continue
            if len(key) == 2:
                counted.setdefault(key, self._keys.get(key, 0))
            count = self._keys.get(key, 0) + (1 if df else -1)
            if count:
                self._keys[key] = count
            else:
                del self._keys[key]
            if count in (0, 1):  # the prefix came or went
                dirty.add(dict_path(key))
                if len(key) == 1:
                    dirty.add(INDEX_FILE)
                else:
                    dirty.add(dict_path(key[0]))
                    children = self._children.setdefault(key[0], set())
                    if count:
                        children.add(key)
                    else:
                        children.discard(key)
                        if not children:
                            del self._children[key[0]]

    def _place(self, kind: str, term: str, dirty: set[str]) -> None:
        """Encode a word's title or body list again and move it between inline, shard and own file."""
        ids = self._lists[kind].get(term)
        unit = self._encode(kind, term, ids) if ids else None
        old = self._units.get((kind, term))
        if unit == old:
            if unit is not None and unit.place == _SHARD:
                dirty.add(unit.path)  # same place, maybe other ids
            return
        for u, add in ((old, False), (unit, True)):
            if u is None or u.place == _INLINE:
                continue
            dirty.add(u.path)
            if u.place == _SHARD:
                members = self._shards.setdefault(u.path, set())
                if add:
                    members.add((kind, term))
                else:
                    members.discard((kind, term))
                    if not members:
                        del self._shards[u.path]
        if unit is None:
            del self._units[kind, term]
        else:
            self._units[kind, term] = unit

    # -- rendering -------------------------------------------------------------------

    def _render(self, paths: Iterable[str]) -> set[str]:
        """Render ``paths`` into the file map; those whose bytes changed or vanished."""
        changed = set()
        for path in paths:
            data = self._render_one(path)
            if data == self._files.get(path):
                continue
            changed.add(path)
            if data is None:
                del self._files[path]
            else:
                self._files[path] = data
        return changed

    def _render_one(self, path: str) -> bytes | None:
        if path == INDEX_FILE:
            return self._render_index()
        if path == RANK_FILE:
            return self._render_rank()
        kind, name = path[len("search/") :].split("/", 1)
        if kind == "d":
            return self._render_dict(_key_of(name[: -len(".bin")]))
        if kind == "s":
            return self._render_shard(path)
        if kind == "p":
            unit = self._units.get((name[0], _key_of(name[1 : -len(".bin")])))
            return unit.data if unit is not None and unit.place == _OWN else None
        if kind == "m":
            return self._render_meta(int(name[: -len(".json")]))
        raise ValueError(f"not a search file: {path}")

    def _render_index(self) -> bytes:
        config = {
            "lang": self._lang,
            "separator": self._separator,
            "pipeline": ["stopWordFilter"],
            "fields": {"title": {"boost": 1000.0}, "text": {"boost": 1.0}, "tags": {"boost": 1000000.0}},
            "intranet": {
                "format": FORMAT,
                "initials": sorted(k for k in self._keys if len(k) == 1),
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

    def _render_dict(self, key: str) -> bytes | None:
        if key not in self._keys or (len(key) == 3 and not self._split(key[:2])):
            return None
        if len(key) == 3 or (len(key) == 2 and not self._split(key)):
            lo = bisect.bisect_left(self._vocab, key)
            terms = self._vocab[lo : bisect.bisect_left(self._vocab, key + "\U0010ffff", lo)]
        else:  # an initial, or a 2-character prefix kept in 3-character files: its most frequent words
            terms = sorted(self._top(key) + ([key] if key in self._df else []))
        keys = []
        if len(key) == 1:
            keys = sorted(k for k in self._children.get(key, ()) if len(k) == 2 or self._split(k[:2]))
        out = bytearray(_varint(len(keys)))
        for child in keys:
            raw = child.encode()
            out.append(len(raw))
            out += raw
        for term in terms:
            out += self._entries[term]
        return bytes(out)

    def _render_shard(self, path: str) -> bytes | None:
        members = sorted(self._shards.get(path, ()))
        if not members:
            return None
        head = bytearray(_varint(len(members)))
        body = bytearray()
        for kind, term in members:
            data = encode_ids(self._lists[kind][term])
            raw = term.encode()
            head += kind.encode()
            head.append(len(raw))
            head += raw
            head += _varint(len(data))
            body += data
        return bytes(head + body)

    def _render_meta(self, bucket: int) -> bytes | None:
        members = self._buckets.get(bucket)
        if not members:
            return None
        rows = []
        for loc in members:
            doc = self._docs[loc]
            rows.append([self._id[loc], loc, doc.title, doc.parent, doc.day, doc.excerpt])
        rows.sort()
        return _json(rows)

    def _render_rank(self) -> bytes:
        ids = array("I", (self._id[loc] for _, loc in self._order))
        days = array("H", (self._docs[loc].day for _, loc in self._order))
        if sys.byteorder == "big":
            days.byteswap()
        return encode_ids(ids) + days.tobytes()


# -- reading the files back (for tests and tools; the worker does the same in JavaScript) --


def pages_with(files: Mapping[str, bytes], word: str) -> set[str]:
    """The locations of the pages whose title or text has ``word`` (a word as :func:`tokenize` gives it)."""
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


def _prefixes(term: str) -> list[str]:
    return [term[:n] for n in (1, 2, 3) if n <= len(term)]


def _key_of(name: str) -> str:
    """The word or key a file name was made from (the inverse of :func:`file_name`)."""
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), name)


def _json(value: object) -> bytes:
    """Compact JSON whose bytes hold no markup: ``<``, ``>`` and ``&`` in text are written as escapes.

    The worker reads titles and excerpts as text and escapes them for Material; written this way the
    file stays inert even to something that would mistake it for HTML.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").encode()


# -- the worker ----------------------------------------------------------------------


def worker_script() -> bytes:
    """The search worker, to be written over Material's at :func:`worker_relpath`."""
    return WORKER_SOURCE.read_bytes()


def worker_relpath(theme_dir: str | Path | Iterable[str | Path] | None = None) -> str:
    """Where Material's search worker lives in a built tree, e.g. ``assets/javascripts/workers/search.a7633da7.min.js``.

    ``theme_dir`` is Material's ``templates`` folder, or the theme's folders in order (MkDocs'
    ``config.theme.dirs``); by default, the installed Material's. "" when none has the worker.
    """
    if theme_dir is None:
        spec = find_spec("material")
        locations = spec.submodule_search_locations if spec is not None else None
        dirs = [Path(next(iter(locations))) / "templates"] if locations else []
    elif isinstance(theme_dir, str | Path):
        dirs = [Path(theme_dir)]
    else:
        dirs = [Path(d) for d in theme_dir]
    for folder in dirs:
        found = sorted(folder.glob("assets/javascripts/workers/search.*.min.js"))
        if found:
            return found[0].relative_to(folder).as_posix()
    return ""
