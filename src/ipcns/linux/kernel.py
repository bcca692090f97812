"""The host kernel as a backend: tasks are helper processes.

``LinuxKernel().spawn()`` gives a :class:`LinuxTask`: a helper process,
forked from a root helper that was forked from the caller, which runs each
request in its own process and answers over a socketpair.  The caller's own
namespaces and credentials never change.  See ``_helper`` for the process
tree and how helpers die with the caller.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from subprocess import Popen

from .. import abi
from .._types import (
    MqAttr,
    MsgInfo,
    MsqidDs,
    SemidDs,
    SemInfo,
    ShmidDs,
    ShmInfo,
    ShmLimitsInfo,
    SigInfo,
    Snapshot,
    Stat,
)
from ..contract import HasPid, Kernel, SemOp, Task
from . import _rpc


class TaskError(RuntimeError):
    """A helper failed in a way that is not a system call's error."""


class LinuxTask(Task):
    """A helper process of the host kernel (see the module docstring).

    One request at a time: a second thread calling the same task waits
    until the first call returns.
    """

    def __init__(self, kernel: LinuxKernel, sock: socket.socket, pid: int,
                 tid: int | None = None) -> None:
        self._kernel = kernel
        self._sock = sock
        self._pid = pid
        self._tid = pid if tid is None else tid
        self._lock = threading.Lock()
        self._alive = True

    def __repr__(self) -> str:
        return f"<LinuxTask pid={self._pid}{'' if self._alive else ' exited'}>"

    @property
    def pid(self) -> int:
        return self._pid

    @property
    def tid(self) -> int:
        """The thread id: the pid, except for a task made by :meth:`thread`."""
        return self._tid

    @property
    def alive(self) -> bool:
        return self._alive

    def request(self, op: str, *args: object, fds: Sequence[int] = ()) -> tuple[object, list[int]]:
        """Send one request; returns (result, descriptors received).  Raises
        the OSError the helper met, ProcessLookupError if the task is gone,
        TaskError for anything else."""
        with self._lock:
            if not self._alive:
                raise ProcessLookupError(3, f"task {self._pid} has exited")
            try:
                _rpc.send(self._sock, (op, args), fds)
                reply, got = _rpc.recv(self._sock)
            except (EOFError, OSError) as err:
                self._dead()
                raise ProcessLookupError(3, f"task {self._pid} died") from err
        status, *rest = cast(tuple[object, ...], reply)
        if status == "ok":
            return rest[0], got
        if status == "oserror":
            errno_, strerror, filename = rest
            if filename is not None:
                raise OSError(errno_, strerror, filename)
            raise OSError(errno_, strerror)
        raise TaskError(f"task {self._pid}: {rest[0]}")

    def _call(self, op: str, *args: object) -> object:
        return self.request(op, *args)[0]

    def _dead(self) -> None:
        self._alive = False
        self._sock.close()

    def detach(self) -> None:
        """Let the task go: close the connection without waiting; the
        helper sees it close and exits on its own."""
        self._dead()

    # -- processes and namespaces ------------------------------------------

    def fork(self, flags: int = 0) -> LinuxTask:
        pid, fds = self.request("fork", flags)
        task = LinuxTask(self._kernel, socket.socket(fileno=fds[0]), cast(int, pid))
        self._kernel._adopt(task)
        return task

    def thread(self) -> LinuxTask:
        tid, fds = self.request("thread")
        task = LinuxTask(self._kernel, socket.socket(fileno=fds[0]), self._pid, cast(int, tid))
        self._kernel._adopt(task)
        return task

    def sigtimedwait(self, signals: Sequence[int], timeout: float) -> SigInfo | None:
        got = self._call("sigtimedwait", list(signals), timeout)
        return None if got is None else SigInfo(*cast(tuple[int, int, int, int], got))

    def exit(self, status: int = 0) -> None:
        if self._tid != self._pid:  # a thread: it ends, its process goes on
            with contextlib.suppress(ProcessLookupError):
                self._call("exit", status)
            self._dead()
            return
        try:
            pidfd = os.pidfd_open(self._pid)
        except ProcessLookupError:
            self._dead()
            return
        try:
            self._call("exit", status)
        except ProcessLookupError:
            pass
        else:
            # Wait until the process is gone (pidfds become readable at exit,
            # after its semadj, shm and namespace references are released).
            select.select([pidfd], [], [], 10.0)
        finally:
            os.close(pidfd)
            self._dead()

    def unshare(self, flags: int) -> None:
        self._call("unshare", flags)

    def setns(self, target: int | str | HasPid, nstype: int = 0) -> None:
        if isinstance(target, (int, str)):
            self._call("setns", target, nstype)
            return
        # Another task: its namespaces through a pidfd (all of those types
        # named by nstype), or its IPC namespace when nstype is 0.
        fd = cast(int, self._call("pidfd_open", target.pid))
        try:
            self._call("setns", fd, nstype or abi.CLONE_NEWIPC)
        finally:
            self._call("close", fd)

    def ns_inode(self, nstype: str = "ipc") -> int:
        return cast(int, self._call("ns_inode", nstype))

    def ns_ioctl(self, fd: int, request: int) -> int:
        return cast(int, self._call("ns_ioctl", fd, request))

    def pidfd_open(self, pid: int) -> int:
        return cast(int, self._call("pidfd_open", pid))

    def adopt_fd(self, fd: int) -> int:
        """Send the caller's descriptor ``fd`` to the task (SCM_RIGHTS);
        returns its number there."""
        return cast(int, self.request("adopt_fd", fds=[fd])[0])

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        self._call("mount", source, target, fstype, flags, data)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._call("mkdir", path, mode)

    def snapshot(self, refs: Sequence[tuple[str, int]]) -> list[Snapshot | OSError]:
        """Hop through namespaces ``(path, inode)`` with setns, one request in
        all; a Snapshot of each, or the OSError met there."""
        from ._wire import decode

        return cast(list[Snapshot | OSError],
                    [decode(item) for item in self.hop_raw(refs, summary=False)])

    def hop_raw(self, refs: Sequence[tuple[str, int]], summary: bool) -> list[object]:
        """As :meth:`snapshot` (with ``summary``: Summaries instead), the
        answers still in their wire form (see _wire.decode), so that the
        caller can decode them while the task goes on with more."""
        return cast(list[object], self._call("summary" if summary else "snapshot", list(refs)))

    def rest(self) -> None:
        """After :meth:`snapshot` or :meth:`hop_raw`: close the inventory's
        slow descriptors and return to the namespace the task was in before,
        so that it keeps none of those it visited alive."""
        self._call("rest")

    # -- credentials and limits ----------------------------------------------

    def getresuid(self) -> tuple[int, int, int]:
        return cast(tuple[int, int, int], self._call("getresuid"))

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._call("setresuid", ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._call("setresgid", rgid, egid, sgid)

    def setgroups(self, groups: Sequence[int]) -> None:
        self._call("setgroups", list(groups))

    def capabilities(self) -> tuple[int, int, int]:
        return cast(tuple[int, int, int], self._call("capabilities"))

    def set_capabilities(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        self._call("set_capabilities", effective, permitted, inheritable)

    def getrlimit(self, resource: int) -> tuple[int, int]:
        return cast(tuple[int, int], self._call("getrlimit", resource))

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        self._call("setrlimit", resource, soft, hard)

    # -- files ---------------------------------------------------------------

    def open(self, path: str, flags: int = 0, mode: int = 0o666) -> int:
        return cast(int, self._call("open", path, flags, mode))

    def read(self, fd: int, size: int = 65536) -> bytes:
        return cast(bytes, self._call("read", fd, size))

    def close(self, fd: int) -> None:
        self._call("close", fd)

    def read_file(self, path: str) -> bytes:
        return cast(bytes, self._call("read_file", path))

    def write_file(self, path: str, data: bytes) -> None:
        self._call("write_file", path, data)

    def stat(self, path: str) -> Stat:
        return cast(Stat, self._call("stat", path))

    def listdir(self, path: str) -> list[str]:
        return cast(list[str], self._call("listdir", path))

    def creat(self, path: str, mode: int = 0o600) -> None:
        self._call("creat", path, mode)

    def unlink(self, path: str) -> None:
        self._call("unlink", path)

    def mount_mqueue(self, path: str) -> None:
        self._call("mount_mqueue", path)

    def umount(self, path: str, flags: int = 0) -> None:
        self._call("umount", path, flags)

    # -- System V message queues -------------------------------------------

    def msgget(self, key: int, flags: int) -> int:
        return cast(int, self._call("msgget", key, flags))

    def msgsnd(self, msqid: int, mtype: int, data: bytes, flags: int = 0) -> None:
        self._call("msgsnd", msqid, mtype, data, flags)

    def msgrcv(self, msqid: int, size: int, mtype: int = 0, flags: int = 0) -> tuple[int, bytes]:
        return cast(tuple[int, bytes], self._call("msgrcv", msqid, size, mtype, flags))

    def msgctl(self, msqid: int, cmd: int, qbytes: int | None = None,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        return cast(int, self._call("msgctl", msqid, cmd, qbytes, uid, gid, mode))

    def msgctl_stat(self, msqid: int, cmd: int) -> MsqidDs:
        return cast(MsqidDs, self._call("msgctl_stat", msqid, cmd))

    def msgctl_info(self, cmd: int) -> MsgInfo:
        return cast(MsgInfo, self._call("msgctl_info", cmd))

    # -- System V semaphores -------------------------------------------------

    def semget(self, key: int, nsems: int, flags: int) -> int:
        return cast(int, self._call("semget", key, nsems, flags))

    def semop(self, semid: int, ops: Sequence[SemOp], timeout: float | None = None) -> None:
        self._call("semop", semid, list(ops), timeout)

    def semctl(self, semid: int, semnum: int, cmd: int, value: int = 0,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        return cast(int, self._call("semctl", semid, semnum, cmd, value, uid, gid, mode))

    def semctl_getall(self, semid: int) -> list[int]:
        return cast(list[int], self._call("semctl_getall", semid))

    def semctl_setall(self, semid: int, values: Sequence[int]) -> None:
        self._call("semctl_setall", semid, list(values))

    def semctl_stat(self, semid: int, cmd: int) -> SemidDs:
        return cast(SemidDs, self._call("semctl_stat", semid, cmd))

    def semctl_info(self, cmd: int) -> SemInfo:
        return cast(SemInfo, self._call("semctl_info", cmd))

    # -- System V shared memory ----------------------------------------------

    def shmget(self, key: int, size: int, flags: int) -> int:
        return cast(int, self._call("shmget", key, size, flags))

    def shmat(self, shmid: int, flags: int = 0) -> int:
        return cast(int, self._call("shmat", shmid, flags))

    def shmdt(self, addr: int) -> None:
        self._call("shmdt", addr)

    def shm_write(self, addr: int, data: bytes, offset: int = 0) -> None:
        self._call("shm_write", addr, data, offset)

    def shm_read(self, addr: int, size: int, offset: int = 0) -> bytes:
        return cast(bytes, self._call("shm_read", addr, size, offset))

    def shmctl(self, shmid: int, cmd: int, uid: int | None = None,
               gid: int | None = None, mode: int | None = None) -> int:
        return cast(int, self._call("shmctl", shmid, cmd, uid, gid, mode))

    def shmctl_stat(self, shmid: int, cmd: int) -> ShmidDs:
        return cast(ShmidDs, self._call("shmctl_stat", shmid, cmd))

    def shmctl_info(self) -> ShmInfo:
        return cast(ShmInfo, self._call("shmctl_info"))

    def shmctl_ipcinfo(self) -> ShmLimitsInfo:
        return cast(ShmLimitsInfo, self._call("shmctl_ipcinfo"))

    # -- POSIX message queues ------------------------------------------------

    def mq_open(self, name: str, flags: int, mode: int = 0o600,
                attr: MqAttr | None = None) -> int:
        return cast(int, self._call("mq_open", name, flags, mode, attr))

    def mq_send(self, mqd: int, data: bytes, priority: int = 0,
                timeout: float | None = None) -> None:
        self._call("mq_send", mqd, data, priority, timeout)

    def mq_receive(self, mqd: int, size: int,
                   timeout: float | None = None) -> tuple[bytes, int]:
        return cast(tuple[bytes, int], self._call("mq_receive", mqd, size, timeout))

    def mq_getattr(self, mqd: int) -> MqAttr:
        return cast(MqAttr, self._call("mq_getattr", mqd))

    def mq_setattr(self, mqd: int, flags: int) -> MqAttr:
        return cast(MqAttr, self._call("mq_setattr", mqd, flags))

    def mq_notify(self, mqd: int, signo: int | None) -> None:
        self._call("mq_notify", mqd, signo)

    def mq_unlink(self, name: str) -> None:
        self._call("mq_unlink", name)


class LinuxKernel(Kernel):
    """The host kernel.  ``close()`` (or leaving ``with``) ends every task;
    so does the caller's death, however it dies."""

    name = "linux"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: LinuxTask | None = None
        self._root_proc: int | Popen[bytes] | None = None
        self._tasks: list[LinuxTask] = []

    def _adopt(self, task: LinuxTask) -> None:
        with self._lock:
            self._tasks = [t for t in self._tasks if t.alive]
            self._tasks.append(task)

    def helper_pids(self) -> set[int]:
        """The pids of this kernel's own processes: the root helper and every
        task still connected."""
        with self._lock:
            pids = {t.pid for t in self._tasks if t.alive}
            if self._root is not None:
                pids.add(self._root.pid)
        return pids

    def _start_root(self) -> LinuxTask:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if threading.active_count() == 1:
            # Single-threaded: fork is safe and costs about a millisecond.
            caller = os.getpid()
            main = threading.current_thread() is threading.main_thread()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                ours.close()
                # Imported here, in the new process: the caller never pays
                # for ctypes, and starts its own work at once.
                from ._helper import start_root_in_child

                start_root_in_child(theirs, caller, pdeathsig=main)
            self._root_proc = pid
        else:
            # Forking a threaded process can deadlock the child on a lock
            # another thread held; start a fresh interpreter instead.
            import subprocess

            theirs.set_inheritable(True)
            self._root_proc = subprocess.Popen(
                [sys.executable, "-m", "ipcns.linux._helper", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
            )
            pid = self._root_proc.pid
        theirs.close()
        return LinuxTask(self, ours, pid)

    def start(self) -> None:
        """Start the root helper now rather than at the first spawn."""
        with self._lock:
            if self._root is None or not self._root.alive:
                self._root = self._start_root()

    def spawn(self) -> LinuxTask:
        self.start()
        root = self._root
        if root is None:  # closed meanwhile by another thread
            raise ProcessLookupError(3, "the kernel was closed")
        return root.fork(0)

    def close(self) -> None:
        with self._lock:
            root, proc, tasks = self._root, self._root_proc, self._tasks
            self._root, self._root_proc, self._tasks = None, None, []
        if root is not None:
            root._dead()  # the root helper sees EOF and kills every task
        for task in tasks:
            task._dead()
        if isinstance(proc, int):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(proc, 0)
        elif proc is not None:
            proc.wait()

    def __del__(self) -> None:
        # Never leave a zombie root helper behind a forgotten kernel.  (No
        # module globals here: at interpreter shutdown they may be gone.)
        try:
            self.close()
        except Exception:
            return
