"""ipcns.linux.syscalls against the real kernel.

The host is never changed: every test that makes an IPC object (or mounts,
or changes credentials) does it in a forked child that first unshares a new
IPC namespace (and a mount namespace where it mounts), so all it made dies
with the child.  See :func:`run_in_new_ns`.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pickle
import resource
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

import pytest

from ipcns import abi
from ipcns._types import MqAttr
from ipcns.linux import libc, syscalls
from ipcns.linux.syscalls import Syscalls

T = TypeVar("T")

#: Small POSIX queues: RLIMIT_MSGQUEUE is shared by every process of the user.
SMALL = MqAttr(maxmsg=4, msgsize=64)
RW_CREATE = os.O_CREAT | os.O_RDWR


def run_in_new_ns(fn: Callable[[], T], flags: int = abi.CLONE_NEWIPC) -> T:
    """Run ``fn`` in a forked child that first unshares ``flags`` (with
    CLONE_NEWNS it also makes "/" recursively private); returns what ``fn``
    returned, or raises what it raised (with the child's traceback as a note).
    """
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            os.close(r)
            payload: tuple[bool, object]
            try:
                Syscalls().unshare(flags)
                if flags & abi.CLONE_NEWNS:
                    syscalls.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE, None)
                payload = (True, fn())
            except BaseException as err:
                err.add_note("in the child:\n" + "".join(traceback.format_exception(err)))
                payload = (False, err)
            try:
                data = pickle.dumps(payload)
            except Exception as err:
                data = pickle.dumps((False, RuntimeError(f"cannot pickle the result: {err!r}")))
            with os.fdopen(w, "wb") as out:
                out.write(data)
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not data:
        raise RuntimeError(f"the child died without a result (wait status {status:#x})")
    ok, value = pickle.loads(data)
    if ok:
        return cast(T, value)
    raise value


def errno_of(fn: Callable[[], object]) -> int:
    """The errno of the OSError ``fn`` raises (fails if it raises none)."""
    with pytest.raises(OSError) as info:
        fn()
    assert info.value.errno is not None
    assert info.value.strerror == os.strerror(info.value.errno)
    return info.value.errno


def in_child(fn: Callable[[], int]) -> int:
    """Run ``fn`` in a forked child of this process (same namespaces);
    returns its exit status, which is ``fn``'s value (0..255)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        code = 255
        try:
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


# --------------------------------------------------------------------------
# The helper itself


def test_run_in_new_ns_isolates() -> None:
    host = Syscalls().ns_inode()
    assert run_in_new_ns(lambda: Syscalls().ns_inode()) != host
    with pytest.raises(ValueError, match="boom"):
        run_in_new_ns(lambda: int("boom"))


# --------------------------------------------------------------------------
# System V message queues


def test_msg_round_trip() -> None:
    def body() -> None:
        s = Syscalls()
        q = s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        s.msgsnd(q, 1, b"one")
        s.msgsnd(q, 2, b"two")
        s.msgsnd(q, 1, b"three")
        s.msgsnd(q, 3, b"")
        assert s.msgrcv(q, 64, 2) == (2, b"two")
        assert s.msgrcv(q, 64, 1, abi.MSG_EXCEPT) == (3, b"")
        assert s.msgrcv(q, 64) == (1, b"one")
        assert errno_of(lambda: s.msgrcv(q, 2)) == errno.E2BIG
        assert s.msgrcv(q, 2, 0, abi.MSG_NOERROR) == (1, b"th")
        assert errno_of(lambda: s.msgrcv(q, 64, 5, abi.IPC_NOWAIT)) == errno.ENOMSG
        assert errno_of(lambda: s.msgrcv(q, 64, 0, abi.IPC_NOWAIT)) == errno.ENOMSG
        assert errno_of(lambda: s.msgrcv(q, -1, 0, abi.IPC_NOWAIT)) == errno.EINVAL
        assert errno_of(lambda: s.msgsnd(q, 0, b"x")) == errno.EINVAL

    run_in_new_ns(body)


def test_msgctl_stat() -> None:
    def body() -> None:
        s = Syscalls()
        first = s.msgget(0x1234, abi.IPC_CREAT | abi.IPC_EXCL | 0o640)
        second = s.msgget(0x5678, abi.IPC_CREAT | 0o600)
        s.msgsnd(first, 7, b"abc")
        s.msgsnd(first, 8, b"defgh")
        ds = s.msgctl_stat(first, abi.IPC_STAT)
        assert ds.id == 0
        assert ds.qnum == 2
        assert ds.cbytes == 8
        assert ds.perm.key == 0x1234
        assert ds.perm.mode == 0o640
        assert (ds.perm.uid, ds.perm.cuid) == (os.geteuid(), os.geteuid())
        assert ds.lspid == os.getpid()
        assert ds.lrpid == 0
        assert ds.stime >= ds.ctime - 1
        assert ds.qbytes == int(s.read_file("/proc/sys/kernel/msgmnb"))
        # MSG_STAT takes an index and returns the full id.
        by_index = s.msgctl_stat(second % 32768, abi.MSG_STAT)
        assert by_index.id == second
        assert by_index.perm.key == 0x5678
        assert s.msgget(0x1234, 0) == first
        assert errno_of(lambda: s.msgget(0x1234, abi.IPC_CREAT | abi.IPC_EXCL)) == errno.EEXIST

    run_in_new_ns(body)


def test_msgctl_info() -> None:
    def body() -> None:
        s = Syscalls()
        empty = s.msgctl_info(abi.MSG_INFO)
        assert (empty.msgpool, empty.msgmap, empty.msgtql, empty.max_index) == (0, 0, 0, 0)
        q = s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        s.msgsnd(q, 1, b"12345")
        s.msgsnd(q, 1, b"678")
        info = s.msgctl_info(abi.MSG_INFO)
        assert info.msgpool == 2  # queues in use
        assert info.msgmap == 2  # messages queued
        assert info.msgtql == 8  # bytes queued
        assert info.max_index == 1
        limits = s.msgctl_info(abi.IPC_INFO)
        assert limits.msgmni == int(s.read_file("/proc/sys/kernel/msgmni"))
        assert limits.msgmax == int(s.read_file("/proc/sys/kernel/msgmax"))

    run_in_new_ns(body)


def test_msgctl_set_and_rmid() -> None:
    def body() -> None:
        s = Syscalls()
        q = s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        assert s.msgctl(q, abi.IPC_SET, mode=0o644) == 0
        ds = s.msgctl_stat(q, abi.IPC_STAT)
        assert ds.perm.mode == 0o644
        assert ds.perm.uid == os.geteuid()
        s.msgctl(q, abi.IPC_SET, qbytes=1000)
        ds = s.msgctl_stat(q, abi.IPC_STAT)
        assert (ds.qbytes, ds.perm.mode) == (1000, 0o644)
        assert s.msgctl(q, abi.IPC_RMID) == 0
        assert errno_of(lambda: s.msgctl_stat(q, abi.IPC_STAT)) == errno.EINVAL
        assert errno_of(lambda: s.msgctl(q, abi.IPC_SET, mode=0o600)) == errno.EINVAL

    run_in_new_ns(body)


def test_msgctl_set_without_read_permission() -> None:
    """IPC_SET needs ownership, not read access: an owner whose queue is
    write-only can still change it (IPC_STAT alone would fail, EACCES)."""

    def body() -> None:
        s = Syscalls()
        q = s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        s.msgctl(q, abi.IPC_SET, uid=1000, gid=1000, mode=0o200)
        s.setgroups([])
        s.setresgid(1000, 1000, 1000)
        s.setresuid(1000, 1000, 1000)
        assert s.capabilities() == (0, 0, 0)
        assert errno_of(lambda: s.msgctl_stat(q, abi.IPC_STAT)) == errno.EACCES
        s.msgctl(q, abi.IPC_SET, mode=0o600)
        ds = s.msgctl_stat(q, abi.IPC_STAT)
        assert (ds.perm.uid, ds.perm.gid, ds.perm.mode) == (1000, 1000, 0o600)

    run_in_new_ns(body)


def test_msgget_errors() -> None:
    def body() -> None:
        s = Syscalls()
        assert errno_of(lambda: s.msgget(0x1234, 0)) == errno.ENOENT
        assert errno_of(lambda: s.msgsnd(12345, 1, b"x")) == errno.EINVAL
        assert errno_of(lambda: s.msgctl_info(99)) == errno.EINVAL

    run_in_new_ns(body)


# --------------------------------------------------------------------------
# System V semaphores


def test_sem() -> None:
    def body() -> None:
        s = Syscalls()
        sem = s.semget(0x4242, 3, abi.IPC_CREAT | 0o600)
        assert s.semctl_getall(sem) == [0, 0, 0]
        assert s.semctl(sem, 1, abi.SETVAL, 5) == 0
        assert s.semctl(sem, 1, abi.GETVAL) == 5
        assert s.semctl_getall(sem) == [0, 5, 0]
        s.semctl_setall(sem, [1, 2, 3])
        assert s.semctl_getall(sem) == [1, 2, 3]
        s.semop(sem, [(0, -1, 0), (2, 1, 0)])
        assert s.semctl_getall(sem) == [0, 2, 4]
        assert s.semctl(sem, 2, abi.GETPID) == os.getpid()
        start = time.monotonic()
        assert errno_of(lambda: s.semop(sem, [(0, -1, 0)], timeout=0.05)) == errno.EAGAIN
        assert time.monotonic() - start >= 0.04
        assert errno_of(lambda: s.semop(sem, [(0, -1, abi.IPC_NOWAIT)])) == errno.EAGAIN
        s.semop(sem, [(1, -1, 0)], timeout=0.05)
        assert s.semctl(sem, 1, abi.GETVAL) == 1
        assert errno_of(lambda: s.semop(sem, [])) == errno.EINVAL
        assert errno_of(lambda: s.semctl(sem, 0, abi.SETVAL, abi.SEMVMX + 1)) == errno.ERANGE
        assert errno_of(lambda: s.semctl(sem, 0, abi.SETVAL, -1)) == errno.ERANGE
        assert errno_of(lambda: s.semctl_setall(sem, [1, 70000, 1])) == errno.ERANGE
        assert errno_of(lambda: s.semctl_setall(sem, [1])) == errno.ERANGE
        assert errno_of(lambda: s.semctl(sem, 5, abi.GETVAL)) == errno.EINVAL

        ds = s.semctl_stat(sem, abi.IPC_STAT)
        assert (ds.nsems, ds.perm.key, ds.perm.mode, ds.id) == (3, 0x4242, 0o600, 0)
        assert ds.otime > 0
        s.semctl(sem, 0, abi.IPC_SET, mode=0o640)
        assert s.semctl_stat(sem, abi.IPC_STAT).perm.mode == 0o640
        assert s.semctl_stat(0, abi.SEM_STAT).id == sem

        s.semget(abi.IPC_PRIVATE, 2, abi.IPC_CREAT | 0o600)
        info = s.semctl_info(abi.SEM_INFO)
        assert info.semusz == 2  # sets in use
        assert info.semaem == 5  # semaphores in use
        assert info.max_index == 1
        limits = s.semctl_info(abi.IPC_INFO)
        semmsl, semmns, semopm, semmni = s.read_file("/proc/sys/kernel/sem").split()
        assert (limits.semmsl, limits.semmns, limits.semopm, limits.semmni) == (
            int(semmsl), int(semmns), int(semopm), int(semmni))
        assert limits.semvmx == abi.SEMVMX

        assert s.semctl(sem, 0, abi.IPC_RMID) == 0
        assert errno_of(lambda: s.semctl_getall(sem)) == errno.EINVAL
        assert errno_of(lambda: s.semget(0x4242, 1, 0)) == errno.ENOENT

    run_in_new_ns(body)


def test_sem_undo_at_exit() -> None:
    def body() -> None:
        s = Syscalls()
        sem = s.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)

        def child() -> int:
            s.semop(sem, [(0, 3, abi.SEM_UNDO)])
            return s.semctl(sem, 0, abi.GETVAL)

        assert in_child(child) == 3
        assert s.semctl(sem, 0, abi.GETVAL) == 0

    run_in_new_ns(body)


