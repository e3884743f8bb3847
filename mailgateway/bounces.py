"""Reading bounce messages, and a book of bounce scores per address.

:func:`read_bounce` hands a raw message to flufl.bounce, which knows RFC 3464
delivery status notifications and many older, vendor-specific formats, and
returns the failing addresses it finds, split into permanent and temporary
failures. It never raises: a message it cannot read has no failures.

:class:`BounceBook` keeps a score per address in one JSON file, as Mailman 3
does: a permanent failure adds ``hard``, a temporary one ``soft``, at most one
bounce a day counts (the worst of the day), a score left alone for
``stale_after`` starts again from zero, and at ``threshold`` delivery to the
address should stop. Each address keeps its last few events so an operator
can see why. The book has a single writer: it reads its file once, when
opened, and rewrites it durably on every change.
"""

from __future__ import annotations

import datetime as dt
import email
import json
import logging
import os
from dataclasses import asdict, dataclass, field
from email.header import Header
from email.message import Message
from email.policy import Compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from flufl.bounce import all_failures

from .spool import write_durably

log = logging.getLogger(__name__)

HISTORY_LENGTH = 10  # events kept per address
FORMAT_VERSION = 1


# -- reading bounces -------------------------------------------------------------


@dataclass(frozen=True)
class Failures:
    """The addresses a bounce reports as failing, lower-cased."""

    permanent: frozenset[str] = frozenset()
    temporary: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.permanent or self.temporary)


class _TextHeaders(Compat32):
    """compat32, except that a header holding raw 8-bit bytes reads as ``str``.

    compat32 returns an ``email.header.Header`` for such a header, and
    flufl.bounce's detectors call ``str`` methods on header values
    (``.lower()``, ``.startswith()``), so one stray byte in ``From:`` or
    ``X-Mailer:`` made the whole scan raise. Undecodable bytes become U+FFFD.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        fetched = super().header_fetch_parse(name, value)
        return str(fetched) if isinstance(fetched, Header) else fetched


_POLICY = _TextHeaders()


def _parse(raw: bytes) -> Message:
    msg = email.message_from_bytes(raw, policy=_POLICY)
    if not getaddresses([str(msg.get("from", ""))]):
        # flufl.bounce's Yale detector indexes the first From address without
        # checking there is one, so a single-part message without From raised
        # before the later detectors (Postfix, qmail, the simple ones) could run.
        del msg["from"]
        msg["From"] = "<>"
    return msg


def _addresses(found: frozenset[bytes]) -> frozenset[str]:
    decoded = (address.decode("ascii", "replace").strip().lower() for address in found)
    return frozenset(address for address in decoded if address)


def read_bounce(raw: bytes) -> Failures:
    """The permanent and temporary failures ``raw`` reports; empty if it reports none or is unreadable."""
    try:
        temporary, permanent = all_failures(_parse(raw))  # note the order: temporary first
        return Failures(permanent=_addresses(permanent), temporary=_addresses(temporary))
    except Exception as exc:  # noqa: BLE001 - flufl.bounce re-raises whatever a detector raises
        log.warning("could not read bounce (%s: %s); taking it as reporting no failures", type(exc).__name__, exc)
        return Failures()


def is_permanent(failures: Failures, address: str) -> bool | None:
    """True if ``address`` failed permanently, False if temporarily, None if the bounce does not name it."""
    address = _normalise(address)
    if address in failures.permanent:
        return True
    if address in failures.temporary:
        return False
    return None


# -- the bounce score book -------------------------------------------------------


@dataclass(frozen=True)
class BouncePolicy:
    threshold: float = 5.0  # score at which delivery to the address stops
    hard: float = 1.0  # a permanent failure adds this
    soft: float = 0.5  # a temporary failure adds this
    stale_after: dt.timedelta = dt.timedelta(days=7)  # a score with no bounce for this long starts again from zero
    one_per_day: bool = True  # at most one bounce counted per address per day (Mailman does this)


@dataclass(frozen=True)
class BounceEvent:
    """One recorded bounce: when, which kind, what it added and the score after it."""

    at: str  # ISO 8601
    permanent: bool
    added: float
    score: float


@dataclass
class _Entry:
    score: float = 0.0
    last_bounce: str = ""  # ISO 8601 time of the last bounce recorded, counted or not
    day: str = ""  # ISO date of the last day a bounce counted
    day_added: float = 0.0  # what bounces added on that day
    history: list[BounceEvent] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _Entry:
        """Raises ValueError, TypeError, KeyError or AttributeError on anything malformed."""
        for moment in (data["last_bounce"], *(event["at"] for event in data["history"])):
            dt.datetime.fromisoformat(moment)  # checked now, so record() cannot trip over it later
        dt.date.fromisoformat(data["day"])
        history = [
            BounceEvent(str(e["at"]), bool(e["permanent"]), float(e["added"]), float(e["score"]))
            for e in data["history"]
        ]
        return cls(float(data["score"]), data["last_bounce"], data["day"], float(data["day_added"]), history)


def _normalise(address: str) -> str:
    return address.strip().lower()


def _aware(moment: dt.datetime) -> dt.datetime:
    """``moment``, taken as UTC if it carries no time zone."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _is_stale(entry: _Entry, now: dt.datetime, policy: BouncePolicy) -> bool:
    if not entry.last_bounce:
        return True
    return now - _aware(dt.datetime.fromisoformat(entry.last_bounce)) >= policy.stale_after


