"""One-click unsubscribe (RFC 8058): the gateway's small HTTP endpoint.

When ``site_url`` is https and ``unsubscribe_http`` is set, each notification and
digest carries::

    List-Unsubscribe: <https://<site>/unsubscribe/<slug>/<token>>, <mailto:<mail>+<token>@<domain>?...>
    List-Unsubscribe-Post: List-Unsubscribe=One-Click

``<token>`` is the signed per-recipient ``u`` token of the mailto address (see
:mod:`intranet.addresses`): it names the person's address (a hash of it) and is
bound to the community by its HMAC. The web server passes ``/unsubscribe/`` to
this endpoint without asking anyone to sign in (docs/deployment.md): the token
is the proof, and a mailbox provider posts from its own servers.

- ``POST`` with the body ``List-Unsubscribe=One-Click`` (form-urlencoded or
  multipart, as RFC 8058 allows): the request is handed to the worker, which sets
  the person's subscription to ``none`` in a commit authored by them, as an
  unsubscribe by mail does. Answered 200 with a short page once the request is
  stored durably; the commit follows within moments.
- ``GET`` and ``HEAD``: a page with a button that sends that POST. They change
  nothing, because link scanners and previews fetch every URL in a mail.
- A token that does not check out, or for a community that is not there: 404.
  A POST without the one-click body: 400. Nothing changes.

``http.server`` in a thread of its own, started and stopped with the gateway
(``intranet up`` and ``intranet gateway``). This thread never touches Git.
"""

from __future__ import annotations

import email.parser
import email.policy
import html
import http.server
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable

from intranet.addresses import parse_suffix
from intranet.cli import host_port
from intranet.format import Community
from intranet.settings import Settings

from .outmail import ONE_CLICK_PATH, community_address

log = logging.getLogger(__name__)

PATH_RE = re.compile(rf"/{ONE_CLICK_PATH}/([a-z0-9-]{{1,64}})/([0-9a-z]{{1,64}})/?$")
ONE_CLICK = ("List-Unsubscribe", "One-Click")
MAX_BODY = 8192  # RFC 8058's body is a few dozen bytes, a few hundred as multipart
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
}

Unsubscribe = Callable[[str, str], None]  # (community slug, who): hand the change to the worker


def is_one_click(content_type: str, body: bytes) -> bool:
    """Whether ``body`` is the form RFC 8058 posts: ``List-Unsubscribe=One-Click``."""
    if content_type.lower().startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", "replace")
        form = email.parser.BytesParser(policy=email.policy.default).parsebytes(head + body)
        for part in form.iter_parts() if form.is_multipart() else ():
            if part.get_param("name", header="content-disposition") == ONE_CLICK[0]:
                return bytes(part.get_payload(decode=True) or b"").strip() == ONE_CLICK[1].encode()
        return False
    fields = urllib.parse.parse_qs(body.decode("ascii", "replace").strip())
    return ONE_CLICK[1] in fields.get(ONE_CLICK[0], [])


def page(title: str, *paragraphs: str, button: bool = False) -> str:
    """A small page; ``paragraphs`` are HTML already escaped."""
    form = (
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'
        if button
        else ""
    )
    text = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{text}{form}</body></html>"
    )


NOT_VALID = page(
    "This link is not valid",
    "It may have been copied in part. Use the unsubscribe link of your mail client, or write to the "
    "community's address with the word <em>unsubscribe</em> after a plus sign.",
)


class OneClick:
    """The endpoint: what it answers (:meth:`answer`), and the server that asks it."""

    def __init__(
        self,
        address: str,
        settings: Settings,
        secret: bytes,
        communities: Callable[[], dict[str, Community]],
        unsubscribe: Unsubscribe,
    ) -> None:
        self.address = address
        self.settings = settings
        self.secret = secret
        self.communities = communities  # slug -> community, as the gateway's model has them now
        self.unsubscribe = unsubscribe
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    def answer(self, method: str, path: str, content_type: str = "", body: bytes = b"") -> tuple[int, str]:
        """(HTTP status, page) for a request; a POST that checks out hands the change on."""
        match = PATH_RE.search(urllib.parse.urlsplit(path).path)
        community = self.communities().get(match.group(1)) if match else None
        command = parse_suffix(self.secret, community.mail, match.group(2)) if match and community else None
        if community is None or command is None or command.kind != "unsubscribe-now":
            return 404, NOT_VALID
        name = html.escape(community.name)
        if method != "POST":
            return 200, page(
                f"Unsubscribe from {community.name}?",
                f"You will get no more mail from {name} at the address this link was sent to.",
                button=True,
            )
        if not is_one_click(content_type, body):
            return 400, page("Nothing was changed", "Use the button on this page to unsubscribe.")
        self.unsubscribe(community.slug, command.who)
        log.info("one-click unsubscribe from %s for %s: handed to the worker", community.slug, command.who)
        again = html.escape(community_address(community, self.settings, "subscribe"))
        return 200, page(
            f"Unsubscribed from {community.name}",
            f"You will get no more mail from {name} at this address.",
            f'To get its mail again, write to <a href="mailto:{again}">{again}</a>.',
        )

    def start(self) -> str:
        host, port = host_port(self.address)
        self.server = _Server((host, port), _Handler)
        self.server.endpoint = self
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, name="one-click", daemon=True
        )
        self.thread.start()
        return f"one-click unsubscribe (HTTP) on {host}:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if self.thread is not None:
            self.thread.join(timeout=10)
            self.thread = None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    endpoint: OneClick


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that stops sending mid-request loses its thread after this
    server_version = "intranet-unsubscribe"
    sys_version = ""

    def do_GET(self) -> None:
        self._reply(*self.server.endpoint.answer("GET", self.path))

    def do_HEAD(self) -> None:
        self._reply(*self.server.endpoint.answer("HEAD", self.path), head=True)

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._reply(413 if length > MAX_BODY else 400, page("Nothing was changed", "The request was not valid."))
            return
        body = self.rfile.read(length)
        self._reply(*self.server.endpoint.answer("POST", self.path, self.headers.get("Content-Type", ""), body))

    def _reply(self, status: int, text: str, head: bool = False) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        for name, value in HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    # The request line holds a person's token: the server's own log lines leave it out.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("one-click %s answered %s", self.command, code)

    def log_error(self, format: str, *args: object) -> None:
        log.debug("one-click: the HTTP server refused a request")
