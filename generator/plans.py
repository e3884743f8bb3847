"""Every page of the site, as data (pure).

The ``plan_*`` functions turn parts of a :class:`~generator.site_model.Site`
into a :class:`SitePlan`: generated pages with their finished HTML, editors'
pages for MkDocs to render, files to copy and text files such as feeds. They
do no I/O besides reading templates, so the builder (:mod:`generator.builder`)
plans a whole tree or only the pages one change shows with the same code.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intranet import urls
from intranet.eventtimes import when_text
from intranet.format import Community, Person, Post, may_read
from intranet.mentions import link_mentions
from intranet.render import html_to_text, text_excerpt
from intranet.threads import Topic
from intranet.urls import published_name

from . import posthtml
from .calendars import EVENT_ICS, absolute, calendar, event_topics
from .feeds import atom_feed
from .orders import TopicOrder, archive_pages
from .site_model import Site
from .threadfiles import FEED, MBOX, companion, thread_mbox

KIND_TITLES = {"staff": "Staff", "partner": "Partners", "supplier": "Suppliers"}


@dataclass
class GeneratedPage:
    src_uri: str
    title: str  # plain text; escaped by the MkDocs adapter
    html: str
    in_nav: bool = False
    search: str | None = None  # plain text for the search index; None: not searchable
    parent: str = ""  # shown beside it in search results (the community)
    date: str = ""  # ISO date of its last change, for ranking search results
    files: dict[str, Path] = field(default_factory=dict)  # attachments it links to: output path -> source
    texts: dict[str, str] = field(default_factory=dict)  # files made with it, and gone with it: output path -> text


@dataclass
class SitePlan:
    pages: list[GeneratedPage] = field(default_factory=list)
    markdown_pages: dict[str, str] = field(default_factory=dict)  # src_uri -> trusted Markdown
    files: dict[str, Path] = field(default_factory=dict)  # src_uri -> file to copy
    texts: dict[str, str] = field(default_factory=dict)  # src_uri -> file content
    nav: list[Any] = field(default_factory=list)
    titles: dict[str, str] = field(default_factory=dict)  # generated pages in the navigation -> title


class PostRenderer:
    """Post Markdown rendered once and shared by the trees that show the post (a small cache)."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def __call__(self, post: Post, part: str, text: str, links: dict[str, str]) -> str:
        key = (post.relpath, part, text)
        found = self._cache.get(key)
        if found is None:
            found = posthtml.rendered(post.relpath, part, text, links)
            self._cache[key] = found
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


_RENDER = PostRenderer()


def plan_frame(site: Site, plan: SitePlan) -> None:
    """What every page stands in: the navigation, the stylesheet, editors' pages and their files."""
    communities = site.communities_by_name()
    plan.texts[urls.stylesheet()] = (Path(__file__).parent / "templates" / "intranet.css").read_text()
    for community in communities:
        for page in community.pages:
            plan.markdown_pages[urls.community_page(community.slug, page.name)] = page.text
        pages_dir = f"communities/{community.slug}/pages/"
        for asset in community.assets:
            target = urls.community_asset(community.slug, asset[len(pages_dir) :])
            plan.files[target] = site.intranet.root / asset
    plan.nav = _nav(site, communities)
    plan.titles = {urls.home(): "Home", urls.communities(): "Communities", urls.tags(): "Tags"}
    plan.titles[urls.health()] = "Health at a glance"
    plan.titles.update({urls.community(c.slug): c.name for c in communities})
    if site.listed:
        plan.titles[urls.people()] = "People"


# -- communities and topics --------------------------------------------------


def plan_community(site: Site, plan: SitePlan, community: Community, numbers: Iterable[int] | None = None) -> None:
    """The community's page and feed, and its archive pages (all, or only ``numbers``).

    The community's page lists the topics with the latest activity. Beyond
    one page of them, the archive lists every topic by the date it started,
    page 1 holding the oldest: a new topic only ever changes the last page,
    and a reply only the page its topic is on.
    """
    slug = community.slug
    order = site.orders.get(slug) or TopicOrder()
    topics = order.latest
    per_page = site.settings.topics_per_page
    pages = archive_pages(len(topics), per_page)
    here = urls.community(slug)
    pinned = [t for t in topics if t.root.pinned]  # first, whatever their activity
    html = site.render(
        "community.html",
        here,
        community=community,
        topics=pinned + [t for t in topics if not t.root.pinned][: max(per_page - len(pinned), 0)],
        page=0,
        pages=pages,
        page_uri=lambda n: urls.community(slug, n),
        post_count=site.post_counts.get(slug, 0),
        topic_count=len(topics),
    )
    plan.pages.append(
        GeneratedPage(here, community.name, html, in_nav=True, search=community.purpose, parent="Communities")
    )
    plan_archive(site, plan, community, range(1, pages + 1) if numbers is None else numbers)
    items = site.latest(site.settings.feed_items, slug)
    plan.texts[urls.feed(slug)] = _feed(site, items, community.name, urls.community(slug), urls.feed(slug))
    plan_events(site, plan, community, topics)


