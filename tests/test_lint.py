"""ruff (with the BLE and RUF100 rules) and mypy stay clean: part of the suite, so CI keeps them so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_is_clean() -> None:
    result = run("ruff", "check", "--no-cache", "intranet", "generator", "mailgateway", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_every_package() -> None:
    # No cache: a run of the suite checks once, and writing the cache was a tenth of the time.
    result = run("mypy", "--cache-dir", os.devnull, "intranet", "generator", "mailgateway")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_kept() -> None:
    result = run("ruff", "format", "--check", "--no-cache", "intranet", "generator", "mailgateway", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr
