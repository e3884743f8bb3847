"""The gateway's whole pipeline for one fuzz case (:mod:`mailfuzz`), and the properties it must keep.

Three properties, checked on every case:

- ``outcome``: the message ends published, held, rejected with a reason, dropped or duplicate;
  nothing raises on the way, and nothing ends in ``failed/``;
- ``markup``: nothing a reader's browser would run comes out of it: the rendered post (and its
  Markdown, even rendered with raw HTML on), its topic page, its community page and feed, the
  notification and the digest subscribers get, and every mail in the outbox (checked by
  :func:`live_markup`, which parses HTML the way a browser does);
- ``files``: nothing is written outside the post's own file and folder (and the gateway's state).

Two layers run them. :class:`InProcess` calls the pure steps directly (parse, classify, route,
compose, render; the post written to a scratch folder and read back): a few milliseconds a case.
:class:`EndToEnd` puts the message in the spool of a real worker in a Git repository, with its
child process reading mail and the notifier writing to the outbox, and compares the tree before
and after: slower, so it gets fewer cases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import hashlib
import logging
import os
import re
import xml.etree.ElementTree as ET
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pygit2
from helpers import add_community, small_intranet, write_config
from mailfuzz import Case
from markdown_it import MarkdownIt
from selectolax.lexbor import LexborHTMLParser

from generator.plans import SitePlan, plan_community, plan_topic
from generator.site_model import Site
from intranet import urls
from intranet.addresses import load_secret, reply_address
from intranet.errors import UnreadableMessage
from intranet.format import (
    ATTACHMENT_NAME_RE,
    EMAIL_RE,
    Intranet,
    Post,
    attachments_dir,
    read_intranet,
    read_post,
)
from intranet.model import Model
from intranet.render import excerpt, render_post_markdown
from intranet.settings import Settings, read_settings
from mailgateway import classify, policy
from mailgateway.commands import Commands
from mailgateway.compose import compose, is_empty, sender_author
from mailgateway.notices import Notices
from mailgateway.notify import Notifier
from mailgateway.outmail import DigestItem, digest_mail, post_body, post_mail
from mailgateway.parse import Inbound, parse_header, parse_message
from mailgateway.routing import HOLD, PUBLISH, REJECT, route, target_of
from mailgateway.spool import Envelope
from mailgateway.worker import Worker

DOMAIN = "intranet.localhost"
RECEIVED = dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC)
OUTCOMES = {"published", "duplicate", "held", "rejected", "dropped"}
PROPERTIES = ("outcome", "markup", "files")
STRANGER = "corpus@elsewhere.example"


class PropertyFailed(AssertionError):
    """A property does not hold for a case; ``prop`` names which."""

    def __init__(self, prop: str, message: str) -> None:
        super().__init__(f"{prop}: {message}")
        self.prop = prop


class CaseError(Exception):
    """The fuzzer could not build a case's message: a fault of the fuzzer (tests/mailfuzz.py), not of the gateway."""


def built(case: Case) -> bytes:
    try:
        return case.message()
    except Exception as exc:
        raise CaseError(f"a mutation failed: {type(exc).__name__}: {exc}") from exc


def check(prop: str, ok: object, message: str) -> None:
    if not ok:
        raise PropertyFailed(prop, message)


# -- live markup, as a browser reads it ------------------------------------------------------

# Elements that run code, load other documents, restyle the page, submit data or change how what
# follows is parsed. None of them may come from mail; our own templates use none of them either.
LIVE_ELEMENTS = {
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "link", "meta",
    "form", "input", "button", "textarea", "select", "svg", "math", "template", "noscript", "xmp", "plaintext",
    "portal", "video", "audio", "source", "track", "marquee", "bgsound",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "background", "poster", "cite", "data", "codebase",
                  "longdesc", "usemap", "ping", "lowsrc", "dynsrc", "manifest", "srcset", "xlink:href"}  # fmt: skip
SAFE_SCHEMES = {"http", "https", "mailto"}
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_URL_NOISE = re.compile(r"[\t\n\r]")  # a URL parser drops these anywhere in a URL
_C0_OR_SPACE = "".join(map(chr, range(0x21)))  # ... and these at either end


