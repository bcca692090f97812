"""N33-N38: SEM_UNDO and shm across namespace changes; namespace lifetime."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

from ... import abi
from ..._procfs import parse_msg
from ..._types import MqAttr
from ...contract import Task
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

#: SysV keys of this module.
KEY = 0x4E250001

#: The per-namespace sysctl of N35/N36.
RMID_FORCED = "/proc/sys/kernel/shm_rmid_forced"

#: <asm-generic/resource.h> (not in ipcns.abi): SHM_LOCK is charged to it.
RLIMIT_MEMLOCK = 8

#: x86_64's page size: a one-page segment, and a one-page memlock budget.
PAGE = 4096

#: A small POSIX queue (charged to RLIMIT_MSGQUEUE: a few hundred bytes).
SMALL = MqAttr(maxmsg=4, msgsize=64)

#: A RLIMIT_MSGQUEUE budget that takes one SMALL queue but not two.
QUEUE_BUDGET = 1000

#: How long a namespace may take to die once its last reference went (its
#: freeing runs in a kernel worker).
DEATH_TIMEOUT = 2.0


class _Probe:
    """Tells whether an IPC namespace lives without referencing it: creat()
    through an mqueue mount of it makes a queue while it lives (unlinked
    again at once) and fails with EACCES once it died (a mount does not pin
    it, N23)."""

    def __init__(self, viewer: Task, mnt: str) -> None:
        self.viewer = viewer
        self.path = f"{mnt}/probe"

    def alive(self) -> bool:
        try:
            self.viewer.creat(self.path)
        except OSError as err:
            if err.errno == errno.EACCES:
                return False
            raise Failure(f"creat({self.path})", "success or EACCES",
                          errno_name(err.errno)) from err
        self.viewer.unlink(self.path)
        return True

    def expect_alive(self, what: str) -> None:
        expect_true(self.alive(), f"{what}: the namespace lives (creat() through its mount)")

    def expect_dies(self, what: str) -> None:
        deadline = time.monotonic() + DEATH_TIMEOUT
        while self.alive():
            if time.monotonic() > deadline:
                raise Failure(f"{what}: creat() through its mount within {DEATH_TIMEOUT}s",
                              "EACCES (the namespace died)", "success (it lives)")
            time.sleep(0.005)


def _watched(viewer: Task, mnt: str) -> tuple[Task, _Probe]:
    """A child of ``viewer`` (sharing its mount namespace, a workspace) in a
    fresh IPC namespace, whose mqueue is mounted on ``mnt``; and a probe of
    that namespace for ``viewer``, which is elsewhere."""
    member = viewer.fork(0)
    member.unshare(abi.CLONE_NEWIPC)
    # The probe's queues get the smallest default size (charged to root).
    member.write_file("/proc/sys/fs/mqueue/msg_default", b"1")
    member.write_file("/proc/sys/fs/mqueue/msgsize_default", b"128")
    viewer.mkdir(mnt)
    member.mount_mqueue(mnt)
    return member, _Probe(viewer, mnt)


def _until_ok(fn: Callable[[], object], pending: int, what: str) -> None:
    """Call ``fn()`` while it fails with errno ``pending``, until it works
    (bounded: the namespace's freeing runs in a kernel worker)."""
    deadline = time.monotonic() + DEATH_TIMEOUT
    while True:
        try:
            fn()
        except OSError as err:
            if err.errno != pending or time.monotonic() > deadline:
                raise Failure(f"{what} (within {DEATH_TIMEOUT}s)", "success",
                              errno_name(err.errno)) from err
            time.sleep(0.005)
        else:
            return


# -- N33: SEM_UNDO ----------------------------------------------------------------


@scenario("N33")
def leaving_a_namespace_applies_semadj(lab: Lab) -> None:
    """unshare/setns of NEWIPC (even in place) and unshare(SYSVSEM) apply semadj in the old ns."""
    a = lab.task()
    semid = a.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
    b = lab.task()
    other = b.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
    expect(other, semid, "the same semid in another namespace")
    b.semctl(other, 0, abi.SETVAL, 5)
    t = a.fork(0)
    home = t.open("/proc/self/ns/ipc")

    def hold(how: str) -> None:
        t.semop(semid, [(0, 1, abi.SEM_UNDO)])
        expect(a.semctl(semid, 0, abi.GETVAL), 1, f"value before {how}, after +1 with SEM_UNDO")

    def released(how: str) -> None:
        expect(a.semctl(semid, 0, abi.GETVAL), 0, f"value in the old namespace after {how}")
        expect(b.semctl(other, 0, abi.GETVAL), 5, f"the same semid elsewhere after {how}")

    hold("unshare(CLONE_NEWIPC)")
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    released("unshare(CLONE_NEWIPC)")

    t.setns(home, abi.CLONE_NEWIPC)
    expect(a.semctl(semid, 0, abi.GETVAL), 0, "value after returning with no semadj")
    hold("setns to another namespace")
    expect_ok(t.setns, b, abi.CLONE_NEWIPC)  # into b's, where `semid` names b's set
    released("setns(CLONE_NEWIPC) to another namespace")

    t.setns(home, abi.CLONE_NEWIPC)
    hold("setns into the current namespace")
    expect_ok(t.setns, home, abi.CLONE_NEWIPC)
    released("setns(CLONE_NEWIPC) into the current namespace")
    expect(t.ns_inode(), a.ns_inode(), "namespace after setns into the current one")

    hold("setns(fd, 0) into the current namespace")
    expect_ok(t.setns, home, 0)
    released("setns(fd, 0) into the current namespace")

    hold("unshare(CLONE_SYSVSEM)")
    expect_ok(t.unshare, abi.CLONE_SYSVSEM)
    released("unshare(CLONE_SYSVSEM)")
    expect(t.ns_inode(), a.ns_inode(), "namespace after unshare(CLONE_SYSVSEM)")

    # Other namespace changes keep the semadj; exit applies it.
    hold("unshare(CLONE_NEWUTS)")
    t.unshare(abi.CLONE_NEWUTS)
    expect(a.semctl(semid, 0, abi.GETVAL), 1, "value after unshare(CLONE_NEWUTS): semadj kept")
    t.exit()
    released("exit")


# -- N34: shm attachments ---------------------------------------------------------


@scenario("N34")
def shm_attachment_survives_namespace_change(lab: Lab) -> None:
    """An attachment survives unshare/setns: it maps, old-ns nattch counts it, shmdt works."""
    a = lab.task()
    shmid = a.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    t = a.fork(0)  # before any attachment: it inherits none
    home = t.open("/proc/self/ns/ipc")
    seen = a.shmat(shmid)

    addr = t.shmat(shmid)
    t.shm_write(addr, b"before")
    expect(a.shmctl_stat(shmid, abi.IPC_STAT).nattch, 2, "nattch before unshare")
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    expect(t.shm_read(addr, 6), b"before", "bytes read through the attachment after unshare")
    t.shm_write(addr, b"after!")
    expect(a.shm_read(seen, 6), b"after!", "bytes written after unshare, seen in the old ns")
    expect(a.shmctl_stat(shmid, abi.IPC_STAT).nattch, 2, "old namespace's nattch after unshare")
    expect_errno(errno.EINVAL, t.shmctl_stat, shmid, abi.IPC_STAT,
                 what="the shmid in the new (empty) namespace")
    expect_ok(t.shmdt, addr, what="shmdt after unshare")
    expect(a.shmctl_stat(shmid, abi.IPC_STAT).nattch, 1, "old namespace's nattch after shmdt")

    t.setns(home, abi.CLONE_NEWIPC)
    addr = t.shmat(shmid)
    b = lab.task()
    expect_ok(t.setns, b, abi.CLONE_NEWIPC)
    t.shm_write(addr, b"setns")
    expect(a.shm_read(seen, 5), b"setns", "bytes written after setns, seen in the old ns")
    expect(t.shm_read(addr, 5), b"setns", "bytes read after setns")
    expect(a.shmctl_stat(shmid, abi.IPC_STAT).nattch, 2, "old namespace's nattch after setns")
    expect_ok(t.shmdt, addr, what="shmdt after setns")
    expect(a.shmctl_stat(shmid, abi.IPC_STAT).nattch, 1, "old namespace's nattch after shmdt")


@scenario("N34", "N37")
def shm_attachment_keeps_old_namespace_alive(lab: Lab) -> None:
    """An attachment is a reference: it alone keeps the old namespace alive, its shmdt ends it."""
    viewer = lab.task()
    ws = lab.workspace(viewer)
    m, probe = _watched(viewer, f"{ws}/mq")
    shmid = m.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    addr = m.shmat(shmid)
    m.shm_write(addr, b"pinned")
    probe.expect_alive("with a member")
    m.unshare(abi.CLONE_NEWIPC)  # no member left, only the attachment
    probe.expect_alive("after its last member left, with an attachment")
    expect(m.shm_read(addr, 6), b"pinned", "bytes read through the attachment")
    m.shmdt(addr)
    probe.expect_dies("after the last attachment's shmdt")


# -- N35, N36: shm_rmid_forced -------------------------------------------------------


@scenario("N35")
def unshare_orphans_created_segments(lab: Lab) -> None:
    """unshare(NEWIPC) orphans the caller's segments; with shm_rmid_forced=1 unattached ones die."""
    # shm_rmid_forced=0: both stay, but are orphans now: writing 1 reaps the
    # unattached one although its creator lives.
    a = lab.task()
    own = a.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    t = a.fork(0)
    loose = t.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    held = t.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    addr = t.shmat(held)
    expect_ok(t.unshare, abi.CLONE_NEWIPC)
    expect(a.shmctl_stat(loose, abi.IPC_STAT).cpid, t.pid, "unattached segment, forced=0: kept")
    expect(a.shmctl_stat(held, abi.IPC_STAT).nattch, 1, "attached segment, forced=0: kept")
    expect(t.read_file(RMID_FORCED), b"0\n", "shm_rmid_forced in the new namespace")
    a.write_file(RMID_FORCED, b"1")
    expect_errno(errno.EINVAL, a.shmctl_stat, loose, abi.IPC_STAT,
                 what="orphaned unattached segment after writing shm_rmid_forced=1")
    expect(a.shmctl_stat(held, abi.IPC_STAT).nattch, 1, "orphaned attached segment: kept")
    expect(a.shmctl_stat(own, abi.IPC_STAT).nattch, 0, "segment of a living creator: kept")
    t.shmdt(addr)
    expect_errno(errno.EINVAL, a.shmctl_stat, held, abi.IPC_STAT,
                 what="orphaned segment after its last shmdt")

    # shm_rmid_forced=1 already: unshare destroys the unattached one at once.
    a2 = lab.task()
    a2.write_file(RMID_FORCED, b"1")
    t2 = a2.fork(0)
    loose = t2.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    held = t2.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    addr = t2.shmat(held)
    expect_ok(t2.unshare, abi.CLONE_NEWIPC)
    expect_errno(errno.EINVAL, a2.shmctl_stat, loose, abi.IPC_STAT,
                 what="unattached segment of the unsharing creator, forced=1")
    expect(a2.shmctl_stat(held, abi.IPC_STAT).nattch, 1, "its attached segment, forced=1")
    expect(t2.shm_read(addr, 1), b"\0", "the attachment still maps")
    t2.shmdt(addr)
    expect_errno(errno.EINVAL, a2.shmctl_stat, held, abi.IPC_STAT,
                 what="the attached segment after its shmdt, forced=1")


@scenario("N36")
def shm_rmid_forced_rules(lab: Lab) -> None:
    """shm_rmid_forced=1: death at nattch 0; writing 1 reaps orphaned unattached segments only."""
    a = lab.task()
    c = a.fork(0)  # a creator that exits
    orphan = c.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    orphan_held = c.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    own = a.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    held_addr = a.shmat(orphan_held)
    c.exit()
    expect(a.shmctl_stat(orphan, abi.IPC_STAT).nattch, 0, "orphan while shm_rmid_forced=0")
    expect(a.read_file(RMID_FORCED), b"0\n", "shm_rmid_forced of a new namespace")

    a.write_file(RMID_FORCED, b"1")
    expect(a.read_file(RMID_FORCED), b"1\n", "shm_rmid_forced after writing 1")
    expect_errno(errno.EINVAL, a.shmctl_stat, orphan, abi.IPC_STAT,
                 what="orphaned unattached segment after writing 1")
    expect(a.shmctl_stat(orphan_held, abi.IPC_STAT).nattch, 1, "orphaned attached one: kept")
    expect(a.shmctl_stat(own, abi.IPC_STAT).nattch, 0, "unattached one of a living creator: kept")
    a.shmdt(held_addr)
    expect_errno(errno.EINVAL, a.shmctl_stat, orphan_held, abi.IPC_STAT,
                 what="orphaned segment when its nattch reached 0")
    addr = a.shmat(own)
    a.shmdt(addr)
    expect_errno(errno.EINVAL, a.shmctl_stat, own, abi.IPC_STAT,
                 what="segment of a living creator when its nattch reached 0")
    # With 1, a creator's exit destroys its unattached segments.
    c2 = a.fork(0)
    gone = c2.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    c2.exit()
    expect_errno(errno.EINVAL, a.shmctl_stat, gone, abi.IPC_STAT,
                 what="unattached segment of a creator that exited")

    # Per namespace: another one still has 0 and keeps detached segments.
    b = lab.task()
    expect(b.read_file(RMID_FORCED), b"0\n", "shm_rmid_forced of another namespace")
    kept = b.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    b.shmdt(b.shmat(kept))
    expect(b.shmctl_stat(kept, abi.IPC_STAT).nattch, 0, "detached segment there: kept")
    # Back to 0: nattch 0 no longer destroys.
    a.write_file(RMID_FORCED, b"0")
    seg = a.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    a.shmdt(a.shmat(seg))
    expect(a.shmctl_stat(seg, abi.IPC_STAT).nattch, 0, "detached segment after writing 0: kept")


# -- N37, N38: lifetime ---------------------------------------------------------------


def _pin(kind: str, member: Task, viewer: Task, pin: str, shmid: int) -> Callable[[], None]:
    """Make a reference of ``kind`` to ``member``'s namespace, held outside
    it (``member`` is to exit); returns what drops it."""
    if kind == "bind mount":
        member.creat(pin)
        member.mount("/proc/self/ns/ipc", pin, None, abi.MS_BIND)  # in viewer's mounts
        return lambda: viewer.umount(pin)
    holder = member.fork(0)
    if kind == "shm attachment":
        addr = holder.shmat(shmid)
        holder.unshare(abi.CLONE_NEWIPC)
        return lambda: holder.shmdt(addr)
    if kind == "nsfs fd":
        fd = holder.open("/proc/self/ns/ipc")
        holder.unshare(abi.CLONE_NEWIPC)
        return lambda: holder.close(fd)
    fd = holder.open("/proc/sysvipc/msg")
    holder.unshare(abi.CLONE_NEWIPC)

    def drop() -> None:
        # What it shows is the namespace's: the queue outlived its maker.
        queues = parse_msg(holder.read(fd))
        expect([(q.key, q.messages) for q in queues], [(KEY, 1)],
               "queues listed by the open /proc/sysvipc/msg, members gone")
        holder.close(fd)

    return drop


@scenario("N37")
def each_reference_keeps_the_namespace_alive(lab: Lab) -> None:
    """A member, nsfs fd, bind mount, /proc/sysvipc fd or attachment alone keeps a ns alive."""
    viewer = lab.task()
    ws = lab.workspace(viewer)
    kinds = ("nsfs fd", "bind mount", "open /proc/sysvipc file", "shm attachment")
    for n, kind in enumerate(("member task", *kinds)):
        m, probe = _watched(viewer, f"{ws}/mq{n}")
        msqid = m.msgget(KEY, abi.IPC_CREAT | 0o600)
        m.msgsnd(msqid, 1, b"kept")
        shmid = m.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
        probe.expect_alive(f"{kind}: with a member")
        drop = None if kind == "member task" else _pin(kind, m, viewer, f"{ws}/pin{n}", shmid)
        m.exit()
        if drop is None:
            probe.expect_dies("after its only member exited")
            continue
        probe.expect_alive(f"with only its {kind}")
        drop()
        probe.expect_dies(f"after its {kind} went")


@scenario("N37")
def last_reference_destroys_objects(lab: Lab) -> None:
    """When a namespace's last reference goes, its queues and segments are destroyed."""
    # Root of a user namespace of our own: what its uid is charged (queue
    # memory, locked shm) is counted for this scenario alone.
    r = lab.user_ns(lab.task())
    r.setrlimit(abi.RLIMIT_MSGQUEUE, QUEUE_BUDGET, QUEUE_BUDGET)
    r.setrlimit(RLIMIT_MEMLOCK, PAGE, PAGE)
    viewer = r.fork(0)
    viewer.unshare(abi.CLONE_NEWIPC)
    m = r.fork(0)
    m.unshare(abi.CLONE_NEWIPC)
    holder = m.fork(0)  # will hold the last reference, an nsfs fd
    q = m.mq_open("/n37", abi.O_CREAT | abi.O_RDWR, 0o600, SMALL)
    m.mq_send(q, b"charged")
    m.close(q)
    shmid = m.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)
    expect_ok(m.shmctl, shmid, abi.SHM_LOCK, what="SHM_LOCK of one page, within the budget")
    mine = viewer.shmget(abi.IPC_PRIVATE, PAGE, abi.IPC_CREAT | 0o600)

    def charged(when: str) -> None:
        expect_errno(errno.EMFILE, viewer.mq_open, "/mine", abi.O_CREAT | abi.O_RDWR, 0o600,
                     SMALL, what=f"a second queue elsewhere, {when}")
        expect_errno(errno.ENOMEM, viewer.shmctl, mine, abi.SHM_LOCK,
                     what=f"SHM_LOCK of a second page elsewhere, {when}")

    charged("while the namespace has a member")
    fd = holder.open("/proc/self/ns/ipc")
    holder.unshare(abi.CLONE_NEWIPC)
    m.exit()
    charged("while an nsfs fd still holds the namespace")
    holder.close(fd)
    _until_ok(lambda: viewer.mq_open("/mine", abi.O_CREAT | abi.O_RDWR, 0o600, SMALL),
              errno.EMFILE, "a second queue once the namespace's last reference went")
    _until_ok(lambda: viewer.shmctl(mine, abi.SHM_LOCK), errno.ENOMEM,
              "SHM_LOCK of a second page once the namespace's last reference went")


