"""The mail the gateway writes: notifications, digests, confirmations, moderation requests (pure).

Each function takes everything it needs, the time included, and returns an
:class:`~email.message.EmailMessage`. Notifications keep the post's own
Message-ID, so a recipient's client threads them with the original mail,
and carry the list headers of RFC 2369/2919 and the rest of what a mailing
list sends (``Precedence: list``, ``Auto-Submitted``), with the sender shown
DMARC-safely as "Name via Community" from the community's own address.

The headers that carry URLs (``List-Post``, ``List-Unsubscribe``,
``List-Subscribe``, ``List-Archive``, ``Archived-At``) are written as RFC 2369
says: ``<URL>, <URL>`` in plain ASCII, folded only between two URLs. Left to
itself the email package writes a long one as RFC 2047 encoded words, which
no mail client reads as a URL (see :class:`UrlList`).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import urllib.parse
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import Policy
from pathlib import Path
from zoneinfo import ZoneInfo

from intranet import urls
from intranet.addresses import reply_address, signed_address, signed_token, who_of
from intranet.eventtimes import facts
from intranet.format import Community, Post
from intranet.readable import html_to_readable
from intranet.render import render_post_markdown
from intranet.settings import Settings
from intranet.subjects import with_tag
from intranet.urls import published_name

FOOTER_RULE = "-- "
ONE_CLICK_PATH = "unsubscribe"  # <site_url>/unsubscribe/<slug>/<token>: see one_click_url
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"  # left as they are in a URL; anything else not ASCII-safe is %-escaped


class UrlList(str):
    """The value of a list header of ``<URL>``s (RFC 2369), in ASCII, that folds only between URLs.

    The email package folds a header by calling its value's ``fold`` (``EmailPolicy._fold``), so
    this value is written as it is, whatever the policy: never as encoded words. A URL longer
    than a line stays whole on its own line (RFC 5322 allows up to 998 characters).
    """

    name: str
    urls: tuple[str, ...]

    def __new__(cls, name: str, urls: list[str]) -> UrlList:
        clean = tuple(urllib.parse.quote(url, safe=URL_SAFE) for url in urls)
        value = super().__new__(cls, ", ".join(f"<{url}>" for url in clean))
        value.name, value.urls = name, clean
        return value

    def fold(self, *, policy: Policy) -> str:
        limit = policy.max_line_length or 998
        lines = [f"{self.name}:"]
        for i, url in enumerate(self.urls):
            piece = f" <{url}>" + ("," if i < len(self.urls) - 1 else "")
            if i and len(lines[-1]) + len(piece) > limit:
                lines.append("")
            lines[-1] += piece
        return policy.linesep.join(lines) + policy.linesep


def set_urls(message: EmailMessage, name: str, *urls: str) -> None:
    """Set the list header ``name`` to ``urls`` (see :class:`UrlList`)."""
    message[name] = UrlList(name, list(urls))


def absolute(settings: Settings, src_uri: str) -> str:
    """The full URL of a generated page or file, or "" when the site has no ``site_url``."""
    if not settings.site_url:
        return ""
    return settings.site_url.rstrip("/") + "/" + urls.page_url(src_uri)


def community_address(community: Community, settings: Settings, suffix: str = "") -> str:
    local = f"{community.mail}+{suffix}" if suffix else community.mail
    return f"{local}@{settings.mail_domain}"


def bounce_address(secret: bytes, community: Community, settings: Settings, recipient: str) -> str:
    """VERP return path of mail to ``recipient``: its bounces name who bounced."""
    return signed_address(secret, community.mail, settings.mail_domain, "b", who_of(recipient))


def one_click_url(community: Community, settings: Settings, secret: bytes, recipient: str) -> str:
    """The one-click unsubscribe URL (RFC 8058) of the mail to ``recipient``, or "" when there is none.

    ``<site_url>/unsubscribe/<slug>/<token>``, with the same signed ``u`` token as the mailto
    address; only when ``site_url`` is https and the gateway's endpoint (``unsubscribe_http``,
    :mod:`mailgateway.oneclick`) is on, behind the web server.
    """
    if not (settings.site_url.startswith("https://") and settings.unsubscribe_http):
        return ""
    token = signed_token(secret, community.mail, "u", who_of(recipient))
    return f"{settings.site_url.rstrip('/')}/{ONE_CLICK_PATH}/{community.slug}/{token}"


def list_headers(
    message: EmailMessage, community: Community, settings: Settings, secret: bytes, recipient: str
) -> None:
    mail = community_address(community, settings)
    unsubscribe = signed_address(secret, community.mail, settings.mail_domain, "u", who_of(recipient))
    home = absolute(settings, urls.community(community.slug))
    one_click = one_click_url(community, settings, secret, recipient)
    message["List-Id"] = f"{_header_text(community.name)} <{community.mail}.{settings.mail_domain}>"
    set_urls(message, "List-Post", f"mailto:{mail}")
    set_urls(message, "List-Unsubscribe", *filter(None, [one_click, f"mailto:{unsubscribe}?subject=unsubscribe"]))
    if one_click:
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    set_urls(message, "List-Subscribe", f"mailto:{community_address(community, settings, 'subscribe')}")
    if home:
        set_urls(message, "List-Archive", home)
    _machine_headers(message, "auto-generated")
    message["Precedence"] = "list"


def _machine_headers(message: EmailMessage, auto: str) -> None:
    message["Auto-Submitted"] = auto
    message["X-Auto-Response-Suppress"] = "All"


def _header_text(text: str) -> str:
    return " ".join(text.replace('"', "'").split())[:120]


@dataclass
class Attached:
    name: str
    type: str
    data: bytes


@dataclass
class PostBody:
    """The parts of a post's mail that are the same for every recipient: rendered once per post."""

    text: str
    html: str
    attachments: list[Attached]


