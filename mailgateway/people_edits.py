"""The gateway's changes to people's files: bounce bookkeeping, and people added by ``approve known``.

``people/<handle>.yml`` belongs to editors as much as to the gateway, so the gateway:

- changes the file as the branch has it, never the copy in the work tree, so
  an editor's uncommitted change is not committed in the gateway's name
  (:meth:`mailgateway.store.Store.commit` with ``rewrites``; if the branch
  moves meanwhile, the change is made again on the new commit);
- keeps what the editor wrote: comments, key order, quoting, flow lists and
  indentation (ruamel.yaml's round trip); only the keys it changes are new;
- writes the work tree's copy only when it was the committed one (or already
  the gateway's result, after a crash): otherwise the editor's work is left
  as it is and the log says so, as the editor's next commit of that file must
  keep the gateway's change;
- adds a person under a handle that neither the branch nor the work tree
  uses, so a file an editor has moved or deleted without committing yet is
  never taken over.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from intranet.format import PEOPLE, dump_yaml

from .spool import write_durably
from .store import Commit, Store

log = logging.getLogger(__name__)

Change = Callable[[Any], None]  # changes a person's mapping in place
Committer = Callable[..., Commit | None]  # Effects.commit(paths, **message): the model reads what it wrote
MAX_SUFFIX = 100  # handle, handle-2, ... handle-100


# -- the text (pure) -------------------------------------------------------------


def stop_mail(address: str, day: str) -> Change:
    """Record that mail to ``address`` stopped on ``day`` (``undeliverable:``)."""

    def change(data: Any) -> None:
        stopped = data.get("undeliverable")
        if not isinstance(stopped, dict):
            stopped = data["undeliverable"] = {}
        stopped[address] = day

    return change


def resume_mail(address: str) -> Change:
    """Forget that mail to ``address`` stopped; drop ``undeliverable:`` once it is empty."""

    def change(data: Any) -> None:
        stopped = data.get("undeliverable")
        if isinstance(stopped, dict):
            stopped.pop(address, None)
            if not stopped:
                del data["undeliverable"]

    return change


def edited_yaml(text: str, change: Change) -> str:
    """``text`` after ``change`` to its top-level mapping, the rest as it was written.

    Raises ValueError if ``text`` is not YAML holding a mapping.
    """
    try:
        data, sequence, offset = load_yaml_guess_indent(text, yaml=_yaml())
    except YAMLError as exc:
        raise ValueError(f"not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("not a mapping")
    change(data)
    yaml = _yaml()
    if offset is None:  # no list written as a block: as the gateway writes them
        sequence, offset = 2, 0
    yaml.indent(mapping=_mapping_indent(text, offset or 2), sequence=sequence, offset=offset)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _yaml() -> YAML:
    yaml = YAML()  # round trip; tags it does not know are kept as text, never run
    yaml.preserve_quotes = True
    yaml.width = 100_000  # never fold a long line
    return yaml


def _mapping_indent(text: str, default: int) -> int:
    """The indent of the first mapping nested under a key; ``default`` when there is none."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, following in zip(lines, lines[1:], strict=False):
        if re.fullmatch(r"\s*[^\s#-][^#]*:\s*(#.*)?", line):
            inner, outer = len(following) - len(following.lstrip()), len(line) - len(line.lstrip())
            if inner > outer and not following.lstrip().startswith("- "):
                return inner - outer
    return default


# -- the files (Git and the work tree) ---------------------------------------------


class PeopleFiles:
    """Commits changes to ``people/`` as the module's docstring says."""

    def __init__(self, root: Path, store: Store, commit: Committer, tmp_dir: Path) -> None:
        self.root = root
        self.store = store
        self.commit = commit
        self.tmp_dir = tmp_dir

    def path(self, handle: str) -> Path:
        return self.root / PEOPLE / f"{handle}.yml"

    def edit(self, handle: str, change: Change, **message: Any) -> Commit | None:
        """Commit ``change`` to the committed file of ``handle``; None if it changes nothing."""
        path = self.path(handle)
        name = f"{PEOPLE}/{handle}.yml"
        committed = self.store.committed(path)
        if committed is None:
            log.warning("%s is not committed: left alone (%s)", name, message.get("subject", ""))
            return None
        wanted = _edited(name, committed, change)
        if wanted is None or wanted == committed:
            return None
        follows = _read(path) in (committed, wanted)  # no uncommitted work of an editor's in it
        if follows:
            write_durably(path, wanted, self.tmp_dir)  # first: after a crash the same change is committed
        made: dict[str, bytes] = {}

        def rewrite(current: bytes | None) -> bytes | None:
            if current is None:
                return None  # deleted meanwhile: nothing to change
            new = wanted if current == committed else _edited(name, current, change)
            if new is not None:
                made["new"] = new
            return new

        commit = self.commit([], rewrites={path: rewrite}, **message)
        if follows and made.get("new", wanted) != wanted and _read(path) == wanted:
            write_durably(path, made["new"], self.tmp_dir)  # made on an editor's newer commit
        if not follows:
            log.warning(
                "%s has uncommitted changes: the gateway committed its own (%s) without them and left the file "
                "as it is; keep the gateway's change when committing it",
                name,
                message.get("subject", ""),
            )
        return commit

    def set_picture(self, handle: str, data: bytes, **message: Any) -> Commit | None:
        """Commit ``data`` as ``people/<handle>.jpg`` (written to the work tree first); None if it is so already."""
        path = self.root / PEOPLE / f"{handle}.jpg"
        if self.store.committed(path) == data:
            return None
        write_durably(path, data, self.tmp_dir)
        return self.commit([], rewrites={path: lambda current: data}, **message)

    def add(self, base: str, data: dict[str, Any], **message: Any) -> str:
        """Commit a new person's file as ``base``, or ``base-2``, ``base-3``...: the first handle the
        branch and the work tree both leave free (or that holds this very file already, from an
        attempt cut short); return the handle."""
        text = dump_yaml(data).encode("utf-8")
        for n in range(1, MAX_SUFFIX + 1):
            handle = base if n == 1 else f"{base}-{n}"
            path = self.path(handle)
            if path.is_symlink() or self.store.committed(path) not in (None, text) or _read(path) not in (None, text):
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_durably(path, text, self.tmp_dir)
            self.commit(
                [],
                rewrites={path: lambda current: text if current in (None, text) else None},
                subject=f"people: add {handle}",
                **message,
            )
            if self.store.committed(path) == text:
                return handle
            if _read(path) == text:
                path.unlink()  # an editor committed this handle meanwhile: try the next
        raise ValueError(f"no free handle for {base!r} in {PEOPLE}/")


def _edited(name: str, data: bytes, change: Change) -> bytes | None:
    try:
        return edited_yaml(data.decode("utf-8"), change).encode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("%s cannot be changed by the gateway: %s", name, exc)
        return None


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
