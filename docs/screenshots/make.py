"""Screenshots of the demo intranet's pages, for docs/screenshots/ (issue #18).

    python docs/screenshots/make.py OUT_DIR [--label after] [--content CHECKOUT]

Builds the demo (this repository's communities/, people/ and mkdocs.yml) with the code it is run
with (or ``--content``'s), serves the staff tree on loopback and takes, in Debian's Chromium, the
home page, a community and a topic at 1280 px (light) and 390 px (dark): ``<label>-<page>-<width>.png``.
For the "before" pictures, run it with an older checkout's Python and ``--content`` that checkout.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import socketserver
import sys
import tempfile
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = [(1280, 900, "light"), (390, 844, "dark")]


def build(content: Path, into: Path) -> Path:
    from generator.builder import build_site

    for name in ("communities", "people"):
        shutil.copytree(content / name, into / name)
    shutil.copy(content / "mkdocs.yml", into / "mkdocs.yml")
    os.environ.setdefault("INTRANET_SECRET", "screenshots-secret-0123456789abcdef")
    build_site(into)
    return into / "site" / "staff"


def pages(tree: Path) -> dict[str, str]:
    """The pages to take: home, a community and its longest topic; and, where the build has them (issue
    #19), the community's health, the network's, its events, an event topic, a poll and a guide."""
    community = "c/clinical-handover/"
    texts = {p.name: (p / "index.html").read_text() for p in (tree / community / "t").iterdir()}
    topics = sorted(texts, key=lambda name: -len(texts[name]))
    found = {"home": "", "community": community, "topic": f"{community}t/{topics[0]}/"}
    extra = {"health": f"{community}health/", "network-health": "health/", "events": f"{community}events/"}
    found.update({name: path for name, path in extra.items() if (tree / path / "index.html").is_file()})
    for name, mark in (("event", "intranet-event"), ("poll", "intranet-poll")):
        with_it = [topic for topic in topics if f'class="{mark}' in texts[topic]]
        if with_it:
            found[name] = f"{community}t/{with_it[0]}/"
    guides = sorted((tree / community / "pages").glob("*/index.html"))
    guide = next((g for g in guides if "The whole discussion" in g.read_text()), None)
    if guide is not None:
        found["guide"] = f"{community}pages/{guide.parent.name}/"
    return found


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--label", default="after")
    parser.add_argument("--content", type=Path, default=REPO, help="the checkout whose demo is built")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        tree = build(args.content, Path(work))
        handler = functools.partial(_Quiet, directory=str(tree))
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            for width, height, scheme in SHOTS:
                context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
                page = context.new_page()
                for name, path in pages(tree).items():
                    page.goto(base + path, wait_until="load")
                    page.wait_for_timeout(300)
                    target = args.out / f"{args.label}-{name}-{width}.png"
                    page.screenshot(path=str(target))
                    print(target)
                context.close()
            browser.close()
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
