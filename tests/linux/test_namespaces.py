"""Namespaces as objects: finding, naming, entering and taking inventory.

Every namespace here is made by the test (named ones live in the test
process's private /run, see conftest.py) and is gone when it ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ipcns
from ipcns import abi
from ipcns.linux.kernel import LinuxKernel
from ipcns.linux.namespace import Namespace
from ipcns.linux.syscalls import Syscalls
from tests.support import gone, python_env, sh


@pytest.fixture
def ul_ns(tmp_path: Path) -> Iterator[str]:
    """An IPC namespace made by util-linux: ``unshare --ipc=FILE``."""
    path = str(tmp_path / "ipcns-file")
    Path(path).touch()
    sh("unshare", f"--ipc={path}", "true")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", path], check=False, capture_output=True)


def make_posix_queue(name: str, maxmsg: int, msgsize: int, messages: list[bytes]) -> int:
    sys_ = Syscalls()
    fd = sys_.mq_open(name, abi.O_CREAT | abi.O_RDWR, 0o640,
                      ipcns._types.MqAttr(maxmsg=maxmsg, msgsize=msgsize))
    for i, data in enumerate(messages):
        sys_.mq_send(fd, data, i)
    sys_.close(fd)
    return os.getpid()


def test_util_linux_namespace_shows_exactly_what_was_made(ul_ns: str) -> None:
    keys = {}
    for flag, extra in (("-Q", []), ("-M", ["40000"]), ("-S", ["3"])):
        out = sh("nsenter", f"--ipc={ul_ns}", "ipcmk", flag, *extra)
        ident = int(re.search(r"id: (\d+)", out).group(1))  # type: ignore[union-attr]
        keys[flag] = ident
    ns = ipcns.open(ul_ns)
    ns.call(make_posix_queue, "/ulq", 4, 32, [b"one", b"three"])

    found = {n.inode: n for n in ipcns.namespaces()}
    assert ns.inode in found
    assert found[ns.inode].path == ul_ns

    snap = ns.snapshot()
    msgs, sems, shms = snap.msg_queues, snap.sem_sets, snap.shm_segments
    queues = snap.posix_queues
    assert [m.id for m in msgs] == [keys["-Q"]]
    assert [s.id for s in shms] == [keys["-M"]]
    assert [s.id for s in sems] == [keys["-S"]]
    assert shms[0].size == 40000 and sems[0].nsems == 3
    ipcs = sh("nsenter", f"--ipc={ul_ns}", "ipcs", "-q")
    assert f"0x{msgs[0].key:08x}" in ipcs
    (q,) = queues
    assert (q.name, q.maxmsg, q.msgsize, q.messages, q.qsize, q.mode) == (
        "/ulq", 4, 32, 2, 8, 0o640)
    u = snap.usage
    assert (u.msg_queues, u.sem_sets, u.used_sems, u.shm_segments, u.mq_queues) == (1, 1, 3, 1, 1)
    assert u.shm_tot == (40000 + 4095) // 4096
    assert snap.limits.shmmni == 4096 and snap.limits.queues_max == 256
    assert ns.usage() == u
    (summary,) = ipcns.summaries([ns])
    assert (summary.inode, summary.usage, summary.mqueue_error) == (ns.inode, u, None)
    assert summary.shm_bytes == 40000
    assert summary.counters() == snap.counters()
    fullest = summary.fullest()
    assert fullest is not None and fullest.name == "mq_queues"  # 1 of 256


def test_named_namespace_lifecycle(ns_name: str) -> None:
    ns = ipcns.create(ns_name)
    try:
        assert ns.name == ns_name and ns.path == f"/run/ipcns/{ns_name}"
        assert ns_name in ipcns.names()
        assert ns.inode != os.stat("/proc/self/ns/ipc").st_ino
        again = ipcns.open(ns_name)
        assert again.inode == ns.inode and again.name == ns_name
        # util-linux enters it by its file
        out = sh("nsenter", f"--ipc=/run/ipcns/{ns_name}", "readlink", "/proc/self/ns/ipc")
        assert out.strip() == f"ipc:[{ns.inode}]"
        sh("nsenter", f"--ipc=/run/ipcns/{ns_name}", "ipcmk", "-Q")
        assert [o.kind for o in ns.objects()] == ["msg"]
        listed = {n.inode: n for n in ipcns.namespaces()}
        assert listed[ns.inode].name == ns_name
        with pytest.raises(ipcns.AlreadyExists, match="already exists"):
            ipcns.create(ns_name)
    finally:
        ipcns.delete(ns_name)
    assert ns_name not in ipcns.names()
    assert ns.inode not in {n.inode for n in ipcns.namespaces()}
    with pytest.raises(ipcns.NamespaceNotFound, match=ns_name):
        ipcns.open(ns_name)
    with pytest.raises(ipcns.NamespaceNotFound):
        ipcns.delete(ns_name)


@pytest.mark.parametrize("bad", ["", "a/b", "..", ".", "-x", "x" * 65, "123", "a b"])
def test_bad_names_are_refused_and_nothing_is_made(bad: str) -> None:
    before = sorted(os.listdir("/run/ipcns")) if os.path.isdir("/run/ipcns") else []
    with pytest.raises(ipcns.InvalidSpec):
        ipcns.create(bad)
    after = sorted(os.listdir("/run/ipcns")) if os.path.isdir("/run/ipcns") else []
    assert after == before


def test_open_accepts_every_spec(named_ns: Namespace) -> None:
    with LinuxKernel() as k:
        t = k.spawn()
        t.setns(named_ns.path or "")
        assert ipcns.open(f"pid:{t.pid}").inode == named_ns.inode
        assert ipcns.open(f"/proc/{t.pid}/ns/ipc").inode == named_ns.inode
        assert ipcns.open(f"ipc:[{named_ns.inode}]").inode == named_ns.inode
        assert ipcns.open(str(named_ns.inode)).inode == named_ns.inode
        assert ipcns.open(named_ns.inode).inode == named_ns.inode
        assert t.pid in ipcns.open(named_ns.inode).pids


@pytest.mark.parametrize(("spec", "error", "message"), [
    ("no-such-ns", ipcns.NamespaceNotFound, "no namespace named 'no-such-ns'"),
    ("/etc/hostname", ipcns.InvalidSpec, "not a namespace file"),
    ("/proc/self/ns/mnt", ipcns.InvalidSpec, "is a mnt namespace, not an IPC namespace"),
    ("/nonexistent/file", ipcns.NamespaceNotFound, "no such file"),
    ("pid:999999999", ipcns.NamespaceNotFound, "no process with pid 999999999"),
    ("pid:abc", ipcns.InvalidSpec, "bad pid"),
    ("ipc:[1]", ipcns.NamespaceNotFound, r"ipc:\[1\]"),
    ("bad/../name", ipcns.NamespaceNotFound, "no such file"),
])
def test_bad_specs_raise_one_clear_error(spec: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as exc:
        ipcns.open(spec)
    assert isinstance(exc.value, ipcns.IpcnsError)
    assert "\n" not in str(exc.value)


def test_run_shows_the_namespaces_own_queues(named_ns: Namespace) -> None:
    named_ns.call(make_posix_queue, "/mine", 2, 16, [])
    out = named_ns.run(["ls", "/dev/mqueue"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["mine"]
    ipcs = named_ns.run(["readlink", "/proc/self/ns/ipc"], capture_output=True, text=True)
    assert ipcs.stdout.strip() == f"ipc:[{named_ns.inode}]"


def test_call_returns_results_and_raises_errors(named_ns: Namespace) -> None:
    assert named_ns.call(os.readlink, "/proc/self/ns/ipc") == f"ipc:[{named_ns.inode}]"
    with pytest.raises(FileNotFoundError):
        named_ns.call(Syscalls().msgget, 0x77, 0)
    key = 0x4242
    assert named_ns.call(lambda: Syscalls().msgget(key, abi.IPC_CREAT | 0o600)) == 0


def test_namespace_held_only_by_a_descriptor_is_found(ns_name: str) -> None:
    with LinuxKernel() as k:
        holder = k.spawn()
        member = k.spawn()
        member.unshare(abi.CLONE_NEWIPC)
        inode = member.ns_inode()
        fd = holder.open(f"/proc/{member.pid}/ns/ipc")
        member.exit()
        found = {n.inode: n for n in ipcns.namespaces()}
        assert inode in found
        info = found[inode].info
        assert info.processes == ()
        assert [(h.how, h.pid, h.fd) for h in info.holders] == [("fd", holder.pid, fd)]
        assert found[inode].objects() == []


def test_bind_mount_in_another_mount_namespace_is_found(tmp_path: Path) -> None:
    target = str(tmp_path / "pin")
    Path(target).touch()
    with LinuxKernel() as k:
        t = k.spawn()
        t.unshare(abi.CLONE_NEWNS)
        t.mount(None, "/", None, abi.MS_REC | abi.MS_PRIVATE)
        t.unshare(abi.CLONE_NEWIPC)
        t.mount("/proc/self/ns/ipc", target, None, abi.MS_BIND)
        inode = t.ns_inode()
        t.setns(f"/proc/{os.getpid()}/ns/ipc", abi.CLONE_NEWIPC)  # leave: the mount holds it
        ns = {n.inode: n for n in ipcns.namespaces()}[inode]
        assert [(h.how, h.path) for h in ns.info.holders] == [
            ("mount", f"/proc/{t.pid}/root{target}")]
        assert ns.objects() == []


THREAD_SCRIPT = textwrap.dedent("""
    import os, sys, threading
    from ipcns import abi
    from ipcns.linux.syscalls import Syscalls
    ready = threading.Event()
    def run():
        Syscalls().unshare(abi.CLONE_NEWIPC)
        print(threading.get_native_id(), os.stat("/proc/thread-self/ns/ipc").st_ino, flush=True)
        ready.set()
        sys.stdin.read()
    threading.Thread(target=run, daemon=True).start()
    ready.wait()
    sys.stdin.read()
