"""Community addresses and per-topic reply addresses (pure, but for the secret).

A community's address is ``<mail>@<domain>``. A topic's reply address is
``<mail>+<token>@<domain>`` where the token names the topic and the person it
was issued to and carries an HMAC-SHA256 over both, keyed with a secret, so
nobody can make one up for a topic (or a person) without the secret. It is
written in Crockford's base 32 (digits and lower-case letters without i, l,
o and u; read back with i and l as 1, o as 0)::

    t<topic 7><mac 8>            the site's *Reply by email* link, for any reader
    p<topic 7><who 4><mac 8>     a notification's Reply-To, for the person it went to

``topic`` is the first 35 bits of the SHA-256 of the topic's first
Message-ID, ``who`` the first 20 bits of the SHA-256 of the normalised address
it was issued to, and ``mac`` the first 40 bits of the HMAC of
``<mail>|<kind>|<topic>[|<who>]``. 40 bits of MAC: each made-up address has
one chance in 2^40 (about 10^12) of being right, and each guess costs an SMTP
RCPT answered 550, so a forger sending a thousand a second would need on
average 17 years for one hit. ``topic`` only finds the topic when the reply
lost its headers (two topics of a community sharing 35 bits are then not
told apart: the reply starts a topic); ``who`` only tells whether the person
replying is the one the address went to (when not, the reply is held).

Addresses made before these, ``r<topic 12 hex><who 8 hex><mac 12 hex>`` (the
first 48 bits of the topic's hash, 32 of the address's, 48 of the HMAC of
``<mail>|<topic>|<who>``, ``who`` all zeros for any reader), stay valid: they
are in people's mailboxes.

Other signed addresses of a community use the same scheme, one letter for
the kind, then the fields, then a 12-hex HMAC over ``<mail>|<kind>|<fields>``:

    c<mode 1><day 4 hex><who 8>  confirm a subscription change (sent to the address asking)
    u<who 8>                     unsubscribe at once (List-Unsubscribe of the mail to ``who``)
    b<who 8>                     VERP return path of the mail to ``who``: bounces come back here
    m<held 12><who 8>            a moderator's answer about one held message

and a few plain commands anyone may write to: ``subscribe``, ``digest``,
``unsubscribe`` and ``digest-reply`` (where a digest's replies go).

The secret comes from the ``INTRANET_SECRET`` environment variable; without
it one is generated once into ``<state_dir>/secret`` (mode 0600). Both the
site (for its reply links) and the gateway (to check them) read it here.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from .format import message_key, normalize_address

log = logging.getLogger(__name__)

SECRET_ENV = "INTRANET_SECRET"  # noqa: S105 - the name of the variable
ANYONE = "0" * 8
TOKEN_RE = re.compile(r"^r([0-9a-f]{12})([0-9a-f]{8})([0-9a-f]{12})$")
BASE32 = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's: no i, l, o, u
_AS_TYPED = str.maketrans("ilo", "110")
SHORT_RE = re.compile(r"^(?:t([0-9a-z]{7})|p([0-9a-z]{7})([0-9a-z]{4}))([0-9a-z]{8})$")


def load_secret(state_dir: Path) -> bytes:
    value = os.environ.get(SECRET_ENV, "")
    if value:
        return value.encode("utf-8")
    path = Path(state_dir) / "secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    generated = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as handle:
        handle.write(generated)
    log.warning("no %s in the environment: generated a secret in %s", SECRET_ENV, path)
    return generated


def who_of(address: str | None) -> str:
    if not address:
        return ANYONE
    return hashlib.sha256(normalize_address(address).encode("utf-8")).hexdigest()[:8]


def topic_ref(topic_message_id: str) -> str:
    """The topic in the addresses made before base 32 (still read)."""
    return message_key(topic_message_id)[:12]


def base32(data: bytes, chars: int) -> str:
    """The first ``5 * chars`` bits of ``data`` in Crockford's base 32."""
    bits = 5 * chars
    number = int.from_bytes(data, "big") >> (8 * len(data) - bits)
    return "".join(BASE32[(number >> shift) & 31] for shift in range(bits - 5, -1, -5))


def short_ref(topic_message_id: str) -> str:
    """The topic in a reply address: 35 bits of its first Message-ID's hash."""
    return base32(bytes.fromhex(message_key(topic_message_id)[:10]), 7)


def short_who(address: str) -> str:
    """The person in a reply address: 20 bits of their normalised address's hash."""
    return base32(hashlib.sha256(normalize_address(address).encode("utf-8")).digest(), 4)


def _mac(secret: bytes, mail: str, topic: str, who: str) -> str:
    return hmac.new(secret, f"{mail}|{topic}|{who}".encode(), hashlib.sha256).hexdigest()[:12]


def _short_mac(secret: bytes, mail: str, kind: str, *fields: str) -> str:
    signed = "|".join((mail, kind, *fields)).encode()
    return base32(hmac.new(secret, signed, hashlib.sha256).digest(), 8)


