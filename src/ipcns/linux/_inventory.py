"""Inventory inside a helper: hop through namespaces with setns.

One helper visits namespace after namespace (setns costs microseconds; a
fork and exec per namespace costs milliseconds).  After joining one it reads
only what the kernel itself publishes there:

* the usage counters of ``struct ipc_namespace``, from MSG_INFO, SEM_INFO
  and SHM_INFO, whose answers also carry the msg and sem limits (msgctl_info
  and semctl_info in ipc/msg.c and ipc/sem.c fill them for both commands);
  the shm limits from shmctl(IPC_INFO);
* the objects, only for a kind that has some (most namespaces have none):
  message queues and semaphore sets by index with MSG_STAT_ANY and
  SEM_STAT_ANY, one call per object, while the indices in use are dense,
  else from ``/proc/sysvipc/{msg,sem}``; segments from /proc/sysvipc/shm,
  the only source of each one's rss and swap;
* POSIX queues, through a detached mqueue mount (fsopen/fsmount): the
  superblock is the namespace's own and nothing is mounted anywhere; the
  size of its root counts them (40 bytes plus 20 per queue), so an empty
  one is not listed;
* the sysctls no call reports, through a detached, fresh procfs mount.  The
  host's /proc/sys keeps one cached dentry per namespace for each ipc
  sysctl, all in one hash chain that every lookup walks, so reading them
  there costs time proportional to the number of namespaces ever read
  (measured: 25 us a file at 200 namespaces, 230 us at 1000).  A fresh
  procfs, shared by a few namespaces, keeps the chains short.

Closing is work the caller need not wait for (a sysctl file's close costs
a couple of microseconds, and a namespace has a dozen; a detached mount's
teardown waits for an RCU grace period), so the descriptors are closed
only after the caller has every answer, by a syscalls.Deferred, which
tears all the mounts down at once: at the helper's next request that is
not an inventory's (the "rest" that ends an inventory), or at its exit.

This runs once per namespace, hundreds of times per inventory, so it builds
the answer's wire form (see _wire.py) directly.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
from collections.abc import Sequence

from .. import abi
from .._procfs import parse_queue_file, sysvipc_rows
from .._types import (
    LIMIT_SYSCTLS,
    MessageQueue,
    MsgInfo,
    SemaphoreSet,
    SemInfo,
    SharedMemory,
    ShmInfo,
)
from . import syscalls
from ._wire import MQUEUE, MSG, SEM, SHM, SNAPSHOT, SUMMARY
from .syscalls import Deferred, Syscalls

_FLAGS = os.O_RDONLY | os.O_CLOEXEC
_QUEUE_FLAGS = _FLAGS | os.O_NONBLOCK
_DIR_FLAGS = _FLAGS | os.O_DIRECTORY

#: The limits no system call reports, in the order of Limits' fields.
_FILE_LIMITS = ("shm_rmid_forced", "msg_next_id", "sem_next_id", "shm_next_id",
                "queues_max", "msg_max", "msgsize_max", "msg_default", "msgsize_default")


def _by_directory(names: Sequence[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The sysctl files of limits ``names``, as (top directory under
    /proc/sys, the paths below it), in the order given."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for name in names:
        top, below = LIMIT_SYSCTLS[name].split("/", 1)
        if out and out[-1][0] == top:
            out[-1] = (top, (*out[-1][1], below))
        else:
            out.append((top, (below,)))
    return tuple(out)


_FILES = _by_directory(_FILE_LIMITS)
_QUEUES_MAX = _by_directory(("queues_max",))
_SIZE_AT = SharedMemory._fields.index("size")
_DIRENT_SIZE = 20


def _mq_error(err: OSError) -> str:
    message = f"cannot list POSIX queues: {err.strerror}"
    if err.errno in (errno.EPERM, errno.EACCES):
        message += " (needs CAP_SYS_ADMIN over the namespace)"
    return message


class _Sysctls:
    """Reads ipc sysctls through a procfs mount of its own (see the module
    docstring), shared by ``BATCH`` namespaces in turn: the hash chains stay
    that short, and the mount's cost is spread.  Where procfs cannot be
    mounted, the host's /proc/sys is read instead.

    A namespace's sysctls form a set of their own, and a lookup resolves
    each name in the looker's namespace: /proc/sys/kernel and /proc/sys/fs
    are common directories, so one descriptor of each serves every
    namespace, while fs/mqueue is the set's own, and a descriptor of it
    opened in one namespace would go on showing that one's values after
    setns.  So files are opened by their path below the common directory
    ("mqueue/queues_max"), looked up afresh in each namespace.  Every
    descriptor goes to ``later`` (see Visitor).
    """

    BATCH = 8

    def __init__(self, later: Deferred) -> None:
        self.later = later
        self.root = -1
        self.common: dict[str, int] = {}  # directory -> descriptor, per mount
        self.uses = self.BATCH

    def _mount(self) -> None:
        self.uses = 0
        try:
            self.root = self.later.mount(syscalls.fsmount("proc"))
        except OSError:  # not allowed to mount proc here
            self.root = os.open("/proc", _DIR_FLAGS)
            self.later.append(self.root)
        self.common = {}

    def _dir(self, top: str) -> int:
        dir_fd = self.common.get(top)
        if dir_fd is None:
            dir_fd = self.common[top] = os.open("sys/" + top, _DIR_FLAGS, dir_fd=self.root)
            self.later.append(dir_fd)
        return dir_fd

    def values(self, files: tuple[tuple[str, tuple[str, ...]], ...]) -> list[int]:
        """The value of each sysctl (one number each) of ``files``, pairs
        of a directory under /proc/sys and paths below it, in the current
        IPC namespace; counts one namespace done."""
        if self.uses >= self.BATCH:
            self._mount()
        self.uses += 1
        out = []
        later, open_, read = self.later.fds, os.open, os.read
        for top, paths in files:
            dir_fd = self._dir(top)
            for path in paths:
                fd = open_(path, _FLAGS, dir_fd=dir_fd)
                later.append(fd)
                out.append(int(read(fd, 64)))
        return out


#: A read of a /proc/sysvipc file shorter than this was its last.  These
#: are seq_files: a read returns as many whole lines as fit in the file's
#: buffer (a page at least), so one that returns less than a page minus the
#: longest line (about 200 bytes) met the end of the table.
_SHORT_READ = 2048


def _read(name: str, dir_fd: int, later: Deferred) -> bytes:
    fd = os.open(name, _FLAGS, dir_fd=dir_fd)
    later.append(fd)
    data = chunk = os.read(fd, 65536)
    while len(chunk) >= _SHORT_READ:
        chunk = os.read(fd, 65536)
        data += chunk
    return data


def _by_index(used: int, max_index: int) -> bool:
    """Whether to read a table by index (*_STAT_ANY) rather than as text:
    when most indices up to the highest in use hold an object.  A call per
    object costs less than the text's formatting and parsing, but a call
    per free index is wasted."""
    return max_index < 2 * used + 16


class Visitor:
    """Reads the namespace this helper is in, for one hop.

    Descriptors go to ``later`` rather than being closed at once: closing
    is work the caller need not wait for (a detached mount's teardown waits
    for an RCU grace period).  A namespace leaves at most
    :data:`FDS_PER_NAMESPACE` there; a queue's own descriptor, of which a
    namespace may have a thousand, is closed at once.
    """

    FDS_PER_NAMESPACE = 20

    def __init__(self, sys: Syscalls, later: Deferred) -> None:
        self.sys = sys
        self.later = later
        self.sysctls = _Sysctls(later)
        self.sysvipc = os.open("/proc/sysvipc", _DIR_FLAGS)
        later.append(self.sysvipc)
        self.msg_table = syscalls.msg_table()
        self.sem_table = syscalls.sem_table()

    def _mqueue(self) -> tuple[int, int | None]:
        """The namespace's mqueue filesystem (an O_PATH descriptor of a
        detached mount) and how many queues it holds, when its root says.

        mqueuefs sizes its root directory 2 * 20 bytes plus 20 per queue
        (DIRENT_SIZE in ipc/mqueue.c, since 2.6), so an fstat counts them;
        ``None`` if the size is not of that form.  Raises OSError (EPERM
        without CAP_SYS_ADMIN over the namespace's user namespace)."""
        mnt = self.later.mount(syscalls.fsmount_mqueue())
        count, rest = divmod(os.fstat(mnt).st_size - 2 * _DIRENT_SIZE, _DIRENT_SIZE)
        return mnt, (count if count >= 0 and not rest else None)

    def queues(self) -> list[tuple[object, ...]]:
        """The POSIX queues, as PosixQueue's fields.  Raises OSError as
        :meth:`_mqueue` does."""
        mnt, count = self._mqueue()
        found: list[tuple[object, ...]] = []
        if count == 0:
            return found
        for name in sorted(syscalls.listdir(mnt, self.later)):
            try:
                fd = os.open(name, _QUEUE_FLAGS, dir_fd=mnt)
            except FileNotFoundError:
                continue  # unlinked since the listing
            try:
                st = os.fstat(fd)
                fields = parse_queue_file(os.read(fd, 256))
                attr = self.sys.mq_getattr(fd)
            finally:
                os.close(fd)
            found.append((
                "/" + name, st.st_mode & 0o7777, st.st_uid, st.st_gid,
                fields.get("QSIZE", 0), attr.curmsgs, attr.maxmsg, attr.msgsize,
                fields.get("NOTIFY", 0), fields.get("SIGNO", 0), fields.get("NOTIFY_PID", 0),
                int(st.st_mtime),
            ))
        return found

    def _text(self, name: str) -> bytes:
        return _read(name, self.sysvipc, self.later)

    def snapshot(self, inode: int) -> tuple[object, ...]:
        """A Snapshot of the current namespace, in wire form.  Raises OSError
        when the SysV files or sysctls cannot be read; a failure to list
        POSIX queues goes in its ``mqueue_error`` instead."""
        sys = self.sys
        msg = sys.msgctl_info(abi.MSG_INFO)
        sem = sys.semctl_info(abi.SEM_INFO)
        shm = sys.shmctl_info()
        runs: list[tuple[int, Sequence[Sequence[object]]]] = []
        if msg.msgpool:  # MSG_INFO's msgpool: the ids in use
            runs.append((MSG, self.msg_table.rows(msg.max_index + 1)
                         if _by_index(msg.msgpool, msg.max_index)
                         else sysvipc_rows(self._text("msg"), MessageQueue)))
        if sem.semusz:  # SEM_INFO's semusz: the ids in use
            runs.append((SEM, self.sem_table.rows(sem.max_index + 1)
                         if _by_index(sem.semusz, sem.max_index)
                         else sysvipc_rows(self._text("sem"), SemaphoreSet)))
        if shm.used_ids:  # the text: only it has each segment's rss and swap
            runs.append((SHM, sysvipc_rows(self._text("shm"), SharedMemory)))
        error = None
        queues: list[tuple[object, ...]] = []
        try:
            queues = self.queues()
        except OSError as err:
            error = _mq_error(err)
        if queues:
            runs.append((MQUEUE, queues))
        lim = sys.shmctl_ipcinfo()
        files = self.sysctls.values(_FILES)
        limits = (lim.shmmax, lim.shmall, lim.shmmni, files[0],
                  msg.msgmax, msg.msgmnb, msg.msgmni,
                  sem.semmsl, sem.semmns, sem.semopm, sem.semmni, *files[1:])
        return (SNAPSHOT, inode, runs, limits, _usage(msg, sem, shm, len(queues)), error)

    def summary(self, inode: int) -> tuple[object, ...]:
        """A Summary of the current namespace, in wire form: the counters,
        the segments' bytes and the limits that bound the counters; no
        object is listed and one sysctl file is read.  Raises OSError as
        :meth:`snapshot` does."""
        sys = self.sys
        msg = sys.msgctl_info(abi.MSG_INFO)
        sem = sys.semctl_info(abi.SEM_INFO)
        shm = sys.shmctl_info()
        shm_bytes = 0
        if shm.used_ids:
            rows = sysvipc_rows(self._text("shm"), SharedMemory)
            shm_bytes = sum(row[_SIZE_AT] for row in rows)
        error = None
        count = 0
        try:
            mnt, known = self._mqueue()
            count = len(syscalls.listdir(mnt, self.later)) if known is None else known
        except OSError as err:
            error = _mq_error(err)
        lim = sys.shmctl_ipcinfo()
        bounds = (msg.msgmni, sem.semmni, sem.semmns, lim.shmmni, lim.shmall,
                  *self.sysctls.values(_QUEUES_MAX))
        return (SUMMARY, inode, _usage(msg, sem, shm, count), shm_bytes, bounds, error)


def _usage(msg: MsgInfo, sem: SemInfo, shm: ShmInfo, mq_queues: int) -> tuple[int, ...]:
    """Usage's fields from the *_INFO answers."""
    return (msg.msgpool, msg.msgtql, msg.msgmap, sem.semusz, sem.semaem,
            shm.used_ids, shm.shm_tot, mq_queues)


def _descriptor_budget() -> int:
    """How many descriptors a hop may keep for closing later: about half
    the soft RLIMIT_NOFILE, raised to the hard limit first (in this helper
    only; 1024 is a common soft limit, and each namespace keeps a dozen)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(OSError, ValueError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return max(soft // 2, 16)


def hop(sys: Syscalls, refs: list[tuple[str, int]], later: Deferred,
        summary: bool = False) -> list[object]:
    """A Snapshot (with ``summary``: a Summary) of each namespace ``(path,
    inode)``, in order, in wire form; an OSError in place of one that could
    not be read (ESTALE when ``path`` no longer names that namespace).
    Descriptors to close go to ``later``."""
    here = sys.ns_inode()
    visitor = Visitor(sys, later)
    visit = visitor.summary if summary else visitor.snapshot
    budget = _descriptor_budget() - Visitor.FDS_PER_NAMESPACE
    out: list[object] = []
    for path, inode in refs:
        if len(later) > budget:  # pay the teardown now rather than run out
            later.close()
            visitor = Visitor(sys, later)
            visit = visitor.summary if summary else visitor.snapshot
        try:
            fd = os.open(path, _FLAGS)
            later.append(fd)
            if os.fstat(fd).st_ino != inode:
                out.append(OSError(errno.ESTALE, f"{path} is no longer ipc:[{inode}]"))
                continue
            if inode != here:
                sys.setns(fd, abi.CLONE_NEWIPC)
                here = inode
            out.append(visit(inode))
        except OSError as err:
            out.append(OSError(err.errno, f"{path}: {err.strerror}"))
    return out