""")


def test_a_thread_in_its_own_namespace_is_found() -> None:
    env = python_env()
    with subprocess.Popen([sys.executable, "-c", THREAD_SCRIPT], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            tid, inode = map(int, proc.stdout.readline().split())
            ns = ipcns.open(inode)
            assert [(p.pid, p.tid) for p in ns.info.processes] == [(proc.pid, tid)]
            assert ns.pids == [proc.pid]
        finally:
            proc.kill()


def test_inventory_hops_through_every_namespace(ns_name: str) -> None:
    made = []
    try:
        for i in range(3):
            ns = ipcns.create(f"{ns_name}-{i}")
            made.append(ns)
            for _ in range(i):
                sh("nsenter", f"--ipc={ns.path}", "ipcmk", "-S", "2")
        snaps = {s.inode: s for s in ipcns.inventory()}
        for i, ns in enumerate(made):
            assert snaps[ns.inode].usage.sem_sets == i
            assert snaps[ns.inode].usage.used_sems == 2 * i
        assert os.stat("/proc/self/ns/ipc").st_ino in snaps
    finally:
        for ns in made:
            ipcns.delete(ns.name or "")


def test_owner_user_namespace_is_reported(named_ns: Namespace) -> None:
    info = ipcns.open(named_ns.inode).info
    assert info.owner_userns == os.stat("/proc/self/ns/user").st_ino
    assert info.owner_uid == 0


UNPRIVILEGED = textwrap.dedent("""
    import sys
    from ipcns import abi
    from ipcns.linux.syscalls import Syscalls
    s = Syscalls()
    eff, perm, inh = s.capabilities()
    drop = ~(1 << abi.CAP_SYS_ADMIN)
    s.set_capabilities(eff & drop, perm & drop, inh & drop)
    import ipcns
    for what in (lambda: ipcns.create("np-test"), lambda: ipcns.open(sys.argv[1]).objects()):
        try:
            what()
        except ipcns.IpcnsError as err:
            print(type(err).__name__, err)
