"""A real MTA in front of the gateway, for tests: Postfix with the OpenDKIM and OpenDMARC milters, and DNS.

``Dns`` is dnsmasq serving TXT records (DKIM keys, DMARC and SPF policies) on
127.0.0.1 and a free port, and nothing else: every other name is NXDOMAIN at
once (``--local=/#/``), nothing is forwarded, no file of the system is read.
It starts in a few milliseconds.

``MailStack`` is Postfix from Debian with OpenDKIM (``Mode v``) and OpenDMARC,
relaying the mail domain to the gateway's LMTP port, as docs/deployment.md
sets it up; ``send`` hands it messages over SMTP.

Why a network namespace. OpenDKIM can be told a DNS server on any port (its
resolver is libunbound: ``ResolverConfiguration`` naming an unbound config
with ``forward-zone: name: "."`` and ``forward-addr: 127.0.0.1@PORT`` works;
``Nameservers`` takes addresses only). OpenDMARC 1.4 cannot: it looks up
``_dmarc`` records, and SPF through libspf2, with the C library's resolver,
which reads /etc/resolv.conf and asks port 53. Port 53 of the machine's
loopback is not ours to take: other test runs, a local resolver. So the two
milters and a dnsmasq of their own run in a network and mount namespace of
their own (``unshare --net --mount``, as root): there 127.0.0.1:53 is private,
and /etc/resolv.conf is a bind mount of a file saying ``nameserver
127.0.0.1``. Postfix stays outside and talks to the milters over unix
sockets, which a network namespace does not separate.

Postfix: its ``master`` is started directly with a config directory of its
own (``master -c DIR -s``; ``postfix start`` first runs integrity checks that
take two seconds), smtpd on a free port of 127.0.0.1, queue and data in a
private folder, the log on its stdout (``maillog_file = /dev/stdout``), into a
file. Nothing of /etc/postfix or of a system instance is used. The queue and
the sockets live in a ``mkdtemp`` folder under /tmp (mode 0755: Postfix's
daemons run as ``postfix`` and must reach the sockets; pytest's folders are
0700), removed by ``__exit__``; the logs are copied to ``folder`` first.

Each message is sent after ``XCLIENT ADDR=192.0.2.99`` (smtpd trusts XCLIENT
from loopback here): to the milters it comes from a host on the internet, as
an attacker's would. From loopback, OpenDMARC would ignore it (its default
``IgnoreHosts``) and libspf2 would pass SPF for any domain.
"""

from __future__ import annotations

import base64
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import dns.exception
import dns.resolver
from conftest import free_port
from dovecot import live_processes
from helpers import REPO, skip_or_fail

HOST = "127.0.0.1"
AUTHSERV_ID = "mx.intranet.localhost"  # what the milters write, and the gateway trusts
CLIENT = ("192.0.2.99", "mail.attacker.example")  # where, to the milters, every message comes from
MASTER = Path("/usr/lib/postfix/sbin/master")
TOOLS = {
    "postfix": MASTER,
    "opendkim": Path("/usr/sbin/opendkim"),
    "opendmarc": Path("/usr/sbin/opendmarc"),
    "dnsmasq": Path("/usr/sbin/dnsmasq"),
    "unshare": Path("/usr/bin/unshare"),
    "ip": Path("/usr/sbin/ip"),
}
DEPLOYMENT = REPO / "docs" / "deployment.md"  # its Postfix, OpenDKIM and OpenDMARC blocks are used as they are
DOC_AUTHSERV_ID = "mx.example.org"  # the doc's name for what is AUTHSERV_ID here
PUBLIC_SUFFIXES = Path("/usr/share/publicsuffix/public_suffix_list.dat")  # Debian's publicsuffix, for OpenDMARC


def need_tools(*names: str) -> None:
    """Skip (under CI: fail) without the Debian packages or root this needs (`bash .ci/system-deps`)."""
    missing = [name for name in names if not TOOLS[name].exists()]
    if missing:
        skip_or_fail(f"not installed: {', '.join(missing)} (bash .ci/system-deps installs them)")
    if "unshare" in names and os.geteuid() != 0:
        skip_or_fail("Postfix and the milters' network namespace need root")


