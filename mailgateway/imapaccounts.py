"""IMAP accounts: the YAML file of mailboxes (see :mod:`mailgateway.imap` for its fields), which
community a message from a shared mailbox is for, and what each account has read so far."""

from __future__ import annotations

import email.policy
import email.utils
import json
import logging
import os
import threading
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from intranet.addresses import split_address
from intranet.format import load_yaml

from .spool import write_durably

log = logging.getLogger(__name__)

TLS_MODES = ("implicit", "starttls", "none")
PROCESSED_MODES = ("seen", "move", "delete")
ROUTE_HEADERS = ("delivered-to", "x-original-to", "to", "cc")


@dataclass(frozen=True)
class Account:
    host: str
    user: str
    port: int = 993
    tls: str = "implicit"
    password_env: str = ""
    oauth2_token_env: str = ""
    folder: str = "INBOX"
    community: str = ""
    processed: str = "seen"
    move_to: str = ""
    delete_after_days: int = 0
    poll_seconds: int = 300

    @property
    def key(self) -> str:
        """Names the folder's state: one server, one user, one folder."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"


def load_accounts(path: Path) -> list[Account]:
    """Read the accounts file; raise ValueError naming every problem found."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read IMAP accounts: {error}") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: must be a list of accounts")
    accounts, problems = [], []
    for number, entry in enumerate(data, 1):
        account, found = _account(entry)
        problems += [f"{path}: account {number}: {problem}" for problem in found]
        if account is not None:
            accounts.append(account)
    if problems:
        raise ValueError("\n".join(problems))
    return accounts


def _account(entry: Any) -> tuple[Account | None, list[str]]:
    if not isinstance(entry, dict):
        return None, ["must be a mapping"]
    known = set(Account.__dataclass_fields__)
    problems = [f"unknown field {key!r}" for key in entry if key not in known]
    values = {key: value for key, value in entry.items() if key in known}
    for name in ("host", "user"):
        if not isinstance(values.get(name), str) or not values.get(name):
            problems.append(f"{name!r} is required")
    tls = values.get("tls", "implicit")
    if tls not in TLS_MODES:
        problems.append(f"'tls' must be one of: {', '.join(TLS_MODES)}")
    values.setdefault("port", 993 if tls == "implicit" else 143)
    for name in ("port", "delete_after_days", "poll_seconds"):
        if name in values and (not isinstance(values[name], int) or isinstance(values[name], bool)):
            problems.append(f"{name!r} must be a whole number")
    if values.get("processed", "seen") not in PROCESSED_MODES:
        problems.append(f"'processed' must be one of: {', '.join(PROCESSED_MODES)}")
    if values.get("processed") == "move" and not values.get("move_to"):
        problems.append("'processed: move' needs 'move_to'")
    secret = [name for name in ("password_env", "oauth2_token_env") if values.get(name)]
    if len(secret) != 1:
        problems.append("give exactly one of 'password_env' and 'oauth2_token_env'")
    elif not os.environ.get(values[secret[0]]):
        problems.append(f"environment variable {values[secret[0]]} (from {secret[0]!r}) is not set")
    if problems:
        return None, problems
    cleaned: dict[str, Any] = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    return Account(**cleaned), []


# -- pure steps ----------------------------------------------------------------------------


def route(raw: bytes, account: Account, mail_domain: str, communities: set[str]) -> list[str]:
    """The community addresses a fetched message is for (empty: none of ours).

    With ``community`` set, everything goes there. Otherwise the recipients in
    Delivered-To, X-Original-To, To and Cc decide: an address at the mail domain whose
    local part is a community (its ``+suffix`` kept, so reply addresses work), or any
    address whose plus-detail names one (``intake+handover@example.org``).
    """
    domain = mail_domain.lower()
    if account.community:
        return [f"{account.community.lower()}@{domain}"]
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    found: list[str] = []
    for name in ROUTE_HEADERS:
        values = [str(value) for value in headers.get_all(name, [])]
        for _, address in email.utils.getaddresses(values):
            parts = split_address(address)
            if parts is None:
                continue
            if parts.domain == domain and parts.mail in communities:
                target = f"{parts.mail}+{parts.suffix}" if parts.suffix else parts.mail
            elif parts.suffix and parts.suffix.split("+")[0] in communities:
                target = parts.suffix.split("+")[0]
            else:
                continue
            rcpt = f"{target}@{domain}"
            if rcpt not in found:
                found.append(rcpt)
    return found


def envelope_sender(raw: bytes) -> str:
    """The Return-Path the mailbox's server recorded, or "" (null sender or none)."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    _, address = email.utils.parseaddr(str(headers.get("return-path", "")))
    return address


# -- state -------------------------------------------------------------------------------


class State:
    """Last UID spooled, with its UIDVALIDITY, per account and folder (one JSON file)."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = Path(state_dir) / "imap"
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.folder / "state.json"
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[int, int] | None:
        """(uidvalidity, last_uid) or None if this folder was never read."""
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        return int(entry.get("uidvalidity", 0)), int(entry.get("last_uid", 0))

    def set(self, key: str, uidvalidity: int, last_uid: int) -> None:
        with self._lock:
            data = self._read()
            data[key] = {"uidvalidity": uidvalidity, "last_uid": last_uid}
            write_durably(self.path, json.dumps(data, indent=1, sort_keys=True).encode(), self.folder)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


# -- the adapter ---------------------------------------------------------------------------
