"""Who gets a post by mail (pure): subscribers in its mode, a topic's followers, and who it mentions.

:func:`recipients` is the community's side (subscriptions, and a topic's ``notify`` choices);
:func:`mentions` adds the people a post mentions by ``@handle`` who may read the community and
would not get it otherwise, and names those it mentions who may not (its author is told).
"""

from __future__ import annotations

from intranet.format import Community, Person, Post, may_read
from intranet.mentions import mentioned, unique_names


def recipients(
    community: Community, people: dict[str, Person], mode: str, exclude: Person | None, chosen: dict[str, str]
) -> list[tuple[Person, str]]:
    """Who gets this community's mail in ``mode`` now, with the address to use; ``chosen``: a topic's
    ``notify`` (handle -> follow or mute), for each post of it (an announcement cannot be muted)."""
    result = []
    mute = community.posting != "moderators"
    for handle in sorted(set(community.subscribers) | set(community.members) | set(community.moderators) | set(chosen)):
        person, choice = people.get(handle), chosen.get(handle)
        if person is None or person is exclude or (choice == "mute" and mute):
            continue
        if community.delivery(handle) != mode and choice != "follow":
            continue
        if not may_read(community, person):
            continue
        address = person.mail_address()
        if address:
            result.append((person, address))
    return result


def mentions(
    community: Community,
    people: dict[str, Person],
    post: Post,
    exclude: Person | None,
    chosen: dict[str, str],
    told: set[str],
) -> tuple[list[tuple[Person, str]], list[Person]]:
    """(whom ``post`` mentions and who may read it but is not among ``told`` (the handles :func:`recipients`
    gave), with their address; whom it mentions who may not read the community). A topic muted is not mailed."""
    tell, cannot = [], []
    for handle in mentioned(post.body, people, names_of(people)):
        person = people[handle]
        if person is exclude or handle in told or chosen.get(handle) == "mute":
            continue
        if not may_read(community, person):
            cannot.append(person)
        elif address := person.mail_address():
            tell.append((person, address))
    return tell, cannot


_NAMES: tuple[dict[str, Person], dict[str, str]] | None = None  # people as last asked, their unique names


def names_of(people: dict[str, Person]) -> dict[str, str]:
    """The whole names only one of ``people`` has (:func:`unique_names`), worked out once per ``people``
    (the model replaces its dict when people change)."""
    global _NAMES
    found = _NAMES
    if found is None or found[0] is not people:
        found = _NAMES = (people, unique_names((h, p.name) for h, p in people.items()))
    return found[1]
