"""N12-N17: System V keys, ids, *_INFO/*_STAT and permissions per namespace."""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass

from ... import abi
from ...contract import Task
from .._core import Lab, expect, expect_errno, expect_ok, expect_true, scenario

#: Keys of this module (every object lives in a fresh namespace anyway).
KEY = 0x1C5A0012
KEY_B = 0x1C5A0013

#: Users of this module's permission checks (no capabilities once set).
UID_OWNER = 41201
UID_OTHER = 41202

#: Index bits of an id: (seq << 15) + index (IPCMNI_SHIFT, no ipcmni_extend).
SEQ_SHIFT = 15
INDEX_MASK = (1 << SEQ_SHIFT) - 1
#: ipc_min_cycle (RADIX_TREE_MAP_SIZE): with few objects in use, indices
#: are handed out cyclically over 0..63, so an index comes back, with the
#: next seq, after 64 allocations.
MIN_CYCLE = 64

PAGE = 4096
CREATE = abi.IPC_CREAT | abi.IPC_EXCL | 0o600


@dataclass(frozen=True)
class _Kind:
    """One System V object kind, as the scenarios drive it."""

    name: str
    #: (task, key, flags) -> id
    make: Callable[[Task, int, int], int]
    #: an operation that needs write (alter) permission on the object
    use: Callable[[Task, int], None]
    #: IPC_RMID
    rmid: Callable[[Task, int], None]
    #: IPC_SET of owner and mode (uid, gid, mode)
    set_owner: Callable[[Task, int, int, int, int], None]
    #: IPC_STAT's ipc_perm.seq
    seq: Callable[[Task, int], int]
    #: the index-based *_STAT: the full id at that index
    stat_index: Callable[[Task, int], int]


def _shm_use(t: Task, shmid: int) -> None:
    addr = t.shmat(shmid)
    t.shmdt(addr)


def _msg_rmid(t: Task, msqid: int) -> None:
    t.msgctl(msqid, abi.IPC_RMID)


def _sem_rmid(t: Task, semid: int) -> None:
    t.semctl(semid, 0, abi.IPC_RMID)


def _shm_rmid(t: Task, shmid: int) -> None:
    t.shmctl(shmid, abi.IPC_RMID)


def _shm_set(t: Task, shmid: int, uid: int, gid: int, mode: int) -> None:
    t.shmctl(shmid, abi.IPC_SET, uid=uid, gid=gid, mode=mode)


def _msg_set(t: Task, msqid: int, uid: int, gid: int, mode: int) -> None:
    t.msgctl(msqid, abi.IPC_SET, uid=uid, gid=gid, mode=mode)


def _sem_set(t: Task, semid: int, uid: int, gid: int, mode: int) -> None:
    t.semctl(semid, 0, abi.IPC_SET, uid=uid, gid=gid, mode=mode)


KINDS = (
    _Kind(
        "msg",
        make=lambda t, key, flags: t.msgget(key, flags),
        use=lambda t, i: t.msgsnd(i, 1, b"x", abi.IPC_NOWAIT),
        rmid=_msg_rmid,
        set_owner=_msg_set,
        seq=lambda t, i: t.msgctl_stat(i, abi.IPC_STAT).perm.seq,
        stat_index=lambda t, idx: t.msgctl_stat(idx, abi.MSG_STAT).id,
    ),
    _Kind(
        "sem",
        make=lambda t, key, flags: t.semget(key, 1, flags),
        use=lambda t, i: t.semop(i, [(0, 1, abi.IPC_NOWAIT)]),
        rmid=_sem_rmid,
        set_owner=_sem_set,
        seq=lambda t, i: t.semctl_stat(i, abi.IPC_STAT).perm.seq,
        stat_index=lambda t, idx: t.semctl_stat(idx, abi.SEM_STAT).id,
    ),
    _Kind(
        "shm",
        make=lambda t, key, flags: t.shmget(key, PAGE, flags),
        use=_shm_use,
        rmid=_shm_rmid,
        set_owner=_shm_set,
        seq=lambda t, i: t.shmctl_stat(i, abi.IPC_STAT).perm.seq,
        stat_index=lambda t, idx: t.shmctl_stat(idx, abi.SHM_STAT).id,
    ),
)


