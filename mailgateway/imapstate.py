"""What each IMAP account has read, what it is stuck on, and why it cannot connect.

One JSON object in ``<state_dir>/imap/state.json``, keyed by the account's key
(``user@host:port/folder``), written durably (write, fsync, rename) at each change::

    {"cop-intake@example.org@outlook.office365.com:993/INBOX": {
        "uidvalidity": 1711111111,  # the folder's UIDVALIDITY when last read
        "last_uid": 4711,           # every message up to this UID is spooled, or on record as not taken
        "failing": {"uidvalidity": 1711111111, "uid": 4712, "tries": 2, "error": "..."},
        "given_up": {"uidvalidity": 1711111111, "uids": [4690]},
        "error": "login refused: [AUTHENTICATIONFAILED] ...", "error_since": "2026-12-06T11:07:12+00:00"}}

``failing`` is the one message the account could not take on its last tries (messages are taken
in UID order, so there is at most one); ``given_up`` lists the messages given up on that are still
in the folder, which are never flagged seen, moved or deleted as processed. ``error`` says why the
account cannot connect or log in (empty once it can). The file is bounded: one entry per account,
at most :data:`MAX_GIVEN_UP` given-up UIDs in each (the oldest forgotten first), and UIDs that
have left the folder or belong to an old UIDVALIDITY are dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .spool import write_durably

MAX_GIVEN_UP = 1000  # given-up UIDs remembered per account; beyond that the oldest may be treated as processed


@dataclass(frozen=True)
class Failing:
    uid: int
    tries: int
    error: str


class State:
    """The accounts' state file; safe to use from every poller's thread."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = Path(state_dir) / "imap"
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.folder / "state.json"
        self.max_given_up = MAX_GIVEN_UP
        self._lock = threading.Lock()

    # -- what has been read

    def get(self, key: str) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) or None if this folder was never read."""
        entry = self._read().get(key)
        if not isinstance(entry, dict) or "uidvalidity" not in entry:
            return None
        return int(entry["uidvalidity"]), int(entry.get("last_uid", 0))

    def set(self, key: str, uidvalidity: int, last_uid: int) -> None:
        """Everything up to ``last_uid`` is taken; what was known of another UIDVALIDITY is dropped."""
        self._update(key, lambda entry: _advance(entry, uidvalidity, last_uid))

    # -- a message that cannot be taken

    def failing(self, key: str, uidvalidity: int, uid: int) -> Failing:
        """How often taking ``uid`` has failed so far (0 tries: never, or it is not the one failing)."""
        failing = self._entry(key).get("failing")
        if isinstance(failing, dict) and (failing.get("uidvalidity"), failing.get("uid")) == (uidvalidity, uid):
            return Failing(uid, int(failing.get("tries", 0)), str(failing.get("error", "")))
        return Failing(uid, 0, "")

    def count_failure(self, key: str, uidvalidity: int, uid: int, error: str) -> int:
        """One more failed try at ``uid``; return how many there have been."""
        tries = self.failing(key, uidvalidity, uid).tries + 1

        def change(entry: dict[str, Any]) -> None:
            entry["failing"] = {"uidvalidity": uidvalidity, "uid": uid, "tries": tries, "error": error[:500]}

        self._update(key, change)
        return tries

    def give_up(self, key: str, uidvalidity: int, uid: int) -> None:
        """Count ``uid`` as taken (the account goes on past it) and never process it on the server."""
        uids = [u for u in self.given_up(key, uidvalidity) if u != uid][-(self.max_given_up - 1) :] + [uid]

        def change(entry: dict[str, Any]) -> None:
            _advance(entry, uidvalidity, uid)
            entry["given_up"] = {"uidvalidity": uidvalidity, "uids": uids}

        self._update(key, change)

    def given_up(self, key: str, uidvalidity: int) -> list[int]:
        given_up = self._entry(key).get("given_up")
        if isinstance(given_up, dict) and given_up.get("uidvalidity") == uidvalidity:
            return [int(uid) for uid in given_up.get("uids", [])]
        return []

    def keep_given_up(self, key: str, uidvalidity: int, uids: list[int]) -> None:
        """Forget the given-up UIDs that are not in ``uids`` (they have left the folder)."""
        kept = [uid for uid in self.given_up(key, uidvalidity) if uid in set(uids)]

        def change(entry: dict[str, Any]) -> None:
            if kept:
                entry["given_up"] = {"uidvalidity": uidvalidity, "uids": kept}
            else:
                entry.pop("given_up", None)

        self._update(key, change)

    # -- the account's connection

    def set_error(self, key: str, error: str, now: dt.datetime) -> None:
        """Why the account cannot connect now; "" once it can."""

        def change(entry: dict[str, Any]) -> None:
            if not error:
                entry.pop("error", None)
                entry.pop("error_since", None)
            elif entry.get("error") != error:
                entry.update(error=error[:500], error_since=now.isoformat(timespec="seconds"))

        self._update(key, change)

    def all(self) -> dict[str, dict[str, Any]]:
        """Every account's entry, for people (``intranet spool list``)."""
        return {key: entry for key, entry in self._read().items() if isinstance(entry, dict)}

    # -- the file

    def _update(self, key: str, change: Callable[[dict[str, Any]], None]) -> None:
        with self._lock:
            data = self._read()
            entry = data.get(key)
            before = json.dumps(entry, sort_keys=True)
            entry = dict(entry) if isinstance(entry, dict) else {}
            change(entry)
            if json.dumps(entry, sort_keys=True) == before:
                return
            data[key] = entry
            write_durably(self.path, json.dumps(data, indent=1, sort_keys=True).encode(), self.folder)

    def _entry(self, key: str) -> dict[str, Any]:
        entry = self._read().get(key)
        return entry if isinstance(entry, dict) else {}

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


def _advance(entry: dict[str, Any], uidvalidity: int, last_uid: int) -> None:
    entry.update(uidvalidity=uidvalidity, last_uid=last_uid)
    failing = entry.get("failing")
    if isinstance(failing, dict) and (failing.get("uidvalidity") != uidvalidity or failing.get("uid", 0) <= last_uid):
        del entry["failing"]
    given_up = entry.get("given_up")
    if isinstance(given_up, dict) and given_up.get("uidvalidity") != uidvalidity:
        del entry["given_up"]