def plan_archive(site: Site, plan: SitePlan, community: Community, numbers: Iterable[int]) -> None:
    """Pages ``numbers`` of the community's archive (those that exist)."""
    slug = community.slug
    order = site.orders.get(slug) or TopicOrder()
    topics, archive = order.latest, order.started
    per_page = site.settings.topics_per_page
    pages = archive_pages(len(topics), per_page)
    for number in sorted(n for n in set(numbers) if 1 <= n <= pages):
        here = urls.community(slug, number)
        html = site.render(
            "community.html",
            here,
            community=community,
            topics=list(reversed(archive[(number - 1) * per_page : number * per_page])),
            page=number,
            pages=pages,
            page_uri=lambda n: urls.community(slug, n),
            post_count=0,
            topic_count=len(topics),
        )
        plan.pages.append(GeneratedPage(here, f"{community.name}: all topics, page {number}", html))


def plan_events(site: Site, plan: SitePlan, community: Community, topics: list[Topic]) -> None:
    """The community's events page and calendar feed (every community has both, events or none)."""
    slug, here = community.slug, urls.events(community.slug)
    events = event_topics(topics, site.tz)
    views = [{"topic": t, "event": t.root.event, "when": when_text(t.root.event, site.tz)} for t in events]  # type: ignore[arg-type]
    html = site.render("events.html", here, community=community, events=views, feed=urls.events_feed(slug))
    plan.pages.append(GeneratedPage(here, f"{community.name}: events", html))

    def page_url(topic: Topic) -> str:
        return absolute(site.settings.site_url, urls.topic(slug, topic.key), site.directory_urls)

    plan.texts[urls.events_feed(slug)] = calendar(events, community.name, page_url)


def _post_view(site: Site, here: str, post: Post) -> dict[str, Any]:
    root = site.intranet.root
    folder = (root / post.relpath).with_suffix("")
    attachments = []
    links: dict[str, str] = {}
    for attachment in post.attachments:
        target = urls.attachment(post.community, post.key, published_name(attachment.file))
        link = urls.relative(here, target, site.directory_urls)
        links[attachment.file] = link
        attachments.append({"name": attachment.name, "size": attachment.size, "url": link, "type": attachment.type})
    community = site.intranet.communities[post.community]

    def profile(handle: str) -> str | None:  # a mention links where its person may read the community
        person = site.intranet.people.get(handle)
        if person is None or handle not in site.listed or not may_read(community, person):
            return None
        return urls.relative(here, urls.person(handle), site.directory_urls)

    return {
        "post": post,
        "body": link_mentions(_RENDER(post, "body", post.body, links), profile, site.names),
        "quoted": _RENDER(post, "quoted", post.quoted, links),
        "signature": _RENDER(post, "signature", post.signature, links),
        "attachments": attachments,
        "files": [
            (urls.attachment(post.community, post.key, published_name(a.file)), folder / a.file)
            for a in post.attachments
        ],
    }


def plan_topic(site: Site, plan: SitePlan, community: Community, topic: Topic) -> None:
    here = urls.topic(community.slug, topic.key)
    views = []
    files: dict[str, Path] = {}
    for entry in topic.entries:
        view = _post_view(site, here, entry.post)
        view["depth"] = min(entry.depth, 4)
        view["parent"] = entry.parent
        view["anchor"] = f"p-{entry.post.key[:12]}"
        views.append(view)
        files.update(view["files"])
    mbox, feed_uri = companion(topic, MBOX), companion(topic, FEED)
    guides = [
        (page.title, urls.community_page(community.slug, page.name))
        for page in community.pages
        if page.topic and page.topic == topic.root.message_id
    ]
    event = _event_view(site, topic, here)
    html = site.render(
        "topic.html",
        here,
        community=community,
        topic=topic,
        views=views,
        mbox=mbox,
        feed=feed_uri,
        guides=guides,
        event=event,
    )
    search = "\n".join(html_to_text(view["body"]) for view in views)
    date = topic.last_activity.isoformat()
    newest = sorted(topic.posts, key=lambda p: (p.date, p.message_id), reverse=True)[: site.settings.feed_items]
    # (the feed sits in the page's folder, so the page's HTML of each post serves it, links and all)
    bodies = {v["post"].relpath: v["body"] for v in views} if site.directory_urls else None
    texts = {
        mbox: thread_mbox(site, topic),
        feed_uri: _feed(site, newest, f"{topic.title} - {community.name}", here, feed_uri, bodies),
    }
    if event:  # "Add to calendar": one VEVENT beside the page
        texts[event["ics"]] = calendar(
            [topic], topic.title, lambda t: absolute(site.settings.site_url, here, site.directory_urls), False
        )
    page = GeneratedPage(here, topic.title, html, search=search, parent=community.name, date=date, files=files)
    page.texts = texts
    plan.pages.append(page)


