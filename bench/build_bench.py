"""Build benchmark: the intranet build against plain MkDocs on the same Markdown.

What it measures, in one process run:

1. **Generation** - writes a synthetic intranet into a temporary folder:
   ``--topics N`` topics over 8 communities (unevenly, like real ones), each
   topic 1 + 1..12 replies (skewed towards short threads, about 6 posts per
   topic on average), ~200 people (staff, partners, suppliers), bodies of 2-6
   paragraphs with some lists, links and emphasis, quoted text and signatures
   (as :func:`intranet.format.join_body` sections), a few tags, and a small
   attachment on about every 50th post. Posts are written with
   ``Post(...).to_text()`` at ``post_relpath(...)``, in worker processes. The
   repository's ``mkdocs.yml`` is the intranet's config. In the same pass a
   *plain* MkDocs project gets the same content: one page per topic (every
   post with its subject, author and date as headings, the body Markdown as
   written, quoted text as a blockquote), one index page per community
   linking its topics, a home page, and a page per person.
2. **Intranet build** - ``generator.mkdocs_adapter.build_site(root, site)``.
3. **Plain MkDocs build** - ``mkdocs.commands.build.build`` on the plain
   project: the same theme settings (Material) and Markdown extensions as the
   intranet's ``mkdocs.yml`` and the ``search`` plugin. ``--plain-nav
   indexes`` (the default) gives it a nav of the home, community and people
   index pages only, with topics left out of the nav, as a careful MkDocs user
   would set it up; ``--plain-nav auto`` leaves the nav to MkDocs, which puts
   every page in it, as a naive site would. The intranet build writes one
   tree per audience, so for the same pages the plain project is built once
   per tree, each time without the communities that tree does not show, and
   the ratio is taken against the sum.

It prints, per phase, seconds, pages, the size of ``search/search_index.json``
and the peak RSS of this process (``ru_maxrss`` is process-wide and never goes
down, so each figure is the peak *so far*; generation runs in worker
processes, whose peak is shown separately), then the intranet/plain ratio.

Run it with the project's environment, from the repository root::

    python bench/build_bench.py --topics 1000
    timeout 1500 python bench/build_bench.py --topics 10000 --seed 7
    python bench/build_bench.py --topics 10000 --skip-plain --keep /tmp/bench-10k

Beware of the plain build at large sizes: Material renders the whole automatic
nav into every page, so its time and its site grow with pages squared (about
0.5 GB of HTML at 1,000 topics, 3.7 MB per page and some 38 GB at 10,000,
where it takes around half an hour on two cores). Under ``timeout`` the
SIGTERM is caught and the phases that did finish are still reported.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from generator.builder import build_site
from intranet.format import Attachment, Author, Post, attachments_dir, post_relpath

REPO = Path(__file__).resolve().parent.parent
UTC = dt.UTC
START = dt.datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
SPAN_HOURS = 3 * 365 * 24  # topics start within three years
TOPICS_PER_JOB = 100
WORKERS_PER_CPU = 2  # writing many small files is I/O-bound: overlap it
PEOPLE = 200
ATTACHMENT_EVERY = 50  # one post in this many carries a small attachment
EXTERNAL_AUTHOR_SHARE = 0.04  # posts from an address not in people/

# --------------------------------------------------------------------------
# Fixed vocabulary of the synthetic intranet

COMMUNITIES: tuple[tuple[str, str, float, tuple[str, ...]], ...] = (
    # slug, name, share of topics, community tags
    ("clinical-handover", "Clinical Handover", 0.22, ("handover", "nursing", "isbar")),
    ("medication-safety", "Medication Safety Leads", 0.17, ("medication", "incidents", "pharmacy")),
    ("infection-prevention", "Infection Prevention", 0.14, ("ipc", "hand-hygiene", "outbreaks")),
    ("teaching-learning", "Teaching & Learning", 0.12, ("placements", "simulation", "students")),
    ("procurement", "Procurement", 0.11, ("suppliers", "stock", "recalls")),
    ("disability-support", "Disability Support", 0.10, ("pbs", "restrictive-practice", "ndis")),
    ("digital-health", "Digital Health", 0.08, ("ehr", "devices", "training")),
    ("research-ethics", "Research & Ethics", 0.06, ("ethics", "consent", "audit")),
)
GENERAL_TAGS = ("question", "policy", "urgent", "template", "meeting", "feedback", "rural", "night-shift")

ORGANISATIONS = {
    "staff": ("Northfield Health", "Northfield College"),
    "partner": (
        "Coop Nursing",
        "Riverside Aged Care",
        "Hillview GP Network",
        "City Ambulance",
        "Open University Nursing",
    ),
    "supplier": ("MediSupply", "CareTech Systems", "CleanCo Hygiene", "PharmaLink"),
}
KIND_SHARES = (("staff", 0.6), ("partner", 0.25), ("supplier", 0.15))
ROLES = (
    "Charge nurse",
    "Clinical educator",
    "Pharmacist",
    "Ward manager",
    "Support worker",
    "Lecturer",
    "Infection control nurse",
    "Account manager",
    "Procurement officer",
    "Registrar",
    "Allied health lead",
    "Quality coordinator",
    "Student placement lead",
)
FIRST = (
    "Ann",
    "Bo",
    "Carla",
    "Dev",
    "Elif",
    "Femi",
    "Grace",
    "Hiro",
    "Ines",
    "Jon",
    "Kai",
    "Lena",
    "Mo",
    "Nia",
    "Omar",
    "Pia",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Uma",
    "Vik",
    "Wen",
    "Xavi",
    "Yara",
    "Zoe",
)
LAST = (
    "Lee",
    "Chen",
    "Okafor",
    "Patel",
    "Novak",
    "Garcia",
    "Smith",
    "Kowalski",
    "Nguyen",
    "Haddad",
    "Murphy",
    "Rossi",
    "Tanaka",
    "Silva",
    "Berg",
    "Khan",
    "Walsh",
    "Moreau",
    "Ivanova",
    "Jensen",
)
WORDS = """
patient patients ward shift handover night day team nurse nurses doctor pharmacist medication
dose doses chart charts policy procedure audit incident report reports risk safety review form
forms checklist training session sessions student students placement placements supervisor
feedback meeting agenda minutes rota roster staff partner supplier stock order delivery invoice
glove gloves mask masks sanitiser pump pumps device devices system login record records access
update updates change changes trial pilot evidence guideline guidelines template version draft
consent ethics family families carer carers discharge admission transfer referral community
clinic outpatient theatre bed beds escalation deterioration observation observations score
allergy allergies reconciliation error errors near miss learning outcome outcomes plan plans
support behaviour restrictive practice reporting quality improvement project timeline budget
weekly monthly quarterly region site sites campus library module assessment simulation debrief
the a an of to in on for with about from by at and or but so because when while after before
we you they our your their this that these those it is are was were will would could should
can may might need needs needed have has had do does did please thanks thank hello hi agree
think suggest propose noticed found shared attached checked asked wondering useful helpful
clear unclear new old current previous next first last quick short long early late busy quiet
""".split()
LINK_HOSTS = ("https://www.example.org", "https://guidance.example.net", "https://intranet.example.com")
ATTACHMENT_KINDS = (
    ("pdf", "application/pdf", "Handover checklist"),
    ("csv", "text/csv", "Audit results"),
    ("txt", "text/plain", "Meeting notes"),
    ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Draft policy"),
)


@dataclass(frozen=True)
class CommunitySpec:
    slug: str
    name: str
    weight: float
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PersonSpec:
    handle: str
    name: str
    kind: str
    organisation: str
    role: str
    expertise: tuple[str, ...]

    @property
    def email(self) -> str:
        domain = re.sub(r"[^a-z]+", "", self.organisation.lower())
        return f"{self.handle}@{domain}.example.org"


@dataclass(frozen=True)
class Job:
    """A range of topics for one worker process to write."""

    root: Path
    plain_docs: Path | None
    seed: int
    start: int
    stop: int
    people: tuple[PersonSpec, ...]
    posts_per_topic: float = 6.0


@dataclass(frozen=True)
class TopicSummary:
    """What the index pages of the plain project need to know of a topic."""

    community: str
    page: str  # file name of its page in the plain project
    title: str
    posts: int
    attachments: int
    markdown_bytes: int


# --------------------------------------------------------------------------
# Text


class Text:
    """Word salad of the right shape: sentences, paragraphs, lists and links."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def words(self, low: int, high: int) -> list[str]:
        return self.rng.choices(WORDS, k=self.rng.randint(low, high))

    def sentence(self) -> str:
        words = self.words(6, 18)
        for i in self.rng.sample(range(len(words)), k=min(len(words), self.rng.choice((0, 0, 0, 1)))):
            words[i] = self.rng.choice((f"**{words[i]}**", f"*{words[i]}*", f"`{words[i]}`"))
        text = " ".join(words)
        return text[0].upper() + text[1:] + self.rng.choice(".....?!")

    def paragraph(self) -> str:
        sentences = [self.sentence() for _ in range(self.rng.randint(2, 6))]
        if self.rng.random() < 0.15:
            host = self.rng.choice(LINK_HOSTS)
            label = " ".join(self.words(2, 4))
            sentences.insert(
                self.rng.randrange(len(sentences) + 1), f"See [{label}]({host}/{'-'.join(self.words(1, 3))})."
            )
        if self.rng.random() < 0.05:
            sentences.append(f"{self.rng.choice(LINK_HOSTS)}/docs/{self.rng.randint(100, 9999)}")
        return " ".join(sentences)

    def bullet_list(self) -> str:
        numbered = self.rng.random() < 0.3
        items = [" ".join(self.words(3, 10)) for _ in range(self.rng.randint(3, 6))]
        return "\n".join(f"{n}. {item}" if numbered else f"- {item}" for n, item in enumerate(items, start=1))

    def body(self) -> str:
        blocks = [self.paragraph() for _ in range(self.rng.randint(2, 6))]
        if self.rng.random() < 0.25:
            blocks.insert(self.rng.randint(1, len(blocks)), self.bullet_list())
        return "\n\n".join(blocks)

    def subject(self) -> str:
        words = " ".join(self.words(3, 8))
        return (
            self.rng.choice(("", "", "Question: ", "Help with ", "Update on ", "Proposal: "))
            + words[0].upper()
            + words[1:]
        )