# -- N12 / N13: keys -------------------------------------------------------------


@scenario("N12")
def keys_are_per_namespace(lab: Lab) -> None:
    """A key made in A is ENOENT in B (and B's forks), found from a plain fork of A."""
    a, b = lab.task(), lab.task()
    made = {k.name: k.make(a, KEY, CREATE) for k in KINDS}
    nested = a.fork(abi.CLONE_NEWIPC)
    for kind in KINDS:
        expect_errno(errno.ENOENT, kind.make, b, KEY, 0, what=f"{kind.name}get(K, 0) in B")
        expect_errno(errno.ENOENT, kind.make, nested, KEY, 0,
                     what=f"{kind.name}get(K, 0) in a new namespace under A")
    b_child = b.fork(0)
    expect_errno(errno.ENOENT, b_child.msgget, KEY, 0, what="msgget(K, 0) in a fork of B")
    a_child = a.fork(0)
    for kind in KINDS:
        expect(expect_ok(kind.make, a_child, KEY, 0), made[kind.name],
               f"{kind.name}get(K, 0) in a plain fork of A")
    # B can now make its own objects with that key, and A's stay A's.
    for kind in KINDS:
        expect_ok(kind.make, b, KEY, CREATE, what=f"{kind.name}get(K, IPC_CREAT|IPC_EXCL) in B")
        expect(kind.make(a, KEY, 0), made[kind.name], f"{kind.name}get(K, 0) in A")


