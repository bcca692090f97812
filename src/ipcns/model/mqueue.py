"""POSIX message queues and the mqueue filesystem (ipc/mqueue.c).

Each IPC namespace has one mqueue superblock.  mq_open/mq_unlink work on the
caller's namespace's superblock; a mount of mqueue shows the superblock of
the mounting task's namespace, whoever looks through it later.  When the
namespace dies its superblock forgets it: the mount still lists the queues
and creat() there gives EACCES; the queues go with the last mount.
"""

from __future__ import annotations

import errno
import stat
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import abi
from .._types import MqAttr, SigInfo
from ._state import oserror
from .creds import (
    Cred,
    Ucounts,
    UserNamespace,
    capable,
    dec_rlimit_ucounts,
    inc_rlimit_ucounts,
    may_access,
    sticky_denies,
)

if TYPE_CHECKING:
    from .namespaces import IpcNamespace
    from .task import ModelTask

MQ_PRIO_MAX = 32768
HARD_MSGMAX = 65536
HARD_MSGSIZEMAX = 16 * 1024 * 1024
#: sizeof(struct msg_msg) and sizeof(struct posix_msg_tree_node) on x86_64
MSG_MSG_SIZE = 48
TREE_NODE_SIZE = 48
NAME_MAX = 255
FILENT_SIZE = 80
DIRENT_SIZE = 20
SI_MESGQ = -3
#: The mqueue root: a sticky directory anyone may use.
ROOT_MODE = stat.S_IFDIR | stat.S_ISVTX | 0o777
SIGEV_SIGNAL = 0


@dataclass(eq=False)
class Queue:
    """An mqueue inode."""

    sb: Superblock
    name: str
    mode: int
    uid: int
    gid: int
    ino: int
    maxmsg: int
    msgsize: int
    ucounts: Ucounts | None = None
    charged: int = 0
    messages: list[tuple[int, int, bytes]] = field(default_factory=list)
    qsize: int = 0
    linked: bool = True
    opens: int = 0
    notify_owner: int = 0
    notify_signo: int = 0
    notify_user_ns: UserNamespace | None = None
    receivers: list[list[tuple[bytes, int] | None]] = field(default_factory=list)
    senders: list[object] = field(default_factory=list)
    counted_in: IpcNamespace | None = None

    @property
    def curmsgs(self) -> int:
        return len(self.messages)


class Superblock:
    """The mqueue superblock of one IPC namespace."""

    def __init__(self, ns: IpcNamespace, cred: Cred) -> None:
        self.ns: IpcNamespace | None = ns
        self.uid = cred.fsuid
        self.gid = cred.fsgid
        self.ino = ns.world.new_ino()
        self.entries: dict[str, Queue] = {}
        self.mounts = 0
        self.seq = 0

    @property
    def alive(self) -> bool:
        """True while a namespace or a mount holds it."""
        return self.ns is not None or self.mounts > 0

    def dir_size(self) -> int:
        return 2 * DIRENT_SIZE + DIRENT_SIZE * len(self.entries)

    def put_mount(self) -> None:
        self.mounts -= 1
        self._maybe_kill()

    def _maybe_kill(self) -> None:
        if self.alive:
            return
        for q in list(self.entries.values()):
            _unlink(q)


@dataclass(eq=False)
class MqFile:
    """An open queue (a struct file of mqueue)."""

    queue: Queue
    flags: int

    @property
    def readable(self) -> bool:
        return (self.flags & 3) in (abi.O_RDONLY, abi.O_RDWR)

    @property
    def writable(self) -> bool:
        return (self.flags & 3) in (abi.O_WRONLY, abi.O_RDWR)


def init_ns(ns: IpcNamespace, cred: Cred) -> None:
    """mq_init_ns: the namespace's superblock (its root owned by the
    creator)."""
    ns.mq_sb = Superblock(ns, cred)


def exit_ns(ns: IpcNamespace) -> None:
    """The namespace died: its superblock forgets it."""
    sb = ns.mq_sb
    if sb is None:
        return
    sb.ns = None
    for q in sb.entries.values():
        q.counted_in = None
    sb._maybe_kill()


def _check_name(name: str) -> None:
    """getname and lookup_noperm of a name in the mqueue root."""
    if not name:
        raise oserror(errno.ENOENT)
    if name in (".", "..") or "/" in name or "\0" in name:
        raise oserror(errno.EACCES)
    if len(name.encode()) > NAME_MAX:
        raise oserror(errno.ENAMETOOLONG)


def _evict(q: Queue) -> None:
    """The last reference went: uncharge the queue."""
    if q.counted_in is not None:
        q.counted_in.mq_queues_count -= 1
        q.counted_in = None
    if q.ucounts is not None:
        dec_rlimit_ucounts(q.ucounts, abi.RLIMIT_MSGQUEUE, q.charged)
        q.ucounts = None


def _unlink(q: Queue) -> None:
    sb = q.sb
    if sb.entries.get(q.name) is q:
        del sb.entries[q.name]
    q.linked = False
    if q.opens == 0:
        _evict(q)