def url_scheme(url: str) -> str:
    """The scheme a browser sees in ``url`` (lower case), or "" for a relative URL."""
    match = _SCHEME.match(_URL_NOISE.sub("", url.strip(_C0_OR_SPACE)))
    return match.group(1).lower() if match else ""


def live_markup(html: str, styles: frozenset[str] = frozenset()) -> list[str]:
    """What in ``html`` a browser would act on: live elements, event handlers, unsafe URLs, styles.

    The text is parsed by Lexbor (through selectolax), an HTML5 parser that follows the WHATWG
    algorithm browsers follow (entities decoded, ``<svg>`` and ``<math>`` foreign content,
    misnested tags), and every element and attribute of the tree it builds is checked. ``styles``
    are ``style`` attribute values that are ours (a notification's footer).
    """
    found: list[str] = []
    for element in LexborHTMLParser(html).root.traverse(include_text=False):
        tag = (element.tag or "").lower()
        if tag.startswith(("-", "_")):
            continue  # a comment
        if tag in LIVE_ELEMENTS:
            found.append(f"<{tag}>")
        for raw_name, raw_value in element.attributes.items():
            name, value = raw_name.lower(), raw_value or ""
            if name.startswith("on") or name in ("srcdoc", "formaction", "http-equiv"):
                found.append(f"<{tag} {name}>")
            elif name == "style" and value not in styles:
                found.append(f"<{tag} style={value[:40]!r}>")
            elif name in URL_ATTRIBUTES:
                urls_in = [u.strip().split(" ")[0] for u in value.split(",")] if name == "srcset" else [value]
                if {url_scheme(u) for u in urls_in} - SAFE_SCHEMES - {""}:
                    found.append(f"<{tag} {name}={value[:40]!r}>")
    return found


_RAW_HTML = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown_with_html_on(text: str) -> str:
    """Post Markdown as a tool that lets raw HTML through would render it (a Git host's file view, say)."""
    return _RAW_HTML.render(text)


def feed_contents(xml: str) -> list[str]:
    root = ET.fromstring(xml)
    return [el.text or "" for el in root.iter("{http://www.w3.org/2005/Atom}content")]


# -- the intranet the cases go to ----------------------------------------------------------


def fuzz_intranet(root: Path) -> Path:
    """The small test intranet, plus ``open`` (anyone may post) with subscribers for notifications."""
    root.mkdir(parents=True, exist_ok=True)
    small_intranet(root)
    add_community(root, "open", name="Open", posting="anyone", moderators=["ann.lee"])
    write_config(root, smtp="", lmtp="", trust_local_senders=True)
    for slug in ("open", "handover"):
        (root / "communities" / slug / "subscribers.yml").write_text("ann.lee: each\nbo.chen: each\n")
    return root


def recipient(to: str, secret: bytes) -> str:
    """The address a case is sent to: a community's, a reply address of the small intranet's topic."""
    if to == "reply":
        return reply_address(secret, "handover", DOMAIN, "<t1@example.org>")
    return f"{to}@{DOMAIN}"