@scenario("N13")
def same_key_makes_independent_objects(lab: Lab) -> None:
    """IPC_CREAT|IPC_EXCL of one key works in two namespaces; data never crosses."""
    a, b = lab.task(), lab.task()
    mq_a = expect_ok(a.msgget, KEY, CREATE, what="msgget(K, CREAT|EXCL) in A")
    mq_b = expect_ok(b.msgget, KEY, CREATE, what="msgget(K, CREAT|EXCL) in B")
    sem_a = expect_ok(a.semget, KEY, 2, CREATE, what="semget(K, 2, CREAT|EXCL) in A")
    sem_b = expect_ok(b.semget, KEY, 3, CREATE, what="semget(K, 3, CREAT|EXCL) in B")
    shm_a = expect_ok(a.shmget, KEY, PAGE, CREATE, what="shmget(K, 4096, CREAT|EXCL) in A")
    shm_b = expect_ok(b.shmget, KEY, 2 * PAGE, CREATE, what="shmget(K, 8192, CREAT|EXCL) in B")
    expect(b.semctl_stat(sem_b, abi.IPC_STAT).nsems, 3, "B's set keeps its own size")
    expect(a.semctl_stat(sem_a, abi.IPC_STAT).nsems, 2, "A's set keeps its own size")
    expect(b.shmctl_stat(shm_b, abi.IPC_STAT).segsz, 2 * PAGE, "B's segment size")
    expect(a.shmctl_stat(shm_a, abi.IPC_STAT).segsz, PAGE, "A's segment size")

    # Messages.
    a.msgsnd(mq_a, 7, b"from A")
    expect_errno(errno.ENOMSG, b.msgrcv, mq_b, 64, 0, abi.IPC_NOWAIT,
                 what="msgrcv in B after a send in A")
    expect(b.msgctl_stat(mq_b, abi.IPC_STAT).qnum, 0, "B's qnum")
    b.msgsnd(mq_b, 9, b"from B!")
    expect(a.msgrcv(mq_a, 64, 0, abi.IPC_NOWAIT), (7, b"from A"), "A receives its own message")
    expect_errno(errno.ENOMSG, a.msgrcv, mq_a, 64, 0, abi.IPC_NOWAIT,
                 what="msgrcv in A: B's message is not there")
    expect(b.msgrcv(mq_b, 64, 0, abi.IPC_NOWAIT), (9, b"from B!"), "B receives its own message")

    # Semaphore values.
    a.semctl(sem_a, 0, abi.SETVAL, 5)
    expect(b.semctl_getall(sem_b), [0, 0, 0], "B's values after SETVAL in A")
    b.semop(sem_b, [(1, 3, 0)])
    expect(a.semctl_getall(sem_a), [5, 0], "A's values after semop in B")
    expect(b.semctl_getall(sem_b), [0, 3, 0], "B's values")

    # Shared memory bytes.
    addr_a = a.shmat(shm_a)
    a.shm_write(addr_a, b"secret-A")
    addr_b = b.shmat(shm_b)
    expect(b.shm_read(addr_b, 8), bytes(8), "B's segment after a write in A")
    b.shm_write(addr_b, b"bytes--B")
    expect(a.shm_read(addr_a, 8), b"secret-A", "A's segment after a write in B")
    expect(a.shmctl_stat(shm_a, abi.IPC_STAT).nattch, 1, "A's nattch")
    expect(b.shmctl_stat(shm_b, abi.IPC_STAT).nattch, 1, "B's nattch")
    a.shmdt(addr_a)
    b.shmdt(addr_b)

    # Removing A's objects leaves B's.
    a.msgctl(mq_a, abi.IPC_RMID)
    a.semctl(sem_a, 0, abi.IPC_RMID)
    a.shmctl(shm_a, abi.IPC_RMID)
    expect(b.msgget(KEY, 0), mq_b, "B's queue after IPC_RMID in A")
    expect(b.semget(KEY, 0, 0), sem_b, "B's set after IPC_RMID in A")
    expect(b.shmget(KEY, 0, 0), shm_b, "B's segment after IPC_RMID in A")
    expect_errno(errno.ENOENT, a.msgget, KEY, 0, what="msgget(K, 0) in A after IPC_RMID")


# -- N14 / N15: ids --------------------------------------------------------------


@scenario("N14")
def ids_are_per_namespace(lab: Lab) -> None:
    """A's ids are EINVAL in a fresh B (shmat, msgctl, semop) and work after setns to A."""
    a = lab.task()
    # A filler first, so A's ids (1) are not the ids B's first objects get (0).
    for kind in KINDS:
        expect(kind.make(a, abi.IPC_PRIVATE, CREATE), 0, f"first {kind.name} id in A")
    shm = a.shmget(KEY, PAGE, CREATE)
    msq = a.msgget(KEY, CREATE)
    sem = a.semget(KEY, 1, CREATE)
    expect((shm, msq, sem), (1, 1, 1), "A's second ids")

    b = lab.task()

    def refused(where: str) -> None:
        expect_errno(errno.EINVAL, b.shmat, shm, what=f"shmat(A's shmid) {where}")
        expect_errno(errno.EINVAL, b.msgctl_stat, msq, abi.IPC_STAT,
                     what=f"msgctl(A's msqid, IPC_STAT) {where}")
        expect_errno(errno.EINVAL, b.msgctl, msq, abi.IPC_RMID,
                     what=f"msgctl(A's msqid, IPC_RMID) {where}")
        expect_errno(errno.EINVAL, b.semop, sem, [(0, 1, abi.IPC_NOWAIT)],
                     what=f"semop(A's semid) {where}")

    refused("in a fresh B")
    for kind in KINDS:
        expect(kind.make(b, KEY_B, CREATE), 0, f"B's first {kind.name} id")
    refused("in B with objects of its own")

    expect_ok(b.setns, a, abi.CLONE_NEWIPC)
    addr = expect_ok(b.shmat, shm, what="shmat(A's shmid) after setns to A")
    b.shm_write(addr, b"hello")
    b.shmdt(addr)
    expect(a.shmctl_stat(shm, abi.IPC_STAT).nattch, 0, "nattch after B detached")
    a_addr = a.shmat(shm)
    expect(a.shm_read(a_addr, 5), b"hello", "A reads what B wrote through A's shmid")
    a.shmdt(a_addr)
    expect(expect_ok(b.msgctl_stat, msq, abi.IPC_STAT).perm.key, KEY,
           "msgctl(A's msqid, IPC_STAT) after setns to A")
    expect_ok(b.semop, sem, [(0, 1, abi.IPC_NOWAIT)], what="semop(A's semid) after setns to A")
    expect(a.semctl(sem, 0, abi.GETVAL), 1, "A sees B's semop")
    expect_ok(b.msgctl, msq, abi.IPC_RMID, what="msgctl(A's msqid, IPC_RMID) after setns")
    expect_errno(errno.ENOENT, a.msgget, KEY, 0, what="A's queue is gone")


