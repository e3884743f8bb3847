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
    loaded = [ep.load() for ep in sorted(entry_points(group="intranet.plugins"), key=lambda ep: ep.name)]
    return sorted(loaded, key=lambda plugin: getattr(plugin, "order", 50))


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

    commands: dict[str, Command] = {}
    for plugin in plugins():
        commands.update(plugin.add_commands(sub))
    for plugin in plugins():
        if "up" in sub.choices:
            plugin.add_up_arguments(sub.choices["up"])
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
