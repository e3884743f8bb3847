"""Mail to a community's command addresses: subscriptions, moderation, bounces, digest replies.

Subscriptions live in ``communities/<slug>/subscribers.yml`` and each change
is a commit authored by the person it is about. Subscribing, switching to the
digest or unsubscribing by writing to ``<mail>+subscribe|digest|unsubscribe@``
needs a confirmation round trip: the gateway answers the From address with a
mail whose reply address carries a signed token for that address, mode and
day, so nobody can subscribe someone else. The unsubscribe address in the
``List-Unsubscribe`` header of a notification is signed for its recipient
and works at once, when that person writes to it.

Every signed command here also needs an authentic From
(:func:`mailgateway.policy.command_refusal`, decided in
:func:`mailgateway.routing.route`): a forwarded or leaked address, or a
forged From with someone's valid token, acts for nobody.

A held message is mailed to each moderator with a reply address signed for
that moderator and message; a reply whose first line is ``approve``
(``approve known`` also adds the sender to ``people/``) or ``reject`` with a
reason decides it. ``intranet moderate`` does the same at a terminal.

Bounces come back to the VERP return path ``<mail>+b<who><mac>@``; the token
names the address that bounced, so a DSN with a forged token never reaches
here (the RCPT is refused) and one we cannot read changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intranet.addresses import MODE_LETTERS, Command, held_ref, signed_address, who_of
from intranet.format import (
    COMMUNITIES,
    HANDLE_RE,
    KINDS,
    SUBSCRIBERS_FILE,
    Community,
    Person,
    may_read,
    normalize_address,
    read_subscribers,
    subscribers_text,
)
from intranet.model import Model

from .bounces import BounceBook, BouncePolicy, is_permanent, read_bounce
from .effects import Effects
from .outgoing import Outgoing
from .outmail import community_address, notice_mail
from .parse import Inbound, parse_message
from .people_edits import PeopleFiles, resume_mail, stop_mail
from .policy import NOT_KNOWN
from .selfjoin import CONFIRM_DAYS, JOIN_LETTER, JOIN_MAIL, Joining
from .spool import Spooled, write_durably

log = logging.getLogger(__name__)

LETTER_MODES = {v: k for k, v in MODE_LETTERS.items()}
PLAIN_MODES = {"subscribe": "", "digest": "digest", "unsubscribe": "none"}
APPROVE_WORDS = ("approve", "approved", "accept", "yes", "ok")
REJECT_WORDS = ("reject", "rejected", "decline", "no")
DIGEST_ID_RE = re.compile(r"^<digest\.[^@]+@(.+)>$")


@dataclass
class Decision:
    action: str  # approve or reject
    reason: str = ""
    known: bool = False
    kind: str = ""


def read_decision(text: str) -> Decision | None:
    """A moderator's one-word answer: its first non-empty line."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    words = re.findall(r"[\w'-]+", line.lower())
    if not words:
        return None
    if words[0] in APPROVE_WORDS:
        kind = next((w for w in words[1:] if w in KINDS), "")
        return Decision("approve", known="known" in words[1:] or bool(kind), kind=kind)
    if words[0] in REJECT_WORDS:
        rest = line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else ""
        more = "\n".join(ln for ln in text.splitlines()[1:] if ln.strip()).strip()
        return Decision("reject", reason=(rest.lstrip(":,- ") + ("\n" + more if more else "")).strip())
    return None


def epoch_day(now: dt.datetime) -> int:
    return (now.date() - dt.date(1970, 1, 1)).days


Publish = Callable[[Spooled, Inbound, str, str], tuple[str, str, dict[str, Any]]]


