"""What the gateway does to the world on a decision's behalf: commits, notices and outgoing mail.

One :class:`Effects` per worker, shared with :class:`mailgateway.commands.Commands`,
so that deciding (:mod:`mailgateway.routing`, the commands) never needs the
worker itself. Every commit goes through :meth:`Effects.commit`, which tells
the model what it wrote, so the process's one model follows its own commits.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intranet.format import attachments_dir
from intranet.model import Model
from intranet.settings import Settings

from .breakage import Breakages
from .heldshare import HeldShare
from .notices import Notices
from .outgoing import Outgoing, Queue
from .parse import Inbound
from .spool import Records, Spool, fsync_dirs, write_durably
from .store import Commit, Store


class Effects:
    def __init__(
        self,
        root: Path,
        settings: Settings,
        spool: Spool,
        records: Records,
        store: Store,
        model: Callable[[], Model],
        clock: Callable[[], dt.datetime],
        secret: bytes,
    ) -> None:
        self.root = root
        self.settings = settings
        self.spool = spool
        self.records = records
        self.store = store
        self.model = model  # the process's model (as it is: a commit of ours is told to it, not diffed)
        self.clock = clock
        self.secret = secret
        self._prefix = os.path.join(os.path.realpath(root), "")  # the root, resolved, with a separator after it
        self.queue = Queue(root / settings.state_dir)
        self.notices = Notices(root / settings.state_dir, settings, self.send)
        self.breakages = Breakages(root / settings.state_dir, settings, self.send)  # commits that broke a file
        self.wake_notifier: Callable[[], None] = lambda: None
        self.held_share: HeldShare | None = None  # with a remote: held mail is on it too (another gateway decides)

    def send(self, message: Any, envelope: Outgoing) -> None:
        """Queue one outgoing mail; the notifier delivers it."""
        self.queue.enqueue(message, envelope)
        self.wake_notifier()

    def notice(self, mail: Inbound, reason: str, now: dt.datetime, **values: str) -> None:
        """Tell the sender of ``mail`` what became of it (rate-limited per sender and reason)."""
        self.notices.send(mail.from_address, reason, mail.subject, mail.message_id, now, **values)

    def write_post(self, relpath: str, text: str, files: dict[str, bytes], unsynced: list[Path] | None) -> list[Path]:
        """Write a post and its attachments, each file fsynced; their folders too, or, given ``unsynced``,
        added to it for the caller to fsync (:func:`~mailgateway.spool.fsync_dirs`) once for a batch."""
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        paths = [path]
        if files:
            folder = attachments_dir(path)
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in files.items():
                write_durably(folder / name, data, self.spool.tmp, sync_dir=False)
                paths.append(folder / name)
        write_durably(path, text.encode("utf-8"), self.spool.tmp, sync_dir=False)
        folders = [p.parent for p in paths]
        if unsynced is None:
            fsync_dirs(folders)
        else:
            unsynced += folders
        return paths

    def _relpath(self, path: Path) -> str:
        """``path`` relative to the root; without asking the disk when it is plainly below it."""
        full = os.path.abspath(path)
        if os.sep == "/" and full.startswith(self._prefix):
            return full[len(self._prefix) :]
        return path.resolve().relative_to(self.root).as_posix()

    def commit(self, paths: list[Path], **message: Any) -> Commit | None:
        """Commit ``paths`` through the store; the model reads what the commit wrote."""
        commit = self.store.commit(paths, **message)
        written = [self.store.work_tree / p for p in commit.paths] if commit is not None else [Path(p) for p in paths]
        relpaths = [self._relpath(p) for p in written]
        if commit is not None:
            self.model().committed(commit.parent, commit.sha, relpaths)
        else:  # HEAD had them already (a redelivery after a crash): the model may not have read them yet
            self.model().apply(relpaths)
        return commit