@scenario("N38")
def nsfs_fd_or_bind_mount_pins_the_namespace(lab: Lab) -> None:
    """Members gone, an nsfs fd or bind mount keeps the objects; setns through it finds them."""
    for how in ("nsfs fd", "bind mount"):
        h = lab.task()
        inode = h.ns_inode()
        m = h.fork(0)
        msqid = m.msgget(KEY, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
        m.msgsnd(msqid, 3, b"message")
        semid = m.semget(KEY, 2, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
        m.semctl_setall(semid, [3, 4])
        shmid = m.shmget(KEY, PAGE, abi.IPC_CREAT | abi.IPC_EXCL | 0o600)
        addr = m.shmat(shmid)
        m.shm_write(addr, b"segment")
        m.shmdt(addr)
        q = m.mq_open("/n38", abi.O_CREAT | abi.O_EXCL | abi.O_WRONLY, 0o600, SMALL)
        m.mq_send(q, b"queued", 2)
        m.close(q)
        if how == "nsfs fd":
            target: int | str = h.open("/proc/self/ns/ipc")
        else:
            target = f"{lab.workspace(h)}/ipc"
            h.creat(target)
            h.mount("/proc/self/ns/ipc", target, None, abi.MS_BIND)
        h.unshare(abi.CLONE_NEWIPC)
        m.exit()
        expect_errno(errno.ENOENT, h.msgget, KEY, 0, what=f"{how}: the key outside")
        expect_ok(h.setns, target, abi.CLONE_NEWIPC, what=f"setns through the {how}")
        expect(h.ns_inode(), inode, f"{how}: the namespace joined")
        expect(h.msgget(KEY, 0), msqid, f"{how}: msgget of the key")
        expect(h.msgrcv(msqid, 64), (3, b"message"), f"{how}: the queued message")
        expect(h.semget(KEY, 0, 0), semid, f"{how}: semget of the key")
        expect(h.semctl_getall(semid), [3, 4], f"{how}: the semaphore values")
        expect(h.shmget(KEY, 0, 0), shmid, f"{how}: shmget of the key")
        addr = h.shmat(shmid)
        expect(h.shm_read(addr, 7), b"segment", f"{how}: the segment's bytes")
        q = expect_ok(h.mq_open, "/n38", abi.O_RDONLY, what=f"{how}: mq_open of the queue")
        expect(h.mq_receive(q, 64), (b"queued", 2), f"{how}: the POSIX queue's message")
