"""Time from the gateway's 250 to the reply being in the served page.

Copies the repository's demo intranet into a temporary Git repository, runs
``intranet up`` on it (site, gateway and rebuilds, as ``make run`` does),
then sends replies to a demo topic one at a time with smtplib and polls the
topic's page over HTTP until each reply's text is there.

    python bench/reply_latency.py            # 20 replies, prints every time and the median
    python bench/reply_latency.py --count 5
"""

from __future__ import annotations

import argparse
import email.utils
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from intranet.format import read_intranet  # noqa: E402
from intranet.threads import build_topics  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def up_command(root: Path, http: int, smtp: int) -> list[str]:
    """``intranet up`` on ``root``, serving and listening on loopback ports."""
    return [
        sys.executable,
        "-m",
        "intranet.cli",
        "up",
        "--root",
        str(root),
        "--http",
        f"127.0.0.1:{http}",
        "--smtp",
        f"127.0.0.1:{smtp}",
    ]


def fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return ""


def prepare(root: Path) -> tuple[str, str, str]:
    """Copy the demo; return (community mail, topic Message-ID, topic page path)."""
    for name in ("communities", "people"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    (root / ".gitignore").write_text("/site/\n/.intranet/\n")
    for args in (
        ["init", "-q"],
        ["add", "-A"],
        ["-c", "user.name=Bench", "-c", "user.email=b@x", "commit", "-qm", "demo"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    intranet = read_intranet(root)
    slug = "clinical-handover"
    topic = build_topics(intranet.posts)[slug][0]
    return intranet.communities[slug].mail, topic.root.message_id, f"c/{slug}/t/{topic.key}/"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mail, topic_id, page = prepare(root)
        http, smtp = free_port(), free_port()
        up = subprocess.Popen(
            up_command(root, http, smtp),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{http}/{page}"
        try:
            deadline = time.monotonic() + 120
            while not fetch(url) and time.monotonic() < deadline:
                time.sleep(0.1)
            times = []
            for n in range(args.count):
                marker = f"latency-probe-{n}-{time.time_ns()}"
                message = EmailMessage()
                message["From"] = "Amira Haddad <amira.haddad@northfield-health.example>"
                message["To"] = f"{mail}@intranet.localhost"
                message["Subject"] = "Re: latency"
                message["Date"] = email.utils.format_datetime(email.utils.localtime())
                message["Message-ID"] = email.utils.make_msgid(domain="bench.example")
                message["In-Reply-To"] = topic_id
                message.set_content(f"Reply {marker}")
                with smtplib.SMTP("127.0.0.1", smtp, timeout=30) as client:
                    client.sendmail(
                        "amira.haddad@northfield-health.example", [f"{mail}@intranet.localhost"], message.as_bytes()
                    )
                    accepted = time.monotonic()  # the 250 has been read
                while marker not in fetch(url):
                    if time.monotonic() - accepted > 60:
                        raise SystemExit(f"reply {n} never appeared")
                    time.sleep(0.02)
                times.append(time.monotonic() - accepted)
                print(f"reply {n + 1:2d}: {times[-1]:.2f} s", flush=True)
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    print(
        f"median from 250 to served page over {len(times)} replies: {statistics.median(times):.2f} s "
        f"(min {min(times):.2f}, max {max(times):.2f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
