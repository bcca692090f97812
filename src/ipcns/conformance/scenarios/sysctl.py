"""N28-N32: the per-namespace IPC sysctls and the files that show them."""

from __future__ import annotations

import errno

from ... import abi
from ..._procfs import parse_msg, parse_sem, parse_shm
from ...contract import Task
from .._core import Lab, Skip, expect, expect_errno, expect_ok, scenario

SYS = "/proc/sys/"
NEXT_IDS = ("kernel/msg_next_id", "kernel/sem_next_id", "kernel/shm_next_id")

#: Every per-namespace sysctl (under /proc/sys) and its compiled-in default.
ULONG_MAX = (1 << 64) - 1
DEFAULTS: dict[str, str] = {
    "kernel/shmmax": str(ULONG_MAX - (1 << 24)),
    "kernel/shmall": str(ULONG_MAX - (1 << 24)),
    "kernel/shmmni": "4096",
    "kernel/shm_rmid_forced": "0",
    "kernel/msgmax": "8192",
    "kernel/msgmnb": "16384",
    "kernel/msgmni": "32000",
    "kernel/sem": "32000 1024000000 500 32000",
    "kernel/msg_next_id": "-1",
    "kernel/sem_next_id": "-1",
    "kernel/shm_next_id": "-1",
    "fs/mqueue/queues_max": "256",
    "fs/mqueue/msg_max": "10",
    "fs/mqueue/msgsize_max": "8192",
    "fs/mqueue/msg_default": "10",
    "fs/mqueue/msgsize_default": "8192",
}
#: A value unlike the default for each, to write in a parent namespace.
CHANGED: dict[str, str] = {
    "kernel/shmmax": str(1 << 30),
    "kernel/shmall": str(1 << 20),
    "kernel/shmmni": "100",
    "kernel/shm_rmid_forced": "1",
    "kernel/msgmax": "4000",
    "kernel/msgmnb": "8000",
    "kernel/msgmni": "50",
    "kernel/sem": "100 2000 50 60",
    "kernel/msg_next_id": "500",
    "kernel/sem_next_id": "501",
    "kernel/shm_next_id": "502",
    "fs/mqueue/queues_max": "7",
    "fs/mqueue/msg_max": "20",
    "fs/mqueue/msgsize_max": "4096",
    "fs/mqueue/msg_default": "5",
    "fs/mqueue/msgsize_default": "2048",
}
#: Another value again, for a second namespace.
OTHER: dict[str, str] = {
    "kernel/shmmax": str(1 << 31),
    "kernel/shmall": str(1 << 21),
    "kernel/shmmni": "101",
    "kernel/shm_rmid_forced": "1",
    "kernel/msgmax": "4001",
    "kernel/msgmnb": "8001",
    "kernel/msgmni": "51",
    "kernel/sem": "101 2001 51 61",
    "kernel/msg_next_id": "600",
    "kernel/sem_next_id": "601",
    "kernel/shm_next_id": "602",
    "fs/mqueue/queues_max": "8",
    "fs/mqueue/msg_max": "21",
    "fs/mqueue/msgsize_max": "4097",
    "fs/mqueue/msg_default": "6",
    "fs/mqueue/msgsize_default": "2049",
}

#: The unprivileged user of N30 (a user namespace of its own is made from it).
UID_SYSCTL = 41301

KEY_A = 0x1C5A0028
KEY_B = 0x1C5A0029
PAGE = 4096
CREATE = abi.IPC_CREAT | abi.IPC_EXCL | 0o600


def _read(t: Task, name: str) -> str:
    """A sysctl's value, fields separated by single spaces ("32000 1024000000 ...")."""
    return " ".join(t.read_file(SYS + name).decode().split())


def _need_next_ids(t: Task) -> None:
    """Skip unless the kernel has the *_next_id sysctls."""
    for name in NEXT_IDS:
        try:
            t.read_file(SYS + name)
        except FileNotFoundError as err:
            raise Skip(f"kernel without CONFIG_CHECKPOINT_RESTORE: no {name}") from err


def _values(t: Task) -> dict[str, str]:
    return {name: _read(t, name) for name in DEFAULTS}


