"""C01-C10: the IPC calls inside one namespace.

Each scenario works in a fresh IPC namespace.  A call that blocks runs in a
thread of the test on a task of its own (:class:`_Background`); whether it
really waits is read from the kernel (GETNCNT/GETZCNT) where the kernel
shows it, and otherwise from the call still running after a pause, with the
result of the wake-up then proving the order.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar, cast

from ... import abi
from ..._procfs import signed_key
from ..._types import MqAttr, SigInfo
from .._core import (
    Failure,
    Lab,
    errno_name,
    expect,
    expect_errno,
    expect_ok,
    expect_true,
    scenario,
)

T = TypeVar("T")

#: Unprivileged users of this module.  _MQ_UID owns the POSIX queues (their
#: memory is charged to RLIMIT_MSGQUEUE per user: a uid no other module uses).
_UID = 47311
_GID = 47311
_OTHER_UID = 47312
_OTHER_GID = 47313
_MQ_UID = 47310

#: si_code of an mq_notify signal (<asm-generic/siginfo.h>).
_SI_MESGQ = -3
#: MQ_PRIO_MAX: priorities are 0 .. MQ_PRIO_MAX - 1.
_MQ_PRIO_MAX = 32768
#: The page size of x86_64: /proc/sysvipc/shm prints rss in bytes.
_PAGE_SIZE = 4096

#: Upper bound of any wait for a blocked call to come back (seconds).
_JOIN = 3.0
#: Upper bound of a poll of kernel state (seconds).
_POLL = 2.0
#: How long a call must keep running to count as blocked, per attempt.
_SETTLE = (0.05, 0.25, 0.8)


class _Background(Generic[T]):
    """``fn()`` running in a thread of the test (a blocking system call of a
    task that nothing else uses meanwhile)."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as err:  # handed to the test thread
            self._error = err

    def running_after(self, seconds: float) -> bool:
        """True if the call has not returned ``seconds`` from now."""
        self._thread.join(seconds)
        return self._thread.is_alive()

    def _join(self, what: str) -> None:
        self._thread.join(_JOIN)
        if self._thread.is_alive():
            raise Failure(what, "the blocked call returns", f"still blocked after {_JOIN} s")

    def errno(self, what: str) -> int | None:
        """Wait for the call; its errno, or None if it succeeded."""
        self._join(what)
        if isinstance(self._error, OSError):
            return self._error.errno
        if self._error is not None:
            raise self._error
        return None

    def result(self, what: str) -> T:
        """Wait for the call; fail unless it succeeded.  Returns its value."""
        code = self.errno(what)
        if code is not None:
            raise Failure(what, "success", errno_name(code))
        return cast(T, self._value)


def _poll(probe: Callable[[], bool], what: str) -> None:
    """Wait until ``probe()`` holds (kernel state), at most _POLL seconds."""
    deadline = time.monotonic() + _POLL
    while not probe():
        if time.monotonic() > deadline:
            raise Failure(what, f"within {_POLL} s", "never")
        time.sleep(0.002)


def _removal_wakes(what: str, setup: Callable[[], tuple[Callable[[], object],
                                                        Callable[[], object]]]) -> None:
    """``setup()`` makes a fresh object and returns (a call that blocks on
    it, its removal).  The call must block and then fail with EIDRM when the
    object is removed.  The kernel shows no count of waiting msgsnd/msgrcv
    callers, so the call counts as asleep once it has run for a while; if it
    was not asleep yet when the object went (it then meets a removed id:
    EINVAL), the check runs again with a longer pause."""
    for settle in _SETTLE:
        block, remove = setup()
        call = _Background(block)
        expect_true(call.running_after(settle), f"{what} blocks")
        remove()
        code = call.errno(f"{what} after the removal")
        if code == errno.EINVAL and settle != _SETTLE[-1]:
            continue  # removed before the call went to sleep: wait longer
        expect(errno_name(code), "EIDRM", f"{what} woken by IPC_RMID")
        return


# -- C01 -------------------------------------------------------------------------


@scenario("C01")
def get_on_used_free_and_private_keys(lab: Lab) -> None:
    """*get: CREAT|EXCL of a used key EEXIST, 0 of a free key ENOENT, IPC_PRIVATE always new."""
    t = lab.task()
    getters: list[tuple[str, Callable[[int, int], int]]] = [
        ("msgget", t.msgget),
        ("semget", lambda key, flags: t.semget(key, 2, flags)),
        ("shmget", lambda key, flags: t.shmget(key, 4096, flags)),
    ]
    create = abi.IPC_CREAT | abi.IPC_EXCL | 0o600
    for name, get in getters:
        key = 0x0C01
        made = expect_ok(get, key, create, what=f"{name}(K, IPC_CREAT|IPC_EXCL) of a free key")
        expect_errno(errno.EEXIST, get, key, create,
                     what=f"{name}(K, IPC_CREAT|IPC_EXCL) of a used key")
        expect(expect_ok(get, key, abi.IPC_CREAT | 0o600), made,
               f"{name}(K, IPC_CREAT) of a used key finds the object")
        expect(expect_ok(get, key, 0), made, f"{name}(K, 0) finds the object")
        expect(expect_ok(get, key, abi.IPC_EXCL), made,
               f"{name}(K, IPC_EXCL) without IPC_CREAT finds the object")
        expect_errno(errno.ENOENT, get, key + 1, 0, what=f"{name}(K, 0) of a free key")
        expect_errno(errno.ENOENT, get, key + 1, abi.IPC_EXCL | 0o600,
                     what=f"{name}(K, IPC_EXCL) of a free key")
        private = [
            expect_ok(get, abi.IPC_PRIVATE, 0o600, what=f"{name}(IPC_PRIVATE, 0)"),
            expect_ok(get, abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600,
                      what=f"{name}(IPC_PRIVATE, IPC_CREAT)"),
            expect_ok(get, abi.IPC_PRIVATE, create,
                      what=f"{name}(IPC_PRIVATE, IPC_CREAT|IPC_EXCL)"),
        ]
        expect(len({made, *private}), 4, f"{name}(IPC_PRIVATE) makes a new object each time")
    for ident in (t.msgget(abi.IPC_PRIVATE, 0o600), t.msgget(abi.IPC_PRIVATE, 0o600)):
        expect(t.msgctl_stat(ident, abi.IPC_STAT).perm.key, abi.IPC_PRIVATE,
               "an IPC_PRIVATE queue's key")
    shm = t.shmget(abi.IPC_PRIVATE, 4096, 0o600)
    expect(t.shmctl_stat(shm, abi.IPC_STAT).perm.key, abi.IPC_PRIVATE,
           "an IPC_PRIVATE segment's key")
    sem = t.semget(abi.IPC_PRIVATE, 1, 0o600)
    expect(t.semctl_stat(sem, abi.IPC_STAT).perm.key, abi.IPC_PRIVATE, "an IPC_PRIVATE set's key")


# -- C02 -------------------------------------------------------------------------