def quote(text: str, intro: str) -> str:
    """Quoted text as a mail client writes it: an intro line, then ``> `` lines."""
    lines = [f"> {line}" if line else ">" for line in text.splitlines()]
    return f"{intro}\n" + "\n".join(lines)


def signature(person: PersonSpec | None, author: Author, rng: random.Random) -> str:
    if person is None:
        return author.name
    lines = [person.name, f"{person.role}, {person.organisation}"]
    if rng.random() < 0.2:
        lines.append("Sent from my phone")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# People and communities


def make_people(rng: random.Random, count: int = PEOPLE) -> tuple[PersonSpec, ...]:
    people: list[PersonSpec] = []
    handles: set[str] = set()
    kinds = [kind for kind, _ in KIND_SHARES]
    weights = [share for _, share in KIND_SHARES]
    while len(people) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = f"{first}.{last}".lower()
        n = 2
        while handle in handles:
            handle, n = f"{first}.{last}{n}".lower(), n + 1
        handles.add(handle)
        kind = rng.choices(kinds, weights)[0]
        expertise = tuple(rng.sample([t for c in COMMUNITIES for t in c[3]], k=rng.randint(0, 3)))
        people.append(
            PersonSpec(handle, f"{first} {last}", kind, rng.choice(ORGANISATIONS[kind]), rng.choice(ROLES), expertise)
        )
    return tuple(people)


