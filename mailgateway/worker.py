"""The worker: takes messages from the spool and decides what becomes of each.

For every spooled message, and every community it was sent to, exactly one
outcome is recorded: ``published``, ``duplicate``, ``held``, ``rejected`` or
``dropped`` (see :mod:`mailgateway.classify`), each with a reason code. The
message leaves the spool only after that. A worker that crashes half way
runs the message again on restart: writing the post is idempotent and a
post already committed is recognised by its path (from the Message-ID) and
its content hash, so nothing is posted twice. One worker per state folder
at a time (an exclusive lock file).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from intranet.addresses import load_secret, parse_suffix, split_address
from intranet.errors import UnreadableMessage
from intranet.format import (
    EMAIL_RE,
)
from intranet.gitremote import sync_work_tree
from intranet.model import Model
from intranet.pacing import PACING
from intranet.settings import Settings

from . import classify, notices, policy
from .commands import Commands, Decision
from .compose import Draft, compose, is_empty, sender_author
from .dkimverify import Verifier
from .effects import Effects
from .existing import existing_variant, foreign_texts
from .parse import Inbound, parse_header
from .reader import Reader
from .remote import gateway_root
from .routing import (
    COMMAND,
    DIGEST_REPLY,
    EMPTY,
    HOLD,
    NO_SENDER,
    PUBLISH,
    REJECT,
    SUBJECT_REPLACED,
    Route,
    route,
    target_of,
)
from .runner import Runner
from .spool import Records, Spool, Spooled, fsync_dirs, write_durably
from .store import HOLD_SECONDS, Store
from .topicacts import acting

log = logging.getLogger(__name__)

MAX_TRIES = 5
SAVE_EVERY = 1000  # changes to the model between two saves of the gateway's cache of it (and at every stop)

# Outcomes (reasons are in mailgateway.routing, classify and policy).
PUBLISHED, DUPLICATE, HELD, REJECTED, DROPPED = "published", "duplicate", "held", "rejected", "dropped"


class Worker(Runner):
    name = "spool-worker"

    def __init__(
        self,
        root: Path,
        settings: Settings,
        model: Model | None = None,  # the process's model; without one the worker keeps its own (no post text)
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        root, settings = gateway_root(Path(root), settings)  # with a remote: the gateway's own checkout
        self.root = root
        self.settings = settings
        self.state_dir = self.root / settings.state_dir
        self.spool = Spool(self.state_dir)
        self.records = Records(self.state_dir)
        self.decisions = self.spool.root / "decisions"
        self.decisions.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.secret = load_secret(self.state_dir)
        self.store = Store(self.root)
        self.git_dir = self.store.git_dir
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        super().__init__()
        self._model = model
        self._own_model = model is None  # then it is cached in the state folder between starts
        self._saved_seq = 0
        self.effects = Effects(
            self.root,
            settings,
            self.spool,
            self.records,
            self.store,
            self.model_as_is,
            lambda: self.clock(),
            self.secret,
        )
        self.notifier: Any = None  # the gateway's Notifier: fans out what is published
        self.commands = Commands(self.effects, self.deliver)
        self.acts = acting(self.effects, self.commands)  # a reaction ("+1"), commands ("#accept"): by route
        self.reader = Reader(settings.max_parse_seconds)  # parses each message in a child process, time-limited
        self.dkim = Verifier(settings)  # verify_dkim: the gateway's own DKIM checks
        self._lock_file: Any = None
        self._not_before: dict[str, float] = {}
        self._done: list[tuple[str, list[dict[str, Any]]]] = []  # this batch's finished keys and their records
        self._unsynced: list[Path] = []  # folders of this batch's post files, fsynced when it ends
        self._refusals: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()  # from the notifier's thread
        self._probed = ""
        self.pusher: Any = None  # with a remote, the gateway's Pusher: told when a batch of commits is done

    # -- running ------------------------------------------------------------------

    def acquire(self) -> bool:
        """Take the one-worker lock; False if another process holds it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        handle = open(self.state_dir / "worker.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._lock_file = handle
        self.store.recover()  # a gateway that died mid-batch left the index behind its commits
        if self.settings.remote:  # the branch may have moved on without its files (see mailgateway.replay)
            sync_work_tree(self.root, "", self.store.head())
        return True

    def start(self) -> None:
        if not self.acquire():
            raise RuntimeError(f"another gateway is working the spool in {self.state_dir}")
        super().start()

    def finish(self) -> None:
        """End the current batch and keep the cache: in the worker's own thread, or once it has stopped."""
        self._end_batch()
        self.save_model()
        self.reader.close()

    def stop(self, timeout: float = 60.0) -> bool:
        if not super().stop(timeout):
            return False  # still inside a message after the wait: its thread ends the batch; the next start repairs
        if self._thread is None:  # never started (a command at a terminal): end what it did here
            self.finish()
        self.release()
        return True

    def release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def pass_once(self) -> bool:
        if self._model is not None and not self._model.loaded:
            return False  # ``intranet up`` still reads the posts: the mail waits in the spool
        return self.run_once()

    def send(self, message: Any, envelope: Any) -> None:
        self.effects.send(message, envelope)

    def run_once(self) -> bool:
        """Deal with every pending message that is due, until the spool is empty; True if any was handled.

        The commits of one pass are a batch (see :mod:`mailgateway.store`): the index is brought up
        to date when the spool runs dry, and at least every ``HOLD_SECONDS`` while mail keeps coming.
        A message's outcome is recorded, and it leaves the spool, only once its batch has updated the
        index: whoever sees the outcome sees a clean ``git status``.
        """
        try:
            return self._run_pass()
        finally:
            self._end_batch()

    def _end_batch(self) -> None:
        """Commits into the index; file names, fan-out jobs, outcomes made durable (fsyncs per batch,
        not per message); then the messages leave the spool."""
        self.store.flush()
        done, self._done = self._done, []
        folders, self._unsynced = self._unsynced, []
        fsync_dirs(folders)
        if self.notifier is not None:
            self.notifier.write_jobs()
        self.records.add_all([record for _, records in done for record in records])
        keys = [key for key, _ in done if key]
        self.spool.finish(*keys)
        for key in keys:
            self._not_before.pop(key, None)
        if self.pusher is not None:
            self.pusher.between_batches()

    def _record(self, **record: Any) -> None:
        """Note an outcome; it is written when the batch ends (see :meth:`run_once`)."""
        if self._done:
            self._done[-1][1].append(record)
        else:
            self.records.add(**record)

    def _run_pass(self) -> bool:
        worked = self._run_decisions()
        worked = self._count_refusals() or worked
        if self._model is not None and self._model.loaded:  # catch up; tell who broke a file (quarantine)
            worked = self.effects.breakages.tell(self.model(), self.clock()) > 0 or worked
        today = self.clock().date().isoformat()
        if self._probed != today:
            self._probed = today
            resumed = self.commands.probe_due(self.clock(), self.model())
            if resumed:
                log.info("trying mail again to %s", ", ".join(resumed))
        seen: set[str] = set()
        while not self.stopping():
            now = time.monotonic()
            keys = [k for k in self.spool.pending() if k not in seen and self._not_before.get(k, 0) <= now]
            if not keys:
                break
            for n, key in enumerate(keys):
                if self.stopping():
                    break
                seen.add(key)
                worked = True
                if n + 1 < len(keys):  # more mail waits behind it: the site and the fan-out give way meanwhile
                    PACING.intake()
                self._run_key(key)
                if self.store.held_for() > HOLD_SECONDS:  # mail keeps coming: end the batch here
                    self._end_batch()
                    self._run_decisions()
                    self._count_refusals()
        if self._model is not None and self._model.seq - self._saved_seq >= SAVE_EVERY:
            self.save_model()
        return worked

    def _run_key(self, key: str) -> None:
        try:
            spooled = self.spool.load(key)
        except FileNotFoundError:
            return  # taken by a retry command meanwhile
        except (ValueError, TypeError) as exc:
            self._failed(key, f"unreadable spool file: {exc}")
            return
        self._done.append((key, []))
        try:
            self.process(spooled)
        except Exception as exc:
            log.exception("spool %s: processing failed", key)
            self._done.pop()
            self._failed(key, f"{type(exc).__name__}: {exc}")

    def decide(self, held_id: str, decision: Decision, moderator: str) -> None:
        """Queue a moderator's decision made at a terminal; the worker acts on it."""
        data = {"held": held_id, "moderator": moderator, **decision.__dict__}
        write_durably(self.decisions / f"{held_id}.json", json.dumps(data).encode(), self.spool.tmp)
        self.wake()

    def unsubscribe(self, slug: str, who: str) -> None:
        """Queue a one-click unsubscribe (from the HTTP endpoint's thread); the worker commits it."""
        data = {"unsubscribe": slug, "who": who}
        write_durably(self.decisions / f"unsubscribe.{slug}.{who}.json", json.dumps(data).encode(), self.spool.tmp)
        self.wake()

    def _run_decisions(self) -> bool:
        worked = False
        for path in sorted(self.decisions.glob("*.json")):
            data = json.loads(path.read_text())
            if "unsubscribe" in data:
                self.commands.unsubscribe_by_link(data["unsubscribe"], data["who"], self.model())
            elif (self.spool.held_dir / f"{data['held']}.json").is_file():
                held, moderator = data.pop("held"), data.pop("moderator")
                self.commands.decide(held, Decision(**data), moderator, self.model())
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
            self.commands.count_bounce(address, True, how, self.model())
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

    # -- the model ----------------------------------------------------------------

    def model(self) -> Model:
        """The process's model, caught up with HEAD (an editor's commits are read as a diff)."""
        if self._model is None:
            self._model = self._load_model()
            return self._model
        while not self._model.wait_loaded(0.5):  # ``intranet up`` reads the posts after the gateway starts
            if self.stopping():
                raise RuntimeError("stopped before the intranet's posts were read")
        self._model.follow()
        return self._model

    def directory(self) -> Model:
        """The model for who and what takes mail (communities, people), without waiting for its posts: as it is
        while ``intranet up`` reads the posts (it answers SMTP meanwhile), afterwards caught up (:meth:`model`)."""
        if self._model is not None and not self._model.loaded:
            return self._model
        return self.model()

    def model_as_is(self) -> Model:
        """The model without catching up first: for telling it of a commit of our own (catching up would
        diff the very commit it is about to be told of), and for a message once :meth:`deliver` caught up."""
        return self._model if self._model is not None else self.model()

    def _load_model(self) -> Model:
        model = Model.cached(self.root, self.state_dir)
        self._saved_seq = -1  # written once after every start: the cache then names this HEAD
        return model

    def save_model(self) -> None:
        """Keep the worker's own model for the next start (see :mod:`intranet.modelcache`)."""
        model = self._model
        if not self._own_model or model is None or not model.head or model.seq == self._saved_seq:
            return
        model.save(self.state_dir)
        self._saved_seq = model.seq

    # -- one message --------------------------------------------------------------

    def process(self, spooled: Spooled) -> None:
        envelope = spooled.envelope
        try:
            mail = self.reader.read(spooled.raw, envelope.received_at, self.settings.mail_domain)
        except UnreadableMessage as exc:  # the content's fault: it would fail again, so not retried
            self._unreadable(spooled, exc)
            return
        base = {"key": spooled.key, "message_id": mail.message_id, "sender": mail.from_address}
        rcpts = list(dict.fromkeys(r.lower() for r in envelope.rcpt_tos))
        for rcpt in list(rcpts):  # bounces to a VERP address are for us, before any filtering
            address = split_address(rcpt)
            command = parse_suffix(self.secret, address.mail, address.suffix) if address and address.suffix else None
            if command is not None and command.kind == "bounce":
                rcpts.remove(rcpt)
                outcome, reason, extra = self.commands.bounce(spooled, command, self.model())
                log.info("spool %s %s to %s: %s (%s)", spooled.key, mail.message_id, rcpt, outcome, reason)
                self._record(**base, recipient=rcpt, outcome=outcome, reason=reason, **extra)
        if not rcpts:
            return
        drop = classify.drop_reason(mail, self.settings.mail_domain, envelope.mail_from)
        if drop:
            log.info("spool %s %s: dropped (%s)", spooled.key, mail.message_id, drop)
            self._record(**base, outcome=DROPPED, reason=drop, recipients=rcpts)
            return
        if not EMAIL_RE.match(mail.from_address):
            # No usable From (obfuscated "x at y", missing): the envelope sender stands in, or nobody.
            if not EMAIL_RE.match(envelope.mail_from):
                log.info("spool %s %s: rejected (no sender address)", spooled.key, mail.message_id)
                self._record(**base, outcome=REJECTED, reason=NO_SENDER, recipients=rcpts)
                return
            mail.from_address = envelope.mail_from
        for rcpt in rcpts:
            outcome, reason, extra = self.deliver(spooled, mail, rcpt)
            log.info("spool %s %s to %s: %s (%s)", spooled.key, mail.message_id, rcpt, outcome, reason)
            self._record(**base, recipient=rcpt, outcome=outcome, reason=reason, **extra)

    def _unreadable(self, spooled: Spooled, exc: UnreadableMessage) -> None:
        """Reject, for good, mail that cannot be read; tell its sender, unless it is mail never answered."""
        envelope = spooled.envelope
        mail = parse_header(spooled.raw, envelope.received_at, self.settings.mail_domain)
        rcpts = list(dict.fromkeys(r.lower() for r in envelope.rcpt_tos))
        if not EMAIL_RE.match(mail.from_address):
            mail.from_address = envelope.mail_from if EMAIL_RE.match(envelope.mail_from) else ""
        log.warning("spool %s %s: rejected (%s: %s)", spooled.key, mail.message_id, exc.reason, exc)
        if not classify.drop_reason(mail, self.settings.mail_domain, envelope.mail_from):
            self.effects.notice(mail, exc.reason, self.clock(), address=", ".join(rcpts))
        base = {"key": spooled.key, "message_id": mail.message_id, "sender": mail.from_address}
        self._record(**base, outcome=REJECTED, reason=exc.reason, detail=str(exc), recipients=rcpts)

    def deliver(self, spooled: Spooled, mail: Inbound, rcpt: str, approved_by: str = "") -> tuple[str, str, dict]:
        """Decide (:func:`mailgateway.routing.route`) and carry out; return (outcome, reason, details)."""
        check = self.dkim.checker(spooled.raw, f"spool {spooled.key} {mail.message_id}")
        authenticity = policy.authenticate(mail, spooled.envelope.peer, self.settings, check)  # DNS: not under the lock
        model = self.model()
        with model.lock:  # one consistent view of communities and people for the whole decision
            target = target_of(rcpt, model, self.settings, self.secret)
            existing = None
            if target.community is not None and not target.error and (target.command is None or target.command.token):
                existing = existing_variant(self.root, self.store, target.community.slug, mail)
            decision = route(
                mail,
                target,
                model,
                self.settings,
                authenticity,
                existing,
                self.commands.is_digest_reply(mail, self.settings.mail_domain),
                approved_by,
            )
        return self._carry_out(decision, spooled, mail, existing, approved_by)

    def _carry_out(
        self, decision: Route, spooled: Spooled, mail: Inbound, existing: str | None, approved_by: str
    ) -> tuple[str, str, dict]:
        now = self.clock()
        community = decision.community
        if decision.notice and decision.action != HOLD:
            self.effects.notice(mail, decision.notice, now, **decision.values)
        if decision.action == REJECT:
            return REJECTED, decision.reason, decision.extra()
        if decision.action in self.acts:  # "+1", "#accept", join@: a post, a topic or a profile changes; maybe a post
            publish = functools.partial(self._publish, decision, spooled, mail, existing, approved_by)
            return self.acts[decision.action](decision, mail, self.model_as_is(), publish)
        assert community is not None  # every other route names its community
        if decision.action == COMMAND and decision.command is not None:
            return self.commands.handle(decision.command, community, spooled, mail, self.model())
        if decision.action == DIGEST_REPLY:
            return (*self.commands.digest_reply(community, mail), decision.extra())
        if decision.action == HOLD:
            return self._hold(decision, spooled, mail, now)
        if decision.action != PUBLISH:  # a duplicate: its fan-out may not have been queued before a crash
            self._fan_out(community.slug, mail.message_id)
            return DUPLICATE, decision.reason, decision.extra()
        return self._publish(decision, spooled, mail, existing, approved_by)

    def _hold(self, decision: Route, spooled: Spooled, mail: Inbound, now: dt.datetime) -> tuple[str, str, dict]:
        community = decision.community
        assert community is not None
        held_id = self.spool.hold(
            spooled,
            community.slug,
            {
                "key": spooled.key,
                "community": community.slug,
                "reason": decision.reason,
                "why": decision.why,
                "message_id": mail.message_id,
                "sender": mail.from_address,
                "subject": mail.subject,
                "recipient": decision.values.get("address", ""),
                "held": now.isoformat(timespec="seconds"),
            },
        )
        self.effects.notice(mail, "held", now, **decision.values)
        why = notices.HOLD_WHY.get(decision.reason, decision.reason)
        self.commands.ask_moderators(community, held_id, mail, decision.reason, why, self.model())
        return HELD, decision.reason, {**decision.extra(), "held": held_id}

    def _publish(
        self, decision: Route, spooled: Spooled, mail: Inbound, existing: str | None, approved_by: str
    ) -> tuple[str, str, dict]:
        community = decision.community
        assert community is not None
        draft = compose(
            mail,
            community.slug,
            spooled.envelope.protocol,
            sender_author(mail, decision.handle),
            decision.topic,
            decision.parent,
            spooled.envelope.received_at,
            self.settings,
            existing or "",
            *foreign_texts(self.root, self.model_as_is(), community.slug, mail),
            subject_tag=community.subject_tag,
        )
        if is_empty(draft):
            self.effects.notice(mail, EMPTY, self.clock(), **decision.values)
            return REJECTED, EMPTY, decision.extra()
        commit = self._store(draft, community.slug, community.name, mail, decision.handle, approved_by)
        self._fan_out(community.slug, mail.message_id, draft.post.relpath)
        extra: dict[str, Any] = {**decision.extra(), "path": draft.post.relpath}
        if draft.quotes_removed:
            log.info("spool %s %s: quoted text from another community removed", spooled.key, mail.message_id)
            extra["quoted_removed"] = True
        if draft.subject_replaced:
            extra["subject_replaced"] = True
            self.effects.notice(mail, SUBJECT_REPLACED, self.clock(), new_subject=draft.post.subject, **decision.values)
        if draft.skipped:
            extra["attachments_not_kept"] = [p.filename or p.file for p in draft.skipped]
        if commit:
            extra["commit"] = commit
        if approved_by:
            extra["approved_by"] = approved_by
        return PUBLISHED, decision.reason, extra

    def _fan_out(self, slug: str, message_id: str, relpath: str = "") -> None:
        if self.notifier is not None:
            self.notifier.add_job(slug, relpath, message_id)

    def _store(
        self, draft: Draft, slug: str, community_name: str, mail: Inbound, handle: str | None, approved_by: str
    ) -> str:
        post = draft.post
        batch = self._unsynced if self._done else None  # folders fsynced as the batch ends; a decision's at once
        paths = self.effects.write_post(post.relpath, post.to_text(), draft.files, batch)
        person = self.model_as_is().people.get(handle) if handle else None
        name = person.name if person else (mail.from_name or mail.from_address)
        kind = "reply" if post.in_reply_to else "new topic"
        commit = self.effects.commit(
            paths,
            subject=f"{slug}: {post.subject or '(no subject)'}",
            body=f"A {kind} by {name} in {community_name}, received by email.",
            author=(name, mail.from_address or "unknown@invalid"),
            committer=self.settings.committer,
            trailers={"Message-ID": post.message_id, **({"Approved-by": approved_by} if approved_by else {})},
        )
        return commit.sha if commit else ""
