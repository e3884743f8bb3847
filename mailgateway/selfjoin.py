"""Joining by email: staff of the organisation's own mail domains add themselves to ``people/``.

On Yammer anyone with a company address joins and keeps a profile. Here, a first message from
an address in one of the ``staff_domains`` that is not yet in ``people/`` is held as before
(``not-known``), and its sender is also sent an invitation: a reply to it (from the same
address, authentic, within :data:`CONFIRM_DAYS`) adds them as staff, in a
commit authored by them with the name from their From header, and publishes what of theirs was
held. Partners and suppliers still join only by a moderator's ``approve known`` or an editor.
The invitation's reply address is the subscription confirmation's, with the letter ``j``.

Mail to ``join@<mail_domain>`` (unless a community uses that address) asks to join without posting:
the same invitation, from and replied to at ``join+…@``; someone already in ``people/``, or from
another domain, is told why not instead.
"""

from __future__ import annotations

import re
from typing import Any

from intranet.format import HANDLE_RE, KIND_AUDIENCE, Community, normalize_address
from intranet.model import Model

from .outmail import community_address
from .parse import Inbound

CONFIRM_DAYS = 7  # how long a confirmation (to subscribe, or to join) may be answered
JOIN_LETTER = "j"  # in a confirmation address: join, not a subscription mode
JOIN_MAIL = "join"  # join@<mail_domain>: asks to join without posting


def staff_domain(address: str, domains: str) -> bool:
    """Whether ``address`` is in one of ``domains`` (the setting: names, comma- or space-separated)."""
    domain = normalize_address(address).rpartition("@")[2]
    return bool(domain) and domain in {d.strip().lower() for d in re.split(r"[,\s]+", domains) if d.strip()}


class Joining:
    """``commands``: the gateway's :class:`~mailgateway.commands.Commands` (its people's files, its
    decisions on held mail); ``approve``: a moderator's approval, as they make one."""

    def __init__(self, commands: Any, approve: Any) -> None:
        self.commands = commands
        self.fx = commands.fx
        self.approve = approve

    def invite(self, community: Community | None, mail: Inbound) -> bool:
        """Invite the sender to join, if their address is in a staff domain: after a message of theirs to
        ``community`` was held, or (None) when they wrote to ``join@``."""
        settings = self.fx.settings
        if not staff_domain(mail.from_address, settings.staff_domains):
            return False
        who = mail.from_name or mail.from_address
        if community is None:
            why = "You asked to join the intranet."
            subject, then = "Join the intranet", "."
        else:
            why = (
                f"Your message to {community.name} is waiting, because your address is not in the intranet's "
                "people directory yet."
            )
            subject, then = (
                f"Join the intranet to post in {community.name}",
                ", and your waiting messages are published.",
            )
        text = (
            f"{why} Your address is one of the organisation's, so you can add yourself: reply to this message "
            f"(any text will do) within {CONFIRM_DAYS} days and you join as {who}, staff{then}\n\n"
            "If you did not write to us, ignore this message and nothing changes."
        )
        self.commands.send_confirmation(community, mail, JOIN_LETTER, subject, text)
        return True

    def carry_out(self, decision: Any, mail: Inbound, model: Model, publish: Any) -> tuple[str, str, dict[str, Any]]:
        """Mail to ``join@``: an invitation (or why not), or, to its confirmation address, joining."""
        if decision.command is not None:
            return (*self.commands.confirm(None, mail, decision.command, model), {})
        address, now = f"{JOIN_MAIL}@{self.fx.settings.mail_domain}", self.fx.clock()
        handle = model.handle_for(mail.from_address)
        if handle is not None:
            name = model.people[handle].name if handle in model.people else handle
            self.fx.notice(mail, "join-already", now, address=address, name=name)
            return "rejected", "join-already-known", {}
        if not self.invite(None, mail):
            self.fx.notice(mail, "join-not-open", now, address=address)
            return "rejected", "not-a-staff-domain", {}
        return "confirming", "join", {}

    def join(self, community: Community | None, mail: Inbound, model: Model) -> tuple[str, str]:
        """The invitation was answered: add the sender as staff (unless known), then publish what waits."""
        if not staff_domain(mail.from_address, self.fx.settings.staff_domains):
            return "rejected", "not-a-staff-domain"
        handle = model.handle_for(mail.from_address)
        if handle is None:
            local, _, domain = normalize_address(mail.from_address).partition("@")
            base = re.sub(r"[^a-z0-9._-]+", "-", local).strip("._-")
            data: dict[str, Any] = {
                "name": mail.from_name or local,
                "emails": [mail.from_address],
                "kind": "staff",
                "organisation": domain,
            }
            name = str(data["name"])
            where = f"when they first wrote to {community.name}" if community is not None else f"to {JOIN_MAIL}@"
            handle = self.commands.people.add(
                base if HANDLE_RE.match(base) else "person",
                data,
                body=f"{name} answered the invitation sent {where}.",
                author=(name, mail.from_address),
                committer=self.fx.settings.committer,
                trailers={},
            )
        released = self.release(mail.from_address, model)
        if community is None:  # an example of where they may write: the first community open to staff
            staff = KIND_AUDIENCE["staff"]
            open_to_staff = (
                c for _, c in sorted(model.communities.items()) if staff in c.audience and not c.members_only
            )
            community = next(open_to_staff, None)
        self.fx.notice(
            mail,
            "joined",
            self.fx.clock(),
            community=community.name if community else "",
            community_address=community_address(community, self.fx.settings) if community else "",
            released=str(released),
        )
        return "joined", handle

    def release(self, address: str, model: Model) -> int:
        """Publish every message held because ``address`` was not known; how many."""
        who = normalize_address(address)
        waiting = [h["id"] for h in self.fx.spool.held() if normalize_address(h.get("sender", "")) == who]
        waiting = [h for h in waiting if self._held_as_unknown(h)]
        for held_id in waiting:
            self.commands.decide(held_id, self.approve, f"self sign-up <{address}>", model)
        return len(waiting)

    def _held_as_unknown(self, held_id: str) -> bool:
        return bool(self.fx.spool.load_held(held_id)[1].get("reason") == "not-known")
