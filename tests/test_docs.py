"""The README's command and settings tables stay true."""

from __future__ import annotations

import argparse
import re

from helpers import REPO

from generator.cli import make_parser
from generator.config import SETTINGS

README = (REPO / "README.md").read_text()


def table(name: str) -> list[list[str]]:
    block = README.split(f"<!-- {name} -->", 1)[1].split(f"<!-- /{name} -->", 1)[0]
    rows = [line for line in block.strip().splitlines() if line.startswith("|")][2:]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = make_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_and_option_is_documented() -> None:
    documented = {}
    for cell, _ in table("commands"):
        usage = cell.strip("`")
        words = usage.split()
        assert words[0] == "intranet"
        documented[words[1]] = set(re.findall(r"--[a-z-]+", usage))
    actual = {
        name: {opt for a in sub._actions for opt in a.option_strings if opt.startswith("--") and opt != "--help"}
        for name, sub in subcommands().items()
    }
    assert documented == actual


def test_every_setting_is_documented_with_its_default() -> None:
    def plain(text: str) -> str:
        return re.sub(r"[`'\"]", "", text)

    rows = {plain(name): (plain(default), plain(meaning)) for name, default, meaning in table("settings")}
    assert rows == {s.name: (str(s.default), plain(s.help)) for s in SETTINGS}


def test_readme_quick_start_is_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = re.findall(r"^(make \w+)", quick, re.M)
    assert commands == ["make run", "make test"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()