""")


def test_missing_privilege_is_named(named_ns: Namespace) -> None:
    env = python_env()
    out = subprocess.run([sys.executable, "-c", UNPRIVILEGED, named_ns.path or ""],
                         capture_output=True, text=True, env=env, check=True)
    lines = out.stdout.splitlines()
    assert len(lines) == 2, out
    assert all(line.startswith("PrivilegeError ") and "CAP_SYS_ADMIN" in line for line in lines)
    assert "np-test" not in ipcns.names()


def test_spawn_runs_the_command_after_setup(ns_name: str) -> None:
    def setup(ns: Namespace) -> None:
        ns.call(make_posix_queue, "/ready", 2, 16, [b"hi"])
        ns.call(lambda: Syscalls().msgget(0x1CE, abi.IPC_CREAT | 0o644))

    ns, proc = ipcns.spawn(["sh", "-c", "ls /dev/mqueue; ipcs -q | grep -c 0x000001ce"],
                           setup=setup, name=ns_name, stdout=subprocess.PIPE, text=True)
    try:
        out, _ = proc.communicate(timeout=10)
        assert out.split() == ["ready", "1"]
        assert proc.returncode == 0
        assert ns.name == ns_name and ns_name in ipcns.names()
        # the name keeps the namespace (and its objects) after the command
        assert {o.kind for o in ipcns.open(ns_name).objects()} == {"msg", "mqueue"}
    finally:
        ipcns.delete(ns_name)


def test_spawn_never_runs_the_command_when_setup_fails(ns_name: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"

    def setup(ns: Namespace) -> None:
        raise RuntimeError("setup broke")

    with pytest.raises(RuntimeError, match="setup broke"):
        ipcns.spawn(["touch", str(marker)], setup=setup, name=ns_name)
    time.sleep(0.1)
    assert not marker.exists()
    assert ns_name not in ipcns.names()


ABANDON = textwrap.dedent("""
    import os, sys
    import ipcns
    def setup(ns):
        print(ns.pids[0], flush=True)
        os._exit(0)  # the parent dies before releasing the child
    ipcns.spawn(["touch", sys.argv[1]], setup=setup)
""")


def test_spawned_child_gives_up_when_the_parent_dies(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    env = python_env()
    out = subprocess.run([sys.executable, "-c", ABANDON, str(marker)], capture_output=True,
                         text=True, env=env, check=True)
    child = int(out.stdout)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not gone(child):
        time.sleep(0.02)
    assert gone(child)
    assert not marker.exists()
