"""The gateway's part of the ``intranet`` command: ``gateway``, ``spool``, and ``up --smtp``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intranet.cli import StopSignals, host_port
from intranet.follow import Follower
from intranet.gitrepo import git_identity
from intranet.settings import read_settings

if TYPE_CHECKING:
    from intranet.model import Model

log = logging.getLogger("intranet.gateway")


def _host_port(value: str) -> str:
    """HOST:PORT, checked like every other address option; '' turns a listener off."""
    if value:
        host_port(value)
    return value


class GatewayPlugin:
    """Registered under the ``intranet.plugins`` entry point group."""

    def add_commands(self, subparsers: Any) -> dict[str, Callable[[argparse.Namespace], int]]:
        p = subparsers.add_parser(
            "gateway",
            help="run the mail gateway (SMTP/LMTP)",
            description="Take mail for the communities over SMTP and LMTP, spool it and publish it.",
        )
        p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        self._listen_arguments(p)

        p = subparsers.add_parser("spool", help="list or retry held, failed and rejected mail")
        spool = p.add_subparsers(dest="spool_command", required=True, metavar="ACTION")
        q = spool.add_parser("list", help="pending, held and failed mail, and recent outcomes")
        q.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        q.add_argument("--json", action="store_true", help="print JSON instead of a table")
        q = spool.add_parser("retry", help="put a failed message back in the queue")
        q.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        q.add_argument("key", help="spool key, as `intranet spool list` shows it")

        p = subparsers.add_parser("moderate", help="list, approve or reject mail held for moderators")
        moderate = p.add_subparsers(dest="moderate_command", required=True, metavar="ACTION")
        q = moderate.add_parser("list", help="messages waiting for a moderator")
        q.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        q = moderate.add_parser("approve", help="publish a held message")
        q.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        q.add_argument("id", help="held message, as `intranet moderate list` shows it")
        q.add_argument("--known", action="store_true", help="also add the sender to people/")
        q.add_argument("--kind", choices=("staff", "partner", "supplier"), default="", help="their kind, with --known")
        q = moderate.add_parser("reject", help="turn a held message down; the sender is told why")
        q.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        q.add_argument("id", help="held message, as `intranet moderate list` shows it")
        q.add_argument("--reason", default="", help="told to the sender")

        p = subparsers.add_parser("digest", help="send the daily digests now")
        p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        p.add_argument("--send", action="store_true", help="queue and send them (without it: say what waits)")

        p = subparsers.add_parser(
            "import",
            help="import a mail archive (mbox, Maildir, folder of .eml files) into a community",
            description=(
                "Post every message of an archive to one community, threaded, with its original date and author; "
                "no notifications. Messages already there are skipped, so an import can be run again."
            ),
        )
        p.add_argument("path", type=Path, help="an mbox file, a Maildir, or a folder of messages or mboxes")
        p.add_argument("--community", required=True, metavar="SLUG", help="the community to post into")
        p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        return {
            "gateway": cmd_gateway,
            "spool": cmd_spool,
            "moderate": cmd_moderate,
            "digest": cmd_digest,
            "import": cmd_import,
        }

    def add_up_arguments(self, parser: argparse.ArgumentParser) -> None:
        self._listen_arguments(parser)
        parser.add_argument("--no-gateway", action="store_true", help="serve the site only")

    def _listen_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--smtp",
            type=_host_port,
            default=None,
            metavar="HOST:PORT",
            help="SMTP listener (default: the smtp setting, 127.0.0.1:8025; '' turns it off)",
        )
        parser.add_argument(
            "--lmtp",
            type=_host_port,
            default=None,
            metavar="HOST:PORT",
            help="LMTP listener for an MTA (default: the lmtp setting, off)",
        )

    def up_service(self, args: argparse.Namespace, root: Path, model: Model) -> Any:
        if getattr(args, "no_gateway", False):
            return None
        from .server import Gateway
        from .store import StoreError

        try:
            return Gateway(root, read_settings(root), smtp=args.smtp, lmtp=args.lmtp, model=model)
        except StoreError as exc:
            raise RuntimeError(f"the mail gateway cannot run: {exc} (or start with --no-gateway)") from None


plugin = GatewayPlugin()


def cmd_gateway(args: argparse.Namespace) -> int:
    from .server import Gateway
    from .store import StoreError

    root = Path(args.root).resolve()
    follower = None
    try:
        settings = read_settings(root)
        gateway = Gateway(root, settings, smtp=args.smtp, lmtp=args.lmtp)
        if settings.remote:  # `intranet notify` (a post-receive hook, a webhook): fetch now
            notify_http = host_port(settings.notify_http) if settings.notify_http else None
            follower = Follower(None, root / settings.state_dir, False, [gateway.remote_moved], notify_http)
        gateway.start()
        if follower is not None:
            for line in follower.start():
                log.info("started %s", line)
    except (StoreError, OSError, RuntimeError, ValueError) as exc:
        print(f"intranet gateway: error: {exc}", file=sys.stderr)
        return 1
    signals = StopSignals()  # its own handlers: a shell may have left SIGINT ignored
    signals.install()
    signals.wait()
    log.info("stopping")
    if follower is not None:
        follower.stop()
    gateway.stop()
    return 0


def cmd_spool(args: argparse.Namespace) -> int:
    from .pusher import read_status
    from .spool import Records, Spool

    root = Path(args.root).resolve()
    state = root / read_settings(root).state_dir
    spool = Spool(state)
    if args.spool_command == "retry":
        if spool.retry(args.key):
            print(f"{args.key}: back in the queue; a running gateway takes it within a second")
            return 0
        print(f"intranet spool retry: error: no failed message {args.key!r}", file=sys.stderr)
        return 1
    report: dict[str, Any] = {
        "pending": spool.pending(),
        "held": list(spool.held()),
        "failed": list(spool.failed()),
        "not_published": Records(state).tail(50, lambda r: r.get("outcome") not in ("published", "duplicate")),
        "imap": _imap_accounts(state),
        "push": read_status(state),
    }
    if args.json:
        print(json.dumps(report, indent=1, ensure_ascii=False))
        return 0
    print(f"pending: {len(report['pending'])}")
    for key in report["pending"]:
        print(f"  {key}")
    print(f"held for moderation: {len(report['held'])}")
    for item in report["held"]:
        print(f"  {item['id']}  {item['reason']:<18} {item.get('sender', '')}  {item.get('subject', '')[:60]}")
    print(f"failed: {len(report['failed'])}  (intranet spool retry KEY)")
    for item in report["failed"]:
        print(f"  {item['key']}  tries={item['tries']}  {item['error'][:100]}")
    print("recently not published:")
    for record in report["not_published"]:
        print(
            f"  {record.get('time', '')}  {record.get('outcome', ''):<9} {record.get('reason', ''):<18} "
            f"{record.get('sender', '')}  {record.get('message_id', '')}"
        )
    push = report["push"]
    if push:
        print(f"commits waiting to be pushed to {push.get('remote')} ({push.get('branch')}): {push.get('waiting', 0)}")
        if push.get("error"):
            print(f"  since {push.get('since', '?')}: {push['error']}")
    if report["imap"]:
        print("IMAP accounts:")
    for key, entry in report["imap"].items():
        print(f"  {key}  {_imap_status(entry)}")
    return 0


def _imap_accounts(state: Path) -> dict[str, Any]:
    from .imapstate import State

    return State(state).all() if (state / "imap" / "state.json").is_file() else {}


def _imap_status(entry: dict[str, Any]) -> str:
    """One line on an IMAP account: why it cannot connect, the message it is stuck on, what it gave up."""
    parts = [f"error since {entry.get('error_since', '?')}: {entry['error']}"] if entry.get("error") else ["ok"]
    failing = entry.get("failing")
    if isinstance(failing, dict):
        parts.append(f"UID {failing.get('uid')} failed {failing.get('tries')} times: {failing.get('error', '')[:100]}")
    given_up = entry.get("given_up")
    if isinstance(given_up, dict) and given_up.get("uids"):
        parts.append(f"given up and left in the folder: UID {', '.join(map(str, given_up['uids'][-10:]))}")
    return "; ".join(parts)


def _editor(root: Path) -> str:
    """Who is at the terminal, as Git knows them in the intranet's repository."""
    import getpass

    name, address = git_identity(root)
    return f"{name or getpass.getuser()} <{address or 'editor@invalid'}>"


