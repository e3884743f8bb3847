"""Git: one commit per post, authored by its sender, committed by the gateway.

The only module of the gateway that writes to Git (with its helper
:mod:`mailgateway.gitpack`, which writes many blobs at once as one pack for
``intranet import``). One :class:`Store` is used by one worker at a time (the
worker holds the spool lock), from one thread.

**How a commit is written.** Not with ``git add`` and ``git commit``: those
read and rewrite the whole index (``.git/index``) for every post, which in a
repository of 100,000 files costs about a quarter of a second each. The store
writes the objects itself, with libgit2 (pygit2):

1. a blob for each file of the post (the post, its attachments), read from
   the work tree where the worker has just written it durably (or given, made
   from the bytes just written there: ``blobs``); or, for a file an editor may
   be changing too (``people/``), made from the file as the commit it is
   built on has it (``rewrites``), never from the work tree;
2. new trees only along the changed paths, on top of the tree of the commit
   the branch points to now (an editor's uncommitted or staged changes are in
   the work tree and the index, never in that tree, so they are not swept in);
3. a commit with the sender as author, the gateway as committer and the
   trailers (``Message-ID:``) at the end of the message;
4. a compare-and-swap of the branch that ``HEAD`` names (or of ``HEAD`` when
   it is detached): the ref moves only if it still points at the parent the
   commit was made on. If an editor committed in between, the trees are built
   again on the editor's commit and the swap is tried again, so neither
   commit is lost. A commit that would change nothing (a redelivery after a
   crash, already committed) is not made.

**How the index is kept in step.** Editors may work in the same checkout, so
after the gateway has committed, ``git status`` must be clean and an editor's
next commit must contain the gateway's posts. The store holds Git's own lock,
``.git/index.lock``, from its first commit of a batch until the batch ends
(the spool is empty, or :data:`HOLD_SECONDS` have passed): an editor's Git
command that would write the index waits for it or fails as it does whenever
two Git commands meet, but no editor can commit from an index that lacks the
gateway's newest posts. At the end of a batch the index gets one entry per
committed path (a copy of the index is updated with ``git update-index
--index-info``, then renamed over ``.git/index``) and the lock is removed:
one rewrite of the index per batch, not per post. A message's outcome is
recorded only once its batch has updated the index (see
:meth:`mailgateway.worker.Worker.run_once`): whoever sees an outcome finds its
post in the index. While a batch is open (at most :data:`HOLD_SECONDS`),
``git status`` in the same checkout may still show that batch's newest posts
as deleted and untracked; the index is never behind once the spool is empty.

The lock file is also the batch's journal: a marker line, then one line per
path about to be committed (path, mode, blob) and one per branch swap about to
be tried (ref, new commit). If the gateway dies between a commit and the index
update, the stale lock names what is missing, and :meth:`Store.recover` (run by
the worker when it starts) adds the entries whose blob is what ``HEAD`` has at
that path, then removes the lock. If it died inside a swap, libgit2's lock on
the branch (``refs/heads/<branch>.lock``, empty or naming the journalled commit)
is removed too: that swap never happened, and the message it was for is still
in the spool. A lock without the marker belongs to someone else and is never
touched.

**Why the ``git`` command too.** pygit2 is the one Git library at run time;
the ``git`` program is still run for two jobs libgit2 does not do as Git
itself does: updating the index (``update-index``/``read-tree`` keep the
index's extensions and the version an editor's Git wrote, which libgit2's
index writer may not), and ``gc --auto`` (libgit2 has no packing policy).

Blobs are stored as the files are on disk: no clean filters (``.gitattributes``
``filter=``, ``text=auto``) are applied, as the gateway only writes LF text and
binary attachments.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pygit2

from intranet.errors import StoreError
from intranet.gitrepo import discover, file_at
from intranet.processes import alive

from .gitpack import BlobPack, packed_tree, subtree_of

log = logging.getLogger(__name__)

LOCK_NAME = "index.lock"
LOCK_MARKER = "intranet-gateway index lock"  # first line of a lock file the gateway holds
LOCK_RETRIES = 8  # an editor's Git command holds index.lock: wait 0.05 s, 0.1 s, ... (12.75 s in all)
SWAP_RETRIES = 50  # the branch moved under us this many times in a row: give up (the message is retried)
HOLD_SECONDS = 1.0  # longest the index lock is held for one batch of commits
REOPEN_SECONDS = 60.0  # how long one pygit2.Repository is used
GC_EVERY = 500  # commits between two `git gc --auto` (loose objects are packed as `git commit` would)
FILE = pygit2.enums.FileMode.BLOB
TREE = pygit2.enums.FileMode.TREE


# A file's new bytes, from its bytes in the commit being built on (None: no such file); None keeps it as it is.
Rewrite = Callable[[bytes | None], bytes | None]


@dataclass(frozen=True)
class Commit:
    sha: str
    paths: tuple[str, ...]
    parent: str  # the commit it was made on ("" for the first commit of a branch)


def one_line(text: str, limit: int = 72) -> str:
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def git_ident(name: str, address: str) -> tuple[str, str]:
    """A name and address Git accepts, whatever the sender wrote (no '<>', newlines or bare punctuation)."""
    address = re.sub(r"[<>\s\x00-\x1f]+", "", address)[:200] or "unknown@invalid"
    name = one_line(re.sub(r"[<>]+", "", name), 200).strip(" .,:;'\"\\")
    if not any(ch.isalnum() for ch in name):
        name = address.split("@", 1)[0] or "Unknown sender"
    return name, address


def commit_message(subject: str, body: str, trailers: dict[str, str]) -> str:
    """Subject line, body and trailers, cleaned as ``git commit`` cleans a message."""
    lines = [line.rstrip() for line in body.strip().splitlines()]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines))
    message = one_line(subject) + "\n\n" + (text + "\n\n" if text else "")
    message += "".join(f"{k}: {one_line(v, 998)}\n" for k, v in trailers.items())
    return message.rstrip("\n") + "\n"


class Store:
    """Commits for one worker; see the module's docstring for how the ref and the index stay safe."""

    def __init__(self, root: Path) -> None:
        self.git_dir, self.work_tree = discover(Path(root))
        self.lock_path = self.git_dir / LOCK_NAME
        self._prefix = os.path.join(str(self.work_tree), "")  # the work tree, with a separator after it
        self._repo: pygit2.Repository | None = None
        self._opened = 0.0
        self._lock_fd: int | None = None
        self._locked_at = 0.0
        self._pending: dict[str, tuple[int, str]] = {}  # path -> (mode, blob) committed, not yet in the index
        self._since_gc = 0
        self._gc: subprocess.Popen | None = None

    # -- reading ------------------------------------------------------------------

    @property
    def repo(self) -> pygit2.Repository:
        """The repository, opened again now and then (refs are read from disk on every use; new packs
        are found when an object is missing; reopening bounds libgit2's caches)."""
        if self._repo is None or time.monotonic() - self._opened > REOPEN_SECONDS:
            self._repo = pygit2.Repository(str(self.git_dir))
            self._opened = time.monotonic()
        return self._repo

    def relpath(self, path: Path | str) -> str:
        full = os.path.abspath(path)
        if full.startswith(self._prefix) and os.sep == "/":  # (quick: an import names thousands)
            return full[len(self._prefix) :]
        try:
            return Path(full).relative_to(self.work_tree).as_posix()
        except ValueError:
            raise StoreError(f"{path} is outside the work tree {self.work_tree}") from None

    def head(self) -> str:
        commit = self._head_commit(self.repo)[1]
        return str(commit.id) if commit is not None else ""

    def is_committed(self, path: Path) -> bool:
        """True if ``path`` is in HEAD exactly as it is on disk (a lookup along one path, and one hash)."""
        commit = self._head_commit(self.repo)[1]
        if commit is None or not path.is_file():
            return False
        try:
            entry = commit.tree[self.relpath(path)]
        except KeyError:
            return False
        return entry.type_str == "blob" and entry.id == pygit2.hashfile(str(path))

    def committed(self, path: Path) -> bytes | None:
        """The bytes of ``path`` as HEAD has it; None if HEAD has no such file."""
        commit = self._head_commit(self.repo)[1]
        return file_at(commit.tree, self.relpath(path)) if commit is not None else None

    def held_for(self) -> float:
        """Seconds the index lock has been held by this batch (0 when it is not held)."""
        return time.monotonic() - self._locked_at if self._lock_fd is not None else 0.0

    # -- writing ------------------------------------------------------------------

    def blob(self, data: bytes) -> str:
        """Store ``data`` as a blob (for a file just written with exactly these bytes); its id."""
        return str(self.repo.create_blob(data))

    def blob_writer(self) -> BlobPack | LooseBlobs:
        """Somewhere to store many blobs at once (see :mod:`mailgateway.gitpack`), to be closed
        before a commit names them: one new pack, or loose objects in a repository with SHA-256 ids."""
        config = self.repo.config
        key = "extensions.objectformat"
        if key in config and str(config[key]).lower() != "sha1":
            return LooseBlobs(self)
        return BlobPack(self.git_dir)

    def commit(
        self,
        paths: Sequence[Path | str],
        subject: str,
        body: str,
        author: tuple[str, str],
        committer: tuple[str, str],
        trailers: dict[str, str],
        rewrites: Mapping[Path, Rewrite] | None = None,
        blobs: Mapping[str, str] | None = None,
        packed: bool = False,
    ) -> Commit | None:
        """Commit exactly ``paths`` as they are on disk, and each file of ``rewrites`` as its function
        makes it from the commit built on (again if the branch moves meanwhile, so an editor's commit
        of the same file is built on, not undone); None if HEAD already has them so. ``blobs`` may
        give the blob (:meth:`blob`) of some of ``paths`` (by ``os.fspath``), made from the bytes just written there.
        ``packed``: the new trees go into a pack of their own (many at once: an import's batch)."""
        rel = [self.relpath(p) for p in paths]
        edits = {self.relpath(p): rewrite for p, rewrite in (rewrites or {}).items()}
        self.lock()
        repo = self.repo
        made = blobs or {}
        files = {
            r: (int(FILE), made.get(os.fspath(p)) or str(repo.create_blob_fromdisk(os.fspath(p))))
            for r, p in zip(rel, paths, strict=True)
        }
        self._journal(files)
        message = commit_message(subject, body, trailers)
        for attempt in range(SWAP_RETRIES):
            ref_name, parent = self._head_commit(repo)
            changed = {**files, **self._rewritten(repo, parent, edits)}
            if not changed:
                return None
            tree = self._tree(repo, parent.tree if parent is not None else None, changed, packed)
            if parent is not None and tree == parent.tree_id:
                self._pending.update(changed)  # already committed: the index entry may still be missing
                return None
            now, offset = int(time.time()), time.localtime().tm_gmtoff // 60
            oid = repo.create_commit(
                None,
                pygit2.Signature(*git_ident(*author), now, offset),
                pygit2.Signature(*git_ident(*committer), now, offset),
                message,
                tree,
                [parent.id] if parent is not None else [],
            )
            self._journal_swap(ref_name, str(oid))
            if self._swap(repo, ref_name, parent, oid, "commit: " + message.split("\n", 1)[0]):
                self._pending.update(changed)
                self._since_gc += 1
                return Commit(str(oid), tuple(changed), str(parent.id) if parent is not None else "")
            log.info(
                "%s moved while committing %s (an editor's commit?): building on it", ref_name, next(iter(changed))
            )
            time.sleep(min(0.5, 0.01 * attempt))
        raise StoreError(f"{ref_name} kept moving: could not commit {next(iter(changed))}")

    def flush(self) -> None:
        """End the batch: put every committed path into the index, then release the lock."""
        if self._lock_fd is None:
            return
        if self._pending:
            self._update_index(self._pending)
            self._pending = {}
        os.close(self._lock_fd)
        self._lock_fd = None
        os.unlink(self.lock_path)
        self._collect_garbage()

    def recover(self) -> int:
        """After a crash: finish the index update a dead gateway left in its lock; return paths added.

        Only a lock that carries the gateway's marker, of a process that is gone, is taken over.
        """
        if self._lock_fd is not None:
            return 0
        try:
            text = self.lock_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return 0
        head, _, rest = text.partition("\n")
        if not head.startswith(LOCK_MARKER):
            return 0
        pid = int(head.rsplit(" ", 1)[-1]) if head.rsplit(" ", 1)[-1].isdigit() else 0
        if pid and pid != os.getpid() and alive(pid):
            log.warning("%s is held by a running gateway (pid %d): left alone", self.lock_path, pid)
            return 0
        entries: dict[str, tuple[int, str]] = {}
        swaps: dict[str, set[str]] = {}
        lines = []
        for line in rest.splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue  # a torn last line
        for item in lines:
            if isinstance(item, dict) and isinstance(item.get("swap"), str):
                swaps.setdefault(item["swap"], set()).add(str(item.get("to", "")))
        for name, oids in swaps.items():  # killed while libgit2 held the branch's lock: the swap never happened
            ref_lock = self.git_dir / f"{name}.lock"
            try:
                if ref_lock.read_text().strip() in oids | {""}:
                    ref_lock.unlink()
                    log.warning("removed %s, left by a gateway that died while moving the branch", ref_lock)
            except FileNotFoundError:
                pass
        commit = self._head_commit(self.repo)[1]
        for item in lines:
            try:
                path, mode, blob = item
                if commit is not None and str(commit.tree[path].id) == blob:
                    entries[path] = (int(mode), str(blob))
            except (ValueError, TypeError, KeyError):
                continue  # a commit that never landed
        self._lock_fd = os.open(self.lock_path, os.O_WRONLY | os.O_APPEND)
        self._locked_at = time.monotonic()
        self._pending = entries
        self.flush()
        log.warning("repaired the Git index after a crash: %d committed paths added", len(entries))
        return len(entries)

    # -- the parts ----------------------------------------------------------------

    def lock(self) -> None:
        """Take ``.git/index.lock`` for this batch, waiting a little for an editor's Git command."""
        if self._lock_fd is not None:
            return
        for attempt in range(LOCK_RETRIES):
            try:
                fd = os.open(self.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                if attempt == LOCK_RETRIES - 1:
                    break
                delay = 0.05 * (2**attempt)
                log.info("%s is held (an editor's Git command?): retrying in %.2f s", self.lock_path, delay)
                time.sleep(delay)
                continue
            os.write(fd, f"{LOCK_MARKER} {os.getpid()}\n".encode())
            self._lock_fd = fd
            self._locked_at = time.monotonic()
            return
        raise StoreError(f"{self.lock_path} stayed held: another Git command is running in {self.work_tree}")

    def _journal(self, files: dict[str, tuple[int, str]]) -> None:
        assert self._lock_fd is not None
        lines = "".join(json.dumps([path, mode, blob]) + "\n" for path, (mode, blob) in files.items())
        os.write(self._lock_fd, lines.encode("utf-8"))

    def _rewritten(
        self, repo: pygit2.Repository, parent: pygit2.Commit | None, edits: Mapping[str, Rewrite]
    ) -> dict[str, tuple[int, str]]:
        """The blobs of ``edits`` made from the files of ``parent``, journalled like any other."""
        files = {}
        for path, rewrite in edits.items():
            data = rewrite(file_at(parent.tree, path) if parent is not None else None)
            if data is not None:
                files[path] = (int(FILE), str(repo.create_blob(data)))
        if files:
            self._journal(files)
        return files

    def _tree(self, repo: pygit2.Repository, tree: pygit2.Tree | None, files: dict, packed: bool) -> pygit2.Oid:
        if not packed or not isinstance(writer := self.blob_writer(), BlobPack):
            return _tree_with(repo, tree, files)
        try:
            oid = packed_tree(repo, tree, files, writer)
        finally:
            writer.close()  # (found by libgit2 when the commit names the tree)
        return pygit2.Oid(hex=oid)

    def _journal_swap(self, ref_name: str, oid: str) -> None:
        assert self._lock_fd is not None
        os.write(self._lock_fd, (json.dumps({"swap": ref_name, "to": oid}) + "\n").encode("utf-8"))

    def _head_commit(self, repo: pygit2.Repository) -> tuple[str, pygit2.Commit | None]:
        """(The ref a commit moves: the branch HEAD names, or HEAD itself; the commit it points at now)."""
        head = repo.references.get("HEAD")
        if head is None:
            raise StoreError(f"{self.git_dir} has no HEAD")
        name = head.target if head.type == pygit2.enums.ReferenceType.SYMBOLIC else "HEAD"
        assert isinstance(name, str)
        ref = repo.references.get(name) if name != "HEAD" else head
        if ref is None:
            return name, None  # a branch with no commit yet
        return name, repo[ref.target].peel(pygit2.Commit)

    def _swap(
        self, repo: pygit2.Repository, name: str, parent: pygit2.Commit | None, oid: pygit2.Oid, why: str
    ) -> bool:
        """Point ``name`` at ``oid`` if it still points at ``parent``; False if it moved (or is locked)."""
        try:
            if parent is None:
                repo.create_reference(name, oid, force=False, message=why)
                return True
            ref = repo.references.get(name)
            if ref is None or ref.resolve().target != parent.id:
                return False
            ref.set_target(oid, why)  # libgit2 checks the old value under the ref's lock
            return True
        except pygit2.AlreadyExistsError:
            return False
        except (pygit2.GitError, OSError) as exc:  # libgit2 reports a held lock as OSError
            text = str(exc)
            if "does not match" in text or "lock" in text:
                return False  # moved, or someone (an editor, `git gc`) holds its lock for a moment
            raise StoreError(f"git failed moving {name}: {text}") from None

    def _update_index(self, entries: dict[str, tuple[int, str]]) -> None:
        """Rewrite the index with ``entries``, under the lock we hold: a copy is updated, then renamed."""
        index = self.git_dir / "index"
        scratch = self.git_dir / "index.intranet-gateway"
        scratch.unlink(missing_ok=True)
        env = {**os.environ, "GIT_INDEX_FILE": str(scratch)}
        if index.is_file():
            shutil.copyfile(index, scratch)
        else:  # no index yet: start from HEAD, so the other files do not show as deleted
            head = self.head()
            if head:
                _git(self.work_tree, env, "read-tree", head)
        info = "".join(f"{mode:o} {blob}\t{path}\0" for path, (mode, blob) in entries.items())
        _git(self.work_tree, env, "update-index", "--add", "-z", "--index-info", stdin=info)
        os.replace(scratch, index)

    def _collect_garbage(self) -> None:
        """Now and then let Git pack loose objects, as `git commit` does (in the background)."""
        if self._gc is not None and self._gc.poll() is None:
            return
        self._gc = None
        if self._since_gc < GC_EVERY:
            return
        self._since_gc = 0
        self._gc = subprocess.Popen(
            ["nice", "-n", "10", "git", "gc", "--auto", "--quiet"],  # behind intake, not in its way
            cwd=self.work_tree,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


class LooseBlobs:
    """:class:`~mailgateway.gitpack.BlobPack`'s interface, for blobs written one by one."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, data: bytes) -> str:
        return self.store.blob(data)

    def close(self) -> None:
        pass

    def abandon(self) -> None:
        pass


def _tree_with(
    repo: pygit2.Repository, tree: pygit2.Tree | None, files: Mapping[str, tuple[int, str] | None]
) -> pygit2.Oid:
    """The id of ``tree`` with ``files`` (path -> mode, blob; None: removed) put in; only trees along
    those paths are new (a folder left empty goes)."""
    return _build(repo, tree, files)[0]


def _build(
    repo: pygit2.Repository, tree: pygit2.Tree | None, files: Mapping[str, tuple[int, str] | None]
) -> tuple[pygit2.Oid, int]:
    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    below: dict[str, dict[str, tuple[int, str] | None]] = {}
    for path, entry in files.items():
        name, _, rest = path.partition("/")
        if rest:
            below.setdefault(name, {})[rest] = entry
        elif entry is None:
            if builder.get(name) is not None:
                builder.remove(name)
        else:
            builder.insert(name, pygit2.Oid(hex=entry[1]), entry[0])
    for name, inner in below.items():
        subtree = subtree_of(repo, tree, name)
        oid, size = _build(repo, subtree, inner)
        if size:
            builder.insert(name, oid, TREE)
        elif builder.get(name) is not None:
            builder.remove(name)
    return builder.write(), len(builder)


tree_with = _tree_with  # for replaying commits (mailgateway.replay)


def _git(cwd: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(["git", *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise StoreError(f"git {args[0]} failed: {result.stderr.strip()}")
