"""Many new blobs at once, written as one Git pack (the store's helper: see :mod:`mailgateway.store`).

libgit2 writes every new object as a loose file of its own (compressed, in a folder named by its
id, then renamed into place), which is what most of the time of storing an imported post went to.
An import makes thousands of blobs per commit, so :class:`BlobPack` writes them into one pack
file instead, as ``git`` itself does when it receives objects: the pack (``PACK``, version 2, the
object count, each blob's type-and-size header and its zlib data, then the SHA-1 of all that) and
its index (version 2: the fan-out table, the sorted object ids, their CRC-32s and offsets, the
pack's checksum and the index's own), both described in Git's ``gitformat-pack(5)``. They are
written under temporary names and renamed into ``objects/pack/``, the pack first: Git and
libgit2 use a pack only once its index is there, and find a new one when an object they look
for is missing. A pack that is never finished (the import was killed) stays a temporary file.

A commit's trees can go into such a pack too (:func:`packed_tree`): an import's commit makes a
new tree for every folder of posts it adds to, some hundreds, which libgit2 would write as as many
loose files.

Object ids here are SHA-1: the store writes loose objects into a repository with SHA-256 ids.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import pygit2

from intranet.errors import StoreError

TREE, BLOB = 2, 3  # object types in a pack entry's header
_TYPE_NAMES = {TREE: b"tree", BLOB: b"blob"}
FOLDER = 0o040000  # a tree entry's mode for a tree
LEVEL = 1  # zlib level, as Git's core.loosecompression: fast
LARGE_OFFSET = 0x80000000  # offsets from here on go to the index's table of 64-bit offsets
_IN_LARGE = 0x80000000  # an offset so flagged is the position of the real one in that table


def _entry_header(kind: int, size: int) -> bytes:
    """A pack entry's header: type and size, the size's low 4 bits first, then 7 bits a byte."""
    out = bytearray()
    byte = (kind << 4) | (size & 0x0F)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def _compressed(data: bytes) -> bytes:
    """``data`` as a zlib stream. For a small blob (a post), a 4 KB window and a small hash table:
    zlib's setting up of its full-size tables took longer than compressing a post, and gave no smaller
    data."""
    small = len(data) <= 4096
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, 12 if small else 15, 4 if small else 8)
    return compressor.compress(data) + compressor.flush()


_ZLIB_HEADER = b"\x78\x01"  # a zlib stream's header: deflate, a window of up to 32 KB, fastest compression


def deflated_end(data: bytes) -> bytes:
    """``data`` as the finished raw deflate stream that ends a blob (see :meth:`BlobPack.add`): worker
    processes compress most of a post this way while the part before it is not known yet."""
    small = len(data) <= 4096
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, -12 if small else -15, 4 if small else 8)
    return compressor.compress(data) + compressor.flush()


def _stored(data: memoryview) -> bytes:
    """``data`` as stored (uncompressed) deflate blocks, not the last, from a byte boundary: the few
    bytes before a blob's :func:`deflated_end` (a post's first lines) cost no compressor here."""
    blocks = []
    for start in range(0, len(data), 0xFFFF):
        part = data[start : start + 0xFFFF]
        blocks.append(struct.pack("<BHH", 0, len(part), len(part) ^ 0xFFFF) + part)
    return b"".join(blocks)


class BlobPack:
    """A pack being written into ``git_dir``: :meth:`add` blobs, then :meth:`close` it."""

    def __init__(self, git_dir: Path) -> None:
        self.folder = Path(git_dir) / "objects" / "pack"
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="tmp_pack_", dir=self.folder)
        self._path = Path(name)
        self._file = os.fdopen(fd, "w+b")
        self._file.write(b"PACK" + struct.pack(">II", 2, 0))  # the count is written when it is known
        self._offset = 12
        self._objects: dict[bytes, tuple[int, int]] = {}  # id -> (CRC-32 of its entry, offset)

    def add(self, data: bytes, end: tuple[int, bytes] | None = None, kind: int = BLOB) -> str:
        """Put ``data`` in the pack as a blob, or an object of another ``kind`` (once, however often it
        comes); its id, in hex.

        ``end``, if given, is (n, :func:`deflated_end` of the last n bytes of ``data``): the bytes
        before them are stored here, uncompressed (a post's first lines: its Message-ID and thread),
        before that raw deflate stream, in one zlib stream (its checksum is of the whole), which
        inflates to ``data``.
        """
        oid = hashlib.sha1(b"%s %d\0" % (_TYPE_NAMES[kind], len(data)) + data, usedforsecurity=False).digest()
        if oid not in self._objects:
            if end is None:
                compressed = _compressed(data)
            else:
                front = _stored(memoryview(data)[: len(data) - end[0]])
                compressed = _ZLIB_HEADER + front + end[1] + struct.pack(">I", zlib.adler32(data))
            entry = _entry_header(kind, len(data)) + compressed
            self._objects[oid] = (zlib.crc32(entry), self._offset)
            self._file.write(entry)
            self._offset += len(entry)
        return oid.hex()

    def close(self) -> None:
        """Finish the pack and its index and put them where Git finds them (nothing, if it is empty)."""
        if self._file.closed:
            return
        if not self._objects:
            self._file.close()
            self._path.unlink()
            return
        self._file.seek(8)
        self._file.write(struct.pack(">I", len(self._objects)))
        self._file.seek(0)
        checksum = hashlib.sha1(usedforsecurity=False)
        while chunk := self._file.read(1 << 20):
            checksum.update(chunk)
        digest = checksum.digest()
        self._file.write(digest)
        self._file.close()
        name = f"pack-{digest.hex()}"
        index = self.folder / f"tmp_idx_{digest.hex()}"
        index.write_bytes(_index(self._objects, digest))
        for path in (self._path, index):
            path.chmod(0o444)
        os.replace(self._path, self.folder / f"{name}.pack")
        os.replace(index, self.folder / f"{name}.idx")

    def abandon(self) -> None:
        """Drop an unfinished pack."""
        if not self._file.closed:
            self._file.close()
        self._path.unlink(missing_ok=True)


Files = Mapping[str, tuple[int, str] | None]  # path -> (mode, blob id in hex), or None: removed


def packed_tree(repo: pygit2.Repository, tree: pygit2.Tree | None, files: Files, pack: BlobPack) -> str:
    """The id of ``tree`` with ``files`` put in, the new trees (only along those paths) written into
    ``pack``: what :func:`mailgateway.store.tree_with` makes, and a folder left empty goes too."""
    return _packed(repo, tree, files, pack) or pack.add(b"", kind=TREE)


def subtree_of(repo: pygit2.Repository, tree: pygit2.Tree | None, name: str) -> pygit2.Tree | None:
    """The folder ``name`` of ``tree``, if it has one; raises StoreError if ``name`` is a file there."""
    if tree is None or name not in tree:
        return None
    found = tree[name]
    if found.type_str != "tree":
        raise StoreError(f"cannot commit below {name!r}: it is a file in HEAD, not a folder")
    return repo[found.id].peel(pygit2.Tree)


def _packed(repo: pygit2.Repository, tree: pygit2.Tree | None, files: Files, pack: BlobPack) -> str | None:
    entries: dict[bytes, tuple[int, bytes]] = {}  # name -> (mode, raw id)
    for item in tree if tree is not None else ():
        assert item.raw_name is not None  # (an entry of a tree has a name)
        entries[item.raw_name] = (item.filemode, item.id.raw)
    below: dict[str, dict[str, tuple[int, str] | None]] = {}
    for path, entry in files.items():
        name, _, rest = path.partition("/")
        if rest:
            below.setdefault(name, {})[rest] = entry
        elif entry is None:
            entries.pop(name.encode(), None)
        else:
            entries[name.encode()] = (entry[0], bytes.fromhex(entry[1]))
    for name, inner in below.items():
        subtree = subtree_of(repo, tree, name)
        oid = _packed(repo, subtree, inner, pack)
        if oid is None:
            entries.pop(name.encode(), None)
        else:
            entries[name.encode()] = (FOLDER, bytes.fromhex(oid))
    if not entries:
        return None
    return pack.add(tree_data(entries), kind=TREE)


def tree_data(entries: Mapping[bytes, tuple[int, bytes]]) -> bytes:
    """A tree object's bytes: each entry (name -> mode, raw id) as ``<mode in octal> <name>\\0<id>``, in
    Git's order (by name, a folder's as if it ended in ``/``)."""
    order = sorted(entries, key=lambda name: name + b"/" if entries[name][0] == FOLDER else name)
    return b"".join(b"%o %s\0%s" % (entries[name][0], name, entries[name][1]) for name in order)


def _index(objects: dict[bytes, tuple[int, int]], pack_checksum: bytes) -> bytes:
    """A version 2 pack index of ``objects`` (id -> CRC-32, offset)."""
    ids = sorted(objects)
    fanout = [0] * 256
    for oid in ids:
        fanout[oid[0]] += 1
    total = 0
    for i, count in enumerate(fanout):
        total += count
        fanout[i] = total
    offsets: list[int] = []
    large: list[int] = []
    for oid in ids:
        offset = objects[oid][1]
        if offset < LARGE_OFFSET:
            offsets.append(offset)
        else:
            offsets.append(_IN_LARGE | len(large))
            large.append(offset)
    parts = [
        b"\377tOc" + struct.pack(">I", 2),
        struct.pack(">256I", *fanout),
        b"".join(ids),
        struct.pack(f">{len(ids)}I", *(objects[oid][0] for oid in ids)),
        struct.pack(f">{len(ids)}I", *offsets),
        struct.pack(f">{len(large)}Q", *large),
        pack_checksum,
    ]
    body = b"".join(parts)
    return body + hashlib.sha1(body, usedforsecurity=False).digest()
