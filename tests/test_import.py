"""`intranet import`: archives into a community, threaded, deduplicated, resumable."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gitremote import wait_for
from helpers import need_corpus
from mailtest import CORPUS, git, git_root

from generator.builder import build_site
from intranet.format import read_intranet
from intranet.settings import read_settings
from mailgateway.importer import Importer, subject_key

REPO = Path(__file__).resolve().parent.parent
EDITOR = ("Edith Editor", "edith@example.org")


def importer(root: Path, slug: str = "handover") -> Importer:
    return Importer(root, read_settings(root), slug, EDITOR)


def mbox(path: Path, messages: list[bytes]) -> Path:
    with path.open("wb") as out:
        for raw in messages:
            out.write(b"From MAILER-DAEMON Mon Jan  7 10:00:00 2019\n")
            for line in raw.split(b"\n"):
                out.write((b">" + line if line.lstrip(b">").startswith(b"From ") else line) + b"\n")
            out.write(b"\n")
    return path


def msg(
    mid: str | None, subject: str, body: str, sender: str = "Zed Example <zed@example.net>", **headers: str
) -> bytes:
    lines = [f"From: {sender}", f"Subject: {subject}", "To: list@lists.example.org"]
    if mid:
        lines.append(f"Message-ID: {mid}")
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    head = "\n".join(lines) + "\n"
    if "Content-Type" not in head:
        head += "Content-Type: text/plain; charset=utf-8\n"
    return head.encode() + b"\n" + body.encode()


def posts(root: Path, slug: str = "handover") -> list:
    return [p for p in read_intranet(root).posts if p.community == slug]


def test_generated_mbox_threads_dedupes_and_keeps_dates_and_authors(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    d = "Mon, 7 Jan 2019 10:00:00 +0000"
    archive = mbox(
        tmp_path / "a.mbox",
        [
            msg("<a1@x>", "[ward] Rota for March", "Who takes nights?\n\nFrom now on we rotate.", Date=d),
            msg(
                "<a2@x>",
                "Re: [ward] Rota for March",
                "I do.\n\n> Who takes nights?",
                Date="Tue, 8 Jan 2019 09:00:00 +0000",
                In_Reply_To="<a1@x>",
                sender="Ann <ann.lee@example.org>",
            ),
            # headers lost: joins by subject within the window
            msg("<a3@x>", "RE: Rota for March", "Me too.", Date="Wed, 9 Jan 2019 09:00:00 +0000"),
            # same subject, a year later: a new topic
            msg("<a4@x>", "Rota for March", "Again?", Date="Thu, 9 Jan 2020 09:00:00 +0000"),
            msg("<a1@x>", "[ward] Rota for March", "Who takes nights? (archived twice)", Date=d),
            msg(None, "=?iso-8859-1?q?Gr=FC=DFe?=", "Sch\xf6n", Date=d)
            .replace(b"utf-8", b"iso-8859-1")
            .replace("Sch\xf6n".encode(), "Sch\xf6n".encode("latin-1")),
            msg("<a6@x>", "Out of office", "Away.", Date=d, Auto_Submitted="auto-replied"),
            msg("<a7@x>", "No sender", "x", sender="", Date=d),
            msg("<a8@x>", "Empty", "", Date=d),
            msg("<a9@x>", "Bounce", "x", sender="MAILER-DAEMON@example.org", Date=d),
        ],
    )
    summary = importer(root).run(archive)
    assert summary.read == 10
    assert (summary.imported, summary.duplicates) == (5, 1)
    assert dict(summary.skipped) == {"auto-reply": 1, "no-sender": 1, "empty": 1, "bounce": 1}
    assert len(summary.commits) == 1
    by_id = {p.message_id: p for p in posts(root)}
    assert by_id["<a2@x>"].topic == "<a1@x>" and by_id["<a3@x>"].topic == "<a1@x>"
    assert by_id["<a4@x>"].topic == "<a4@x>"
    assert by_id["<a1@x>"].date == dt.datetime(2019, 1, 7, 10, tzinfo=dt.UTC)
    assert by_id["<a2@x>"].author.handle == "ann.lee"
    assert by_id["<a1@x>"].author.email == "zed@example.net" and by_id["<a1@x>"].author.name == "Zed Example"
    assert by_id["<a1@x>"].source == "import"
    latin = next(p for p in by_id.values() if p.subject == "Grüße")
    assert "Schön" in latin.body
    log = git(root, "log", "-1", "--format=%an <%ae>|%cn|%s")
    assert log.strip() == "Edith Editor <edith@example.org>|Intranet gateway|import: 5 posts from a.mbox"
    assert git(root, "status", "--porcelain") == ""
    # a second run changes nothing
    head = git(root, "rev-parse", "HEAD")
    again = importer(root).run(archive)
    assert (again.imported, again.duplicates, again.commits) == (0, 6, [])
    assert git(root, "rev-parse", "HEAD") == head
    # and the site shows the topics
    build_site(root, tmp_path / "site")
    pages = "".join(p.read_text() for p in (tmp_path / "site").rglob("index.html"))
    assert "Rota for March" in pages and "Grüße" in pages


def test_subject_key() -> None:
    assert subject_key("Re: [ward] Fwd: [ward] Rota") == subject_key("rota") == "rota"


@pytest.mark.parametrize("name", ["hyperkitty", "mailman3", "public-inbox"])
def test_corpus_archives_are_all_accounted_for(tmp_path: Path, name: str) -> None:
    need_corpus(CORPUS / name)
    root = git_root(tmp_path / "r")
    summary = importer(root).run(CORPUS / name)
    files = [p for p in (CORPUS / name).rglob("*") if p.is_file()]
    assert summary.read >= len(files)
    assert summary.imported + summary.duplicates + sum(summary.skipped.values()) == summary.read
    assert summary.imported > 0
    assert len(posts(root)) == 2 + summary.imported  # the two posts small_intranet has, and ours
    assert importer(root).run(CORPUS / name).imported == 0


def test_maildir_and_cli(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    maildir = tmp_path / "md"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    (maildir / "cur" / "1.x").write_bytes(msg("<m1@x>", "Hello", "First.", Date="Mon, 7 Jan 2019 10:00:00 +0000"))
    (maildir / "new" / "2.x").write_bytes(
        msg("<m2@x>", "Re: Hello", "Second.", Date="Mon, 7 Jan 2019 11:00:00 +0000", References="<m1@x>")
    )
    result = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "import", str(maildir), "--community", "handover", "--root", str(root)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "imported: 2" in result.stdout
    assert {p.message_id: p.topic for p in posts(root)}["<m2@x>"] == "<m1@x>"


KILLER = """
import sys, os, signal
sys.path.insert(0, {repo!r})
import mailgateway.importer as imp, mailgateway.importwrite as files
from intranet.settings import read_settings
from pathlib import Path
written = 0
real = files._write_file
importing = os.getpid()
def counting(path, data, tmp):  # in the process that writes the files: the importing one is killed first
    global written
    real(path, data, tmp)
    if str(path).endswith(".md"):
        written += 1
        if written == 40:
            os.kill(importing, signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
files._write_file = counting
imp.Importer(Path({root!r}), read_settings(Path({root!r})), "handover", ("E", "e@example.org")).run(Path({mbox!r}))
"""


def test_killed_import_completes_on_rerun(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    archive = mbox(
        tmp_path / "big.mbox",
        [
            msg(f"<k{i}@x>", f"Topic {i % 30}", f"Body {i}", Date=f"Mon, {1 + i % 28} Jan 2019 10:00:00 +0000")
            for i in range(100)
        ],
    )
    script = KILLER.format(repo=str(REPO), root=str(root), mbox=str(archive))
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO)
    assert result.returncode == -signal.SIGKILL
    assert len(posts(root)) == 2 + 40  # written, not committed
    wait_for(lambda: not _processes_naming(str(root)), 10, "the killed import's helper processes to end")
    summary = importer(root).run(archive)
    assert summary.imported == 100 and summary.duplicates == 0
    mids = [p.message_id for p in posts(root)]
    assert len(mids) == len(set(mids)) == 102
    assert git(root, "status", "--porcelain") == ""
    assert importer(root).run(archive).imported == 0


# -- reading an mbox in blocks gives the messages the line-by-line reader gave ------------------------


def _read_mbox_by_lines(data: bytes) -> list[tuple[bytes, str, str]]:
    """The reader `intranet import` had before issue #14: (message, envelope sender, date) of each."""
    import io

    from mailgateway.archive import _envelope, _envelope_date

    out, lines, from_line, blank = [], [], b"", True
    for line in io.BytesIO(data):
        if line.startswith(b"From ") and blank:
            if from_line:
                out.append((lines, from_line))
            lines, from_line, blank = [], line, False
            continue
        blank = line in (b"\n", b"\r\n")
        if line.startswith(b">") and line.lstrip(b">").startswith(b"From "):
            line = line[1:]
        lines.append(line)
    if from_line:
        out.append((lines, from_line))
    found = []
    for lines, from_line in out:
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines = lines[:-1]
        sender, when = _envelope(from_line)
        found.append((b"".join(lines), sender, str(_envelope_date(when))))
    return found


MBOXES = [
    b"From a@b Mon Jan  7 10:00:00 2019\nSubject: one\n\nbody\n\nFrom b@c Tue Jan  8 10:00:00 2019\nSubject: two\n\nx\n",
    b"From a@b Mon Jan  7 10:00:00 2019\r\nSubject: crlf\r\n\r\nFrom here\r\n>From quoted\r\n\r\n"
    b"From c@d Mon Jan  7 10:00:00 2019\r\nSubject: next\r\n\r\nlast\r\n\r\n",
    b"From x\n\nFrom y\nFrom z\n\n\nFrom w\n>>From q\n>From\n>From \n",
    b"From pip at example.org  Fri May 10 10:00:00 2019\nSubject: p\n\nno newline at the end",
    b"From x\n\r\n\r\nFrom y\n\n\n\nFrom z",
    b"From x\nSubject: a\n\nbody\n\nFrom y Mon\n" + b"line\n" * 50 + b"\nFrom z Tue\n\n",
]


@pytest.mark.parametrize("block", [1, 2, 7, 8, 9, 64, 1 << 20])
def test_mbox_blocks_give_the_messages_lines_gave(block: int) -> None:
    import io

    from mailgateway.archive import mbox_pieces, unframe

    rng = random.Random(block)
    pieces = [b"From a@b Mon Jan  7 10:00:00 2019\n", b"\n", b"\r\n", b"From ", b">From ", b">>From x\n", b"text\n"]
    randoms = [b"From x\n" + b"".join(rng.choice(pieces) for _ in range(60)) for _ in range(30)]
    for data in MBOXES + randoms:
        got = [unframe(p) for p in mbox_pieces(io.BytesIO(data), "m", block)]
        assert [(r.data, r.envelope_from, str(r.envelope_date)) for r in got] == _read_mbox_by_lines(data), data
        assert [r.where for r in got] == [f"m#{n}" for n in range(1, len(got) + 1)]


def test_a_message_archived_twice_is_read_once_and_a_reused_id_after_a_skip_is_read(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    d = "Mon, 7 Jan 2019 10:00:00 +0000"
    first = msg("<twice@x>", "Archived twice", "Once.", Date=d)
    archive = mbox(
        tmp_path / "a.mbox",
        [
            first,
            first,
            msg("<reused@x>", "Out of office", "Away.", Date=d, Auto_Submitted="auto-replied"),
            msg("<reused@x>", "A real message reusing the id", "Here.", Date=d),
        ],
    )
    imp = importer(root)
    from mailgateway.archive import read_pieces

    pieces, _ = read_pieces(archive)
    assert [skip for _, _, skip in imp._handed_out(pieces)] == [False, True, False, True]  # not read again
    summary = importer(root).run(archive)
    assert (summary.imported, summary.duplicates, dict(summary.skipped)) == (2, 1, {"auto-reply": 1})
    assert {p.subject for p in posts(root)} >= {"Archived twice", "A real message reusing the id"}


def test_a_worker_process_that_dies_stops_the_import_with_an_error(tmp_path: Path) -> None:
    root = git_root(tmp_path / "r")
    d = "Mon, 7 Jan 2019 10:00:00 +0000"
    archive = mbox(tmp_path / "a.mbox", [msg(f"<m{i}@x>", f"Note {i}", "Text.", Date=d) for i in range(256)])
    # In a process of its own: one with other threads (a test's leftovers) reads without workers.
    script = f"""
import multiprocessing, os, signal, sys
from pathlib import Path
from intranet.settings import read_settings
from mailgateway.archive import read_pieces
from mailgateway.importer import Importer
from mailgateway.importjobs import PARSE_CHUNK, prepared

imp = Importer(Path({str(root)!r}), read_settings(Path({str(root)!r})), "handover", {EDITOR!r})
workers = []

def killing(items):  # kills a worker once the first chunks are formed
    for n, item in enumerate(items):
        if n == PARSE_CHUNK * 2:
            workers.extend(multiprocessing.active_children())
            os.kill(workers[0].pid, signal.SIGKILL)
            workers[0].join()
        yield item

try:
    for _ in prepared(killing(imp._handed_out(read_pieces(Path({str(archive)!r}))[0])), imp.context):
        pass
except RuntimeError as error:
    print(len(workers), any(w.is_alive() for w in workers), error)
"""
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    count, alive, error = run.stdout.strip().split(" ", 2)
    assert (int(count), alive) == (os.cpu_count(), "False")  # the other worker was stopped too
    assert "ended unexpectedly" in error


def test_an_archive_is_committed_in_batches_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mailgateway.importer

    monkeypatch.setattr(mailgateway.importer, "COMMIT_EVERY", 3)
    root = git_root(tmp_path / "r")
    d = "Mon, 7 Jan 2019 10:00:00 +0000"
    archive = mbox(tmp_path / "a.mbox", [msg(f"<b{i}@x>", f"Note {i}", f"Text {i}.", Date=d) for i in range(10)])
    before = len(posts(root))
    summary = importer(root).run(archive)
    assert (summary.imported, len(summary.commits)) == (10, 4)
    subjects = git(root, "log", "--format=%s").splitlines()
    assert subjects[:4] == [f"import: {n} posts from a.mbox" for n in (1, 3, 3, 3)]
    assert git(root, "status", "--porcelain") == ""  # every post written is committed
    assert len(posts(root)) == before + 10


def test_the_writing_process_gives_each_file_its_blob_and_raises_what_failed(tmp_path: Path) -> None:
    import pygit2

    from mailgateway.importwrite import Files, FilesProcess
    from mailgateway.store import Store

    root = git_root(tmp_path / "r")
    for kind in ("here", "process"):
        files = Files(Store(root), str(tmp_path / "t1")) if kind == "here" else FilesProcess(root, str(tmp_path / "t2"))
        try:
            written = {str(root / kind / "a" / f"{n}.md"): f"post {n}\n".encode() * n for n in range(1, 4)}
            for path, data in written.items():
                files.write(path, data)
            blobs = files.end_batch()()
            assert blobs == {path: str(pygit2.hash(data)) for path, data in written.items()}, kind
            assert all(Path(path).read_bytes() == data for path, data in written.items())
            with pytest.raises((RuntimeError, OSError)) as failed:  # a folder where a file is
                files.write(str(root / kind / "a" / "1.md" / "x.md"), b"x")
                files.end_batch()()
            assert "FileExistsError" in str(failed.value) or isinstance(failed.value, FileExistsError), kind
        finally:
            files.close()


def test_a_commit_that_fails_in_the_background_stops_the_import(tmp_path: Path, monkeypatch) -> None:
    """A batch is committed on a thread while the next is written: what that commit raises, the import
    raises (at the next batch's end), and the posts written stay on disk for the next run to commit."""
    import mailgateway.importer
    from mailgateway.store import Store, StoreError

    monkeypatch.setattr(mailgateway.importer, "COMMIT_EVERY", 3)
    real = Store.commit

    def failing(self: Store, *args, **kwargs):  # the second batch's commit fails
        if len(git(self.work_tree, "log", "--format=%s").splitlines()) > 1:
            raise StoreError("the disk is full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Store, "commit", failing)
    root = git_root(tmp_path / "r")
    d = "Mon, 7 Jan 2019 10:00:00 +0000"
    archive = mbox(tmp_path / "a.mbox", [msg(f"<f{i}@x>", f"Note {i}", f"Text {i}.", Date=d) for i in range(10)])
    before = len(posts(root))
    with pytest.raises(StoreError, match="the disk is full"):
        importer(root).run(archive)
    assert len(posts(root)) == before + 9  # three batches written; the third waited for the second's commit
    monkeypatch.setattr(Store, "commit", real)
    assert importer(root).run(archive).imported == 7  # the first batch (3) was committed
    assert len(posts(root)) == before + 10 and git(root, "status", "--porcelain") == ""


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (the import's helpers are forked: they keep its line)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:  # (it ended meanwhile)
                continue
    return found