@scenario("N28")
def new_namespace_gets_compiled_in_defaults(lab: Lab) -> None:
    """A child namespace reads the compiled-in defaults, not its parent's values."""
    parent = lab.task()
    _need_next_ids(parent)
    expect(_values(parent), DEFAULTS, "sysctls of a fresh namespace")
    for name, value in CHANGED.items():
        expect_ok(parent.write_file, SYS + name, value.encode(), what=f"write {name} in parent")
    expect(_values(parent), CHANGED, "the parent's sysctls after writing them")

    cloned = parent.fork(abi.CLONE_NEWIPC)
    expect(_values(cloned), DEFAULTS, "sysctls of clone(CLONE_NEWIPC) of the parent")
    unshared = parent.fork(0)
    unshared.unshare(abi.CLONE_NEWIPC)
    expect(_values(unshared), DEFAULTS, "sysctls after unshare(CLONE_NEWIPC) from the parent")
    expect(_values(parent.fork(0)), CHANGED, "a plain fork sees the parent's values")


@scenario("N28")
def sysctl_writes_stay_in_their_namespace(lab: Lab) -> None:
    """Writing a sysctl in one namespace changes no other one (parent, child, sibling)."""
    parent = lab.task()
    _need_next_ids(parent)
    child = parent.fork(abi.CLONE_NEWIPC)
    sibling = lab.task()
    for name, value in CHANGED.items():
        parent.write_file(SYS + name, value.encode())
    for name, value in OTHER.items():
        child.write_file(SYS + name, value.encode())
    expect(_values(parent), CHANGED, "the parent's sysctls after the child wrote its own")
    expect(_values(child), OTHER, "the child's sysctls")
    expect(_values(sibling), DEFAULTS, "a sibling namespace's sysctls")
    # The values the system calls see follow the same namespace.
    expect(parent.msgctl_info(abi.IPC_INFO).msgmni, 50, "msgctl(IPC_INFO).msgmni in parent")
    expect(child.msgctl_info(abi.IPC_INFO).msgmni, 51, "msgctl(IPC_INFO).msgmni in child")
    expect(sibling.msgctl_info(abi.IPC_INFO).msgmni, 32000, "msgctl(IPC_INFO).msgmni, sibling")
    expect(child.shmctl_ipcinfo().shmmax, 1 << 31, "shmctl(IPC_INFO).shmmax in child")
    expect(child.semctl_info(abi.IPC_INFO).semmni, 61, "semctl(IPC_INFO).semmni in child")


@scenario("N29")
def limits_come_from_the_namespace(lab: Lab) -> None:
    """msgmni/shmmni/semmni give ENOSPC, shmmax EINVAL, from the namespace's own values."""
    a = lab.task()
    a.write_file(SYS + "kernel/msgmni", b"2")
    a.write_file(SYS + "kernel/shmmni", b"2")
    a.write_file(SYS + "kernel/sem", b"250 32000 32 2")
    a.write_file(SYS + "kernel/shmmax", str(2 * PAGE).encode())
    child = a.fork(abi.CLONE_NEWIPC)      # defaults, not A's
    sibling = lab.task()

    for _ in range(2):
        expect_ok(a.msgget, abi.IPC_PRIVATE, CREATE, what="msgget under msgmni=2")
        expect_ok(a.semget, abi.IPC_PRIVATE, 1, CREATE, what="semget under semmni=2")
    expect_errno(errno.ENOSPC, a.msgget, abi.IPC_PRIVATE, CREATE, what="msgget past msgmni=2")
    expect_errno(errno.ENOSPC, a.semget, abi.IPC_PRIVATE, 1, CREATE,
                 what="semget past semmni=2")
    expect_ok(a.shmget, abi.IPC_PRIVATE, 2 * PAGE, CREATE, what="shmget of shmmax bytes")
    expect_errno(errno.EINVAL, a.shmget, abi.IPC_PRIVATE, 2 * PAGE + 1, CREATE,
                 what="shmget of shmmax + 1 bytes")
    expect_ok(a.shmget, abi.IPC_PRIVATE, PAGE, CREATE, what="second shmget under shmmni=2")
    expect_errno(errno.ENOSPC, a.shmget, abi.IPC_PRIVATE, PAGE, CREATE,
                 what="shmget past shmmni=2")

    for where, t in (("a child namespace", child), ("a sibling namespace", sibling)):
        for _ in range(3):
            expect_ok(t.msgget, abi.IPC_PRIVATE, CREATE, what=f"msgget in {where}")
            expect_ok(t.semget, abi.IPC_PRIVATE, 1, CREATE, what=f"semget in {where}")
            expect_ok(t.shmget, abi.IPC_PRIVATE, PAGE, CREATE, what=f"shmget in {where}")
        expect_ok(t.shmget, abi.IPC_PRIVATE, 2 * PAGE + 1, CREATE,
                  what=f"shmget of A's shmmax + 1 in {where}")
    # A's own limit still holds; raising it there lets one more in.
    expect_errno(errno.ENOSPC, a.msgget, abi.IPC_PRIVATE, CREATE, what="msgget in A again")
    a.write_file(SYS + "kernel/msgmni", b"3")
    expect_ok(a.msgget, abi.IPC_PRIVATE, CREATE, what="msgget after msgmni=3")
    expect_errno(errno.ENOSPC, a.msgget, abi.IPC_PRIVATE, CREATE, what="msgget past msgmni=3")


