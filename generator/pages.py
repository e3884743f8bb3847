"""Every page of the site, as data (pure).

:func:`plan_site` turns what :mod:`generator.content` read into a
:class:`SitePlan`: generated pages with their finished HTML, editors' pages
for MkDocs to render, files to copy and text files such as feeds. It does no
I/O besides reading templates, so the same plan can later be computed for
one changed topic at a time.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2

from . import urls
from .addresses import reply_address
from .config import Settings
from .content import AUDIENCES, Author, Community, Intranet, Person, Post
from .feeds import atom_feed
from .render import excerpt, render_post_markdown
from .threads import Topic, build_topics

KIND_TITLES = {"staff": "Staff", "partner": "Partners", "supplier": "Suppliers"}
AUDIENCE_WORDS = {"staff": "staff", "partners": "partners", "suppliers": "suppliers", "members": "its members only"}
SAFE_EXTENSIONS = {
    "pdf",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "txt",
    "csv",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
    "odt",
    "ods",
    "odp",
    "rtf",
    "zip",
    "ics",
    "mp3",
    "mp4",
    "m4a",
    "wav",
    "eml",
    "msg",
    "json",
    "md",
}


@dataclass
class GeneratedPage:
    src_uri: str
    title: str  # plain text; escaped by the MkDocs adapter
    html: str
    in_nav: bool = False


@dataclass
class SitePlan:
    pages: list[GeneratedPage] = field(default_factory=list)
    markdown_pages: dict[str, str] = field(default_factory=dict)  # src_uri -> trusted Markdown
    files: dict[str, Path] = field(default_factory=dict)  # src_uri -> file to copy
    texts: dict[str, str] = field(default_factory=dict)  # src_uri -> file content
    nav: list[Any] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)  # community slug -> topics in it


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("generator", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["filesize"] = _filesize
    env.globals.update(
        community_uri=urls.community,
        community_page_uri=urls.community_page,
        topic_uri=urls.topic,
        person_uri=urls.person,
        tag_uri=urls.tag,
        feed_uri=urls.feed,
    )
    return env


def _filesize(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def published_name(file: str) -> str:
    """Name an attachment is published under: active content becomes a download."""
    ext = file.rsplit(".", 1)[-1].lower() if "." in file else ""
    return file if ext in SAFE_EXTENSIONS else f"{file}.bin"


class Site:
    """Shared lookups for rendering the pages of one intranet."""

    def __init__(
        self,
        intranet: Intranet,
        settings: Settings,
        secret: bytes,
        directory_urls: bool = True,
        listed: frozenset[str] | None = None,
        profiles: str = "full",
    ) -> None:
        self.intranet = intranet
        self.listed = frozenset(intranet.people) if listed is None else listed  # handles with a profile page
        self.profiles = profiles  # full, or "names": name, role and organisation only
        self.settings = settings
        self.secret = secret
        self.directory_urls = directory_urls
        self.tz = ZoneInfo(settings.timezone)
        self.topics = build_topics(intranet.posts)
        self.topic_of: dict[int, Topic] = {}
        for topics in self.topics.values():
            for topic in topics:
                for post in topic.posts:
                    self.topic_of[id(post)] = topic
        self.by_email = intranet.person_by_email()

    # -- helpers shared by templates --------------------------------------

    def link(self, here: str) -> Callable[..., str]:
        def url(target: str, anchor: str = "") -> str:
            return urls.relative(here, target, self.directory_urls, anchor)

        return url

    def when(self, value: dt.datetime) -> str:
        return value.astimezone(self.tz).strftime("%-d %b %Y, %H:%M")

    def day(self, value: dt.datetime) -> str:
        return value.astimezone(self.tz).strftime("%-d %b %Y")

    def person_for(self, author: Author) -> Person | None:
        if author.handle:
            return self.intranet.people.get(author.handle)
        if author.email:
            handle = self.by_email.get(author.email.lower())
            return self.intranet.people.get(handle) if handle else None
        return None

    def is_listed(self, person: Person) -> bool:
        return person.handle in self.listed

    def author_name(self, author: Author) -> str:
        person = self.person_for(author)
        if person:
            return person.name
        return author.name or author.handle or "Unknown"

    def address(self, community: Community, suffix: str = "") -> str:
        local = f"{community.mail}+{suffix}" if suffix else community.mail
        return f"{local}@{self.settings.mail_domain}"

    def mailto(self, community: Community, subject: str = "", address: str = "") -> str:
        query = f"?subject={quote(subject, safe='')}" if subject else ""
        return f"mailto:{quote(address or self.address(community), safe='@+')}{query}"

    def reply_address(self, topic: Topic) -> str:
        """The topic's reply address, issued to any reader of the site."""
        community = self.intranet.communities[topic.community]
        return reply_address(self.secret, community.mail, self.settings.mail_domain, topic.root.message_id)

    def reply_mailto(self, topic: Topic) -> str:
        """The topic's "Reply by email" link: its reply address, subject ``Re: <title>``."""
        community = self.intranet.communities[topic.community]
        return self.mailto(community, f"Re: {topic.title}", self.reply_address(topic))

    def audience_text(self, community: Community) -> str:
        words = [AUDIENCE_WORDS[a] for a in AUDIENCES if a in community.audience]
        return " and ".join(words) if len(words) < 3 else ", ".join(words[:-1]) + " and " + words[-1]

    def render(self, template: str, here: str, **context: Any) -> str:
        return _env().get_template(template).render(site=self, url=self.link(here), here=here, **context)