class _Errors(logging.Handler):
    """Collects what ``logger`` logs at ERROR, while in a ``with`` block."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.ERROR)
        self.logger = logging.getLogger(logger)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append(record.getMessage()[-600:])

    def __enter__(self) -> _Errors:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


@dataclasses.dataclass
class Result:
    outcome: str
    reason: str
    checked: Counter[str] = dataclasses.field(default_factory=Counter)  # property -> checks made
    thread: tuple[str | None, str | None] = (None, None)  # the topic and parent a published reply joins


class InProcess:
    """The pure steps of the pipeline, called directly; the post stored in ``root`` and read back."""

    def __init__(self, root: Path) -> None:
        self.root = fuzz_intranet(root)
        self.settings: Settings = read_settings(root)
        self.secret = load_secret(root / self.settings.state_dir)
        self.model = Model(root)
        self.model.load()
        self.intranet = read_intranet(root)
        self.notices: list[EmailMessage] = []
        self._notices = Notices(root / self.settings.state_dir, self.settings, lambda m, _: self.notices.append(m))
        self._day = 0

    def run(self, case: Case) -> Result:
        raw = built(case)
        try:
            mail = parse_message(raw, RECEIVED, DOMAIN)
        except UnreadableMessage as exc:
            header = parse_header(raw, RECEIVED, DOMAIN)  # the worker still reads who sent it, to tell them
            self._notice(header, exc.reason)
            return Result("rejected", exc.reason, Counter(outcome=1))
        except Exception as exc:  # the property: nothing but UnreadableMessage escapes
            raise PropertyFailed("outcome", f"parse_message raised {type(exc).__name__}: {exc}") from exc
        result = self._decide(case, mail)
        self._publish(case, mail, result)
        return result

    def _notice(self, mail: Inbound, reason: str, **values: str) -> None:
        """A notice to the sender, composed and serialised as the worker's would be (one a day: a day a case)."""
        self._day += 1
        self.notices.clear()
        self._notices.send(mail.from_address, reason, mail.subject, mail.message_id, RECEIVED + dt.timedelta(self._day),
                           **values)  # fmt: skip
        for message in self.notices:
            message.as_bytes()

    def _decide(self, case: Case, mail: Inbound) -> Result:
        drop = classify.drop_reason(mail, DOMAIN, STRANGER)
        if drop:
            return Result("dropped", drop, Counter(outcome=1))
        if not EMAIL_RE.match(mail.from_address):
            mail.from_address = STRANGER  # as the worker does: the envelope sender stands in
        target = target_of(recipient(case.to, self.secret), self.model, self.settings, self.secret)
        authenticity = policy.authenticate(mail, "127.0.0.1", self.settings)
        decision = route(
            mail, target, self.model, self.settings, authenticity, None, Commands.is_digest_reply(mail, DOMAIN)
        )
        if decision.notice and decision.action != HOLD:
            self._notice(mail, decision.notice, **decision.values)
        if decision.action == HOLD:
            self._notice(mail, "held", **decision.values)
        outcome = {PUBLISH: "published", HOLD: "held", REJECT: "rejected"}.get(decision.action, "other")
        check("outcome", outcome in OUTCOMES and decision.reason, f"route gave {decision.action}/{decision.reason}")
        thread = (decision.topic, decision.parent) if decision.action == PUBLISH else (None, None)
        return Result(outcome, decision.reason, Counter(outcome=1), thread)

    def _publish(self, case: Case, mail: Inbound, result: Result) -> None:
        """Compose, store and render the post, whatever the route: a held message may be approved."""
        slug = "handover" if case.to in ("handover", "reply") else "open"
        if not EMAIL_RE.match(mail.from_address):
            mail.from_address = STRANGER  # (dropped mail is not composed by the worker; here it is, from someone)
        handle = self.model.handle_for(mail.from_address)
        draft = compose(mail, slug, "smtp", sender_author(mail, handle), *result.thread, RECEIVED, self.settings)
        if is_empty(draft):
            if result.outcome == "published":
                result.outcome, result.reason = "rejected", "empty"
            return
        post = draft.post
        folder = f"communities/{slug}/posts/"
        check("files", post.relpath.startswith(folder) and ".." not in post.relpath, f"post at {post.relpath!r}")
        bad = [name for name in draft.files if not ATTACHMENT_NAME_RE.match(name)]
        check("files", not bad, f"attachments saved as {bad!r}")
        stored = self._store(post, draft.files)
        result.checked["files"] += 1
        check("files", stored.attachments == post.attachments, "the attachments read back differ")
        check_rendered(stored, self.intranet, self.settings, self.secret)
        result.checked["markup"] += 1

    def _store(self, post: Post, files: dict[str, bytes]) -> Post:
        """Write the post as the worker does, read it back, and remove it again."""
        path = self.root / post.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        written = [path]
        for name, data in files.items():
            target = attachments_dir(path) / name
            inside = target.resolve().is_relative_to(attachments_dir(path).resolve())
            check("files", inside, f"attachment {name!r} is saved outside the post's folder")
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(data)
            written.append(target)
        path.write_text(post.to_text(), encoding="utf-8")
        try:
            stored, problems = read_post(self.root, post.community, path)
        finally:
            for item in written:
                item.unlink()
            if len(written) > 1:
                attachments_dir(path).rmdir()
        check("outcome", stored is not None and not problems, f"the post file does not read back: {problems}")
        assert stored is not None
        for name in ("body", "quoted", "signature", "subject", "message_id"):
            check("outcome", getattr(stored, name) == getattr(post, name), f"{name} differs once stored")
        return stored


