"""What a namespace holds: objects, limits and usage, read through a task.

The collector runs *where the data is*: on Linux inside a helper process
that has joined the namespace (one request per namespace, however many
objects), on the model inside the model task.  It reads only what the
kernel itself publishes: ``/proc/sysvipc/*``, the ipc sysctls, the
``*_INFO`` calls (whose usage fields are the counters of
``struct ipc_namespace``) and the namespace's mqueue filesystem.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from typing import Protocol

from . import abi
from ._procfs import make_limits, parse_msg, parse_sem, parse_shm
from ._types import (
    Bounds,
    IpcObject,
    MsgInfo,
    PosixQueue,
    SemInfo,
    ShmInfo,
    ShmLimitsInfo,
    Snapshot,
    Summary,
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
#: Counts them, the same way.
QueueCounter = Callable[[], int]


def _mq_error(err: OSError) -> str:
    message = f"cannot list POSIX queues: {err.strerror}"
    if err.errno in (errno.EPERM, errno.EACCES):
        message += " (needs CAP_SYS_ADMIN over the namespace)"
    return message


def _usage(msg: MsgInfo, sem: SemInfo, shm: ShmInfo, mq_queues: int) -> Usage:
    return Usage(msg_queues=msg.msgpool, msg_bytes=msg.msgtql, msg_hdrs=msg.msgmap,
                 sem_sets=sem.semusz, used_sems=sem.semaem, shm_segments=shm.used_ids,
                 shm_tot=shm.shm_tot, mq_queues=mq_queues)


def _default_sysctl(src: Source) -> Callable[[str], bytes]:
    def read(path: str) -> bytes:
        return src.read_file("/proc/sys/" + path)

    return read


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
        mq_error = _mq_error(err)
    limits = make_limits(src.msgctl_info(abi.IPC_INFO), src.semctl_info(abi.IPC_INFO),
                         src.shmctl_ipcinfo(), read_sysctl or _default_sysctl(src))
    return Snapshot(
        inode=src.ns_inode() if inode is None else inode,
        objects=(*objects, *found),
        limits=limits,
        usage=_usage(msg, sem, shm, len(found)),
        mqueue_error=mq_error,
    )


def summarize(src: Source, queues: QueueCounter,
              read_sysctl: Callable[[str], bytes] | None = None,
              inode: int | None = None) -> Summary:
    """A Summary of the namespace ``src`` is in: the counters, the segments'
    bytes and the limits that bound the counters; no object is listed and
    one sysctl file is read.  Raises OSError as :func:`collect` does."""
    msg = src.msgctl_info(abi.MSG_INFO)
    sem = src.semctl_info(abi.SEM_INFO)
    shm = src.shmctl_info()
    shm_bytes = 0
    if shm.used_ids:
        shm_bytes = sum(s.size for s in parse_shm(src.read_file("/proc/sysvipc/shm")))
    mq_error = None
    count = 0
    try:
        count = queues()
    except OSError as err:
        mq_error = _mq_error(err)
    msg_lim = src.msgctl_info(abi.IPC_INFO)
    sem_lim = src.semctl_info(abi.IPC_INFO)
    shm_lim = src.shmctl_ipcinfo()
    read = read_sysctl or _default_sysctl(src)
    bounds = Bounds(msgmni=msg_lim.msgmni, semmni=sem_lim.semmni, semmns=sem_lim.semmns,
                    shmmni=shm_lim.shmmni, shmall=shm_lim.shmall,
                    queues_max=int(read("fs/mqueue/queues_max").split()[0]))
    return Summary(
        inode=src.ns_inode() if inode is None else inode,
        usage=_usage(msg, sem, shm, count),
        shm_bytes=shm_bytes,
        bounds=bounds,
        mqueue_error=mq_error,
    )