def plan_site(
    intranet: Intranet,
    settings: Settings,
    secret: bytes,
    directory_urls: bool = True,
    listed: frozenset[str] | None = None,
    profiles: str = "full",
) -> SitePlan:
    """Plan every page of ``intranet`` (already cut to one audience by :func:`generator.audiences.view_of`).

    ``listed`` are the handles that get a profile page (default: everyone);
    ``profiles="names"`` keeps those pages to name, role and organisation.
    """
    site = Site(intranet, settings, secret, directory_urls, listed, profiles)
    plan = SitePlan()
    plan.texts[urls.stylesheet()] = (Path(__file__).parent / "templates" / "intranet.css").read_text()
    communities = sorted(intranet.communities.values(), key=lambda c: c.name.lower())
    for community in communities:
        _plan_community(site, plan, community)
    _plan_people(site, plan)
    _plan_tags(site, plan)
    _plan_home(site, plan, communities)
    plan.nav = _nav(site, communities)
    plan.topics = {slug: len(topics) for slug, topics in site.topics.items()}
    plan.counts = {
        "communities": len(intranet.communities),
        "topics": sum(len(t) for t in site.topics.values()),
        "posts": len(intranet.posts),
        "people": len(site.listed),
    }
    return plan


# -- communities and topics --------------------------------------------------


def _plan_community(site: Site, plan: SitePlan, community: Community) -> None:
    slug = community.slug
    topics = site.topics.get(slug, [])
    per_page = site.settings.topics_per_page
    pages = max(1, math.ceil(len(topics) / per_page))
    for number in range(1, pages + 1):
        here = urls.community(slug, number)
        chunk = topics[(number - 1) * per_page : number * per_page]
        html = site.render(
            "community.html",
            here,
            community=community,
            topics=chunk,
            page=number,
            pages=pages,
            page_uri=lambda n: urls.community(slug, n),
            post_count=sum(len(t.entries) for t in topics),
            topic_count=len(topics),
        )
        title = community.name if number == 1 else f"{community.name} (page {number})"
        plan.pages.append(GeneratedPage(here, title, html, in_nav=number == 1))
    for page in community.pages:
        plan.markdown_pages[urls.community_page(slug, page.name)] = page.text
    pages_dir = f"communities/{slug}/pages/"
    for asset in community.assets:
        plan.files[urls.community_asset(slug, asset[len(pages_dir) :])] = site.intranet.root / asset
    for topic in topics:
        _plan_topic(site, plan, community, topic)
    items = sorted((p for t in topics for p in t.posts), key=lambda p: p.date, reverse=True)
    plan.texts[urls.feed(slug)] = _feed(
        site, items[: site.settings.feed_items], community.name, urls.community(slug), urls.feed(slug)
    )


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
    return {
        "post": post,
        "body": render_post_markdown(post.body, links),
        "quoted": render_post_markdown(post.quoted, links),
        "signature": render_post_markdown(post.signature, links),
        "attachments": attachments,
        "files": [
            (urls.attachment(post.community, post.key, published_name(a.file)), folder / a.file)
            for a in post.attachments
        ],
    }


def _plan_topic(site: Site, plan: SitePlan, community: Community, topic: Topic) -> None:
    here = urls.topic(community.slug, topic.key)
    views = []
    for entry in topic.entries:
        view = _post_view(site, here, entry.post)
        view["depth"] = min(entry.depth, 4)
        view["parent"] = entry.parent
        view["anchor"] = f"p-{entry.post.key[:12]}"
        views.append(view)
        for src_uri, path in view["files"]:
            plan.files[src_uri] = path
    html = site.render("topic.html", here, community=community, topic=topic, views=views)
    plan.pages.append(GeneratedPage(here, topic.title, html))


# -- people --------------------------------------------------------------------


