"""Two mail nodes behind one Postfix, one Git remote: nothing lost or doubled while a node dies.

The scenario (tests/twomx.py) at a size the suite can afford: 120 messages from 10 clients, mx1
killed twice, an editor's push, the remote away for 3 s, a held message approved at the other
node. ``bench/two_mx_bench.py`` runs the same at the issue's size (1,000 messages, 20 clients,
the remote away 30 s) and prints its times.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from postfix import need_tools
from twomx import Load, problems, run


def test_two_gateways_behind_postfix_lose_nothing_and_double_nothing_while_one_is_killed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_tools("postfix", "opendkim", "opendmarc", "dnsmasq", "unshare", "ip")
    monkeypatch.setenv("INTRANET_SECRET", "two-mx-test-secret-0123456789abcdef")  # the same on both nodes
    outcome = run(tmp_path, Load(clients=10, each=12, away=3.0))
    assert problems(outcome) == []
    held = outcome.ids[-1]
    assert f"{held} held" in outcome.taken["mx1"] and f"{held} published" not in outcome.taken["mx1"]
