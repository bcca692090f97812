"""The Linux backend: tasks are helper processes that never touch the caller."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import pytest

import ipcns
from ipcns import abi
from ipcns.linux.kernel import LinuxKernel, LinuxTask
from tests.support import gone, python_env


@pytest.fixture
def kernel() -> Iterator[LinuxKernel]:
    k = LinuxKernel()
    try:
        yield k
    finally:
        k.close()


@pytest.fixture
def task(kernel: LinuxKernel) -> LinuxTask:
    """A task alone in a fresh IPC namespace."""
    t = kernel.spawn()
    t.unshare(abi.CLONE_NEWIPC)
    return t


def own_ns() -> int:
    return os.stat("/proc/self/ns/ipc").st_ino


def test_kernel_factory_gives_linux() -> None:
    k = ipcns.kernel("linux")
    try:
        assert k.name == "linux"
        assert k.spawn().ns_inode() == own_ns()
    finally:
        k.close()


def test_unknown_kernel_is_a_clear_error() -> None:
    with pytest.raises(ipcns.InvalidSpec, match="unknown kernel 'bsd'"):
        ipcns.kernel("bsd")


def test_unshare_moves_the_task_not_the_caller(kernel: LinuxKernel) -> None:
    before = own_ns()
    t = kernel.spawn()
    assert t.ns_inode() == before
    t.unshare(abi.CLONE_NEWIPC)
    assert t.ns_inode() != before
    assert own_ns() == before
    assert t.pid != os.getpid()


def test_fork_honours_clone_flags(task: LinuxTask) -> None:
    same = task.fork(0)
    assert same.ns_inode() == task.ns_inode()
    new = task.fork(abi.CLONE_NEWIPC)
    assert new.ns_inode() not in (task.ns_inode(), own_ns())
    with pytest.raises(OSError) as exc:
        task.fork(abi.CLONE_NEWIPC | abi.CLONE_SYSVSEM)
    assert exc.value.errno == errno.EINVAL


def test_errors_come_back_with_their_errno(task: LinuxTask) -> None:
    with pytest.raises(FileNotFoundError):
        task.msgget(0x1234, 0)
    with pytest.raises(OSError) as exc:
        task.shmat(12345)
    assert exc.value.errno == errno.EINVAL


def test_setns_by_path_and_by_task(kernel: LinuxKernel, task: LinuxTask) -> None:
    other = kernel.spawn()
    other.setns(task)
    assert other.ns_inode() == task.ns_inode()
    third = kernel.spawn()
    third.setns(f"/proc/{task.pid}/ns/ipc", abi.CLONE_NEWIPC)
    assert third.ns_inode() == task.ns_inode()
    fd = third.open("/proc/self/ns/mnt")
    with pytest.raises(OSError) as exc:
        third.setns(fd, abi.CLONE_NEWIPC)
    assert exc.value.errno == errno.EINVAL


def test_objects_are_seen_only_in_their_namespace(kernel: LinuxKernel, task: LinuxTask) -> None:
    key = 0x5EED
    msqid = task.msgget(key, abi.IPC_CREAT | 0o600)
    task.msgsnd(msqid, 7, b"hello")
    sibling = task.fork(0)
    assert sibling.msgget(key, 0) == msqid
    assert sibling.msgrcv(msqid, 64) == (7, b"hello")
    stranger = task.fork(abi.CLONE_NEWIPC)
    with pytest.raises(FileNotFoundError):
        stranger.msgget(key, 0)


def test_a_blocked_call_blocks_only_its_thread(task: LinuxTask) -> None:
    msqid = task.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
    receiver = task.fork(0)
    got: list[tuple[int, bytes]] = []
    thread = threading.Thread(target=lambda: got.append(receiver.msgrcv(msqid, 64, 3)))
    thread.start()
    time.sleep(0.1)
    assert thread.is_alive() and not got  # blocked in msgrcv
    task.msgsnd(msqid, 3, b"wake")  # another task, from this thread, is free
    thread.join(5)
    assert got == [(3, b"wake")]


def test_exit_releases_sem_undo(task: LinuxTask) -> None:
    semid = task.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
    child = task.fork(0)
    child.semop(semid, [(0, 1, abi.SEM_UNDO)])
    assert task.semctl(semid, 0, abi.GETVAL) == 1
    child.exit()
    assert not child.alive
    assert task.semctl(semid, 0, abi.GETVAL) == 0
    with pytest.raises(ProcessLookupError):
        child.ns_inode()


def test_clone_sysvsem_shares_the_undo_list(task: LinuxTask) -> None:
    semid = task.semget(abi.IPC_PRIVATE, 1, abi.IPC_CREAT | 0o600)
    parent = task.fork(0)
    child = parent.fork(abi.CLONE_SYSVSEM)
    child.semop(semid, [(0, 2, abi.SEM_UNDO)])
    child.exit()  # the list is shared with the parent: nothing is undone yet
    assert task.semctl(semid, 0, abi.GETVAL) == 2
    parent.exit()
    assert task.semctl(semid, 0, abi.GETVAL) == 0


def test_credentials_are_the_tasks_own(task: LinuxTask) -> None:
    msqid = task.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
    user = task.fork(0)
    user.setresgid(65534, 65534, 65534)
    user.setresuid(65534, 65534, 65534)
    assert user.getresuid() == (65534, 65534, 65534)
    with pytest.raises(PermissionError):
        user.msgrcv(msqid, 64, 0, abi.IPC_NOWAIT)
    assert os.getresuid() == (0, 0, 0)


def test_mqueue_mount_belongs_to_the_mounting_tasks_namespace(
        task: LinuxTask, tmp_path: object) -> None:
    mnt = str(tmp_path)
    task.unshare(abi.CLONE_NEWNS)
    task.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE)
    task.mount_mqueue(mnt)
    fd = task.mq_open("/q1", abi.O_CREAT | abi.O_RDWR, 0o600, ipcns._types.MqAttr(maxmsg=2,
                                                                               msgsize=16))
    task.mq_send(fd, b"abc", 1)
    assert task.listdir(mnt) == ["q1"]
    assert task.read_file(mnt + "/q1").startswith(b"QSIZE:3 ")
    task.umount(mnt)
    assert task.listdir(mnt) == []
    assert os.listdir(mnt) == []  # the caller never saw the mount


def test_adopt_fd_passes_a_descriptor(kernel: LinuxKernel, task: LinuxTask) -> None:
    fd = os.open(f"/proc/{task.pid}/ns/ipc", os.O_RDONLY)
    try:
        other = kernel.spawn()
        there = other.adopt_fd(fd)
        other.setns(there, abi.CLONE_NEWIPC)
        assert other.ns_inode() == task.ns_inode()
    finally:
        os.close(fd)


HOLDER_SCRIPT = textwrap.dedent("""
    import os, sys, threading
    from ipcns import abi
    from ipcns.linux.kernel import LinuxKernel
    k = LinuxKernel()
    a = k.spawn(); a.unshare(abi.CLONE_NEWIPC)
    q = a.msgget(abi.IPC_PRIVATE, abi.IPC_CREAT | 0o600)
    b = a.fork(abi.CLONE_NEWIPC)
    threading.Thread(target=a.msgrcv, args=(q, 16), daemon=True).start()
    print(a.pid, b.pid, flush=True)
    sys.stdin.read()