# --------------------------------------------------------------------------
# System V shared memory


def test_shm() -> None:
    def body() -> None:
        s = Syscalls()
        page = os.sysconf("SC_PAGE_SIZE")
        shm = s.shmget(abi.IPC_PRIVATE, 2 * page, abi.IPC_CREAT | 0o600)
        addr = s.shmat(shm)
        other = s.shmat(shm, abi.SHM_RDONLY)
        assert addr != other
        s.shm_write(addr, b"hello", 100)
        assert s.shm_read(addr, 5, 100) == b"hello"
        assert s.shm_read(other, 5, 100) == b"hello"
        assert s.shm_read(other, 4) == bytes(4)
        ds = s.shmctl_stat(shm, abi.IPC_STAT)
        assert (ds.nattch, ds.segsz, ds.cpid, ds.lpid) == (2, 2 * page, os.getpid(), os.getpid())
        assert ds.perm.mode == 0o600
        assert ds.atime > 0
        used = s.shmctl_info()
        assert (used.used_ids, used.shm_tot, used.max_index) == (1, 2, 0)
        s.shmdt(addr)
        s.shmdt(other)
        assert s.shmctl_stat(shm, abi.IPC_STAT).nattch == 0
        assert errno_of(lambda: s.shmdt(addr)) == errno.EINVAL
        s.shmctl(shm, abi.IPC_SET, mode=0o640)
        assert s.shmctl_stat(shm, abi.IPC_STAT).perm.mode == 0o640
        assert s.shmctl_stat(0, abi.SHM_STAT).id == shm
        assert s.shmctl(shm, abi.IPC_RMID) == 0
        assert s.shmctl_info().used_ids == 0
        assert errno_of(lambda: s.shmat(shm)) == errno.EINVAL

    run_in_new_ns(body)