def _event_view(site: Site, topic: Topic, here: str) -> dict[str, Any] | None:
    """What the topic page shows of its event (generator/templates/event.html), or None."""
    event = topic.root.event
    if event is None:
        return None
    answers: dict[str, list[str]] = {}
    for handle, answer in topic.root.rsvp:
        person = site.intranet.people.get(handle)
        answers.setdefault(answer, []).append(person.name if person else handle)
    return {
        "event": event,
        "when": when_text(event, site.tz),
        "ics": companion(topic, EVENT_ICS),
        "events": urls.events(topic.community),
        "answers": [
            (answer, sorted(answers[answer])) for answer in ("going", "maybe", "not-going") if answer in answers
        ],
    }


# -- people --------------------------------------------------------------------


def plan_people(site: Site, plan: SitePlan, handles: Iterable[str] | None = None, index: bool = True) -> None:
    """The directory (with ``index``) and the profiles of ``handles`` (default: everyone listed)."""
    if not site.listed:
        return
    people = site.intranet.people
    if index:
        groups: dict[str, dict[str, list[Person]]] = {}
        for kind in KIND_TITLES:
            orgs: dict[str, list[Person]] = defaultdict(list)
            for handle in sorted(site.listed):
                if people[handle].kind == kind:
                    orgs[people[handle].organisation].append(people[handle])
            if orgs:
                groups[kind] = {org: sorted(ps, key=lambda p: p.name.lower()) for org, ps in sorted(orgs.items())}
        here = urls.people()
        html = site.render("people.html", here, groups=groups, kinds=KIND_TITLES)
        plan.pages.append(GeneratedPage(here, "People", html, in_nav=True))
    full = site.profiles == "full"
    for handle in sorted(site.listed if handles is None else set(handles) & site.listed):
        person = people[handle]
        here = urls.person(handle)
        own = site.own.get(handle) if full else None
        recent = _recent_topics(site, own, site.settings.profile_posts) if own else []
        teams = [p for h in sorted(site.listed) if handle in (p := people[h]).members] if full else []
        html = site.render(
            "person.html",
            here,
            person=person,
            communities=_communities_of(site, person, own.counts if own else Counter()) if full else [],
            recent=recent,
            post_count=len(own) if own else 0,
            member_of=sorted(teams, key=lambda p: p.handle),
            kinds=KIND_TITLES,
        )
        search = " ".join([person.role, person.organisation, *person.expertise, *person.teams]) if full else None
        files = {urls.picture(handle, person.picture): site.intranet.root / person.picture} if person.picture else {}
        plan.pages.append(GeneratedPage(here, person.name, html, search=search, parent="People", files=files))


def _communities_of(site: Site, person: Person, posted: Counter[str]) -> list[tuple[Community, str]]:
    result = []
    for community in site.communities_by_name():
        roles = []
        if person.handle in community.moderators:
            roles.append("moderator")
        if person.handle in community.members:
            roles.append("member")
        if posted[community.slug]:
            roles.append(f"{posted[community.slug]} post{'s' if posted[community.slug] != 1 else ''}")
        if roles:
            result.append((community, ", ".join(roles)))
    return result


# -- tags ---------------------------------------------------------------------


def tag_names(site: Site) -> list[str]:
    names = {tag for tag, order in site.tag_orders.items() if order}
    for community in site.intranet.communities.values():
        names.update(community.tags)
    return sorted(names)


def tag_topics(site: Site, name: str) -> list[Topic]:
    """The topics carrying a tag, latest activity first."""
    order = site.tag_orders.get(name)
    return order.latest if order else []


