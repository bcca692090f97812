"""System V semaphores (ipc/sem.c): atomic semop, sleepers, SEM_UNDO."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .. import abi
from .._types import IpcPerm, SemidDs, SemInfo
from ._state import oserror
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
    from collections.abc import Sequence

    from .namespaces import IpcNamespace
    from .task import ModelTask

SEMVMX = abi.SEMVMX
SEMAEM = SEMVMX
SEMMNS_DEFAULT = 32000 * 32000
SEMUSZ = 20
SEMOPM = 500


@dataclass(eq=False)
class Sem:
    """struct sem."""

    val: int = 0
    pid: int = 0
    otime: int = 0


@dataclass(eq=False)
class Waiter:
    """A task asleep in semop (struct sem_queue)."""

    tgid: int
    sops: list[tuple[int, int, int]]
    undo: SemUndo | None
    alter: bool
    dupsop: bool
    blocking: tuple[int, int, int]
    #: 0 done, an errno, or None while waiting
    status: int | None = None


@dataclass(eq=False)
class SemArray:
    """struct sem_array."""

    perm: KernIpcPerm
    sems: list[Sem]
    ctime: int
    pending: list[Waiter] = field(default_factory=list)
    undos: list[SemUndo] = field(default_factory=list)

    @property
    def otime(self) -> int:
        return max((s.otime for s in self.sems), default=0)


@dataclass(eq=False)
class SemUndo:
    """struct sem_undo: one process's adjustments of one set."""

    semid: int
    semadj: list[int]
    owner: UndoList


@dataclass(eq=False)
class UndoList:
    """struct sem_undo_list: shared by CLONE_SYSVSEM tasks (and threads)."""

    refs: int = 1
    entries: list[SemUndo] = field(default_factory=list)

    def lookup(self, semid: int) -> SemUndo | None:
        for un in self.entries:
            if un.semid == semid:
                return un
        return None


def semget(t: ModelTask, key: int, nsems: int, flags: int) -> int:
    ns = t.ipc
    if nsems < 0 or nsems > ns.semmsl:
        raise oserror(errno.EINVAL)

    def more_checks(sma: SemArray) -> None:
        if nsems > len(sma.sems):
            raise oserror(errno.EINVAL)

    def create() -> int:
        if not nsems:
            raise oserror(errno.EINVAL)
        if ns.used_sems + nsems > ns.semmns:
            raise oserror(errno.ENOSPC)
        sma = SemArray(new_perm(t.cred, key, flags), [Sem() for _ in range(nsems)],
                       ctime=t.world.now())
        ident = ns.sem_ids.add(sma, ns.semmni)
        ns.used_sems += nsems
        return ident

    return ipcget(ns.sem_ids, ns, t.cred, key, flags, more_checks, create)


def _attempt(sma: SemArray, w: Waiter) -> int | None:
    """perform_atomic_semop: 0 done, an errno, or None to sleep."""
    sops, un = w.sops, w.undo
    if not w.dupsop:
        for sop in sops:
            num, op, flg = sop
            val = sma.sems[num].val
            if op == 0 and val:
                w.blocking = sop
                return errno.EAGAIN if flg & abi.IPC_NOWAIT else None
            val += op
            if val < 0:
                w.blocking = sop
                return errno.EAGAIN if flg & abi.IPC_NOWAIT else None
            if val > SEMVMX:
                return errno.ERANGE
            if flg & abi.SEM_UNDO:
                assert un is not None
                undo = un.semadj[num] - op
                if undo < -SEMAEM - 1 or undo > SEMAEM:
                    return errno.ERANGE
        for num, op, flg in reversed(sops):
            if flg & abi.SEM_UNDO:
                assert un is not None
                un.semadj[num] -= op
            sma.sems[num].val += op
            sma.sems[num].pid = w.tgid
        return 0
    done: list[tuple[int, int, int]] = []
    result: int | None = 0
    for sop in sops:
        num, op, flg = sop
        val = sma.sems[num].val
        if op == 0 and val:
            w.blocking = sop
            result = errno.EAGAIN if flg & abi.IPC_NOWAIT else None
            break
        val += op
        if val < 0:
            w.blocking = sop
            result = errno.EAGAIN if flg & abi.IPC_NOWAIT else None
            break
        if val > SEMVMX:
            result = errno.ERANGE
            break
        if flg & abi.SEM_UNDO:
            assert un is not None
            undo = un.semadj[num] - op
            if undo < -SEMAEM - 1 or undo > SEMAEM:
                result = errno.ERANGE
                break
            un.semadj[num] = undo
        sma.sems[num].val = val
        done.append(sop)
    if result == 0:
        for num, _, _ in sops:
            sma.sems[num].pid = w.tgid
        return 0
    for num, op, flg in reversed(done):
        sma.sems[num].val -= op
        if flg & abi.SEM_UNDO:
            assert un is not None
            un.semadj[num] += op
    return result