def test_shm_limits_and_errors() -> None:
    def body() -> None:
        s = Syscalls()
        limits = s.shmctl_ipcinfo()
        assert limits.shmmni == 4096
        assert limits.shmmin == abi.SHMMIN
        assert limits.shmmax == int(s.read_file("/proc/sys/kernel/shmmax"))
        assert limits.shmall == int(s.read_file("/proc/sys/kernel/shmall"))
        assert errno_of(lambda: s.shmat(123456)) == errno.EINVAL
        assert errno_of(lambda: s.shmat(-1)) == errno.EINVAL
        assert errno_of(lambda: s.shmget(0x77, 4096, 0)) == errno.ENOENT
        assert errno_of(lambda: s.shmget(abi.IPC_PRIVATE, 0, abi.IPC_CREAT)) == errno.EINVAL
        assert errno_of(lambda: s.shm_read(0, -1)) == errno.EINVAL

    run_in_new_ns(body)


# --------------------------------------------------------------------------
# POSIX message queues


def test_mq_priorities_and_attributes() -> None:
    def body() -> None:
        s = Syscalls()
        mqd = s.mq_open("/prio", RW_CREATE | os.O_EXCL, 0o600, SMALL)
        s.mq_send(mqd, b"low", 1)
        s.mq_send(mqd, b"high", 7)
        s.mq_send(mqd, b"mid", 3)
        s.mq_send(mqd, b"mid2", 3)
        assert s.mq_getattr(mqd) == MqAttr(flags=0, maxmsg=4, msgsize=64, curmsgs=4)
        assert errno_of(lambda: s.mq_send(mqd, b"full", 0, timeout=0.05)) == errno.ETIMEDOUT
        assert errno_of(lambda: s.mq_receive(mqd, 10)) == errno.EMSGSIZE
        assert errno_of(lambda: s.mq_receive(mqd, -1)) == errno.EMSGSIZE
        assert s.mq_receive(mqd, 64) == (b"high", 7)
        assert s.mq_receive(mqd, 64, timeout=1.0) == (b"mid", 3)
        assert s.mq_receive(mqd, 100) == (b"mid2", 3)
        assert s.mq_receive(mqd, 64) == (b"low", 1)
        start = time.monotonic()
        assert errno_of(lambda: s.mq_receive(mqd, 64, timeout=0.05)) == errno.ETIMEDOUT
        assert time.monotonic() - start >= 0.04
        assert errno_of(lambda: s.mq_send(mqd, bytes(65))) == errno.EMSGSIZE
        assert errno_of(lambda: s.mq_send(mqd, b"x", 1 << 20)) == errno.EINVAL
        old = s.mq_setattr(mqd, os.O_NONBLOCK)
        assert old == MqAttr(flags=0, maxmsg=4, msgsize=64, curmsgs=0)
        assert s.mq_getattr(mqd).flags == os.O_NONBLOCK
        assert errno_of(lambda: s.mq_receive(mqd, 64)) == errno.EAGAIN
        s.close(mqd)
        assert errno_of(lambda: s.mq_getattr(mqd)) == errno.EBADF

    run_in_new_ns(body)


