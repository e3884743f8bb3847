"""Reading mail in a child process, with a time limit (an adapter).

:func:`mailgateway.parse.parse_message` is pure and, for nearly all mail, quick. Not for all:
Python's ``html.parser`` takes quadratic time over some malformed markup (an HTML body of
``<a <a <a ...``, 120 KB, takes minutes on Python 3.11), and no check inside our own loops can
stop a library in the middle of one call. So the worker reads each message in a child process
and waits at most ``max_parse_seconds``; then the child is killed, the message is rejected as
``too-complex``, and the next message gets a new child. The worker is never held longer.

What :meth:`Reader.read` gives back:

- the :class:`~mailgateway.parse.Inbound`;
- :class:`~intranet.errors.UnreadableMessage` when parsing raised: the content cannot be read and
  would raise again (``MemoryError`` excepted: that is the machine's limit as much as the
  message's); :class:`~intranet.errors.MessageTooComplex` past the limit. Both are final;
- :class:`~intranet.errors.ReaderError` when the child could not start or died without an answer
  (killed, say by the kernel short of memory): a failure of ours, retried like a Git error.

The child is ``python -m mailgateway.reader``, started with the first message (it takes about
0.2 s to import the parsing modules, more on a busy machine: the time limit starts once it says
it is ready) and kept for the next ones. A reader that is done with its child without fault (its
worker finished) leaves it idle for the next reader of the process to take (at most
:data:`MAX_IDLE` wait): it holds nothing of the mail it read. One gateway a process makes no
difference; a process that starts many, as the tests do, starts one child each, not one a gateway.
Each request and answer is a pickle after its length in 8 bytes, over the child's stdin and
stdout; the child writes nothing else there, and sends back what it logged, which is logged again
here. It ignores SIGINT (a Ctrl-C at the terminal is for the gateway) and ends when its stdin
closes: when a reader closes it, when the reader holding it is collected, or when the gateway
exits or dies.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import IO, Any

from intranet.errors import MessageTooComplex, ReaderError, UnreadableMessage

from .parse import Inbound, parse_message

log = logging.getLogger(__name__)

OK, UNREADABLE, ERROR = "ok", "unreadable", "error"  # the child's answers
READY = "ready"  # the child's first word: it has imported what it needs
START_SECONDS = 120.0  # longest wait for a new child to be ready (a failure of ours past it: retried)
MAX_IDLE = 4  # children left by finished readers, for the next ones of the process
_LENGTH = struct.Struct(">Q")
_PACKAGES = str(Path(__file__).resolve().parents[1])  # where mailgateway and intranet are


class Reader:
    """Parses messages in a child process, each within ``limit`` seconds."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._child: subprocess.Popen[bytes] | None = None
        self._end: weakref.finalize | None = None
        self._busy = False

    def read(self, raw: bytes, received: dt.datetime, mail_domain: str) -> Inbound:
        """The parsed message; raises UnreadableMessage, MessageTooComplex or ReaderError (see above)."""
        child = self._started()
        assert child.stdin is not None and child.stdout is not None
        try:
            send(child.stdin, (raw, received, mail_domain))
            self._busy = True
            answered, _, _ = select.select([child.stdout], [], [], self.limit)
            if not answered:
                self.close()
                raise MessageTooComplex(f"not read within {self.limit:g} s")
            status, value, logs = receive(child.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as exc:  # the child died, or never listened
            self.close()
            raise ReaderError(f"the process reading mail stopped without an answer ({type(exc).__name__})") from exc
        finally:
            self._busy = False
        for name, level, text in logs:
            logging.getLogger(name).log(level, "%s", text)
        if status == OK:
            return value
        if status == UNREADABLE:
            raise UnreadableMessage(value)
        raise ReaderError(value)

    def busy_pid(self) -> int | None:
        """The child's process id while it reads a message (for tests and operators), else None."""
        child = self._child
        return child.pid if self._busy and child is not None else None

    def close(self) -> None:
        """End the child, reading or not (it holds nothing that needs a clean exit)."""
        end, self._end, self._child = self._end, None, None
        if end is not None:
            end()

    def release(self) -> None:
        """Done with the child, which answered its last message: leave it for the process's next reader."""
        child, end = self._child, self._end
        if child is None or end is None or self._busy or child.poll() is not None:
            self.close()
            return
        end.detach()
        self._child, self._end = None, None
        with _IDLE_LOCK:
            if len(_IDLE) < MAX_IDLE:
                _IDLE.append(child)
                return
        _end_child(child)

    def _started(self) -> subprocess.Popen[bytes]:
        if self._child is not None and self._child.poll() is None:
            return self._child
        self.close()
        while True:
            with _IDLE_LOCK:
                idle = _IDLE.pop() if _IDLE else None
            if idle is None:
                break
            if idle.poll() is None:
                self._child, self._end = idle, weakref.finalize(self, _end_child, idle)
                return idle
            _end_child(idle)
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": _PACKAGES + (os.pathsep + path if path else "")}
        command = [sys.executable, "-P", "-m", __name__]  # (-P: nothing in the current folder shadows a module)
        try:
            child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0, env=env)
        except OSError as exc:
            raise ReaderError(f"the process reading mail could not start ({exc})") from exc
        self._child = child
        self._end = weakref.finalize(self, _end_child, child)
        assert child.stdout is not None
        try:  # its start (imports, slow on a busy machine) is not the message's time
            ready, _, _ = select.select([child.stdout], [], [], START_SECONDS)
            if not ready or receive(child.stdout) != READY:
                raise EOFError("no answer")
        except (OSError, EOFError, pickle.UnpicklingError) as exc:
            self.close()
            raise ReaderError(f"the process reading mail did not start ({exc})") from exc
        return child


