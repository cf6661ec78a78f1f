"""A fork server for checkers: torch imported once per grader, a fresh checker per notebook.

Every notebook's test cells run in a checker of their own (grading/outside.py). Started afresh, a
checker spends about 1.6 s of CPU importing torch, most of what it costs. So the grader starts one
*fork server*, a process that imports what a checker needs and runs nothing else, and each
notebook's checker is forked from it with all of that already loaded. A forked checker is still a
process of its own: nothing one notebook's tests do reaches another's, as each starts from the
server's untouched state.

    grader (autograde)  ──starts──▶  fork server  ──forks, one per connection──▶  checker
         │ sets GRADING_CHECKER_FORKS                                                  ▲
         ▼                                                                             │
    nbgrader run ── SandboxedExecute ── OutsideChecker ── connects to the socket ──────┘

The socket lies in a folder only the grader's user can enter; the kernels run as other users in
a sandbox that does not show it. A forked checker works in an empty folder, leaves the network
when its kernel has none (`leave_network`), and ends when the server does, and the server when
the grader does.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

FORKS_ENV = "GRADING_CHECKER_FORKS"  # the fork server's socket, for the nbgrader runs autograde starts
_PRELOAD = ["grading.checker", "jupyter_client"]  # and torch, seglib.testing: what every checker imports


def die_with_parent() -> None:
    """Linux: end this process (SIGKILL) when the thread that started it ends; elsewhere nothing."""
    try:
        import ctypes

        parent = os.getppid()
        if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL) == 0 and os.getppid() != parent:  # PR_SET_PDEATHSIG
            os._exit(1)  # the parent ended before the request took effect
    except (OSError, AttributeError):  # not Linux
        pass


def end_with(pid: int) -> None:
    """Linux: end this process (SIGKILL) as soon as process `pid` ends, whoever its parent is; elsewhere nothing.

    A thread waits on a pidfd of `pid`. Unlike `die_with_parent`, this reaches a process whose
    parent outlives the grader: a multiprocessing forkserver stays alive while its children do."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)  # it has ended already
    except (AttributeError, OSError):  # not Linux
        return

    def watch() -> None:
        select.select([handle], [], [])  # readable once the process has ended
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name=f"end-with-{pid}", daemon=True).start()


def leave_network() -> bool:
    """Move this (single-threaded) process into a network namespace of its own, as `unshare --net`."""
    try:
        import ctypes

        clone_newnet, clone_newuser = 0x40000000, 0x10000000
        flags = clone_newnet if os.geteuid() == 0 else clone_newnet | clone_newuser
        return ctypes.CDLL(None, use_errno=True).unshare(flags) == 0
    except (OSError, AttributeError):  # not Linux
        return False


def _load(modules: list[str]) -> None:
    import importlib

    for name in modules:
        if name not in sys.modules:
            try:
                importlib.import_module(name)
            except Exception:  # only time is lost: the checker that needs it imports it, and says why it cannot
                pass


def _read_line(connection: socket.socket, limit: int = 1 << 16) -> bytes:
    """One line, read a byte at a time: what follows it is the checker's to read."""
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        part = connection.recv(1)
        if not part:
            break
        line += part
    return line


def serve(listener_fd: int) -> None:
    """The fork server's loop: import once, then fork a checker for each connection to the socket.

    A connection first names the modules its notebook's cells import; the server imports those it
    has not yet (once per assignment, in effect), then forks. It ends when its standard input
    closes, that is when the grader that started it ends."""
    _load(_PRELOAD)
    listener = socket.socket(fileno=listener_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # a checker that ends is reaped at once
    events = selectors.DefaultSelector()
    events.register(listener, selectors.EVENT_READ)
    events.register(sys.stdin, selectors.EVENT_READ)
    while True:
        for key, _ in events.select():
            if key.fileobj is sys.stdin:
                return  # the grader is gone (or closed us): so are we
            connection, _ = listener.accept()
            try:
                connection.settimeout(30)  # the grader's own process writes this line at once
                _load([str(m) for m in json.loads(_read_line(connection))["preload"]])
                connection.settimeout(None)
            except (OSError, ValueError, KeyError, TypeError):
                connection.close()
                continue
            if os.fork() == 0:
                try:
                    events.close()
                    listener.close()
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    _checker(connection)
                finally:
                    os._exit(0)
            connection.close()


def _checker(connection: socket.socket) -> None:
    """In a forked child: become one notebook's checker, talking to the grader over `connection`."""
    die_with_parent()
    folder = tempfile.mkdtemp(prefix="grading-checker-")
    os.chdir(folder)
    os.dup2(connection.fileno(), 0)
    os.dup2(connection.fileno(), 1)
    connection.close()
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    os.write(1, (json.dumps({"pid": os.getpid(), "folder": folder}) + "\n").encode())
    from grading.checker import main

    main()


class ForkServer:
    """The grader's handle on a fork server process (see the module docstring)."""

    def __init__(self) -> None:
        # Mode 0700. A socket's path must fit in 108 bytes: under a long TMPDIR, use /tmp.
        self.folder = tempfile.mkdtemp(prefix="grading-forks-", dir=tempfile.gettempdir() if len(tempfile.gettempdir()) <= 64 else "/tmp")
        self.address = os.path.join(self.folder, "socket")
        here = str(Path(__file__).resolve().parent.parent)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(self.address)
            listener.listen(64)  # checkers can connect at once; they are served once the imports are done
            # `-I` and a folder of its own: nothing in a student's folder comes before the course's code.
            start = f"import sys; sys.path.insert(0, {here!r}); from grading.forks import serve; serve({listener.fileno()})"
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-c", start],
                pass_fds=[listener.fileno()], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                cwd=self.folder, env={**os.environ, "MPLBACKEND": "Agg"},
            )
        finally:
            listener.close()

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=10)
        except Exception:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


_server: ForkServer | None = None
_lock = threading.Lock()


def fork_server() -> str:
    """The socket of this process's fork server, started at the first call; it ends with the process."""
    global _server
    with _lock:
        if _server is None or not _server.alive():
            if _server is None:
                atexit.register(lambda: _server is not None and _server.close())
            else:
                _server.close()
            _server = ForkServer()
        return _server.address


def connect(address: str, preload: list[str], timeout: float = 300.0) -> tuple[socket.socket, int, str]:
    """A fresh checker from the fork server at `address`, with `preload` imported: (its socket, its pid, its folder)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)  # the server may still be importing torch on a busy machine
        sock.connect(address)
        sock.sendall((json.dumps({"preload": preload}) + "\n").encode())
        hello = _read_line(sock)
        if not hello.endswith(b"\n"):
            raise ConnectionError("the fork server closed the connection")
        sock.settimeout(None)
        started = json.loads(hello)
        return sock, int(started["pid"]), str(started["folder"])
    except BaseException:
        sock.close()
        raise
