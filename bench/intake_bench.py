"""Intake benchmark: mail over SMTP into a repository of about 100,000 posts.

What it does, in one run:

1. **Generation** - a synthetic intranet as a Git repository: the people,
   communities and posts of :mod:`build_bench` (``--posts`` posts, about six
   to a topic, in the real post format), written straight into Git's object
   store by ``git fast-import`` (one commit per ``TOPICS_PER_COMMIT`` topics,
   like a history of editors' imports), then checked out. Each community gets
   ``--subscribers`` subscribers, so the notifier fans every post out as it
   would in use. ``--template DIR`` keeps the generated repository in DIR and
   copies it on later runs instead of generating it again.
2. **Intake** - starts ``intranet gateway`` as a subprocess on loopback,
   sends one message and waits for it (on a first start the worker reads
   every post before it can thread a reply: that time is printed apart), then
   sends ``--messages`` messages (new topics, and replies to topics of the
   corpus) from ``--clients`` concurrent SMTP clients (threads with
   smtplib, one connection each, as an MTA delivers its queue), all from
   known staff, then waits until every message has an outcome on record.
3. **Check** - counts the commits the gateway made and checks that each
   names one of the messages in its ``Message-ID:`` trailer and is
   authored by that message's sender, and that ``git status`` is clean.

It prints the time to generate and start, accepted messages per second at
SMTP (first 250 to last 250), committed posts per second sustained (first
250 to the last commit), the commits made and how many were authored by
their sender, the gateway's peak RSS (VmHWM), and its log's warnings.
It asserts nothing.

Run it with the project's environment, from the repository root::

    python bench/intake_bench.py                                  # 100,000 posts, 2,000 messages, 10 clients
    python bench/intake_bench.py --template /tmp/intake-100k      # keep the corpus for the next run
    python bench/intake_bench.py --posts 5000 --messages 300      # a quick look
    python bench/intake_bench.py --py-spy /tmp/gateway.svg        # profile the gateway while it works
    python bench/intake_bench.py --up                             # inside `intranet up`: the site follows
"""

from __future__ import annotations

import argparse
import datetime as dt
import email.utils
import os
import random
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from proctree import Sampler

from intranet.format import Author, Post, path_key, post_relpath
from intranet.settings import read_settings
from mailgateway.spool import Records

REPO = Path(__file__).resolve().parent.parent
DOMAIN = "intranet.localhost"
TOPICS_PER_COMMIT = 500
TOPICS_PER_JOB = 250
NEW_TOPIC_SHARE = 0.3
IDENT = ("-c", "user.name=Bench Editor", "-c", "user.email=editor@bench.example.org")


def git(root: Path, *args: str, stdin: bytes | None = None) -> str:
    result = subprocess.run(["git", *IDENT, *args], cwd=root, check=True, capture_output=True, input=stdin)
    return result.stdout.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# Generation


COMMUNITIES = (  # slug, name, share of topics
    ("clinical-handover", "Clinical Handover", 0.22),
    ("medication-safety", "Medication Safety Leads", 0.17),
    ("infection-prevention", "Infection Prevention", 0.14),
    ("teaching-learning", "Teaching & Learning", 0.12),
    ("procurement", "Procurement", 0.11),
    ("disability-support", "Disability Support", 0.10),
    ("digital-health", "Digital Health", 0.08),
    ("research-ethics", "Research & Ethics", 0.06),
)
PEOPLE = 200
FIRST = "Ann Bo Carla Dev Elif Femi Grace Hiro Ines Jon Kai Lena Mo Nia Omar Pia Quinn Rosa Sam Tara".split()
LAST = "Lee Chen Okafor Patel Novak Garcia Smith Kowalski Nguyen Haddad Murphy Rossi Tanaka Silva Berg".split()
WORDS = """patient ward shift handover night team nurse doctor pharmacist medication dose chart policy
procedure audit incident report risk safety review form checklist training session student placement
feedback meeting agenda roster staff partner supplier stock order delivery glove mask pump device
system record access update change trial pilot evidence guideline template draft consent family carer
discharge admission transfer referral clinic bed escalation observation allergy error learning plan
the a of to in on for with about from by at and or but so when after before we you they our this that
it is are was will would could should can may need have has do please thanks think suggest found
useful clear new current next first last quick busy""".split()
START = 1_700_000_000  # topics of the corpus start here (November 2023) and spread over three years