def create(t: ModelTask, sb: Superblock, name: str, mode: int, attr: MqAttr | None) -> Queue:
    """mqueue_create_attr and mqueue_get_inode."""
    ns = sb.ns
    if ns is None:
        raise oserror(errno.EACCES)
    cred = t.cred
    sys_resource = capable(cred, t.world, abi.CAP_SYS_RESOURCE)
    # both are unsigned in the kernel: a negative queues_max is no limit
    if ns.mq_queues_count >= ns.mq_queues_max & 0xFFFFFFFF and not sys_resource:
        raise oserror(errno.ENOSPC)
    maxmsg, msgsize = ns.mq_msg_default, ns.mq_msgsize_default
    if attr is not None:
        maxmsg, msgsize = attr.maxmsg, attr.msgsize
    if maxmsg <= 0 or msgsize <= 0:
        raise oserror(errno.EINVAL)
    if sys_resource:
        if maxmsg > HARD_MSGMAX or msgsize > HARD_MSGSIZEMAX:
            raise oserror(errno.EINVAL)
    elif maxmsg > ns.mq_msg_max or msgsize > ns.mq_msgsize_max:
        raise oserror(errno.EINVAL)
    mq_bytes = maxmsg * MSG_MSG_SIZE + min(maxmsg, MQ_PRIO_MAX) * TREE_NODE_SIZE
    mq_bytes += maxmsg * msgsize
    ucounts = t.ucounts()
    got = inc_rlimit_ucounts(ucounts, abi.RLIMIT_MSGQUEUE, mq_bytes)
    limit = t.rlimit(abi.RLIMIT_MSGQUEUE)[0]
    if got == (1 << 63) - 1 or (limit != -1 and got > limit):
        dec_rlimit_ucounts(ucounts, abi.RLIMIT_MSGQUEUE, mq_bytes)
        raise oserror(errno.EMFILE)
    ns.mq_queues_count += 1
    q = Queue(sb, name, stat.S_IFREG | (mode & ~t.umask & 0o7777), cred.fsuid, cred.fsgid,
              t.world.new_ino(), maxmsg, msgsize, ucounts=ucounts, charged=mq_bytes,
              counted_in=ns)
    sb.entries[name] = q
    return q


def open_queue(t: ModelTask, q: Queue, oflag: int) -> MqFile:
    q.opens += 1
    return MqFile(q, oflag & (3 | abi.O_NONBLOCK))


def permission(cred: Cred, q: Queue, want: int) -> None:
    if not may_access(cred, q.mode, q.uid, q.gid, want):
        raise oserror(errno.EACCES)


def mq_open(t: ModelTask, name: str, oflag: int, mode: int, attr: MqAttr | None) -> MqFile:
    if not name.startswith("/"):
        raise oserror(errno.EINVAL)
    name = name[1:]
    sb = t.ipc.mq_sb
    assert sb is not None
    _check_name(name)
    q = sb.entries.get(name)
    if q is None:
        if not oflag & abi.O_CREAT:
            raise oserror(errno.ENOENT)
        q = create(t, sb, name, mode, attr)
        return open_queue(t, q, oflag)
    if oflag & (abi.O_CREAT | abi.O_EXCL) == abi.O_CREAT | abi.O_EXCL:
        raise oserror(errno.EEXIST)
    acc = oflag & 3
    if acc == 3:
        raise oserror(errno.EINVAL)
    permission(t.cred, q, {abi.O_RDONLY: 4, abi.O_WRONLY: 2, abi.O_RDWR: 6}[acc])
    return open_queue(t, q, oflag)


def unlink(t: ModelTask, sb: Superblock, name: str) -> None:
    """vfs_unlink in the mqueue root (sticky: EPERM for others' queues)."""
    _check_name(name)
    q = sb.entries.get(name)
    if q is None:
        raise oserror(errno.ENOENT)
    cred = t.cred
    if not may_access(cred, ROOT_MODE, sb.uid, sb.gid, 3):
        raise oserror(errno.EACCES)
    if sticky_denies(cred, ROOT_MODE, sb.uid, q.uid, q.gid):
        raise oserror(errno.EPERM)
    _unlink(q)
    t.world.wake()


def mq_unlink(t: ModelTask, name: str) -> None:
    if not name.startswith("/"):
        raise oserror(errno.EINVAL)
    sb = t.ipc.mq_sb
    assert sb is not None
    try:
        unlink(t, sb, name[1:])
    except PermissionError as err:
        if err.errno == errno.EPERM:  # what mq_unlink(3) reports
            raise oserror(errno.EACCES) from None
        raise


def flush(t: ModelTask, f: MqFile) -> None:
    """mqueue_flush_file: a close by the registered process ends its
    registration."""
    if f.queue.notify_owner == t.tgid:
        _remove_notification(f.queue)