def _root_of_new_user_ns(lab: Lab, host: Task, uid: int, flags: int = 0) -> Task:
    """A child of an unprivileged ``uid`` (made from root ``host``) in a new
    user namespace (plus ``flags``) whose root is ``uid``: the namespace is
    owned by ``uid``, and its root is not kernel uid 0."""
    child = lab.user_ns(lab.unprivileged(host, uid, uid), flags)
    expect(child.getresuid(), (0, 0, 0), "ids of the new user namespace's root")
    return child


@scenario("N30")
def owning_user_namespace_root_writes_sysctls(lab: Lab) -> None:
    """Root of the owning user namespace writes every IPC sysctl; a non-root user cannot."""
    host = lab.task()                                   # A: owned by the initial userns
    owner = lab.user_ns(host, abi.CLONE_NEWIPC)         # root of U, in B: owned by U
    _need_next_ids(owner)
    for name, value in CHANGED.items():
        expect_ok(owner.write_file, SYS + name, value.encode(), what=f"write {name} as U's root")
        expect(_read(owner, name), value, f"{name} after writing it")
    expect(owner.msgctl_info(abi.IPC_INFO).msgmni, 50, "msgctl(IPC_INFO).msgmni")
    expect(owner.semctl_info(abi.IPC_INFO).semmni, 60, "semctl(IPC_INFO).semmni")
    expect(owner.shmctl_ipcinfo().shmmni, 100, "shmctl(IPC_INFO).shmmni")
    expect(_values(host), DEFAULTS, "A's sysctls after U's root wrote B's")

    # Users other than root of the owner: read-only.
    joiner = host.fork(0)
    joiner.setns(owner, abi.CLONE_NEWIPC)
    in_b = lab.unprivileged(joiner, UID_SYSCTL, UID_SYSCTL)
    in_a = lab.unprivileged(host, UID_SYSCTL, UID_SYSCTL)
    for where, t in (("B", in_b), ("A", in_a)):
        for name in ("kernel/msgmni", "fs/mqueue/queues_max"):
            expect_errno(errno.EACCES, t.write_file, SYS + name, b"5",
                         what=f"unprivileged write of {name} in {where}")
            expect_ok(t.read_file, SYS + name, what=f"unprivileged read of {name} in {where}")


@scenario("N30")
def only_root_of_the_owner_writes_sysctls(lab: Lab) -> None:
    """Userns root (uid 0 only inside) writes its own ns's sysctls, not a host-owned ns's."""
    host = lab.task()                                   # A: owned by the initial userns
    elsewhere = _root_of_new_user_ns(lab, host, UID_SYSCTL)
    expect(elsewhere.ns_inode(), host.ns_inode(), "user-namespace root still in A")
    for name in ("kernel/msgmni", "kernel/sem", "fs/mqueue/queues_max"):
        expect_errno(errno.EACCES, elsewhere.write_file, SYS + name, CHANGED[name].encode(),
                     what=f"user-namespace root writing A's {name}")
    owner = _root_of_new_user_ns(lab, host, UID_SYSCTL, abi.CLONE_NEWIPC)
    for name in ("kernel/msgmni", "kernel/sem", "fs/mqueue/queues_max"):
        expect_ok(owner.write_file, SYS + name, CHANGED[name].encode(),
                  what=f"user-namespace root writing its own namespace's {name}")
        expect(_read(owner, name), CHANGED[name], f"{name} in its own namespace")
        expect(_read(host, name), DEFAULTS[name], f"A's {name}")


