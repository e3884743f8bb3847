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
import re
from email.header import Header

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
    """The thread as an mbox file, its posts in thread order.

    Written by hand rather than with :mod:`email`'s generator, which took a quarter of a full build's
    time: plain headers (non-ASCII ones RFC 2047 encoded, line breaks taken out), a UTF-8 body."""
    out: list[str] = []
    for post in topic.posts:
        address = _address(site, post)
        when = post.date.astimezone(dt.UTC).strftime("%a %b %d %H:%M:%S %Y")
        headers = {
            "From": email.utils.formataddr((_line(site.author_name(post.author)), address), charset="utf-8"),
            "Date": email.utils.format_datetime(post.date),
            "Subject": _encoded(post.subject or f"Re: {topic.title}"),
            "Message-ID": _line(post.message_id),
        }
        if post.in_reply_to:
            headers["In-Reply-To"] = _line(post.in_reply_to)
        headers |= {"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8"}
        headers["Content-Transfer-Encoding"] = "8bit"
        if post.deleted:
            text = "(This post was taken back by its author.)"
        else:
            text = post.body.rstrip() + (f"\n\n-- \n{post.signature.rstrip()}" if post.signature.strip() else "")
        out.append(f"From {address} {when}\n")
        out += [f"{name}: {value}\n" for name, value in headers.items()]
        out.append("\n" + _FROM_LINE.sub(">From ", text.replace("\r", "")) + "\n\n")
    return "".join(out)


_FROM_LINE = re.compile(r"^From ", re.M)  # (mboxo: a body line starting so would start a message)


def _line(value: str) -> str:
    return " ".join(value.split())


def _encoded(value: str) -> str:
    value = _line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(site: Site, post: Post) -> str:
    person = site.person_for(post.author)
    if person is not None and person.emails and site.profiles == "full" and site.is_listed(person):
        return person.emails[0]
    return site.settings.noreply
