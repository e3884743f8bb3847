"""IMAP intake as Exchange Online and Google need it, against a real Dovecot (issue #13).

One Dovecot serves the whole module: a certificate from a throwaway test CA (:mod:`testca`),
implicit TLS on its imaps port and STARTTLS on its imap port, and an oauth2 passdb that asks a
small token endpoint here (RFC 7662 introspection, by POST) whose token it is. Each test reads
mailboxes of its own. Also here: a message the server cannot give is given up after a few tries
with a final record, and the account goes on.

Mail is delivered before the gateway starts, so its first pass finds it: what IDLE reports is
test_imap.py's business, and Dovecot now and then misses a delivery made just as IDLE begins
(until the next command), which would make a test wait for nothing.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml
from conftest import free_port
from dovecot import HOST, Dovecot, _require_dovecot
from imapclient.imapclient import FLAGGED, RECENT, SEEN
from mailtest import Harness, git_root, mail, wire
from testca import TestCA, test_ca_fixture  # noqa: F401

from intranet.cli import main
from mailgateway.imap import MAX_TRIES, Poller
from mailgateway.imapaccounts import load_accounts
from mailgateway.imapstate import MAX_GIVEN_UP, State

PASSWORD_ENV = "TEST_IMAP_TLS_PASSWORD"
TOKEN_ENV = "TEST_IMAP_TLS_TOKEN"


class TokenEndpoint:
    """The identity provider's introspection endpoint (RFC 7662): which user a token is for, if any."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}
        self.asked: list[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                token = parse_qs(body).get("token", [""])[0]
                endpoint.asked.append(token)
                user = endpoint.tokens.get(token)
                answer = {"active": True, "username": user} if user else {"active": False}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, free_port()), Handler)
        self.url = f"http://{HOST}:{self.server.server_port}/introspect"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def issue(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = user
        return token

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def tokens() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    yield endpoint
    endpoint.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, test_ca: TestCA, tokens: TokenEndpoint) -> Iterator[Dovecot]:
    """The module's Dovecot: TLS with the test CA's certificate, passwords and OAuth 2.0 tokens."""
    _require_dovecot()
    with Dovecot(tmp_path_factory.mktemp("tls") / "dovecot", tls=test_ca, oauth2_url=tokens.url) as dovecot:
        yield dovecot


@pytest.fixture(autouse=True)
def _password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, Dovecot.PASSWORD)


def account(user: str, port: int, tls: str, **fields: Any) -> dict[str, Any]:
    """An account entry for imap.yml: a password unless a token is given; poll_seconds so long that only IDLE wakes it."""
    entry = {"host": HOST, "port": port, "tls": tls, "user": user, "community": "handover", "poll_seconds": 600}
    if not {"oauth2_token_env", "oauth2_token_file"} & set(fields):
        entry["password_env"] = PASSWORD_ENV
    return {**entry, **fields}


def intake_root(tmp_path: Path, *accounts: dict[str, Any]) -> Path:
    root = git_root(tmp_path / "intranet", imap_accounts="imap.yml")
    (root / "imap.yml").write_text(yaml.safe_dump(list(accounts)))
    return root


def pollers(gw: Harness) -> list[Poller]:
    assert gw.gateway.intake is not None
    return gw.gateway.intake.pollers


def until(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.02)
    return found


def state(root: Path) -> dict[str, Any]:
    """The accounts' state file (empty before it is first written)."""
    path = root / ".intranet/imap/state.json"
    return json.loads(path.read_text()) if path.exists() else {}


def logins(server: Dovecot, user: str) -> list[str]:
    """Dovecot's log lines of ``user``'s logins."""
    return [line for line in server.log.read_text().splitlines() if f"Login: user=<{user}>" in line]


# -- TLS -------------------------------------------------------------------------------------


def test_implicit_tls_and_starttls_fetch_and_publish_when_the_ca_is_trusted(
    tmp_path: Path, server: Dovecot, test_ca: TestCA
) -> None:
    users = {"implicit": "tls-implicit@example.org", "starttls": "tls-starttls@example.org"}
    ports = {"implicit": server.imaps_port, "starttls": server.imap_port}
    root = intake_root(
        tmp_path, *(account(user, ports[tls], tls, ca_file=str(test_ca.ca_file)) for tls, user in users.items())
    )
    messages = {user: mail(subject=f"Over {tls}", to=user) for tls, user in users.items()}
    for user, message in messages.items():
        server.deliver(user, wire(message))  # before the gateway starts (see above)
    with Harness(root) as gw:
        for message in messages.values():
            assert [r["outcome"] for r in gw.wait(message["Message-ID"])] == ["published"]
        assert [poller.status for poller in pollers(gw)] == ["connected", "connected"]
    for user in users.values():
        [login] = logins(server, user)  # the gateway's (Dovecot says "secured" for plain text on loopback)
        assert re.search(r"method=PLAIN, .* TLS, ", login), login
        assert [SEEN in flags for flags in server.flags(user).values()] == [True]
    assert all("error" not in entry for entry in state(root).values())


