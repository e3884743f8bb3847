"""A topic's companions (pure): its thread as an mbox file to download, and an Atom feed of its posts.

HyperKitty and public-inbox let readers take a thread into their own mail client; so does the topic
page here. The mbox (mboxo, "From " lines in bodies quoted with ">") holds each post in the order of
the thread, as plain text (the post's Markdown, its signature after "-- "), with its Message-ID and
In-Reply-To, so a mail client threads it and a reply from it lands in the topic. A post's author's
address is the one their profile shows in this tree; anyone else's is the site's no-reply address.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from email.generator import Generator
from email.message import EmailMessage
from email.policy import SMTP
from io import StringIO

from intranet import urls
from intranet.format import Post
from intranet.threads import Topic

from .site_model import Site

MBOX = "thread.mbox"
FEED = "feed.xml"


def companion(topic: Topic, name: str) -> str:
    """The src_uri of one of ``topic``'s companion files (:data:`MBOX`, :data:`FEED`)."""
    return urls.topic(topic.community, topic.key)[: -len(".md")] + f"/{name}"


def thread_mbox(site: Site, topic: Topic) -> str:
    """The thread as an mbox file, its posts in thread order."""
    out = StringIO()
    for post in topic.posts:
        address = _address(site, post)
        out.write(f"From {address} {post.date.astimezone(dt.UTC).strftime('%a %b %d %H:%M:%S %Y')}\n")
        Generator(out, mangle_from_=True, policy=SMTP.clone(linesep="\n", max_line_length=998)).flatten(
            _message(site, topic, post, address)
        )
        out.write("\n")
    return out.getvalue()


def _message(site: Site, topic: Topic, post: Post, address: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = email.utils.formataddr((site.author_name(post.author), address))
    message["Date"] = email.utils.format_datetime(post.date)
    message["Subject"] = post.subject or f"Re: {topic.title}"
    message["Message-ID"] = post.message_id
    if post.in_reply_to:
        message["In-Reply-To"] = post.in_reply_to
    if post.deleted:
        text = "(This post was taken back by its author.)"
    else:
        text = post.body.rstrip() + (f"\n\n-- \n{post.signature.rstrip()}" if post.signature.strip() else "")
    message.set_content(text + "\n", charset="utf-8", cte="8bit")
    return message


def _address(site: Site, post: Post) -> str:
    person = site.person_for(post.author)
    if person is not None and person.emails and site.profiles == "full" and site.is_listed(person):
        return person.emails[0]
    return site.settings.noreply
