"""Updates: re-plan and rewrite only what changed posts show in one tree.

:func:`update_tree` is called by :meth:`generator.builder.Builder.apply` for each
tree that shows a changed community. It threads those communities again,
finds the topics, archive pages, tag pages and profiles that show the change,
and renders them through the same code as a full build, so the tree stays
byte for byte what a full build would write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from intranet import urls
from intranet.format import Post
from intranet.pacing import PACING
from intranet.threads import Topic

from .healthpages import plan_health
from .orders import TopicOrder, archive_changes, archive_pages
from .output import remove, write_atomic
from .plans import (
    SitePlan,
    plan_archive,
    plan_community,
    plan_home,
    plan_people,
    plan_tags,
    plan_topic,
    tag_names,
)
from .site_model import Site
from .treestate import Output, TreeState, merge, remove_page, write_plan, write_sitemap

Pair = tuple[Post | None, Post | None]  # a post before and after a change (None: absent)


@dataclass
class Redo:
    """What one update must render again or remove in one tree."""

    authors: set[str] = field(default_factory=set)  # profiles to render again
    communities: set[str] = field(default_factory=set)  # communities whose main page, feed and archive changed
    tags: set[str] = field(default_factory=set)  # tags whose main page and archive may show a change
    topics: dict[str, Topic] = field(default_factory=dict)  # topic pages to render again
    numbers: dict[str, set[int]] = field(default_factory=dict)  # community -> more archive pages to render
    tag_numbers: dict[str, set[int]] = field(default_factory=dict)  # tag -> more archive pages to render
    removed: list[str] = field(default_factory=list)  # pages that are gone
    directory: bool = False  # the people directory
    tag_index: bool = False  # the tag cloud
    flipped: set[str] = field(default_factory=set)  # people a guest directory now lists, or no longer lists
    health: bool = False  # every community's health page (the day the figures are as of moved on, or people)
    pages_only: bool = False  # only the pages named here: no main pages, home or profiles (pages that waited)


class Later(Protocol):
    """Where pages go that can wait behind new mail (``intranet up``: :class:`generator.deferred.Deferred`)."""

    def add_health(self, state: TreeState) -> None: ...

    def add_archive(self, state: TreeState, kind: str, name: str, numbers: Iterable[int]) -> None: ...


def update_tree(
    state: TreeState,
    changed: dict[str, dict[str, Pair]],
    posts_of: Callable[[str], list[Post]],
    later: Later | None = None,
) -> bool:
    """Re-plan and rewrite what ``changed`` posts show in one tree; False if a full build is needed.

    ``posts_of(slug)`` gives all of a community's posts, for when it must be threaded again. With
    ``later`` (``intranet up``), what can wait is left there, to be rendered behind new mail:

    - the archive pages of communities and tags (an editor's post dated years ago moves every newer
      topic, hundreds of pages at ten thousand topics; the topic's page, its community's and its
      tags' main pages are rendered now);
    - every community's health page when the day the figures are as of moves on (the changed
      communities' and the network's are rendered now).
    """
    site = state.site
    authors = [p for posts in changed.values() for pair in posts.values() for p in pair if p]
    redo = Redo({h for p in authors if (h := _handle(site, p))})
    as_of = site.figures.as_of(site.orders, site.tz)
    for slug, posts in sorted(changed.items()):  # 1. thread the changed communities again, noting what moved
        _rethread(site, slug, posts, posts_of, redo)
    redo.health = site.figures.as_of(site.orders, site.tz) != as_of  # a new day: every community's figures move on
    if redo.health and later is not None:
        later.add_health(state)
        redo.health = False
    if state.tree.guest and not _guest_flips(state, redo):  # 2. whom a guest tree's directory lists
        return False
    write_redo(state, redo, later)  # 3. plan and render what shows any of it (or leave it to ``later``)
    return True


def _rethread(site: Site, slug: str, posts: dict[str, Pair], posts_of: Callable[[str], list[Post]], redo: Redo) -> None:
    changes = site.set_posts(slug, [posts[relpath] for relpath in sorted(posts)], lambda: posts_of(slug))
    redo.communities.add(slug)
    for page, (old, new) in sorted(changes.items()):
        for topic in (old, new):
            if topic is not None:
                redo.tags.update(topic.tags)
        if new is None:
            assert old is not None
            redo.authors.update(h for p in old.posts if (h := _handle(site, p)))
            redo.removed.append(page)
            continue
        redo.topics[page] = new
        if old is None or old.title != new.title:  # profiles list the topic by its title
            redo.authors.update(h for p in new.posts if (h := _handle(site, p)))


def _guest_flips(state: TreeState, redo: Redo) -> bool:
    """A guest tree's directory lists its contacts: someone's first (or last) post there changes it.
    False if the People entry comes or goes in the navigation (a full build)."""
    site = state.site
    flipped = redo.flipped = _listed_flips(site, redo.authors)
    if not flipped:
        return True
    listed = site.listed ^ flipped
    if not listed or not site.listed:
        return False
    site.listed = listed
    show_people(site, flipped, redo)
    return True


def show_people(site: Site, handles: set[str], redo: Redo, moved: list[Post] | tuple[Post, ...] = ()) -> None:
    """Render again everything that shows one of ``handles`` by name, or one of the ``moved`` posts' authors:
    topics they posted in, lists showing them as a topic's last poster, profiles, the directory."""
    people = site.intranet.people
    posts = [p for h in sorted(handles) if (own := site.own.get(h)) for p in own.posts]
    posts += [p for h in sorted(handles) for index in (site.reacted, site.mentioned) for p in index.get(h, {}).values()]
    for post in [*posts, *moved]:
        topic = site.topic_of.get(post.relpath)
        if topic is None:
            continue
        redo.topics[urls.topic(topic.community, topic.key)] = topic
        if topic.last is post:  # lists of topics show its last poster
            _show_in_lists(site, topic, redo)
    for handle in handles:
        redo.authors.update(people[handle].members if handle in people else [])  # a team's members list it
        redo.authors.update(h for h in site.listed if handle in people[h].members)  # its teams list it
        if handle not in site.listed:
            redo.removed.append(urls.person(handle))
    for community in site.intranet.communities.values():  # "Moderated by"
        if handles & set(community.moderators):
            redo.communities.add(community.slug)
    relpaths = {p.relpath for p in moved}
    for slug in site.orders:  # a community's feed names the authors of its latest posts
        if any(
            p.relpath in relpaths or _handle(site, p) in handles for p in site.latest(site.settings.feed_items, slug)
        ):
            redo.communities.add(slug)
    redo.directory = redo.directory or bool(handles)
    redo.authors |= handles & site.listed


