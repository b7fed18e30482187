"""The extraction fork server: a clean single-threaded process that imports trafilatura and pays extraction's
first-use costs once, then forks a warm worker each time the pool asks, so the (threaded) service process forks
no worker itself (it starts the server with fork+exec). Unlike multiprocessing's forkserver, which it replaced, it
starts no resource tracker (a Python process of its own, 0.03-0.07 s of CPU a `run --once`), and its workers run
no preparation step or main script again.

    pool: ForkServer.fork(memory cap) --[cap; the worker's socket and status pipe]--> server: fork -> _work()
    pool <--[pid]-- server; on reaping a worker the server writes its exit code (negative: signal) to its pipe

The server exits when the pool's process closes the control socket or dies; workers end on their socket's EOF.
Unix only: the pool uses multiprocessing's spawn where there is no fork (extract_pool._context).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection, wait

from monitor.errors import ExtractError

_REQUEST = 8  # bytes: the memory cap of the worker to fork
_CODE = 4  # bytes: a worker's exit code in its status pipe (signed)


def available() -> bool:
    """Whether workers can fork from a server here (they cannot where there is no fork, or no passing of fds)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds")


class Forked:
    """A worker forked by the server, as the pool sees it: the parts of multiprocessing.Process it uses."""

    def __init__(self, pid: int, status: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None
        self._status = status  # read end of its status pipe; the server writes the exit code when it reaps it

    def join(self, timeout: float | None = None) -> None:
        if self.exitcode is None and wait([self._status], timeout):
            data = os.read(self._status, _CODE)
            # no code: the server itself is gone and never reaped the worker (which its socket's EOF ends)
            self.exitcode = int.from_bytes(data, "little", signed=True) if len(data) == _CODE else 255
            os.close(self._status)

    def is_alive(self) -> bool:
        self.join(0)
        return self.exitcode is None

    def kill(self) -> None:
        if self.is_alive():
            with contextlib.suppress(ProcessLookupError):  # died meanwhile: the server reaps it
                os.kill(self.pid, signal.SIGKILL)


class ForkServer:
    """The pool process's handle on the server: started by the first fork(), started again if it died."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout  # seconds the server may take to start and warm up, or to answer
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._owner = 0  # pid of the process that started it (a forked child must start its own)
        self._lock = threading.Lock()

    def fork(self, memory_bytes: int) -> tuple[Forked, Connection]:
        """A new worker and the pool's end of its connection. A server that died is started again (as
        multiprocessing restarted its forkserver); ExtractError when a fresh one fails too."""
        with self._lock:
            why = ""
            for _ in range(2):
                if self._process is None or self._owner != os.getpid() or self._process.poll() is not None:
                    self._start()
                forked, why = self._request(memory_bytes)
                if forked is not None:
                    return forked
                self.stop()
            raise ExtractError(f"the extraction fork server failed ({why})")

    def _request(self, memory_bytes: int) -> tuple[tuple[Forked, Connection] | None, str]:
        ours, theirs = socket.socketpair()
        status_r, status_w = os.pipe()
        try:
            socket.send_fds(self._control, [memory_bytes.to_bytes(_REQUEST, "little")], [theirs.fileno(), status_w])
            reply = self._control.recv(8)
        except OSError as exc:  # socket.timeout included
            reply, why = b"", f"{type(exc).__name__}: {exc}"
        else:
            why = "" if len(reply) == 8 else f"it exited ({self._process.poll()})"
        finally:
            theirs.close()  # the worker holds the only other end: its death is our EOF
            os.close(status_w)
        if why:
            ours.close()
            os.close(status_r)
            return None, why
        return (Forked(int.from_bytes(reply, "little"), status_r), Connection(ours.detach())), ""

    def _start(self) -> None:
        self.stop()
        ours, theirs = socket.socketpair()
        ours.settimeout(self._timeout)
        command = f"from monitor.extract_server import serve; serve({theirs.fileno()})"
        # the interpreter's flags as multiprocessing passes them (-O, -X options, warnings)
        args = [sys.executable, *subprocess._args_from_interpreter_flags(), "-c", command]  # type: ignore[attr-defined]
        try:
            self._process = subprocess.Popen(args, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)
        except OSError as exc:
            ours.close()
            raise ExtractError(f"the extraction fork server did not start: {exc}") from exc
        finally:
            theirs.close()
        self._control, self._owner = ours, os.getpid()

    def stop(self, reap: bool = True) -> None:
        """Close the control socket, which the server exits on seeing, and reap it unless `reap` is false (at
        exit: it ends by itself, and whoever adopts it reaps it, as multiprocessing's forkserver was)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if reap and self._process is not None and self._owner == os.getpid():
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def _at_exit(self) -> None:
        self.stop(reap=False)


def serve(control_fd: int) -> None:
    """The server's loop (in its own process): fork a worker per request, reap workers, report their exit codes."""
    import gc

    from monitor.extract_pool import _work, warm_up

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pool's process to handle; it stops us
    warm_up()
    # the objects made so far (modules, the warm-up's caches) leave the collector's generations: a worker's full
    # collections skip them and do not write to the pages it shares with us (a forked child over the 181 e2e
    # pages: no full collection and 6,062 page faults, against 1 and 7,888)
    gc.freeze()
    control = socket.socket(fileno=control_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd hears of dead workers
    statuses: dict[int, int] = {}  # worker pid -> write end of its status pipe
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    while True:
        try:
            events = dict(poller.poll())
        except InterruptedError:
            continue
        if wake_r in events:
            while True:
                try:
                    if not os.read(wake_r, 512):
                        break
                except BlockingIOError:
                    break
            _reap(statuses)
        if control.fileno() in events:
            message, fds, _, _ = socket.recv_fds(control, _REQUEST, 2)
            if not message:
                return  # the pool's process is gone: its workers end when their sockets close
            conn_fd, status_w = fds
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    for fd in (control.fileno(), wake_r, wake_w, status_w, *statuses.values()):
                        os.close(fd)
                    _work(Connection(conn_fd), int.from_bytes(message, "little"))
                    code = 0
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            os.close(conn_fd)
            statuses[pid] = status_w
            control.sendall(pid.to_bytes(8, "little"))
            _reap(statuses)  # one that died before our SIGCHLD handler ran for it


def _reap(statuses: dict[int, int]) -> None:
    """Reap the workers that have exited and write each one's exit code to its status pipe."""
    while statuses:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = statuses.pop(pid, None)
        if fd is not None:
            with contextlib.suppress(OSError):  # the pool's process is gone or stopped caring
                os.write(fd, os.waitstatus_to_exitcode(status).to_bytes(_CODE, "little", signed=True))
            os.close(fd)


_server: ForkServer | None = None


def server(timeout: float) -> ForkServer:
    """This process's fork server (one for every pool in it, as multiprocessing had one forkserver)."""
    global _server
    if _server is None:
        _server = ForkServer(timeout)
        atexit.register(_server._at_exit)
    return _server
