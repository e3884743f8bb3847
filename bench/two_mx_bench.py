"""Two mail nodes behind Postfix at the size of issue #16: 1,000 messages from 20 clients.

Runs tests/twomx.py's scenario (real Postfix with OpenDKIM and OpenDMARC, two `intranet
gateway` nodes, a bare remote behind `git daemon`): while the clients send, mx1 is killed
with SIGKILL twice and started again, an editor pushes, the remote goes away for ``--away``
seconds, and a held message's approval reaches the other node. Then it checks, as the test
does, that every message is on the remote once, each subscriber got each post once, the held
message is published once and the editor's page is there, and prints what each node took and
how long it all took. Exits 1 when anything is lost or doubled.

Needs Postfix, OpenDKIM, OpenDMARC, dnsmasq and a user namespace, as the tests
(`.ci/system-deps` installs them).

    python bench/two_mx_bench.py                          # 20 clients x 50 messages, remote away 30 s
    python bench/two_mx_bench.py --clients 10 --each 12 --away 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from twomx import Load, problems, run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--each", type=int, default=50, help="messages each client sends")
    parser.add_argument("--pause", type=float, default=0.3, help="seconds between a client's messages")
    parser.add_argument("--away", type=float, default=30.0, help="seconds the remote is away")
    parser.add_argument("--keep", action="store_true", help="keep the folder with the nodes, logs and remote")
    args = parser.parse_args()
    os.environ.setdefault("INTRANET_SECRET", "two-mx-bench-secret-0123456789abcdef")
    workdir = Path(tempfile.mkdtemp(prefix="two-mx-bench-"))
    try:
        outcome = run(workdir, Load(args.clients, args.each, args.pause, args.away))
        wrong = problems(outcome)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    load = len(outcome.ids) - 1
    print(f"{load:,} messages from {args.clients} clients, mx1 killed twice, the remote away {args.away:.0f} s")
    for name, said in outcome.taken.items():
        published = sum(n for key, n in said.items() if key.endswith(" published"))
        duplicates = sum(n for key, n in said.items() if key.endswith(" duplicate"))
        mailed = len(outcome.sent[name])
        print(f"  {name}: published {published:,}, found already posted {duplicates:,}, mails sent {mailed:,}")
    both = {key.split()[0] for key in outcome.taken["mx1"]} & {key.split()[0] for key in outcome.taken["mx2"]}
    print(f"  messages both nodes read: {len(both & set(outcome.ids)):,}")
    for what, seconds in outcome.times.items():
        print(f"  {what}: {seconds:.1f} s after the first message")
    print(f"  {len(outcome.ids):,} posts on the remote once each" if not wrong else "  PROBLEMS:")
    for problem in wrong[:50]:
        print(f"    {problem}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
