"""The connection to an IMAP server: TLS, logging in, and what IMAPClient does not reach.

:func:`connect` opens a connection as an account says (see :mod:`mailgateway.imap` for the
fields): implicit TLS or STARTTLS with :func:`~mailgateway.imapaccounts.tls_context`, then a
password (LOGIN) or an OAuth 2.0 access token (XOAUTH2 or OAUTHBEARER). The other functions
reach into imaplib where IMAPClient has no public way: responses it has filed away or already
read into its buffer, and cutting a connection from another thread.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from typing import Any

from imapclient import IMAPClient

from .imapaccounts import Account, secret, tls_context

ERRORS: tuple[type[BaseException], ...] = (imaplib.IMAP4.error, OSError, socket.timeout, EOFError)
TIMEOUT = 60.0  # seconds for any one network operation


def connect(account: Account) -> IMAPClient:
    """A connection to ``account``'s server, logged in; raises what connecting or logging in raised."""
    context = tls_context(account) if account.tls != "none" else None
    client = IMAPClient(
        account.host, port=account.port, ssl=account.tls == "implicit", ssl_context=context, timeout=TIMEOUT
    )
    try:
        if account.tls == "starttls":
            client.starttls(context)
        if account.password_env:
            client.login(account.user, secret(account))
        elif account.oauth2_mechanism == "oauthbearer":
            client.oauthbearer_login(account.user, secret(account))
        else:
            client.oauth2_login(account.user, secret(account))
    except BaseException:
        close(client)
        raise
    return client


def mail_reported(client: IMAPClient) -> bool:
    """Whether the server announced new mail (EXISTS, RECENT) alongside its answers during the last pass.

    Servers report a new message with whatever response comes next, even a SEARCH's; imaplib files
    such lines away and IDLE would not report the message again, so it would wait for the next
    poll. imaplib's public ``IMAP4.response()`` takes them out (IMAPClient keeps imaplib's
    connection as ``_imap``).
    """
    imap = client._imap  # IMAPClient has no public way to reach filed-away responses
    reported = False
    for code in ("EXISTS", "RECENT"):
        _, data = imap.response(code)
        reported = reported or any(item is not None for item in data)
    return reported


def unread(client: IMAPClient) -> bool:
    """Whether a response already waits in the client's read buffer.

    A server that has news when IDLE starts (mail delivered since the pass's last command) sends
    it right behind its "+ idling", often in the same packet; imaplib reads both into its buffer
    and IMAPClient's ``idle_check`` polls only the socket, so the news would wait for the next
    poll. Peeking without blocking (imaplib's buffered ``file``) finds it.
    """
    peek = getattr(getattr(client._imap, "file", None), "peek", None)
    if peek is None:
        return False
    sock = client.socket()
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    finally:
        sock.settimeout(timeout)


def closing(response: Any) -> bool:
    return isinstance(response, tuple) and bool(response) and response[0] == b"BYE"


def interrupt(client: IMAPClient) -> None:
    """Cut the connection from another thread, so that a wait in IDLE ends now (as a drop)."""
    try:
        socket.socket.shutdown(client.socket(), socket.SHUT_RDWR)  # the plain socket's, also under TLS
    except OSError:
        pass


def close(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except ERRORS:
        pass
