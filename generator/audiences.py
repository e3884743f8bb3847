"""Who sees what: the site trees built for each audience (pure).

A static site cannot ask who is reading, so the separation happens at build
time. Each *tree* is a whole site holding only the communities its readers
may read (:func:`intranet.format.may_read` is the one rule); the web
server's single sign-on maps each reader to one tree (see docs/deployment.md).

- ``staff``, ``partners`` and ``suppliers`` are always built: the
  communities open to that kind of person.
- A person who may also read members-only communities gets the tree
  ``<base>+<slug>[+<slug>...]``, e.g. ``staff+medication-safety-leads``: one
  tree per combination that someone in ``people/`` actually has.

:func:`view_of` cuts an :class:`~intranet.format.Intranet` down to one
tree before any page is planned, so nothing a tree may not show ever reaches
its templates.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace

from intranet.format import KIND_AUDIENCE, Intranet, Person, may_read, normalize_address

BASES = ("staff", "partners", "suppliers")
_NAME = re.compile(r"^(staff|partners|suppliers)(\+[a-z0-9][a-z0-9-]*)*$")
_MAX_NAME = 120  # folder names stay well under the file system's 255


@dataclass(frozen=True)
class Tree:
    """One site tree: its folder name, its readers' kind and what they may read."""

    name: str
    base: str  # staff | partners | suppliers
    communities: frozenset[str]  # slugs of the communities it shows

    @property
    def guest(self) -> bool:
        """Partners and suppliers: their people directory follows ``guest_directory``."""
        return self.base != "staff"


def tree_name(base: str, private: list[str]) -> str:
    """``staff``, or ``staff+<slug>+<slug>`` for readers of members-only communities."""
    name = "+".join([base, *sorted(private)])
    if len(name) > _MAX_NAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{base}+{'+'.join(sorted(private))[: _MAX_NAME - 30]}+{digest}"
    return name


def is_tree_name(name: str) -> bool:
    return bool(_NAME.match(name)) and len(name) <= _MAX_NAME + 20


def base_tree(intranet: Intranet, base: str) -> Tree:
    readable = {c.slug for c in intranet.communities.values() if not c.members_only and base in c.audience}
    return Tree(base, base, frozenset(readable))


def reader_tree(intranet: Intranet, person: Person) -> Tree:
    """The tree ``person`` reads: every community :func:`may_read` lets them read."""
    base = KIND_AUDIENCE[person.kind]
    readable = {c.slug for c in intranet.communities.values() if may_read(c, person)}
    private = [slug for slug in readable if intranet.communities[slug].members_only]
    return Tree(tree_name(base, private), base, frozenset(readable))


def plan_trees(intranet: Intranet) -> list[Tree]:
    """The base trees, then one per combination of members-only communities people have."""
    trees = {base: base_tree(intranet, base) for base in BASES}
    for person in intranet.people.values():
        if person.kind in KIND_AUDIENCE:
            tree = reader_tree(intranet, person)
            trees.setdefault(tree.name, tree)
    return list(trees.values())


def access_map(intranet: Intranet) -> dict[str, str]:
    """Each address in ``people/`` (lower-case) -> the name of the tree its owner reads."""
    result: dict[str, str] = {}
    for handle in sorted(intranet.people):
        person = intranet.people[handle]
        if person.kind not in KIND_AUDIENCE:
            continue
        name = reader_tree(intranet, person).name
        for address in person.emails:
            result.setdefault(address.strip().lower(), name)
    return result


def view_of(intranet: Intranet, tree: Tree) -> Intranet:
    """``intranet`` with only the communities (and their posts) ``tree`` may show.

    People stay: their names are needed to show authors. Which of them get a
    profile page is :func:`listed_people`'s business. Problems stay with the
    whole intranet (they are reported once, by the build and ``intranet check``).
    """
    communities = {slug: c for slug, c in intranet.communities.items() if slug in tree.communities}
    posts = [p for p in intranet.posts if p.community in tree.communities]
    return replace(intranet, communities=communities, posts=posts, problems=[])


def listed_people(view: Intranet, tree: Tree, directory: str) -> frozenset[str]:
    """Handles of the people with a profile page in ``tree``.

    Staff trees list everyone. Partners' and suppliers' trees follow
    ``directory``: ``everyone``; ``names`` (everyone, but name, role and
    organisation only); ``contacts``, the people who moderate, belong to or
    have posted in a community the tree shows; or ``none``.
    """
    if not tree.guest or directory in ("everyone", "names"):
        return frozenset(view.people)
    if directory == "none":
        return frozenset()
    involved: set[str] = set()
    for community in view.communities.values():
        involved.update(community.moderators, community.members)
    by_email = view.person_by_email()
    for post in view.posts:
        if post.author.handle:
            involved.add(post.author.handle)
        elif post.author.email:
            handle = by_email.get(normalize_address(post.author.email))
            if handle:
                involved.add(handle)
    return frozenset(h for h in involved if h in view.people)
