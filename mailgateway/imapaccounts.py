"""IMAP accounts: the YAML file of mailboxes (see :mod:`mailgateway.imap` for its fields), the TLS
context each connects with, and which community a message from a shared mailbox is for. What each
account has read so far is in :mod:`mailgateway.imapstate`."""

from __future__ import annotations

import email.policy
import email.utils
import logging
import os
import ssl
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from intranet.addresses import split_address
from intranet.format import load_yaml

log = logging.getLogger(__name__)

TLS_MODES = ("implicit", "starttls", "none")
OAUTH2_MECHANISMS = ("xoauth2", "oauthbearer")
SECRETS = ("password_env", "oauth2_token_env", "oauth2_token_file")
PROCESSED_MODES = ("seen", "move", "delete")
ROUTE_HEADERS = ("delivered-to", "x-original-to", "to", "cc")


@dataclass(frozen=True)
class Account:
    host: str
    user: str
    port: int = 993
    tls: str = "implicit"
    ca_file: str = ""  # PEM file of the CAs to trust instead of the system's (made absolute by load_accounts)
    tls_verify: bool = True  # False accepts any certificate: for testing only
    password_env: str = ""
    oauth2_token_env: str = ""
    oauth2_token_file: str = ""  # read at each connect, so a refresher can replace it (made absolute by load_accounts)
    oauth2_mechanism: str = "xoauth2"
    folder: str = "INBOX"
    community: str = ""
    processed: str = "seen"
    move_to: str = ""
    delete_after_days: int = 0
    poll_seconds: int = 300
    failed_to: str = ""  # folder for messages given up on (empty: they stay where they are, flagged)

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
        account, found = _account(entry, path.parent)
        problems += [f"{path}: account {number}: {problem}" for problem in found]
        if account is not None:
            accounts.append(account)
    if problems:
        raise ValueError("\n".join(problems))
    return accounts


def _account(entry: Any, folder: Path) -> tuple[Account | None, list[str]]:
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
    problems += _secret_problems(values, folder) + _tls_problems(values, folder)
    if problems:
        return None, problems
    cleaned: dict[str, Any] = {key: value.strip() if isinstance(value, str) else value for key, value in values.items()}
    return Account(**cleaned), []


def _secret_problems(values: dict[str, Any], folder: Path) -> list[str]:
    """Check where the password or token comes from; make ``oauth2_token_file`` absolute."""
    problems = []
    secret = [name for name in SECRETS if values.get(name)]
    if len(secret) != 1:
        problems.append(f"give exactly one of {', '.join(map(repr, SECRETS))}")
    elif secret[0] == "oauth2_token_file":
        path = folder / str(values["oauth2_token_file"]).strip()
        if not os.access(path, os.R_OK) or not path.is_file():
            problems.append(f"'oauth2_token_file' {str(path)!r} cannot be read")
        values["oauth2_token_file"] = str(path.resolve())
    elif not os.environ.get(values[secret[0]]):
        problems.append(f"environment variable {values[secret[0]]} (from {secret[0]!r}) is not set")
    mechanism = values.get("oauth2_mechanism", "xoauth2")
    if mechanism not in OAUTH2_MECHANISMS:
        problems.append(f"'oauth2_mechanism' must be one of: {', '.join(OAUTH2_MECHANISMS)}")
    elif "oauth2_mechanism" in values and not (values.get("oauth2_token_env") or values.get("oauth2_token_file")):
        problems.append("'oauth2_mechanism' needs 'oauth2_token_env' or 'oauth2_token_file'")
    return problems


def secret(account: Account) -> str:
    """The account's password or access token, as it is now: a token file is read again at each connect."""
    if account.oauth2_token_file:
        try:
            return Path(account.oauth2_token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return ""  # refused at login, and reported as such
    return os.environ.get(account.oauth2_token_env or account.password_env, "")


def secret_source(account: Account) -> str:
    """Where the secret comes from, for messages (never the secret itself)."""
    return account.oauth2_token_file or account.oauth2_token_env or account.password_env


def _tls_problems(values: dict[str, Any], folder: Path) -> list[str]:
    """Check ``ca_file`` and ``tls_verify``; make ``ca_file`` absolute (relative to the accounts file)."""
    problems = []
    if not isinstance(values.get("tls_verify", True), bool):
        problems.append("'tls_verify' must be true or false")
    if values.get("tls") == "none" and ("ca_file" in values or "tls_verify" in values):
        problems.append("'ca_file' and 'tls_verify' need 'tls: implicit' or 'tls: starttls'")
    ca_file = values.get("ca_file")
    if ca_file is None:
        return problems
    if not isinstance(ca_file, str) or not ca_file.strip():
        return [*problems, "'ca_file' must name a file"]
    path = folder / ca_file.strip()
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as error:  # no such file, or no certificate in it
        problems.append(f"'ca_file' {str(path)!r} cannot be used: {error}")
    values["ca_file"] = str(path.resolve())
    return problems


def tls_context(account: Account) -> ssl.SSLContext:
    """How the account checks the server: the system's CAs or ``ca_file``'s, host name checked;
    with ``tls_verify: false``, no check at all."""
    context = ssl.create_default_context(cafile=account.ca_file or None)
    if not account.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


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