def make_token(secret: bytes, mail: str, topic_message_id: str, issued_to: str | None = None) -> str:
    topic = short_ref(topic_message_id)
    if not issued_to:
        return f"t{topic}{_short_mac(secret, mail, 't', topic)}"
    who = short_who(issued_to)
    return f"p{topic}{who}{_short_mac(secret, mail, 'p', topic, who)}"


def reply_address(secret: bytes, mail: str, domain: str, topic_message_id: str, issued_to: str | None = None) -> str:
    return f"{mail}+{make_token(secret, mail, topic_message_id, issued_to)}@{domain}"


@dataclass(frozen=True)
class Token:
    topic: str  # short_ref (or, in an older address, topic_ref) of the topic's first Message-ID
    who: str  # short_who (or who_of) of the address it was issued to, or ANYONE

    def issued_to(self, address: str) -> bool:
        if self.who == ANYONE:
            return True
        return self.who == (who_of(address) if len(self.who) == len(ANYONE) else short_who(address))


def check_token(secret: bytes, mail: str, token: str) -> Token | None:
    """The token's topic and person if its MAC is right, else None."""
    token = token.lower()
    if token.startswith("r"):
        match = TOKEN_RE.match(token)
        if match is None:
            return None
        topic, who, mac = match.groups()
        return Token(topic=topic, who=who) if hmac.compare_digest(mac, _mac(secret, mail, topic, who)) else None
    match = SHORT_RE.match(token.translate(_AS_TYPED))
    if match is None:
        return None
    anyone_topic, topic, who, mac = match.groups()
    if anyone_topic:
        expected, found = _short_mac(secret, mail, "t", anyone_topic), Token(topic=anyone_topic, who=ANYONE)
    else:
        expected, found = _short_mac(secret, mail, "p", topic, who), Token(topic=topic, who=who)
    return found if hmac.compare_digest(mac, expected) else None


COMMANDS = ("subscribe", "digest", "unsubscribe", "digest-reply")
SIGNED_RE = re.compile(r"^([cubm])([0-9a-z]*)([0-9a-f]{12})$")
SIGNED_FIELDS = {"c": (1, 4, 8), "u": (8,), "b": (8,), "m": (12, 8)}
MODE_LETTERS = {"each": "e", "digest": "d", "none": "n"}


def _signed_mac(secret: bytes, mail: str, kind: str, fields: str) -> str:
    return hmac.new(secret, f"{mail}|{kind}|{fields}".encode(), hashlib.sha256).hexdigest()[:12]


def signed_token(secret: bytes, mail: str, kind: str, *fields: str) -> str:
    joined = "".join(fields)
    return f"{kind}{joined}{_signed_mac(secret, mail, kind, joined)}"


def signed_address(secret: bytes, mail: str, domain: str, kind: str, *fields: str) -> str:
    return f"{mail}+{signed_token(secret, mail, kind, *fields)}@{domain}"


def held_ref(held_id: str) -> str:
    return hashlib.sha256(held_id.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Command:
    """What a '+suffix' address asks for: a reply, a signed command or a plain one."""

    kind: str  # reply, confirm, unsubscribe-now, bounce, moderate, or one of COMMANDS
    fields: tuple[str, ...] = ()
    token: Token | None = None

    @property
    def who(self) -> str:
        return self.fields[-1] if self.kind in ("confirm", "unsubscribe-now", "bounce", "moderate") else ANYONE


SIGNED_KINDS = {"c": "confirm", "u": "unsubscribe-now", "b": "bounce", "m": "moderate"}


def parse_suffix(secret: bytes, mail: str, suffix: str) -> Command | None:
    """The command a community address's suffix carries; None if it is not valid."""
    suffix = suffix.lower()
    if suffix in COMMANDS:
        return Command(suffix)
    if suffix[:1] in ("r", "t", "p"):
        token = check_token(secret, mail, suffix)
        return Command("reply", (token.topic, token.who), token) if token else None
    match = SIGNED_RE.match(suffix)
    if match is None:
        return None
    kind, joined, mac = match.groups()
    widths = SIGNED_FIELDS[kind]
    if len(joined) != sum(widths) or not hmac.compare_digest(mac, _signed_mac(secret, mail, kind, joined)):
        return None
    fields, at = [], 0
    for width in widths:
        fields.append(joined[at : at + width])
        at += width
    return Command(SIGNED_KINDS[kind], tuple(fields))


@dataclass(frozen=True)
class Address:
    """A recipient address split into its parts."""

    mail: str  # the community's local part
    suffix: str  # what follows '+', lower-cased, or ""
    domain: str


def split_address(address: str) -> Address | None:
    address = address.strip().strip("<>")
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return None
    mail, _, suffix = local.partition("+")
    return Address(mail=mail.lower(), suffix=suffix.lower(), domain=domain.lower().rstrip("."))