@scenario("N15")
def first_ids_are_zero_and_follow_seq_and_index(lab: Lab) -> None:
    """Fresh namespaces start each kind at id 0; ids are (seq << 15) + index."""
    a = lab.task()
    for kind in KINDS:
        first = kind.make(a, abi.IPC_PRIVATE, CREATE)
        expect(first, 0, f"first {kind.name} id in a fresh namespace")
        expect(kind.seq(a, first), 0, f"seq of the first {kind.name}")
        expect(kind.stat_index(a, 0), 0, f"{kind.name} *_STAT of index 0")
        kind.rmid(a, first)
        # Create and remove: indices are handed out cyclically, 1..63, then
        # index 0 comes back with seq 1: id 1 << 15.
        got = [kind.make(a, abi.IPC_PRIVATE, CREATE)]
        while got[-1] < MIN_CYCLE and len(got) < MIN_CYCLE + 1:
            kind.rmid(a, got[-1])
            got.append(kind.make(a, abi.IPC_PRIVATE, CREATE))
        expect(got, [*range(1, MIN_CYCLE), 1 << SEQ_SHIFT],
               f"{kind.name} ids while creating and removing one at a time")
        again = got[-1]
        expect(kind.seq(a, again), 1, f"seq of the {kind.name} back at index 0")
        expect(again & INDEX_MASK, 0, f"index of {again}")
        expect(kind.stat_index(a, 0), again, f"{kind.name} *_STAT of index 0: the new id")
        # The stale id 0 names no object any more, though its index is used.
        expect_errno(errno.EINVAL, kind.seq, a, 0, what=f"{kind.name} IPC_STAT of stale id 0")
        # The next one continues at index 1, seq 1.
        nxt = kind.make(a, abi.IPC_PRIVATE, CREATE)
        expect(nxt, (1 << SEQ_SHIFT) + 1, f"the {kind.name} after it")
        expect(kind.seq(a, nxt), 1, f"seq of {nxt}")
    # Sequence numbers are per namespace: a fresh one starts at 0 again.
    b = lab.task()
    for kind in KINDS:
        expect(kind.make(b, abi.IPC_PRIVATE, CREATE), 0, f"first {kind.name} id in another ns")


# -- N16: *_INFO and *_STAT ------------------------------------------------------