def test_an_untrusted_certificate_is_refused_unless_the_account_accepts_any(
    tmp_path: Path, server: Dovecot, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO, logger="mailgateway.imap")
    user = "tls-untrusted@example.org"
    message = mail(subject="Behind a certificate nobody vouches for", to=user)
    server.deliver(user, wire(message))
    # No ca_file: the system's CAs, which do not include the test CA.
    root = intake_root(
        tmp_path, account(user, server.imaps_port, "implicit"), account(user, server.imap_port, "starttls")
    )
    with Harness(root) as gw:
        until(lambda: all("not trusted" in p.status for p in pollers(gw)), "both accounts refuse the certificate")
        assert gw.records() == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("certificate is not trusted" in e and "ca_file" in e and str(server.imaps_port) in e for e in errors)
    assert any("certificate is not trusted" in e and str(server.imap_port) in e for e in errors)
    assert [entry["error"] for entry in state(root).values()] == [
        "the server's certificate is not trusted: unable to get local issuer certificate"
    ] * 2
    assert logins(server, user) == []  # no password sent
    assert [SEEN in flags for flags in server.flags(user).values()] == [False]  # nothing taken
    capsys.readouterr()
    assert main(["spool", "list", "--root", str(root)]) == 0
    listing = capsys.readouterr().out.split("IMAP accounts:\n", 1)[1].splitlines()
    assert len(listing) == 2 and all("certificate is not trusted" in line for line in listing)

    # The account says otherwise (for testing only).
    (root / "imap.yml").write_text(yaml.safe_dump([account(user, server.imaps_port, "implicit", tls_verify=False)]))
    with Harness(root) as gw:
        assert [r["outcome"] for r in gw.wait(message["Message-ID"])] == ["published"]


# -- OAuth 2.0 -------------------------------------------------------------------------------


