"""One Git library at run time: libgit2, through pygit2 (issue #12).

``intranet check`` reads Git history without GitPython (which will not even
import where no ``git`` command is installed), and the commands that name
the person at the terminal read Git's settings for the intranet's own
repository, wherever they are run from. Tests may use the git command line.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

from helpers import REPO
from mailtest import DOMAIN, git, git_root, mail, wire

from intranet.settings import read_settings
from mailgateway.spool import Envelope
from mailgateway.worker import Worker

RUN_TIME = ("intranet", "generator", "mailgateway")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    return {name.split(".")[0] for name in names}


def test_no_run_time_module_imports_gitpython_and_it_is_no_dependency() -> None:
    users = [
        str(path.relative_to(REPO))
        for package in RUN_TIME
        for path in sorted((REPO / package).rglob("*.py"))
        if "git" in imported_modules(path)
    ]
    assert users == []
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("gitpython")]


def test_check_warns_of_a_wider_audience_where_no_git_command_is_installed(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    community = root / "communities/procurement/community.yml"
    community.write_text(community.read_text().replace("- suppliers", "- suppliers\n- partners"))
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}  # no git command to be found
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "check", "--root", str(root)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert "communities/procurement/community.yml: audience: warning: audience widened since HEAD" in run.stdout


def test_a_moderator_at_a_terminal_is_named_as_the_intranets_repository_knows_them(tmp_path: Path) -> None:
    root = git_root(tmp_path / "intranet")
    git(root, "config", "user.name", "Repo Editor")
    git(root, "config", "user.email", "repo.editor@example.org")
    worker = Worker(root, read_settings(root))
    assert worker.acquire()
    try:
        held = mail(subject="From a stranger", body="Hello there.", sender="x@elsewhere.example")
        worker.spool.accept(wire(held), Envelope("x@elsewhere.example", [f"handover@{DOMAIN}"], "127.0.0.1"))
        worker.run_once()
        [item] = worker.spool.held()
    finally:
        worker.stop()
    home = tmp_path / "home"  # no ~/.gitconfig: the name can only come from the repository
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "intranet.cli", "moderate", "approve", item["id"], "--root", str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=home,  # not inside the repository
    )
    assert run.returncode == 0, run.stderr
    trailers = git(root, "log", "-1", "--format=%(trailers:key=Approved-by,valueonly)").strip()
    assert trailers == "Repo Editor <repo.editor@example.org>"
