"""System V shared memory (ipc/shm.c): segments, attachments, SHM_DEST,
shm_rmid_forced and orphans, SHM_LOCK."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import abi
from .._types import IpcPerm, ShmidDs, ShmInfo, ShmLimitsInfo
from ._state import PAGE_SIZE, oserror
from .creds import (
    RLIM_INFINITY,
    RLIMIT_MEMLOCK,
    Ucounts,
    capable,
    dec_rlimit_ucounts,
    inc_rlimit_ucounts,
    ns_capable,
)
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

S_IXUGO = 0o111


@dataclass(eq=False)
class Segment:
    """struct shmid_kernel."""

    perm: KernIpcPerm
    ns: IpcNamespace
    segsz: int
    ctime: int
    cpid: int
    creator: Any  # the creating task while the segment is on its list
    atime: int = 0
    dtime: int = 0
    lpid: int = 0
    nattch: int = 0
    data: bytearray = field(default_factory=bytearray)
    resident: set[int] = field(default_factory=set)
    mlock_ucounts: Ucounts | None = None

    @property
    def pages(self) -> int:
        return (self.segsz + PAGE_SIZE - 1) // PAGE_SIZE


@dataclass(eq=False)
class Attachment:
    """The file an shmat makes: it holds its namespace; every mapping of it
    (the shmat and its copies in forked children) counts in nattch."""

    seg: Segment
    ns: IpcNamespace
    readonly: bool
    mappings: int = 0


def shmget(t: ModelTask, key: int, size: int, flags: int) -> int:
    ns = t.ipc
    size &= (1 << 64) - 1

    def more_checks(seg: Segment) -> None:
        if seg.segsz < size:
            raise oserror(errno.EINVAL)

    def create() -> int:
        if size < abi.SHMMIN or size > ns.shm_ctlmax:
            raise oserror(errno.EINVAL)
        pages = (size + PAGE_SIZE - 1) // PAGE_SIZE
        if ns.shm_tot + pages > ns.shm_ctlall:
            raise oserror(errno.ENOSPC)
        seg = Segment(new_perm(t.cred, key, flags), ns, segsz=size, ctime=t.world.now(),
                      cpid=t.tgid, creator=t)
        ident = ns.shm_ids.add(seg, ns.shm_ctlmni)
        ns.shm_tot += pages
        t.shm_clist.append(seg)
        return ident

    return ipcget(ns.shm_ids, ns, t.cred, key, flags, more_checks, create)


def may_destroy(seg: Segment) -> bool:
    """shm_may_destroy."""
    return seg.nattch == 0 and bool(seg.ns.shm_rmid_forced or seg.perm.mode & abi.SHM_DEST)


def destroy(seg: Segment) -> None:
    """shm_destroy."""
    ns = seg.ns
    if seg.creator is not None:
        seg.creator.shm_clist.remove(seg)
        seg.creator = None
    ns.shm_ids.remove(seg)
    ns.shm_tot -= seg.pages
    if seg.mlock_ucounts is not None:
        dec_rlimit_ucounts(seg.mlock_ucounts, RLIMIT_MEMLOCK, seg.pages)
        seg.mlock_ucounts = None
    seg.data = bytearray()
    ns.world.wake()


def shmat(t: ModelTask, shmid: int, flags: int) -> int:
    ns = t.ipc
    if shmid < 0 or flags & abi.SHM_REMAP:
        raise oserror(errno.EINVAL)
    acc = S_IRUGO if flags & abi.SHM_RDONLY else S_IRUGO | S_IWUGO
    if flags & abi.SHM_EXEC:
        acc |= S_IXUGO
    seg: Segment = ns.shm_ids.by_id(shmid)
    check_access(ns, t.cred, seg.perm, acc)
    if seg.perm.deleted:
        raise oserror(errno.EIDRM)
    att = Attachment(seg, ns.get(), bool(flags & abi.SHM_RDONLY))
    addr = t.mm.map(att, seg.segsz)
    open_mapping(t, att)
    return addr


def open_mapping(t: ModelTask, att: Attachment) -> None:
    """shm_open: a new mapping of an attachment (shmat, fork)."""
    seg = att.seg
    att.mappings += 1
    seg.nattch += 1
    seg.atime = t.world.now()
    seg.lpid = t.tgid


def close_mapping(t: ModelTask, att: Attachment) -> None:
    """shm_close, then the file's release once no mapping is left."""
    seg = att.seg
    att.mappings -= 1
    if not seg.perm.deleted:
        seg.lpid = t.tgid
        seg.dtime = t.world.now()
        seg.nattch -= 1
        if may_destroy(seg):
            destroy(seg)
    if att.mappings == 0:
        att.ns.put()


def shmdt(t: ModelTask, addr: int) -> None:
    att = t.mm.unmap(addr)
    if att is None:
        raise oserror(errno.EINVAL)
    close_mapping(t, att)
    t.world.wake()


