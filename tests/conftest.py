from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import copy_demo, small_intranet

from generator.builder import build_site
from generator.serve import make_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    root = tmp_path / "intranet"
    root.mkdir()
    return small_intranet(root)


@pytest.fixture(scope="session")
def demo_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's own demo intranet, built once into a temporary folder: its site/ with every tree."""
    root = copy_demo(tmp_path_factory.mktemp("demo"))
    build_site(root, root / "site")
    return root / "site"


@pytest.fixture(scope="session")
def demo_site(demo_trees: Path) -> Path:
    """The demo's staff tree."""
    return demo_trees / "staff"


@pytest.fixture
def serve() -> Iterator:
    """Serve a site folder on loopback with the same server `intranet up` uses."""
    servers = []

    def start(site: Path) -> str:
        server = make_server(site, ("127.0.0.1", 0))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