def plan_tags(
    site: Site,
    plan: SitePlan,
    names: Iterable[str] | None = None,
    index: bool = True,
    numbers: Iterable[int] | None = None,
    main: bool = True,
) -> None:
    """The tag cloud (with ``index``) and the pages of ``names`` (default: every tag): each one's main page
    (with ``main``) and its archive pages (all, or ``numbers``).

    Like a community, a tag's page shows the latest activity and its archive
    every topic by the date it started (all archive pages, or ``numbers``).
    """
    every = tag_names(site)
    if index:
        here = urls.tags()
        counts = {name: len(site.tag_orders.get(name, ())) for name in every}
        html = site.render("tags.html", here, names=every, counts=counts)
        plan.pages.append(GeneratedPage(here, "Tags", html, in_nav=True))
    per_page = site.settings.topics_per_page
    for name in every if names is None else sorted(set(names) & set(every)):
        order = site.tag_orders.get(name) or TopicOrder()
        topics, archive = order.latest, order.started
        pages = archive_pages(len(topics), per_page)
        communities = [c for c in site.communities_by_name() if name in c.tags]
        wanted = (
            range(0 if main else 1, pages + 1) if numbers is None else sorted(set(numbers) | ({0} if main else set()))
        )
        for number in wanted:
            if number > pages:
                continue
            here = urls.tag(name, number)
            shown = (
                topics[:per_page]
                if number == 0
                else list(reversed(archive[(number - 1) * per_page : number * per_page]))
            )
            html = site.render(
                "tag.html",
                here,
                tag=name,
                topics=shown,
                communities=communities if number == 0 else [],
                page=number,
                pages=pages,
                page_uri=lambda n, name=name: urls.tag(name, n),
                topic_count=len(topics),
            )
            title = f"Tag: {name}" if number == 0 else f"Tag: {name}, all topics, page {number}"
            plan.pages.append(GeneratedPage(here, title, html))


# -- home and feeds -----------------------------------------------------------


def plan_home(site: Site, plan: SitePlan) -> None:
    """The home page, the list of communities and the whole tree's feed."""
    communities = site.communities_by_name()
    here = urls.home()
    stats = {}
    for community in communities:
        topics = site.orders[community.slug].latest if community.slug in site.orders else []
        stats[community.slug] = {
            "topics": len(topics),
            "posts": site.post_counts.get(community.slug, 0),
            "last": topics[0].last_activity if topics else None,
        }
    items = [(p, site.topic_of[p.relpath]) for p in site.latest(site.settings.latest_items)]
    html = site.render("home.html", here, communities=communities, stats=stats, latest=items)
    plan.pages.append(GeneratedPage(here, "Home", html, in_nav=True))
    here = urls.communities()
    html = site.render("communities.html", here, communities=communities, stats=stats)
    plan.pages.append(GeneratedPage(here, "Communities", html, in_nav=True))
    latest = site.latest(site.settings.feed_items)
    plan.texts[urls.feed()] = _feed(site, latest, site.settings.site_name, urls.home(), urls.feed())


def _feed(
    site: Site, posts: Iterable[Post], title: str, page: str, feed_uri: str, bodies: dict[str, str] | None = None
) -> str:
    """An Atom feed of ``posts``; ``bodies``: their HTML as the page beside the feed shows it (relpath ->
    HTML, its links relative to that folder), else rendered without links."""
    entries = []
    for post in posts:
        topic = site.topic_of[post.relpath]
        target = urls.topic(post.community, topic.key)
        anchor = f"p-{post.key[:12]}"
        entries.append(
            {
                "id": post.message_id,
                "title": post.subject,
                "link": urls.page_url(target, site.directory_urls) + f"#{anchor}",
                "author": site.author_name(post.author),
                "date": post.date,
                "html": (shown := (bodies or {}).get(post.relpath) or _RENDER(post, "feed", post.body, {})),
                "summary": text_excerpt(html_to_text(shown)),
                "categories": _marks(topic, post),
            }
        )
    return atom_feed(
        title=title,
        site_url=site.settings.site_url,
        page=urls.page_url(page, site.directory_urls),
        feed=feed_uri,
        entries=entries,
    )


def _recent_topics(site: Site, own: Any, limit: int) -> list[tuple[Post, Topic]]:
    """Up to ``limit`` topics someone posted in, newest first, each with their latest post in it (among
    their newest ``4 * limit`` posts: a profile lists topics, not one line a post)."""
    found: dict[int, tuple[Post, Topic]] = {}
    for post in own.newest(4 * limit):
        topic = site.topic_of.get(post.relpath)
        if topic is not None and id(topic) not in found:
            found[id(topic)] = (post, topic)
            if len(found) == limit:
                break
    return list(found.values())


def _marks(topic: Topic, post: Post) -> list[tuple[str, str]]:
    """Atom categories (term, label) of ``post``'s entry: whether its topic is solved, and by this post."""
    answer = topic.answer
    if answer is None:
        return []
    return [("solved", "Solved")] + ([("accepted-answer", "Accepted answer")] if answer is post else [])


def _nav(site: Site, communities: list[Community]) -> list[Any]:
    section: list[dict[str, Any]] = [{"All communities": urls.communities()}, {"Health at a glance": urls.health()}]
    for community in communities:
        pages: list[Any] = [urls.community(community.slug)]  # the section's index: titled by the page
        pages += [{page.title: urls.community_page(community.slug, page.name)} for page in community.pages]
        section.append({community.name: pages})
    people = [{"People": urls.people()}] if site.listed else []
    return [{"Home": urls.home()}, {"Communities": section}, *people, {"Tags": urls.tags()}]
