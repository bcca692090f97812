"""The helper process: the far end of a :class:`ipcns.linux.kernel.LinuxTask`.

A helper is single-threaded and does one request at a time, in its own
process, so a ``setns`` or ``unshare`` it makes never touches the caller.

Process tree::

    caller ── root helper (own process group, child subreaper)
                 ├── task        (kernel.spawn())
                 │     └── task  (task.fork(flags): clone3 with those flags)
                 └── task

The root helper only forks.  When the caller's end of its socket closes
(``kernel.close()``, or the caller dies, even by SIGKILL: the kernel closes
its descriptors), the root helper kills its whole process group, so every
task dies with the caller, also one blocked in msgrcv or semop.  A task
whose own socket closes just exits.  Orphaned tasks are re-parented to the
root helper (it is a subreaper), which reaps them.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import NoReturn, cast

from .. import abi
from . import _rpc, syscalls
from .syscalls import Syscalls

#: Requests a helper takes besides the Syscalls methods.
_EXTRA = frozenset({"fork", "thread", "exit", "mount", "snapshot", "summary", "rest",
                    "adopt_fd", "getpid", "sigtimedwait"})

#: Signals a task holds blocked, so that a notification (mq_notify, a
#: test's kill) waits for sigtimedwait instead of killing the helper.
NOTIFY_SIGNALS = frozenset({
    signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM, signal.SIGIO, signal.SIGWINCH,
    *range(signal.SIGRTMIN, signal.SIGRTMAX + 1),
})
#: Requests of an inventory (see _inventory.hop).
_HOPS = frozenset({"snapshot", "summary"})
_METHODS = frozenset(
    name for name in dir(Syscalls) if not name.startswith("_") and callable(getattr(Syscalls, name))
)


class _Gone(Exception):
    """A thread task's caller has gone: unwind its serve loop."""


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Server:
    """Serve requests on ``sock`` until it closes."""

    def __init__(self, sock: socket.socket, root: bool = False, thread: bool = False) -> None:
        self.sock = sock
        self.root = root
        #: A thread of another task's process: ends the thread, not the process.
        self.thread = thread
        self.sys = Syscalls()
        #: Descriptors to close after the answer has gone, at the next
        #: request that is not an inventory's, or at exit (slow to close:
        #: detached mounts).
        self.later = syscalls.Deferred()
        #: The IPC namespace this task was in before its first inventory,
        #: which "rest" returns it to.
        self.home: int | None = None
        #: Work to start once the answer has gone (the closing that "rest"
        #: hands to a thread).
        self.after_reply: threading.Thread | None = None

    def serve(self) -> None:
        """Loop until the caller's end closes.  A process task then exits;
        a thread task returns."""
        try:
            self._loop()
        except _Gone:
            self.sock.close()

    def _loop(self) -> None:
        while True:
            try:
                msg, fds = _rpc.recv(self.sock)
            except (EOFError, OSError):
                self._gone()
            self._reap()
            op, args = cast(tuple[str, tuple[object, ...]], msg)
            # Slow descriptors of earlier requests, closed only now: a caller
            # that runs several helpers at once, each taking shares of an
            # inventory in turn, lets them all finish their work before any
            # of them tears mounts down (or exits).  "rest" hands them to a
            # thread of their own instead.
            if op not in _HOPS and op != "rest":
                self._close_later()
            out_fds: list[int] = []
            exit_status: int | None = None
            try:
                result, out_fds = self._dispatch(op, args, fds)
                reply: tuple[object, ...] = ("ok", result)
            except _Exit as done:
                exit_status = done.status
                reply = ("ok", None)
            except OSError as err:
                reply = ("oserror", err.errno, err.strerror, err.filename)
            except Exception as err:
                reply = ("error", f"{type(err).__name__}: {err}")
            try:
                _rpc.send(self.sock, reply, out_fds)
            except OSError:
                self._gone()
            finally:
                for fd in out_fds:
                    os.close(fd)
            if self.after_reply is not None:
                self.after_reply.start()
                self.after_reply = None
            if exit_status is not None:
                if self.thread:
                    raise _Gone
                os._exit(exit_status)

    def _close_later(self) -> None:
        self.later.close()

    def _gone(self) -> NoReturn:
        if self.thread:
            raise _Gone
        if self.root and os.getpgid(0) == os.getpid():
            # Take every task down with us: they are in our process group
            # (checked: never the caller's group).
            os.killpg(0, signal.SIGKILL)
        os._exit(0)

    @staticmethod
    def _reap() -> None:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def _dispatch(self, op: str, args: tuple[object, ...],
                  fds: list[int]) -> tuple[object, list[int]]:
        if op in _METHODS:
            method: Callable[..., object] = getattr(self.sys, op)
            return method(*args), []
        if op not in _EXTRA:
            raise ValueError(f"unknown request {op!r}")
        if op == "fork":
            return self._fork(int(args[0]))  # type: ignore[call-overload]
        if op == "exit":
            raise _Exit(int(args[0]))  # type: ignore[call-overload]
        if op == "getpid":
            return os.getpid(), []
        if op == "thread":
            return self._thread()
        if op == "sigtimedwait":
            signals, timeout = args
            info = signal.sigtimedwait(signals, timeout)  # type: ignore[arg-type]
            if info is None:
                return None, []
            return (info.si_signo, info.si_code, info.si_pid, info.si_uid), []
        if op == "adopt_fd":
            return fds[0], []
        if op == "mount":
            syscalls.mount(*args)  # type: ignore[arg-type]
            return None, []
        if op == "rest":
            # After an inventory: go home, so as to hold no namespace that it
            # visited alive, and close the inventory's descriptors and
            # mounts (syscalls.Deferred) in a thread started once the answer
            # has gone, so that the task is ready for the next inventory at
            # once.
            if self.home is not None:
                self.sys.setns(self.home, abi.CLONE_NEWIPC)
            self.after_reply = threading.Thread(target=self.later.take().close, daemon=True)
            return None, []
        if op in _HOPS:
            from ._inventory import hop

            if self.home is None:
                self.home = os.open("/proc/thread-self/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
            gc.disable()  # thousands of small tuples, none of them cyclic
            try:
                refs = cast(list[tuple[str, int]], args[0])
                return hop(self.sys, refs, self.later, op == "summary"), []
            finally:
                gc.enable()
        raise ValueError(f"unknown request {op!r}")

    def _thread(self) -> tuple[object, list[int]]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        started: list[int] = []
        ready = threading.Event()

        def run() -> None:
            started.append(threading.get_native_id())
            ready.set()
            Server(theirs, thread=True).serve()

        threading.Thread(target=run, daemon=True).start()
        ready.wait()
        return started[0], [ours.detach()]

    def _fork(self, flags: int) -> tuple[object, list[int]]:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = syscalls.clone3(flags, abi.SIGCHLD)
        except BaseException:
            ours.close()
            theirs.close()
            raise
        if pid == 0:
            try:
                self.sock.close()
                ours.close()
                Server(theirs).serve()
            finally:
                os._exit(0)
        theirs.close()
        return pid, [ours.detach()]


def _take_everyone_down(_signo: int, _frame: object) -> None:
    if os.getpgid(0) == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os._exit(0)


def start_root_in_child(sock: socket.socket, caller: int,
                        pdeathsig: bool = True) -> NoReturn:
    """Become the root helper, in a process just started by ``caller``.

    Two ways to notice the caller's death: EOF on ``sock`` (the root helper
    is idle in recv), and, with ``pdeathsig``, PR_SET_PDEATHSIG: SIGTERM,
    whose handler kills the process group.  (The death signal follows the
    caller's *thread*, so it is asked for only when the main thread made the
    kernel.)
    """
    try:
        fd = sock.fileno()
        os.closerange(3, fd)
        os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, _take_everyone_down)
        if pdeathsig:
            syscalls.set_pdeathsig(signal.SIGTERM)
            if os.getppid() != caller:  # died before the death signal was set
                _take_everyone_down(0, None)
        signal.pthread_sigmask(signal.SIG_BLOCK, NOTIFY_SIGNALS)
        syscalls.prctl(abi.PR_SET_CHILD_SUBREAPER, 1)
        # Every task is forked from here: import what they use once.
        from . import _inventory  # noqa: F401
        # What the caller had is never garbage here: keep the collector off
        # it (fewer pauses, no copy-on-write of every inherited object).
        gc.freeze()
        Server(sock, root=True).serve()
    finally:
        os._exit(0)


def main(argv: list[str]) -> NoReturn:
    """``python -m ipcns.linux._helper FD``: the root helper, started by exec
    (used when the caller has threads, where fork is unsafe)."""
    sock = socket.socket(fileno=int(argv[1]))
    start_root_in_child(sock, os.getppid(), pdeathsig=False)


if __name__ == "__main__":
    main(sys.argv)