def community_specs() -> tuple[CommunitySpec, ...]:
    return tuple(CommunitySpec(slug, name, weight, tags) for slug, name, weight, tags in COMMUNITIES)


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def write_intranet_skeleton(root: Path, people: Sequence[PersonSpec], rng: random.Random) -> None:
    """``mkdocs.yml``, ``people/*.yml`` and ``communities/*/community.yml``."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "mkdocs.yml", root / "mkdocs.yml")
    for person in people:
        data: dict[str, Any] = {
            "name": person.name,
            "emails": [person.email],
            "kind": person.kind,
            "organisation": person.organisation,
            "role": person.role,
        }
        if person.expertise:
            data["expertise"] = list(person.expertise)
        write_yaml(root / "people" / f"{person.handle}.yml", data)
    staff = [p.handle for p in people if p.kind == "staff"]
    for spec in community_specs():
        audience = ["staff", "suppliers"] if spec.slug == "procurement" else ["staff", "partners"]
        write_yaml(
            root / "communities" / spec.slug / "community.yml",
            {
                "name": spec.name,
                "purpose": f"Sharing practice on {spec.name.lower()} across the network.",
                "moderators": rng.sample(staff, k=2),
                "audience": audience,
                "tags": list(spec.tags),
            },
        )


# --------------------------------------------------------------------------
# Topics: one worker writes a range of them, into both trees


def topic_posts(
    seed: int, index: int, people: Sequence[PersonSpec], posts_per_topic: float = 6.0
) -> tuple[CommunitySpec, list[Post], dict[str, bytes]]:
    """The posts of topic ``index`` (deterministic per seed and index) and attachment bytes by post path."""
    rng = random.Random(f"{seed}:{index}")
    text = Text(rng)
    communities = community_specs()
    community = rng.choices(communities, [c.weight for c in communities])[0]
    scale = (posts_per_topic - 1) / 5  # triangular(1, 12, 2) has mean 5 replies
    replies = round(rng.triangular(1, 12, 2) * scale)
    subject = text.subject()
    tags = rng.sample(community.tags + GENERAL_TAGS, k=rng.choice((0, 1, 1, 2, 3)))
    date = START + dt.timedelta(hours=rng.uniform(0, SPAN_HOURS))
    root_id = f"<t{index}.s{seed}@bench.example.org>"
    posts: list[Post] = []
    files: dict[str, bytes] = {}
    for n in range(replies + 1):
        message_id = root_id if n == 0 else f"<t{index}.r{n}.s{seed}@bench.example.org>"
        parent = None if n == 0 else (posts[-1] if rng.random() < 0.7 else rng.choice(posts))
        author, person = pick_author(rng, people)
        relpath = post_relpath(community.slug, message_id)
        attachments = []
        body = text.body()
        if rng.random() < 1 / ATTACHMENT_EVERY:
            attachment, data = make_attachment(rng)
            attachments.append(attachment)
            files[relpath] = data
            body += f"\n\nI have attached the {attachment.name}."
        posts.append(
            Post(
                community=community.slug,
                relpath=relpath,
                message_id=message_id,
                topic=root_id,
                in_reply_to=parent.message_id if parent else None,
                author=author,
                date=date,
                subject=subject if parent is None else f"Re: {subject}",
                source="smtp",
                tags=tags if n == 0 else ([rng.choice(GENERAL_TAGS)] if rng.random() < 0.05 else []),
                attachments=attachments,
                body=body,
                quoted=quoted_text(parent, people) if parent and rng.random() < 0.6 else "",
                signature=signature(person, author, rng) if rng.random() < 0.5 else "",
            )
        )
        date += dt.timedelta(hours=rng.expovariate(1 / 8))
    return community, posts, files


def pick_author(rng: random.Random, people: Sequence[PersonSpec]) -> tuple[Author, PersonSpec | None]:
    if rng.random() < EXTERNAL_AUTHOR_SHARE:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        return Author(name=f"{first} {last}", email=f"{first}.{last}@mail.example.com".lower()), None
    person = rng.choice(people)
    return Author(handle=person.handle), person


def author_name(author: Author, people: dict[str, PersonSpec]) -> str:
    if author.handle and author.handle in people:
        return people[author.handle].name
    return author.name or author.handle or "Unknown"


def quoted_text(parent: Post, people: Sequence[PersonSpec]) -> str:
    first_paragraph = parent.body.split("\n\n", 1)[0]
    name = author_name(parent.author, {p.handle: p for p in people})
    return quote(first_paragraph, f"On {parent.date:%a %d %b %Y at %H:%M}, {name} wrote:")


def make_attachment(rng: random.Random) -> tuple[Attachment, bytes]:
    ext, mime, label = rng.choice(ATTACHMENT_KINDS)
    data = bytes(rng.getrandbits(8) for _ in range(rng.randint(200, 4000)))
    name = f"{label} v{rng.randint(1, 5)}.{ext}"
    return Attachment(file=f"att-1.{ext}", name=name, type=mime, size=len(data)), data


class DirCache:
    """``mkdir -p`` each folder once."""

    def __init__(self) -> None:
        self.made: set[Path] = set()

    def ensure(self, folder: Path) -> Path:
        if folder not in self.made:
            folder.mkdir(parents=True, exist_ok=True)
            self.made.add(folder)
        return folder


def write_intranet_topic(root: Path, posts: list[Post], files: dict[str, bytes], dirs: DirCache) -> None:
    for post in posts:
        path = root / post.relpath
        dirs.ensure(path.parent)
        path.write_text(post.to_text(), encoding="utf-8")
        for attachment in post.attachments:
            folder = dirs.ensure(attachments_dir(path))
            (folder / attachment.file).write_bytes(files[post.relpath])


def plain_topic_markdown(posts: list[Post], people: dict[str, PersonSpec], files_prefix: str) -> str:
    """One page with every post of a topic, as a plain MkDocs user might write it."""
    out = [f"# {posts[0].subject}\n"]
    for post in posts:
        out.append(f"## {post.subject}\n")
        out.append(f"### {author_name(post.author, people)} · {post.date:%d %b %Y %H:%M}\n")
        out.append(post.body.rstrip() + "\n")
        if post.quoted:
            out.append("\n".join(f"> {line}" if line else ">" for line in post.quoted.splitlines()) + "\n")
        if post.signature:
            out.append(post.signature + "\n")
        for attachment in post.attachments:
            out.append(f"Attachment: [{attachment.name}]({files_prefix}/{post.key}/{attachment.file})\n")
    return "\n".join(out)


def write_plain_topic(
    docs: Path, index: int, posts: list[Post], files: dict[str, bytes], people: dict[str, PersonSpec], dirs: DirCache
) -> tuple[str, int]:
    community = posts[0].community
    page = f"{index:06d}-{slugify(posts[0].subject)[:50].rstrip('-')}.md"
    text = plain_topic_markdown(posts, people, "files")
    (dirs.ensure(docs / community) / page).write_text(text, encoding="utf-8")
    for post in posts:
        for attachment in post.attachments:
            (dirs.ensure(docs / community / "files" / post.key) / attachment.file).write_bytes(files[post.relpath])
    return page, len(text.encode("utf-8"))


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "topic"


def run_job(job: Job) -> list[TopicSummary]:
    """Worker: write topics ``job.start`` to ``job.stop`` into both trees."""
    dirs = DirCache()
    people = {p.handle: p for p in job.people}
    summaries = []
    for index in range(job.start, job.stop):
        community, posts, files = topic_posts(job.seed, index, job.people, job.posts_per_topic)
        write_intranet_topic(job.root, posts, files, dirs)
        page, size = ("", 0)
        if job.plain_docs is not None:
            page, size = write_plain_topic(job.plain_docs, index, posts, files, people, dirs)
        summaries.append(TopicSummary(community.slug, page, posts[0].subject, len(posts), len(files), size))
    return summaries


def write_topics(
    root: Path,
    plain_docs: Path | None,
    seed: int,
    topics: int,
    people: tuple[PersonSpec, ...],
    posts_per_topic: float = 6.0,
) -> list[TopicSummary]:
    jobs = [
        Job(root, plain_docs, seed, start, min(start + TOPICS_PER_JOB, topics), people, posts_per_topic)
        for start in range(0, topics, TOPICS_PER_JOB)
    ]
    workers = min(WORKERS_PER_CPU * (os.cpu_count() or 1), len(jobs))
    if workers <= 1:
        return [s for job in jobs for s in run_job(job)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return [s for chunk in pool.map(run_job, jobs) for s in chunk]


# --------------------------------------------------------------------------
# The plain MkDocs project's other pages and config


def write_plain_project(
    project: Path, summaries: list[TopicSummary], people: Sequence[PersonSpec], nav: str = "indexes"
) -> int:
    """Index pages, people pages and ``mkdocs.yml``; return the number of pages (topics included)."""
    docs = project / "docs"
    repo_config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config = {
        "site_name": repo_config["site_name"],
        "theme": repo_config["theme"],
        "markdown_extensions": repo_config.get("markdown_extensions", []),
        "plugins": ["search"],
    }
    if nav == "indexes":
        config["nav"] = [
            {"Home": "index.md"},
            {"Communities": [{spec.name: f"{spec.slug}/index.md"} for spec in community_specs()]},
            {"People": "people/index.md"},
        ]
    write_yaml(project / "mkdocs.yml", config)
    by_community: dict[str, list[TopicSummary]] = {c.slug: [] for c in community_specs()}
    for summary in summaries:
        by_community[summary.community].append(summary)
    pages = len(summaries)
    home = [f"# {config['site_name']}\n", "## Communities\n"]
    for spec in community_specs():
        topics = by_community[spec.slug]
        home.append(f"- [{spec.name}]({spec.slug}/index.md): {len(topics)} topics")
        lines = [f"# {spec.name}\n", f"{len(topics)} topics, {sum(t.posts for t in topics)} posts.\n"]
        lines += [f"- [{t.title}]({t.page}) ({t.posts} posts)" for t in topics]
        (docs / spec.slug).mkdir(parents=True, exist_ok=True)
        (docs / spec.slug / "index.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
        pages += 1
    home.append("\n## People\n\n[Everyone](people/index.md)\n")
    (docs / "index.md").write_text("\n".join(home) + "\n", encoding="utf-8")
    return pages + 1 + write_plain_people(docs / "people", people)


def write_plain_people(folder: Path, people: Sequence[PersonSpec]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    index = ["# People\n"]
    for person in sorted(people, key=lambda p: p.name):
        index.append(f"- [{person.name}]({person.handle}.md), {person.role}, {person.organisation}")
        lines = [
            f"# {person.name}\n",
            f"**{person.role}**, {person.organisation} ({person.kind})\n",
            f"Email: <{person.email}>\n",
        ]
        if person.expertise:
            lines.append("Expertise: " + ", ".join(person.expertise) + "\n")
        (folder / f"{person.handle}.md").write_text("\n".join(lines), encoding="utf-8")
    (folder / "index.md").write_text("\n".join(index) + "\n", encoding="utf-8")
    return len(people) + 1


# --------------------------------------------------------------------------
# Phases and measurement


@dataclass
class Phase:
    name: str
    seconds: float
    pages: int | None = None
    topics: int | None = None
    posts: int | None = None
    index_bytes: int | None = None
    peak_rss_mb: float = 0.0
    problems: int = 0
    finished: bool = True  # False: stopped by SIGTERM (e.g. `timeout`) before the end


@dataclass
class Generated:
    root: Path
    plain: Path | None
    summaries: list[TopicSummary]
    plain_pages: int
    children_peak_rss_mb: float

    @property
    def posts(self) -> int:
        return sum(s.posts for s in self.summaries)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def search_index_bytes(site: Path) -> int | None:
    """Bytes of the search index: Material's one file, or all of the intranet's shards."""
    folder = site / "search"
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else None


def generate(
    workdir: Path, topics: int, seed: int, with_plain: bool, nav: str = "indexes", posts_per_topic: float = 6.0
) -> Generated:
    rng = random.Random(seed)
    root = workdir / "intranet"
    plain = workdir / "plain" if with_plain else None
    people = make_people(rng)
    write_intranet_skeleton(root, people, rng)
    summaries = write_topics(root, plain / "docs" if plain else None, seed, topics, people, posts_per_topic)
    plain_pages = write_plain_project(plain, summaries, people, nav) if plain else 0
    return Generated(root, plain, summaries, plain_pages, peak_rss_mb(resource.RUSAGE_CHILDREN))


def build_intranet(root: Path) -> Phase:
    started = time.perf_counter()
    result = build_site(root, root / "site")
    seconds = time.perf_counter() - started
    return Phase(
        "intranet build (build_site)",
        seconds,
        pages=result.pages,
        topics=result.counts["topics"],
        posts=result.counts["posts"],
        index_bytes=search_index_bytes(result.site_dir / "staff"),
        peak_rss_mb=peak_rss_mb(),
        problems=len(result.problems),
    )


def build_plain(project: Path, generated: Generated, tree: str = "", communities: list[str] | None = None) -> Phase:
    """Plain ``mkdocs build`` of the plain project, or of the part of it one audience tree shows."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    started = time.perf_counter()
    overrides: dict[str, Any] = {"site_dir": str(project / f"site-{tree or 'all'}")}
    pages = generated.plain_pages
    if communities is not None:
        hidden = sorted({s.community for s in generated.summaries} - set(communities))
        overrides["exclude_docs"] = "".join(f"/{slug}/\n" for slug in hidden)
        pages -= sum(1 for s in generated.summaries if s.community in hidden)
    config = load_config(config_file=str(project / "mkdocs.yml"), **overrides)
    build(config)
    seconds = time.perf_counter() - started
    return Phase(
        f"plain mkdocs build ({tree})" if tree else "plain mkdocs build",
        seconds,
        pages=pages,
        topics=len(generated.summaries),
        posts=generated.posts,
        index_bytes=search_index_bytes(project / f"site-{tree or 'all'}"),
        peak_rss_mb=peak_rss_mb(),
    )


