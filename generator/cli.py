"""The ``intranet`` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from . import __version__

log = logging.getLogger("intranet")

Command = Callable[[argparse.Namespace], int]


class Service(Protocol):
    """Something `intranet up` runs beside the site (the mail gateway)."""

    def start(self) -> list[str]: ...

    def stop(self) -> None: ...


class Plugin(Protocol):
    """What another package adds to the `intranet` command (entry point group ``intranet.plugins``).

    The generator never imports the mail gateway: the gateway plugs in here.
    """

    def add_commands(self, subparsers: Any) -> dict[str, Command]: ...

    def add_up_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def up_service(
        self, args: argparse.Namespace, root: Path, notify: Callable[[list[str]], None]
    ) -> Service | None: ...


def plugins() -> list[Plugin]:
    return [ep.load() for ep in sorted(entry_points(group="intranet.plugins"), key=lambda ep: ep.name)]


def host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="intranet",
        description="Communities of practice: Markdown in Git, email in and out, a MkDocs Material site.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "build",
        help="build the site trees",
        description="Build one complete site tree per audience into SITE/<audience>/ "
        "(staff, partners, suppliers, and one per combination of members-only communities).",
    )
    p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
    p.add_argument("--site", type=Path, default=None, help="output folder (default: ROOT/site)")
    p.add_argument("--audience", default=None, metavar="TREE", help="build only this tree, e.g. partners")

    p = sub.add_parser(
        "check",
        help="validate content files and warn of audience changes",
        description=(
            "Validate every community, post and person file, and warn when the people who may read a community "
            "change: the work tree against HEAD when a community.yml differs from it, otherwise HEAD against "
            "HEAD^ (what the last commit did). Warnings do not change the exit status unless --strict is given."
        ),
    )
    p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
    p.add_argument(
        "--since",
        metavar="REV",
        default=None,
        help="compare audiences in the work tree with Git revision REV instead (a branch, tag or commit)",
    )
    p.add_argument("--strict", action="store_true", help="fail (exit 1) on audience warnings too")

    p = sub.add_parser(
        "up",
        help="build, serve and rebuild on change",
        description="Build, serve the site and rebuild when content changes.",
    )
    p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
    p.add_argument("--site", type=Path, default=None, help="output folder (default: ROOT/site)")
    p.add_argument(
        "--http",
        type=host_port,
        default=("127.0.0.1", 8000),
        metavar="HOST:PORT",
        help="where to serve the site (default: 127.0.0.1:8000)",
    )
    p.add_argument(
        "--audience",
        default="staff",
        metavar="TREE",
        help="the tree to serve, with no sign-on in front (default: staff); all trees are rebuilt",
    )
    commands: dict[str, Command] = {"build": cmd_build, "check": cmd_check, "up": cmd_up}
    for plugin in plugins():
        plugin.add_up_arguments(p)
        commands.update(plugin.add_commands(sub))
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    parser, commands = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        if args.command in ("up", "gateway")
        else "%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        logging.getLogger("mkdocs").setLevel(logging.WARNING)
        logging.getLogger("MARKDOWN").setLevel(logging.WARNING)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cmd_build(args: argparse.Namespace) -> int:
    from .build import run_build

    result = run_build(args.root, args.site, audience=args.audience)
    return 0 if result is not None else 1


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check

    return run_check(args.root, since=args.since, strict=args.strict)


def cmd_up(args: argparse.Namespace) -> int:
    from .serve import run_up

    return run_up(
        args.root, args.site, args.http, services=[(plugin, args) for plugin in plugins()], audience=args.audience
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