def _update_queue(ns: IpcNamespace, sma: SemArray) -> None:
    """Let sleepers whose operations can now proceed go (do_smart_update)."""
    progress = True
    while progress:
        progress = False
        for w in list(sma.pending):
            if w.undo is not None and w.undo.semid == -1:
                continue
            got = _attempt(sma, w)
            if got is None:
                continue
            sma.pending.remove(w)
            w.status = got
            if got == 0:
                sma.sems[w.sops[0][0]].otime = ns.world.now()
                if w.alter:
                    progress = True
    ns.world.wake()


def _find_alloc_undo(t: ModelTask, semid: int) -> SemUndo:
    ns = t.ipc
    ulp = t.undo_list()
    un = ulp.lookup(semid)
    if un is not None:
        return un
    sma: SemArray = ns.sem_ids.by_id(semid)
    un = SemUndo(semid, [0] * len(sma.sems), ulp)
    ulp.entries.insert(0, un)
    sma.undos.append(un)
    return un


def semop(t: ModelTask, semid: int, ops: Sequence[tuple[int, int, int]],
          timeout: float | None) -> None:
    ns = t.ipc
    world = t.world
    nsops = len(ops)
    if nsops > ns.semopm:
        raise oserror(errno.E2BIG)
    if nsops < 1 or semid < 0:
        raise oserror(errno.EINVAL)
    deadline = None
    if timeout is not None:
        if timeout < 0:
            raise oserror(errno.EINVAL)
        deadline = time.monotonic() + timeout
    sops = [(int(n) & 0xFFFF, _short(op), int(f) & 0xFFFF) for n, op, f in ops]
    top = 0
    undos = alter = dupsop = False
    dup = 0
    for num, op, flg in sops:
        mask = 1 << (num % 64)
        top = max(top, num)
        if flg & abi.SEM_UNDO:
            undos = True
        if dup & mask:
            dupsop = True
        if op != 0:
            alter = True
            dup |= mask
    un = _find_alloc_undo(t, semid) if undos else None
    sma: SemArray = ns.sem_ids.by_id(semid)
    if top >= len(sma.sems):
        raise oserror(errno.EFBIG)
    check_access(ns, t.cred, sma.perm, S_IWUGO if alter else S_IRUGO)
    if sma.perm.deleted or (un is not None and un.semid == -1):
        raise oserror(errno.EIDRM)
    w = Waiter(t.tgid, sops, un, alter, dupsop, sops[0])
    got = _attempt(sma, w)
    if got == 0:
        sma.sems[sops[0][0]].otime = world.now()
        if alter:
            _update_queue(ns, sma)
        return
    if got is not None:
        raise oserror(got)
    sma.pending.append(w)
    try:
        while w.status is None:
            if not world.wait(deadline, t):
                raise oserror(errno.EAGAIN)
    finally:
        if w.status is None and w in sma.pending:
            sma.pending.remove(w)
    if w.status:
        raise oserror(w.status)


def _short(v: int) -> int:
    v = int(v) & 0xFFFF
    return v - 0x10000 if v >= 0x8000 else v


def count(sma: SemArray, semnum: int, zero: bool) -> int:
    """count_semcnt: sleepers blocked on semaphore ``semnum``."""
    n = 0
    for w in sma.pending:
        num, op, _ = w.blocking
        if num != semnum:
            continue
        if (zero and op == 0) or (not zero and op < 0):
            n += 1
    return n


def freeary(ns: IpcNamespace, sma: SemArray) -> None:
    """Remove a set: sleepers wake with EIDRM; undo entries are dropped."""
    for un in sma.undos:
        un.semid = -1
        if un in un.owner.entries:
            un.owner.entries.remove(un)
    sma.undos.clear()
    for w in sma.pending:
        w.status = errno.EIDRM
    sma.pending.clear()
    ns.sem_ids.remove(sma)
    ns.used_sems -= len(sma.sems)
    ns.world.wake()


def exit_ns(ns: IpcNamespace) -> None:
    for sma in ns.sem_ids.ordered():
        freeary(ns, sma)


def exit_sem(t: ModelTask) -> None:
    """exit_sem: drop the task's reference to its undo list; the last one
    applies every adjustment (clamped to 0..SEMVMX) in the task's current
    namespace."""
    ulp = t.sysvsem
    if ulp is None:
        return
    t.sysvsem = None
    ulp.refs -= 1
    if ulp.refs:
        return
    ns = t.ipc
    for un in list(ulp.entries):
        ulp.entries.remove(un)
        if un.semid == -1:
            continue
        try:
            sma: SemArray = ns.sem_ids.by_id(un.semid)
        except OSError:
            continue
        if un in sma.undos:
            sma.undos.remove(un)
        for i, adj in enumerate(un.semadj):
            if adj:
                s = sma.sems[i]
                s.val = min(max(s.val + adj, 0), SEMVMX)
                s.pid = t.tgid
        # do_smart_update(..., otime=1): the set's otime is now
        sma.sems[0].otime = ns.world.now()
        _update_queue(ns, sma)


def _clear_adj(sma: SemArray, semnum: int | None) -> None:
    for un in sma.undos:
        if semnum is None:
            un.semadj = [0] * len(un.semadj)
        else:
            un.semadj[semnum] = 0