class Stopped(BaseException):
    """SIGTERM arrived (``timeout`` ran out) during a build."""


def stop_on_sigterm() -> None:
    """Turn SIGTERM into :class:`Stopped`, so the phases that finished are still reported."""

    def handler(signum: int, frame: Any) -> None:
        raise Stopped

    signal.signal(signal.SIGTERM, handler)


def run_phase(name: str, run: Callable[[], Phase]) -> Phase:
    print(f"{name} ...", flush=True)
    started = time.perf_counter()
    try:
        phase = run()
    except Stopped:
        phase = Phase(name, time.perf_counter() - started, peak_rss_mb=peak_rss_mb(), finished=False)
    state = "" if phase.finished else " (stopped by SIGTERM, not finished)"
    print(f"  {phase.seconds:.1f} s{state}, peak RSS {phase.peak_rss_mb:.0f} MB", flush=True)
    return phase


def quiet_mkdocs() -> None:
    """Hide MkDocs' INFO messages; warnings still show."""
    for name in ("mkdocs", "material"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def workspace(keep: Path | None) -> Iterator[Path]:
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="intranet-bench-") as tmp:
            yield Path(tmp)
        return
    keep.mkdir(parents=True, exist_ok=True)
    for name in ("intranet", "plain"):
        if (keep / name).exists():
            raise SystemExit(f"{keep / name} already exists; choose an empty --keep folder")
    yield keep