def test_mq_open_and_unlink() -> None:
    def body() -> None:
        s = Syscalls()
        mqd = s.mq_open("/gone", RW_CREATE, 0o640, SMALL)
        assert errno_of(lambda: s.mq_open("/gone", RW_CREATE | os.O_EXCL, 0o600, SMALL)) == (
            errno.EEXIST)
        again = s.mq_open("/gone", os.O_RDONLY)
        assert s.mq_getattr(again).msgsize == 64
        assert errno_of(lambda: s.mq_send(again, b"x")) == errno.EBADF
        s.mq_unlink("/gone")
        assert errno_of(lambda: s.mq_unlink("/gone")) == errno.ENOENT
        assert errno_of(lambda: s.mq_open("/gone", os.O_RDWR)) == errno.ENOENT
        # The descriptors outlive the name.
        s.mq_send(mqd, b"still")
        assert s.mq_receive(again, 64) == (b"still", 0)
        assert errno_of(lambda: s.mq_open("noslash", RW_CREATE, 0o600, SMALL)) == errno.EINVAL
        too_big = MqAttr(maxmsg=4, msgsize=1 << 30)
        assert errno_of(lambda: s.mq_open("/big", RW_CREATE, 0o600, too_big)) in (
            errno.EINVAL, errno.EMFILE)
        # attr None: the namespace's defaults (made small first).
        s.write_file("/proc/sys/fs/mqueue/msg_default", b"3")
        s.write_file("/proc/sys/fs/mqueue/msgsize_default", b"128")  # its minimum
        default = s.mq_open("/default", RW_CREATE)
        assert s.mq_getattr(default) == MqAttr(flags=0, maxmsg=3, msgsize=128, curmsgs=0)

    run_in_new_ns(body)