def _show_in_lists(site: Site, topic: Topic, redo: Redo) -> None:
    """The main page and the archive page of the community and of each tag listing ``topic``."""
    per_page = site.settings.topics_per_page
    redo.communities.add(topic.community)
    order = site.orders[topic.community]
    if archive_pages(len(order), per_page):
        redo.numbers.setdefault(topic.community, set()).add(order.place(topic) // per_page + 1)
    for tag in topic.tags:
        redo.tags.add(tag)
        order = site.tag_orders[tag]
        if archive_pages(len(order), per_page):
            redo.tag_numbers.setdefault(tag, set()).add(order.place(topic) // per_page + 1)


def write_redo(state: TreeState, redo: Redo, later: Later | None = None) -> None:
    """Plan what ``redo`` says, render it into the live tree, remove what is gone; with ``later``, leave
    the archive pages there."""
    defer = (lambda kind, name, numbers: later.add_archive(state, kind, name, numbers)) if later is not None else None
    plan, removed = _plan(state.site, redo, defer)
    _write(state, plan, removed)


def _plan(
    site: Site, redo: Redo, defer: Callable[[str, str, set[int]], None] | None = None
) -> tuple[SitePlan, list[str]]:
    per_page = site.settings.topics_per_page
    removed = list(redo.removed)
    plan = SitePlan()
    for uri in sorted(redo.topics):
        topic = redo.topics[uri]
        PACING.give_way()  # while mail floods in, the gateway's worker goes first (intranet.pacing)
        plan_topic(site, plan, site.intranet.communities[topic.community], topic)
    for slug in sorted(redo.communities | set(redo.numbers)):
        order = site.orders[slug]
        again, gone = archive_changes(order, per_page)
        numbers = again | {n for n in redo.numbers.get(slug, set()) if n <= archive_pages(len(order), per_page)}
        if defer is not None and numbers:
            defer("community", slug, numbers)
            numbers = set()
        if redo.pages_only and 0 not in numbers:
            plan_archive(site, plan, site.intranet.communities[slug], numbers)
        else:  # (archive page 0: a main page that waited, with its feed)
            plan_community(site, plan, site.intranet.communities[slug], numbers - {0})
        removed += [urls.community(slug, n) for n in gone]
    if not redo.pages_only:
        plan_home(site, plan)
        plan_health(site, plan, None if redo.health else redo.communities | set(redo.numbers))
        plan_people(site, plan, redo.authors, index=redo.directory or bool(redo.flipped))
    elif redo.health:
        plan_health(site, plan, None)
    names = set(tag_names(site))
    tag_index = redo.tag_index
    for tag in sorted(redo.tags | set(redo.tag_numbers)):
        # (not `get(tag) or TopicOrder()`: an order left empty is falsy, and its count before is what tells)
        order = site.tag_orders[tag] if tag in site.tag_orders else TopicOrder()
        before = order.before
        again, gone = archive_changes(order, per_page)
        tag_index = tag_index or before != len(order)
        if tag in names:
            pages = archive_pages(len(order), per_page)
            again |= {n for n in redo.tag_numbers.get(tag, set()) if n <= pages}
            if defer is not None and again:
                defer("tag", tag, again)
                again = set()
            plan_tags(site, plan, [tag], index=False, numbers=again - {0}, main=not redo.pages_only or 0 in again)
        else:
            gone = [0, *range(1, archive_pages(before, per_page) + 1)]
        removed += [urls.tag(tag, n) for n in gone]
        if not order and tag in site.tag_orders:
            del site.tag_orders[tag]  # its changes are taken: an empty order goes
    if tag_index:
        plan_tags(site, plan, [], index=True)
    return plan, removed


def _write(state: TreeState, plan: SitePlan, removed: list[str]) -> None:
    """Render ``plan`` into the live tree, remove what is gone, and bring search and sitemap along."""
    output = Output()
    write_plan(state, plan, output, _write_paced)
    merge([state], [output], search=False)
    for uri in removed:
        remove_page(state, uri)
    gone = [urls.page_url(uri, state.site.directory_urls) for uri in removed]
    for relpath in sorted(state.search.update(output.docs.get(state.tree.name, []), gone)):
        data = state.search.file(relpath)
        if data is None:
            remove(state.out, relpath)
            state.digests.pop(relpath, None)
        else:
            state.digests[relpath] = write_atomic(state.out, relpath, data, state.digests.get(relpath))
    write_sitemap(state, write_atomic)


def _write_paced(out: Path, relpath: str, data: bytes, old: bytes | None) -> bytes:
    """:func:`~generator.output.write_atomic`, after giving way to the gateway's intake (a page at a time)."""
    PACING.give_way()
    return write_atomic(out, relpath, data, old)


def _listed_flips(site: Site, handles: set[str]) -> set[str]:
    """Those of ``handles`` a ``contacts`` directory now lists and did not, or no longer lists."""
    if site.settings.guest_directory != "contacts":
        return set()
    involved = {h for c in site.intranet.communities.values() for h in (*c.moderators, *c.members)}
    return {h for h in handles if (h in involved or h in site.own) != (h in site.listed)}


def _handle(site: Site, post: Post) -> str | None:
    person = site.person_for(post.author)
    return person.handle if person else None