@scenario("C02")
def removed_queue_and_set_ids_are_invalid(lab: Lab) -> None:
    """After IPC_RMID a queue's and a semaphore set's id give EINVAL; the key makes a new object."""
    t = lab.task()
    key = 0x0C02
    q = t.msgget(key, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    t.msgsnd(q, 1, b"old")
    expect(expect_ok(t.msgctl, q, abi.IPC_RMID), 0, "msgctl(IPC_RMID)")
    expect_errno(errno.EINVAL, t.msgsnd, q, 1, b"x", abi.IPC_NOWAIT,
                 what="msgsnd to a removed queue")
    expect_errno(errno.EINVAL, t.msgrcv, q, 16, 0, abi.IPC_NOWAIT, what="msgrcv of a removed queue")
    expect_errno(errno.EINVAL, t.msgctl_stat, q, abi.IPC_STAT, what="IPC_STAT of a removed queue")
    expect_errno(errno.EINVAL, t.msgctl, q, abi.IPC_RMID, what="IPC_RMID of a removed queue")
    expect_errno(errno.ENOENT, t.msgget, key, 0, what="msgget(K, 0) after IPC_RMID")
    q2 = expect_ok(t.msgget, key, abi.IPC_CREAT | abi.IPC_EXCL | 0o600,
                   what="msgget(K, IPC_CREAT|IPC_EXCL) reuses the key")
    expect_true(q2 != q, "the new queue has a new id")
    expect(t.msgctl_stat(q2, abi.IPC_STAT).qnum, 0, "the new queue is empty")
    expect_errno(errno.EINVAL, t.msgctl_stat, q, abi.IPC_STAT,
                 what="IPC_STAT of the old id, its key reused")

    s = t.semget(key, 2, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    t.semctl(s, 0, abi.SETVAL, 3)
    expect(expect_ok(t.semctl, s, 0, abi.IPC_RMID), 0, "semctl(IPC_RMID)")
    expect_errno(errno.EINVAL, t.semop, s, [(0, -1, abi.IPC_NOWAIT)], what="semop on a removed set")
    expect_errno(errno.EINVAL, t.semctl, s, 0, abi.GETVAL, what="GETVAL of a removed set")
    expect_errno(errno.EINVAL, t.semctl, s, 0, abi.SETVAL, 1, what="SETVAL of a removed set")
    expect_errno(errno.EINVAL, t.semctl_stat, s, abi.IPC_STAT, what="IPC_STAT of a removed set")
    expect_errno(errno.EINVAL, t.semctl, s, 0, abi.IPC_RMID, what="IPC_RMID of a removed set")
    expect_errno(errno.ENOENT, t.semget, key, 0, 0, what="semget(K, 0) after IPC_RMID")
    s2 = expect_ok(t.semget, key, 2, abi.IPC_CREAT | abi.IPC_EXCL | 0o600,
                   what="semget(K, IPC_CREAT|IPC_EXCL) reuses the key")
    expect_true(s2 != s, "the new set has a new id")
    expect(t.semctl_getall(s2), [0, 0], "the new set starts at 0")


@scenario("C02")
def shm_removal_waits_for_the_last_detach(lab: Lab) -> None:
    """IPC_RMID of an attached segment: SHM_DEST, key private, id usable until nattch 0."""
    t = lab.task()
    other = t.fork(0)
    key = 0x0C02
    m = t.shmget(key, 4096, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    addr = t.shmat(m)
    t.shm_write(addr, b"still here")
    expect(expect_ok(t.shmctl, m, abi.IPC_RMID), 0, "shmctl(IPC_RMID) of an attached segment")
    st = expect_ok(t.shmctl_stat, m, abi.IPC_STAT, what="IPC_STAT of a removed, attached segment")
    expect(st.perm.mode, abi.SHM_DEST | 0o600, "mode after IPC_RMID while attached")
    expect(st.perm.key, abi.IPC_PRIVATE, "key after IPC_RMID while attached")
    expect(st.nattch, 1, "nattch after IPC_RMID while attached")
    expect_errno(errno.ENOENT, t.shmget, key, 0, 0, what="shmget(K, 0) of the removed segment")
    m2 = expect_ok(t.shmget, key, 4096, abi.IPC_CREAT | abi.IPC_EXCL | 0o600,
                   what="shmget(K, IPC_CREAT|IPC_EXCL) while the old segment lives")
    expect_true(m2 != m, "the new segment has a new id")
    # Attached users (and, on Linux, new attaches) still reach it by id.
    addr2 = expect_ok(other.shmat, m, what="shmat of a SHM_DEST segment still attached")
    expect(other.shm_read(addr2, 10), b"still here", "its content through the new attachment")
    expect(t.shmctl_stat(m, abi.IPC_STAT).nattch, 2, "nattch after a second attach")
    t.shmdt(addr)
    st = expect_ok(t.shmctl_stat, m, abi.IPC_STAT, what="IPC_STAT with one attachment left")
    expect((st.nattch, st.perm.mode & abi.SHM_DEST), (1, abi.SHM_DEST), "nattch and SHM_DEST")
    other.shmdt(addr2)
    expect_errno(errno.EINVAL, t.shmctl_stat, m, abi.IPC_STAT,
                 what="IPC_STAT after the last detach")
    expect_errno(errno.EINVAL, t.shmat, m, what="shmat after the last detach")
    expect_errno(errno.EINVAL, t.shmctl, m, abi.IPC_RMID, what="IPC_RMID after the last detach")
    expect(t.shmget(key, 0, 0), m2, "the key now names the new segment")
    expect(t.shmctl_info().used_ids, 1, "segments left in the namespace")


# -- C03 -------------------------------------------------------------------------


@scenario("C03")
def mode_bits_decide_access(lab: Lab) -> None:
    """A caller without the read bit of its class gets EACCES; owners get the owner bits."""
    t = lab.task()
    u = lab.unprivileged(t, _UID, _GID)
    key = 0x0C03
    q = t.msgget(key, abi.IPC_CREAT | 0o600)
    s = t.semget(key, 1, abi.IPC_CREAT | 0o600)
    m = t.shmget(key, 4096, abi.IPC_CREAT | 0o600)
    t.msgsnd(q, 1, b"secret")

    # "other" has no bit: lookups that ask nothing pass, every access fails.
    expect(expect_ok(u.msgget, key, 0), q, "msgget(K, 0) asks no access")
    expect_errno(errno.EACCES, u.msgget, key, 0o400, what="msgget(K, 0400) without read permission")
    expect_errno(errno.EACCES, u.msgrcv, q, 16, 0, abi.IPC_NOWAIT,
                 what="msgrcv without read permission")
    expect_errno(errno.EACCES, u.msgctl_stat, q, abi.IPC_STAT, what="msgctl IPC_STAT without read")
    expect_errno(errno.EACCES, u.msgsnd, q, 1, b"x", abi.IPC_NOWAIT, what="msgsnd without write")
    expect(expect_ok(u.semget, key, 0, 0), s, "semget(K, 0) asks no access")
    expect_errno(errno.EACCES, u.semget, key, 0, 0o400,
                 what="semget(K, 0400) without read permission")
    expect_errno(errno.EACCES, u.semctl, s, 0, abi.GETVAL, what="GETVAL without read permission")
    expect_errno(errno.EACCES, u.semctl_stat, s, abi.IPC_STAT, what="semctl IPC_STAT without read")
    expect_errno(errno.EACCES, u.semop, s, [(0, 0, abi.IPC_NOWAIT)],
                 what="semop wait-for-zero without read permission")
    expect(expect_ok(u.shmget, key, 0, 0), m, "shmget(K, 0) asks no access")
    expect_errno(errno.EACCES, u.shmget, key, 0, 0o400,
                 what="shmget(K, 0400) without read permission")
    expect_errno(errno.EACCES, u.shmat, m, abi.SHM_RDONLY, what="shmat(SHM_RDONLY) without read")
    expect_errno(errno.EACCES, u.shmctl_stat, m, abi.IPC_STAT, what="shmctl IPC_STAT without read")

    # Read for "other": reading works, writing does not.
    t.msgctl(q, abi.IPC_SET, mode=0o604)
    t.semctl(s, 0, abi.IPC_SET, mode=0o604)
    t.shmctl(m, abi.IPC_SET, mode=0o604)
    expect(expect_ok(u.msgrcv, q, 16, 0, abi.IPC_NOWAIT, what="msgrcv with read permission"),
           (1, b"secret"), "the message read")
    expect_errno(errno.EACCES, u.msgsnd, q, 1, b"x", abi.IPC_NOWAIT, what="msgsnd without write")
    expect(expect_ok(u.semctl, s, 0, abi.GETVAL, what="GETVAL with read permission"), 0, "GETVAL")
    expect_ok(u.semop, s, [(0, 0, abi.IPC_NOWAIT)], what="semop wait-for-zero with read permission")
    expect_errno(errno.EACCES, u.semop, s, [(0, 1, abi.IPC_NOWAIT)], what="semop +1 without write")
    addr = expect_ok(u.shmat, m, abi.SHM_RDONLY, what="shmat(SHM_RDONLY) with read permission")
    u.shmdt(addr)
    expect_errno(errno.EACCES, u.shmat, m, 0, what="shmat read-write without write permission")

    # The group bits for a member of the object's group.
    t.msgctl(q, abi.IPC_SET, gid=_GID, mode=0o640)
    expect_ok(u.msgctl_stat, q, abi.IPC_STAT, what="IPC_STAT through the group read bit")

    # An owner gets the owner bits only, whatever "other" allows.
    own = u.msgget(abi.IPC_PRIVATE, 0o266)
    u.msgsnd(own, 1, b"mine")
    expect_errno(errno.EACCES, u.msgrcv, own, 16, 0, abi.IPC_NOWAIT,
                 what="msgrcv by an owner whose owner bits deny reading")


@scenario("C03")
def ctl_stat_and_set_fields(lab: Lab) -> None:
    """IPC_STAT fields as the kernel fills them; IPC_SET sets uid, gid and the mode bits."""
    t = lab.task()
    c = lab.unprivileged(t, _UID, _GID)
    r = c.fork(0)
    stranger = lab.unprivileged(t, _OTHER_UID, _OTHER_GID)
    limits = t.msgctl_info(abi.IPC_INFO)
    key = 0x0C03

    def perm_of(p: object) -> tuple[int, ...]:
        return tuple(getattr(p, f) for f in ("key", "uid", "gid", "cuid", "cgid", "mode"))

    # Message queue.
    q = c.msgget(key, abi.IPC_CREAT | 0o640)
    st = c.msgctl_stat(q, abi.IPC_STAT)
    expect(perm_of(st.perm), (key, _UID, _GID, _UID, _GID, 0o640),
           "new queue: key, uid, gid, cuid, cgid, mode")
    expect((st.cbytes, st.qnum, st.qbytes, st.lspid, st.lrpid), (0, 0, limits.msgmnb, 0, 0),
           "new queue: cbytes, qnum, qbytes (msgmnb), lspid, lrpid")
    expect((st.stime, st.rtime), (0, 0), "new queue: stime, rtime")
    expect_true(st.ctime > 0, "new queue: ctime is set")
    c.msgsnd(q, 1, b"abc")
    c.msgsnd(q, 2, b"defgh")
    st = c.msgctl_stat(q, abi.IPC_STAT)
    expect((st.cbytes, st.qnum, st.lspid, st.lrpid, st.rtime), (8, 2, c.pid, 0, 0),
           "after two msgsnd: cbytes, qnum, lspid, lrpid, rtime")
    expect_true(st.stime > 0, "after msgsnd: stime is set")
    r.msgrcv(q, 16)
    st = r.msgctl_stat(q, abi.IPC_STAT)
    expect((st.cbytes, st.qnum, st.lspid, st.lrpid), (5, 1, c.pid, r.pid),
           "after msgrcv: cbytes, qnum, lspid, lrpid")
    expect_true(st.rtime > 0, "after msgrcv: rtime is set")
    expect(c.msgctl(q, abi.IPC_SET, qbytes=100, uid=_OTHER_UID, gid=_OTHER_GID, mode=0o7604), 0,
           "IPC_SET by the owner")
    st = c.msgctl_stat(q, abi.IPC_STAT)
    expect(perm_of(st.perm), (key, _OTHER_UID, _OTHER_GID, _UID, _GID, 0o604),
           "after IPC_SET: uid and gid changed, cuid and cgid kept, only 0777 of mode taken")
    expect(st.qbytes, 100, "after IPC_SET: qbytes")
    expect_true(st.ctime > 0, "after IPC_SET: ctime is set")
    expect_errno(errno.EPERM, c.msgctl, q, abi.IPC_SET, qbytes=limits.msgmnb + 1,
                 what="IPC_SET of qbytes past msgmnb without CAP_SYS_RESOURCE")
    expect_errno(errno.EPERM, lab.unprivileged(t, _UID + 10, _GID + 10).msgctl, q, abi.IPC_SET,
                 mode=0o666, what="IPC_SET by neither owner nor creator")

    # Semaphore set.
    s = c.semget(key, 3, abi.IPC_CREAT | 0o600)
    ss = c.semctl_stat(s, abi.IPC_STAT)
    expect(perm_of(ss.perm), (key, _UID, _GID, _UID, _GID, 0o600),
           "new set: key, uid, gid, cuid, cgid, mode")
    expect((ss.nsems, ss.otime), (3, 0), "new set: nsems, otime")
    expect_true(ss.ctime > 0, "new set: ctime is set")
    expect(c.semctl(s, 1, abi.GETPID), 0, "new set: GETPID")
    r.semop(s, [(1, 1, 0)])
    ss = c.semctl_stat(s, abi.IPC_STAT)
    expect_true(ss.otime > 0, "after semop: otime is set")
    expect(c.semctl(s, 1, abi.GETPID), r.pid, "after semop: GETPID")
    expect(c.semctl(s, 0, abi.IPC_SET, uid=_OTHER_UID, gid=_OTHER_GID, mode=0o7640), 0,
           "semctl IPC_SET by the owner")
    ss = c.semctl_stat(s, abi.IPC_STAT)
    expect(perm_of(ss.perm), (key, _OTHER_UID, _OTHER_GID, _UID, _GID, 0o640),
           "set after IPC_SET: uid, gid, cuid, cgid, mode")
    expect(ss.nsems, 3, "set after IPC_SET: nsems")

    # Shared memory segment.
    m = c.shmget(key, 5000, abi.IPC_CREAT | 0o600)
    sh = c.shmctl_stat(m, abi.IPC_STAT)
    expect(perm_of(sh.perm), (key, _UID, _GID, _UID, _GID, 0o600),
           "new segment: key, uid, gid, cuid, cgid, mode")
    expect((sh.segsz, sh.cpid, sh.lpid, sh.nattch, sh.atime, sh.dtime), (5000, c.pid, 0, 0, 0, 0),
           "new segment: segsz (not rounded), cpid, lpid, nattch, atime, dtime")
    expect_true(sh.ctime > 0, "new segment: ctime is set")
    addr = r.shmat(m)
    sh = c.shmctl_stat(m, abi.IPC_STAT)
    expect((sh.lpid, sh.nattch, sh.dtime), (r.pid, 1, 0), "after shmat: lpid, nattch, dtime")
    expect_true(sh.atime > 0, "after shmat: atime is set")
    r.shmdt(addr)
    sh = c.shmctl_stat(m, abi.IPC_STAT)
    expect((sh.lpid, sh.nattch, sh.cpid), (r.pid, 0, c.pid), "after shmdt: lpid, nattch, cpid")
    expect_true(sh.dtime > 0, "after shmdt: dtime is set")
    expect(c.shmctl(m, abi.IPC_SET, uid=_OTHER_UID, gid=_OTHER_GID, mode=0o7644), 0,
           "shmctl IPC_SET by the owner")
    sh = stranger.shmctl_stat(m, abi.IPC_STAT)
    expect(perm_of(sh.perm), (key, _OTHER_UID, _OTHER_GID, _UID, _GID, 0o644),
           "segment after IPC_SET (read by its new owner): uid, gid, cuid, cgid, mode")
    expect(sh.segsz, 5000, "segment after IPC_SET: segsz")


# -- C04 -------------------------------------------------------------------------


@scenario("C04")
def msgrcv_selects_by_type(lab: Lab) -> None:
    """msgrcv type 0: first; >0: first of it; <0: lowest type <= |t|; MSG_EXCEPT: another."""
    t = lab.task()
    q = t.msgget(abi.IPC_PRIVATE, 0o600)
    for mtype, data in ((3, b"a"), (2, b"b"), (4, b"c"), (2, b"d"), (1, b"e"), (5, b"f")):
        t.msgsnd(q, mtype, data)

    def rcv(mtype: int, flags: int = 0) -> tuple[int, bytes]:
        return t.msgrcv(q, 16, mtype, flags | abi.IPC_NOWAIT)

    expect(rcv(0), (3, b"a"), "type 0: the first message")
    expect(rcv(-4), (1, b"e"), "type -4: the lowest type <= 4")
    expect(rcv(-4), (2, b"b"), "type -4: the lowest type <= 4, the first of that type")
    expect(rcv(4), (4, b"c"), "type 4: the first message of type 4")
    expect(rcv(2, abi.MSG_EXCEPT), (5, b"f"), "type 2 with MSG_EXCEPT: the first of another type")
    expect_errno(errno.ENOMSG, rcv, -1, what="type -1 with only type 2 queued")
    expect_errno(errno.ENOMSG, rcv, 3, what="type 3 with only type 2 queued")
    expect_errno(errno.ENOMSG, rcv, 2, abi.MSG_EXCEPT, what="MSG_EXCEPT 2 with only type 2 queued")
    expect(rcv(-2), (2, b"d"), "type -2")
    expect_errno(errno.ENOMSG, rcv, 0, what="msgrcv(IPC_NOWAIT) of an empty queue")
    expect(t.msgctl_stat(q, abi.IPC_STAT).qnum, 0, "qnum at the end")


@scenario("C04")
def msg_truncation_and_nowait(lab: Lab) -> None:
    """E2BIG keeps a long message, MSG_NOERROR cuts it; IPC_NOWAIT: ENOMSG empty, EAGAIN full."""
    t = lab.task()
    q = t.msgget(abi.IPC_PRIVATE, 0o600)
    t.msgsnd(q, 7, b"0123456789")
    expect_errno(errno.E2BIG, t.msgrcv, q, 4, 0, abi.IPC_NOWAIT, what="msgrcv of 10 bytes into 4")
    st = t.msgctl_stat(q, abi.IPC_STAT)
    expect((st.qnum, st.cbytes), (1, 10), "E2BIG leaves the message queued")
    expect(t.msgrcv(q, 4, 0, abi.MSG_NOERROR | abi.IPC_NOWAIT), (7, b"0123"),
           "MSG_NOERROR: the first 4 bytes")
    st = t.msgctl_stat(q, abi.IPC_STAT)
    expect((st.qnum, st.cbytes), (0, 0), "MSG_NOERROR drops the rest of the message")
    expect_errno(errno.ENOMSG, t.msgrcv, q, 16, 0, abi.IPC_NOWAIT, what="msgrcv(IPC_NOWAIT), empty")

    # msg_qbytes bounds the bytes queued...
    t.msgctl(q, abi.IPC_SET, qbytes=16)
    t.msgsnd(q, 1, b"x" * 10)
    expect_errno(errno.EAGAIN, t.msgsnd, q, 1, b"y" * 7, abi.IPC_NOWAIT,
                 what="msgsnd(IPC_NOWAIT) of 7 bytes with 6 free")
    expect_ok(t.msgsnd, q, 1, b"y" * 6, abi.IPC_NOWAIT, what="msgsnd filling the queue exactly")
    expect_errno(errno.EAGAIN, t.msgsnd, q, 1, b"z", abi.IPC_NOWAIT,
                 what="msgsnd(IPC_NOWAIT), full")
    # ... and the number of messages too.
    q2 = t.msgget(abi.IPC_PRIVATE, 0o600)
    t.msgctl(q2, abi.IPC_SET, qbytes=2)
    t.msgsnd(q2, 1, b"", abi.IPC_NOWAIT)
    t.msgsnd(q2, 1, b"", abi.IPC_NOWAIT)
    expect_errno(errno.EAGAIN, t.msgsnd, q2, 1, b"", abi.IPC_NOWAIT,
                 what="a third empty message with msg_qbytes 2")


@scenario("C04")
def msgsnd_blocks_while_full(lab: Lab) -> None:
    """msgsnd to a queue at msg_qbytes waits until a msgrcv makes room, then sends."""
    t = lab.task()
    sender = t.fork(0)
    q = t.msgget(abi.IPC_PRIVATE, 0o600)
    t.msgctl(q, abi.IPC_SET, qbytes=8)
    t.msgsnd(q, 1, b"12345678")
    call = _Background(lambda: sender.msgsnd(q, 2, b"abc"))
    expect_true(call.running_after(0.15), "msgsnd to a full queue blocks")
    expect(t.msgctl_stat(q, abi.IPC_STAT).qnum, 1, "nothing added while it blocks")
    expect(t.msgrcv(q, 16), (1, b"12345678"), "msgrcv making room")
    call.result("the blocked msgsnd, once there is room")
    expect(t.msgrcv(q, 16, 0, abi.IPC_NOWAIT), (2, b"abc"), "the message it sent")


@scenario("C04")
def msgsnd_bad_type_or_size_is_einval(lab: Lab) -> None:
    """msgsnd with mtype < 1 or over msgmax bytes, msgrcv with a negative size: EINVAL."""
    t = lab.task()
    q = t.msgget(abi.IPC_PRIVATE, 0o600)
    msgmax = t.msgctl_info(abi.IPC_INFO).msgmax
    expect_errno(errno.EINVAL, t.msgsnd, q, 0, b"x", what="msgsnd with mtype 0")
    expect_errno(errno.EINVAL, t.msgsnd, q, -3, b"x", what="msgsnd with mtype -3")
    expect_errno(errno.EINVAL, t.msgsnd, q, 1, b"x" * (msgmax + 1),
                 what="msgsnd of msgmax + 1 bytes")
    expect_ok(t.msgsnd, q, 1, b"x" * msgmax, what="msgsnd of msgmax bytes")
    expect_errno(errno.EINVAL, t.msgrcv, q, -1, 0, abi.IPC_NOWAIT, what="msgrcv with size -1")
    st = t.msgctl_stat(q, abi.IPC_STAT)
    expect((st.qnum, st.cbytes), (1, msgmax), "only the msgmax message is queued")


# -- C05 -------------------------------------------------------------------------


@scenario("C05")
def removal_wakes_blocked_msgrcv(lab: Lab) -> None:
    """A msgrcv blocked on an empty queue returns EIDRM when the queue is removed."""
    t = lab.task()
    receivers = iter([t.fork(0) for _ in _SETTLE])

    def setup() -> tuple[Callable[[], object], Callable[[], object]]:
        q = t.msgget(abi.IPC_PRIVATE, 0o600)
        r = next(receivers)
        return (lambda: r.msgrcv(q, 16)), (lambda: t.msgctl(q, abi.IPC_RMID))

    _removal_wakes("msgrcv of an empty queue", setup)


@scenario("C05")
def removal_wakes_blocked_msgsnd(lab: Lab) -> None:
    """A msgsnd blocked on a full queue returns EIDRM when the queue is removed."""
    t = lab.task()
    senders = iter([t.fork(0) for _ in _SETTLE])

    def setup() -> tuple[Callable[[], object], Callable[[], object]]:
        q = t.msgget(abi.IPC_PRIVATE, 0o600)
        t.msgctl(q, abi.IPC_SET, qbytes=4)
        t.msgsnd(q, 1, b"full")
        s = next(senders)
        return (lambda: s.msgsnd(q, 1, b"more")), (lambda: t.msgctl(q, abi.IPC_RMID))

    _removal_wakes("msgsnd to a full queue", setup)


@scenario("C05")
def removal_wakes_blocked_semop(lab: Lab) -> None:
    """semops waiting to decrement and waiting for zero return EIDRM when the set is removed."""
    t = lab.task()
    w1, w2 = t.fork(0), t.fork(0)
    s = t.semget(abi.IPC_PRIVATE, 2, 0o600)
    t.semctl(s, 1, abi.SETVAL, 1)
    dec = _Background(lambda: w1.semop(s, [(0, -1, 0)]))
    zero = _Background(lambda: w2.semop(s, [(1, 0, 0)]))
    _poll(lambda: t.semctl(s, 0, abi.GETNCNT) == 1 and t.semctl(s, 1, abi.GETZCNT) == 1,
          "GETNCNT and GETZCNT show both semops waiting")
    t.semctl(s, 0, abi.IPC_RMID)
    expect(errno_name(dec.errno("semop -1")), "EIDRM", "waiting semop -1 woken by IPC_RMID")
    expect(errno_name(zero.errno("semop 0")), "EIDRM", "waiting-for-zero semop woken by IPC_RMID")


# -- C06 -------------------------------------------------------------------------


@scenario("C06")
def semop_is_all_or_nothing(lab: Lab) -> None:
    """A semop array applies all its operations or none (block, ERANGE, and while waiting)."""
    t = lab.task()
    w = t.fork(0)
    s = t.semget(abi.IPC_PRIVATE, 3, 0o600)
    t.semctl_setall(s, [1, 0, 5])
    expect_errno(errno.EAGAIN, t.semop, s, [(0, -1, 0), (2, 1, 0), (1, -1, abi.IPC_NOWAIT)],
                 what="semop whose third operation would block (IPC_NOWAIT)")
    expect(t.semctl_getall(s), [1, 0, 5], "nothing applied after EAGAIN")
    expect_errno(errno.ERANGE, t.semop, s, [(0, -1, 0), (2, abi.SEMVMX, 0)],
                 what="semop whose second operation passes SEMVMX")
    expect(t.semctl_getall(s), [1, 0, 5], "nothing applied after ERANGE")
    expect_ok(t.semop, s, [(0, -1, 0), (1, 2, 0), (2, -5, 0)], what="semop that can proceed")
    expect(t.semctl_getall(s), [0, 2, 0], "every operation applied")

    t.semctl_setall(s, [0, 1, 0])
    call = _Background(lambda: w.semop(s, [(1, -1, 0), (0, -1, 0)]))
    _poll(lambda: t.semctl(s, 0, abi.GETNCNT) == 1,
          "GETNCNT of semaphore 0 shows the waiting semop")
    expect(t.semctl(s, 1, abi.GETNCNT), 0, "GETNCNT of the semaphore it does not wait on")
    expect(t.semctl_getall(s), [0, 1, 0], "a waiting semop has applied nothing")
    t.semctl(s, 0, abi.SETVAL, 1)
    call.result("the waiting semop once semaphore 0 is 1")
    expect(t.semctl_getall(s), [0, 0, 0], "both of its operations applied")


@scenario("C06")
def semop_nowait_timeout_and_range(lab: Lab) -> None:
    """semop IPC_NOWAIT and an expired semtimedop give EAGAIN; values stay in 0..SEMVMX (ERANGE)."""
    t = lab.task()
    s = t.semget(abi.IPC_PRIVATE, 1, 0o600)
    t.semctl(s, 0, abi.SETVAL, 1)
    expect_errno(errno.EAGAIN, t.semop, s, [(0, -2, abi.IPC_NOWAIT)],
                 what="semop -2 on 1, IPC_NOWAIT")
    expect_errno(errno.EAGAIN, t.semop, s, [(0, 0, abi.IPC_NOWAIT)],
                 what="wait-for-zero on 1, IPC_NOWAIT")
    expect_errno(errno.EAGAIN, t.semop, s, [(0, -2, 0)], 0.05, what="semtimedop -2 on 1, 50 ms")
    expect_errno(errno.EAGAIN, t.semop, s, [(0, 0, 0)], 0.05,
                 what="semtimedop wait-for-zero on 1, 50 ms")
    expect((t.semctl(s, 0, abi.GETVAL), t.semctl(s, 0, abi.GETNCNT), t.semctl(s, 0, abi.GETZCNT)),
           (1, 0, 0), "value, GETNCNT and GETZCNT after the timeouts")
    expect_ok(t.semop, s, [(0, -1, 0)], 0.05, what="semtimedop that can proceed")
    expect(t.semctl(s, 0, abi.GETVAL), 0, "value after the semtimedop")
    expect_ok(t.semctl, s, 0, abi.SETVAL, abi.SEMVMX, what="SETVAL SEMVMX")
    expect_errno(errno.ERANGE, t.semop, s, [(0, 1, 0)], what="semop +1 at SEMVMX")
    expect(t.semctl(s, 0, abi.GETVAL), abi.SEMVMX, "value after ERANGE")
    expect_errno(errno.ERANGE, t.semctl, s, 0, abi.SETVAL, abi.SEMVMX + 1, what="SETVAL SEMVMX + 1")
    expect_errno(errno.ERANGE, t.semctl, s, 0, abi.SETVAL, -1, what="SETVAL -1")
    expect_errno(errno.ERANGE, t.semctl_setall, s, [abi.SEMVMX + 1], what="SETALL SEMVMX + 1")
    expect(t.semctl(s, 0, abi.GETVAL), abi.SEMVMX, "value after the refused writes")


@scenario("C06")
def semctl_value_commands(lab: Lab) -> None:
    """GETVAL, SETVAL, GETALL, SETALL, GETPID (last operator), GETNCNT and GETZCNT."""
    t = lab.task()
    a, b, w1, w2 = (t.fork(0) for _ in range(4))
    s = t.semget(abi.IPC_PRIVATE, 3, 0o600)
    expect(t.semctl_getall(s), [0, 0, 0], "GETALL of a new set")
    expect([t.semctl(s, i, abi.GETPID) for i in range(3)], [0, 0, 0], "GETPID of a new set")
    a.semctl_setall(s, [4, 0, 2])
    expect(t.semctl_getall(s), [4, 0, 2], "GETALL after SETALL")
    expect([t.semctl(s, i, abi.GETVAL) for i in range(3)], [4, 0, 2], "GETVAL after SETALL")
    expect([t.semctl(s, i, abi.GETPID) for i in range(3)], [a.pid] * 3, "GETPID after SETALL")
    b.semctl(s, 2, abi.SETVAL, 9)
    expect((t.semctl(s, 2, abi.GETVAL), t.semctl(s, 2, abi.GETPID)), (9, b.pid),
           "GETVAL and GETPID after SETVAL")
    a.semop(s, [(0, -1, 0)])
    expect((t.semctl(s, 0, abi.GETVAL), t.semctl(s, 0, abi.GETPID)), (3, a.pid),
           "GETVAL and GETPID after semop")
    expect_errno(errno.EINVAL, t.semctl, s, 3, abi.GETVAL, what="GETVAL of semaphore 3 of 3")
    expect_errno(errno.EINVAL, t.semctl, s, -1, abi.GETVAL, what="GETVAL of semaphore -1")

    dec = _Background(lambda: w1.semop(s, [(1, -1, 0)]))
    zero = _Background(lambda: w2.semop(s, [(0, 0, 0)]))
    _poll(lambda: t.semctl(s, 1, abi.GETNCNT) == 1, "GETNCNT shows the task waiting to decrement")
    _poll(lambda: t.semctl(s, 0, abi.GETZCNT) == 1, "GETZCNT shows the task waiting for zero")
    expect((t.semctl(s, 1, abi.GETZCNT), t.semctl(s, 0, abi.GETNCNT), t.semctl(s, 2, abi.GETNCNT)),
           (0, 0, 0), "the other counts")
    b.semctl(s, 1, abi.SETVAL, 1)
    dec.result("semop -1 once SETVAL made it possible")
    expect((t.semctl(s, 1, abi.GETVAL), t.semctl(s, 1, abi.GETPID), t.semctl(s, 1, abi.GETNCNT)),
           (0, w1.pid, 0), "semaphore 1 after the woken semop: value, GETPID, GETNCNT")
    b.semctl(s, 0, abi.SETVAL, 0)
    zero.result("wait-for-zero once SETVAL made it 0")
    expect((t.semctl(s, 0, abi.GETPID), t.semctl(s, 0, abi.GETZCNT)), (w2.pid, 0),
           "semaphore 0 after the woken wait-for-zero: GETPID, GETZCNT")


# -- C07 -------------------------------------------------------------------------


@scenario("C07")
def sem_undo_is_applied_at_exit(lab: Lab) -> None:
    """SEM_UNDO is reverted at exit (clamped at 0, cleared by SETVAL, not inherited by fork)."""
    t = lab.task()
    s = t.semget(abi.IPC_PRIVATE, 2, 0o600)
    t.semctl(s, 1, abi.SETVAL, 5)
    c = t.fork(0)
    c.semop(s, [(0, 2, abi.SEM_UNDO), (1, -2, abi.SEM_UNDO)])
    c.semop(s, [(0, 1, 0)])
    expect(t.semctl_getall(s), [3, 3], "values while the task lives")
    c.exit()
    expect(t.semctl_getall(s), [1, 5], "exit reverts exactly the SEM_UNDO operations")

    parent = t.fork(0)
    parent.semop(s, [(0, 1, abi.SEM_UNDO)])
    child = parent.fork(0)
    child.exit()
    expect(t.semctl_getall(s), [2, 5], "a plain fork's child does not get its parent's adjustments")
    parent.exit()
    expect(t.semctl_getall(s), [1, 5], "the parent's own exit reverts them")

    clamp = t.fork(0)
    clamp.semop(s, [(1, 3, abi.SEM_UNDO)])
    t.semop(s, [(1, -7, 0)])
    expect(t.semctl_getall(s), [1, 1], "values before the exit")
    clamp.exit()
    expect(t.semctl_getall(s), [1, 0], "an adjustment of -3 on 1 stops at 0")

    reset = t.fork(0)
    reset.semop(s, [(0, 4, abi.SEM_UNDO)])
    t.semctl(s, 0, abi.SETVAL, 2)
    reset.exit()
    expect(t.semctl_getall(s), [2, 0], "SETVAL cleared the adjustment")


@scenario("C07")
def sem_undo_list_shared_with_clone_sysvsem(lab: Lab) -> None:
    """CLONE_SYSVSEM tasks and threads share one undo list, applied when the last one exits."""
    t = lab.task()
    s = t.semget(abi.IPC_PRIVATE, 1, 0o600)
    parent = t.fork(0)
    parent.semop(s, [(0, 1, abi.SEM_UNDO)])
    child = parent.fork(abi.CLONE_SYSVSEM)
    child.semop(s, [(0, 2, abi.SEM_UNDO)])
    expect(t.semctl(s, 0, abi.GETVAL), 3, "value while both live")
    parent.exit()
    expect(t.semctl(s, 0, abi.GETVAL), 3, "the shared list is not applied while a sharer lives")
    child.exit()
    expect(t.semctl(s, 0, abi.GETVAL), 0, "the last sharer's exit applies both adjustments")

    proc = t.fork(0)
    thread = proc.thread()
    thread.semop(s, [(0, 1, abi.SEM_UNDO)])
    thread.exit()
    expect(t.semctl(s, 0, abi.GETVAL), 1, "a thread's exit leaves the process's list alone")
    proc.exit()
    expect(t.semctl(s, 0, abi.GETVAL), 0, "the process's exit applies the thread's adjustment")


# -- C08 -------------------------------------------------------------------------


@scenario("C08")
def shmget_size_rules(lab: Lab) -> None:
    """shmget: EINVAL below SHMMIN, above shmmax, or above an existing segment's size."""
    t = lab.task()
    info = t.shmctl_ipcinfo()
    expect(info.shmmin, abi.SHMMIN, "IPC_INFO shmmin")
    expect_errno(errno.EINVAL, t.shmget, abi.IPC_PRIVATE, 0, abi.IPC_CREAT | 0o600,
                 what="shmget of 0 bytes")
    one = expect_ok(t.shmget, abi.IPC_PRIVATE, abi.SHMMIN, abi.IPC_CREAT | 0o600,
                    what="shmget of SHMMIN bytes")
    expect(t.shmctl_stat(one, abi.IPC_STAT).segsz, abi.SHMMIN, "its size")
    expect_errno(errno.EINVAL, t.shmget, abi.IPC_PRIVATE, info.shmmax + 1, abi.IPC_CREAT | 0o600,
                 what="shmget of shmmax + 1 bytes")
    key = 0x0C08
    m = t.shmget(key, 5000, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
    expect_errno(errno.EINVAL, t.shmget, key, 5001, 0,
                 what="shmget(K, 5001) of a 5000-byte segment")
    expect_errno(errno.EINVAL, t.shmget, key, 5001, abi.IPC_CREAT | 0o600,
                 what="shmget(K, 5001, IPC_CREAT) of a 5000-byte segment")
    expect_errno(errno.EEXIST, t.shmget, key, 5001, abi.IPC_CREAT | abi.IPC_EXCL | 0o600,
                 what="shmget(K, 5001, IPC_CREAT|IPC_EXCL): EEXIST comes first")
    for size in (5000, 1, 0):
        expect(expect_ok(t.shmget, key, size, 0, what=f"shmget(K, {size})"), m,
               f"shmget(K, {size}) of a 5000-byte segment")
    expect(t.shmctl_stat(m, abi.IPC_STAT).segsz, 5000, "its size is unchanged")


@scenario("C08")
def shm_attach_counts(lab: Lab) -> None:
    """shmat/shmdt count in nattch; fork inherits attachments (+1); exit detaches."""
    t = lab.task()
    watcher = t.fork(0)
    m = t.shmget(abi.IPC_PRIVATE, 8192, 0o600)

    def stat() -> tuple[int, int]:
        st = watcher.shmctl_stat(m, abi.IPC_STAT)
        return st.nattch, st.lpid

    a1 = t.shmat(m)
    a2 = t.shmat(m)
    expect(stat(), (2, t.pid), "nattch and lpid after two shmat in one task")
    expect_true(a1 != a2, "two attachments at two addresses")
    t.shm_write(a1, b"via a1", 100)
    expect(t.shm_read(a2, 6, 100), b"via a1", "both attachments map the same memory")
    t.shmdt(a1)
    expect(stat()[0], 1, "nattch after one shmdt")
    expect_errno(errno.EINVAL, t.shmdt, a1, what="shmdt of an address no longer attached")

    child = t.fork(0)
    expect(stat()[0], 2, "nattch after fork: the child inherits the attachment")
    expect(child.shm_read(a2, 6, 100), b"via a1",
           "the child reads through the inherited attachment")
    child.shm_write(a2, b"child!", 200)
    expect(t.shm_read(a2, 6, 200), b"child!", "the parent sees the child's write")
    child.shmdt(a2)
    expect(stat(), (1, child.pid), "nattch and lpid after the child's shmdt")
    expect(t.shm_read(a2, 6, 200), b"child!", "the parent's attachment is still there")

    leaver = t.fork(0)
    expect(stat()[0], 2, "nattch after another fork")
    leaver.exit()
    expect(stat(), (1, leaver.pid), "nattch and lpid after that child exits")
    t.exit()
    expect(stat()[0], 0, "nattch after the last attached task exits")
    expect(watcher.shmctl(m, abi.IPC_RMID), 0, "the unattached segment remains until IPC_RMID")


# -- C09 -------------------------------------------------------------------------


@scenario("C09")
def mq_priority_order_and_sizes(lab: Lab) -> None:
    """mq_receive: highest priority first, FIFO within one; EMSGSIZE; priority range."""
    t = lab.task()
    u = lab.unprivileged(t, _MQ_UID, _MQ_UID)
    q = u.mq_open("/c09-order", abi.O_CREAT | abi.O_EXCL | abi.O_RDWR, 0o600,
                  MqAttr(maxmsg=4, msgsize=64))
    for data, prio in ((b"a", 1), (b"b", 5), (b"c", 1), (b"d", 5)):
        u.mq_send(q, data, prio)
    expect(u.mq_getattr(q).curmsgs, 4, "curmsgs after four sends")
    expect([u.mq_receive(q, 64) for _ in range(4)], [(b"b", 5), (b"d", 5), (b"a", 1), (b"c", 1)],
           "receive order: priority, then FIFO")
    expect_errno(errno.EMSGSIZE, u.mq_send, q, b"x" * 65, what="mq_send of 65 bytes, msgsize 64")
    expect_ok(u.mq_send, q, b"x" * 64, 0, what="mq_send of msgsize bytes")
    expect_errno(errno.EMSGSIZE, u.mq_receive, q, 63, what="mq_receive into 63 bytes, msgsize 64")
    expect(u.mq_getattr(q).curmsgs, 1, "EMSGSIZE leaves the message queued")
    expect(u.mq_receive(q, 64), (b"x" * 64, 0), "the message")
    expect_errno(errno.EINVAL, u.mq_send, q, b"p", _MQ_PRIO_MAX,
                 what="mq_send at priority MQ_PRIO_MAX")
    u.mq_send(q, b"p", _MQ_PRIO_MAX - 1)
    expect(u.mq_receive(q, 64), (b"p", _MQ_PRIO_MAX - 1), "the highest priority")
    u.mq_unlink("/c09-order")


@scenario("C09")
def mq_nonblock_and_timeouts(lab: Lab) -> None:
    """O_NONBLOCK: EAGAIN on an empty or full queue; timed send/receive: ETIMEDOUT."""
    t = lab.task()
    u = lab.unprivileged(t, _MQ_UID, _MQ_UID)
    name = "/c09-wait"
    q = u.mq_open(name, abi.O_CREAT | abi.O_EXCL | abi.O_RDWR, 0o600, MqAttr(maxmsg=2, msgsize=16))
    nb = u.mq_open(name, abi.O_RDWR | abi.O_NONBLOCK)
    expect((u.mq_getattr(q).flags, u.mq_getattr(nb).flags), (0, abi.O_NONBLOCK),
           "mq_flags of a blocking and an O_NONBLOCK descriptor")
    expect_errno(errno.EAGAIN, u.mq_receive, nb, 16, what="mq_receive, O_NONBLOCK, empty")
    expect_errno(errno.EAGAIN, u.mq_receive, nb, 16, 0.05,
                 what="mq_timedreceive, O_NONBLOCK, empty")
    expect_errno(errno.ETIMEDOUT, u.mq_receive, q, 16, 0.05, what="mq_timedreceive, empty, 50 ms")
    u.mq_send(q, b"1")
    u.mq_send(q, b"2")
    expect_errno(errno.EAGAIN, u.mq_send, nb, b"3", what="mq_send, O_NONBLOCK, full")
    expect_errno(errno.EAGAIN, u.mq_send, nb, b"3", 0, 0.05, what="mq_timedsend, O_NONBLOCK, full")
    expect_errno(errno.ETIMEDOUT, u.mq_send, q, b"3", 0, 0.05, what="mq_timedsend, full, 50 ms")
    expect(u.mq_getattr(q).curmsgs, 2, "curmsgs after the refused sends")
    expect(u.mq_receive(nb, 16, 0.05), (b"1", 0), "mq_timedreceive with a message queued")
    u.mq_unlink(name)


@scenario("C09")
def mq_notify_is_exclusive_and_delivered(lab: Lab) -> None:
    """mq_notify is exclusive (EBUSY); delivery signals SI_MESGQ once and ends it."""
    t = lab.task()
    u = lab.unprivileged(t, _MQ_UID, _MQ_UID)
    name = "/c09-notify"
    q = u.mq_open(name, abi.O_CREAT | abi.O_EXCL | abi.O_RDWR, 0o666, MqAttr(maxmsg=4, msgsize=16))
    tq = t.mq_open(name, abi.O_WRONLY)
    expect_ok(u.mq_notify, q, abi.SIGUSR1, what="mq_notify of a free queue")
    expect_errno(errno.EBUSY, t.mq_notify, tq, abi.SIGUSR1, what="mq_notify by another process")
    expect_errno(errno.EBUSY, u.mq_notify, q, abi.SIGUSR1,
                 what="mq_notify again by the registered process")
    expect_ok(t.mq_notify, tq, None, what="unregistering by a process that is not registered")
    expect_errno(errno.EBUSY, t.mq_notify, tq, abi.SIGUSR1,
                 what="mq_notify after another process's unregistering")
    expect(u.sigtimedwait([abi.SIGUSR1], 0), None, "no signal before a message")
    t.mq_send(tq, b"ping", 3)
    got = u.sigtimedwait([abi.SIGUSR1], _POLL)
    expect(got, SigInfo(abi.SIGUSR1, _SI_MESGQ, t.pid, t.getresuid()[0]),
           "the notification: signo, si_code SI_MESGQ, sender's pid and uid")
    t.mq_send(tq, b"pong", 3)
    expect(u.sigtimedwait([abi.SIGUSR1], 0), None, "a delivered notification is not repeated")
    expect_ok(t.mq_notify, tq, abi.SIGUSR1, what="mq_notify by another process after the delivery")
    expect_ok(t.mq_notify, tq, None, what="unregistering by the registered process")
    expect_ok(u.mq_notify, q, abi.SIGUSR1, what="mq_notify after the registration was removed")
    expect_ok(u.mq_notify, q, None, what="unregistering")
    u.mq_unlink(name)


@scenario("C09")
def mq_getattr_and_setattr(lab: Lab) -> None:
    """mq_getattr fields; mq_setattr changes only O_NONBLOCK, of one descriptor."""
    t = lab.task()
    u = lab.unprivileged(t, _MQ_UID, _MQ_UID)
    name = "/c09-attr"
    q = u.mq_open(name, abi.O_CREAT | abi.O_EXCL | abi.O_RDWR, 0o600, MqAttr(maxmsg=3, msgsize=32))
    other = u.mq_open(name, abi.O_RDWR)
    u.mq_send(q, b"one")
    expect(u.mq_getattr(q), MqAttr(flags=0, maxmsg=3, msgsize=32, curmsgs=1), "mq_getattr")
    expect(u.mq_setattr(q, abi.O_NONBLOCK), MqAttr(flags=0, maxmsg=3, msgsize=32, curmsgs=1),
           "mq_setattr returns the old attributes")
    expect(u.mq_getattr(q), MqAttr(flags=abi.O_NONBLOCK, maxmsg=3, msgsize=32, curmsgs=1),
           "after mq_setattr(O_NONBLOCK): only mq_flags changed")
    expect(u.mq_getattr(other).flags, 0, "another descriptor of the queue keeps its flags")
    expect(u.mq_receive(q, 32), (b"one", 0), "the message")
    expect_errno(errno.EAGAIN, u.mq_receive, q, 32, what="mq_receive, now non-blocking, empty")
    expect_errno(errno.EINVAL, u.mq_setattr, q, abi.O_NONBLOCK | abi.O_RDWR,
                 what="mq_setattr with a flag other than O_NONBLOCK")
    expect(u.mq_setattr(q, 0), MqAttr(flags=abi.O_NONBLOCK, maxmsg=3, msgsize=32, curmsgs=0),
           "mq_setattr(0) returns the old attributes")
    expect(u.mq_getattr(q), MqAttr(flags=0, maxmsg=3, msgsize=32, curmsgs=0), "blocking again")
    expect_errno(errno.ETIMEDOUT, u.mq_receive, q, 32, 0.05,
                 what="mq_timedreceive, blocking, empty")
    u.mq_unlink(name)


# -- C10 -------------------------------------------------------------------------

_MSG_HEADER = (b"       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid"
               b"  cuid  cgid      stime      rtime      ctime\n")
_SEM_HEADER = (b"       key      semid perms      nsems   uid   gid  cuid  cgid      otime"
               b"      ctime\n")
_SHM_HEADER = (b"       key      shmid perms                  size  cpid  lpid nattch   uid   gid"
               b"  cuid  cgid      atime      dtime      ctime                   rss"
               b"                  swap\n")
#: The kernel's seq_printf formats (64-bit), ipc/{msg,sem,shm}.c sysvipc_*_proc_show.
_MSG_ROW = b"%10d %10d  %4o  %10d %10d %5d %5d %5d %5d %5d %5d %10d %10d %10d\n"
_SEM_ROW = b"%10d %10d  %4o %10d %5d %5d %5d %5d %10d %10d\n"
_SHM_ROW = b"%10d %10d  %4o %21d %5d %5d  %5d %5d %5d %5d %5d %10d %10d %10d %21d %21d\n"


@scenario("C10")
def proc_sysvipc_text_format(lab: Lab) -> None:
    """/proc/sysvipc/{msg,sem,shm}: header and rows byte for byte as the kernel prints them."""
    t = lab.task()
    c = lab.unprivileged(t, _UID, _GID)
    o = c.fork(0)
    big_key = signed_key(0xDEADBEEF)  # printed as a negative %d

    q0 = c.msgget(0x0C10, abi.IPC_CREAT | 0o640)
    c.msgsnd(q0, 1, b"abc")
    c.msgsnd(q0, 2, b"defg")
    o.msgrcv(q0, 16)
    q1 = c.msgget(big_key, abi.IPC_CREAT | 0o600)
    c.msgctl(q1, abi.IPC_SET, uid=_OTHER_UID, gid=_OTHER_GID)
    q2 = c.msgget(abi.IPC_PRIVATE, 0o666)
    rows = []
    for q, key, mode, cbytes, qnum, lspid, lrpid, uid, gid, sent in (
        (q0, 0x0C10, 0o640, 4, 1, c.pid, o.pid, _UID, _GID, True),
        (q1, big_key, 0o600, 0, 0, 0, 0, _OTHER_UID, _OTHER_GID, False),
        (q2, 0, 0o666, 0, 0, 0, 0, _UID, _GID, False),
    ):
        st = c.msgctl_stat(q, abi.IPC_STAT)
        expect_true(st.ctime > 0 and ((st.stime > 0 and st.rtime > 0) if sent
                                      else (st.stime, st.rtime) == (0, 0)),
                    f"queue {q}: times set as used")
        rows.append(_MSG_ROW % (key, q, mode, cbytes, qnum, lspid, lrpid, uid, gid, _UID, _GID,
                                st.stime, st.rtime, st.ctime))
    expect(t.read_file("/proc/sysvipc/msg"), _MSG_HEADER + b"".join(rows), "/proc/sysvipc/msg")

    s0 = c.semget(0x0C10, 3, abi.IPC_CREAT | 0o600)
    c.semop(s0, [(1, 1, 0)])
    s1 = c.semget(big_key, 1, abi.IPC_CREAT | 0o644)
    rows = []
    for s, key, mode, nsems, used in ((s0, 0x0C10, 0o600, 3, True), (s1, big_key, 0o644, 1, False)):
        ss = c.semctl_stat(s, abi.IPC_STAT)
        expect_true(ss.ctime > 0 and (ss.otime > 0) == used, f"set {s}: times set as used")
        rows.append(_SEM_ROW % (key, s, mode, nsems, _UID, _GID, _UID, _GID, ss.otime, ss.ctime))
    expect(t.read_file("/proc/sysvipc/sem"), _SEM_HEADER + b"".join(rows), "/proc/sysvipc/sem")

    m0 = c.shmget(0x0C10, _PAGE_SIZE, abi.IPC_CREAT | 0o640)
    c.shm_write(c.shmat(m0), b"x")  # one page resident
    m1 = c.shmget(big_key, 1, abi.IPC_CREAT | 0o600)
    m2 = c.shmget(0x0C12, 100, abi.IPC_CREAT | 0o600)
    o.shmat(m2)
    c.shmctl(m2, abi.IPC_RMID)  # attached: SHM_DEST, key private
    rows = []
    for m, key, mode, size, lpid, nattch, rss in (
        (m0, 0x0C10, 0o640, _PAGE_SIZE, c.pid, 1, _PAGE_SIZE),
        (m1, big_key, 0o600, 1, 0, 0, 0),
        (m2, 0, abi.SHM_DEST | 0o600, 100, o.pid, 1, 0),
    ):
        sh = c.shmctl_stat(m, abi.IPC_STAT)
        expect_true(sh.ctime > 0 and sh.dtime == 0 and (sh.atime > 0) == (nattch > 0),
                    f"segment {m}: times set as used")
        rows.append(_SHM_ROW % (key, m, mode, size, c.pid, lpid, nattch, _UID, _GID, _UID, _GID,
                                sh.atime, sh.dtime, sh.ctime, rss, 0))
    expect(t.read_file("/proc/sysvipc/shm"), _SHM_HEADER + b"".join(rows), "/proc/sysvipc/shm")
