"""System V message queues (ipc/msg.c)."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import abi
from .._types import IpcPerm, MsgInfo, MsqidDs
from ._state import oserror
from .creds import INT_MAX, LONG_MAX, capable
from .ids import (
    S_IRUGO,
    S_IWUGO,
    KernIpcPerm,
    check_access,
    ipc_perm_for,
    ipcget,
    new_perm,
    obtain_for_stat,
    owner_or_admin,
    update_perm,
)

if TYPE_CHECKING:
    from .namespaces import IpcNamespace
    from .task import ModelTask

MSGSSZ = 16
MSGMNB = 16384
MSGPOOL = 32000 * MSGMNB // 1024
MSGSEG = 0xFFFF

SEARCH_ANY, SEARCH_EQUAL, SEARCH_NOTEQUAL, SEARCH_LESSEQUAL, SEARCH_NUMBER = range(1, 6)


@dataclass(eq=False)
class Receiver:
    """A task asleep in msgrcv (struct msg_receiver)."""

    tgid: int
    mtype: int
    mode: int
    maxsize: int
    #: (mtype, data) handed over, an errno, or None while waiting
    result: tuple[int, bytes] | int | None = None


@dataclass(eq=False)
class MsgQueue:
    """struct msg_queue."""

    perm: KernIpcPerm
    qbytes: int
    ctime: int
    stime: int = 0
    rtime: int = 0
    cbytes: int = 0
    lspid: int = 0
    lrpid: int = 0
    messages: list[tuple[int, bytes]] = field(default_factory=list)
    receivers: list[Receiver] = field(default_factory=list)

    @property
    def qnum(self) -> int:
        return len(self.messages)


def msgget(t: ModelTask, key: int, flags: int) -> int:
    ns = t.ipc

    def create() -> int:
        q = MsgQueue(new_perm(t.cred, key, flags), qbytes=ns.msg_ctlmnb, ctime=t.world.now())
        return ns.msg_ids.add(q, ns.msg_ctlmni)

    return ipcget(ns.msg_ids, ns, t.cred, key, flags, lambda q: None, create)


def _fits(q: MsgQueue, size: int) -> bool:
    return size + q.cbytes <= q.qbytes and 1 + q.qnum <= q.qbytes


def _testmsg(mtype: int, want: int, mode: int) -> bool:
    if mode in (SEARCH_ANY, SEARCH_NUMBER):
        return True
    if mode == SEARCH_LESSEQUAL:
        return mtype <= want
    if mode == SEARCH_EQUAL:
        return mtype == want
    return mtype != want


def msgsnd(t: ModelTask, msqid: int, mtype: int, data: bytes, flags: int) -> None:
    ns = t.ipc
    size = len(data)
    if size > ns.msg_ctlmax or msqid < 0:
        raise oserror(errno.EINVAL)
    if mtype < 1:
        raise oserror(errno.EINVAL)
    q: MsgQueue = ns.msg_ids.by_id(msqid)
    world = t.world
    while True:
        check_access(ns, t.cred, q.perm, S_IWUGO)
        if q.perm.deleted:
            raise oserror(errno.EIDRM)
        if _fits(q, size):
            break
        if flags & abi.IPC_NOWAIT:
            raise oserror(errno.EAGAIN)
        world.wait(None, t)
        if q.perm.deleted:
            raise oserror(errno.EIDRM)
    q.lspid = t.tgid
    q.stime = world.now()
    # pipelined_send: a waiting receiver that wants it takes it directly.
    for r in list(q.receivers):
        if not _testmsg(mtype, r.mtype, r.mode):
            continue
        q.receivers.remove(r)
        if r.maxsize < size:
            r.result = errno.E2BIG
            continue
        q.lrpid = r.tgid
        q.rtime = world.now()
        r.result = (mtype, data)
        world.wake()
        return
    q.messages.append((mtype, data))
    q.cbytes += size
    ns.msg_bytes += size
    ns.msg_hdrs += 1
    world.wake()


def _convert_mode(mtype: int, flags: int) -> tuple[int, int]:
    if flags & abi.MSG_COPY:
        return mtype, SEARCH_NUMBER
    if mtype == 0:
        return mtype, SEARCH_ANY
    if mtype < 0:
        return (LONG_MAX if mtype == -(1 << 63) else -mtype), SEARCH_LESSEQUAL
    if flags & abi.MSG_EXCEPT:
        return mtype, SEARCH_NOTEQUAL
    return mtype, SEARCH_EQUAL


def _find(q: MsgQueue, want: int, mode: int) -> int:
    """find_msg: the index of the message to take, or -1."""
    if mode == SEARCH_NUMBER:
        return want if 0 <= want < q.qnum else -1
    found = -1
    for i, (mtype, _) in enumerate(q.messages):
        if _testmsg(mtype, want, mode):
            if mode == SEARCH_LESSEQUAL and mtype != 1:
                want = mtype - 1
                found = i
            else:
                return i
    return found


def msgrcv(t: ModelTask, msqid: int, size: int, mtype: int, flags: int) -> tuple[int, bytes]:
    ns = t.ipc
    world = t.world
    if msqid < 0 or size < 0:
        raise oserror(errno.EINVAL)
    if flags & abi.MSG_COPY and (flags & abi.MSG_EXCEPT or not flags & abi.IPC_NOWAIT):
        raise oserror(errno.EINVAL)
    want, mode = _convert_mode(mtype, flags)
    q: MsgQueue = ns.msg_ids.by_id(msqid)
    while True:
        check_access(ns, t.cred, q.perm, S_IRUGO)
        if q.perm.deleted:
            raise oserror(errno.EIDRM)
        i = _find(q, want, mode)
        if i >= 0:
            got_type, data = q.messages[i]
            if size < len(data) and not flags & abi.MSG_NOERROR:
                raise oserror(errno.E2BIG)
            if mode == SEARCH_NUMBER:
                # copy_msg into a buffer of min(size, msgmax) bytes
                if len(data) > min(size, ns.msg_ctlmax):
                    raise oserror(errno.EINVAL)
                return got_type, data
            del q.messages[i]
            q.rtime = world.now()
            q.lrpid = t.tgid
            q.cbytes -= len(data)
            ns.msg_bytes -= len(data)
            ns.msg_hdrs -= 1
            world.wake()  # senders may fit now
            return got_type, data[:size]
        if flags & abi.IPC_NOWAIT:
            raise oserror(errno.ENOMSG)
        r = Receiver(t.tgid, want, mode, INT_MAX if flags & abi.MSG_NOERROR else size)
        q.receivers.append(r)
        try:
            while r.result is None:
                world.wait(None, t)
        finally:
            if r.result is None and r in q.receivers:
                q.receivers.remove(r)
        if isinstance(r.result, tuple):
            got_type, data = r.result
            return got_type, data[:size]
        if r.result != errno.EAGAIN:
            raise oserror(r.result)
        # woken to look again (IPC_SET changed the queue)


def _expunge(q: MsgQueue, code: int) -> None:
    for r in q.receivers:
        r.result = code
    q.receivers.clear()


def freeque(ns: IpcNamespace, q: MsgQueue) -> None:
    """Remove a queue: sleepers wake with EIDRM; its messages are freed."""
    _expunge(q, errno.EIDRM)
    ns.msg_ids.remove(q)
    ns.msg_bytes -= q.cbytes
    ns.msg_hdrs -= q.qnum
    q.messages.clear()
    ns.world.wake()


def exit_ns(ns: IpcNamespace) -> None:
    for q in ns.msg_ids.ordered():
        freeque(ns, q)


def msgctl(t: ModelTask, msqid: int, cmd: int, qbytes: int | None, uid: int | None,
           gid: int | None, mode: int | None) -> int:
    ns = t.ipc
    if msqid < 0 or cmd < 0:
        raise oserror(errno.EINVAL)
    if cmd not in (abi.IPC_RMID, abi.IPC_SET):
        if cmd in (abi.IPC_STAT, abi.MSG_STAT, abi.MSG_STAT_ANY):
            return msgctl_stat(t, msqid, cmd).id
        if cmd in (abi.IPC_INFO, abi.MSG_INFO):
            return msgctl_info(t, cmd).max_index
        raise oserror(errno.EINVAL)
    q: MsgQueue = ns.msg_ids.by_id(msqid)
    owner_or_admin(ns, t.cred, q.perm)
    if cmd == abi.IPC_RMID:
        freeque(ns, q)
        return 0
    new_qbytes = q.qbytes if qbytes is None else qbytes & ((1 << 64) - 1)
    if new_qbytes > ns.msg_ctlmnb and not capable(t.cred, t.world, abi.CAP_SYS_RESOURCE):
        raise oserror(errno.EPERM)
    update_perm(t.cred, q.perm, uid, gid, mode)
    q.qbytes = new_qbytes
    q.ctime = t.world.now()
    _expunge(q, errno.EAGAIN)
    t.world.wake()
    return 0


def msgctl_stat(t: ModelTask, msqid: int, cmd: int) -> MsqidDs:
    ns = t.ipc
    q: MsgQueue
    q, ret = obtain_for_stat(ns.msg_ids, ns, t.cred, msqid, cmd, abi.MSG_STAT, abi.MSG_STAT_ANY)
    return MsqidDs(perm=IpcPerm(*ipc_perm_for(t.cred, q.perm)), stime=q.stime, rtime=q.rtime,
                   ctime=q.ctime, cbytes=q.cbytes, qnum=q.qnum, qbytes=q.qbytes,
                   lspid=t.pid_of(q.lspid), lrpid=t.pid_of(q.lrpid), id=ret)


def msgctl_info(t: ModelTask, cmd: int) -> MsgInfo:
    ns = t.ipc
    if cmd == abi.MSG_INFO:
        pool, mapped, tql = ns.msg_ids.in_use, ns.msg_hdrs, ns.msg_bytes
    elif cmd == abi.IPC_INFO:
        pool, mapped, tql = MSGPOOL, MSGMNB, MSGMNB
    else:
        raise oserror(errno.EINVAL)
    return MsgInfo(msgpool=pool, msgmap=mapped, msgmax=ns.msg_ctlmax, msgmnb=ns.msg_ctlmnb,
                   msgmni=ns.msg_ctlmni, msgssz=MSGSSZ, msgtql=tql, msgseg=MSGSEG,
                   max_index=ns.msg_ids.max_index())
