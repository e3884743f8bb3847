"""The worker: takes messages from the spool and decides what becomes of each.

For every spooled message, and every community it was sent to, exactly one
outcome is recorded: ``published``, ``duplicate``, ``held``, ``rejected`` or
``dropped`` (see :mod:`mailgateway.classify`), each with a reason code. The
message leaves the spool only after that. A worker that crashes half way
runs the message again on restart: writing the post is idempotent and a
post already committed is recognised by its path (from the Message-ID) and
its content hash, so nothing is posted twice.

One worker per state folder at a time (an exclusive lock file).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intranet.addresses import load_secret, parse_suffix, split_address
from intranet.format import (
    EMAIL_RE,
    Community,
    attachments_dir,
    may_read,
    normalize_address,
    post_relpath,
    read_post,
    split_front_matter,
)
from intranet.format import load_yaml as _load_yaml
from intranet.gitrepo import changed_paths, head_of
from intranet.settings import Settings

from . import classify, notices, policy
from .commands import Commands, Decision
from .compose import Draft, compose, is_empty, sender_author
from .index import Index, load_cache
from .notices import Notices
from .outgoing import Outgoing, Queue
from .parse import Inbound, parse_message
from .runner import Runner
from .spool import Records, Spool, Spooled, write_durably
from .store import HOLD_SECONDS, Commit, Store

log = logging.getLogger(__name__)

MAX_TRIES = 5
SAVE_EVERY = 1000  # changes to the worker's index between two saves of its cache (and at every stop)

# Outcomes and the reasons that are not from classify/policy.
PUBLISHED, DUPLICATE, HELD, REJECTED, DROPPED = "published", "duplicate", "held", "rejected", "dropped"
UNKNOWN_COMMUNITY = "unknown-community"
BAD_REPLY_ADDRESS = "bad-reply-address"
EMPTY = "empty"
TOPIC_CLOSED = "topic-closed"
NO_SENDER = "no-sender"


class Worker(Runner):
    name = "spool-worker"

    def __init__(
        self,
        root: Path,
        settings: Settings,
        on_commit: Callable[[list[str]], None] | None = None,  # told the paths of each post committed
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings
        self.state_dir = self.root / settings.state_dir
        self.spool = Spool(self.state_dir)
        self.records = Records(self.state_dir)
        self.queue = Queue(self.state_dir)
        self.notifier: Any = None  # the gateway's Notifier: fans out what is published
        self.notices = Notices(self.state_dir, settings, self.send)
        self.decisions = self.spool.root / "decisions"
        self.decisions.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secret = load_secret(self.state_dir)
        self.store = Store(self.root)
        self.git_dir = self.store.git_dir
        self.on_commit = on_commit
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        super().__init__()
        self._lock_file: Any = None
        self._index: Index | None = None
        self._index_head = ""
        self._unsaved = 0  # changes to the index since it was last saved
        self._not_before: dict[str, float] = {}
        self.commands = Commands(self)
        self._refusals: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()  # from the notifier's thread
        self._probed = ""

    # -- running ------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the one-worker lock; False if another process holds it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.state_dir / "worker.lock", "w")  # noqa: SIM115 - held for the worker's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_file = handle
        self.store.recover()  # a gateway that died mid-batch left the index behind its commits
        return True

    def start(self) -> None:
        if not self.acquire():
            raise RuntimeError(f"another gateway is working the spool in {self.state_dir}")
        super().start()

    def stop(self) -> None:
        super().stop()
        self.store.flush()
        self.save_index()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def pass_once(self) -> bool:
        return self.run_once()

    def send(self, message: Any, envelope: Outgoing) -> None:
        """Queue one outgoing mail; the notifier delivers it."""
        self.queue.enqueue(message, envelope)
        if self.notifier is not None:
            self.notifier.wake()

    def run_once(self) -> bool:
        """Deal with every pending message that is due, until the spool is empty; True if any was handled.

        The commits of one pass are a batch (see :mod:`mailgateway.store`): the index is brought up
        to date when the spool runs dry, and at least every ``HOLD_SECONDS`` while mail keeps coming.
        """
        try:
            return self._run_pass()
        finally:
            self.store.flush()

    def _run_pass(self) -> bool:
        worked = self._run_decisions()
        worked = self._count_refusals() or worked
        today = self.clock().date().isoformat()
        if self._probed != today:
            self._probed = today
            resumed = self.commands.probe_due(self.clock(), self.index())
            if resumed:
                log.info("trying mail again to %s", ", ".join(resumed))
        seen: set[str] = set()
        while not self.stopping():
            now = time.monotonic()
            keys = [k for k in self.spool.pending() if k not in seen and self._not_before.get(k, 0) <= now]
            if not keys:
                break
            for key in keys:
                if self.stopping():
                    break
                seen.add(key)
                worked = True
                self._run_key(key)
                if self.store.held_for() > HOLD_SECONDS:  # mail keeps coming: end the batch here
                    self.store.flush()
                    self._run_decisions()
                    self._count_refusals()
        if self._unsaved >= SAVE_EVERY:
            self.save_index()
        return worked

    def _run_key(self, key: str) -> None:
        try:
            spooled = self.spool.load(key)
        except FileNotFoundError:
            return  # taken by a retry command meanwhile
        except (ValueError, TypeError) as exc:
            self._failed(key, f"unreadable spool file: {exc}")
            return
        try:
            self.process(spooled)
        except Exception as exc:  # noqa: BLE001 - any failure is counted, never fatal
            log.exception("spool %s: processing failed", key)
            self._failed(key, f"{type(exc).__name__}: {exc}")
            return
        self.spool.finish(key)
        self._not_before.pop(key, None)

    def decide(self, held_id: str, decision: Decision, moderator: str) -> None:
        """Queue a moderator's decision made at a terminal; the worker acts on it."""
        data = {"held": held_id, "moderator": moderator, **decision.__dict__}
        write_durably(self.decisions / f"{held_id}.json", json.dumps(data).encode(), self.spool.tmp)
        self.wake()

    def _run_decisions(self) -> bool:
        worked = False
        for path in sorted(self.decisions.glob("*.json")):
            data = json.loads(path.read_text())
            held = data.pop("held")
            moderator = data.pop("moderator")
            if (self.spool.held_dir / f"{held}.json").is_file():
                self.commands.decide(held, Decision(**data), moderator, self.index())
            path.unlink()
            worked = True
        return worked

    def bounced(self, address: str, reply: str) -> None:
        """The relay refused mail to ``address`` for good: a hard bounce, counted in the worker's thread."""
        self._refusals.put((address, f"relay: {reply[:100]}"))
        self.wake()

    def _count_refusals(self) -> bool:
        worked = False
        while not self._refusals.empty():
            address, how = self._refusals.get()
            self.commands.count_bounce(address, True, how, self.index())
            worked = True
        return worked

    def _failed(self, key: str, error: str) -> None:
        moved = self.spool.record_failure(key, error, MAX_TRIES)
        if moved:
            self.records.add(key=key, outcome="failed", reason="error", error=error)
            log.error("spool %s: gave up after %d tries, moved to failed/: %s", key, MAX_TRIES, error)
            self._not_before.pop(key, None)
        else:
            self._not_before[key] = time.monotonic() + min(60.0, 2.0 ** self.spool.tries(key))

    # -- one message --------------------------------------------------------------

    def index(self) -> Index:
        """What the worker knows, as of HEAD. The gateway's own commits add to it as they go;
        after someone else's commit the files it changed are read again (see :mod:`mailgateway.index`)."""
        head = head_of(self.git_dir)
        if self._index is None:
            self._index = self._load_index(head)
            self._index_head = head
        elif head != self._index_head:
            changed = changed_paths(self.git_dir, self._index_head, head)
            if changed is None:
                self._index = Index(self.root)
            else:
                self._index.update(changed)
            self._index_head = head
            self._unsaved += len(changed or ())
        return self._index

    def _load_index(self, head: str) -> Index:
        started = time.monotonic()
        cached = load_cache(self.root, self.state_dir)
        changed = changed_paths(self.git_dir, cached[0], head) if cached else None
        if cached is not None and changed is not None:
            index = Index(self.root, cached[1])
            index.update(changed)
            how = f"from the cache and {len(changed)} changed files"
        else:
            index = Index(self.root)
            how = "from every post file"
        log.info("read %d posts %s in %.1f s", len(index.records), how, time.monotonic() - started)
        if head and (changed is None or changed):
            index.save(self.state_dir, head)
        return index

    def save_index(self) -> None:
        """Keep what the worker knows for the next start (see :mod:`mailgateway.index`)."""
        if self._index is not None and self._index_head and self._unsaved:
            self._index.save(self.state_dir, self._index_head)
            self._unsaved = 0

    def commit(self, paths: list[Path], **message: Any) -> Commit | None:
        """Commit through the store; a commit made on the HEAD the index knows keeps the index."""
        commit = self.store.commit(paths, **message)
        if commit is not None and self._index is not None and commit.parent == self._index_head:
            self._index_head = commit.sha
            self._unsaved += 1
        return commit

    def process(self, spooled: Spooled) -> None:
        envelope = spooled.envelope
        mail = parse_message(spooled.raw, envelope.received_at, self.settings.mail_domain)
        base = {"key": spooled.key, "message_id": mail.message_id, "sender": mail.from_address}
        rcpts = list(dict.fromkeys(r.lower() for r in envelope.rcpt_tos))
        for rcpt in list(rcpts):  # bounces to a VERP address are for us, before any filtering
            address = split_address(rcpt)
            command = parse_suffix(self.secret, address.mail, address.suffix) if address and address.suffix else None
            if command is not None and command.kind == "bounce":
                rcpts.remove(rcpt)
                outcome, reason, extra = self.commands.bounce(spooled, command, self.index())
                log.info("spool %s %s to %s: %s (%s)", spooled.key, mail.message_id, rcpt, outcome, reason)
                self.records.add(**base, recipient=rcpt, outcome=outcome, reason=reason, **extra)
        if not rcpts:
            return
        drop = classify.drop_reason(mail, self.settings.mail_domain, envelope.mail_from)
        if drop:
            log.info("spool %s %s: dropped (%s)", spooled.key, mail.message_id, drop)
            self.records.add(**base, outcome=DROPPED, reason=drop, recipients=rcpts)
            return
        if not EMAIL_RE.match(mail.from_address):
            # No usable From (obfuscated "x at y", missing): the envelope sender stands in, or nobody.
            if not EMAIL_RE.match(envelope.mail_from):
                log.info("spool %s %s: rejected (no sender address)", spooled.key, mail.message_id)
                self.records.add(**base, outcome=REJECTED, reason=NO_SENDER, recipients=rcpts)
                return
            mail.from_address = envelope.mail_from
        index = self.index()
        for rcpt in rcpts:
            outcome, reason, extra = self.deliver(spooled, mail, rcpt, index)
            log.info("spool %s %s to %s: %s (%s)", spooled.key, mail.message_id, rcpt, outcome, reason)
            self.records.add(**base, recipient=rcpt, outcome=outcome, reason=reason, **extra)

    def deliver(
        self, spooled: Spooled, mail: Inbound, rcpt: str, index: Index, approved_by: str = ""
    ) -> tuple[str, str, dict]:
        """Post ``mail`` to the community at ``rcpt``; return (outcome, reason, details).

        ``approved_by`` names the moderator who approved a held message: no hold then.
        """
        envelope = spooled.envelope
        now = self.clock()
        address = split_address(rcpt)
        community = index.community_for(address.mail) if address else None
        if address is None or community is None or address.domain != self.settings.mail_domain.lower():
            self._notice(mail, UNKNOWN_COMMUNITY, now, address=rcpt)
            return REJECTED, UNKNOWN_COMMUNITY, {}
        known = index.known_in(community.slug)
        parent = next((mid for mid in mail.thread_ids() if mid in known.topic_of), None)
        topic = known.topic_of[parent] if parent else None
        token_ok = True
        if address.suffix:
            command = parse_suffix(self.secret, community.mail, address.suffix)
            if command is None:
                self._notice(mail, UNKNOWN_COMMUNITY, now, address=rcpt)
                return REJECTED, BAD_REPLY_ADDRESS, {}
            if command.token is None:
                return self.commands.handle(command, community, spooled, mail, index)
            token = command.token
            token_ok = token.issued_to(mail.from_address)
            if topic is None and token.topic in known.by_ref:
                topic = known.by_ref[token.topic]  # headers lost: the reply address says where
                parent = topic

        elif topic is None and self.commands.is_digest_reply(mail, self.settings.mail_domain):
            return (*self.commands.digest_reply(community, mail), {"community": community.slug})

        existing = self._existing(community.slug, mail)
        if existing == DUPLICATE:
            self._fan_out(community.slug, mail.message_id)
            return DUPLICATE, "already-posted", {"community": community.slug}

        values = {
            "address": rcpt,
            "community": community.name,
            "community_address": f"{community.mail}@{self.settings.mail_domain}",
        }
        if topic and topic in known.closed:
            self._notice(mail, TOPIC_CLOSED, now, topic=known.titles.get(topic, ""), **values)
            return REJECTED, TOPIC_CLOSED, {"community": community.slug}
        handle = index.by_email.get(normalize_address(mail.from_address))
        authenticity = policy.authenticate(mail, envelope.peer, self.settings)
        readable = may_read(community, index.people.get(handle)) if handle else True
        hold = None if approved_by else policy.hold_reason(community, handle, authenticity, token_ok, readable)
        if hold:
            held_id = self.spool.hold(
                spooled,
                community.slug,
                {
                    "key": spooled.key,
                    "community": community.slug,
                    "reason": hold,
                    "why": authenticity.why,
                    "message_id": mail.message_id,
                    "sender": mail.from_address,
                    "subject": mail.subject,
                    "recipient": rcpt,
                    "held": now.isoformat(timespec="seconds"),
                },
            )
            self._notice(mail, "held", now, hold=hold, **values)
            why = notices.HOLD_WHY.get(hold, hold)
            self.commands.ask_moderators(community, held_id, mail, hold, why, index)
            return HELD, hold, {"community": community.slug, "held": held_id}

        author = sender_author(mail, handle)
        draft = compose(
            mail,
            community.slug,
            envelope.protocol,
            author,
            topic,
            parent,
            envelope.received_at,
            self.settings,
            existing or "",
            *self._foreign(community.slug, mail, index),
        )
        if is_empty(draft):
            self._notice(mail, EMPTY, now, **values)
            return REJECTED, EMPTY, {"community": community.slug}
        commit = self._store(draft, community, mail, handle, approved_by)
        index.add(draft.post)
        self._fan_out(community.slug, mail.message_id, draft.post.relpath)
        extra: dict[str, Any] = {"community": community.slug, "path": draft.post.relpath}
        if draft.quotes_removed:
            log.info("spool %s %s: quoted text from another community removed", spooled.key, mail.message_id)
            extra["quoted_removed"] = True
        if draft.skipped:
            extra["attachments_not_kept"] = [p.filename or p.file for p in draft.skipped]
        if commit:
            extra["commit"] = commit
        if approved_by:
            extra["approved_by"] = approved_by
        return PUBLISHED, "reply" if topic else "new-topic", extra

    def _foreign(self, slug: str, mail: Inbound, index: Index) -> tuple[list[str] | None, list[str]]:
        return foreign_texts(self.root, index, slug, mail)

    def _existing(self, slug: str, mail: Inbound) -> str | None:
        """DUPLICATE if this message is already a committed post here; a variant suffix if the
        Message-ID is taken by different content; None if the ID is free."""
        for variant in ("", mail.content_hash[7:15]):
            path = self.root / post_relpath(slug, mail.message_id, variant)
            if not path.is_file():
                return variant or None
            if _hash_of(path) == mail.content_hash:
                if self.store.is_committed(path):
                    return DUPLICATE
                return variant or None  # written before a crash, not yet committed: finish the job
        return mail.content_hash[7:23]

    def _fan_out(self, slug: str, message_id: str, relpath: str = "") -> None:
        if self.notifier is not None:
            self.notifier.add_job(slug, relpath, message_id)

    def _store(self, draft: Draft, community: Community, mail: Inbound, handle: str | None, approved_by: str) -> str:
        post = draft.post
        path = self.root / post.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        paths = [path]
        if draft.files:
            folder = attachments_dir(path)
            folder.mkdir(parents=True, exist_ok=True)
            for name, data in draft.files.items():
                target = folder / name
                write_durably(target, data, self.spool.tmp)
                paths.append(target)
        write_durably(path, post.to_text().encode("utf-8"), self.spool.tmp)
        person = self._index.people.get(handle) if handle and self._index else None
        name = person.name if person else (mail.from_name or mail.from_address)
        kind = "reply" if post.in_reply_to else "new topic"
        commit = self.commit(
            paths,
            subject=f"{community.slug}: {post.subject or '(no subject)'}",
            body=f"A {kind} by {name} in {community.name}, received by email.",
            author=(name, mail.from_address or "unknown@invalid"),
            committer=(self.settings.gateway_name, self.settings.noreply),
            trailers={"Message-ID": post.message_id, **({"Approved-by": approved_by} if approved_by else {})},
        )
        if commit and self.on_commit is not None:
            self.on_commit([p.relative_to(self.root).as_posix() for p in paths])
        return commit.sha if commit else ""

    def _notice(self, mail: Inbound, reason: str, now: dt.datetime, **values: str) -> None:
        self.notices.send(mail.from_address, reason, mail.subject, mail.message_id, now, **values)


def foreign_texts(root: Path, index: Index, slug: str, mail: Inbound) -> tuple[list[str] | None, list[str]]:
    """The texts and topic titles of the posts ``mail`` answers that live in another community than
    ``slug``; (None, []) when it answers none. They are kept out of this one (see compose)."""
    found = index.elsewhere(slug, mail.thread_ids())
    if not found:
        return None, []
    texts, titles = [], []
    for other, relpath in found:
        path = root / relpath
        if relpath and not path.is_symlink() and path.is_file():
            post, _ = read_post(root, other, path)
            if post is not None:
                texts.append(f"{post.body}\n{post.quoted}")
                titles.append(post.subject)
                titles.append(index.known_in(other).titles.get(post.topic, ""))
    return texts, titles


def _hash_of(path: Path) -> str:
    try:
        head, _, _ = split_front_matter(path.read_text(encoding="utf-8"))
        data = _load_yaml(head)
    except Exception:  # noqa: BLE001 - an unreadable file is not our duplicate
        return ""
    return str(data.get("content_hash", "")) if isinstance(data, dict) else ""