def test_xoauth2_and_oauthbearer_log_in_with_a_valid_token(
    tmp_path: Path, server: Dovecot, test_ca: TestCA, tokens: TokenEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = {"xoauth2": "oauth-x@example.org", "oauthbearer": "oauth-bearer@example.org"}
    entries = []
    for mechanism, user in users.items():
        monkeypatch.setenv(f"{TOKEN_ENV}_{mechanism.upper()}", tokens.issue(user))
        entries.append(
            account(
                user,
                server.imap_port,
                "starttls",
                ca_file=str(test_ca.ca_file),
                oauth2_token_env=f"{TOKEN_ENV}_{mechanism.upper()}",
                oauth2_mechanism=mechanism,
            )
        )
    root = intake_root(tmp_path, *entries)
    messages = {user: mail(subject=f"With {mechanism}", to=user) for mechanism, user in users.items()}
    for user, message in messages.items():
        server.deliver(user, wire(message))
    with Harness(root) as gw:
        for message in messages.values():
            assert [r["outcome"] for r in gw.wait(message["Message-ID"])] == ["published"]
    for mechanism, user in users.items():
        [login] = logins(server, user)
        assert f"method={mechanism.upper()}, " in login and " TLS, " in login


def test_a_wrong_token_is_a_clear_login_failure_and_the_poller_carries_on(
    tmp_path: Path, server: Dovecot, test_ca: TestCA, tokens: TokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    """The token comes from a file this time, which a refresher (outside the gateway) keeps current."""
    caplog.set_level(logging.INFO, logger="mailgateway.imap")
    user = "oauth-wrong@example.org"
    wrong, good = "expired-" + secrets.token_urlsafe(16), tokens.issue(user)
    message = mail(subject="Waiting for a good token", to=user)
    server.deliver(user, wire(message))
    entry = account(user, server.imaps_port, "implicit", ca_file=str(test_ca.ca_file), oauth2_token_file="imap-token")
    root = intake_root(tmp_path, entry)
    token_file = root / "imap-token"  # relative to the accounts file
    token_file.write_text(wrong + "\n")
    with Harness(root) as gw:
        [poller] = pollers(gw)
        until(lambda: poller.status.startswith("login refused"), "the login is refused")
        assert "AUTHENTICATIONFAILED" in poller.status
        error = until(lambda: next(iter(state(root).values()), {}).get("error"), "the error on record")
        assert error == poller.status
        assert gw.records() == [] and [SEEN in f for f in server.flags(user).values()] == [False]
        assert wrong in tokens.asked  # Dovecot did ask the endpoint, which said no
        token_file.write_text(good + "\n")  # the refresher's turn: the next try logs in and takes the mail
        assert [r["outcome"] for r in gw.wait(message["Message-ID"])] == ["published"]
        assert poller.status == "connected"
    assert "error" not in state(root).popitem()[1]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors and all("login refused" in e and str(token_file) in e for e in errors)
    assert wrong not in caplog.text and good not in caplog.text  # secrets are never logged


# -- a message that cannot be taken ---------------------------------------------------------


def make_unreadable(server: Dovecot, user: str, message_id: str) -> None:
    """Dovecot cannot read this message's file any more: a FETCH of it fails and the server hangs up."""
    [path] = [p for p in (server.folder / "mail" / user).glob("*/*") if message_id.encode() in p.read_bytes()]
    path.chmod(0)


def test_a_message_the_server_cannot_give_is_given_up_once_and_the_next_is_published(
    tmp_path: Path, server: Dovecot, test_ca: TestCA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailgateway.imap")
    user = "poison@example.org"
    poison, after = mail(subject="Cannot be fetched", to=user), mail(subject="Right behind it", to=user)
    server.deliver(user, wire(poison), sender="ann.lee@example.org")
    server.deliver(user, wire(after), sender="ann.lee@example.org")
    make_unreadable(server, user, poison["Message-ID"])
    entry = account(user, server.imaps_port, "implicit", ca_file=str(test_ca.ca_file), failed_to="Failed")
    root = intake_root(tmp_path, entry)

    def failing() -> dict[str, Any]:
        return next(iter(state(root).values()), {}).get("failing", {})

    with Harness(root) as gw:  # two tries, then the gateway stops: the count survives it
        [poller] = pollers(gw)
        poller.first_backoff = 0.01
        until(lambda: failing().get("tries", 0) >= 2, "two failed tries")
    with Harness(root) as gw:
        [poller] = pollers(gw)
        poller.first_backoff = 0.01
        assert [r["outcome"] for r in gw.wait(after["Message-ID"])] == ["published"]
        [given_up] = [r for r in gw.records() if r.get("uid") == 1]  # the outcome SMTP mail that cannot be read gets
        assert (given_up["outcome"], given_up["reason"], given_up["tries"]) == ("rejected", "unreadable", MAX_TRIES)
        assert "FETCH failed" in given_up["detail"]
        until(lambda: poller.waiting.is_set(), "the pass is over")
    tries = [int(n) for n in re.findall(r"UID 1 could not be taken \(try (\d) of", caplog.text)]
    assert tries == list(range(1, MAX_TRIES + 1))  # each try once, across the restart
    assert "UID 1 given up" in caplog.text
    assert server.flags(user) == {2: {SEEN}}  # processed, and the poison out of the way:
    assert [f - {RECENT} for f in server.flags(user, "Failed").values()] == [{FLAGGED}]  # moved, flagged, not seen
    assert failing() == {} and "given_up" not in next(iter(state(root).values()))


# -- without a server --------------------------------------------------------------------------


def test_tls_and_token_settings_are_checked_when_read(tmp_path: Path, test_ca: TestCA) -> None:
    (tmp_path / "not-a-ca.pem").write_text("hello\n")
    path = tmp_path / "imap.yml"
    base = {"host": "h", "user": "u", "password_env": PASSWORD_ENV}
    entries = [
        {**base, "ca_file": "missing.pem"},
        {**base, "ca_file": "not-a-ca.pem", "tls_verify": "no"},
        {**base, "tls": "none", "tls_verify": False},
        {**base, "oauth2_mechanism": "xoauth2"},
        {"host": "h", "user": "u", "oauth2_token_env": PASSWORD_ENV, "oauth2_mechanism": "bearer"},
        {"host": "h", "user": "u", "oauth2_token_file": "no-token-here"},
        {**base, "tls": "starttls", "ca_file": str(test_ca.ca_file), "failed_to": "Failed"},
    ]
    path.write_text(yaml.safe_dump(entries))
    with pytest.raises(ValueError) as error:
        load_accounts(path)
    text = str(error.value)
    assert re.search(r"account 1: 'ca_file' '.*missing\.pem' cannot be used", text)
    assert "account 2: 'ca_file'" in text and "account 2: 'tls_verify' must be true or false" in text
    assert "account 3: 'ca_file' and 'tls_verify' need 'tls: implicit' or 'tls: starttls'" in text
    assert "account 4: 'oauth2_mechanism' needs 'oauth2_token_env' or 'oauth2_token_file'" in text
    assert "account 5: 'oauth2_mechanism' must be one of: xoauth2, oauthbearer" in text
    assert re.search(r"account 6: 'oauth2_token_file' '.*no-token-here' cannot be read", text)
    assert "account 7" not in text
    path.write_text(yaml.safe_dump([{**base, "ca_file": "ca.pem", "port": 993}]))
    (tmp_path / "ca.pem").write_bytes(test_ca.ca_file.read_bytes())
    [loaded] = load_accounts(path)  # relative to the accounts file
    assert loaded.ca_file == str(tmp_path / "ca.pem") and loaded.tls_verify is True
    assert loaded.oauth2_mechanism == "xoauth2" and loaded.failed_to == ""


def test_given_up_messages_are_remembered_within_a_bound(tmp_path: Path) -> None:
    assert MAX_GIVEN_UP == 1000
    first = State(tmp_path)
    first.max_given_up = 10  # the bound, made small
    for uid in range(1, 16):
        first.give_up("box", 7, uid)
    again = State(tmp_path)  # as after a restart
    assert again.given_up("box", 7) == list(range(6, 16))
    assert again.get("box") == (7, 15)
    again.keep_given_up("box", 7, [6, 8, 99_999])
    assert again.given_up("box", 7) == [6, 8]
    again.set("box", 8, 0)  # a new UIDVALIDITY: nothing of the old one holds
    assert again.given_up("box", 8) == [] and again.given_up("box", 7) == []
