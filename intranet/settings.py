"""Settings of one intranet, with their defaults, in one place.

They live in the root's ``mkdocs.yml`` under the ``intranet`` plugin::

    plugins:
      - search
      - intranet:
          mail_domain: intranet.localhost

Every setting is a field of :class:`Settings` with its default and a
one-line description; the README's settings table is checked against
:data:`SETTINGS` by ``tests/test_docs.py``. This module does not import
MkDocs, so the mail gateway reads settings through it too. Secrets never
live here: they come from the environment (``INTRANET_SECRET``, see
:mod:`intranet.addresses`; the relay's ``INTRANET_RELAY_USER`` and
``INTRANET_RELAY_PASSWORD``, see :mod:`mailgateway.outgoing`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import re
import zoneinfo
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

CONFIG_FILE = "mkdocs.yml"
CHECKOUT = "checkout"  # with a remote: the gateway's checkout, under state_dir, which the site reads too
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # report_day
GUEST_DIRECTORY = ("contacts", "everyone", "names", "none")  # see generator.audiences.listed_people
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
BRANCH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*(?<![./])$")  # a simple Git branch name
DNS_NAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")  # a DKIM selector: one or more DNS labels


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    # -- the site
    mail_domain: str = _setting("intranet.localhost", "Domain of the community addresses (<community>@<domain>).")
    timezone: str = _setting("UTC", "IANA time zone in which dates are shown on the site.")
    topics_per_page: int = _setting(50, "Topics listed on each page of a community.")
    latest_items: int = _setting(20, "Posts listed under 'What is new' on the home page.")
    feed_items: int = _setting(50, "Posts in each Atom feed.")
    profile_posts: int = _setting(10, "Recent topics listed on a profile page, with the person's latest post in each.")
    staff_domains: str = _setting(
        "",
        "The organisation's own mail domains (comma-separated): a first message from an address there that "
        "is not in people/ brings an invitation to join as staff.",
    )
    guest_directory: str = _setting(
        "contacts",
        "People partners and suppliers see: contacts (people in their communities), everyone, names, or none.",
    )
    # -- the mail gateway
    smtp: str = _setting("127.0.0.1:8025", "Where the gateway listens for SMTP (HOST:PORT; empty: off).")
    lmtp: str = _setting("", "Where the gateway listens for LMTP from an MTA (HOST:PORT; empty: off).")
    state_dir: str = _setting(
        ".intranet", "Spool, held mail, records and outbox; relative to the root; never committed."
    )
    max_message_bytes: int = _setting(25 * 1024 * 1024, "Largest message accepted (advertised with SIZE).")
    max_attachments: int = _setting(20, "Attachments kept from one message; the rest are listed as not kept.")
    max_attachment_bytes: int = _setting(20 * 1024 * 1024, "Total size of the attachments kept from one message.")
    max_parse_seconds: int = _setting(
        20, "Longest time reading one message may take (its parts, HTML to Markdown); slower mail is too-complex."
    )
    trusted_mtas: str = _setting("127.0.0.1 ::1", "Addresses of the MTAs whose Authentication-Results are believed.")
    trusted_authserv_id: str = _setting(
        "", "authserv-id of the trusted MTA's Authentication-Results headers: those above its Received (empty: none)."
    )
    trust_local_senders: bool = _setting(False, "Take mail from a trusted MTA address without results as authentic.")
    verify_dkim: bool = _setting(
        False, "Verify incoming DKIM signatures in the gateway itself, for an MTA that writes no results."
    )
    dns_resolver: str = _setting(
        "", "DNS server for verify_dkim: IP address, or IP:PORT, [IPv6]:PORT (empty: the system's resolver)."
    )
    gateway_name: str = _setting("Intranet gateway", "Committer name of the gateway's commits.")
    notice_from: str = _setting("", "From address of notices to senders (default: intranet-noreply@<domain>).")
    relay: str = _setting("", "SMTP relay HOST:PORT for outgoing mail (empty: write to the outbox Maildir).")
    relay_starttls: bool = _setting(False, "Use STARTTLS with the relay (credentials: INTRANET_RELAY_USER/_PASSWORD).")
    attach_max_bytes: int = _setting(
        1024 * 1024, "Attachments up to this total size go with notifications; larger are linked."
    )
    reply_to_author: bool = _setting(False, "Put the author beside the topic's address in notifications' Reply-To.")
    digest_time: str = _setting(
        "07:00", "Local time (HH:MM, in timezone) at which `intranet up` sends the daily digests."
    )
    report_day: str = _setting(
        "monday",
        "Weekday on which each community's moderators get its weekly report, at digest_time (never: off).",
    )
    digest_combined: bool = _setting(False, "One digest mail for all of a person's communities instead of one each.")
    bounce_threshold: int = _setting(5, "Bounce score at which mail to an address stops (hard bounce 1, soft 0.5).")
    bounce_probe_days: int = _setting(7, "Days after which a stopped address is mailed again, as a probe.")
    redelivery_days: int = _setting(  # 5 days of MTA retries, 3 of relay retries, and margin
        10, "Days sent mail and fan-outs are remembered, so a redelivered message is not mailed twice."
    )
    dkim_key_file: str = _setting(
        "", "PEM RSA private key that DKIM-signs outgoing mail; relative to state_dir (empty: no signing)."
    )
    dkim_selector: str = _setting("intranet", "DKIM selector: the key is published at <selector>._domainkey.<domain>.")
    unsubscribe_http: str = _setting(
        "", "Where the gateway answers one-click unsubscribe (HOST:PORT, behind the web server; empty: off)."
    )
    imap_accounts: str = _setting(
        "", "YAML file of IMAP mailboxes the gateway reads mail from; relative to the root (empty: off)."
    )
    remote: str = _setting(
        "", "Git URL the gateway clones into state_dir and pushes its commits to (empty: commit in the root itself)."
    )
    branch: str = _setting("main", "Branch of the remote the gateway commits to and pushes.")
    poll_seconds: int = _setting(
        30, "With a remote: how often it is fetched when no `intranet notify` said it moved (seconds)."
    )
    notify_http: str = _setting(
        "", "Where `intranet up` takes a Git host's webhook saying the remote moved (HOST:PORT; empty: off)."
    )
    node: str = _setting(
        "", "With a remote and more than one gateway: this gateway's own name (letters, digits, '-'; see committer)."
    )
    # -- from mkdocs.yml itself, not the plugin
    site_name: str = "Intranet"
    site_url: str = ""
    directory_urls: bool = True  # use_directory_urls: pages at name/ (True) or name.html

    @classmethod
    def from_mapping(cls, data: dict[str, Any], site_name: str = "Intranet", site_url: str = "") -> Settings:
        """Build settings from the plugin's mapping; raise ValueError on bad values."""
        known = {s.name: s for s in SETTINGS}
        values: dict[str, Any] = {}
        for key, value in (data or {}).items():
            if key not in known:
                raise ValueError(f"unknown intranet setting {key!r}")
            setting = known[key]
            if value is None and setting.type is str:
                value = ""
            if not isinstance(value, setting.type) or (isinstance(value, bool) and setting.type is not bool):
                raise ValueError(f"intranet setting {key!r} must be {setting.type.__name__}")
            values[key] = value
        if not _is_clock(values.get("digest_time", "07:00")):
            raise ValueError("intranet setting 'digest_time' must be HH:MM, such as 07:00")
        if values.get("report_day", "monday") not in (*WEEKDAYS, "never"):
            raise ValueError(f"intranet setting 'report_day' must be one of: {', '.join(WEEKDAYS)}, never")
        if not DNS_NAME_RE.match(values.get("dkim_selector", "intranet")):
            raise ValueError("intranet setting 'dkim_selector' must be a DNS name, such as intranet or mail2026")
        if values.get("dns_resolver") and resolver_address(values["dns_resolver"]) is None:
            raise ValueError("intranet setting 'dns_resolver' must be an IP address, IP:PORT or [IPv6]:PORT")
        if values.get("guest_directory", "contacts") not in GUEST_DIRECTORY:
            raise ValueError(f"intranet setting 'guest_directory' must be one of: {', '.join(GUEST_DIRECTORY)}")
        if not BRANCH_RE.match(values.get("branch", "main")) or ".." in values.get("branch", ""):
            raise ValueError("intranet setting 'branch' must be a branch name, such as main")
        if values.get("notify_http") and not re.fullmatch(r"\[?[^\s\]]*\]?:\d{1,5}", values["notify_http"]):
            raise ValueError("intranet setting 'notify_http' must be HOST:PORT, such as 127.0.0.1:8026")
        if values.get("node") and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,39}", values["node"]):
            raise ValueError("intranet setting 'node' must be letters, digits and '-', such as mx1")
        for key in ("topics_per_page", "redelivery_days", "max_parse_seconds", "poll_seconds"):
            if values.get(key, 1) < 1:
                raise ValueError(f"intranet setting {key!r} must be at least 1")
        return cls(**values, site_name=site_name, site_url=site_url or "")

    @property
    def zone(self) -> dt.tzinfo:
        """``timezone`` as a time zone; UTC for a name this machine does not know."""
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return dt.UTC

    @property
    def noreply(self) -> str:
        return self.notice_from or f"intranet-noreply@{self.mail_domain}"

    @property
    def committer(self) -> tuple[str, str]:
        """Name and address of the gateway's commits: ``noreply``, with ``+node`` when the gateway has a
        ``node`` name (two gateways on one remote each know their own commits by it)."""
        local, _, domain = self.noreply.partition("@")
        return self.gateway_name, f"{local}+{self.node}@{domain}" if self.node else self.noreply


