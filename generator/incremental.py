"""Updates: re-plan and rewrite only what changed posts show in one tree.

:func:`update_tree` is called by :meth:`generator.builder.Builder.apply` for each
tree that shows a changed community. It threads those communities again,
finds the topics, archive pages, tag pages and profiles that show the change,
and renders them through the same code as a full build, so the tree stays
byte for byte what a full build would write.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from intranet import urls
from intranet.format import Post
from intranet.threads import Topic

from .output import remove, write_atomic
from .plans import (
    SitePlan,
    archive_pages,
    by_start,
    plan_community,
    plan_home,
    plan_people,
    plan_tags,
    plan_topic,
    tag_names,
    tag_topics,
)
from .site_model import Site
from .treestate import Output, TreeState, merge, remove_page, write_plan, write_sitemap

Pair = tuple[Post | None, Post | None]  # a post before and after a change (None: absent)


@dataclass
class _Redo:
    """What one update must render again or remove in one tree."""

    authors: set[str]  # whose profiles list the changed posts: their authors, before and after the change
    tags: set[str] = field(default_factory=set)  # tags whose pages may show a change
    topics: dict[str, Topic] = field(default_factory=dict)  # topic pages to render again
    numbers: dict[str, set[int]] = field(default_factory=dict)  # community -> its archive pages to render again
    tag_numbers: dict[str, set[int]] = field(default_factory=dict)  # tag -> its archive pages to render again
    removed: list[str] = field(default_factory=list)  # pages that are gone
    flipped: set[str] = field(default_factory=set)  # people a guest directory now lists, or no longer lists


def update_tree(state: TreeState, changed: dict[str, dict[str, Pair]], posts_of: dict[str, dict[str, Post]]) -> bool:
    """Re-plan and rewrite what ``changed`` posts show in one tree; False if a full build is needed."""
    site = state.site
    per_page = site.settings.topics_per_page
    redo = _Redo(
        {h for posts in changed.values() for pair in posts.values() for p in pair if p and (h := _handle(site, p))}
    )
    archives_before = {tag: _archive(tag_topics(site, tag), per_page) for tag in site.tagged}
    counts_before = {tag: len(topics) for tag, topics in site.tagged.items()}
    for slug, posts in sorted(changed.items()):  # 1. thread the changed communities again, noting what moved
        _rethread(site, slug, posts, [p for _, p in sorted(posts_of[slug].items())], redo)
    if state.tree.guest and not _guest_flips(state, redo):  # 2. whom a guest tree's directory lists
        return False
    plan, removed = _plan(site, redo, archives_before, counts_before)  # 3. plan and render what shows any of it
    _write(state, plan, removed)
    return True


def _rethread(site: Site, slug: str, posts: dict[str, Pair], all_posts: list[Post], redo: _Redo) -> None:
    per_page = site.settings.topics_per_page
    old_topics = {urls.topic(slug, t.key): t for t in site.topics.get(slug, [])}
    before = {uri: _topic_sig(t) for uri, t in old_topics.items()}
    archive_before = _archive(site.topics.get(slug, []), per_page)
    for topic in old_topics.values():
        if any(p.relpath in posts for p in topic.posts):
            redo.tags.update(topic.tags)
    added = [new for old, new in posts.values() if old is None and new is not None]
    site.set_posts(slug, all_posts, added if len(added) == len(posts) else None)
    for topic in site.topics.get(slug, []):
        uri = urls.topic(slug, topic.key)
        if before.get(uri) == _topic_sig(topic) and not any(p.relpath in posts for p in topic.posts):
            continue
        redo.topics[uri] = topic
        redo.tags.update(topic.tags)
        previous = old_topics.get(uri)
        if previous is not None:
            redo.tags.update(previous.tags)
        if previous is None or previous.title != topic.title:  # profiles list the topic by its title
            redo.authors.update(h for p in topic.posts if (h := _handle(site, p)))
    for uri in sorted(set(before) - {urls.topic(slug, t.key) for t in site.topics.get(slug, [])}):
        redo.tags.update(old_topics[uri].tags)
        redo.authors.update(h for p in old_topics[uri].posts if (h := _handle(site, p)))
        redo.removed.append(uri)
    archive_after = _archive(site.topics.get(slug, []), per_page)
    redo.numbers[slug] = _changed_pages(archive_before, archive_after)
    redo.removed += [urls.community(slug, n) for n in range(len(archive_after) + 1, len(archive_before) + 1)]


def _guest_flips(state: TreeState, redo: _Redo) -> bool:
    """A guest tree's directory lists its contacts: someone's first (or last) post there changes it.
    False if the People entry comes or goes in the navigation (a full build)."""
    site = state.site
    per_page = site.settings.topics_per_page
    flipped = redo.flipped = _listed_flips(site, redo.authors)
    if not flipped:
        return True
    listed = site.listed ^ flipped
    if not listed or not site.listed:
        return False
    site.listed = listed
    for handle in flipped:
        person = site.intranet.people[handle]
        for post in site.posts_by.get(handle, {}).values():
            topic = site.topic_of[post.relpath]
            redo.topics[urls.topic(topic.community, topic.key)] = topic
        redo.authors.update(person.members)  # a team's members' profiles list it
        redo.authors.update(h for h in site.listed if handle in site.intranet.people[h].members)
        if handle not in listed:
            redo.removed.append(urls.person(handle))
    shows = lambda t: _handle(site, t.last) in flipped  # noqa: E731 - the last poster's name is linked
    for slug in state.tree.communities:
        redo.numbers.setdefault(slug, set()).update(_pages_showing(site.topics.get(slug, []), per_page, shows))
    for tag in site.tagged:
        redo.tags.add(tag)
        redo.tag_numbers[tag] = _pages_showing(tag_topics(site, tag), per_page, shows)
    redo.authors |= flipped & listed
    return True


def _plan(
    site: Site, redo: _Redo, archives_before: dict[str, list[tuple[Any, ...]]], counts_before: dict[str, int]
) -> tuple[SitePlan, list[str]]:
    per_page = site.settings.topics_per_page
    removed = list(redo.removed)
    plan = SitePlan()
    for uri in sorted(redo.topics):
        topic = redo.topics[uri]
        plan_topic(site, plan, site.intranet.communities[topic.community], topic)
    for slug in sorted(redo.numbers):
        plan_community(site, plan, site.intranet.communities[slug], redo.numbers[slug])
    plan_home(site, plan)
    plan_people(site, plan, redo.authors, index=bool(redo.flipped))
    names = set(tag_names(site))
    counts_changed = set(site.tagged) != set(counts_before)
    for tag in sorted(redo.tags | (set(site.tagged) ^ set(counts_before))):
        pages_before, pages_after = archives_before.get(tag, []), _archive(tag_topics(site, tag), per_page)
        if tag in names:
            again = _changed_pages(pages_before, pages_after) | redo.tag_numbers.get(tag, set())
            plan_tags(site, plan, [tag], index=False, numbers=again)
        counts_changed = counts_changed or len(site.tagged.get(tag, {})) != counts_before.get(tag, 0)
        first_gone = 0 if tag not in names else len(pages_after) + 1
        removed += [urls.tag(tag, n) for n in range(first_gone, len(pages_before) + 1)]
    if counts_changed:
        plan_tags(site, plan, [], index=True)
    return plan, removed


def _write(state: TreeState, plan: SitePlan, removed: list[str]) -> None:
    """Render ``plan`` into the live tree, remove what is gone, and bring search and sitemap along."""
    output = Output()
    write_plan(state, plan, output, write_atomic)
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


def _listed_flips(site: Site, handles: set[str]) -> set[str]:
    """Those of ``handles`` a ``contacts`` directory now lists and did not, or no longer lists."""
    if site.settings.guest_directory != "contacts":
        return set()
    involved = {h for c in site.intranet.communities.values() for h in (*c.moderators, *c.members)}
    return {h for h in handles if (h in involved or bool(site.posts_by.get(h))) != (h in site.listed)}


def _handle(site: Site, post: Post) -> str | None:
    person = site.person_for(post.author)
    return person.handle if person else None


def _topic_sig(topic: Topic) -> tuple[Any, ...]:
    return tuple((e.post.relpath, e.depth, e.parent.relpath if e.parent else "") for e in topic.entries)


def _summary(topic: Topic) -> tuple[Any, ...]:
    """What a list of topics shows of one."""
    last = topic.last
    return (topic.key, topic.community, topic.title, tuple(topic.tags), topic.reply_count, last.relpath, last.date)


def _archive(topics: list[Topic], per_page: int) -> list[tuple[Any, ...]]:
    """What each archive page shows of its topics (no pages while one page of latest activity holds them all)."""
    if archive_pages(len(topics), per_page) == 0:
        return []
    summaries = [_summary(t) for t in by_start(topics)]
    return [tuple(summaries[i : i + per_page]) for i in range(0, len(summaries), per_page)]


def _changed_pages(before: list[tuple[Any, ...]], after: list[tuple[Any, ...]]) -> set[int]:
    """Archive pages to render again: all when their number changed (the pager), else those that differ."""
    if len(before) != len(after):
        return set(range(1, len(after) + 1))
    return {n for n, (old, new) in enumerate(zip(before, after, strict=True), start=1) if old != new}


def _pages_showing(topics: list[Topic], per_page: int, shows: Callable[[Topic], bool]) -> set[int]:
    """Archive pages (by start) holding a topic ``shows`` picks."""
    if archive_pages(len(topics), per_page) == 0:
        return set()
    return {i // per_page + 1 for i, t in enumerate(by_start(topics)) if shows(t)}