def _plan_people(site: Site, plan: SitePlan) -> None:
    if not site.listed:
        return
    people = {handle: site.intranet.people[handle] for handle in sorted(site.listed)}
    posts_by: dict[str, list[Post]] = defaultdict(list)
    for post in site.intranet.posts:
        person = site.person_for(post.author)
        if person:
            posts_by[person.handle].append(post)
    groups: dict[str, dict[str, list[Person]]] = {}
    for kind in KIND_TITLES:
        orgs: dict[str, list[Person]] = defaultdict(list)
        for person in people.values():
            if person.kind == kind:
                orgs[person.organisation].append(person)
        if orgs:
            groups[kind] = {org: sorted(ps, key=lambda p: p.name.lower()) for org, ps in sorted(orgs.items())}
    here = urls.people()
    plan.pages.append(
        GeneratedPage(here, "People", site.render("people.html", here, groups=groups, kinds=KIND_TITLES), in_nav=True)
    )
    team_of: dict[str, list[Person]] = defaultdict(list)
    for person in people.values():
        for member in person.members:
            team_of[member].append(person)
    full = site.profiles == "full"
    for person in people.values():
        here = urls.person(person.handle)
        own = sorted(posts_by.get(person.handle, []), key=lambda p: p.date, reverse=True) if full else []
        communities = _communities_of(site, person, own) if full else []
        recent = [(p, site.topic_of.get(id(p))) for p in own[: site.settings.profile_posts]]
        html = site.render(
            "person.html",
            here,
            person=person,
            communities=communities,
            recent=recent,
            post_count=len(own),
            member_of=team_of.get(person.handle, []) if full else [],
            kinds=KIND_TITLES,
        )
        plan.pages.append(GeneratedPage(here, person.name, html))


def _communities_of(site: Site, person: Person, posts: list[Post]) -> list[tuple[Community, str]]:
    result = []
    posted = Counter(p.community for p in posts)
    for community in sorted(site.intranet.communities.values(), key=lambda c: c.name.lower()):
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


def _plan_tags(site: Site, plan: SitePlan) -> None:
    tagged: dict[str, list[Topic]] = defaultdict(list)
    tagged_communities: dict[str, list[Community]] = defaultdict(list)
    for topics in site.topics.values():
        for topic in topics:
            for tag in topic.tags:
                tagged[tag].append(topic)
    for community in site.intranet.communities.values():
        for tag in community.tags:
            tagged_communities[tag].append(community)
    names = sorted(set(tagged) | set(tagged_communities))
    here = urls.tags()
    counts = {name: len(tagged.get(name, [])) for name in names}
    plan.pages.append(
        GeneratedPage(here, "Tags", site.render("tags.html", here, names=names, counts=counts), in_nav=True)
    )
    for name in names:
        here = urls.tag(name)
        topics = sorted(tagged.get(name, []), key=lambda t: t.last_activity, reverse=True)
        html = site.render("tag.html", here, tag=name, topics=topics, communities=tagged_communities.get(name, []))
        plan.pages.append(GeneratedPage(here, f"Tag: {name}", html))


# -- home and feeds -----------------------------------------------------------


def _plan_home(site: Site, plan: SitePlan, communities: list[Community]) -> None:
    latest = sorted(site.intranet.posts, key=lambda p: p.date, reverse=True)
    here = urls.home()
    stats = {}
    for community in communities:
        topics = site.topics.get(community.slug, [])
        stats[community.slug] = {
            "topics": len(topics),
            "posts": sum(len(t.entries) for t in topics),
            "last": topics[0].last_activity if topics else None,
        }
    items = [(p, site.topic_of[id(p)]) for p in latest[: site.settings.latest_items]]
    html = site.render("home.html", here, communities=communities, stats=stats, latest=items)
    plan.pages.append(GeneratedPage(here, "Home", html, in_nav=True))
    here = urls.communities()
    html = site.render("communities.html", here, communities=communities, stats=stats)
    plan.pages.append(GeneratedPage(here, "Communities", html, in_nav=True))
    plan.texts[urls.feed()] = _feed(
        site, latest[: site.settings.feed_items], site.settings.site_name, urls.home(), urls.feed()
    )


def _feed(site: Site, posts: Iterable[Post], title: str, page: str, feed_uri: str) -> str:
    entries = []
    for post in posts:
        topic = site.topic_of[id(post)]
        target = urls.topic(post.community, topic.key)
        anchor = f"p-{post.key[:12]}"
        entries.append(
            {
                "id": post.message_id,
                "title": post.subject,
                "link": urls.page_url(target, site.directory_urls) + f"#{anchor}",
                "author": site.author_name(post.author),
                "date": post.date,
                "html": render_post_markdown(post.body),
                "summary": excerpt(post.body),
            }
        )
    return atom_feed(
        title=title,
        site_url=site.settings.site_url,
        page=urls.page_url(page, site.directory_urls),
        feed=feed_uri,
        entries=entries,
    )


def _nav(site: Site, communities: list[Community]) -> list[Any]:
    section: list[dict[str, Any]] = [{"All communities": urls.communities()}]
    for community in communities:
        pages: list[Any] = [urls.community(community.slug)]  # the section's index: titled by the page
        pages += [{page.title: urls.community_page(community.slug, page.name)} for page in community.pages]
        section.append({community.name: pages})
    people = [{"People": urls.people()}] if site.listed else []
    return [{"Home": urls.home()}, {"Communities": section}, *people, {"Tags": urls.tags()}]