def _weight(permanent: bool, policy: BouncePolicy) -> float:
    return policy.hard if permanent else policy.soft


def _to_add(entry: _Entry, weight: float, day: str, policy: BouncePolicy) -> float:
    """What a bounce of ``weight`` on ``day`` adds: with one per day, only what it has over the day's worst so far."""
    if policy.one_per_day and entry.day == day:
        return max(0.0, weight - entry.day_added)
    return weight


def _load(path: Path) -> dict[str, _Entry]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {address: _Entry.from_json(entry) for address, entry in data["addresses"].items()}
    except FileNotFoundError:
        log.info("no bounce book at %s yet; starting empty", path)
        return {}
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # not JSON, or not the book's shape
        kept = path.with_name(path.name + ".corrupt")
        log.warning("bounce book %s is unreadable (%s); starting empty, the old file kept as %s", path, exc, kept)
        _set_aside(path, kept)
        return {}


def _set_aside(path: Path, kept: Path) -> None:
    try:
        os.replace(path, kept)
    except OSError as exc:
        log.warning("could not keep %s as %s: %s", path, kept, exc)


class BounceBook:
    """Bounce scores per address, kept in a JSON file."""

    def __init__(self, path: Path, policy: BouncePolicy) -> None:
        self.path = Path(path)
        self.policy = policy
        self._entries = _load(self.path)

    def record(self, address: str, permanent: bool, now: dt.datetime) -> float:
        """Count a bounce for ``address`` at ``now`` and return its new score."""
        address, now = _normalise(address), _aware(now)
        entry = self._entries.get(address, _Entry())
        if _is_stale(entry, now, self.policy):
            entry = _Entry(history=entry.history)
        day = now.date().isoformat()
        added = _to_add(entry, _weight(permanent, self.policy), day, self.policy)
        entry.score = round(entry.score + added, 6)
        entry.day_added = (entry.day_added if entry.day == day else 0.0) + added
        entry.day, entry.last_bounce = day, now.isoformat()
        entry.history = [*entry.history, BounceEvent(now.isoformat(), permanent, added, entry.score)][-HISTORY_LENGTH:]
        self._entries[address] = entry
        self._save()
        log.info("bounce for %s (%s): +%s, score %s", address, "hard" if permanent else "soft", added, entry.score)
        return entry.score

    def score(self, address: str, now: dt.datetime) -> float:
        """The score of ``address`` at ``now``: zero once it has gone stale."""
        entry = self._entries.get(_normalise(address))
        if entry is None or _is_stale(entry, _aware(now), self.policy):
            return 0.0
        return entry.score

    def reset(self, address: str) -> None:
        """Forget ``address``'s score and history, e.g. once it has been fixed."""
        if self._entries.pop(_normalise(address), None) is not None:
            self._save()

    def crossed(self, address: str, now: dt.datetime) -> bool:
        """Whether ``address`` has reached the threshold, so delivery to it should stop."""
        return self.score(address, now) >= self.policy.threshold

    def history(self, address: str) -> list[BounceEvent]:
        """The last few bounces recorded for ``address``, oldest first."""
        entry = self._entries.get(_normalise(address))
        return list(entry.history) if entry else []

    def _save(self) -> None:
        data = {"version": FORMAT_VERSION, "addresses": {a: asdict(e) for a, e in sorted(self._entries.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_durably(self.path, json.dumps(data, indent=1).encode("utf-8") + b"\n", self.path.parent)
