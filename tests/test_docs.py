"""The README's command and settings tables stay true."""

from __future__ import annotations

import argparse
import re

from helpers import REPO

from intranet.cli import make_parser
from intranet.settings import SETTINGS

README = (REPO / "README.md").read_text()


def table(name: str) -> list[list[str]]:
    block = README.split(f"<!-- {name} -->", 1)[1].split(f"<!-- /{name} -->", 1)[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def subcommands(parser: argparse.ArgumentParser | None = None, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    """Every command, nested ones as "spool list"."""
    parser = parser or make_parser()[0]
    action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    if action is None:
        return {prefix: parser}
    found = {}
    for name, sub in action.choices.items():
        found.update(subcommands(sub, f"{prefix} {name}".strip()))
    return found


def test_every_command_and_option_is_documented() -> None:
    documented = {}
    for cell, _ in table("commands"):
        usage = cell.strip("`")
        assert usage.startswith("intranet ")
        name = re.match(r"intranet ((?:[a-z]+ ?)+)", usage).group(1).strip()
        documented[name] = set(re.findall(r"--[a-z-]+", usage))
    actual = {
        name: {opt for a in sub._actions for opt in a.option_strings if opt.startswith("--") and opt != "--help"}
        for name, sub in subcommands().items()
    }
    assert documented == actual


def test_every_setting_is_documented_with_its_default() -> None:
    def plain(text: str) -> str:
        return re.sub(r"[`'\"]", "", text)

    rows = {plain(name): (plain(default), plain(meaning)) for name, default, meaning in table("settings")}

    def shown(value: object) -> str:
        return str(value).lower() if isinstance(value, bool) else str(value)

    assert rows == {s.name: (shown(s.default), plain(s.help)) for s in SETTINGS}


def test_readme_quick_start_is_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^(make \w+)", quick, re.M)
    assert commands == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_every_imap_account_field_is_documented() -> None:
    """Each field of an IMAP account is in the accounts file's example (mailgateway/imap.py) and the README."""
    import mailgateway.imap
    from mailgateway.imapaccounts import Account

    example = mailgateway.imap.__doc__ or ""
    paragraph = README.split("**Mail from an existing mailbox (IMAP).**", 1)[1].split("\n\n", 1)[0]
    for field in Account.__dataclass_fields__:
        assert re.search(rf"\b{field}\b", example), f"{field} is not in mailgateway/imap.py's docstring"
        assert f"`{field}`" in paragraph, f"{field} is not in the README's IMAP paragraph"