def content_root(root: Path | str, settings: Settings) -> Path:
    """Where the content the intranet serves is read: the root, or with a remote the gateway's checkout
    of it (only commits change that one, so readers and mail see committed content only)."""
    root = Path(root).resolve()
    return root / settings.state_dir / CHECKOUT if settings.remote else root


def resolver_address(value: str) -> tuple[str, int] | None:
    """``dns_resolver`` as (IP address, port): ``127.0.0.1``, ``127.0.0.1:5353``, ``[::1]:5353``; None if not one."""
    host, port = value.strip(), "53"
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                return None
            port = rest[1:]
    elif host.count(":") == 1:
        host, port = host.split(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return str(address), int(port)


def _is_clock(value: str) -> bool:
    hours, _, minutes = value.partition(":")
    return hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60 and len(minutes) == 2


@dataclass(frozen=True)
class Setting:
    name: str
    type: type
    default: Any
    help: str


_TYPES = {"str": str, "int": int, "bool": bool}
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(f.name, _TYPES[str(f.type)], f.default, f.metadata["help"])
    for f in fields(Settings)
    if "help" in f.metadata and f.default is not MISSING
)


class _TolerantLoader(yaml.SafeLoader):
    """Safe loader that reads MkDocs' ``!!python/name:`` and ``!ENV`` tags as None."""


def _ignore_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> None:
    return None


_TolerantLoader.add_multi_constructor("tag:yaml.org,2002:python/", _ignore_tag)
_TolerantLoader.add_multi_constructor("!", _ignore_tag)


def read_settings(root: Path | str) -> Settings:
    """Read the intranet settings from ``<root>/mkdocs.yml`` without MkDocs."""
    path = Path(root) / CONFIG_FILE
    if not path.is_file():
        return Settings()
    return settings_from_text(path.read_text(encoding="utf-8"))


def settings_from_text(text: str) -> Settings:
    """The intranet settings from the text of a ``mkdocs.yml`` (ValueError or a YAML error if unusable)."""
    data = yaml.load(text, Loader=_TolerantLoader) or {}  # noqa: S506
    plugin: dict[str, Any] = {}
    for entry in data.get("plugins") or []:
        if isinstance(entry, dict) and "intranet" in entry:
            plugin = entry["intranet"] or {}
    settings = Settings.from_mapping(plugin, data.get("site_name") or "Intranet", data.get("site_url") or "")
    return dataclasses.replace(settings, directory_urls=data.get("use_directory_urls") is not False)