def cmd_moderate(args: argparse.Namespace) -> int:
    from .commands import Decision
    from .remote import gateway_root
    from .spool import Spool
    from .worker import Worker

    root, settings = gateway_root(Path(args.root), read_settings(Path(args.root)))
    spool = Spool(root / settings.state_dir)
    held = {item["id"]: item for item in spool.held()}
    if args.moderate_command == "list":
        print(f"held for moderation: {len(held)}")
        for item in held.values():
            print(f"  {item['id']}  {item['community']:<16} {item['reason']:<18} {item.get('sender', '')}")
            print(f"      {item.get('subject', '')[:90]}")
        return 0
    if args.id not in held:
        print(f"intranet moderate: error: nothing held as {args.id!r} (see `intranet moderate list`)", file=sys.stderr)
        return 1
    if args.moderate_command == "approve":
        decision = Decision("approve", known=args.known or bool(args.kind), kind=args.kind)
    else:
        decision = Decision("reject", reason=args.reason)
    worker = Worker(root, settings)
    if worker.acquire():  # no gateway is running: act here
        try:
            worker.commands.decide(args.id, decision, _editor(root), worker.model())
        finally:
            worker.stop()
        print(f"{args.id}: {decision.action}d")
    else:
        worker.decide(args.id, decision, _editor(root))
        print(f"{args.id}: {decision.action} passed to the running gateway")
    return 0


