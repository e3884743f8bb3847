"""Small builders for test intranets, written through the format module."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from intranet.format import Attachment, Author, Post, attachments_dir, post_relpath

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"  # public corpora beside the repository, read in place
UTC = dt.UTC


def in_ci() -> bool:
    """True under CI (``CI=true``), where every test must run: what would be skipped fails instead."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip the test for ``reason``; under CI fail it, since CI must run everything."""
    if in_ci():
        pytest.fail(f"{reason}; CI must run this test (CI={os.environ.get('CI')})", pytrace=False)
    pytest.skip(reason)


def need_corpus(path: Path = CORPUS) -> Path:
    """``path`` in the shared corpora; without it the test is skipped, or fails under CI."""
    if not path.exists():
        skip_or_fail(f"shared corpus not present at {path}")
    return path


def copy_demo(root: Path) -> Path:
    """The repository's own demo content and settings, copied into ``root``."""
    for name in ("communities", "people"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    return root


def write_config(root: Path, **settings: Any) -> None:
    """The demo's mkdocs.yml with ``settings`` for the intranet plugin; no weekly report unless asked for
    (by the real clock it would come on Mondays, to any test's outbox)."""
    settings = {"report_day": "never", **settings}
    text = (REPO / "mkdocs.yml").read_text()
    if settings:
        # Drop the demo's own value of each setting given here, then add ours.
        text = "".join(line for line in text.splitlines(keepends=True) if line.strip().split(":")[0] not in settings)
        data = "\n".join(f"      {k}: {json.dumps(v)}" for k, v in settings.items())
        text = text.replace("  - intranet:\n", f"  - intranet:\n{data}\n", 1)
    (root / "mkdocs.yml").write_text(text)


def add_person(root: Path, handle: str, **fields: Any) -> None:
    data = {
        "name": handle.replace(".", " ").title(),
        "emails": [f"{handle}@example.org"],
        "kind": "staff",
        "organisation": "Example Health",
    }
    data.update(fields)
    (root / "people").mkdir(parents=True, exist_ok=True)
    (root / "people" / f"{handle}.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def add_community(root: Path, slug: str, **fields: Any) -> None:
    data = {"name": slug.replace("-", " ").title(), "purpose": f"Purpose of {slug}.", "moderators": []}
    data.update(fields)
    folder = root / "communities" / slug
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "community.yml").write_text(yaml.safe_dump(data, sort_keys=False))


def add_post(
    root: Path,
    community: str,
    message_id: str,
    subject: str = "A topic",
    body: str = "Hello.",
    author: str | dict[str, str] = "ann.lee",
    in_reply_to: str | None = None,
    topic: str | None = None,
    date: dt.datetime | None = None,
    quoted: str = "",
    signature: str = "",
    tags: list[str] | None = None,
    attachments: dict[str, bytes] | None = None,
) -> Path:
    relpath = post_relpath(community, message_id)
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    saved = []
    for index, (name, data) in enumerate((attachments or {}).items(), start=1):
        folder = attachments_dir(path)
        folder.mkdir(parents=True, exist_ok=True)
        ext = name.rsplit(".", 1)[-1] if "." in name else "bin"
        file = f"att-{index}.{ext}"
        (folder / file).write_bytes(data)
        saved.append(Attachment(file=file, name=name, type="application/octet-stream", size=len(data)))
    post = Post(
        community=community,
        relpath=relpath,
        message_id=message_id,
        topic=topic or (message_id if in_reply_to is None else ""),
        in_reply_to=in_reply_to,
        author=Author(handle=author) if isinstance(author, str) else Author(name=author["name"], email=author["email"]),
        date=date or dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        subject=subject,
        source="smtp",
        tags=tags or [],
        attachments=saved,
        body=body,
        quoted=quoted,
        signature=signature,
    )
    path.write_text(post.to_text(), encoding="utf-8")
    return path


def small_intranet(root: Path) -> Path:
    """Two communities, three people, a thread with a reply and an attachment."""
    write_config(root)
    add_person(root, "ann.lee", name="Ann Lee", role="Charge nurse", expertise=["handover"])
    add_person(root, "bo.chen", name="Bo Chen", kind="partner", organisation="Coop Nursing")
    add_person(
        root, "sup.desk", name="MediSupply support", kind="supplier", organisation="MediSupply", members=["bo.chen"]
    )
    add_community(
        root,
        "handover",
        name="Clinical Handover",
        moderators=["ann.lee"],
        audience=["staff", "partners"],
        tags=["nursing"],
    )
    add_community(root, "procurement", name="Procurement", audience=["staff", "suppliers"])
    pages = root / "communities" / "handover" / "pages"
    pages.mkdir()
    (pages / "best-practice.md").write_text("# Handover best practice\n\n!!! tip\n    Use ISBAR.\n")
    t0 = dt.datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    add_post(
        root,
        "handover",
        "<t1@example.org>",
        subject="Night shift handover",
        body="How do you run it?",
        date=t0,
        tags=["isbar"],
    )
    add_post(
        root,
        "handover",
        "<r1@example.org>",
        subject="Re: Night shift handover",
        body="We use **ISBAR** cards.",
        author="bo.chen",
        in_reply_to="<t1@example.org>",
        topic="<t1@example.org>",
        date=t0 + dt.timedelta(hours=2),
        quoted="On Sunday Ann wrote:\n> How do you run it?",
        signature="Bo Chen\nCoop Nursing",
        attachments={"ISBAR card.pdf": b"%PDF-1.4 tiny"},
    )
    add_post(
        root,
        "procurement",
        "<p1@example.org>",
        subject="Glove supply",
        body="Delays expected.",
        author="sup.desk",
        date=t0,
    )
    return root


def type_query(page, text: str) -> None:
    """Type ``text`` in Material's search box (a Playwright page) until results show: the search worker
    loads its index in the background (up to a minute on a busy machine; at once on a quiet one)."""
    box = page.locator("input.md-search__input")
    for _ in range(30):
        box.click()
        box.fill("")
        box.type(text, delay=20)
        try:
            page.wait_for_selector(".md-search-result__item", timeout=2_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; try again
            continue
    raise AssertionError(f"no results for {text!r}")