@scenario("N16")
def info_and_index_stat_see_only_their_namespace(lab: Lab) -> None:
    """MSG_INFO/SEM_INFO/SHM_INFO/IPC_INFO and MSG/SEM/SHM_STAT(_ANY) show the current ns."""
    a, b, empty = lab.task(), lab.task(), lab.task()
    a_msq = [a.msgget(KEY + i, CREATE) for i in range(3)]
    a.msgsnd(a_msq[1], 1, b"hello")
    a_sem = [a.semget(KEY + i, n, CREATE) for i, n in enumerate((2, 3))]
    a_shm = [a.shmget(KEY + i, n * PAGE, CREATE) for i, n in enumerate((1, 2))]
    b_msq = b.msgget(KEY_B, CREATE)
    b_sem = b.semget(KEY_B, 4, CREATE)
    b_shm = b.shmget(KEY_B, 3 * PAGE, CREATE)
    a.write_file("/proc/sys/kernel/msgmni", b"100")
    a.write_file("/proc/sys/kernel/shmmni", b"200")
    a.write_file("/proc/sys/kernel/sem", b"250 32000 32 300")

    # Usage: (ids in use, [messages, bytes | semaphores | pages], max index).
    for task, msg, sem, shm in ((a, (3, 1, 5, 2), (2, 5, 1), (2, 3, 1)),
                                (b, (1, 0, 0, 0), (1, 4, 0), (1, 3, 0)),
                                (empty, (0, 0, 0, 0), (0, 0, 0), (0, 0, 0))):
        info = task.msgctl_info(abi.MSG_INFO)
        expect((info.msgpool, info.msgmap, info.msgtql, info.max_index), msg,
               "MSG_INFO (queues, messages, bytes, max index)")
        sinfo = task.semctl_info(abi.SEM_INFO)
        expect((sinfo.semusz, sinfo.semaem, sinfo.max_index), sem,
               "SEM_INFO (sets, semaphores, max index)")
        shinfo = task.shmctl_info()
        expect((shinfo.used_ids, shinfo.shm_tot, shinfo.max_index), shm,
               "SHM_INFO (segments, pages, max index)")

    # Limits (IPC_INFO) are the namespace's own.
    expect(a.msgctl_info(abi.IPC_INFO).msgmni, 100, "msgctl(IPC_INFO).msgmni in A")
    expect(b.msgctl_info(abi.IPC_INFO).msgmni, 32000, "msgctl(IPC_INFO).msgmni in B")
    expect(a.shmctl_ipcinfo().shmmni, 200, "shmctl(IPC_INFO).shmmni in A")
    expect(b.shmctl_ipcinfo().shmmni, 4096, "shmctl(IPC_INFO).shmmni in B")
    expect(a.semctl_info(abi.IPC_INFO).semmni, 300, "semctl(IPC_INFO).semmni in A")
    expect(b.semctl_info(abi.IPC_INFO).semmni, 32000, "semctl(IPC_INFO).semmni in B")

    # Index-based *_STAT: index 0 is each namespace's own object; indices
    # only A uses are EINVAL in B.
    for cmd in (abi.MSG_STAT, abi.MSG_STAT_ANY):
        expect(a.msgctl_stat(2, cmd).id, a_msq[2], f"msgctl({cmd}, index 2) in A")
        st = b.msgctl_stat(0, cmd)
        expect((st.id, st.perm.key), (b_msq, KEY_B), f"msgctl({cmd}, index 0) in B")
        expect_errno(errno.EINVAL, b.msgctl_stat, 1, cmd, what=f"msgctl({cmd}, index 1) in B")
        expect_errno(errno.EINVAL, empty.msgctl_stat, 0, cmd,
                     what=f"msgctl({cmd}, index 0) in an empty namespace")
    for cmd in (abi.SEM_STAT, abi.SEM_STAT_ANY):
        expect(a.semctl_stat(1, cmd).id, a_sem[1], f"semctl({cmd}, index 1) in A")
        sst = b.semctl_stat(0, cmd)
        expect((sst.id, sst.perm.key, sst.nsems), (b_sem, KEY_B, 4),
               f"semctl({cmd}, index 0) in B")
        expect_errno(errno.EINVAL, b.semctl_stat, 1, cmd, what=f"semctl({cmd}, index 1) in B")
    for cmd in (abi.SHM_STAT, abi.SHM_STAT_ANY):
        expect(a.shmctl_stat(1, cmd).id, a_shm[1], f"shmctl({cmd}, index 1) in A")
        hst = b.shmctl_stat(0, cmd)
        expect((hst.id, hst.perm.key, hst.segsz), (b_shm, KEY_B, 3 * PAGE),
               f"shmctl({cmd}, index 0) in B")
        expect_errno(errno.EINVAL, b.shmctl_stat, 1, cmd, what=f"shmctl({cmd}, index 1) in B")