def semctl(t: ModelTask, semid: int, semnum: int, cmd: int, value: int, uid: int | None,
           gid: int | None, mode: int | None) -> int:
    ns = t.ipc
    if semid < 0:
        raise oserror(errno.EINVAL)
    if cmd in (abi.IPC_INFO, abi.SEM_INFO):
        return semctl_info(t, cmd).max_index
    if cmd in (abi.IPC_STAT, abi.SEM_STAT, abi.SEM_STAT_ANY):
        return semctl_stat(t, semid, cmd).id
    if cmd == abi.SETVAL:
        val = _int(value)
        if val > SEMVMX or val < 0:
            raise oserror(errno.ERANGE)
        sma: SemArray = ns.sem_ids.by_id(semid)
        if semnum < 0 or semnum >= len(sma.sems):
            raise oserror(errno.EINVAL)
        check_access(ns, t.cred, sma.perm, S_IWUGO)
        _clear_adj(sma, semnum)
        sma.sems[semnum].val = val
        sma.sems[semnum].pid = t.tgid
        sma.ctime = t.world.now()
        _update_queue(ns, sma)
        return 0
    if cmd in (abi.GETVAL, abi.GETPID, abi.GETNCNT, abi.GETZCNT, abi.GETALL, abi.SETALL):
        sma = ns.sem_ids.by_id(semid)
        check_access(ns, t.cred, sma.perm, S_IWUGO if cmd == abi.SETALL else S_IRUGO)
        if cmd in (abi.GETALL, abi.SETALL):
            raise oserror(errno.EFAULT)  # needs an array: semctl_getall/semctl_setall
        if semnum < 0 or semnum >= len(sma.sems):
            raise oserror(errno.EINVAL)
        s = sma.sems[semnum]
        if cmd == abi.GETVAL:
            return s.val
        if cmd == abi.GETPID:
            return t.pid_of(s.pid)
        return count(sma, semnum, cmd == abi.GETZCNT)
    if cmd in (abi.IPC_RMID, abi.IPC_SET):
        sma = ns.sem_ids.by_id(semid)
        owner_or_admin(ns, t.cred, sma.perm)
        if cmd == abi.IPC_RMID:
            freeary(ns, sma)
            return 0
        update_perm(t.cred, sma.perm, uid, gid, mode)
        sma.ctime = t.world.now()
        return 0
    raise oserror(errno.EINVAL)


def _int(value: int) -> int:
    """The ``int val`` of union semun, from what the caller passed."""
    v = int(value) & 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def semctl_getall(t: ModelTask, semid: int) -> list[int]:
    ns = t.ipc
    if semid < 0:
        raise oserror(errno.EINVAL)
    sma: SemArray = ns.sem_ids.by_id(semid)
    check_access(ns, t.cred, sma.perm, S_IRUGO)
    return [s.val for s in sma.sems]


def semctl_setall(t: ModelTask, semid: int, values: Sequence[int]) -> None:
    ns = t.ipc
    if semid < 0:
        raise oserror(errno.EINVAL)
    sma: SemArray = ns.sem_ids.by_id(semid)
    check_access(ns, t.cred, sma.perm, S_IWUGO)
    # One unsigned short per semaphore: a value that is not one, or a
    # missing one, is out of range.
    vals = [int(v) if 0 <= int(v) <= 0xFFFF else 0xFFFF for v in values][:len(sma.sems)]
    vals += [0xFFFF] * (len(sma.sems) - len(vals))
    if any(v > SEMVMX for v in vals):
        raise oserror(errno.ERANGE)
    for s, v in zip(sma.sems, vals, strict=True):
        s.val = v
        s.pid = t.tgid
    _clear_adj(sma, None)
    sma.ctime = t.world.now()
    _update_queue(ns, sma)


def semctl_stat(t: ModelTask, semid: int, cmd: int) -> SemidDs:
    ns = t.ipc
    sma: SemArray
    sma, ret = obtain_for_stat(ns.sem_ids, ns, t.cred, semid, cmd, abi.SEM_STAT, abi.SEM_STAT_ANY)
    return SemidDs(perm=IpcPerm(*ipc_perm_for(t.cred, sma.perm)), otime=sma.otime,
                   ctime=sma.ctime, nsems=len(sma.sems), id=ret)


def semctl_info(t: ModelTask, cmd: int) -> SemInfo:
    ns = t.ipc
    if cmd == abi.SEM_INFO:
        usz, aem = ns.sem_ids.in_use, ns.used_sems
    elif cmd == abi.IPC_INFO:
        usz, aem = SEMUSZ, SEMAEM
    else:
        raise oserror(errno.EINVAL)
    return SemInfo(semmap=SEMMNS_DEFAULT, semmni=ns.semmni, semmns=ns.semmns,
                   semmnu=SEMMNS_DEFAULT, semmsl=ns.semmsl, semopm=ns.semopm, semume=SEMOPM,
                   semusz=usz, semvmx=SEMVMX, semaem=aem, max_index=ns.sem_ids.max_index())
