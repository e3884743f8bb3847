"""The notifier: mails each new post to its community's subscribers, sends digests and probes.

Runs beside the worker in the gateway, in its own thread, so a slow relay
never holds up intake. The worker hands it a *fan-out job* for each post it
publishes (a small file written durably after the commit; a message that
is redelivered after a crash hands it over again). A job becomes one queued
message per recipient (:mod:`mailgateway.outgoing`, named by Message-ID and
recipient, so running a job twice queues nobody twice), then the post is
put on the digest list and the job is marked done.

Recipients are worked out when the job runs, not when the post came in:
people whose mode for the community is ``each``, who may read it (their kind
is in its audience, or they are members), whose address is not stopped for
bouncing, and never the author.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intranet import urls
from intranet.addresses import load_secret
from intranet.format import (
    Person,
    Post,
    attachments_dir,
    message_key,
    normalize_address,
    post_relpath,
    read_post,
)
from intranet.model import Model
from intranet.pacing import PACING
from intranet.render import excerpt
from intranet.settings import Settings
from intranet.threads import Topic, build_topics

from .claims import Claims, claim_ref
from .digestclaim import digest_entries
from .notices import Notices
from .outgoing import FANNED, Delivery, Outgoing, Queue
from .outmail import DigestItem, attachments_to_send, bounce_address, digest_mail, post_body, post_mail
from .recipients import mentions, recipients
from .reminders import remind
from .report import Reports
from .runner import Runner
from .spool import fsync_dir, write_durably

log = logging.getLogger(__name__)

DIGEST_EXCERPT = 300  # characters of each post a digest shows
PRUNE_EVERY = dt.timedelta(hours=1)  # how often sent/ and fanned/ are pruned


def person_of(model: Model, post: Post) -> Person | None:
    """The person in people/ who wrote ``post``, if any."""
    if post.author.handle:
        return model.people.get(post.author.handle)
    return model.person_for(post.author.email)


def author_of(model: Model, post: Post) -> tuple[str, str]:
    person = person_of(model, post)
    if person is not None:
        return person.name, person.emails[0] if person.emails else ""
    return post.author.name or post.author.email or "Someone", post.author.email


@dataclass
class Thread:
    """What the mail of one post needs from its topic."""

    post: Post
    root: Post
    references: list[str]  # Message-IDs from the topic's first post down to the post's parent

    @property
    def title(self) -> str:
        return Topic(self.root.community, self.root).title

    @property
    def src(self) -> str:
        return urls.topic(self.root.community, Topic(self.root.community, self.root).key)


class Notifier(Runner):
    name = "notifier"
    idle = 5.0

    def __init__(
        self,
        root: Path,
        settings: Settings,
        clock: Callable[[], dt.datetime] | None = None,
        model: Callable[[], Model] | None = None,  # the process's model, caught up with HEAD
    ) -> None:
        self.root = Path(root).resolve()
        self.settings = settings
        self.state_dir = self.root / settings.state_dir
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.queue = Queue(self.state_dir)
        self.notices = Notices(self.state_dir, settings, self._notice)  # to a post's author
        self.delivery = Delivery(self.state_dir, settings, on_failure=self._refused, clock=self.clock)
        self.secret = load_secret(self.state_dir)
        self.jobs = self.queue.root / "jobs"
        self.fanned = self.queue.root / FANNED
        self.digest_list = self.queue.root / "digest.jsonl"
        self.digest_state = self.queue.root / "digest-state.json"
        for folder in (self.jobs, self.fanned):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._model_of = model
        self._own: Model | None = None
        super().__init__()
        self.on_refused: Callable[[str, str], None] | None = None  # (address, reply): a 5xx counts as a bounce
        self._lock = threading.Lock()
        self._new_jobs: dict[str, dict[str, str]] = {}  # the worker's batch's jobs, not written yet
        self._pruned: dt.datetime | None = None
        self.claims: Claims | None = None  # with a remote: fan-outs, digests and reports are claimed there first
        self.reports = Reports(self.root, settings, self.secret, self.queue, self.model)  # weekly, to moderators

    # -- jobs -----------------------------------------------------------------------

    def add_job(self, community: str, relpath: str, message_id: str) -> None:
        """Called by the worker once a post is committed (and again if it is redelivered); the job is
        written with the others of the worker's batch (:meth:`write_jobs`) before its outcome is."""
        key = _job_key(community, message_id)
        if (self.fanned / key).exists():
            return
        with self._lock:
            self._new_jobs[key] = {"community": community, "relpath": relpath, "message_id": message_id}

    def write_jobs(self) -> None:
        """Write the jobs added since the last call as one file, durably (one fsync for a batch)."""
        with self._lock:
            jobs, self._new_jobs = list(self._new_jobs.values()), {}
        if not jobs:
            return
        name = f"{time.time_ns():020d}-{len(jobs)}.json"
        write_durably(self.jobs / name, json.dumps(jobs).encode(), self.queue.tmp)
        self._wake.set()

    def model(self) -> Model:
        """Communities and people as of now: the gateway's model, or (alone, as `intranet digest`) its own."""
        if self._model_of is not None:
            return self._model_of()
        if self._own is None:
            self._own = Model.cached(self.root, self.state_dir)
        else:
            self._own.follow()
        return self._own

    def read_post(self, slug: str, relpath: str, message_id: str) -> Post | None:
        """The post at ``relpath`` if it is the one with ``message_id``."""
        path = self.root / relpath
        if not relpath or path.is_symlink() or not path.is_file():
            return None
        post, _ = read_post(self.root, slug, path)
        return post if post is not None and post.message_id == message_id else None

    def thread_of(self, slug: str, relpath: str, message_id: str) -> Thread | None:
        """The post and its topic, read from the few files involved (the gateway's posts sit at
        paths that follow from their Message-IDs); from the whole community when that fails."""
        post = self.read_post(slug, relpath or post_relpath(slug, message_id), message_id)
        root = post
        if post is not None and post.topic != post.message_id:
            root = self.read_post(slug, post_relpath(slug, post.topic), post.topic)
        chain: list[str] = []
        current = post.in_reply_to if post is not None else None
        while root is not None and current and current not in chain and len(chain) < 50:
            chain.append(current)
            if current == root.message_id:
                break
            parent = self.read_post(slug, post_relpath(slug, current), current)
            if parent is None:
                root = None  # a parent written by hand: thread the whole community instead
                break
            current = parent.in_reply_to
        if post is None or root is None:
            return self._thread_by_scan(slug, message_id)
        if root.message_id not in chain and post is not root:
            chain.append(root.message_id)
        return Thread(post, root, list(reversed(chain)))

    def _thread_by_scan(self, slug: str, message_id: str) -> Thread | None:
        """Thread the community as the model knows it; then read the post and its topic's first post."""
        for topic in build_topics(self.model().posts_of(slug)).get(slug, []):
            for known in topic.posts:
                if known.message_id != message_id:
                    continue
                post = self.read_post(slug, known.relpath, message_id)
                root = self.read_post(slug, topic.root.relpath, topic.root.message_id)
                if post is None or root is None:
                    return None
                return Thread(post, root, _references(topic, known))
        return None

    def run_jobs(self, stop: Callable[[], bool] = lambda: False) -> int:
        """Fan out every waiting job; a file of jobs goes once each of them is marked done."""
        done = 0
        for path in sorted(self.jobs.glob("*.json")):
            data = json.loads(path.read_bytes())
            jobs = data if isinstance(data, list) else [data]  # (a single job: a file from an earlier version)
            jobs = [job for job in jobs if not (self.fanned / _job_key(job["community"], job["message_id"])).exists()]
            claimed = self._claimed(jobs)
            if claimed is None:  # the remote cannot be reached: the jobs wait for it
                break
            threads, skipped = claimed
            finished = True
            for job in jobs:
                if stop():
                    finished = False
                    break
                key = _job_key(job["community"], job["message_id"])
                PACING.give_way()  # while mail floods in, the worker goes first (intranet.pacing)
                if key not in skipped:
                    self.fan_out(job, threads.get(key))
                os.close(os.open(self.fanned / key, os.O_WRONLY | os.O_CREAT, 0o600))  # (its folder fsynced below)
                done += 1
            fsync_dir(self.fanned)
            if not finished:
                break
            path.unlink(missing_ok=True)
        return done

    def _claimed(self, jobs: list[dict[str, Any]]) -> tuple[dict[str, Thread], set[str]] | None:
        """With :attr:`claims` (two gateways may share a remote): claim each job's post there, in one push.
        (The threads read for it, by job key; the jobs another gateway holds), or None if the remote is away."""
        if self.claims is None or not jobs:
            return {}, set()
        threads: dict[str, Thread] = {}
        refs: dict[str, str] = {}
        bodies: dict[str, str] = {}
        soonest = self.clock().astimezone(dt.UTC).date() - dt.timedelta(days=2)  # (kept long enough: prune)
        for job in jobs:
            key = _job_key(job["community"], job["message_id"])
            thread = self.thread_of(job["community"], job.get("relpath", ""), job["message_id"])
            if thread is not None:
                threads[key] = thread
                refs[key] = claim_ref("fanout", max(thread.post.date.astimezone(dt.UTC).date(), soonest), key)
                name = author_of(self.model(), thread.post)[0]
                bodies[refs[key]] = json.dumps(digest_entry(job["community"], thread, name), ensure_ascii=False)
        held = self.claims.claim(bodies)
        if held is None:
            return None
        skipped = {key for key, ref in refs.items() if not held[ref]}
        for key in sorted(skipped):
            log.info("fan-out of %s: claimed by another gateway; not sent here", threads[key].post.message_id)
        return threads, skipped

    def fan_out(self, job: dict[str, Any], thread: Thread | None = None) -> int:
        """Queue the post's mail to each subscriber (``thread``: the post's, if read already)."""
        model = self.model()
        community = model.communities.get(job["community"])
        if thread is None and community is not None:
            thread = self.thread_of(job["community"], job.get("relpath", ""), job["message_id"])
        if thread is None or community is None:
            log.warning("fan-out of %s: the post is not in the work tree; nothing sent", job["message_id"])
            return 0
        post = thread.post
        name, address = author_of(model, post)
        files = attachments_to_send(post, attachments_dir(self.root / post.relpath), self.settings.attach_max_bytes)
        body = post_body(post, community, self.settings, thread.src, files)  # the same for every recipient
        queued = 0
        chosen, writer = dict(thread.root.notify), person_of(model, post)  # who follows or muted this topic
        every = recipients(community, model.people, "each", writer, chosen)
        named, cannot = mentions(community, model.people, post, writer, chosen, {p.handle for p, _ in every})
        if cannot and address:  # mentioned, but may not read the community: left as text, the author told
            self.notices.send(
                address,
                "mention-not-told",
                post.subject,
                post.message_id,
                self.clock(),
                names=", ".join(p.name for p in cannot),
                community=community.name,
            )
        for person, rcpt in every + named:
            if address and normalize_address(rcpt) == normalize_address(address):
                continue
            message = post_mail(
                post=post,
                body=body,
                title=thread.title,
                references=thread.references,
                community=community,
                author_name=name,
                author_address=address,
                recipient=rcpt,
                settings=self.settings,
                secret=self.secret,
                topic_src=thread.src,
                tags=sorted(set(thread.root.tags) | set(post.tags)),
                mentioned_by=name if (person, rcpt) in named else "",
            )
            envelope = Outgoing(
                mail_from=bounce_address(self.secret, community, self.settings, rcpt),
                rcpt=rcpt,
                kind="post",
                community=community.slug,
                message_id=post.message_id,
            )
            queued += self.queue.enqueue(message, envelope, sync_dir=False)
        if queued:
            fsync_dir(self.queue.queue)  # once for the post's messages, before the job is marked done
        if self.claims is None:  # (with claims the post's digest entry is in its claim, for either gateway)
            self._add_to_digest(digest_entry(community.slug, thread, name))
        log.info("fan-out of %s in %s: %d queued", post.message_id, community.slug, queued)
        return queued

    def _notice(self, message: Any, envelope: Outgoing) -> None:
        self.queue.enqueue(message, envelope)

    # -- digests --------------------------------------------------------------------

    def _add_to_digest(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.digest_list, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def digest_due(self, now: dt.datetime) -> str | None:
        """The local day whose digest is due now, or None."""
        local = now.astimezone(self.settings.zone)
        hours, minutes = (int(x) for x in self.settings.digest_time.split(":"))
        if (local.hour, local.minute) < (hours, minutes):
            return None
        day = local.date().isoformat()
        return None if self._digest_state().get("last_day") == day else day

    def _digest_state(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.digest_state.read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def send_digests(self, day: str | None = None) -> int:
        """Queue the digest of everything listed since the last one; return how many mails."""
        now = self.clock()
        day = day or now.astimezone(self.settings.zone).date().isoformat()
        if self.claims is not None:
            return self._send_shared_digest(day, now)
        with self._lock:
            try:
                lines = self.digest_list.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                lines = []
        state = self._digest_state()
        run = int(state.get("runs", 0)) + 1
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue  # a torn last line
        queued = self._queue_digests(entries, day, run, now) if entries else 0
        with self._lock:  # drop what this digest covered, keep what came meanwhile
            try:
                current = self.digest_list.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                current = []
            rest = "".join(line + "\n" for line in current[len(lines) :])
            write_durably(self.digest_list, rest.encode("utf-8"), self.queue.tmp)
            write_durably(self.digest_state, json.dumps({"last_day": day, "runs": run}).encode(), self.queue.tmp)
        log.info("digest %s: %d mails queued for %d posts", day, queued, len(entries))
        self._wake.set()
        return queued

    def _send_shared_digest(self, day: str, now: dt.datetime) -> int:
        """With claims: the day's digest of every post either gateway mailed, by the one that claims it."""
        assert self.claims is not None
        shared = digest_entries(self.claims, day)
        if shared is None:
            log.warning("digest %s: the remote cannot be reached; tried again shortly", day)
            return 0
        entries, mine = shared
        queued = self._queue_digests(entries, day, 1, now) if mine and entries else 0  # (run 1: one a day)
        write_durably(self.digest_state, json.dumps({"last_day": day, "runs": 1}).encode(), self.queue.tmp)
        if mine:
            log.info("digest %s: %d mails queued for %d posts", day, queued, len(entries))
        self._wake.set()
        return queued

    def _queue_digests(self, entries: list[dict[str, Any]], day: str, run: int, now: dt.datetime) -> int:
        model = self.model()
        people = model.people
        per_person: dict[str, list[DigestItem]] = {}
        addresses: dict[str, str] = {}
        for slug in dict.fromkeys(e["community"] for e in entries):
            community = model.communities.get(slug)
            if community is None:
                continue
            items = []
            for e in (e for e in entries if e["community"] == slug):
                post = self.read_post(slug, e["relpath"], e["message_id"])
                # As it is now; with claims the other gateway's post may not be in this checkout yet: as mailed.
                text = excerpt(post.body, DIGEST_EXCERPT) if post is not None else None
                if text is None and self.claims is not None:
                    text = e.get("excerpt")
                if text is not None:
                    items.append(DigestItem(community, text, e["title"], e["topic_src"], e["author"], e["new_topic"]))
            for person, address in recipients(community, people, "digest", None, {}):
                per_person.setdefault(person.handle, []).extend(items)
                addresses[person.handle] = address
        queued = 0
        for handle, items in per_person.items():
            groups = [items] if self.settings.digest_combined else _by_community(items)
            for group in groups:
                if not group:
                    continue
                first = group[0].community
                slug = first.slug if not self.settings.digest_combined else "all"
                message_id = f"<digest.{day}.{run}.{slug}.{handle}@{self.settings.mail_domain}>"
                message = digest_mail(
                    items=group,
                    recipient=addresses[handle],
                    settings=self.settings,
                    secret=self.secret,
                    message_id=message_id,
                    now=now,
                    day=day,
                )
                envelope = Outgoing(
                    mail_from=bounce_address(self.secret, first, self.settings, addresses[handle]),
                    rcpt=addresses[handle],
                    kind="digest",
                    community=first.slug,
                    message_id=message_id,
                )
                queued += self.queue.enqueue(message, envelope)
        return queued

    # -- delivery failures ------------------------------------------------------------

    def _refused(self, envelope: Outgoing, reply: str) -> None:
        if envelope.kind in ("post", "digest", "probe") and self.on_refused is not None:
            self.on_refused(envelope.rcpt, reply)

    # -- running ----------------------------------------------------------------------

    def run_once(self) -> bool:
        worked = self.run_jobs(self.stopping) > 0
        worked = self.delivery.run_once(self.stopping) > 0 or worked
        return worked

    def pass_once(self) -> bool:
        now = self.clock()
        if self._pruned is None or now - self._pruned >= PRUNE_EVERY:
            self._pruned = now
            self.queue.prune(dt.timedelta(days=self.settings.redelivery_days), now)
            if self.claims is not None:
                for kind in ("fanout", "digest", "reminder", "report"):
                    self.claims.prune(kind, now.date(), self.settings.redelivery_days)
        day = self.digest_due(self.clock())
        if day:
            self.send_digests(day)
        if remind(self) | self.reports.pass_once(self.clock(), self.claims):  # (both: each sends its own)
            self._wake.set()
        return self.run_once()


def digest_entry(slug: str, thread: Thread, author: str) -> dict[str, Any]:
    """What a digest lists of a post that was mailed (a line of ``digest.jsonl``, or a fan-out claim)."""
    return {
        "community": slug,
        "message_id": thread.post.message_id,
        "relpath": thread.post.relpath,
        "title": thread.title,
        "topic_src": thread.src,
        "author": author,
        "new_topic": thread.post is thread.root,
        "excerpt": excerpt(thread.post.body, DIGEST_EXCERPT),
    }


def _job_key(community: str, message_id: str) -> str:
    """A post's fan-out in a community: its name in ``fanned/``."""
    return message_key(message_id)[:32] + "-" + community


def _references(topic: Topic, post: Post) -> list[str]:
    """The chain of Message-IDs from the topic's first post down to ``post``'s parent."""
    by_id = {p.message_id: p for p in topic.posts}
    chain: list[str] = []
    current = post.in_reply_to
    while current and current in by_id and current not in chain and len(chain) < 50:
        chain.append(current)
        current = by_id[current].in_reply_to
    if topic.root.message_id not in chain and post.message_id != topic.root.message_id:
        chain.append(topic.root.message_id)
    return list(reversed(chain))


def _by_community(items: list[DigestItem]) -> list[list[DigestItem]]:
    groups: dict[str, list[DigestItem]] = {}
    for item in items:
        groups.setdefault(item.community.slug, []).append(item)
    return list(groups.values())