# -- N17: permissions and the owning user namespace ------------------------------


@dataclass(frozen=True)
class _Owned:
    """Two namespaces: A owned by the initial user namespace, B by a user
    namespace U.  ``host_a``/``host_b`` are (initial-namespace) root in A
    and B; the makers run as UID_OWNER without capabilities; ``outsider``
    is root of another user namespace U2 but in A; ``owner_root`` is root
    of U, in B."""

    host_a: Task
    host_b: Task
    a_maker: Task
    b_maker: Task
    outsider: Task
    owner_root: Task


def _two_namespaces(lab: Lab) -> _Owned:
    host = lab.task()                                  # A, owned by the initial userns
    owner_root = lab.user_ns(host, abi.CLONE_NEWIPC)   # root of U, in B (owned by U)
    outsider = lab.user_ns(host)                       # root of U2, still in A
    a_maker = lab.unprivileged(host, UID_OWNER, UID_OWNER)
    joiner = host.fork(0)
    joiner.setns(owner_root, abi.CLONE_NEWIPC)
    b_maker = lab.unprivileged(joiner, UID_OWNER, UID_OWNER)
    expect_true(b_maker.ns_inode() == owner_root.ns_inode() != host.ns_inode(),
                "the maker is in U's namespace")
    return _Owned(host, joiner, a_maker, b_maker, outsider, owner_root)


@scenario("N17")
def cap_ipc_owner_counts_in_the_owning_user_namespace(lab: Lab) -> None:
    """Mode bits are bypassed by CAP_IPC_OWNER in the namespace's owner userns only."""
    ns = _two_namespaces(lab)
    a_maker, b_maker, outsider, owner_root = ns.a_maker, ns.b_maker, ns.outsider, ns.owner_root
    stranger = lab.unprivileged(ns.host_a, UID_OTHER, UID_OTHER)
    for kind in KINDS:
        in_a = kind.make(a_maker, KEY, CREATE)
        in_b = kind.make(b_maker, KEY, CREATE)
        kind.use(a_maker, in_a)     # the owner may
        expect_errno(errno.EACCES, kind.use, stranger, in_a,
                     what=f"{kind.name}: another user, mode 0600")
        # Root of U2 holds every capability, but in U2, not in A's owner.
        expect_errno(errno.EACCES, kind.use, outsider, in_a,
                     what=f"{kind.name}: user-namespace root in a host-owned namespace")
        expect_errno(errno.EACCES, kind.make, outsider, KEY, 0o600,
                     what=f"{kind.name}get(K, 0600) by user-namespace root, host-owned ns")
        # Root of U owns B: CAP_IPC_OWNER there bypasses the mode.
        expect_ok(kind.use, owner_root, in_b, what=f"{kind.name}: root of B's owner")
        expect(kind.make(owner_root, KEY, 0o600), in_b, f"{kind.name}get(K, 0600) by U's root")
        # Without CAP_IPC_OWNER (only CAP_SYS_ADMIN), root of U is refused.
        admin_only = owner_root.fork(0)
        admin_only.set_capabilities(1 << abi.CAP_SYS_ADMIN, 1 << abi.CAP_SYS_ADMIN)
        expect_errno(errno.EACCES, kind.use, admin_only, in_b,
                     what=f"{kind.name}: root of U without CAP_IPC_OWNER")
        admin_only.exit()
    expect_errno(errno.EACCES, outsider.msgctl_stat, a_maker.msgget(KEY, 0), abi.IPC_STAT,
                 what="msgctl(IPC_STAT) by user-namespace root, host-owned ns")
    expect(owner_root.msgctl_stat(b_maker.msgget(KEY, 0), abi.IPC_STAT).perm.key, KEY,
           "msgctl(IPC_STAT) by U's root in B")


