"""Our mail reaches inboxes: plain list headers, one-click unsubscribe (RFC 8058), DKIM signatures.

A real gateway on loopback (see mailtest.Harness). Sent mail is read as the bytes
that left: the outbox Maildir's files, or what a real SMTP relay (aiosmtpd on
loopback) received. Signatures are checked with dkimpy's own ``dkim.verify``,
given the test's public key in place of DNS. The one-click endpoint is asked
with real HTTP requests (urllib).
"""

from __future__ import annotations

import base64
import email.utils
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
import yaml
from aiosmtpd.controller import Controller
from conftest import free_port
from helpers import add_person
from mailtest import DOMAIN, Harness, git, git_root, mail

from intranet.addresses import load_secret, signed_token, who_of
from intranet.errors import IntranetError
from intranet.settings import read_settings
from mailgateway.server import Gateway

SITE = "https://intranet.example.org/"
SELECTOR = "mail2026"
ONE_CLICK = b"List-Unsubscribe=One-Click"
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


def make_key(folder: Path) -> tuple[Path, bytes]:
    """A fresh RSA key (openssl), and the TXT record that would publish it."""
    key = folder / "dkim.key"
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
        check=True,
        capture_output=True,
    )
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def dns_with(record: bytes):
    """A ``dnsfunc`` for dkimpy that knows one name: our selector's DKIM record."""

    def lookup(name: bytes, timeout: float = 5) -> bytes | None:
        return record if name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode() else None

    return lookup


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


def subscribers(root: Path) -> dict:
    return yaml.safe_load((root / "communities" / "handover" / "subscribers.yml").read_text()) or {}


def http(url: str, data: bytes | None = None, content_type: str = "application/x-www-form-urlencoded"):
    """(status, body) of a GET, or of a POST of ``data``."""
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


# -- list headers -------------------------------------------------------------------------


def test_list_headers_are_plain_ascii_urls_folded_only_between_urls(tmp_path: Path) -> None:
    root = make_root(tmp_path, unsubscribe_http=f"127.0.0.1:{free_port()}")
    with Harness(root) as gw:
        post_and_collect(gw, "Rosters")
        raw = raw_outbox(gw, "ann.lee@example.org", "Rosters")
    head = headers(raw)
    for name in URL_HEADERS + ("list-id", "list-unsubscribe-post"):
        [value] = head[name]
        assert "=?" not in value, (name, value)
        assert value.isascii()
    for name in URL_HEADERS:
        [value] = head[name]
        lines = value.split("\r\n")
        assert all(line.startswith(" <") for line in lines), (name, value)  # every line starts a URL
        assert all(line.endswith(">,") for line in lines[:-1]) and lines[-1].endswith(">"), (name, value)
        assert re.fullmatch(r"<[^<>\s]+>(, <[^<>\s]+>)*", unfold(value)), (name, value)
    targets = re.findall(r"<([^>]+)>", unfold(head["list-unsubscribe"][0]))
    assert [t.split(":")[0] for t in targets] == ["https", "mailto"]
    assert targets[0].startswith(f"{SITE}unsubscribe/handover/u")
    assert targets[1].startswith("mailto:handover+u") and targets[1].endswith(f"@{DOMAIN}?subject=unsubscribe")
    assert unfold(head["list-unsubscribe-post"][0]) == "List-Unsubscribe=One-Click"
    assert unfold(head["list-post"][0]) == f"<mailto:handover@{DOMAIN}>"
    assert unfold(head["list-archive"][0]) == f"<{SITE}c/handover/>"
    # The DMARC-safe From: the author's name, the community's own address (our domain).
    assert email.utils.parseaddr(unfold(head["from"][0])) == ("Di Park via Clinical Handover", f"handover@{DOMAIN}")
    assert "dkim-signature" not in head  # no key set: nothing signed


def test_without_https_or_the_endpoint_there_is_no_one_click(tmp_path: Path) -> None:
    for site_url, settings in (
        ("http://127.0.0.1:8000/", {"unsubscribe_http": f"127.0.0.1:{free_port()}"}),
        (SITE, {}),
    ):
        root = make_root(tmp_path / site_url.split(":")[0] / str(len(settings)), site_url, **settings)
        with Harness(root) as gw:
            post_and_collect(gw, "Rosters")
            head = headers(raw_outbox(gw, "ann.lee@example.org", "Rosters"))
        [value] = head["list-unsubscribe"]
        assert re.fullmatch(rf"<mailto:handover\+u[0-9a-f]+@{re.escape(DOMAIN)}\?subject=unsubscribe>", unfold(value))
        assert "list-unsubscribe-post" not in head


