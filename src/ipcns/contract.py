"""The backend contract: a :class:`Kernel` and its :class:`Task` processes.

Everything that touches IPC goes through this surface, so the same code (the
inventory, the conformance scenarios, the command) runs on the host kernel
(``ipcns.kernel("linux")``) and on the reference model
(``ipcns.kernel("model")``).

A Task is one process of its kernel.  Its methods are named after the system
calls and take Pythonic arguments, like the :mod:`os` module.  Every failure
is ``OSError(errno, os.strerror(errno))`` (so ``FileNotFoundError``,
``PermissionError`` and friends), identical on both backends.  A call that
blocks (msgrcv, semop, mq_receive, ...) blocks only the calling thread; drive
another Task from another thread meanwhile.

Descriptors (``int`` fds) are the Task's own: a number returned by
:meth:`Task.open` or :meth:`Task.mq_open` means something only in that Task.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import NamedTuple, Protocol, Self, runtime_checkable

from ._types import (
    MqAttr,
    MsgInfo,
    MsqidDs,
    SemidDs,
    SemInfo,
    ShmidDs,
    ShmInfo,
    ShmLimitsInfo,
    SigInfo,
    Stat,
)

#: A semaphore operation: (sem_num, sem_op, sem_flg).
SemOp = tuple[int, int, int]


@runtime_checkable
class HasPid(Protocol):
    """Anything :meth:`Task.setns` accepts as "that task's namespaces"."""

    @property
    def pid(self) -> int: ...


class Pid(NamedTuple):
    """A process named by its pid, as a :meth:`Task.setns` target:
    ``task.setns(Pid(1234))`` joins the IPC namespace of process 1234."""

    pid: int


class Task(abc.ABC):
    """One process of a kernel.  See the module docstring for conventions."""

    @property
    @abc.abstractmethod
    def pid(self) -> int:
        """The process id, as the kernel's own pid namespace numbers it."""

    @property
    @abc.abstractmethod
    def alive(self) -> bool:
        """False once :meth:`exit` was called or the process died."""

    # -- processes and namespaces ------------------------------------------

    @abc.abstractmethod
    def fork(self, flags: int = 0) -> Task:
        """clone(2) a child with ``flags`` (CLONE_NEWIPC, CLONE_SYSVSEM,
        CLONE_NEWUSER, ...; the exit signal is added).  Raises OSError as
        clone does: EINVAL for CLONE_NEWIPC|CLONE_SYSVSEM, EPERM without
        privilege, ENOSPC past max_ipc_namespaces."""

    @abc.abstractmethod
    def thread(self) -> Task:
        """A new thread of this task's process, as a task of its own: it
        shares descriptors, memory and SEM_UNDO list, while namespaces
        (unshare, setns) are per thread.  Its ``exit`` ends only the thread."""

    @abc.abstractmethod
    def sigtimedwait(self, signals: Sequence[int], timeout: float) -> SigInfo | None:
        """Take one of ``signals`` pending for the task, waiting up to
        ``timeout`` seconds; None if none came.  Tasks keep SIGUSR1, SIGUSR2,
        SIGALRM, SIGIO, SIGWINCH and the real-time signals blocked, so a
        notification (mq_notify) waits here instead of killing them."""

    @abc.abstractmethod
    def exit(self, status: int = 0) -> None:
        """End the process with ``status`` and return once it is gone: its
        SEM_UNDO adjustments, shm detaches and namespace references are
        released, as at exit(2)."""

    @abc.abstractmethod
    def unshare(self, flags: int) -> None:
        """unshare(2)."""

    @abc.abstractmethod
    def setns(self, target: int | str | HasPid, nstype: int = 0) -> None:
        """setns(2).  ``target`` is a descriptor of this task (an nsfs file
        or a pidfd), a path the task opens (``/proc/PID/ns/ipc``), or another
        task or a :class:`Pid`, whose IPC namespace (or, with a pidfd-style
        ``nstype`` mask, whose namespaces of those types) is joined through a
        pidfd."""

    @abc.abstractmethod
    def ns_inode(self, nstype: str = "ipc") -> int:
        """The inode of /proc/self/ns/``nstype``: a namespace's identity."""

    @abc.abstractmethod
    def ns_ioctl(self, fd: int, request: int) -> int:
        """ioctl(2) on an nsfs descriptor: NS_GET_NSTYPE and NS_GET_OWNER_UID
        return a number; NS_GET_USERNS and NS_GET_PARENT return a new
        descriptor of this task."""

    @abc.abstractmethod
    def pidfd_open(self, pid: int) -> int:
        """pidfd_open(2); returns a descriptor of this task."""

    # -- credentials and limits ----------------------------------------------

    @abc.abstractmethod
    def getresuid(self) -> tuple[int, int, int]:
        """Real, effective and saved uid."""

    @abc.abstractmethod
    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        """setresuid(2), with the kernel's capability side effects."""

    @abc.abstractmethod
    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        """setresgid(2)."""

    @abc.abstractmethod
    def setgroups(self, groups: Sequence[int]) -> None:
        """setgroups(2)."""

    @abc.abstractmethod
    def capabilities(self) -> tuple[int, int, int]:
        """(effective, permitted, inheritable) capability masks."""

    @abc.abstractmethod
    def set_capabilities(self, effective: int, permitted: int, inheritable: int = 0) -> None:
        """capset(2) on this task."""

    @abc.abstractmethod
    def getrlimit(self, resource: int) -> tuple[int, int]:
        """getrlimit(2): (soft, hard); RLIM_INFINITY is -1."""

    @abc.abstractmethod
    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2); -1 for RLIM_INFINITY."""

    # -- files ---------------------------------------------------------------

    @abc.abstractmethod
    def open(self, path: str, flags: int = 0, mode: int = 0o666) -> int:
        """open(2); returns a descriptor of this task."""

    @abc.abstractmethod
    def read(self, fd: int, size: int = 65536) -> bytes:
        """read(2) on a descriptor of this task."""

    @abc.abstractmethod
    def close(self, fd: int) -> None:
        """close(2) (also for mq descriptors)."""

    @abc.abstractmethod
    def read_file(self, path: str) -> bytes:
        """Open, read all and close: a sysctl, a /proc/sysvipc file, a queue."""

    @abc.abstractmethod
    def write_file(self, path: str, data: bytes) -> None:
        """Open for writing, write and close (sysctls, uid_map)."""

    @abc.abstractmethod
    def stat(self, path: str) -> Stat:
        """stat(2): mode (with the file type bits), uid, gid, inode, size."""

    @abc.abstractmethod
    def listdir(self, path: str) -> list[str]:
        """The names in a directory, sorted."""

    @abc.abstractmethod
    def creat(self, path: str, mode: int = 0o600) -> None:
        """creat(2) and close: in an mqueue mount this makes a queue."""

    @abc.abstractmethod
    def unlink(self, path: str) -> None:
        """unlink(2)."""

    @abc.abstractmethod
    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """mkdir(2)."""

    @abc.abstractmethod
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:
        """mount(2): a filesystem ("mqueue", "tmpfs"), a bind mount (MS_BIND,
        e.g. of /proc/self/ns/ipc to pin the namespace) or a propagation
        change (MS_PRIVATE|MS_REC on "/" after unshare(CLONE_NEWNS))."""

    @abc.abstractmethod
    def mount_mqueue(self, path: str) -> None:
        """``mount -t mqueue none PATH``: binds to this task's IPC namespace."""

    @abc.abstractmethod
    def umount(self, path: str, flags: int = 0) -> None:
        """umount2(2)."""

    # -- System V message queues -------------------------------------------

    @abc.abstractmethod
    def msgget(self, key: int, flags: int) -> int:
        """msgget(2); returns the msqid."""

    @abc.abstractmethod
    def msgsnd(self, msqid: int, mtype: int, data: bytes, flags: int = 0) -> None:
        """msgsnd(2)."""

    @abc.abstractmethod
    def msgrcv(self, msqid: int, size: int, mtype: int = 0, flags: int = 0) -> tuple[int, bytes]:
        """msgrcv(2); returns (mtype, data)."""

    @abc.abstractmethod
    def msgctl(self, msqid: int, cmd: int, qbytes: int | None = None,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        """msgctl(2) for IPC_RMID and IPC_SET.  For IPC_SET, fields left None
        keep their current value (read with IPC_STAT first)."""

    @abc.abstractmethod
    def msgctl_stat(self, msqid: int, cmd: int) -> MsqidDs:
        """msgctl(2) with IPC_STAT, MSG_STAT or MSG_STAT_ANY."""

    @abc.abstractmethod
    def msgctl_info(self, cmd: int) -> MsgInfo:
        """msgctl(2) with IPC_INFO or MSG_INFO."""

    # -- System V semaphores -------------------------------------------------

    @abc.abstractmethod
    def semget(self, key: int, nsems: int, flags: int) -> int:
        """semget(2); returns the semid."""

    @abc.abstractmethod
    def semop(self, semid: int, ops: Sequence[SemOp], timeout: float | None = None) -> None:
        """semop(2), or semtimedop(2) when ``timeout`` (seconds) is given."""

    @abc.abstractmethod
    def semctl(self, semid: int, semnum: int, cmd: int, value: int = 0,
               uid: int | None = None, gid: int | None = None,
               mode: int | None = None) -> int:
        """semctl(2) for IPC_RMID, IPC_SET, GETVAL, SETVAL, GETPID, GETNCNT
        and GETZCNT; returns the call's value."""

    @abc.abstractmethod
    def semctl_getall(self, semid: int) -> list[int]:
        """semctl(GETALL)."""

    @abc.abstractmethod
    def semctl_setall(self, semid: int, values: Sequence[int]) -> None:
        """semctl(SETALL): one value per semaphore of the set.  A value
        outside 0..SEMVMX, or a missing one, is ERANGE; values past the
        set's size are ignored."""

    @abc.abstractmethod
    def semctl_stat(self, semid: int, cmd: int) -> SemidDs:
        """semctl(2) with IPC_STAT, SEM_STAT or SEM_STAT_ANY."""

    @abc.abstractmethod
    def semctl_info(self, cmd: int) -> SemInfo:
        """semctl(2) with IPC_INFO or SEM_INFO."""

    # -- System V shared memory ----------------------------------------------

    @abc.abstractmethod
    def shmget(self, key: int, size: int, flags: int) -> int:
        """shmget(2); returns the shmid."""

    @abc.abstractmethod
    def shmat(self, shmid: int, flags: int = 0) -> int:
        """shmat(2); returns the attachment's address in this task."""

    @abc.abstractmethod
    def shmdt(self, addr: int) -> None:
        """shmdt(2)."""

    @abc.abstractmethod
    def shm_write(self, addr: int, data: bytes, offset: int = 0) -> None:
        """Store bytes through an attachment (a plain memory write)."""

    @abc.abstractmethod
    def shm_read(self, addr: int, size: int, offset: int = 0) -> bytes:
        """Load bytes through an attachment (a plain memory read)."""

    @abc.abstractmethod
    def shmctl(self, shmid: int, cmd: int, uid: int | None = None,
               gid: int | None = None, mode: int | None = None) -> int:
        """shmctl(2) for IPC_RMID, IPC_SET, SHM_LOCK and SHM_UNLOCK."""

    @abc.abstractmethod
    def shmctl_stat(self, shmid: int, cmd: int) -> ShmidDs:
        """shmctl(2) with IPC_STAT, SHM_STAT or SHM_STAT_ANY."""

    @abc.abstractmethod
    def shmctl_info(self) -> ShmInfo:
        """shmctl(SHM_INFO): usage of the task's namespace."""

    @abc.abstractmethod
    def shmctl_ipcinfo(self) -> ShmLimitsInfo:
        """shmctl(IPC_INFO): limits of the task's namespace."""

    # -- POSIX message queues ------------------------------------------------

    @abc.abstractmethod
    def mq_open(self, name: str, flags: int, mode: int = 0o600,
                attr: MqAttr | None = None) -> int:
        """mq_open(3); ``name`` starts with "/".  Returns a descriptor."""

    @abc.abstractmethod
    def mq_send(self, mqd: int, data: bytes, priority: int = 0,
                timeout: float | None = None) -> None:
        """mq_send(3), or mq_timedsend(3) with ``timeout`` seconds from now."""

    @abc.abstractmethod
    def mq_receive(self, mqd: int, size: int,
                   timeout: float | None = None) -> tuple[bytes, int]:
        """mq_receive(3) or mq_timedreceive(3); returns (data, priority)."""

    @abc.abstractmethod
    def mq_getattr(self, mqd: int) -> MqAttr:
        """mq_getattr(3)."""

    @abc.abstractmethod
    def mq_setattr(self, mqd: int, flags: int) -> MqAttr:
        """mq_setattr(3) of ``mq_flags``; returns the old attributes."""

    @abc.abstractmethod
    def mq_notify(self, mqd: int, signo: int | None) -> None:
        """mq_notify(3): register for signal ``signo``, or unregister (None)."""

    @abc.abstractmethod
    def mq_unlink(self, name: str) -> None:
        """mq_unlink(3)."""


class Kernel(abc.ABC):
    """A backend: the host kernel or the reference model."""

    #: "linux" or "model".
    name: str

    @abc.abstractmethod
    def spawn(self) -> Task:
        """A new task in the caller's namespaces (on Linux: a helper process
        forked from the caller, with the caller's credentials)."""

    @abc.abstractmethod
    def close(self) -> None:
        """End every task this kernel made."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
