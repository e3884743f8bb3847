"""The gateway's part of the ``intranet`` command: ``gateway``, ``spool``, and ``up --smtp``."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.cli import host_port
from generator.config import read_settings

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
        return {"gateway": cmd_gateway, "spool": cmd_spool}

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

    def up_service(self, args: argparse.Namespace, root: Path, notify: Callable[[], None]) -> Any:
        if getattr(args, "no_gateway", False):
            return None
        from .server import Gateway
        from .store import StoreError

        try:
            return Gateway(root, read_settings(root), smtp=args.smtp, lmtp=args.lmtp, on_commit=notify)
        except StoreError as exc:
            raise RuntimeError(f"the mail gateway cannot run: {exc} (or start with --no-gateway)") from None


plugin = GatewayPlugin()


def cmd_gateway(args: argparse.Namespace) -> int:
    from .server import Gateway
    from .store import StoreError

    root = Path(args.root).resolve()
    try:
        gateway = Gateway(root, read_settings(root), smtp=args.smtp, lmtp=args.lmtp)
        gateway.start()
    except (StoreError, OSError, RuntimeError, ValueError) as exc:
        print(f"intranet gateway: error: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    log.info("stopping")
    gateway.stop()
    return 0


def cmd_spool(args: argparse.Namespace) -> int:
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
    report: dict[str, list[Any]] = {
        "pending": spool.pending(),
        "held": list(spool.held()),
        "failed": list(spool.failed()),
        "not_published": [r for r in Records(state).all() if r.get("outcome") not in ("published", "duplicate")][-50:],
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
    return 0