@scenario("N31")
def next_id_sets_the_next_id_once(lab: Lab) -> None:
    """Writing *_next_id gives the next object that id (seq and index); then it reads -1."""
    t = lab.task()
    _need_next_ids(t)
    wanted = (3 << 15) + 7
    for name in NEXT_IDS:
        expect(_read(t, name), "-1", f"{name} in a fresh namespace")
        t.write_file(SYS + name, str(wanted).encode())
        expect(_read(t, name), str(wanted), f"{name} after writing it")

    msq = t.msgget(KEY_A, CREATE)
    sem = t.semget(KEY_A, 1, CREATE)
    shm = t.shmget(KEY_A, PAGE, CREATE)
    expect((msq, sem, shm), (wanted, wanted, wanted), "ids after writing *_next_id")
    for name in NEXT_IDS:
        expect(_read(t, name), "-1", f"{name} once used")
    expect(t.msgctl_stat(msq, abi.IPC_STAT).perm.seq, 3, "msq seq")
    expect(t.semctl_stat(sem, abi.IPC_STAT).perm.seq, 3, "sem seq")
    expect(t.shmctl_stat(shm, abi.IPC_STAT).perm.seq, 3, "shm seq")
    expect(t.msgctl_stat(7, abi.MSG_STAT).id, wanted, "MSG_STAT of index 7")
    expect(t.semctl_stat(7, abi.SEM_STAT).id, wanted, "SEM_STAT of index 7")
    expect(t.shmctl_stat(7, abi.SHM_STAT).id, wanted, "SHM_STAT of index 7")
    # The following objects get ordinary ids again (first free index, seq 0).
    expect(t.msgget(KEY_B, CREATE), 0, "the msqid after")
    expect(t.semget(KEY_B, 1, CREATE), 0, "the semid after")
    expect(t.shmget(KEY_B, PAGE, CREATE), 0, "the shmid after")
    # Only the namespace written to is affected.
    other = lab.task()
    t.write_file(SYS + "kernel/msg_next_id", b"42")
    expect(_read(other, "kernel/msg_next_id"), "-1", "msg_next_id of another namespace")
    expect(other.msgget(KEY_A, CREATE), 0, "first msqid in another namespace")
    expect(t.msgget(abi.IPC_PRIVATE, CREATE), 42, "msqid after msg_next_id=42")


@scenario("N32")
def sysvipc_files_show_the_openers_namespace(lab: Lab) -> None:
    """/proc/sysvipc/* opened in A and read after setns to B list A's objects."""
    a, b = lab.task(), lab.task()
    for t, key in ((a, KEY_A), (b, KEY_B)):
        t.msgget(key, CREATE)
        t.semget(key, 1, CREATE)
        t.shmget(key, PAGE, CREATE)
    reader = a.fork(0)
    fds = {kind: reader.open(f"/proc/sysvipc/{kind}") for kind in ("msg", "sem", "shm")}
    reader.setns(b, abi.CLONE_NEWIPC)
    expect(reader.ns_inode(), b.ns_inode(), "the reader is in B")
    expect([q.key for q in parse_msg(reader.read(fds["msg"]))], [KEY_A],
           "/proc/sysvipc/msg opened in A, read in B")
    expect([s.key for s in parse_sem(reader.read(fds["sem"]))], [KEY_A],
           "/proc/sysvipc/sem opened in A, read in B")
    expect([m.key for m in parse_shm(reader.read(fds["shm"]))], [KEY_A],
           "/proc/sysvipc/shm opened in A, read in B")
    expect([q.key for q in parse_msg(reader.read_file("/proc/sysvipc/msg"))], [KEY_B],
           "/proc/sysvipc/msg opened in B")
    expect([m.key for m in parse_shm(reader.read_file("/proc/sysvipc/shm"))], [KEY_B],
           "/proc/sysvipc/shm opened in B")
    for fd in fds.values():
        reader.close(fd)


@scenario("N32")
def sysctl_files_show_the_openers_namespace(lab: Lab) -> None:
    """A sysctl file opened in A and read after setns to B shows A's value."""
    a, b = lab.task(), lab.task()
    a.write_file(SYS + "kernel/msgmni", b"123")
    b.write_file(SYS + "kernel/msgmni", b"456")
    a.write_file(SYS + "kernel/sem", b"250 32000 32 124")
    a.write_file(SYS + "fs/mqueue/queues_max", b"9")
    b.write_file(SYS + "fs/mqueue/queues_max", b"10")
    reader = a.fork(0)
    names = ("kernel/msgmni", "kernel/sem", "fs/mqueue/queues_max")
    fds = {name: reader.open(SYS + name) for name in names}
    reader.setns(b, abi.CLONE_NEWIPC)
    expect(reader.read(fds["kernel/msgmni"]), b"123\n", "kernel/msgmni opened in A, read in B")
    expect(reader.read(fds["kernel/sem"]).split(), [b"250", b"32000", b"32", b"124"],
           "kernel/sem opened in A, read in B")
    expect(reader.read(fds["fs/mqueue/queues_max"]), b"9\n",
           "fs/mqueue/queues_max opened in A, read in B")
    expect(_read(reader, "kernel/msgmni"), "456", "kernel/msgmni opened in B")
    expect(_read(reader, "fs/mqueue/queues_max"), "10", "fs/mqueue/queues_max opened in B")
    expect(_read(reader, "kernel/sem"), DEFAULTS["kernel/sem"], "kernel/sem opened in B")
    for fd in fds.values():
        reader.close(fd)
