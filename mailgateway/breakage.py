"""Telling the author of a commit that broke a content file (quarantine, :mod:`intranet.quarantine`).

The author of the breaking commit gets one mail naming each file, line and
problem, and what the intranet does meanwhile (keeps the last valid version,
or leaves the file out); the moderators of the file's community get a copy.
One mail per breakage (a file and the commit that broke it), never two: the
mail's Message-ID is made from the breakage, so the outgoing queue takes it
once (:mod:`mailgateway.outgoing`), and the breakages told are recorded in
``<state_dir>/quarantine-told.json``, which a restart reads. A breakage is
forgotten once its file is no longer quarantined and ``KEEP_DAYS`` have
passed; at most ``KEEP`` are kept.

:func:`breakage_mail` is pure; :class:`Breakages` carries it out.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import json
import logging
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from intranet.format import COMMUNITIES, Community, Person
from intranet.model import Model
from intranet.quarantine import TOLD_FILE, Quarantined, told
from intranet.settings import Settings

from .outgoing import Outgoing
from .spool import write_durably

log = logging.getLogger(__name__)

KEEP_DAYS = 30
KEEP = 1000


def breakage_key(entry: Quarantined) -> str:
    return f"{entry.path}@{entry.since}"


def breakage_mail(
    entry: Quarantined, settings: Settings, copies: list[str], now: dt.datetime
) -> tuple[EmailMessage, list[str]]:
    """The mail to the author of ``entry``'s breaking commit, and every address it goes to."""
    name, address = entry.author
    key = hashlib.sha256(breakage_key(entry).encode()).hexdigest()[:24]
    message = EmailMessage()
    message["From"] = email.utils.formataddr((settings.site_name, settings.noreply))
    message["To"] = email.utils.formataddr((name, address))
    if copies:
        message["Cc"] = ", ".join(copies)
    message["Subject"] = f"A file you committed cannot be read: {entry.path}"[:200]
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = f"<quarantine-{key}@{settings.mail_domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Loop"] = settings.noreply
    if entry.left_out:
        meanwhile = "The intranet has no valid version of this file, so it leaves the file out until it is fixed."
    else:
        kept = f" (from commit {entry.kept[:12]})" if entry.kept else ""
        meanwhile = f"Until it is fixed, the intranet keeps using the last valid version of the file{kept}."
    problems = "\n".join(f"    {problem}" for problem in entry.problems)
    message.set_content(
        f"Hello {name or address},\n\n"
        f"Your commit {entry.since[:12]} changed {entry.path}, and the intranet cannot use the new version:\n\n"
        f"{problems}\n\n{meanwhile}\n\n"
        "Please fix the file and commit again; `intranet check` in your clone lists what is wrong "
        "(each line reads path:line: field: problem).\n\n"
        f"-- \n{settings.site_name}\n"
    )
    return message, [address, *(c for c in copies if c.lower() != address.lower())]


def moderators_of(entry: Quarantined, communities: dict[str, Community], people: dict[str, Person]) -> list[str]:
    """The addresses of the moderators of the community ``entry``'s file belongs to."""
    parts = entry.path.split("/")
    community = communities.get(parts[1]) if parts[0] == COMMUNITIES and len(parts) > 2 else None
    if community is None:
        return []
    found = []
    for handle in community.moderators:
        person = people.get(handle)
        address = person.mail_address() if person is not None else None
        if address and address not in found:
            found.append(address)
    return found


class Breakages:
    """Sends each breakage's mail once (see the module's docstring)."""

    def __init__(self, state_dir: Path, settings: Settings, send: Callable[[EmailMessage, Outgoing], None]) -> None:
        self.state_dir = Path(state_dir)
        self.settings = settings
        self.send = send
        self.path = self.state_dir / TOLD_FILE
        self._seen: tuple[str, ...] = ()

    def tell(self, model: Model, now: dt.datetime) -> int:
        """Mail the authors of the breakages not told yet; the number of mails queued."""
        with model.lock:
            entries = [e for e in model.quarantine.listed() if e.since and e.author[1]]
            current = tuple(breakage_key(e) for e in entries)
            if current == self._seen:
                return 0  # nothing new since the last look
            copies = {e.path: moderators_of(e, model.communities, model.people) for e in entries}
        told_before = told(self.state_dir)
        sent = 0
        for entry in entries:
            key = breakage_key(entry)
            if key in told_before:
                continue
            message, recipients = breakage_mail(entry, self.settings, copies[entry.path], now)
            for rcpt in recipients:
                self.send(message, Outgoing(mail_from="", rcpt=rcpt, kind="notice"))
            told_before[key] = {
                "path": entry.path,
                "since": entry.since,
                "to": ", ".join(recipients),
                "told": now.isoformat(),
            }
            log.info("quarantine: told %s that %s does not validate", ", ".join(recipients), entry.path)
            sent += 1
        self._save(told_before, set(current), now)
        self._seen = current
        return sent

    def _save(self, told: dict[str, dict[str, str]], current: set[str], now: dt.datetime) -> None:
        oldest = (now - dt.timedelta(days=KEEP_DAYS)).isoformat()
        kept = {k: v for k, v in told.items() if k in current or v.get("told", "") >= oldest}
        kept = dict(sorted(kept.items(), key=lambda kv: kv[1].get("told", ""))[-KEEP:])
        write_durably(self.path, json.dumps(kept, indent=1).encode(), self.state_dir)