# -- one-click unsubscribe ----------------------------------------------------------------


@pytest.fixture
def one_click(tmp_path: Path) -> Iterator[tuple[Harness, str]]:
    port = free_port()
    with Harness(make_root(tmp_path, unsubscribe_http=f"127.0.0.1:{port}")) as gw:
        yield gw, f"http://127.0.0.1:{port}/"


def unsubscribe_url(gw: Harness, rcpt: str, local: str) -> str:
    """The https URL of ``rcpt``'s List-Unsubscribe, pointed at the endpoint on loopback."""
    [url] = re.findall(r"<(https://[^>]+)>", unfold(headers(raw_outbox(gw, rcpt, "Rosters"))["list-unsubscribe"][0]))
    assert url.startswith(SITE)
    return local + url[len(SITE) :]


def settle(gw: Harness) -> None:
    """Wait until the worker has run everything queued so far: it runs queued requests before mail."""
    probe = mail(subject="settle", body="Nothing to see.", sender="ann.lee@example.org")
    gw.send(probe, f"handover@{DOMAIN}", sender="ann.lee@example.org")
    gw.wait(probe["Message-ID"])


def test_one_click_post_unsubscribes_with_a_commit_by_the_person(one_click: tuple[Harness, str]) -> None:
    gw, local = one_click
    post_and_collect(gw, "Rosters")
    url = unsubscribe_url(gw, "ann.lee@example.org", local)

    # A GET (a link scanner, or the reader's browser) shows a button and changes nothing.
    status, page = http(url)
    assert status == 200 and "Clinical Handover" in page
    assert re.search(r'<form method="post"', page) and 'name="List-Unsubscribe" value="One-Click"' in page
    # Forged or unknown tokens, other kinds of token and a POST without the one-click body change nothing.
    secret = load_secret(gw.root / ".intranet")
    who = who_of("ann.lee@example.org")
    bad = [
        url[:-1] + ("0" if url[-1] != "0" else "1"),
        f"{local}unsubscribe/handover/{signed_token(b'not the secret', 'handover', 'u', who)}",
        f"{local}unsubscribe/procurement/{url.rsplit('/', 1)[1]}",
        f"{local}unsubscribe/nosuch/{signed_token(secret, 'nosuch', 'u', who)}",
        f"{local}unsubscribe/handover/{signed_token(secret, 'handover', 'b', who)}",
        f"{local}unsubscribe/handover/",
        f"{local}elsewhere",
    ]
    for wrong in bad:
        assert http(wrong)[0] in (400, 404), wrong
        assert http(wrong, ONE_CLICK)[0] in (400, 404), wrong
    assert http(url, b"List-Unsubscribe=Yes")[0] == 400
    assert http(url, b"")[0] == 400
    settle(gw)
    assert subscribers(gw.root) == {"ann.lee": "each", "cy.diaz": "each"}

    # The POST a mail client sends (RFC 8058): 200, then the worker commits it as Ann.
    status, page = http(url, ONE_CLICK)
    assert status == 200 and "Clinical Handover" in page
    wanted = "Ann Lee <ann.lee@example.org>|Intranet gateway|handover: ann.lee gets no mail"

    def last_change() -> str:
        return git(gw.root, "log", "-1", "--format=%an <%ae>|%cn|%s", "--", "communities/handover/subscribers.yml")

    deadline = time.monotonic() + 60  # the file is written before its commit: wait for the commit
    while last_change().strip() != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    settle(gw)
    assert subscribers(gw.root) == {"cy.diaz": "each"}
    assert last_change().strip() == wanted
    assert git(gw.root, "status", "--porcelain").strip() == ""

    # Multipart form data, as RFC 8058 allows, works the same for Cy.
    url = unsubscribe_url(gw, "cy.diaz@example.org", local)
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--{boundary}--\r\n'
    ).encode()
    assert http(url, body, f"multipart/form-data; boundary={boundary}")[0] == 200
    deadline = time.monotonic() + 30
    while subscribers(gw.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subscribers(gw.root) == {}


def test_intranet_gateway_serves_the_endpoint_and_stops_it(tmp_path: Path) -> None:
    port = free_port()
    root = make_root(tmp_path, unsubscribe_http=f"127.0.0.1:{port}")
    command = [sys.executable, "-m", "intranet.cli", "gateway", "--root", str(root), "--lmtp", ""]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/unsubscribe/handover/u0123456789abcdef01234567"
    try:
        deadline = time.monotonic() + 60
        status = 0
        while status != 404 and time.monotonic() < deadline and process.poll() is None:
            try:
                status = http(url)[0]
            except urllib.error.URLError:
                time.sleep(0.1)
        assert status == 404
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    with pytest.raises(urllib.error.URLError):
        http(url)


# -- DKIM ---------------------------------------------------------------------------------


class Sink:
    """aiosmtpd handler of a relay that keeps what it is given, as bytes."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append((envelope.rcpt_tos[0], envelope.original_content))
        return "250 2.0.0 OK"


def signature_tags(raw: bytes) -> dict[str, str]:
    [value] = headers(raw)["dkim-signature"]
    return {k.strip(): re.sub(r"\s+", "", v) for k, _, v in (t.partition("=") for t in unfold(value).split(";")) if k}


def assert_signed(raw: bytes, record: bytes) -> None:
    assert dkim.verify(raw, dnsfunc=dns_with(record)), raw[:600]
    tags = signature_tags(raw)
    assert (tags["d"], tags["s"]) == (DOMAIN, SELECTOR)
    signed = tags["h"].lower().split(":")
    for name in ("from", "subject", "date", "message-id", "to"):
        assert name in signed, (name, signed)
    head = headers(raw)
    for name in ("list-unsubscribe", "list-unsubscribe-post"):
        if name in head:
            assert name in signed, (name, signed)
    assert (
        dkim.verify(re.sub(rb"(?m)^Subject: ", b"Subject: Changed ", raw, count=1), dnsfunc=dns_with(record)) is False
    )


def test_every_mail_sent_to_the_outbox_is_dkim_signed(tmp_path: Path) -> None:
    key, record = make_key(tmp_path)
    root = make_root(
        tmp_path, unsubscribe_http=f"127.0.0.1:{free_port()}", dkim_key_file=str(key), dkim_selector=SELECTOR
    )
    with Harness(root) as gw:
        post_and_collect(gw, "Rosters")
        note = raw_outbox(gw, "ann.lee@example.org", "Rosters")
        ask = mail(subject="subscribe", sender="di.park@example.org", to=f"handover+subscribe@{DOMAIN}")
        gw.send(ask, f"handover+subscribe@{DOMAIN}", sender="di.park@example.org")
        gw.wait(ask["Message-ID"])
        confirmation = raw_outbox(gw, "di.park@example.org", "Please confirm")
    assert_signed(note, record)
    assert {"list-unsubscribe", "list-unsubscribe-post"} <= set(signature_tags(note)["h"].lower().split(":"))
    changed = note.replace(b"List-Unsubscribe=One-Click", b"List-Unsubscribe=Two-Click", 1)
    assert changed != note and dkim.verify(changed, dnsfunc=dns_with(record)) is False
    assert_signed(confirmation, record)
    # The signing domain is the From domain: DKIM aligns for DMARC.
    assert re.search(rb"(?m)^From: .*<handover@" + DOMAIN.encode() + rb">\r$", note)


def test_mail_sent_through_the_relay_is_signed_once(tmp_path: Path) -> None:
    key, record = make_key(tmp_path)
    sink = Sink()
    relay = Controller(sink, hostname="127.0.0.1", port=free_port())
    relay.start()
    try:
        root = make_root(
            tmp_path,
            relay=f"127.0.0.1:{relay.port}",
            unsubscribe_http=f"127.0.0.1:{free_port()}",
            dkim_key_file=str(key),
            dkim_selector=SELECTOR,
        )
        with Harness(root) as gw:
            post_and_collect(gw, "Rosters")
            deadline = time.monotonic() + 30
            while len(sink.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        relay.stop()
    assert sorted(rcpt for rcpt, _ in sink.received) == ["ann.lee@example.org", "cy.diaz@example.org"]
    for _rcpt, raw in sink.received:
        assert raw.count(b"DKIM-Signature:") == 1
        assert_signed(raw, record)


def test_a_key_that_cannot_be_read_stops_the_gateway_from_starting(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-key.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    for key in (bad, tmp_path / "missing.pem"):
        root = make_root(tmp_path / key.stem, dkim_key_file=str(key))
        with pytest.raises(IntranetError, match=key.name):
            Gateway(root, read_settings(root)).start()