def dkim_key(folder: Path, name: str) -> tuple[bytes, str]:
    """A new 1024-bit RSA key (openssl) in PEM, and the DKIM TXT record that publishes it (one string)."""
    path = folder / f"{name}.key"
    run = {"check": True, "capture_output": True}
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", path], **run)
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"], **run).stdout
    return path.read_bytes(), "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


class Dns:
    """dnsmasq answering for ``records`` (name -> TXT text, under 256 bytes) on 127.0.0.1:``port``."""

    def __init__(self, folder: Path, records: dict[str, str], port: int | None = None) -> None:
        self.folder = folder
        self.records = records
        self.port = port or free_port()
        self.log = folder / "dnsmasq.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def command(self) -> list[str]:
        return [
            str(TOOLS["dnsmasq"]),
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--pid-file=",
            f"--listen-address={HOST}",
            "--bind-interfaces",
            f"--port={self.port}",
            "--local=/#/",  # every name is ours: what is not below is NXDOMAIN, nothing is forwarded
            "--log-queries",
            f"--log-facility={self.log}",
            *(f"--txt-record={name},{text}" for name, text in self.records.items()),
        ]

    def start(self, timeout: float = 30.0) -> None:
        """Start dnsmasq here (this network namespace) and wait until it answers."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "dnsmasq.stderr").open("ab") as errors:
            self._process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stderr=errors)
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = [HOST], self.port
        deadline = time.monotonic() + timeout
        while True:
            try:
                resolver.resolve(next(iter(self.records)), "TXT", lifetime=0.5)
                return
            except dns.exception.DNSException:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    said = (self.folder / "dnsmasq.stderr").read_text(errors="replace")
                    raise RuntimeError(f"dnsmasq did not answer on {self.address}: {said}") from None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> Dns:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class MailStack:
    """Postfix + OpenDKIM + OpenDMARC on loopback, relaying ``mail_domain`` to LMTP on ``lmtp_port``.

    ``records`` are the DNS the milters see (name -> TXT text). With several ports, Postfix tries
    them in that order (two gateways: the second takes the mail while the first does not answer).
    """

    def __init__(self, folder: Path, records: dict[str, str], lmtp_port: int | list[int], mail_domain: str) -> None:
        self.folder = folder
        self.records = records
        self.lmtp_ports = lmtp_port if isinstance(lmtp_port, list) else [lmtp_port]
        self.mail_domain = mail_domain
        self.smtp_port = free_port()
        self.store = Path(tempfile.mkdtemp(prefix="mta-"))
        self._remove = weakref.finalize(self, shutil.rmtree, self.store, ignore_errors=True)
        self._milters: subprocess.Popen[bytes] | None = None
        self._postfix: subprocess.Popen[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> MailStack:
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.folder.mkdir(parents=True, exist_ok=True)
        for log in self.store.glob("*.log"):
            shutil.copy(log, self.folder / log.name)
        self._remove()

    def start(self, timeout: float = 60.0) -> None:
        """Start the milters (and their DNS) in their namespace, then Postfix; wait until smtpd greets."""
        self.store.chmod(0o755)
        self._write_milters()
        self._milters = self._spawn(
            ["unshare", "--net", "--mount", "--", "/bin/sh", str(self.store / "milters.sh")], "milters.log"
        )
        deadline = time.monotonic() + timeout
        for name in ("opendkim", "opendmarc"):
            self._wait(lambda name=name: _accepts(self.store / f"{name}.sock"), self._milters, name, deadline)
        self._write_postfix()
        self._postfix = self._spawn([str(MASTER), "-c", str(self.store / "etc"), "-s"], "postfix.log")
        self._wait(self._greets, self._postfix, "postfix", deadline)

    def stop(self) -> None:
        """Stop Postfix (its master passes SIGTERM on), then every process of both groups."""
        postfix, self._postfix = self._postfix, None
        milters, self._milters = self._milters, None
        if postfix is not None:
            postfix.terminate()
            try:
                postfix.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for process in (postfix, milters):  # the milters take seconds to end on SIGTERM: no waiting for that
            if process is not None:
                _kill_group(process)

    def _spawn(self, command: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.store / log).open("ab") as out:
            return subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, cwd=self.store
            )

    def _wait(self, ready: Callable[[], bool], process: subprocess.Popen[bytes], what: str, deadline: float) -> None:
        while not ready():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start:\n{self.log_tail()}")
            time.sleep(0.01)

    def _greets(self) -> bool:
        try:
            with socket.create_connection((HOST, self.smtp_port), timeout=2) as conn:
                return conn.recv(200).startswith(b"220")
        except OSError:
            return False

    def log_tail(self, lines: int = 40) -> str:
        """The end of each log: Postfix's, the milters' and their DNS server's."""
        text = ""
        for path in sorted(self.store.glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            text += f"--- {path.name}\n" + "\n".join(tail) + "\n"
        return text or "(no log)"

    # -- mail ------------------------------------------------------------------------

    def send(self, messages: list[tuple[str, bytes]], rcpt: str, client: tuple[str, str] = CLIENT) -> None:
        """Send each (envelope sender, raw message) to ``rcpt`` in one SMTP session, as ``client`` (XCLIENT)."""
        with smtplib.SMTP(HOST, self.smtp_port, timeout=60) as smtp:
            smtp.ehlo("test-client.localhost")
            code, reply = smtp.docmd("XCLIENT", f"ADDR={client[0]} NAME={client[1]} HELO={client[1]}")
            assert code == 220, (code, reply)
            smtp.ehlo(client[1])
            for sender, raw in messages:
                smtp.sendmail(sender, [rcpt], raw)

    # -- configuration ---------------------------------------------------------------

    def _write_milters(self) -> None:
        """The milters' configs (docs/deployment.md's), and the script that starts them in the namespace."""
        store = self.store
        (store / "resolv.conf").write_text(f"nameserver {HOST}\n")
        # Ours only: where the socket and pid file go, no syslog, and DNS from the namespace's dnsmasq
        # (OpenDKIM's libunbound would otherwise resolve from the root servers, not /etc/resolv.conf).
        own = "UMask 000\nSyslog no\nDNSTimeout 5\n"
        opendkim = with_setting(deployment_block("opendkim-example"), "Socket", f"local:{store}/opendkim.sock")
        (store / "opendkim.conf").write_text(f"{opendkim}{own}PidFile {store}/opendkim.pid\nNameservers {HOST}\n")
        opendmarc = with_setting(deployment_block("opendmarc-example"), "Socket", f"local:{store}/opendmarc.sock")
        if not PUBLIC_SUFFIXES.exists():
            opendmarc = with_setting(opendmarc, "PublicSuffixList", None)
        (store / "opendmarc.conf").write_text(f"{opendmarc}{own}PidFile {store}/opendmarc.pid\n")
        dnsmasq = shlex.join(Dns(store, self.records, port=53).command())
        (store / "milters.sh").write_text(
            f"""# Run in a new network and mount namespace (tests/postfix.py): loopback, DNS on port 53, milters.
set -e
ip link set lo up
mount --bind {store}/resolv.conf /etc/resolv.conf
{dnsmasq} &
tries=0
while ! grep -q ':0035 ' /proc/net/udp; do  # until dnsmasq listens on port 53 (or gives up)
  tries=$((tries + 1)); [ "$tries" -lt 1000 ] || exit 1; sleep 0.01
done
{TOOLS["opendkim"]} -f -x {store}/opendkim.conf &
{TOOLS["opendmarc"]} -f -c {store}/opendmarc.conf &
wait
"""
        )

    def _write_postfix(self) -> None:
        """main.cf and master.cf in ``store/etc``, and the queue and data folders owned as Postfix wants."""
        store = self.store
        postfix = pwd.getpwnam("postfix")
        postdrop = _gid("postdrop")
        (store / "etc").mkdir()
        (store / "etc" / "main.cf").write_text(_main_cf(self, store))
        (store / "etc" / "master.cf").write_text(_master_cf(self.smtp_port))
        # Postfix rereads a config file written in the last two seconds until it is older (0.3 s a
        # time: a file half-written by an editor); these are complete, so date them back.
        earlier = time.time() - 60
        for path in (store / "etc" / "main.cf", store / "etc" / "master.cf", store / "header_checks"):
            os.utime(path, (earlier, earlier))
        (store / "data").mkdir(mode=0o700)
        os.chown(store / "data", postfix.pw_uid, postfix.pw_gid)
        queue = store / "queue"
        queue.mkdir(mode=0o755)
        (queue / "pid").mkdir(mode=0o755)
        folders = "active bounce corrupt defer deferred flush hold incoming private saved trace".split()
        for name, mode, group in [(n, 0o700, postfix.pw_gid) for n in folders] + [
            ("maildrop", 0o730, postdrop),
            ("public", 0o710, postdrop),
        ]:
            (queue / name).mkdir()
            (queue / name).chmod(mode)
            os.chown(queue / name, postfix.pw_uid, group)


def _main_cf(stack: MailStack, store: Path) -> str:
    """Ours (a private instance on loopback, relaying to the gateway), then docs/deployment.md's block."""
    (store / "header_checks").write_text(deployment_block("header-checks-example"))
    theirs = deployment_block("postfix-example")
    theirs = with_setting(theirs, "smtpd_milters", f"unix:{store}/opendkim.sock, unix:{store}/opendmarc.sock", "=")
    theirs = with_setting(theirs, "header_checks", f"regexp:{store}/header_checks", "=")
    return f"""# Written by tests/postfix.py
compatibility_level = 3.6
queue_directory = {store}/queue
data_directory = {store}/data
maillog_file = /dev/stdout
myhostname = {AUTHSERV_ID}
mydestination =
inet_interfaces = {HOST}
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_peername_lookup = no
relay_domains = {stack.mail_domain}
relay_transport = lmtp:{", ".join(f"[{HOST}]:{port}" for port in stack.lmtp_ports)}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
alias_maps =
alias_database =
biff = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
# From docs/deployment.md:
{theirs}"""


def deployment_block(marker: str) -> str:
    """The settings block right after ``<!-- marker -->`` in docs/deployment.md, for our authserv-id."""
    text = DEPLOYMENT.read_text()
    tag = f"<!-- {marker} -->"
    assert text.count(tag) == 1, f"{DEPLOYMENT} must mark exactly one block with {tag}"
    match = re.search(re.escape(tag) + r"\n```\n(.*?)\n```\n", text, re.S)
    assert match, f"{tag} must come immediately before a ``` fence"
    block = match.group(1).replace(re.escape(DOC_AUTHSERV_ID), re.escape(AUTHSERV_ID))
    return block.replace(DOC_AUTHSERV_ID, AUTHSERV_ID) + "\n"


def with_setting(config: str, name: str, value: str | None, separator: str = " ") -> str:
    """``config`` with its one line for ``name`` set to ``value`` (None: that line left out).

    Lines are ``name value`` (the milters), or ``name = value`` with ``separator="="`` (Postfix).
    """
    pattern = rf"^{re.escape(name)}\s*=.*\n" if separator == "=" else rf"^{re.escape(name)}\s.*\n"
    line = "" if value is None else f"{name} = {value}\n" if separator == "=" else f"{name} {value}\n"
    changed, count = re.subn(pattern, line, config, flags=re.M)
    assert count == 1, f"{name} is set {count} times in:\n{config}"
    return changed


def _master_cf(smtp_port: int) -> str:
    services = [
        f"{HOST}:{smtp_port} inet n - n - - smtpd",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "lmtp unix - - n - - lmtp",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ]
    return "# Written by tests/postfix.py\n" + "\n".join(services) + "\n"


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


def _accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to the process's group, then wait until none of it is left (zombies do not count)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while live_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