def test_mq_notify_is_exclusive() -> None:
    """One registration per queue: the kernel answers EBUSY to any other,
    from the same process (through any descriptor) or another; only the
    owner's unregistration (NULL sigevent) removes it."""

    def body() -> None:
        s = Syscalls()
        first = s.mq_open("/note", RW_CREATE, 0o600, SMALL)
        second = s.mq_open("/note", os.O_RDWR)
        s.mq_notify(first, abi.SIGUSR1)
        assert errno_of(lambda: s.mq_notify(second, abi.SIGUSR1)) == errno.EBUSY
        assert errno_of(lambda: s.mq_notify(first, abi.SIGUSR1)) == errno.EBUSY

        def other_process() -> int:
            try:
                s.mq_notify(second, abi.SIGUSR1)
            except OSError as err:
                if err.errno != errno.EBUSY:
                    return 2
                s.mq_notify(second, None)  # not the owner: silently nothing
                return 0
            return 1

        assert in_child(other_process) == 0
        mnt = syscalls.fsmount_mqueue()
        try:
            fd = os.open("note", os.O_RDONLY, dir_fd=mnt)
            line = os.read(fd, 256).decode()
            os.close(fd)
        finally:
            os.close(mnt)
        fields = dict(item.split(":") for item in line.split())
        assert fields["NOTIFY_PID"] == str(os.getpid())
        assert fields["SIGNO"] == str(abi.SIGUSR1)
        assert fields["NOTIFY"] == "0"  # SIGEV_SIGNAL
        s.mq_notify(second, None)
        s.mq_notify(second, abi.SIGUSR1)
        s.mq_notify(first, None)

    run_in_new_ns(body)


def test_mq_rlimit() -> None:
    def body() -> None:
        s = Syscalls()
        soft, hard = s.getrlimit(abi.RLIMIT_MSGQUEUE)
        s.setrlimit(abi.RLIMIT_MSGQUEUE, 0, hard)
        assert s.getrlimit(abi.RLIMIT_MSGQUEUE) == (0, hard)
        assert errno_of(lambda: s.mq_open("/r", RW_CREATE, 0o600, SMALL)) == errno.EMFILE
        s.setrlimit(abi.RLIMIT_MSGQUEUE, soft, hard)

    run_in_new_ns(body)