class Commands:
    """The command addresses. ``publish(spooled, mail, recipient, approved_by)`` posts an approved message."""

    def __init__(self, effects: Effects, publish: Publish) -> None:
        self.fx = effects
        self.publish = publish
        settings = effects.settings
        self.bounces = BounceBook(
            effects.root / settings.state_dir / "bounces.json", BouncePolicy(threshold=float(settings.bounce_threshold))
        )
        self.people = PeopleFiles(effects.root, effects.store, effects.commit, effects.spool.tmp)
        self.joining = Joining(self, Decision("approve"))  # staff of the organisation's domains join by mail

    # -- the addresses ----------------------------------------------------------------

    def handle(
        self, command: Command, community: Community, spooled: Spooled, mail: Inbound, model: Model
    ) -> tuple[str, str, dict[str, Any]]:
        extra: dict[str, Any] = {"community": community.slug}
        if command.kind in PLAIN_MODES:
            return (
                *self.ask_to_confirm(community, mail, PLAIN_MODES[command.kind] or community.subscription, model),
                extra,
            )
        if command.kind == "confirm":
            return (*self.confirm(community, mail, command, model), extra)
        if command.kind == "unsubscribe-now":
            return (*self.unsubscribe_now(community, mail, command, model), extra)
        if command.kind == "moderate":
            return self.moderate_by_mail(community, mail, command, model)
        if command.kind == "digest-reply":
            return (*self.digest_reply(community, mail), extra)
        return "rejected", "bad-reply-address", extra

    def digest_reply(self, community: Community, mail: Inbound) -> tuple[str, str]:
        self.fx.notice(mail, "digest-reply", self.fx.clock(), community=community.name)
        return "rejected", "digest-reply"

    @staticmethod
    def is_digest_reply(mail: Inbound, domain: str) -> bool:
        for mid in mail.thread_ids():
            match = DIGEST_ID_RE.match(mid)
            if match and match.group(1).lower() == domain.lower():
                return True
        return False

    # -- subscriptions ----------------------------------------------------------------

    def ask_to_confirm(self, community: Community, mail: Inbound, mode: str, model: Model) -> tuple[str, str]:
        now = self.fx.clock()
        handle = model.handle_for(mail.from_address)
        person = model.people.get(handle) if handle else None
        values = {"community": community.name, "community_address": community_address(community, self.fx.settings)}
        if person is None:
            self.fx.notice(mail, "subscribe-unknown", now, **values)
            return "rejected", "subscribe-unknown"
        if mode != "none" and not may_read(community, person):
            self.fx.notice(mail, "not-in-audience", now, **values)
            return "rejected", "not-in-audience"
        what = {
            "each": f"to get every post of {community.name} by email",
            "digest": f"to get a daily digest of {community.name} by email",
            "none": f"to stop getting mail from {community.name}",
        }[mode]
        text = (
            f"We were asked {what} at this address. To confirm, reply to this message (any text will do) "
            f"within {CONFIRM_DAYS} days.\n\nIf you did not ask, ignore this message and nothing changes."
        )
        self.send_confirmation(community, mail, MODE_LETTERS[mode], f"Please confirm: {community.name}", text)
        return "confirming", mode

    def send_confirmation(
        self, community: Community | None, mail: Inbound, letter: str, subject: str, text: str
    ) -> None:
        """Mail the sender ``text``, replied to at a confirmation address (``letter``: what it confirms, a
        subscription mode or joining) of ``community``'s (None: of ``join@``) signed for their address and
        today, which :meth:`confirm` reads."""
        now, settings = self.fx.clock(), self.fx.settings
        who = who_of(mail.from_address)
        local = community.mail if community is not None else JOIN_MAIL
        address = signed_address(self.fx.secret, local, settings.mail_domain, "c", letter, f"{epoch_day(now):04x}", who)
        message = notice_mail(
            subject=subject,
            text=text,
            to=mail.from_address,
            settings=settings,
            now=now,
            sender=address,
            reply_to=address,
            in_reply_to=mail.message_id,
        )
        slug = community.slug if community is not None else ""
        self.fx.send(message, Outgoing(mail_from="", rcpt=mail.from_address, kind="confirm", community=slug))

    def confirm(self, community: Community | None, mail: Inbound, command: Command, model: Model) -> tuple[str, str]:
        """A reply to a confirmation address of ``community``'s (None: of ``join@``, which confirms joining)."""
        letter, day, who = command.fields
        now = self.fx.clock()
        if who != who_of(mail.from_address):
            return "rejected", "confirm-not-yours"
        if epoch_day(now) - int(day, 16) > CONFIRM_DAYS:
            settings = self.fx.settings
            again = f"{JOIN_MAIL}@{settings.mail_domain}"  # (to join)
            if community is not None and letter != JOIN_LETTER:
                again = community_address(community, settings, "subscribe")
            self.fx.notice(mail, "confirm-expired", now, again=again)
            return "rejected", "confirm-expired"
        if letter == JOIN_LETTER:
            return self.joining.join(community, mail, model)
        if community is None:
            return "rejected", "bad-reply-address"
        handle = model.handle_for(mail.from_address)
        person = model.people.get(handle) if handle else None
        mode = LETTER_MODES.get(letter, "")
        if person is None or not mode:
            return "rejected", "subscribe-unknown"
        if mode != "none" and not may_read(community, person):
            return "rejected", "not-in-audience"
        self.set_mode(community, person.handle, mode, (person.name, mail.from_address))
        self.fx.notice(
            mail,
            f"now-{mode}",
            now,
            community=community.name,
            community_address=community_address(community, self.fx.settings),
        )
        return "subscription", mode

    def unsubscribe_now(self, community: Community, mail: Inbound, command: Command, model: Model) -> tuple[str, str]:
        """The person the address was signed for stops getting mail; only they may ask, from any of their addresses."""
        person = _signed_for(command.who, model)
        if person is None:
            return "rejected", "unsubscribe-unknown"
        if model.handle_for(mail.from_address) != person.handle:
            return "rejected", "unsubscribe-not-yours"  # a forwarded notification's address
        self.set_mode(community, person.handle, "none", (person.name, person.emails[0]))
        return "subscription", "none"

    def unsubscribe_by_link(self, slug: str, who: str, model: Model) -> None:
        """A one-click unsubscribe (:mod:`mailgateway.oneclick`), queued for the worker.

        There is no mail and no From to check: the signed link is the proof, as RFC 8058 has it
        (the mailbox provider posts it for the reader, from its own servers).
        """
        community = model.communities.get(slug)
        person = _signed_for(who, model)
        outcome, reason = "rejected", "community-gone" if community is None else "unsubscribe-unknown"
        if community is not None and person is not None:
            how = "said with the one-click unsubscribe link in a mail from the intranet"
            self.set_mode(community, person.handle, "none", (person.name, person.emails[0]), how)
            outcome, reason = "subscription", "none"
        self.fx.records.add(outcome=outcome, reason=reason, community=slug, how="one-click")
        log.info("one-click unsubscribe from %s for %s: %s (%s)", slug, who, outcome, reason)

    def set_mode(
        self, community: Community, handle: str, mode: str, author: tuple[str, str], how: str = "confirmed by email"
    ) -> None:
        root = self.fx.root
        path = root / COMMUNITIES / community.slug / SUBSCRIBERS_FILE
        current, _ = read_subscribers(root, community.slug)
        if mode == "none" and not (
            community.members_only and handle in set(community.members) | set(community.moderators)
        ):
            current.pop(handle, None)
        else:
            current[handle] = mode
        write_durably(path, subscribers_text(current).encode("utf-8"), self.fx.spool.tmp)
        words = {"each": "gets every post", "digest": "gets the daily digest", "none": "gets no mail"}[mode]
        self.fx.commit(
            [path],
            subject=f"{community.slug}: {handle} {words}",
            body=f"{author[0]} {how} that they want this.",
            author=author,
            committer=self.fx.settings.committer,
            trailers={},
        )

    # -- moderation -------------------------------------------------------------------

    def ask_moderators(
        self, community: Community, held_id: str, mail: Inbound, reason: str, why: str, model: Model
    ) -> int:
        now = self.fx.clock()
        settings = self.fx.settings
        sent = 0
        for handle in community.moderators:
            person = model.people.get(handle)
            address = person.mail_address() if person else None
            if not address:
                continue
            reply = signed_address(
                self.fx.secret, community.mail, settings.mail_domain, "m", held_ref(held_id), who_of(address)
            )
            text = (
                f"A message to {community.name} is waiting for you: {why} ({reason}).\n\n"
                f"From: {mail.from_name} <{mail.from_address}>\nSubject: {mail.subject}\n\n"
                + _indent(mail.body[:4000])
                + "\n\nReply to this message with one word on the first line:\n"
                "  approve          to publish it\n"
                "  approve known    to publish it and add the sender to the people directory\n"
                "  reject REASON    to turn it down; the sender is told the reason\n"
                f"\nOr at a terminal: intranet moderate approve {held_id}"
            )
            message = notice_mail(
                subject=f"Held for moderation in {community.name}: {mail.subject}",
                text=text,
                to=address,
                settings=settings,
                now=now,
                sender=community_address(community, settings),
                reply_to=reply,
                message_id=f"<held.{held_ref(held_id)}.{who_of(address)}@{settings.mail_domain}>",
            )
            self.fx.send(message, Outgoing(mail_from="", rcpt=address, kind="moderate", community=community.slug))
            sent += 1
        if reason == NOT_KNOWN:
            self.joining.invite(community, mail)
        return sent

    def moderate_by_mail(
        self, community: Community, mail: Inbound, command: Command, model: Model
    ) -> tuple[str, str, dict[str, Any]]:
        extra: dict[str, Any] = {"community": community.slug}
        ref, who = command.fields
        handle = model.handle_for(mail.from_address)
        if who != who_of(mail.from_address) or handle not in community.moderators:
            return "rejected", "not-a-moderator", extra
        held_id = next((h["id"] for h in self.fx.spool.held() if held_ref(h["id"]) == ref), None)
        if held_id is None and self.fx.held_share is not None:  # held by another gateway of the remote?
            held_id = self.fx.held_share.fetch(ref)
        if held_id is None:
            return "rejected", "nothing-held", extra  # decided already, by another moderator or at a terminal
        decision = read_decision(mail.body)
        if decision is None:
            self.fx.notice(mail, "moderation-unclear", self.fx.clock(), community=community.name)
            return "rejected", "moderation-unclear", extra
        person = model.people[handle]
        outcome = self.decide(held_id, decision, f"{person.name} <{mail.from_address}>", model)
        return "moderated", outcome, {**extra, "held": held_id}

    def decide(self, held_id: str, decision: Decision, moderator: str, model: Model) -> str:
        """Publish or turn down one held message; returns what happened."""
        spool = self.fx.spool
        if self.fx.held_share is not None and not self.fx.held_share.claim(held_id):
            return "decided-elsewhere"  # by a moderator at another gateway, first
        spooled, info = spool.load_held(held_id)
        envelope = spooled.envelope
        mail = parse_message(spooled.raw, envelope.received_at, self.fx.settings.mail_domain)
        if not mail.from_address or "@" not in mail.from_address:
            mail.from_address = envelope.mail_from
        community = model.communities.get(info["community"])
        if community is None:
            return "community-gone"
        base = {"key": info["key"], "message_id": mail.message_id, "sender": mail.from_address}
        if decision.action == "approve":
            if decision.known:
                self.add_person(mail, community, decision.kind, moderator)
            rcpt = info.get("recipient") or community_address(community, self.fx.settings)
            outcome, reason, extra = self.publish(spooled, mail, rcpt, moderator)
            self.fx.records.add(
                **base, recipient=rcpt, outcome=outcome, reason=reason, **{"approved_by": moderator, **extra}
            )
        else:
            self.fx.notice(
                mail,
                "rejected-by-moderator",
                self.fx.clock(),
                community=community.name,
                moderator_reason=decision.reason or "no reason was given",
            )
            outcome = "rejected"
            self.fx.records.add(
                **base,
                outcome="rejected",
                reason="moderator",
                moderator=moderator,
                community=community.slug,
                why=decision.reason,
            )
        spool.forget_held(held_id)
        log.info("held %s %s: %s by %s", held_id, mail.message_id, outcome, moderator)
        return outcome

    def add_person(self, mail: Inbound, community: Community, kind: str, moderator: str) -> str:
        local, _, domain = normalize_address(mail.from_address).partition("@")
        base = re.sub(r"[^a-z0-9._-]+", "-", local).strip("._-") or "person"
        base = base if HANDLE_RE.match(base) else "person"
        if not kind:
            kind = (
                "partner"
                if "partners" in community.audience
                else "supplier"
                if "suppliers" in community.audience
                else "staff"
            )
        data = {
            "name": mail.from_name or local,
            "emails": [mail.from_address],
            "kind": kind,
            "organisation": domain,
            "about": f"Added by {moderator.split(' <')[0]} when approving a message to {community.name}.",
        }
        return self.people.add(
            base,
            data,
            body=f"{moderator} approved their message to {community.name} and marked them as known.",
            author=_split_person(moderator),
            committer=self.fx.settings.committer,
            trailers={},
        )

    # -- bounces ----------------------------------------------------------------------

    def bounce(self, spooled: Spooled, command: Command, model: Model) -> tuple[str, str, dict[str, Any]]:
        address = next((a for p in model.people.values() for a in p.emails if who_of(a) == command.who), None)
        if address is None:
            return "dropped", "bounce-unknown-address", {}
        failures = read_bounce(spooled.raw)
        permanent = is_permanent(failures, address)
        if permanent is None:
            if not failures and b"multipart/report" not in spooled.raw[:20000].lower():
                return "dropped", "auto-reply-to-bounce-address", {"address": address}
            permanent = bool(failures.permanent)
        return self.count_bounce(address, permanent, "dsn", model)

    def count_bounce(self, address: str, permanent: bool, how: str, model: Model) -> tuple[str, str, dict]:
        now = self.fx.clock()
        score = self.bounces.record(address, permanent, now)
        extra: dict[str, Any] = {"address": address, "score": score, "permanent": permanent, "how": how}
        if self.bounces.crossed(address, now):
            self.stop_mail(address, now, model)
            extra["stopped"] = True
        return "bounce", "hard" if permanent else "soft", extra

    def stop_mail(self, address: str, now: dt.datetime, model: Model) -> None:
        handle = model.handle_for(address)
        if handle is None:
            return
        self._edit_person(
            handle,
            stop_mail(address, now.date().isoformat()),
            f"people: stop mail to {address}",
            f"Mail to {address} kept bouncing (score {self.bounces.score(address, now):.1f}); "
            f"it is tried again after {self.fx.settings.bounce_probe_days} days.",
        )
        log.warning("stopped mail to %s (%s): too many bounces", address, handle)

    def probe_due(self, now: dt.datetime, model: Model) -> list[str]:
        """Start mail again to addresses stopped long enough ago; the next mail is the probe."""
        resumed = []
        for person in list(model.people.values()):
            for address, since in person.undeliverable.items():
                try:
                    stopped = dt.date.fromisoformat(since)
                except ValueError:
                    continue
                if (now.date() - stopped).days < self.fx.settings.bounce_probe_days:
                    continue
                self._edit_person(
                    person.handle,
                    resume_mail(address),
                    f"people: try mail to {address} again",
                    f"Mail to {address} stopped on {since}; trying it again.",
                )
                self.bounces.reset(address)
                resumed.append(address)
        return resumed

    def _edit_person(self, handle: str, change: Any, subject: str, body: str) -> None:
        self.people.edit(
            handle,
            change,
            subject=subject,
            body=body,
            author=(self.fx.settings.gateway_name, self.fx.settings.noreply),
            committer=self.fx.settings.committer,
            trailers={},
        )


def _signed_for(who: str, model: Model) -> Person | None:
    """The person one of whose addresses ``who`` (a signed address's hash of it) names."""
    return next((p for p in model.people.values() if any(who_of(a) == who for a in p.emails)), None)


def _indent(text: str) -> str:
    return "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())


def _split_person(value: str) -> tuple[str, str]:
    name, _, rest = value.partition(" <")
    return name, rest.rstrip(">") or "editor@invalid"
