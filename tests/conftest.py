from __future__ import annotations

import contextlib
import fcntl
import os
import random
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import copy_demo, in_ci, small_intranet

from generator.builder import build_site
from generator.serve import make_server

# -- free ports ------------------------------------------------------------------------

# Ports handed out for servers that must be told their port before they start (the gateway's
# settings, Dovecot's and nginx's configs). They come from below the kernel's ephemeral range,
# so no outgoing connection of another test can be given one between our check and the server's
# bind; each is claimed with a lock file held as long as this process lives, so pytest-xdist
# workers, and test runs in other work trees of this machine, never hand out the same one.
PORTS_DIR = Path(tempfile.gettempdir()) / f"intranet-test-ports-{os.getuid()}"
_claimed: list[int] = []  # lock files' descriptors, open until the process ends
_ports_lock = threading.Lock()


def _port_range() -> range:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    low = min(low, 32768)
    return range(max(1024, low - 12000), low)


def free_port() -> int:
    """A loopback TCP port that is free now and will be handed to no other test, here or in another worker."""
    ports = _port_range()
    with _ports_lock:
        PORTS_DIR.mkdir(exist_ok=True)
        start = random.randrange(len(ports))
        for offset in range(len(ports)):
            port = ports[(start + offset) % len(ports)]
            fd = os.open(PORTS_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue  # claimed by another process
            if _bindable(port):
                _claimed.append(fd)
                return port
            os.close(fd)  # in use by something else: leave it
    raise RuntimeError(f"no free port left in {ports}")


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- CI runs everything -----------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Under CI a skipped test is a failed one: a missing corpus or tool must not pass unseen."""
    outcome = yield
    report = outcome.get_result()
    if in_ci() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (CI={os.environ.get('CI')}), where everything must run: {reason}"


# -- built sites, shared --------------------------------------------------------------------


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """``make(folder)`` run once per test session, shared by every xdist worker; the folder is read-only by agreement.

    Under xdist each worker has its own base temp folder inside the session's; the first worker
    to get here builds in the session's folder under a lock, and the others wait for it and reuse it.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / f"shared-{name}"
    with _locked(shared / f"shared-{name}.lock"):
        if not (folder / ".done").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    root = tmp_path / "intranet"
    root.mkdir()
    return small_intranet(root)


def _small_built(folder: Path) -> None:
    small_intranet(folder)
    build_site(folder)


@pytest.fixture
def small_site(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """The small intranet with its site built: a copy, for the test to change as it likes."""
    built = built_once(tmp_path_factory, "small-site", _small_built)
    root = tmp_path / "intranet"
    shutil.copytree(built, root, symlinks=True, ignore=shutil.ignore_patterns(".done"))
    return root


def _demo_built(folder: Path) -> None:
    copy_demo(folder)
    build_site(folder, folder / "site")


@pytest.fixture(scope="session")
def demo_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's own demo intranet, built once per test run: its site/ with every tree. Read only."""
    return built_once(tmp_path_factory, "demo", _demo_built) / "site"


@pytest.fixture(scope="session")
def demo_site(demo_trees: Path) -> Path:
    """The demo's staff tree."""
    return demo_trees / "staff"


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # Debian's
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """Headless Chromium (Debian's), once for a test module."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


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


# The longest tests (about 6-45 s each in a run of the suite, by `--durations`; longest first) each
# start a worker's first run of tests, so that with several workers none of them starts last and keeps
# the run waiting alone after every other test has finished, and no worker gets several of them.
FIRST = (
    "test_incremental.py::test_a_hundred_changes",
    "test_follow.py::test_two_editors_and_the_gateway",
    "test_crash.py::test_sigkill_at_random_moments",
    "test_incremental.py::test_community_edits",
    "test_accessibility.py::test_every_kind_of_page",
    "test_up_background.py::test_mail_during_a_full_rebuild",
    "test_incremental.py::test_people_edits",
    "test_corpora.py::test_every_corpus_message",
    "test_resume.py::test_what_changed_while_stopped",
    "test_incremental.py::test_a_new_name_on_many_topic_pages",
    "test_bodies.py::test_split_deep_nesting",
    "test_up.py::test_up_serves_rebuilds",
    "test_mail_dovecot.py::test_killing_the_gateway",
    "test_two_mx.py::test_two_gateways_behind_postfix",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        where = item.nodeid.rsplit("/", 1)[-1]
        return next((n for n, prefix in enumerate(FIRST) if where.startswith(prefix)), len(FIRST))

    longest = sorted((item for item in items if rank(item) < len(FIRST)), key=rank)
    rest = [item for item in items if rank(item) == len(FIRST)]  # in their order
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers < 2:
        items[:] = longest + rest
        return
    # pytest-xdist's `load` scheduling first hands each worker a run of consecutive tests, a quarter
    # of its share (then more as it finishes them): with the longest tests all at the front, the
    # first worker got every one of them and ran them end to end, 20 s after the others were done.
    # Dealt round, longest first, each run starts with its share of them.
    run = max(len(items) // workers // 4, 2)
    ordered: list[pytest.Item] = []
    for worker in range(workers):
        dealt = longest[worker::workers]
        taken = max(run - len(dealt), 0)
        ordered += dealt + rest[:taken]
        rest = rest[taken:]
    items[:] = ordered + rest