_IDLE: list[subprocess.Popen[bytes]] = []  # children no reader holds (their stdin closes with the process)
_IDLE_LOCK = threading.Lock()


def _end_child(child: subprocess.Popen[bytes]) -> None:
    for stream in (child.stdin, child.stdout):
        if stream is not None:
            stream.close()
    if child.poll() is None:
        child.kill()
    child.wait()


def send(stream: IO[bytes], value: Any) -> None:
    """Write ``value`` as one message: its pickle, after the pickle's length."""
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    for part in (_LENGTH.pack(len(data)), data):
        view = memoryview(part)
        while view:  # (an unbuffered pipe may take part of it at a time)
            view = view[stream.write(view) or 0 :]
    stream.flush()


def receive(stream: IO[bytes]) -> Any:
    """Read one message written by :func:`send`; EOFError if the stream ends first."""
    (length,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    return pickle.loads(_read_exactly(stream, length))  # noqa: S301 - from our own child or parent process


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


# -- the child ---------------------------------------------------------------------


class _Captured(logging.Handler):
    """Keeps what the child logs, to be sent back with its answer."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(message)s"))
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, self.format(record)))

    def take(self) -> list[tuple[str, int, str]]:
        records, self.records = self.records, []
        return records


def serve() -> None:
    """The child: answer each message that comes on stdin, on stdout, until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    answers = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # whatever else writes to stdout goes to stderr, not into the answers
    captured = _Captured()
    logging.getLogger().addHandler(captured)
    logging.getLogger().setLevel(logging.INFO)
    send(answers, READY)  # imported and listening: the parent's clock starts with the first message
    while True:
        try:
            raw, received, mail_domain = receive(requests)
        except EOFError:
            return
        status, value = answer(raw, received, mail_domain)
        send(answers, (status, value, captured.take()))


def answer(raw: bytes, received: dt.datetime, mail_domain: str) -> tuple[str, Any]:
    """(OK, the parsed mail), (UNREADABLE, why) or (ERROR, what went wrong on our side)."""
    try:
        return OK, parse_message(raw, received, mail_domain)
    except UnreadableMessage as exc:
        return UNREADABLE, str(exc)
    except MemoryError:
        return ERROR, "out of memory while reading the message"
    except Exception as exc:  # parsing is pure: what it raises, this content makes it raise every time
        log.exception("a message could not be parsed; it is rejected as unreadable")
        return UNREADABLE, f"{type(exc).__name__}: {exc}"[:300]


if __name__ == "__main__":
    serve()