# --------------------------------------------------------------------------
# Report


def fmt(value: float | int | None, spec: str = ",") -> str:
    return "-" if value is None else format(value, spec)


def mb(size: int | None) -> str:
    return "-" if size is None else f"{size / 1_000_000:.1f} MB"


def revision() -> str:
    """``git describe`` of the code measured (``-dirty``: uncommitted changes)."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def print_table(args: argparse.Namespace, code: str, generated: Generated, phases: list[Phase]) -> None:
    s = generated.summaries
    markdown_mb = sum(t.markdown_bytes for t in s) / 1_000_000
    print()
    print(
        f"Build benchmark: --topics {args.topics} --seed {args.seed} --plain-nav {args.plain_nav}"
        f"   (code {code}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs)"
    )
    print(
        f"Content: {len(COMMUNITIES)} communities, {len(s):,} topics, {generated.posts:,} posts, {PEOPLE} people, "
        f"{sum(t.attachments for t in s):,} attachments"
        + (f", {markdown_mb:.1f} MB of topic Markdown (plain)" if generated.plain else "")
    )
    header = f"{'phase':<30}{'seconds':>9}{'topics':>9}{'posts':>9}{'pages':>9}{'search index':>15}{'peak RSS':>11}"
    print()
    print(header)
    print("-" * len(header))
    for phase in phases:
        seconds = f"{phase.seconds:.2f}" if phase.finished else f">{phase.seconds:.1f}"
        print(
            f"{phase.name:<30}{seconds:>9}{fmt(phase.topics):>9}{fmt(phase.posts):>9}{fmt(phase.pages):>9}"
            f"{mb(phase.index_bytes):>15}{phase.peak_rss_mb:>8.0f} MB"
        )
    print("-" * len(header))
    by_name = {p.name: p for p in phases}
    intranet = by_name.get("intranet build (build_site)")
    plains = [p for p in phases if p.name.startswith("plain mkdocs build")]
    if intranet and plains and intranet.finished:
        bound = "" if all(p.finished for p in plains) else "< "
        total = sum(p.seconds for p in plains)
        print(
            f"ratio intranet / plain build time, same pages (plain: one build per tree, {total:.1f} s in all): "
            f"{bound}{intranet.seconds / total:.2f}x"
        )
    for phase in phases:
        if not phase.finished:
            print(f"NOT FINISHED: {phase.name} was stopped by SIGTERM after {phase.seconds:.0f} s")
    if intranet and intranet.problems:
        print(f"WARNING: the intranet build reported {intranet.problems} content problem(s)")
    workers = generated.children_peak_rss_mb
    print(
        "Peak RSS is this process's ru_maxrss so far (process-wide; it never goes down)"
        + (f"; the generation worker processes peaked at {workers:.0f} MB." if workers else ".")
    )


# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--topics", type=int, default=1000, help="number of topics to generate (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--posts-per-topic", type=float, default=6.0, help="average posts per topic (default 6; 10 for 100k posts)"
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="generate into DIR and keep it (DIR/intranet, DIR/plain)"
    )
    parser.add_argument("--skip-plain", action="store_true", help="do not generate or build the plain MkDocs project")
    parser.add_argument(
        "--plain-nav",
        choices=("indexes", "auto"),
        default="indexes",
        help="plain project's nav: index pages only (default) or MkDocs' automatic nav of every page",
    )
    args = parser.parse_args(argv)
    if args.topics < 1:
        parser.error("--topics must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    code = revision()  # now: the repository may change while this runs
    quiet_mkdocs()
    with workspace(args.keep) as workdir:
        print(f"Generating {args.topics:,} topics in {workdir} ...", flush=True)
        started = time.perf_counter()
        generated = generate(workdir, args.topics, args.seed, not args.skip_plain, args.plain_nav, args.posts_per_topic)
        phases = [
            Phase(
                "generate content",
                time.perf_counter() - started,
                topics=len(generated.summaries),
                posts=generated.posts,
                peak_rss_mb=peak_rss_mb(),
            )
        ]
        print(f"  {phases[-1].seconds:.1f} s", flush=True)
        stop_on_sigterm()
        phases.append(run_phase("intranet build (build_site)", lambda: build_intranet(generated.root)))
        plain = generated.plain
        if plain is not None and phases[-1].finished:
            # The same pages as the intranet build: one plain build per audience tree, of what that tree shows.
            trees = json.loads((generated.root / "site" / "trees.json").read_text())["trees"]
            for name, tree in trees.items():
                phases.append(
                    run_phase(
                        f"plain mkdocs build ({name})",
                        lambda name=name, tree=tree: build_plain(plain, generated, name, tree["communities"]),
                    )
                )
                if not phases[-1].finished:
                    break
        print_table(args, code, generated, phases)
    return 0 if all(p.finished for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