def close(t: ModelTask, f: MqFile) -> None:
    """The last descriptor of an open queue went."""
    q = f.queue
    q.opens -= 1
    if q.opens == 0 and not q.linked:
        _evict(q)


def _remove_notification(q: Queue) -> None:
    q.notify_owner = 0
    q.notify_signo = 0
    q.notify_user_ns = None


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _mqfile(t: ModelTask, fd: int) -> MqFile:
    f = getattr(t.files.get(fd), "mq", None)
    if not isinstance(f, MqFile):
        raise oserror(errno.EBADF)
    return f


def mq_send(t: ModelTask, fd: int, data: bytes, prio: int, timeout: float | None) -> None:
    deadline = _deadline(timeout)
    if prio & 0xFFFFFFFF >= MQ_PRIO_MAX:
        raise oserror(errno.EINVAL)
    f = _mqfile(t, fd)
    q = f.queue
    if not f.writable:
        raise oserror(errno.EBADF)
    if len(data) > q.msgsize:
        raise oserror(errno.EMSGSIZE)
    world = t.world
    if q.curmsgs >= q.maxmsg:
        if f.flags & abi.O_NONBLOCK:
            raise oserror(errno.EAGAIN)
        me = object()
        q.senders.append(me)
        try:
            while q.curmsgs >= q.maxmsg or q.senders[0] is not me:
                if not world.wait(deadline, t):
                    raise oserror(errno.ETIMEDOUT)
        finally:
            q.senders.remove(me)
        _insert(q, data, prio)
        world.wake()
        return
    if q.receivers:
        slot = q.receivers.pop(0)
        slot.append((data, prio))
        world.wake()
        return
    _insert(q, data, prio)
    _notify(t, q)
    world.wake()


def _insert(q: Queue, data: bytes, prio: int) -> None:
    q.sb.seq += 1
    q.messages.append((prio, -q.sb.seq, data))
    q.qsize += len(data)


def _notify(t: ModelTask, q: Queue) -> None:
    """__do_notify: the queue went from empty to one message."""
    if not q.notify_owner or q.curmsgs != 1:
        return
    owner_ns = q.notify_user_ns
    assert owner_ns is not None
    info = SigInfo(q.notify_signo, SI_MESGQ, t.tgid, owner_ns.from_kuid(t.cred.uid))
    t.kernel.send_signal(q.notify_owner, info)
    _remove_notification(q)


def mq_receive(t: ModelTask, fd: int, size: int, timeout: float | None) -> tuple[bytes, int]:
    deadline = _deadline(timeout)
    f = _mqfile(t, fd)
    q = f.queue
    if not f.readable:
        raise oserror(errno.EBADF)
    if size < q.msgsize:
        raise oserror(errno.EMSGSIZE)
    world = t.world
    if not q.messages:
        if f.flags & abi.O_NONBLOCK:
            raise oserror(errno.EAGAIN)
        slot: list[tuple[bytes, int] | None] = []
        q.receivers.append(slot)
        try:
            while not slot:
                if not world.wait(deadline, t):
                    raise oserror(errno.ETIMEDOUT)
        finally:
            if not slot and slot in q.receivers:
                q.receivers.remove(slot)
        got = slot[0]
        assert got is not None
        return got
    best = max(q.messages)
    q.messages.remove(best)
    prio, _, data = best
    q.qsize -= len(data)
    world.wake()  # a sender waiting for room
    return data, prio


def mq_getattr(t: ModelTask, fd: int) -> MqAttr:
    f = _mqfile(t, fd)
    q = f.queue
    return MqAttr(flags=f.flags & abi.O_NONBLOCK, maxmsg=q.maxmsg, msgsize=q.msgsize,
                  curmsgs=q.curmsgs)


def mq_setattr(t: ModelTask, fd: int, flags: int) -> MqAttr:
    if flags & ~abi.O_NONBLOCK:
        raise oserror(errno.EINVAL)
    old = mq_getattr(t, fd)
    f = _mqfile(t, fd)
    f.flags = (f.flags & ~abi.O_NONBLOCK) | (flags & abi.O_NONBLOCK)
    return old


def mq_notify(t: ModelTask, fd: int, signo: int | None) -> None:
    if signo is not None and not 0 < signo <= 64:
        raise oserror(errno.EINVAL)
    f = _mqfile(t, fd)
    q = f.queue
    if signo is None:
        if q.notify_owner == t.tgid:
            _remove_notification(q)
        return
    if q.notify_owner:
        raise oserror(errno.EBUSY)
    q.notify_owner = t.tgid
    q.notify_signo = signo
    q.notify_user_ns = t.cred.user_ns


def queue_file(t: ModelTask, q: Queue) -> bytes:
    """What reading a queue's file in a mount gives."""
    owner = q.notify_owner
    return (f"QSIZE:{q.qsize:<10d} NOTIFY:{SIGEV_SIGNAL if owner else 0:<5d} "
            f"SIGNO:{q.notify_signo if owner else 0:<5d} "
            f"NOTIFY_PID:{t.pid_of(owner):<6d}\n").encode()