@dataclass(frozen=True)
class TopicRef:
    community: str
    message_id: str
    subject: str


class Text:
    """Word salad of the shape of real posts: sentences, paragraphs, now and then a list."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def words(self, low: int, high: int) -> str:
        return " ".join(self.rng.choices(WORDS, k=self.rng.randint(low, high)))

    def sentence(self) -> str:
        text = self.words(6, 18)
        return text[0].upper() + text[1:] + self.rng.choice(".....?!")

    def body(self) -> str:
        blocks = [
            " ".join(self.sentence() for _ in range(self.rng.randint(2, 6))) for _ in range(self.rng.randint(1, 5))
        ]
        if self.rng.random() < 0.2:
            blocks.append("\n".join(f"- {self.words(3, 9)}" for _ in range(self.rng.randint(2, 5))))
        return "\n\n".join(blocks)

    def subject(self) -> str:
        text = self.words(3, 8)
        return self.rng.choice(("", "", "Question: ", "Update on ")) + text[0].upper() + text[1:]


def make_people(rng: random.Random) -> list[dict]:
    people: dict[str, dict] = {}
    while len(people) < PEOPLE:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        handle = f"{first}.{last}{len(people) % 7 or ''}".lower()
        kind = rng.choices(("staff", "partner", "supplier"), (0.6, 0.25, 0.15))[0]
        organisation = {"staff": "Northfield Health", "partner": "Coop Nursing", "supplier": "MediSupply"}[kind]
        people.setdefault(
            handle,
            {
                "name": f"{first} {last}",
                "emails": [f"{handle}@{organisation.split()[0].lower()}.example.org"],
                "kind": kind,
                "organisation": organisation,
            },
        )
    return [{"handle": handle, **data} for handle, data in people.items()]


def write_skeleton(root: Path, people: list[dict], rng: random.Random, subscribers: int) -> None:
    """``mkdocs.yml`` (the repository's own), ``people/*.yml``, ``communities/*/community.yml``."""
    shutil.copyfile(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    (root / "people").mkdir()
    for person in people:
        data = {k: v for k, v in person.items() if k != "handle"}
        (root / "people" / f"{person['handle']}.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    staff = [p["handle"] for p in people if p["kind"] == "staff"]
    for slug, name, _ in COMMUNITIES:
        folder = root / "communities" / slug
        folder.mkdir(parents=True)
        data = {
            "name": name,
            "purpose": f"Sharing practice on {name.lower()}.",
            "moderators": rng.sample(staff, k=2),
            "audience": ["staff", "suppliers"] if slug == "procurement" else ["staff", "partners"],
        }
        (folder / "community.yml").write_text(yaml.safe_dump(data, sort_keys=False))
        chosen = rng.sample(staff, k=min(subscribers, len(staff)))
        if chosen:
            (folder / "subscribers.yml").write_text(yaml.safe_dump({handle: "each" for handle in chosen}))


def topic_posts(seed: int, index: int, people: list[dict]) -> list[Post]:
    """The posts of topic ``index``: a first post and 1 to 12 replies (about six posts on average)."""
    rng = random.Random(f"{seed}:{index}")
    text = Text(rng)
    community = rng.choices([c[0] for c in COMMUNITIES], [c[2] for c in COMMUNITIES])[0]
    subject = text.subject()
    date = dt.datetime.fromtimestamp(START + rng.uniform(0, 3 * 365 * 86400), dt.UTC)
    root_id = f"<t{index}.s{seed}@bench.example.org>"
    posts: list[Post] = []
    for n in range(round(rng.triangular(1, 12, 2)) + 1):
        message_id = root_id if n == 0 else f"<t{index}.r{n}.s{seed}@bench.example.org>"
        parent = None if n == 0 else (posts[-1] if rng.random() < 0.7 else rng.choice(posts))
        person = rng.choice(people)
        quoted = ""
        if parent is not None and rng.random() < 0.6:
            quoted = "On an earlier day someone wrote:\n" + "\n".join(
                f"> {line}" for line in parent.body.split("\n\n", 1)[0].splitlines()
            )
        posts.append(
            Post(
                community=community,
                relpath=post_relpath(community, message_id),
                message_id=message_id,
                topic=root_id,
                in_reply_to=parent.message_id if parent else None,
                author=Author(handle=person["handle"]),
                date=date,
                subject=subject if parent is None else f"Re: {subject}",
                source="smtp",
                tags=[],
                attachments=[],
                body=text.body(),
                quoted=quoted,
                signature=person["name"] if rng.random() < 0.5 else "",
            )
        )
        date += dt.timedelta(hours=rng.expovariate(1 / 8))
    return posts


def topic_chunk(seed: int, start: int, stop: int, people: list[dict]) -> tuple[bytes, int, list[TopicRef]]:
    """fast-import ``M`` commands (inline data) for topics ``start`` to ``stop``."""
    out = bytearray()
    posts = 0
    refs = []
    for index in range(start, stop):
        items = topic_posts(seed, index, people)
        for post in items:
            data = post.to_text().encode("utf-8")
            out += b"M 100644 inline " + post.relpath.encode() + b"\ndata %d\n" % len(data) + data + b"\n"
            posts += 1
        refs.append(TopicRef(items[0].community, items[0].message_id, items[0].subject))
    return bytes(out), posts, refs


def generate(root: Path, posts: int, seed: int, subscribers: int) -> tuple[list[TopicRef], int]:
    """Write the intranet at ``root``: skeleton by hand, posts through fast-import; return topics, posts."""
    rng = random.Random(seed)
    people = make_people(rng)
    write_skeleton(root, people, rng, subscribers)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Communities and people")
    topics = max(1, round(posts / 6))  # about six posts to a topic (see build_bench)
    jobs = [(seed, s, min(s + TOPICS_PER_JOB, topics), people) for s in range(0, topics, TOPICS_PER_JOB)]
    fast_import = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=root, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert fast_import.stdin is not None
    refs: list[TopicRef] = []
    written = 0
    stamp = 1_700_000_000
    first_commit = True
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        batch: list[bytes] = []
        results = pool.map(topic_chunk, *zip(*jobs, strict=True))
        for n, (chunk, count, chunk_refs) in enumerate(results, start=1):
            batch.append(chunk)
            refs += chunk_refs
            written += count
            if n % (TOPICS_PER_COMMIT // TOPICS_PER_JOB) == 0 or n == len(jobs):
                message = f"Import topics up to {len(refs)}\n".encode()
                stamp += 3600
                head = b"commit refs/heads/main\n"
                head += f"committer Bench Editor <editor@bench.example.org> {stamp} +0000\n".encode()
                head += b"data %d\n" % len(message) + message
                if first_commit:  # continue the skeleton's history; later commits follow on by themselves
                    head += b"from refs/heads/main^0\n"
                    first_commit = False
                fast_import.stdin.write(head + b"".join(batch) + b"\n")
                batch = []
    fast_import.stdin.write(b"done\n")
    fast_import.stdin.close()
    if fast_import.wait() != 0:
        raise RuntimeError("git fast-import failed")
    git(root, "reset", "-q", "--hard")
    git(root, "gc", "-q", "--auto")
    return refs, written


def prepare(workdir: Path, args: argparse.Namespace) -> tuple[Path, list[TopicRef], int, float]:
    started = time.perf_counter()
    root = workdir / "intranet"
    template = Path(args.template) if args.template else None
    marker = f"posts={args.posts} seed={args.seed} subscribers={args.subscribers}\n"
    topics_file = "bench-topics.yml"
    if template is not None and (template / ".git").is_dir() and (template / ".bench").is_file():
        if (template / ".bench").read_text() != marker:
            raise SystemExit(f"{template} was made with other settings ({(template / '.bench').read_text().strip()})")
        subprocess.run(["cp", "-a", str(template), str(root)], check=True)
    else:
        target = template if template is not None else root
        if template is not None and template.exists():
            raise SystemExit(f"{template} exists but is not a corpus of this bench: remove it or choose another")
        target.mkdir(parents=True)
        refs, written = generate(target, args.posts, args.seed, args.subscribers)
        (target / ".git" / topics_file).write_text(
            yaml.safe_dump({"posts": written, "topics": [[r.community, r.message_id, r.subject] for r in refs]})
        )
        (target / ".bench").write_text(marker)
        if template is not None:
            subprocess.run(["cp", "-a", str(template), str(root)], check=True)
    (root / ".bench").unlink()
    data = yaml.safe_load((root / ".git" / topics_file).read_text())
    refs = [TopicRef(*item) for item in data["topics"]]
    return root, refs, int(data["posts"]), time.perf_counter() - started


# --------------------------------------------------------------------------
# Sending


def make_messages(count: int, refs: list[TopicRef], staff: list[tuple[str, str]], seed: int) -> list[EmailMessage]:
    rng = random.Random(f"intake:{seed}")
    text = Text(rng)
    messages = []
    for n in range(count):
        name, address = rng.choice(staff)
        message = EmailMessage()
        message["From"] = email.utils.formataddr((name, address))
        message["Date"] = email.utils.format_datetime(email.utils.localtime())
        message["Message-ID"] = f"<intake.{seed}.{n}@bench.example.org>"
        if rng.random() < NEW_TOPIC_SHARE:
            community = rng.choice(COMMUNITIES)[0]
            message["Subject"] = text.subject()
        else:
            topic = rng.choice(refs)
            community = topic.community
            message["Subject"] = f"Re: {topic.subject}"
            message["In-Reply-To"] = topic.message_id
            message["References"] = topic.message_id
        message["To"] = f"{community}@{DOMAIN}"
        message.set_content(text.body() + f"\n\nintake{seed}x{n}\n\n{name}\n")
        messages.append(message)
    return messages


def send_all(port: int, messages: list[EmailMessage], clients: int) -> tuple[list[float], list[str]]:
    """Send from ``clients`` threads; return the time of every 250 and any errors."""
    import email.policy

    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    shares = [messages[i::clients] for i in range(clients)]

    def client(share: list[EmailMessage]) -> None:
        smtp: smtplib.SMTP | None = None
        for message in share:
            for attempt in range(5):
                try:
                    if smtp is None:
                        smtp = smtplib.SMTP("127.0.0.1", port, timeout=60)
                    sender = email.utils.parseaddr(str(message["From"]))[1]
                    smtp.sendmail(sender, [str(message["To"])], message.as_bytes(policy=email.policy.SMTP))
                    with lock:
                        times.append(time.monotonic())
                    break
                except (OSError, smtplib.SMTPException) as exc:
                    with lock:
                        errors.append(f"{message['Message-ID']}: try {attempt + 1}: {exc}")
                    smtp = None
                    time.sleep(0.2)
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, errors


# --------------------------------------------------------------------------
# The gateway


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(root: Path, port: int, log: Path, http: int | None = None) -> tuple[subprocess.Popen, float]:
    """``intranet gateway`` on ``port``; with ``http``, ``intranet up`` (the site too) instead."""
    started = time.perf_counter()
    site = ["up", "--http", f"127.0.0.1:{http}"] if http is not None else ["gateway"]
    command = [sys.executable, "-m", "intranet.cli", *site, "--root", str(root), "--smtp", f"127.0.0.1:{port}"]
    process = subprocess.Popen(
        command + ["--lmtp", ""],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, time.perf_counter() - started
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the gateway exited on start: see {log}") from None
            time.sleep(0.05)
    raise SystemExit("the gateway did not start")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_for_outcomes(records: Records, message_ids: set[str], timeout: float) -> tuple[float, dict[str, str]]:
    """Poll the gateway's records until each message has an outcome; return the time the last came."""
    outcomes: dict[str, str] = {}
    offset = 0
    last = time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and len(outcomes) < len(message_ids):
        try:
            with records.path.open("rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        complete = data[: data.rfind(b"\n") + 1]
        offset += len(complete)
        found = False
        for line in complete.splitlines():
            record = yaml.safe_load(line) if line.strip() else None
            if isinstance(record, dict) and record.get("message_id") in message_ids:
                outcomes[record["message_id"]] = str(record.get("outcome"))
                found = True
        if found:
            last = time.monotonic()
        time.sleep(0.02)
    return last, outcomes


def page_of(message: EmailMessage) -> str:
    """The served topic page that shows ``message``, relative to the site's root."""
    community = str(message["To"]).split("@")[0]
    root_id = str(message["In-Reply-To"] or message["Message-ID"])
    return f"c/{community}/t/{path_key(post_relpath(community, root_id))[:12]}/"


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8", "replace")
    except OSError:
        return ""


def wait_for_catch_up(log: Path, process: subprocess.Popen, timeout: float) -> float:
    """``intranet up``: wait until its catch-up build has landed; the seconds it took."""
    started = time.monotonic()
    while "full build landed" not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() - started > timeout:
            raise SystemExit(f"intranet up stopped or did not build: see {log}")
        time.sleep(1)
    return time.monotonic() - started


def wait_for_pages(base: str, messages: list[EmailMessage], seed: int, timeout: float) -> tuple[float, int]:
    """Poll the served pages of ``messages`` until each shows its text; the time the last did, and how many."""
    waiting = {n: base + page_of(m) for n, m in enumerate(messages)}
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while waiting and time.monotonic() < deadline:
        pages: dict[str, str] = {}
        for n, url in list(waiting.items()):
            if url not in pages:
                pages[url] = fetch(url)
            if f"intake{seed}x{n}" in pages[url]:
                del waiting[n]
                last = time.monotonic()
        time.sleep(0.2)
    return last, len(messages) - len(waiting)


# --------------------------------------------------------------------------
# Main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000, help="posts in the generated repository")
    parser.add_argument("--messages", type=int, default=2000, help="messages to send")
    parser.add_argument("--clients", type=int, default=10, help="concurrent SMTP clients")
    parser.add_argument("--subscribers", type=int, default=5, help="subscribers per community (each post is mailed)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--template", help="keep the generated repository here and copy it on later runs")
    parser.add_argument("--keep", help="leave the run's repository here (a new folder) for a look afterwards")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for every outcome")
    parser.add_argument(
        "--up",
        action="store_true",
        help="run `intranet up` (the site updating as posts arrive) instead of `intranet gateway`; wait for its "
        "first build before sending, and time until every post is on its served page",
    )
    parser.add_argument("--py-spy", dest="py_spy", help="record a py-spy flame graph of the gateway to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
        workdir = Path(args.keep) if args.keep else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        root, refs, posts, prepared = prepare(workdir, args)
        print(f"repository: {posts} posts in {len(refs)} topics at {root} ({prepared:.1f} s to prepare)", flush=True)
        settings = read_settings(root)
        records = Records(root / settings.state_dir)
        people = [yaml.safe_load(p.read_text()) for p in sorted((root / "people").glob("*.yml"))]
        staff = [(p["name"], p["emails"][0]) for p in people if p.get("kind") == "staff"]
        messages = make_messages(args.messages, refs, staff, args.seed)
        senders = {str(m["Message-ID"]): email.utils.parseaddr(str(m["From"]))[1] for m in messages}

        port = free_port()
        log = workdir / "gateway.log"
        http = free_port() if args.up else None
        process, start_seconds = start_gateway(root, port, log, http)
        print(f"gateway listening after {start_seconds:.2f} s (pid {process.pid})", flush=True)
        sampler = Sampler(process.pid)
        sampler.start()
        spy = None
        try:  # whatever fails, the gateway is stopped
            if args.up:
                built = wait_for_catch_up(log, process, args.timeout)
                print(f"intranet up: its catch-up build landed {built:.0f} s later", flush=True)
            if args.py_spy:
                spy = subprocess.Popen(
                    [
                        shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "--pid",
                        str(process.pid),
                        "--output",
                        args.py_spy,
                        "--threads",
                        "--format",
                        "flamegraph" if args.py_spy.endswith(".svg") else "raw",
                    ]
                    + ["--rate", "50", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            # One message first: its commit comes once the worker has read what it needs to know of
            # the repository's posts (all of them on a first start), which is reported on its own.
            warm_up = make_messages(1, refs, staff, args.seed + 1)
            started = time.monotonic()
            send_all(port, warm_up, 1)
            ready, _ = wait_for_outcomes(records, {str(warm_up[0]["Message-ID"])}, args.timeout)
            print(f"first message's outcome after {ready - started:.2f} s (the worker reads the posts)", flush=True)
            base = git(root, "rev-parse", "HEAD").strip()
            t0 = time.monotonic()
            times, errors = send_all(port, messages, args.clients)
            last_outcome, outcomes = wait_for_outcomes(records, set(senders), args.timeout)
            if args.up:
                on_site, shown = wait_for_pages(f"http://127.0.0.1:{http}/", messages, args.seed, args.timeout)
            rss = peak_rss_mb(process.pid)
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=120)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()

        accepted = len(times)
        first, last_250 = (min(times), max(times)) if times else (t0, t0)
        log_text = git(
            root, "log", "--format=%H%x09%ae%x09%(trailers:key=Message-ID,valueonly,separator=%x20)", f"{base}..HEAD"
        )
        commits = [line.split("\t") for line in log_text.splitlines() if line.strip()]
        by_sender = sum(1 for _, author, mid in commits if senders.get(mid.strip()) == author)
        per_message = Counter(mid.strip() for _, _, mid in commits)
        status = git(root, "status", "--porcelain", "--untracked-files=no")
        warnings = [
            line for line in log.read_text(errors="replace").splitlines() if "WARNING" in line or "ERROR" in line
        ]

        print(f"messages sent: {len(messages)} from {args.clients} clients; accepted with 250: {accepted}")
        print(f"accepted/s at SMTP (first 250 to last 250): {accepted / max(last_250 - first, 1e-9):.1f}")
        print(f"first 250 after {first - t0:.2f} s; last 250 after {last_250 - t0:.2f} s")
        print(f"outcomes on record: {len(outcomes)} {dict(Counter(outcomes.values()))}")
        sustained = Counter(outcomes.values())["published"] / max(last_outcome - first, 1e-9)
        print(f"committed posts/s sustained (first 250 to last outcome, {last_outcome - first:.1f} s): {sustained:.1f}")
        if args.up:
            print(
                f"on the served site: {shown} of {len(messages)} messages; posts/s from the first 250 to the last "
                f"on its page ({on_site - first:.1f} s): {shown / max(on_site - first, 1e-9):.1f}"
            )
        print(f"commits made: {len(commits)}; authored by their message's sender: {by_sender}; ", end="")
        print(f"messages in more than one commit: {sum(1 for c in per_message.values() if c > 1)}")
        print(f"git status after the run: {'clean' if not status.strip() else status.strip()[:500]}")
        sampler.stop()
        print(f"gateway peak RSS: {rss:.0f} MB")
        print(
            f"peak memory of the process tree: RSS {sampler.rss / 1024:.0f} MB, PSS {sampler.pss / 1024:.0f} MB "
            f"({sampler.processes} processes at most)"
        )
        if errors:
            print(f"client errors: {len(errors)}, first: {errors[0]}")
        if warnings:
            print(f"gateway warnings/errors: {len(warnings)}, first: {warnings[0][:300]}")
        if args.keep:
            print(f"kept: {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