def cmd_digest(args: argparse.Namespace) -> int:
    from .notify import Notifier
    from .remote import gateway_root
    from .worker import Worker

    root, settings = gateway_root(Path(args.root), read_settings(Path(args.root)))
    notifier = Notifier(root, settings)
    waiting = len(notifier.digest_list.read_text().splitlines()) if notifier.digest_list.is_file() else 0
    if settings.remote:  # the posts mailed are listed in their claims on the remote (mailgateway.digestclaim)
        from intranet.gitremote import public_url

        from .claims import Claims
        from .digestclaim import waiting as waiting_on
        from .remote import Remote
        from .store import git_ident

        notifier.claims = Claims(Remote(root, settings.remote, settings.branch), git_ident(*settings.committer)[1])
        found = waiting_on(notifier.claims)
        if found is None:
            print(f"the remote {public_url(settings.remote)} cannot be reached", file=sys.stderr)
            return 1
        waiting = found
    if not args.send:
        print(
            f"{waiting} posts wait for the next digest (at {settings.digest_time} {settings.timezone}); "
            "--send sends now"
        )
        return 0
    queued = notifier.send_digests()
    worker = Worker(root, settings)
    if worker.acquire():  # no gateway running: deliver them from here
        try:
            notifier.delivery.run_once()
        finally:
            worker.stop()
    print(f"{queued} digest mails for {waiting} posts")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from intranet.progress import Progress

    from .importer import Importer
    from .remote import gateway_root
    from .store import StoreError

    root = Path(args.root).resolve()
    editor = _editor(root)
    name, _, address = editor.rpartition(" <")
    try:
        root, settings = gateway_root(root, read_settings(root))  # with a remote: into the gateway's checkout
        importer = Importer(root, settings, args.community, (name, address.rstrip(">")))
        summary = importer.run(Path(args.path), Progress(f"import {Path(args.path).name}", unit="B"))
    except (StoreError, OSError, ValueError) as exc:
        print(f"intranet import: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("intranet import: interrupted; run the same command again to finish", file=sys.stderr)
        return 130
    print("\n".join(summary.lines()))
    return 0