def check_rendered(post: Post, base: Intranet, settings: Settings, secret: bytes) -> None:
    """The post rendered everywhere it shows: its sections, its topic page, its community's page and
    feed (``base`` plus the post), and its notification to a subscriber."""
    for name in ("body", "quoted", "signature"):
        text = getattr(post, name)
        links = {a.file: f"../a/{a.file}" for a in post.attachments}
        for where, html in (("rendered", render_post_markdown(text, links)), ("raw", markdown_with_html_on(text))):
            found = live_markup(html)
            check("markup", not found, f"post {name} ({where}) has live markup {found}: {html[:300]!r}")
    intranet = dataclasses.replace(base, posts=[*base.posts, post])
    site = Site(intranet, settings, secret)
    community = intranet.communities[post.community]
    topic = site.topic_of[post.relpath]
    plan = SitePlan()
    plan_topic(site, plan, community, topic)
    plan_community(site, plan, community)
    pages = [page.html for page in plan.pages]
    pages += [text for uri, text in plan.texts.items() if uri.endswith(".xml") for text in feed_contents(text)]
    for html in pages:
        found = live_markup(html)
        check("markup", not found, f"a page has live markup {found}")
    src = urls.topic(community.slug, topic.key)
    message = post_mail(
        post=post, body=post_body(post, community, settings, src, []), title=topic.title, references=[],
        community=community, author_name=post.author.name or post.author.handle, author_address=post.author.email,
        recipient="bo.chen@example.org", settings=settings, secret=secret, topic_src=src,
    )  # fmt: skip
    item = DigestItem(
        community, excerpt(post.body, 300), topic.title, src, post.author.name or "", post.topic == post.message_id
    )
    digest = digest_mail(items=[item], recipient="bo.chen@example.org", settings=settings, secret=secret,
                         message_id="<digest@example.org>", now=RECEIVED, day="2026-11-27")  # fmt: skip
    for sent in (message, digest):
        sent.as_bytes()  # it can be sent
        found = live_markup(sent.get_body(("html",)).get_content(), FOOTER_STYLES)  # type: ignore[union-attr]
        check("markup", not found, f"{sent['Subject']!r} has live markup {found}")


FOOTER_STYLES = frozenset({"color:#666;font-size:small"})


def check_outgoing(raw: bytes) -> None:
    """A sent message, read back as a mail client would: its HTML parts carry nothing live."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/html" and part.get_content_disposition() != "attachment":
            html = part.get_content()
            found = live_markup(html, FOOTER_STYLES)
            check("markup", not found, f"mail {message['Subject']!r} has live markup {found}")


# -- the tree, before and after ---------------------------------------------------------------


def snapshot(root: Path, skip: tuple[str, ...]) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root`` but those under ``skip`` (relative paths): its inode, size and time of change."""
    found: dict[str, tuple[int, int, int]] = {}
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        dirs[:] = [d for d in dirs if (f"{rel}/{d}" if rel != "." else d) not in skip]
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            found[f"{rel}/{name}" if rel != "." else name] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return found


