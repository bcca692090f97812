"""What a namespace holds: objects, limits and usage, read through a task.

The collector runs *where the data is*: on Linux inside a helper process
that has joined the namespace (one request per namespace, however many
objects), on the model inside the model task.  It reads only what the
kernel itself publishes: ``/proc/sysvipc/*``, the ipc sysctls, the
``*_INFO`` calls (whose usage fields are the counters of
``struct ipc_namespace``) and the namespace's mqueue filesystem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from . import abi
from ._procfs import make_limits, parse_msg, parse_sem, parse_shm
from ._types import (
    IpcObject,
    MsgInfo,
    PosixQueue,
    SemInfo,
    ShmInfo,
    ShmLimitsInfo,
    Snapshot,
    Usage,
)


class Source(Protocol):
    """The part of a Task the collector needs."""

    def read_file(self, path: str) -> bytes: ...
    def msgctl_info(self, cmd: int) -> MsgInfo: ...
    def semctl_info(self, cmd: int) -> SemInfo: ...
    def shmctl_info(self) -> ShmInfo: ...
    def shmctl_ipcinfo(self) -> ShmLimitsInfo: ...
    def ns_inode(self, nstype: str = "ipc") -> int: ...


#: Lists the POSIX queues of the source's namespace; raises OSError when it
#: cannot (for example without the privilege to mount mqueue there).
QueueLister = Callable[[], list[PosixQueue]]


def collect(src: Source, queues: QueueLister,
            read_sysctl: Callable[[str], bytes] | None = None,
            inode: int | None = None) -> Snapshot:
    """A Snapshot of the namespace ``src`` is in.

    The msg, sem and shm limits come from IPC_INFO (no file lookups); the
    others from ``read_sysctl(path)`` (path relative to /proc/sys; default:
    ``src.read_file`` under /proc/sys).  Raises OSError when the SysV files
    or sysctls cannot be read; a failure to list POSIX queues is kept in
    ``Snapshot.mqueue_error`` instead (and ``usage.mq_queues`` is then 0).
    ``inode`` saves asking the namespace's identity when it is known.
    """
    # The *_INFO calls first: their counters are the kernel's own, and a
    # kind with no object needs no /proc/sysvipc file (most namespaces).
    msg = src.msgctl_info(abi.MSG_INFO)
    sem = src.semctl_info(abi.SEM_INFO)
    shm = src.shmctl_info()
    objects: list[IpcObject] = []
    if msg.msgpool:
        objects += parse_msg(src.read_file("/proc/sysvipc/msg"))
    if sem.semusz:
        objects += parse_sem(src.read_file("/proc/sysvipc/sem"))
    if shm.used_ids:
        objects += parse_shm(src.read_file("/proc/sysvipc/shm"))
    mq_error = None
    found: list[PosixQueue] = []
    try:
        found = queues()
    except OSError as err:
        mq_error = f"cannot list POSIX queues: {err.strerror}"
        if err.errno in (1, 13):
            mq_error += " (needs CAP_SYS_ADMIN over the namespace)"
    if read_sysctl is None:
        def read_sysctl(path: str) -> bytes:
            return src.read_file("/proc/sys/" + path)
    limits = make_limits(src.msgctl_info(abi.IPC_INFO), src.semctl_info(abi.IPC_INFO),
                         src.shmctl_ipcinfo(), read_sysctl)
    usage = Usage(
        msg_queues=msg.msgpool,
        msg_bytes=msg.msgtql,
        msg_hdrs=msg.msgmap,
        sem_sets=sem.semusz,
        used_sems=sem.semaem,
        shm_segments=shm.used_ids,
        shm_tot=shm.shm_tot,
        mq_queues=len(found),
    )
    return Snapshot(
        inode=src.ns_inode() if inode is None else inode,
        objects=(*objects, *found),
        limits=limits,
        usage=usage,
        mqueue_error=mq_error,
    )