""")


def test_helpers_die_with_the_caller_even_by_sigkill() -> None:
    env = python_env()
    with subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as proc:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        assert not any(gone(p) for p in pids)
        proc.kill()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(gone(p) for p in pids):
        time.sleep(0.02)
    assert [p for p in pids if not gone(p)] == []


def test_a_thread_task_has_its_own_namespace(task: LinuxTask) -> None:
    before = task.ns_inode()
    thread = task.thread()
    assert thread.pid == task.pid and thread.tid != task.tid
    thread.unshare(abi.CLONE_NEWIPC)
    assert thread.ns_inode() != before
    assert task.ns_inode() == before  # the sibling thread stayed
    thread.exit()
    assert task.ns_inode() == before  # and the process goes on


def test_mq_notify_signal_waits_for_sigtimedwait(task: LinuxTask) -> None:
    mqd = task.mq_open("/n", abi.O_CREAT | abi.O_RDWR, 0o600,
                       ipcns._types.MqAttr(maxmsg=2, msgsize=8))
    task.mq_notify(mqd, abi.SIGUSR1)
    assert task.sigtimedwait([abi.SIGUSR1], 0.01) is None
    sender = task.fork(0)
    sender.mq_send(mqd, b"x")
    info = task.sigtimedwait([abi.SIGUSR1], 5)
    assert info is not None
    assert (info.signo, info.code, info.pid) == (abi.SIGUSR1, -3, sender.pid)  # SI_MESGQ
    assert task.alive


def test_setns_by_pid(kernel: LinuxKernel, task: LinuxTask) -> None:
    from ipcns.contract import Pid

    other = kernel.spawn()
    other.setns(Pid(task.pid))
    assert other.ns_inode() == task.ns_inode()
    with pytest.raises(ProcessLookupError):
        other.setns(Pid(999_999_999))