def changed(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> list[str]:
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


# -- end to end -----------------------------------------------------------------------------


class EndToEnd:
    """A real worker (reading mail in its child process, committing with the store) and notifier
    (writing to the outbox) on a Git repository in ``root``, shared by every case it runs."""

    def __init__(self, root: Path) -> None:
        self.root = fuzz_intranet(root)
        (root / ".gitignore").write_text("/site/\n/.intranet/\n")
        self.repo = pygit2.init_repository(str(root), initial_head="main")
        self.repo.index.add_all()
        self.repo.index.write()
        editor = pygit2.Signature("Editor", "editor@example.org")
        self.repo.create_commit("HEAD", editor, editor, "Start", self.repo.index.write_tree(), [])
        self.settings = read_settings(root)
        self.state = root / self.settings.state_dir
        self.worker = Worker(root, self.settings)
        self.notifier = Notifier(root, self.settings)
        self.worker.notifier = self.notifier
        assert self.worker.acquire()
        self.intranet = read_intranet(root)
        self.secret = load_secret(self.state)
        self.outbox = self.state / "outbox" / "new"
        self._failed: dict[bytes, Exception] = {}

    def close(self) -> None:
        self.worker.stop()

    def run(self, case: Case) -> Result:
        """Deliver the case; the same message again fails as it did (it would be a duplicate by now), so
        that hypothesis, replaying the smallest failing case, sees the failure again."""
        raw = built(case)
        key = hashlib.sha256(repr((raw, case.sender, case.to)).encode()).digest()
        if key in self._failed:
            raise self._failed[key]
        try:
            return self.deliver(raw, case.sender, case.to)
        except Exception as exc:
            self._failed[key] = exc
            raise

    def deliver(self, raw: bytes, sender: str = "known", to: str = "open") -> Result:
        """Spool ``raw`` as the SMTP server would, let the worker and the notifier do their work, and check."""
        before = snapshot(self.root, (".git", self.settings.state_dir))
        head = self.repo.head.target
        sent = set(self.outbox.glob("*")) if self.outbox.is_dir() else set()
        address = "ann.lee@example.org" if sender == "known" else STRANGER
        envelope = Envelope(address, [recipient(to, self.secret)], peer="127.0.0.1", received=RECEIVED.isoformat())
        key = self.worker.spool.accept(raw, envelope)
        with _Errors("mailgateway.reader") as unreadable:
            self.worker.run_once()
        try:
            self.notifier.pass_once()
        except Exception as exc:  # the gateway's notifier logs it and tries again at every pass, before later jobs
            raise PropertyFailed("outcome", f"the notifier failed on it: {type(exc).__name__}: {exc}") from exc
        if key in self.worker.spool.pending():
            raise PropertyFailed("outcome", f"the worker failed on it (it would end in failed/): {self._error(key)}")
        check("outcome", not unreadable.found, f"parsing raised, so it was rejected as unreadable: {unreadable.found}")
        records = self.worker.records.tail(5, lambda r: r.get("key") == key)
        check("outcome", records, "no record of what became of it")
        for record in records:
            check("outcome", record["outcome"] in OUTCOMES and record.get("reason"), f"record {record}")
        published = [r["path"] for r in records if r["outcome"] == "published"]
        self._check_files(before, head, published)
        for relpath in published:
            post, problems = read_post(self.root, relpath.split("/")[1], self.root / relpath)
            check("outcome", post is not None and not problems, f"{relpath} does not read back: {problems}")
            assert post is not None
            check_rendered(post, self.intranet, self.settings, self.secret)
        for path in sorted(set(self.outbox.glob("*")) - sent) if self.outbox.is_dir() else []:
            check_outgoing(path.read_bytes())
        checked = Counter(outcome=1, files=1, markup=len(published))
        return Result(records[0]["outcome"], records[0]["reason"], checked)

    def _check_files(self, before: dict[str, tuple[int, int, int]], head: pygit2.Oid, published: list[str]) -> None:
        """Only the published posts' files changed, in the work tree and in the commits made."""
        allowed = [(p, p[: -len(".md")] + "/") for p in published]

        def ours(path: str) -> bool:
            return any(path == post or path.startswith(folder) for post, folder in allowed)

        outside = [p for p in changed(before, snapshot(self.root, (".git", self.settings.state_dir))) if not ours(p)]
        check("files", not outside, f"written outside the post's folder: {outside}")
        committed = self.repo.diff(self.repo.get(head), self.repo.get(self.repo.head.target))
        paths = {d.new_file.path for d in committed.deltas} | {d.old_file.path for d in committed.deltas}
        outside = sorted(p for p in paths if not ours(p))
        check("files", not outside, f"committed outside the post's folder: {outside}")

    def _error(self, key: str) -> str:
        """What the worker raised on ``key`` (run again, to see it), and the message taken out of the spool."""
        spooled = self.worker.spool.load(key)
        try:
            self.worker.process(spooled)
        except Exception as exc:  # noqa: BLE001 - what it raised is the report
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.worker.spool.finish(key)
        return "(it did not fail a second time)"
