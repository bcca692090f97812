"""Inventory inside a helper: hop through namespaces with setns.

One helper visits every namespace in turn (setns costs microseconds; a fork
and exec per namespace costs milliseconds).  After joining a namespace:

* POSIX queues are listed through a detached mqueue mount (fsopen/fsmount):
  the superblock is the namespace's own and nothing is mounted anywhere.
* The sysctls that no system call reports are read through a detached,
  fresh procfs mount.  The host's /proc/sys keeps one cached dentry per
  namespace for each ipc sysctl, all in one hash chain that every lookup
  walks, so reading them there costs time proportional to the number of
  namespaces ever read (measured: 25 us a file at 200 namespaces, 230 us at
  1000).  A fresh procfs has chains of one.

Tearing a detached mount down waits for an RCU grace period (about 60 us
each), so the descriptors are closed only at the helper's next request or
exit, after every helper of an inventory has answered.
"""

from __future__ import annotations

import os

from .. import abi
from .._procfs import parse_queue_file
from .._types import PosixQueue, Snapshot, Summary
from ..collect import collect, summarize
from . import syscalls
from .syscalls import Syscalls


def list_queues(sys: Syscalls, later: list[int] | None = None) -> list[PosixQueue]:
    """The POSIX queues of the current IPC namespace.  Raises OSError
    (EPERM without CAP_SYS_ADMIN over the namespace's user namespace).

    With ``later``, the mount's descriptor is appended to it for the caller
    to close, instead of being closed here.
    """
    mnt = syscalls.fsmount_mqueue(later)
    try:
        found = []
        for name in sorted(os.listdir(mnt)):
            try:
                fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=mnt)
            except FileNotFoundError:
                continue  # unlinked since the listing
            try:
                st = os.fstat(fd)
                fields = parse_queue_file(os.read(fd, 256))
                attr = sys.mq_getattr(fd)
            finally:
                os.close(fd)
            found.append(PosixQueue(
                name="/" + name,
                mode=st.st_mode & 0o7777,
                uid=st.st_uid,
                gid=st.st_gid,
                qsize=fields.get("QSIZE", 0),
                messages=attr.curmsgs,
                maxmsg=attr.maxmsg,
                msgsize=attr.msgsize,
                notify=fields.get("NOTIFY", 0),
                signo=fields.get("SIGNO", 0),
                notify_pid=fields.get("NOTIFY_PID", 0),
                mtime=int(st.st_mtime),
            ))
        return found
    finally:
        if later is None:
            os.close(mnt)
        else:
            later.append(mnt)


class FreshSysctls:
    """Reads sysctls through a procfs mount of its own (see the module
    docstring), shared by ``BATCH`` namespaces in turn: the hash chains stay
    that short, and the mount's cost is spread.  Descriptors go to ``later``.
    """

    BATCH = 8

    def __init__(self, later: list[int]) -> None:
        self.later = later
        self.dirs: dict[str, int] | None = None  # "kernel", "fs/mqueue" -> fd
        self.uses = 0

    def _mount(self) -> None:
        self.uses = 0
        try:
            root = syscalls.fsmount("proc", self.later)
        except OSError:
            self.dirs = {}  # not allowed to mount proc: use the host's /proc
            return
        self.later.append(root)
        self.dirs = {}
        for sub in ("kernel", "fs/mqueue"):
            fd = os.open("sys/" + sub, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=root)
            self.later.append(fd)
            self.dirs[sub] = fd

    def __call__(self, path: str) -> bytes:
        if self.dirs is None or self.uses >= self.BATCH:
            self._mount()
        sub, _, name = path.rpartition("/")
        dir_fd = self.dirs.get(sub) if self.dirs else None
        if dir_fd is None:
            with open("/proc/sys/" + path, "rb") as f:
                return f.read()
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            return os.read(fd, 256)
        finally:
            os.close(fd)

    def next_namespace(self) -> None:
        """Count one namespace done with this mount."""
        self.uses += 1


def count_queues(later: list[int]) -> int:
    """How many POSIX queues the current IPC namespace has.  Raises OSError
    as :func:`list_queues` does."""
    mnt = syscalls.fsmount_mqueue(later)
    later.append(mnt)
    return len(os.listdir(mnt))


def hop(sys: Syscalls, refs: list[tuple[str, int]], later: list[int],
        summary: bool = False) -> list[Snapshot | Summary | OSError]:
    """A Snapshot (with ``summary``: a Summary) of each namespace ``(path,
    inode)``, in order; an OSError in place of one that could not be read
    (ESTALE when ``path`` no longer names that namespace).  Descriptors to
    close go to ``later``."""
    here = sys.ns_inode()
    sysctls = FreshSysctls(later)
    out: list[Snapshot | Summary | OSError] = []
    for path, inode in refs:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if os.fstat(fd).st_ino != inode:
                    out.append(OSError(116, f"{path} is no longer ipc:[{inode}]"))
                    continue
                if inode != here:
                    sys.setns(fd, abi.CLONE_NEWIPC)
                    here = inode
            finally:
                os.close(fd)
            if summary:
                out.append(summarize(sys, lambda: count_queues(later), sysctls, inode))
            else:
                out.append(collect(sys, lambda: list_queues(sys, later), sysctls, inode))
            sysctls.next_namespace()
        except OSError as err:
            out.append(OSError(err.errno, f"{path}: {err.strerror}"))
    return out