def post_body(
    post: Post, community: Community, settings: Settings, topic_src: str, attachments: list[Attached]
) -> PostBody:
    """Text and HTML of a post's notification, with the footer, and what goes attached."""
    topic_url = absolute(settings, topic_src)
    linked = {
        a.file: absolute(settings, urls.attachment(community.slug, post.key, published_name(a.file)))
        for a in post.attachments
    }
    pairs = [(a.name, linked[a.file]) for a in post.attachments if linked[a.file]]
    sent_names = {a.name for a in attachments}
    links = [f"- {name}: {url}" for name, url in pairs if name not in sent_names]
    footer = [
        FOOTER_RULE,
        "Reply to this email to answer in the topic, or start a new one by writing to "
        f"{community_address(community, settings)}.",
    ]
    if topic_url:
        footer.append(f"Read the whole topic: {topic_url}")
    footer.append(
        f"You get every post of {community.name}. For a daily digest instead write to "
        f"{community_address(community, settings, 'digest')}; to stop, use the unsubscribe link of your mail client."
    )
    body_html = render_post_markdown(post.body, {a.file: linked[a.file] for a in post.attachments if linked[a.file]})
    text = html_to_readable(body_html) + "\n"  # what the page shows, as text: no Markdown escapes
    if post.event is not None:  # an event's when and where, first (#event's lines are not in its text)
        lines = facts(post.event, ZoneInfo(settings.timezone))
        text, body_html = "\n".join(lines) + "\n\n" + text, f"<p>{'<br>'.join(map(html.escape, lines))}</p>{body_html}"
    if links:
        text += "\nAttachments:\n" + "\n".join(links) + "\n"
    link_html = "".join(f'<li><a href="{html.escape(u)}">{html.escape(n)}</a></li>' for n, u in pairs)
    foot_html = "<br>".join(html.escape(line) for line in footer[1:])
    return PostBody(
        text=text + "\n" + "\n".join(footer) + "\n",
        html=f"<!doctype html><html><body>{body_html}"
        + (f"<p>Attachments:</p><ul>{link_html}</ul>" if link_html else "")
        + f'<hr><p style="color:#666;font-size:small">{foot_html}</p></body></html>',
        attachments=attachments,
    )


def post_mail(
    *,
    post: Post,
    body: PostBody,
    title: str,
    references: list[str],
    community: Community,
    author_name: str,
    author_address: str,
    recipient: str,
    settings: Settings,
    secret: bytes,
    topic_src: str,
    tags: list[str] | None = None,
    mentioned_by: str = "",
) -> EmailMessage:
    """One post as mail to one subscriber (``tags``: its topic's; ``mentioned_by``: its author's name, to
    someone it mentions who is not a subscriber)."""
    message = EmailMessage()
    message["From"] = email.utils.formataddr(
        (f"{_header_text(author_name)} via {_header_text(community.name)}", community_address(community, settings))
    )
    message["To"] = email.utils.formataddr((_header_text(community.name), community_address(community, settings)))
    reply = reply_address(secret, community.mail, settings.mail_domain, post.topic, recipient)
    reply_to = [reply]
    if settings.reply_to_author and author_address:
        reply_to.append(email.utils.formataddr((_header_text(author_name), author_address)))
    message["Reply-To"] = ", ".join(reply_to)
    subject = with_tag(" ".join((post.subject or f"Re: {title}").split()), community.subject_tag)
    if mentioned_by:
        subject = f"{_header_text(mentioned_by)} mentioned you: {subject}"
    message["Subject"] = subject[:250] or "(no subject)"
    message["Date"] = email.utils.format_datetime(post.date)
    message["Message-ID"] = post.message_id
    if post.in_reply_to:
        message["In-Reply-To"] = post.in_reply_to
    if references:
        message["References"] = " ".join(references)
    list_headers(message, community, settings, secret, recipient)
    if tags:
        message["Keywords"] = ", ".join(tags)  # the topic's tags, for mail filters (RFC 5322)
    topic_url = absolute(settings, topic_src)
    if topic_url:
        set_urls(message, "Archived-At", topic_url)
    message.set_content(body.text)
    message.add_alternative(body.html, subtype="html")
    for item in body.attachments:
        maintype, _, subtype = item.type.partition("/")
        message.add_attachment(
            item.data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=item.name
        )
    return message


