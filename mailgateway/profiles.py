"""Your own profile, by email: ``#profile`` at the top of a message, then ``role:``, ``expertise:``, ``about:`` lines.

Yammer users keep their own profile; here the sender's own ``people/<handle>.yml`` is changed
(:class:`~mailgateway.people_edits.PeopleFiles`: comments, order and the rest of the file kept), in
a commit authored by them. Only those three fields, and only one's own file; each value is
checked (:func:`profile_changes`, pure) and the sender gets one receipt saying what changed and
what was not taken. Send it to any community's address; nothing is posted. An image sent with it
becomes their picture, ``people/<handle>.jpg`` (:mod:`mailgateway.pictures` makes it anew), in a
commit of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .parse import Inbound
from .pictures import picture_part, profile_picture

if TYPE_CHECKING:
    from intranet.model import Model

    from .commands import Commands
    from .routing import Route

PROFILED = "profiled"  # the outcome on record
LIMITS = {"role": 100, "about": 1000}  # characters
MAX_EXPERTISE, EXPERTISE_CHARS = 20, 60


def profile_changes(text: str) -> tuple[dict[str, Any], list[str]]:
    """(field -> new value, lines not taken and why) from the lines after ``#profile``; an empty value
    takes the field away (None)."""
    changes: dict[str, Any] = {}
    refused: list[str] = []
    for line in (ln.strip() for ln in text.replace("\\", "").splitlines()):
        if not line:
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip().lower(), " ".join(value.split())
        if not colon or key not in ("role", "expertise", "about"):
            refused.append(f"{line[:60]!r}: not one of role, expertise, about")
        elif key == "expertise":
            items = [item.strip() for item in value.split(",") if item.strip()]
            if len(items) > MAX_EXPERTISE or any(len(item) > EXPERTISE_CHARS for item in items):
                refused.append(f"expertise: at most {MAX_EXPERTISE} items of {EXPERTISE_CHARS} characters")
            else:
                changes[key] = items or None
        elif len(value) > LIMITS[key]:
            refused.append(f"{key}: at most {LIMITS[key]} characters")
        else:
            changes[key] = value or None
    return changes, refused


class Profiles:
    def __init__(self, commands: Commands) -> None:
        self.commands = commands
        self.fx = commands.fx

    def carry_out(self, decision: Route, mail: Inbound, model: Model, publish: Any) -> tuple[str, str, dict[str, Any]]:
        handle = decision.handle
        assert handle is not None and decision.community is not None
        changes, refused = profile_changes(mail.body.split("\n", 1)[1] if "\n" in mail.body else "")
        person = model.people[handle]

        def change(data: Any) -> None:
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value

        commit = None
        if changes:
            commit = self.commands.people.edit(
                handle,
                change,
                **self._message(person, mail, "profile", f"#profile: {', '.join(sorted(changes))}"),
            )
        lines = [f"{key}: {'taken away' if value is None else 'now ' + repr(value)}" for key, value in changes.items()]
        if changes and commit is None:
            lines = ["Your profile already said so: nothing changed."]
        changed = sorted(changes) if commit else []
        picture, why = self._picture(mail, person)
        if picture:
            changed.append("picture")
            lines.append("picture: now the one you sent")
        elif why:
            refused.append(f"the picture: {why}")
        receipt = "\n".join([*lines, *(f"Not taken: {why}." for why in refused)]) or "No lines to take."
        self.fx.notice(mail, "profile-done", self.fx.clock(), receipt=receipt)
        return PROFILED, "profile", {**decision.extra(), "changed": changed}

    def _picture(self, mail: Inbound, person: Any) -> tuple[bool, str]:
        """(Whether an image sent with ``mail`` is now ``person``'s picture, why not); (False, "") for none sent."""
        part = picture_part(mail)
        if part is None:
            return False, ""
        if person.picture and not person.picture.endswith(".jpg"):
            return False, f"your picture is {person.picture}, put there by an editor: ask them to change it"
        data, why = profile_picture(part.data)
        if data is None:
            return False, why
        self.commands.people.set_picture(
            person.handle, data, **self._message(person, mail, "picture", "a picture with #profile")
        )
        return True, ""

    def _message(self, person: Any, mail: Inbound, what: str, sent: str) -> dict[str, Any]:
        """The commit message and identities of a change ``person`` made to their own ``what`` by ``mail``."""
        return {
            "subject": f"people: {person.name} changed their {what} by email",
            "body": f"{person.name} sent {sent}.",
            "author": (person.name, mail.from_address),
            "committer": self.fx.settings.committer,
            "trailers": {"Message-ID": mail.message_id},
        }