@scenario("N17")
def rmid_and_set_need_owner_or_cap_sys_admin_in_the_owner(lab: Lab) -> None:
    """IPC_RMID/IPC_SET: owner or creator uid, or CAP_SYS_ADMIN in the owner userns."""
    ns = _two_namespaces(lab)
    a_maker, b_maker, outsider, owner_root = ns.a_maker, ns.b_maker, ns.outsider, ns.owner_root
    stranger_b = lab.unprivileged(ns.host_b, UID_OTHER, UID_OTHER)
    owner_only = owner_root.fork(0)
    owner_only.set_capabilities(1 << abi.CAP_IPC_OWNER, 1 << abi.CAP_IPC_OWNER)
    admin_only = owner_root.fork(0)
    admin_only.set_capabilities(1 << abi.CAP_SYS_ADMIN, 1 << abi.CAP_SYS_ADMIN)
    for kind in KINDS:
        # Host-owned A: root of U2 is nobody there.
        in_a = kind.make(a_maker, abi.IPC_PRIVATE, CREATE)
        expect_errno(errno.EPERM, kind.set_owner, outsider, in_a, 0, 0, 0o666,
                     what=f"{kind.name} IPC_SET by user-namespace root, host-owned ns")
        expect_errno(errno.EPERM, kind.rmid, outsider, in_a,
                     what=f"{kind.name} IPC_RMID by user-namespace root, host-owned ns")
        expect_ok(kind.rmid, a_maker, in_a, what=f"{kind.name} IPC_RMID by its owner")

        # U-owned B.
        in_b = kind.make(b_maker, abi.IPC_PRIVATE, CREATE)
        expect_errno(errno.EPERM, kind.rmid, stranger_b, in_b,
                     what=f"{kind.name} IPC_RMID by another unprivileged user")
        expect_errno(errno.EPERM, kind.set_owner, stranger_b, in_b,
                     UID_OTHER, UID_OTHER, 0o600,
                     what=f"{kind.name} IPC_SET by another unprivileged user")
        expect_errno(errno.EPERM, kind.set_owner, owner_only, in_b, 0, 0, 0o600,
                     what=f"{kind.name} IPC_SET by U's root with only CAP_IPC_OWNER")
        expect_errno(errno.EPERM, kind.rmid, owner_only, in_b,
                     what=f"{kind.name} IPC_RMID by U's root with only CAP_IPC_OWNER")
        # The creator hands the object to another user: both may now change it.
        expect_ok(kind.set_owner, b_maker, in_b, UID_OTHER, UID_OTHER, 0o600,
                  what=f"{kind.name} IPC_SET by its creator")
        expect_ok(kind.set_owner, stranger_b, in_b, UID_OTHER, UID_OTHER, 0o640,
                  what=f"{kind.name} IPC_SET by its new owner")
        expect_ok(kind.set_owner, b_maker, in_b, UID_OTHER, UID_OTHER, 0o600,
                  what=f"{kind.name} IPC_SET by its creator (no longer the owner)")
        # CAP_SYS_ADMIN in U (the owner of B) is enough for anything.
        expect_ok(kind.set_owner, admin_only, in_b, 0, 0, 0o600,
                  what=f"{kind.name} IPC_SET by U's root with CAP_SYS_ADMIN")
        expect_ok(kind.rmid, admin_only, in_b,
                  what=f"{kind.name} IPC_RMID by U's root with CAP_SYS_ADMIN")
        expect_errno(errno.EINVAL, kind.rmid, b_maker, in_b, what=f"{kind.name} is gone")
