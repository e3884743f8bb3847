"""Joining by email: staff of the organisation's own mail domains add themselves to ``people/``.

On Yammer anyone with a company address joins and keeps a profile. Here, a first message from
an address in one of the ``staff_domains`` that is not yet in ``people/`` is held as before
(``not-known``), and its sender is also sent an invitation: a reply to it (from the same
address, authentic, within :data:`~mailgateway.commands.CONFIRM_DAYS`) adds them as staff, in a
commit authored by them with the name from their From header, and publishes what of theirs was
held. Partners and suppliers still join only by a moderator's ``approve known`` or an editor.
The invitation's reply address is the subscription confirmation's, with the letter ``j``.
"""

from __future__ import annotations

import re
from typing import Any

from intranet.format import HANDLE_RE, Community, normalize_address
from intranet.model import Model

from .outmail import community_address
from .parse import Inbound

JOIN_LETTER = "j"  # in a confirmation address: join, not a subscription mode


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

    def invite(self, community: Community, mail: Inbound) -> bool:
        """Invite the sender of a held message to join, if their address is in a staff domain."""
        settings = self.fx.settings
        if not staff_domain(mail.from_address, settings.staff_domains):
            return False
        text = (
            f"Your message to {community.name} is waiting, because your address is not in the intranet's "
            f"people directory yet. Your address is one of the organisation's, so you can add yourself: "
            f"reply to this message (any text will do) and you join as {mail.from_name or mail.from_address}, "
            "staff, and your waiting messages are published.\n\n"
            "If you did not write to us, ignore this message and nothing changes."
        )
        subject = f"Join the intranet to post in {community.name}"
        self.commands.send_confirmation(community, mail, JOIN_LETTER, subject, text)
        return True

    def join(self, community: Community, mail: Inbound, model: Model) -> tuple[str, str]:
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
            handle = self.commands.people.add(
                base if HANDLE_RE.match(base) else "person",
                data,
                body=f"{name} answered the invitation sent when they first wrote to {community.name}.",
                author=(name, mail.from_address),
                committer=self.fx.settings.committer,
                trailers={},
            )
        released = self.release(mail.from_address, model)
        self.fx.notice(
            mail,
            "joined",
            self.fx.clock(),
            community=community.name,
            community_address=community_address(community, self.fx.settings),
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
