"""The inventory over many namespaces: shares, helpers, descriptor budget.

The namespaces are bind mounts under the test process's private /run (see
conftest.py), made by one helper task, and gone with the test process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import pytest

import ipcns
from ipcns import abi
from ipcns._procfs import parse_msg, parse_sem, parse_shm
from ipcns._types import MessageQueue, MqAttr, SemaphoreSet, Snapshot
from ipcns.linux import _inventory, syscalls
from ipcns.linux.kernel import LinuxKernel, LinuxTask
from ipcns.linux.syscalls import Syscalls, umount2

#: More than two helpers' worth (one per 32) and several shares each.
COUNT = 80
DIR = "/run/ipcns-many"


def expected(i: int) -> tuple[int, int, int, int]:
    """Message queues, semaphore sets, segments and POSIX queues of
    namespace ``i``."""
    return i % 3, i % 2, (i + 1) % 2, i % 3


@pytest.fixture(scope="module")
def many() -> Iterator[list[tuple[str, int]]]:
    """COUNT namespaces, namespace ``i`` holding ``expected(i)`` objects
    (keys 0x1000*i + n, segments of 4096*(n+1) bytes)."""
    os.makedirs(DIR)
    made: list[tuple[str, int]] = []
    try:
        with LinuxKernel() as kernel:
            task = kernel.spawn()
            for i in range(COUNT):
                path = f"{DIR}/ns-{i:03d}"
                with open(path, "w"):
                    pass
                task.unshare(abi.CLONE_NEWIPC)
                task.mount("/proc/self/ns/ipc", path, None, abi.MS_BIND)
                made.append((path, os.stat(path).st_ino))
                # Limits of its own, read through the same procfs as its
                # neighbours' (one per few namespaces).
                task.write_file("/proc/sys/fs/mqueue/queues_max", b"%d" % (100 + i))
                task.write_file("/proc/sys/kernel/msg_next_id", b"%d" % (1000 + i))
                msgs, sems, shms, queues = expected(i)
                for n in range(msgs):
                    task.msgget(0x1000 * i + n, abi.IPC_CREAT | 0o600)
                for n in range(sems):
                    task.semget(0x1000 * i + 0x100 + n, n + 1, abi.IPC_CREAT | 0o640)
                for n in range(shms):
                    task.shmget(0x1000 * i + 0x200 + n, 4096 * (n + 1), abi.IPC_CREAT | 0o600)
                for n in range(queues):
                    fd = task.mq_open(f"/q{n}", abi.O_CREAT | abi.O_RDWR, 0o600,
                                      MqAttr(maxmsg=1, msgsize=16))
                    task.close(fd)
            task.exit()
        yield made
    finally:
        for path, _inode in made:
            umount2(path, abi.MNT_DETACH)
        for name in os.listdir(DIR):
            os.unlink(f"{DIR}/{name}")
        os.rmdir(DIR)


def check(i: int, snap: Snapshot) -> None:
    msgs, sems, shms, queues = expected(i)
    assert snap.limits.queues_max == 100 + i
    # msg_next_id is used up by the first msgget, if there is one.
    assert snap.limits.msg_next_id == (-1 if msgs else 1000 + i)
    assert sorted(o.key for o in snap.msg_queues) == [0x1000 * i + n for n in range(msgs)]
    assert sorted((o.key, o.nsems) for o in snap.sem_sets) == [
        (0x1000 * i + 0x100 + n, n + 1) for n in range(sems)]
    assert sorted((o.key, o.size) for o in snap.shm_segments) == [
        (0x1000 * i + 0x200 + n, 4096 * (n + 1)) for n in range(shms)]
    assert [o.name for o in snap.posix_queues] == [f"/q{n}" for n in range(queues)]
    assert snap.usage.msg_queues == msgs
    assert snap.usage.sem_sets == sems
    assert snap.usage.used_sems == sems * (sems + 1) // 2
    assert snap.usage.shm_segments == shms
    assert snap.usage.mq_queues == queues
    assert snap.mqueue_error is None


@contextlib.contextmanager
def bind_point(name: str) -> Iterator[str]:
    """An empty file to bind a namespace on, under the test's private /run;
    unmounted and removed at the end."""
    os.makedirs(f"{DIR}-{name}", exist_ok=True)
    path = f"{DIR}-{name}/ns"
    with open(path, "w"):
        pass
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):  # never bound
            umount2(path, abi.MNT_DETACH)
        os.unlink(path)
        os.rmdir(f"{DIR}-{name}")


def bound_namespace(kernel: LinuxKernel, path: str) -> LinuxTask:
    """A task of ``kernel`` in a new IPC namespace, bound on ``path``."""
    task = kernel.spawn()
    task.unshare(abi.CLONE_NEWIPC)
    task.mount("/proc/self/ns/ipc", path, None, abi.MS_BIND)
    return task


def test_inventory_of_many_namespaces_is_whole_and_in_order(many: list[tuple[str, int]]
                                                            ) -> None:
    snaps = ipcns.inventory()
    inodes = [s.inode for s in snaps]
    assert inodes == sorted(inodes)
    by_inode = {s.inode: s for s in snaps}
    for i, (_path, inode) in enumerate(many):
        check(i, by_inode[inode])
        # The other limits: a new namespace's defaults.
        assert by_inode[inode].limits._replace(queues_max=0, msg_next_id=0) == (
            by_inode[many[0][1]].limits._replace(queues_max=0, msg_next_id=0))


def test_summaries_of_many_namespaces_match_their_snapshots(many: list[tuple[str, int]]
                                                           ) -> None:
    targets = [ipcns.open(path) for path, _inode in many]
    snaps = ipcns.inventory(targets)
    sums = ipcns.summaries(targets)
    assert [s.inode for s in sums] == [inode for _path, inode in many]
    for snap, summary in zip(snaps, sums, strict=True):
        assert summary.usage == snap.usage
        assert summary.shm_bytes == sum(o.size for o in snap.shm_segments)
        assert summary.bounds.queues_max == snap.limits.queues_max == 100 + many.index(
            next(m for m in many if m[1] == snap.inode))
        assert summary.bounds.msgmni == snap.limits.msgmni


def test_a_hop_stays_within_its_descriptor_limit(many: list[tuple[str, int]]) -> None:
    # Each namespace leaves a dozen descriptors for closing later; with a hard
    # limit of 48 the helper must close them on the way, or fail with EMFILE.
    with LinuxKernel() as kernel:
        task = kernel.spawn()
        task.setrlimit(abi.RLIMIT_NOFILE, 48, 48)
        got = task.snapshot(many)
        open_fds = len(os.listdir(f"/proc/{task.pid}/fd"))
    assert open_fds <= 48
    for i, snap in enumerate(got):
        assert isinstance(snap, Snapshot), snap
        check(i, snap)


def test_a_namespace_replaced_meanwhile_is_reported_stale(many: list[tuple[str, int]]
                                                         ) -> None:
    path, inode = many[0]
    other = many[1][1]
    with LinuxKernel() as kernel:
        got = kernel.spawn().snapshot([(path, other), (path, inode)])
    assert isinstance(got[0], OSError)
    assert got[0].errno == 116  # ESTALE
    assert isinstance(got[1], Snapshot)
    assert got[1].inode == inode


def test_msg_and_sem_info_carry_the_limits() -> None:
    # The inventory reads the msg and sem limits from MSG_INFO and SEM_INFO,
    # the calls that give the usage counters.
    with LinuxKernel() as kernel:
        task = kernel.spawn()
        task.unshare(abi.CLONE_NEWIPC)
        task.write_file("/proc/sys/kernel/msgmnb", b"12345")
        task.write_file("/proc/sys/kernel/sem", b"7 70 17 11")
        msg, sem = task.msgctl_info(abi.MSG_INFO), task.semctl_info(abi.SEM_INFO)
        assert msg == task.msgctl_info(abi.IPC_INFO)._replace(
            msgpool=msg.msgpool, msgmap=msg.msgmap, msgtql=msg.msgtql)
        assert sem == task.semctl_info(abi.IPC_INFO)._replace(
            semusz=sem.semusz, semaem=sem.semaem)
    assert msg.msgmnb == 12345
    assert (sem.semmsl, sem.semmns, sem.semopm, sem.semmni) == (7, 70, 17, 11)


def test_sysvipc_columns_are_read_by_name() -> None:
    # Another kernel may order, add or drop columns: the real text with its
    # columns reversed, "swap" dropped and a column added reads the same.
    with LinuxKernel() as kernel:
        task = kernel.spawn()
        task.unshare(abi.CLONE_NEWIPC)
        for n in range(3):
            task.shmget(0x7EADBEE0 + n if n else 0xDEADBEEF, 4096 * (n + 1),
                        abi.IPC_CREAT | 0o640)
        text = task.read_file("/proc/sysvipc/shm")
    table = [line.split() for line in text.decode().splitlines()]
    keep = [j for j in reversed(range(len(table[0]))) if table[0][j] != "swap"]
    shuffled = "\n".join(" ".join(["extra" if i == 0 else "7"] + [row[j] for j in keep])
                         for i, row in enumerate(table)) + "\n"
    plain = parse_shm(text)
    assert [(o.key, o.size, o.mode) for o in plain] == [
        (0xDEADBEEF, 4096, 0o640), (0x7EADBEE1, 8192, 0o640), (0x7EADBEE2, 12288, 0o640)]
    assert parse_shm(shuffled.encode()) == [o._replace(swap=0) for o in plain]
    # A line cut short (a torn read) is left out.
    assert parse_shm(text[:-5]) == plain[:-1]


def test_helpers_at_rest_keep_no_namespace_alive() -> None:
    # After an inventory its helpers rest, for the next one: back in their
    # own namespace, with the mounts they made closed.  A namespace they
    # visited dies as soon as its last holder lets it go.
    from ipcns.linux import namespace

    with bind_point("rest") as path:
        with LinuxKernel() as kernel:
            task = bound_namespace(kernel, path)
            task.close(task.mq_open("/q", abi.O_CREAT | abi.O_RDWR, 0o600,
                                    MqAttr(maxmsg=1, msgsize=16)))
            task.exit()
        inode = os.stat(path).st_ino
        assert inode in {s.inode for s in ipcns.inventory()}
        home = os.stat("/proc/self/ns/ipc").st_ino

        def links(pid: int) -> list[str]:
            out = []
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                    out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            return out

        def rested() -> bool:
            # Resting happens after the answer, the closing of the mounts in
            # a thread of the helper.
            return bool(namespace._idle) and all(
                len(links(helper.pid)) < 16 for helper in namespace._idle)

        deadline = time.monotonic() + 10
        while not rested() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert namespace._idle
        for helper in namespace._idle:
            assert os.stat(f"/proc/{helper.pid}/ns/ipc").st_ino == home
            held = links(helper.pid)
            assert f"ipc:[{inode}]" not in held
            assert len(held) < 16, held  # no mount of the inventory left open
    assert inode not in {ns.inode for ns in ipcns.namespaces()}


def _tables_by_index() -> tuple[list[MessageQueue], list[SemaphoreSet]]:
    """The message queues and semaphore sets of the caller's namespace, read
    by index with MSG_STAT_ANY and SEM_STAT_ANY (run in the namespace)."""
    sys = Syscalls()
    msg_top = sys.msgctl_info(abi.MSG_INFO).max_index
    sem_top = sys.semctl_info(abi.SEM_INFO).max_index
    return ([MessageQueue(*row) for row in syscalls.msg_table().rows(msg_top + 1)],
            [SemaphoreSet(*row) for row in syscalls.sem_table().rows(sem_top + 1)])


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_tables_read_by_index_match_their_text(sparse: bool) -> None:
    # Message queues and semaphore sets are read by index while their
    # indices are dense, from /proc/sysvipc when not: both give what the
    # text gives, field for field (keys unsigned, a message's bytes and
    # sender, an operation's time, a changed mode, a removed object's hole).
    with bind_point("tables") as path:
        with LinuxKernel() as kernel:
            task = bound_namespace(kernel, path)
            filler = 40 if sparse else 0
            spare = [task.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600) for _ in range(filler)]
            spare += [task.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
                      for _ in range(filler)]
            msq = [task.msgget(key, abi.IPC_CREAT | 0o640) for key in (0xDEADBEEF, 0x1234, 0)]
            sems = [task.semget(key, n, abi.IPC_CREAT | 0o600)
                    for key, n in ((0xFEEDFACE, 3), (0x77, 1), (0, 2))]
            task.msgsnd(msq[0], 5, b"hello")
            task.msgctl(msq[2], abi.IPC_SET, mode=0o604)
            task.msgctl(msq[1], abi.IPC_RMID)
            task.semop(sems[0], [(1, 2, 0)])
            task.semctl(sems[1], 0, abi.IPC_RMID)
            for i, ident in enumerate(spare):  # the fillers go: a high index left alone
                if i < filler:
                    task.msgctl(ident, abi.IPC_RMID)
                else:
                    task.semctl(ident, 0, abi.IPC_RMID)
            msg_text = parse_msg(task.read_file("/proc/sysvipc/msg"))
            sem_text = parse_sem(task.read_file("/proc/sysvipc/sem"))
            msg_info = task.msgctl_info(abi.MSG_INFO)
            snap = task.snapshot([(path, os.stat(path).st_ino)])[0]
            task.exit()
        assert [(o.key, o.bytes, o.messages, o.mode) for o in msg_text] == [
            (0xDEADBEEF, 5, 1, 0o640), (0, 0, 0, 0o604)]
        assert msg_text[0].lspid > 0 and msg_text[0].stime > 0
        assert [(o.key, o.nsems) for o in sem_text] == [(0xFEEDFACE, 3), (0, 2)]
        assert sem_text[0].otime > 0
        assert _inventory._by_index(msg_info.msgpool, msg_info.max_index) is not sparse
        assert ipcns.open(path).call(_tables_by_index) == (msg_text, sem_text)
        assert isinstance(snap, Snapshot)
        assert (snap.msg_queues, snap.sem_sets) == (msg_text, sem_text)
