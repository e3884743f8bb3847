"""The ``intranet`` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from . import __version__
from .errors import IntranetError
from .follow import Follower, notify, notify_url
from .gitrepo import find_repository
from .model import Model
from .settings import Settings, content_root, read_settings
from .watch import Watcher
from .webnode import WebNode

log = logging.getLogger("intranet")

Command = Callable[[argparse.Namespace], int]


class Service(Protocol):
    """Something `intranet up` runs beside the site (the mail gateway). One that has a
    ``remote_moved()`` method is told when ``intranet notify`` says the remote moved."""

    def start(self) -> list[str]: ...

    def stop(self) -> None: ...


class Plugin(Protocol):
    """What another package adds to the `intranet` command (entry point group ``intranet.plugins``).

    The generator never imports the mail gateway: the gateway plugs in here.
    """

    def add_commands(self, subparsers: Any) -> dict[str, Command]: ...

    def add_up_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def up_service(self, args: argparse.Namespace, root: Path, model: Model) -> Service | None: ...


def plugins() -> list[Plugin]:
    loaded = [ep.load() for ep in sorted(entry_points(group="intranet.plugins"), key=lambda ep: ep.name)]
    return sorted(loaded, key=lambda plugin: getattr(plugin, "order", 50))


def host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _root_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")


def make_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="intranet",
        description="Communities of practice: Markdown in Git, email in and out, a MkDocs Material site.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run the intranet: the site, the mail gateway and updates",
        description="Build and serve the site, run the mail gateway, and keep both up to date as content changes. "
        "SIGINT (Ctrl-C) or SIGTERM stops it cleanly.",
    )
    _root_option(up)
    status = sub.add_parser(
        "status",
        help="what the intranet is at, and the files held in quarantine",
        description="Print the commit the intranet is at and every file in quarantine (it does not validate; "
        "the site and the gateway use its last valid version), with the commit that broke it and whether its "
        "author was told. Reads every file, as `intranet check` does.",
    )
    _root_option(status)
    notify = sub.add_parser(
        "notify",
        help="tell a running `intranet up` that the remote moved (for a post-receive hook or a webhook)",
        description="Tell `intranet up` that the remote's branch moved, so it fetches it now instead of at its "
        "next poll_seconds. On the machine of `intranet up`, it touches a file in state_dir; with --url, it sends "
        "an HTTP POST to the notify_http address of an `intranet up` elsewhere.",
    )
    _root_option(notify)
    notify.add_argument("--url", default="", help="POST to this URL (an `intranet up`'s notify_http) instead")
    commands: dict[str, Command] = {"up": cmd_up, "status": cmd_status, "notify": cmd_notify}
    for plugin in plugins():
        commands.update(plugin.add_commands(sub))
        plugin.add_up_arguments(up)
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


class StopSignals:
    """SIGINT and SIGTERM, handled by this process itself (a shell may have left SIGINT ignored).

    The handler only sets a flag: it runs between any two bytecodes of the main thread, which may
    hold a lock at that moment (``threading.Event.set`` from a handler can deadlock ``Event.wait``).
    While not yet ``running``, a signal also interrupts what the main thread is doing (a first
    build can take minutes), and so does a second signal while stopping.
    """

    def __init__(self, interrupt_until_running: bool = False) -> None:
        self.stopped = False
        self.running = not interrupt_until_running
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: object) -> None:
        if self.stopped or not self.running:  # still starting, or a second signal while stopping: now
            self.stopped = True
            raise KeyboardInterrupt
        self.stopped = True

    def wait(self, poll: float = 0.2) -> None:
        """Until a signal comes (a sleep that a signal cuts short, then the flag is looked at)."""
        while not self.stopped:
            time.sleep(poll)


def cmd_up(args: argparse.Namespace) -> int:
    """One model of the intranet, fed by the work tree's writes; each plugin's service reads it.

    The services start on the model's communities and people alone (SMTP answers, the last site is
    served at once); the posts are read after, and each service waits for them where it needs them.
    """
    root = Path(args.root).resolve()
    signals = StopSignals(interrupt_until_running=True)
    signals.install()
    follower: Follower | Watcher | None = None
    services: list[Service] = []
    try:
        settings = read_settings(root)
        model = Model(content_root(root, settings))  # with a remote: the gateway's checkout (it clones it)
        made = [s for plugin in plugins() if (s := plugin.up_service(args, root, model)) is not None]
        if settings.remote and not any(hasattr(s, "remote_moved") for s in made):
            made.append(WebNode(model, settings))  # no gateway here: a web node, following the remote
        model.load_structure()  # communities and people: enough to take mail and serve the last site
        follower = _follower(root, settings, model, made)
        for line in follower.start():  # before the posts are read: no commit falls between the two
            log.info("started %s", line)
        for service in made:
            if signals.stopped:
                break
            for line in service.start():
                log.info("started %s", line)
            services.append(service)
        if not signals.stopped:
            model.load_posts()  # meanwhile mail is spooled and the last site served; then the site catches up
        signals.running = True
        if not signals.stopped:
            log.info("running (Ctrl-C or SIGTERM to stop)")
            signals.wait()
        log.info("stopping")
        return 0
    except (RuntimeError, OSError, ValueError, IntranetError) as exc:
        log.error("could not start: %s", exc)
        return 1
    finally:
        for service in reversed(services):
            service.stop()
        if follower is not None:
            follower.stop()
        signals.restore()


def _follower(root: Path, settings: Settings, model: Model, services: list[Service]) -> Follower | Watcher:
    """Commits feed the model (:mod:`intranet.follow`); the files only where there is no Git repository."""
    repo = find_repository(model.root)
    if repo is None or Path(repo.workdir or "").resolve() != model.root:
        if settings.remote:
            raise RuntimeError(f"no checkout of {settings.remote} at {model.root}: the gateway makes it")
        log.info("%s is not a Git repository's work tree: following its files as they are saved", root)
        return Watcher(root, model)
    pokes = [poke for service in services if (poke := getattr(service, "remote_moved", None)) is not None]
    address = host_port(settings.notify_http) if settings.notify_http else None
    return Follower(model, root / settings.state_dir, not settings.remote, pokes, address)


def cmd_notify(args: argparse.Namespace) -> int:
    """Tell `intranet up` that the remote moved (:mod:`intranet.follow`)."""
    if args.url:
        try:
            status = notify_url(args.url)
        except OSError as exc:
            print(f"intranet notify: {args.url}: {exc}", file=sys.stderr)
            return 1
        return 0 if status < 300 else 1
    root = Path(args.root).resolve()
    notify(root / read_settings(root).state_dir)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """The commit the work tree is at, and what is quarantined (:mod:`intranet.quarantine`)."""
    import pygit2

    from .format import cross_check, read_intranet
    from .gitrepo import find_repository
    from .quarantine import quarantined_files, told
    from .settings import read_settings

    root = Path(args.root).resolve()
    repo = find_repository(root)
    if repo is not None and not repo.head_is_unborn:
        head = repo.head.peel(pygit2.Commit)
        print(f"at {str(head.id)[:12]} {(head.message.splitlines() or [''])[0]}")
    intranet = read_intranet(root)
    quarantined = quarantined_files(root, intranet.problems, cross_check(intranet))
    record = told(root / read_settings(root).state_dir)
    print(f"quarantined: {len(quarantined)}")
    for entry in quarantined:
        for line in entry.lines():
            print(f"  {line}")
        sent = record.get(f"{entry.path}@{entry.since}")
        if entry.since:
            print(f"      author told: {sent['to']} at {sent['told']}" if sent else "      author not told (yet)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