def shm_access(t: ModelTask, addr: int, offset: int, size: int, write: bool
               ) -> tuple[Segment, int]:
    """The segment behind ``addr + offset`` and the offset in it; a bad
    address is EFAULT (where C would crash)."""
    if size < 0 or offset < 0:
        raise oserror(errno.EINVAL)
    found = t.mm.find(addr)
    if found is None:
        raise oserror(errno.EFAULT)
    base, length, att = found
    start = addr - base + offset
    if start + size > ((length + PAGE_SIZE - 1) // PAGE_SIZE) * PAGE_SIZE:
        raise oserror(errno.EFAULT)
    if write and att.readonly:
        raise oserror(errno.EFAULT)
    seg = att.seg
    if len(seg.data) < start + size:
        seg.data.extend(bytes(start + size - len(seg.data)))
    if size:  # the pages touched are faulted in (reads too: shmem has no zero page)
        seg.resident.update(range(start // PAGE_SIZE, (start + size - 1) // PAGE_SIZE + 1))
    return seg, start


def exit_shm(t: ModelTask) -> None:
    """exit_shm: the task's segments become orphans; with shm_rmid_forced
    the unattached ones are destroyed."""
    for seg in list(t.shm_clist):
        t.shm_clist.remove(seg)
        seg.creator = None
        if seg.ns.shm_rmid_forced and not seg.perm.deleted and may_destroy(seg):
            destroy(seg)


def destroy_orphaned(ns: IpcNamespace) -> None:
    """shm_destroy_orphaned: writing 1 to shm_rmid_forced."""
    for seg in ns.shm_ids.ordered():
        if seg.creator is None and may_destroy(seg):
            destroy(seg)


def exit_ns(ns: IpcNamespace) -> None:
    for seg in ns.shm_ids.ordered():
        if seg.nattch:
            seg.perm.mode |= abi.SHM_DEST
            ns.shm_ids.set_key_private(seg)
        else:
            destroy(seg)


def shmctl(t: ModelTask, shmid: int, cmd: int, uid: int | None, gid: int | None,
           mode: int | None) -> int:
    ns = t.ipc
    if cmd < 0 or shmid < 0:
        raise oserror(errno.EINVAL)
    if cmd == abi.IPC_INFO:
        return shmctl_ipcinfo(t).max_index
    if cmd == abi.SHM_INFO:
        return shmctl_info(t).max_index
    if cmd in (abi.IPC_STAT, abi.SHM_STAT, abi.SHM_STAT_ANY):
        return shmctl_stat(t, shmid, cmd).id
    if cmd in (abi.IPC_RMID, abi.IPC_SET):
        seg: Segment = ns.shm_ids.by_id(shmid)
        owner_or_admin(ns, t.cred, seg.perm)
        if cmd == abi.IPC_SET:
            update_perm(t.cred, seg.perm, uid, gid, mode)
            seg.ctime = t.world.now()
            return 0
        if seg.nattch:
            seg.perm.mode |= abi.SHM_DEST
            ns.shm_ids.set_key_private(seg)
        else:
            destroy(seg)
        return 0
    if cmd in (abi.SHM_LOCK, abi.SHM_UNLOCK):
        seg = ns.shm_ids.by_id(shmid)
        cred = t.cred
        if not ns_capable(cred, ns.user_ns, abi.CAP_IPC_LOCK):
            if cred.euid not in (seg.perm.uid, seg.perm.cuid):
                raise oserror(errno.EPERM)
            if cmd == abi.SHM_LOCK and t.rlimit(RLIMIT_MEMLOCK)[0] == 0:
                raise oserror(errno.EPERM)
        if cmd == abi.SHM_LOCK:
            if seg.mlock_ucounts is None:
                ucounts = t.ucounts()
                limit = t.rlimit(RLIMIT_MEMLOCK)[0]
                pages_limit = limit if limit == RLIM_INFINITY else limit // PAGE_SIZE
                got = inc_rlimit_ucounts(ucounts, RLIMIT_MEMLOCK, seg.pages)
                over = got == (1 << 63) - 1 or (pages_limit != RLIM_INFINITY
                                                and got > pages_limit)
                if over and not capable(cred, t.world, abi.CAP_IPC_LOCK):
                    dec_rlimit_ucounts(ucounts, RLIMIT_MEMLOCK, seg.pages)
                    raise oserror(errno.ENOMEM)
                seg.mlock_ucounts = ucounts
                seg.perm.mode |= abi.SHM_LOCKED
            return 0
        if seg.perm.mode & abi.SHM_LOCKED:
            if seg.mlock_ucounts is not None:
                dec_rlimit_ucounts(seg.mlock_ucounts, RLIMIT_MEMLOCK, seg.pages)
                seg.mlock_ucounts = None
            seg.perm.mode &= ~abi.SHM_LOCKED
        return 0
    raise oserror(errno.EINVAL)


def shmctl_stat(t: ModelTask, shmid: int, cmd: int) -> ShmidDs:
    ns = t.ipc
    seg: Segment
    seg, ret = obtain_for_stat(ns.shm_ids, ns, t.cred, shmid, cmd, abi.SHM_STAT, abi.SHM_STAT_ANY)
    return ShmidDs(perm=IpcPerm(*ipc_perm_for(t.cred, seg.perm)), segsz=seg.segsz,
                   atime=seg.atime, dtime=seg.dtime, ctime=seg.ctime, cpid=t.pid_of(seg.cpid),
                   lpid=t.pid_of(seg.lpid), nattch=seg.nattch, id=ret)


def shmctl_info(t: ModelTask) -> ShmInfo:
    ns = t.ipc
    rss = sum(len(seg.resident) for seg in ns.shm_ids.ordered())
    return ShmInfo(used_ids=ns.shm_ids.in_use, shm_tot=ns.shm_tot, shm_rss=rss, shm_swp=0,
                   swap_attempts=0, swap_successes=0, max_index=ns.shm_ids.max_index())


def shmctl_ipcinfo(t: ModelTask) -> ShmLimitsInfo:
    ns = t.ipc
    return ShmLimitsInfo(shmmax=ns.shm_ctlmax, shmmin=abi.SHMMIN, shmmni=ns.shm_ctlmni,
                         shmseg=ns.shm_ctlmni, shmall=ns.shm_ctlall,
                         max_index=ns.shm_ids.max_index())
