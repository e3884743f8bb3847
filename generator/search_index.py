"""Search that stays instant at 10,000 topics: the sharded index, kept in memory (pure).

Material for MkDocs' own search downloads one ``search_index.json`` holding
every page's text (60 MB at 10,000 topics) on the first search. The index
here writes the same information as many small files instead
(:mod:`generator.search_format` describes them), and the worker
(:mod:`generator.search_worker`) fetches only the files a query needs.
:class:`SearchIndex` keeps the index in memory and, after a change, re-writes
only the files whose bytes change. The files for a set of documents are the
same byte for byte however that set was reached.

The build puts every file of :meth:`SearchIndex.files` under the tree's root;
each audience's tree gets an index of its own documents only.
"""

from __future__ import annotations

import bisect
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from .search_format import (
    ID_BITS,
    INDEX_FILE,
    META_SHIFT,
    RANK_FILE,
    SEPARATOR,
    Placement,
    day_number,
    dict_entry,
    dict_file,
    dict_path,
    doc_hash,
    index_file,
    is_split,
    key_of,
    meta_file,
    meta_path,
    place_list,
    prefixes,
    rank_file,
    shard_file,
    summary,
)
from .search_text import distinct_words, result_excerpt


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
        title = distinct_words(doc.title)
        body = distinct_words(doc.text, title)
        words = zlib.compress(" ".join(title).encode() + b"\n" + " ".join(body).encode(), 1)
        kept = cls(doc_hash(doc.location), words, doc.title, doc.parent, day_number(doc.date), result_excerpt(doc.text))
        return kept, title, body

    def terms(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        title, body = zlib.decompress(self.words).decode().split("\n")
        return tuple(title.split()), tuple(body.split())


Prepared = tuple[str, _Doc]  # a document's location and what the index keeps of it (:func:`prepare`)


def prepare(doc: SearchDoc) -> Prepared:
    """What the index keeps of ``doc``, without its text: a build's shares send these, not whole pages' text."""
    return doc.location, _Doc.of(doc)[0]


def _prepared(docs: Iterable[SearchDoc | Prepared]) -> dict[str, _Doc]:
    return dict(item if isinstance(item, tuple) else prepare(item) for item in docs)


# -- the index -------------------------------------------------------------------


class SearchIndex:
    """The sharded search index of one site tree, kept up to date in memory.

    ``update`` applies changed and removed documents and returns the relpaths
    whose bytes changed or vanished; ``files`` and ``file`` give the bytes.
    """

    def __init__(
        self, docs: Iterable[SearchDoc | Prepared] = (), *, lang: Iterable[str] = ("en",), separator: str = SEPARATOR
    ):
        self._lang = list(lang)
        self._separator = separator
        self._docs: dict[str, _Doc] = {}
        self._order: list[tuple[int, str]] = []  # (hash, location), ascending: ids ascend the same way
        self._ranks = array("I")  # the id of each document of _order, in its order (the ranking file's ids)
        self._days = array("H")  # and its day
        self._id: dict[str, int] = {}
        self._buckets: dict[int, set[str]] = {}
        self._lists: dict[str, dict[str, array]] = {"t": {}, "b": {}}
        self._df: dict[str, int] = {}
        self._vocab: list[str] = []  # sorted
        self._keys: dict[str, int] = {}  # 1-3 character prefix -> words starting with it
        self._children: dict[str, set[str]] = {}  # initial -> the 2- and 3-character prefixes under it
        self._ranked: dict[str, list[str]] = {}  # 1-2 character prefix -> the longer words, most frequent first
        self._units: dict[tuple[str, str], Placement] = {}
        self._shards: dict[str, set[tuple[str, str]]] = {}
        self._entries: dict[str, bytes] = {}
        self._files: dict[str, bytes] = {}
        self._build(_prepared(docs))

    # -- public ------------------------------------------------------------------

    def files(self) -> dict[str, bytes]:
        """Every file of the index, relpath -> bytes, search/search_index.json included."""
        return dict(self._files)

    def file(self, relpath: str) -> bytes | None:
        return self._files.get(relpath)

    def __len__(self) -> int:
        return len(self._docs)

    def locations(self) -> list[str]:
        """The locations of every document in the index."""
        return list(self._docs)

    def update(self, changed: Iterable[SearchDoc | Prepared], removed: Iterable[str]) -> set[str]:
        """Add or replace ``changed``, drop the ``removed`` locations; the relpaths whose bytes changed or vanished.

        A location both changed and removed stays, as changed.
        """
        given = _prepared(changed)
        new = {loc: d for loc, d in given.items() if self._docs.get(loc) != d}
        gone = {loc for loc in removed if loc in self._docs and loc not in given}
        if not new and not gone:
            return set()
        inserted = [loc for loc in new if loc not in self._docs]
        for loc in gone:
            at = bisect.bisect_left(self._order, (self._docs[loc].natural, loc))
            del self._order[at], self._ranks[at], self._days[at]
        for loc in inserted:
            at = bisect.bisect_left(self._order, (new[loc].natural, loc))
            self._order.insert(at, (new[loc].natural, loc))
            self._ranks.insert(at, 0)
            self._days.insert(at, 0)
        starts = [bisect.bisect_left(self._order, (self._docs[loc].natural, loc)) for loc in gone]
        starts += [bisect.bisect_left(self._order, (new[loc].natural, loc)) for loc in inserted]
        ids = self._reslot(starts, set(inserted))
        for loc, ident in ids.items():
            self._ranks[bisect.bisect_left(self._order, (doc_hash(loc), loc))] = ident
        for loc, doc in new.items():
            self._days[bisect.bisect_left(self._order, (doc.natural, loc))] = doc.day

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

    def _build(self, docs: dict[str, _Doc]) -> None:
        self._order = sorted((doc_hash(loc), loc) for loc in docs)
        self._id = self._reslot([0], set(docs)) if docs else {}
        self._ranks = array("I", (self._id[loc] for _, loc in self._order))
        for _, loc in self._order:  # ascending ids: appends keep every list sorted
            ident = self._id[loc]
            self._docs[loc] = docs[loc]
            title, body = docs[loc].terms()
            self._buckets.setdefault(ident >> META_SHIFT, set()).add(loc)
            for kind, terms in (("t", title), ("b", body)):
                lists = self._lists[kind]
                for term in terms:
                    found = lists.get(term)
                    if found is None:
                        lists[term] = array("I", (ident,))
                    else:
                        found.append(ident)
        self._days = array("H", (self._docs[loc].day for _, loc in self._order))
        for term in set(self._lists["t"]) | set(self._lists["b"]):
            self._df[term] = self._count(term)
        self._vocab = sorted(self._df)
        for term in self._vocab:
            for key in prefixes(term):
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
                unit = place_list(kind, term, ids)
                self._units[kind, term] = unit
                if unit.in_shard:
                    self._shards.setdefault(unit.path, set()).add((kind, term))
        for term in self._vocab:
            self._entries[term] = self._entry(term)
        paths = {INDEX_FILE, RANK_FILE}
        paths.update(dict_path(key) for key in self._keys)
        paths.update(self._shards)
        paths.update(unit.path for unit in self._units.values() if unit.own)
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

    def _entry(self, term: str) -> bytes:
        title, body = self._units.get(("t", term)), self._units.get(("b", term))
        counts = len(self._lists["t"].get(term, ())), len(self._lists["b"].get(term, ()))
        return dict_entry(term, title, body, *counts)

    def _top(self, key: str) -> list[str]:
        return summary(self._ranked.get(key, []))

    def _rank(self, term: str) -> tuple[int, str]:
        return (-self._df[term], term)

    def _split(self, key: str) -> bool:
        """Whether the words starting with a 2-character ``key`` are kept in 3-character files."""
        return is_split(self._keys.get(key, 0))

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
            keys = prefixes(term)
            dirty.update(dict_path(key) for key in keys[1:] or keys)  # the files that hold every such word
        for key, before in tops.items():
            after = self._top(key)
            if after != before or changed.intersection(after):
                dirty.add(dict_path(key))
        for key, old in counted.items():
            if is_split(old) != self._split(key):
                dirty.add(dict_path(key[0]))
                dirty.update(dict_path(child) for child in self._children.get(key[0], ()) if child.startswith(key))
        return dirty

    def _count_word(self, term: str, old: int, df: int, counted: dict[str, int], dirty: set[str]) -> None:
        """A word's count went from ``old`` to ``df``: the vocabulary, prefix counts and rankings follow."""
        ranked = [self._ranked.setdefault(key, []) for key in prefixes(term)[:2] if len(key) < len(term)]
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
        for key in prefixes(term):
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
        unit = place_list(kind, term, ids) if ids else None
        old = self._units.get((kind, term))
        if unit == old:
            if unit is not None and unit.in_shard:
                dirty.add(unit.path)  # same place, maybe other ids
            return
        for u, add in ((old, False), (unit, True)):
            if u is None or u.inline:
                continue
            dirty.add(u.path)
            if u.in_shard:
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
            return self._render_dict(key_of(name[: -len(".bin")]))
        if kind == "s":
            return self._render_shard(path)
        if kind == "p":
            unit = self._units.get((name[0], key_of(name[1 : -len(".bin")])))
            return unit.data if unit is not None and unit.own else None
        if kind == "m":
            return self._render_meta(int(name[: -len(".json")]))
        raise ValueError(f"not a search file: {path}")

    def _render_index(self) -> bytes:
        return index_file(self._lang, self._separator, sorted(k for k in self._keys if len(k) == 1))

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
        return dict_file(keys, (self._entries[term] for term in terms))

    def _render_shard(self, path: str) -> bytes | None:
        members = sorted(self._shards.get(path, ()))
        if not members:
            return None
        return shard_file((kind, term, self._lists[kind][term]) for kind, term in members)

    def _render_meta(self, bucket: int) -> bytes | None:
        members = self._buckets.get(bucket)
        if not members:
            return None
        rows = []
        for loc in members:
            doc = self._docs[loc]
            rows.append([self._id[loc], loc, doc.title, doc.parent, doc.day, doc.excerpt])
        rows.sort()
        return meta_file(rows)

    def _render_rank(self) -> bytes:
        return rank_file(self._ranks, self._days)
