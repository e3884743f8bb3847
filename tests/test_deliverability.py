"""Our mail reaches inboxes: plain list headers.

A real gateway on loopback (see mailtest.Harness). Sent mail is read as the bytes
that left: the outbox Maildir's files.
"""

from __future__ import annotations

import email.utils
import re
from pathlib import Path

from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail

SITE = "https://intranet.example.org/"
URL_HEADERS = ("list-unsubscribe", "list-post", "list-subscribe", "list-archive", "archived-at")


def make_root(tmp_path: Path, site_url: str = SITE, **settings: object) -> Path:
    """The small intranet with ``site_url``, and Ann and Cy subscribed to handover by an editor."""
    root = git_root(tmp_path / "intranet", **settings)
    config = root / "mkdocs.yml"
    config.write_text(re.sub(r"(?m)^site_url: .*$", f"site_url: {site_url}", config.read_text()))
    add_person(root, "cy.diaz", name="Cy Diaz")
    add_person(root, "di.park", name="Di Park")
    (root / "communities" / "handover" / "subscribers.yml").write_text("ann.lee: each\ncy.diaz: each\n")
    git(root, "add", "-A")
    git(root, "-c", "user.name=E", "-c", "user.email=e@x", "commit", "-qm", "Subscribe Ann and Cy")
    return root


def post_and_collect(gw: Harness, subject: str) -> None:
    post = mail(subject=subject, body="Rosters for December are up.", sender="Di Park <di.park@example.org>")
    gw.send(post, f"handover@{DOMAIN}", sender="di.park@example.org")
    assert gw.wait(post["Message-ID"])[0]["outcome"] == "published"


def raw_outbox(gw: Harness, rcpt: str, subject: str = "") -> bytes:
    """The bytes of the one mail in the outbox to ``rcpt`` (whose Subject has ``subject``)."""
    gw.outbox()  # waits for the queue to empty
    found = []
    for path in (gw.root / ".intranet" / "outbox" / "new").iterdir():
        data = path.read_bytes()
        head = headers(data)
        if unfold(head["delivered-to"][0]) == rcpt and subject in unfold(head["subject"][0]):
            found.append(data)
    assert len(found) == 1, len(found)
    return found[0]


def headers(raw: bytes) -> dict[str, list[str]]:
    """Header name (lower-case) -> values as written, folds kept (CRLF + whitespace)."""
    block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    fields: list[str] = []
    for line in block.split("\r\n"):
        if line[:1] in (" ", "\t") and fields:
            fields[-1] += "\r\n" + line
        else:
            fields.append(line)
    result: dict[str, list[str]] = {}
    for field in fields:
        name, _, value = field.partition(":")
        result.setdefault(name.lower(), []).append(value)
    return result


def unfold(value: str) -> str:
    return value.replace("\r\n", "").strip()


# -- list headers -------------------------------------------------------------------------


def test_list_headers_are_plain_ascii_urls_folded_only_between_urls(tmp_path: Path) -> None:
    root = make_root(tmp_path)
    with Harness(root) as gw:
        post_and_collect(gw, "Rosters")
        raw = raw_outbox(gw, "ann.lee@example.org", "Rosters")
    head = headers(raw)
    for name in URL_HEADERS + ("list-id",):
        [value] = head[name]
        assert "=?" not in value, (name, value)
        assert value.isascii()
    for name in URL_HEADERS:
        [value] = head[name]
        lines = value.split("\r\n")
        assert all(line.startswith(" <") for line in lines), (name, value)  # every line starts a URL
        assert all(line.endswith(">,") for line in lines[:-1]) and lines[-1].endswith(">"), (name, value)
        assert re.fullmatch(r"<[^<>\s]+>(, <[^<>\s]+>)*", unfold(value)), (name, value)
    [target] = re.findall(r"<([^>]+)>", unfold(head["list-unsubscribe"][0]))
    assert target.startswith("mailto:handover+u") and target.endswith(f"@{DOMAIN}?subject=unsubscribe")
    assert unfold(head["list-post"][0]) == f"<mailto:handover@{DOMAIN}>"
    assert unfold(head["list-archive"][0]) == f"<{SITE}c/handover/>"
    # The DMARC-safe From: the author's name, the community's own address (our domain).
    assert email.utils.parseaddr(unfold(head["from"][0])) == ("Di Park via Clinical Handover", f"handover@{DOMAIN}")
    assert "dkim-signature" not in head  # no key set: nothing signed
