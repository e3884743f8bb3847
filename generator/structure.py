"""Updates for edits of ``people/`` and of ``community.yml``: only the pages that show what changed.

:func:`read_edit` compares the people and communities the trees show with the model's (pure), and
:func:`edit_tree` brings one tree along: the new records go into its :class:`~generator.site_model.Site`,
posts written from an address that now belongs to someone else are attributed again, and the pages
that show an edited person or community are planned and rendered by the same code as a full build
(:mod:`generator.incremental` writes them, each file replaced atomically). What shows where:

- a person's name, kind or organisation: the topics they posted in, the lists of topics where they
  posted last, the communities they moderate, their teams' and members' profiles, the directory, the
  home page; their role, expertise and the like: their profile and the directory only;
- a community's purpose, audience wording or tags: its page, the home page and list of communities,
  the pages of its old and new tags and the tag cloud; its moderators or members: also their
  profiles; its mail address: also every topic page of it (each shows its reply address).

The caller makes a full build instead (in ``intranet up``, in a child process while the live trees
go on taking new mail) when the edit changes which trees exist or what they show (an audience, a
members-only community's members who read a tree of their own, a community that came or went), a
community's name (in the navigation of every page: as much work as a full build), or when a guest
tree's directory gains its first person or loses its last (the navigation's People entry).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from intranet import urls
from intranet.format import Community, Person

from .deferred import Deferred
from .incremental import Redo, show_people, write_redo
from .site_model import Site
from .treestate import TreeState

WIDE = ("name", "kind", "organisation", "picture")  # what pages other than a person's profile and the directory show


@dataclass
class Edit:
    """People and communities that differ between what the trees show and the model."""

    people: dict[str, Person] = field(default_factory=dict)  # as the model has them now, in its order
    communities: dict[str, Community] = field(default_factory=dict)
    handles: set[str] = field(default_factory=set)  # people who came, went or changed
    slugs: dict[str, tuple[Community, Community]] = field(default_factory=dict)  # communities that changed
    frame: bool = False  # editors' pages changed, a community came, went or was renamed: a full build

    def __bool__(self) -> bool:
        return bool(self.handles or self.slugs or self.frame)


def read_edit(
    shown_people: dict[str, Person],
    shown_communities: dict[str, Community],
    people: dict[str, Person],
    communities: dict[str, Community],
) -> Edit:
    """What differs (who gets a community's mail, ``subscribers.yml``, is not shown)."""
    handles = {h for h in shown_people.keys() | people.keys() if shown_people.get(h) != people.get(h)}
    slugs = {}
    frame = shown_communities.keys() != communities.keys()
    for slug in shown_communities.keys() & communities.keys():
        old, new = shown_communities[slug], communities[slug]
        if replace(old, subscribers={}) != replace(new, subscribers={}):
            slugs[slug] = (old, new)
            frame = frame or (old.pages, old.assets, old.name) != (new.pages, new.assets, new.name)
    return Edit(dict(people), dict(communities), handles, slugs, frame)


def edit_tree(
    state: TreeState,
    edit: Edit,
    before: dict[str, Person],
    directory: str,
    deferred: Deferred | None = None,
) -> bool:
    """Bring one tree along with ``edit`` (the site's people are the new ones already; ``before``: the old).

    ``directory`` is the ``guest_directory`` setting. False when a full build must do it instead.
    With ``deferred``, all but the profiles, the directory and the home page are left there.
    """
    site = state.site
    slugs = {s: pair for s, pair in edit.slugs.items() if s in state.tree.communities}
    for slug in slugs:
        site.intranet.communities[slug] = edit.communities[slug]
    moved, posts = site.people_changed(before, edit.handles)
    concerned = edit.handles | moved
    for old, new in slugs.values():
        concerned |= set(old.moderators) ^ set(new.moderators) | set(old.members) ^ set(new.members)
    listed = site.listed - concerned | {h for h in concerned if _listed(site, state, directory, h)}
    if bool(listed) != bool(site.listed):
        return False  # the People entry comes or goes in the navigation
    flipped, site.listed = set(listed ^ site.listed), frozenset(listed)
    redo = Redo(flipped=flipped)
    wide = {h for h in edit.handles if _wide(before.get(h), edit.people.get(h))} | flipped
    show_people(site, wide, redo, posts)  # and the topics and lists showing posts attributed anew
    redo.health = bool(wide or moved)  # names, kinds and who wrote what: every community's figures
    redo.authors |= moved & site.listed  # whose posts they are now, or were: their profiles count them
    for handle in edit.handles - wide:
        _show_profile(site, handle, before.get(handle), edit.people.get(handle), redo)
    for old, new in slugs.values():
        _show_community(site, old, new, redo)
    if deferred is not None:
        deferred.add_edit(state, redo)
    write_redo(state, redo)
    return True


def _wide(old: Person | None, new: Person | None) -> bool:
    if old is None or new is None:
        return True
    return any(getattr(old, name) != getattr(new, name) for name in WIDE)


def _listed(site: Site, state: TreeState, directory: str, handle: str) -> bool:
    """Whether ``handle`` has a profile page in this tree (as :func:`generator.audiences.listed_people` says)."""
    if handle not in site.intranet.people:
        return False
    if not state.tree.guest or directory in ("everyone", "names"):
        return True
    if directory == "none":
        return False
    if handle in site.own:
        return True
    return any(handle in c.moderators or handle in c.members for c in site.intranet.communities.values())


def _show_profile(site: Site, handle: str, old: Person | None, new: Person | None, redo: Redo) -> None:
    """A person's own page and the directory (their role and the like), and the teams they join or leave."""
    redo.directory = True
    if handle in site.listed:
        redo.authors.add(handle)
    for person in (old, new):
        redo.authors.update(person.members if person else [])  # a team's members' pages list it
    people = site.intranet.people
    redo.authors.update(h for h in site.listed if handle in people[h].members)


def _show_community(site: Site, old: Community, new: Community, redo: Redo) -> None:
    redo.communities.add(new.slug)  # its page and feed; the home page and the list of communities always
    if old.mail != new.mail:  # every topic page shows its reply address
        for topic in site.orders[new.slug].latest:
            redo.topics[urls.topic(new.slug, topic.key)] = topic
    redo.authors.update(h for h in {*old.moderators, *new.moderators, *old.members, *new.members} if h in site.listed)
    if old.tags != new.tags:
        redo.tags.update(old.tags, new.tags)
        redo.tag_index = True
