"""The site's part of the ``intranet`` command: ``build``, ``check`` and the site in ``up``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from intranet.cli import Command, host_port
from intranet.model import Model


class SitePlugin:
    """Registered under the ``intranet.plugins`` entry point group."""

    order = 10  # in ``up``, the site starts before the gateway

    def add_commands(self, subparsers: Any) -> dict[str, Command]:
        p = subparsers.add_parser(
            "build",
            help="build the site trees",
            description="Build one complete site tree per audience into SITE/<audience>/ "
            "(staff, partners, suppliers, and one per combination of members-only communities).",
        )
        p.add_argument("--root", type=Path, default=Path("."), help="intranet root (default: current directory)")
        p.add_argument("--site", type=Path, default=None, help="output folder (default: ROOT/site)")
        p.add_argument("--audience", default=None, metavar="TREE", help="build only this tree, e.g. partners")

        p = subparsers.add_parser(
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
        p.add_argument(
            "--pre-receive",
            action="store_true",
            help="run as a Git pre-receive hook in the receiving repository: read `old new ref` lines on standard "
            "input and refuse (exit 1, problems on standard error) a push whose new content does not validate",
        )

        return {"build": cmd_build, "check": cmd_check}

    def add_up_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--site", type=Path, default=None, help="output folder (default: ROOT/site)")
        parser.add_argument(
            "--http",
            type=host_port,
            default=("127.0.0.1", 8000),
            metavar="HOST:PORT",
            help="where to serve the site (default: 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--audience",
            default="staff",
            metavar="TREE",
            help="the tree to serve, with no sign-on in front (default: staff); all trees are rebuilt",
        )

    def up_service(self, args: argparse.Namespace, root: Path, model: Model) -> Any:
        from .serve import SiteService

        return SiteService(root, args.site, args.http, args.audience, model)


plugin = SitePlugin()


def cmd_build(args: argparse.Namespace) -> int:
    from .build import run_build

    result = run_build(args.root, args.site, audience=args.audience)
    return 0 if result is not None else 1


def cmd_check(args: argparse.Namespace) -> int:
    from .check import run_check, run_pre_receive

    if args.pre_receive:
        return run_pre_receive()
    return run_check(args.root, since=args.since, strict=args.strict)