def attachments_to_send(post: Post, folder: Path, limit: int) -> list[Attached]:
    """The post's attachments, if together they fit under ``limit`` bytes; else none (they are linked)."""
    if not post.attachments or sum(a.size for a in post.attachments) > limit:
        return []
    result = []
    for a in post.attachments:
        path = folder / a.file
        if path.is_symlink() or not path.is_file():
            return []
        result.append(Attached(a.name, a.type, path.read_bytes()))
    return result


def notice_mail(
    *,
    subject: str,
    text: str,
    to: str,
    settings: Settings,
    now: dt.datetime,
    sender: str = "",
    reply_to: str = "",
    in_reply_to: str = "",
    message_id: str = "",
) -> EmailMessage:
    """A short mail from the site to one person (confirmations, moderation, notices)."""
    message = EmailMessage()
    message["From"] = email.utils.formataddr((_header_text(settings.site_name), sender or settings.noreply))
    message["To"] = to
    message["Subject"] = " ".join(subject.split())[:250]
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id or email.utils.make_msgid(domain=settings.mail_domain)
    if reply_to:
        message["Reply-To"] = reply_to
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    _machine_headers(message, "auto-generated")
    message.set_content(f"Hello,\n\n{text.strip()}\n\n{FOOTER_RULE}\n{settings.site_name}\n")
    return message


@dataclass
class DigestItem:
    community: Community
    text: str  # the post's excerpt (:func:`intranet.render.excerpt` of its body)
    title: str
    topic_src: str
    author_name: str
    new_topic: bool


def digest_mail(
    *,
    items: list[DigestItem],
    recipient: str,
    settings: Settings,
    secret: bytes,
    message_id: str,
    now: dt.datetime,
    day: str,
) -> EmailMessage:
    """One day's new topics and replies, with excerpts and links, grouped by community then topic."""
    communities = list(dict.fromkeys(item.community.slug for item in items))
    by_slug = {item.community.slug: item.community for item in items}
    first = by_slug[communities[0]]
    message = EmailMessage()
    sender = community_address(first, settings) if len(communities) == 1 else settings.noreply
    name = f"{first.name} digest" if len(communities) == 1 else f"{settings.site_name} digest"
    message["From"] = email.utils.formataddr((_header_text(name), sender))
    message["To"] = recipient
    message["Reply-To"] = community_address(first, settings, "digest-reply")
    count = len(items)
    message["Subject"] = f"{name}, {day}: {count} new post{'s' if count != 1 else ''}"
    message["Date"] = email.utils.format_datetime(now)
    message["Message-ID"] = message_id
    if len(communities) == 1:
        list_headers(message, first, settings, secret, recipient)
    else:
        _machine_headers(message, "auto-generated")
        message["Precedence"] = "list"
    lines: list[str] = []
    parts: list[str] = []
    for slug in communities:
        community = by_slug[slug]
        lines += [community.name, "=" * len(community.name), ""]
        parts.append(f"<h2>{html.escape(community.name)}</h2>")
        topics: dict[str, list[DigestItem]] = {}
        for item in items:
            if item.community.slug == slug:
                topics.setdefault(item.topic_src, []).append(item)
        for src, entries in topics.items():
            url = absolute(settings, src)
            head = entries[0].title + (" (new topic)" if any(e.new_topic for e in entries) else "")
            lines.append(f"* {head}")
            parts.append(f"<h3>{html_link(url, head)}</h3><ul>")
            for entry in entries:
                text = entry.text
                lines.append(f"  {entry.author_name}: {text}")
                parts.append(f"<li><b>{html.escape(entry.author_name)}</b>: {html.escape(text)}</li>")
            if url:
                lines.append(f"  {url}")
            lines.append("")
            parts.append("</ul>")
    footer = (
        "This is a digest: a reply to it is not posted. To answer in a topic, open it and use "
        "Reply by email, or reply to a post's own notification. For every post as it comes, write to "
        + ", ".join(community_address(by_slug[s], settings, "subscribe") for s in communities)
        + "; to stop, use the unsubscribe link of your mail client."
    )
    message.set_content("\n".join(lines) + f"\n{FOOTER_RULE}\n{footer}\n")
    message.add_alternative(
        "<!doctype html><html><body>"
        + "".join(parts)
        + f'<hr><p style="color:#666;font-size:small">{html.escape(footer)}</p></body></html>',
        subtype="html",
    )
    return message


def html_link(url: str, text: str) -> str:
    return f'<a href="{html.escape(url)}">{html.escape(text)}</a>' if url else html.escape(text)