def test_fsmount_mqueue_lists_the_namespace_queues() -> None:
    def body() -> None:
        s = Syscalls()
        mqd = s.mq_open("/listed", RW_CREATE, 0o640, SMALL)
        s.mq_send(mqd, b"abc")
        fd = syscalls.fsmount_mqueue()
        try:
            assert syscalls.listdir(fd) == ["listed"]
            qfd = os.open("listed", os.O_RDONLY, dir_fd=fd)
            try:
                assert os.read(qfd, 256).startswith(b"QSIZE:3 ")
                assert s.mq_getattr(qfd).curmsgs == 1
                assert os.fstat(qfd).st_mode & 0o777 == 0o640
            finally:
                os.close(qfd)
        finally:
            os.close(fd)
        # Detached: mounted nowhere.
        assert " mqueue " not in s.read_file("/proc/self/mountinfo").decode()

    run_in_new_ns(body)


def _closed(fd: int) -> bool:
    return errno_of(lambda: os.fstat(fd)) == errno.EBADF


@pytest.mark.parametrize("moves", [True, False], ids=["anchored", "one-by-one"])
def test_deferred_closes_descriptors_and_detached_mounts(
        moves: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # Detached mounts are moved onto one detached tmpfs, torn down with it
    # in one go; where move_mount is refused, each is closed on its own.
    moved: list[int] = []
    real_move = libc.move_mount

    def move_mount(from_fd: int, from_path: bytes, to_fd: int, to_path: bytes,
                   flags: int) -> int:
        if not moves:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        moved.append(from_fd)
        return int(real_move(from_fd, from_path, to_fd, to_path, flags))

    monkeypatch.setattr(libc, "move_mount", move_mount)
    later = syscalls.Deferred()
    mounts = [later.mount(syscalls.fsmount("tmpfs")) for _ in range(3)]
    plain = os.open("/", os.O_RDONLY | os.O_CLOEXEC)
    later.append(plain)
    assert len(later) == 4
    taken = later.take()
    assert len(later) == 0 and len(taken) == 4
    taken.close()
    assert len(taken) == 0
    assert all(_closed(fd) for fd in [*mounts, plain])
    assert moved == (mounts if moves else [])


# --------------------------------------------------------------------------
# Processes and namespaces


def test_clone3_new_ipc_namespace() -> None:
    r, w = os.pipe()
    pid = syscalls.clone3(abi.CLONE_NEWIPC)
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(r)
            # Python's after-fork hooks ran: threads work in the child.
            box: list[int] = []
            thread = threading.Thread(target=lambda: box.append(Syscalls().ns_inode()))
            thread.start()
            thread.join()
            os.write(w, f"{os.getpid()} {box[0]}".encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        child_pid, inode = (int(x) for x in pipe.read().split())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child_pid == pid
    assert inode != Syscalls().ns_inode()


def test_clone3_errors() -> None:
    assert errno_of(lambda: syscalls.clone3(abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM)) == errno.EINVAL
    assert errno_of(lambda: syscalls.clone3(abi.CLONE_THREAD)) == errno.EINVAL
    assert errno_of(lambda: syscalls.clone3(abi.CLONE_VM)) == errno.EINVAL
    # The parent is intact after a failed clone3 (the import lock is free).
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()


def test_ns_ioctl() -> None:
    s = Syscalls()
    fd = os.open("/proc/self/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert s.ns_ioctl(fd, abi.NS_GET_NSTYPE) == abi.CLONE_NEWIPC
        assert errno_of(lambda: s.ns_ioctl(fd, abi.NS_GET_PARENT)) == errno.EINVAL
        assert errno_of(lambda: s.ns_ioctl(fd, abi.NS_GET_OWNER_UID)) == errno.EINVAL
        user = s.ns_ioctl(fd, abi.NS_GET_USERNS)
        try:
            assert os.fstat(user).st_ino == s.ns_inode("user")
            assert s.ns_ioctl(user, abi.NS_GET_NSTYPE) == abi.CLONE_NEWUSER
            if Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]:
                assert s.ns_ioctl(user, abi.NS_GET_OWNER_UID) == 0  # the initial user ns
            else:
                assert s.ns_ioctl(user, abi.NS_GET_OWNER_UID) >= 0
        finally:
            os.close(user)
    finally:
        os.close(fd)
    assert errno_of(lambda: s.ns_ioctl(-1, abi.NS_GET_NSTYPE)) == errno.EBADF


def test_ns_inode() -> None:
    s = Syscalls()
    assert s.ns_inode() == os.stat("/proc/self/ns/ipc").st_ino
    assert s.ns_inode("mnt") == os.stat("/proc/self/ns/mnt").st_ino
    assert errno_of(lambda: s.ns_inode("nope")) == errno.ENOENT


def test_setns_by_fd_and_path() -> None:
    host = Syscalls().ns_inode()

    def body() -> None:
        s = Syscalls()
        first = s.ns_inode()
        fd = os.open("/proc/self/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
        s.unshare(abi.CLONE_NEWIPC)
        assert s.ns_inode() != first
        s.setns(fd, abi.CLONE_NEWIPC)
        assert s.ns_inode() == first
        s.unshare(abi.CLONE_NEWIPC)
        s.setns(f"/proc/self/fd/{fd}", 0)
        assert s.ns_inode() == first
        assert errno_of(lambda: s.setns(fd, abi.CLONE_NEWUTS)) == errno.EINVAL
        assert errno_of(lambda: s.setns(9999)) == errno.EBADF
        assert errno_of(lambda: s.setns("/proc/self/ns/nope")) == errno.ENOENT
        # A pidfd joins that process's namespaces of the types asked: here
        # the test process's (nothing is made there afterwards).
        pidfd = s.pidfd_open(os.getppid())
        s.setns(pidfd, abi.CLONE_NEWIPC)
        assert s.ns_inode() == host
        os.close(pidfd)

    run_in_new_ns(body)


def test_pidfd_open() -> None:
    s = Syscalls()
    fd = s.pidfd_open(os.getpid())
    os.close(fd)
    assert errno_of(lambda: s.pidfd_open(-1)) == errno.EINVAL


def test_unshare_errors() -> None:
    def body() -> int:
        return errno_of(lambda: Syscalls().unshare(abi.CLONE_PIDFD | abi.CLONE_NEWIPC))

    assert run_in_new_ns(body) == errno.EINVAL


# --------------------------------------------------------------------------
# Credentials and limits


def _status_caps() -> dict[str, int]:
    caps: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Cap"):
            name, value = line.split(":")
            caps[name] = int(value, 16)
    return caps


def test_capabilities() -> None:
    caps = _status_caps()
    assert Syscalls().capabilities() == (caps["CapEff"], caps["CapPrm"], caps["CapInh"])

    def body() -> tuple[int, int, int]:
        s = Syscalls()
        eff, prm, _ = s.capabilities()
        s.set_capabilities(eff & ~(1 << abi.CAP_IPC_OWNER), prm)
        return s.capabilities()

    eff, prm, inh = run_in_new_ns(body)
    assert eff == caps["CapEff"] & ~(1 << abi.CAP_IPC_OWNER)
    assert (prm, inh) == (caps["CapPrm"], 0)


def test_credentials() -> None:
    assert Syscalls().getresuid() == os.getresuid()

    def body() -> None:
        s = Syscalls()
        q = s.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
        s.setgroups([1, 2])
        assert sorted(os.getgroups()) == [1, 2]
        s.setresgid(1000, 1000, 1000)
        s.setresuid(1000, 1000, -1)
        assert s.getresuid() == (1000, 1000, 0)
        assert os.getresgid() == (1000, 1000, 1000)
        s.setresuid(-1, -1, 1000)
        assert s.capabilities() == (0, 0, 0)
        assert errno_of(lambda: s.msgctl_stat(q, abi.IPC_STAT)) == errno.EACCES
        assert errno_of(lambda: s.msgctl(q, abi.IPC_RMID)) == errno.EPERM
        assert errno_of(lambda: s.setresuid(0, 0, 0)) == errno.EPERM
        assert errno_of(lambda: s.setgroups([])) == errno.EPERM

    run_in_new_ns(body)


def test_rlimits() -> None:
    s = Syscalls()
    assert s.getrlimit(abi.RLIMIT_MSGQUEUE) == resource.getrlimit(abi.RLIMIT_MSGQUEUE)
    assert s.getrlimit(resource.RLIMIT_CPU)[1] == -1  # RLIM_INFINITY
    assert errno_of(lambda: s.getrlimit(999)) == errno.EINVAL

    def body() -> tuple[int, int]:
        t = Syscalls()
        t.setrlimit(resource.RLIMIT_CPU, 1000, -1)
        assert t.getrlimit(resource.RLIMIT_CPU) == (1000, -1)
        t.setrlimit(resource.RLIMIT_CPU, 1000, 2000)
        t.setrlimit(abi.RLIMIT_MSGQUEUE, 0, 0)
        t.setresuid(1000, 1000, 1000)
        assert errno_of(lambda: t.setrlimit(resource.RLIMIT_CPU, 1000, 3000)) == errno.EPERM
        assert errno_of(lambda: t.setrlimit(resource.RLIMIT_CPU, 2001, 2000)) == errno.EINVAL
        return t.getrlimit(resource.RLIMIT_CPU)

    assert run_in_new_ns(body) == (1000, 2000)


def test_set_pdeathsig() -> None:
    def body() -> int:
        syscalls.set_pdeathsig(abi.SIGTERM)
        sig = ctypes.c_int()
        assert syscalls.prctl(abi.PR_GET_PDEATHSIG, ctypes.addressof(sig)) == 0
        return sig.value

    assert run_in_new_ns(body) == abi.SIGTERM
    assert errno_of(lambda: syscalls.prctl(-1)) == errno.EINVAL


# --------------------------------------------------------------------------
# Files and mounts


def test_files(tmp_path: Path) -> None:
    s = Syscalls()
    path = str(tmp_path / "f")
    s.creat(path, 0o640)
    assert os.stat(path).st_mode & 0o777 == 0o640 & ~_umask()
    s.write_file(path, b"hello world")
    assert s.read_file(path) == b"hello world"
    fd = s.open(path, os.O_RDONLY)
    assert s.read(fd, 5) == b"hello"
    assert s.read(fd) == b" world"
    s.close(fd)
    assert errno_of(lambda: s.close(fd)) == errno.EBADF
    s.creat(str(tmp_path / "b"))
    s.creat(str(tmp_path / "a"))
    assert s.listdir(str(tmp_path)) == ["a", "b", "f"]
    s.unlink(path)
    with pytest.raises(FileNotFoundError) as info:
        s.unlink(path)
    assert info.value.filename is None
    assert errno_of(lambda: s.read_file(path)) == errno.ENOENT
    assert errno_of(lambda: s.write_file(path, b"")) == errno.ENOENT
    assert errno_of(lambda: s.listdir(path)) == errno.ENOENT
    assert errno_of(lambda: s.open(path)) == errno.ENOENT


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_sysctl_in_new_namespace() -> None:
    def body() -> int:
        s = Syscalls()
        s.write_file("/proc/sys/kernel/msgmni", b"77\n")
        assert s.read_file("/proc/sys/kernel/msgmni") == b"77\n"
        return s.msgctl_info(abi.IPC_INFO).msgmni

    assert run_in_new_ns(body) == 77


def test_mount_mqueue(tmp_path: Path) -> None:
    where = str(tmp_path)

    def body() -> None:
        s = Syscalls()
        s.mount_mqueue(where)
        try:
            mqd = s.mq_open("/seen", RW_CREATE, 0o600, SMALL)
            s.mq_send(mqd, b"12345")
            assert s.listdir(where) == ["seen"]
            assert s.read_file(f"{where}/seen").startswith(b"QSIZE:5 ")
            s.creat(f"{where}/made", 0o600)
            made = s.mq_open("/made", os.O_RDWR)
            assert s.mq_getattr(made).curmsgs == 0
            s.unlink(f"{where}/seen")
            assert errno_of(lambda: s.mq_open("/seen", os.O_RDWR)) == errno.ENOENT
        finally:
            s.umount(where)
        assert " mqueue " not in s.read_file("/proc/self/mountinfo").decode()
        assert errno_of(lambda: s.umount(where)) == errno.EINVAL
        assert errno_of(lambda: syscalls.umount2("/nonexistent/x")) == errno.ENOENT

    run_in_new_ns(body, abi.CLONE_NEWIPC | abi.CLONE_NEWNS)
