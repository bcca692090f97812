"""``ipcns exec`` and ``ipcns unshare``: commands inside namespaces, as
child processes (they replace the process that runs them)."""

from __future__ import annotations

import os

import ipcns
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, assert_one_line_error, nsenter, run_child


def test_exec_sees_exactly_the_namespaces_posix_queues(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    for queue in ("/alpha", "/beta"):
        assert cli("mk", name, "-q", queue).code == 0
    res = run_child("exec", name, "--", "ls", "/dev/mqueue")
    assert res.code == 0, res.err
    assert res.out.split() == sorted(q.name.lstrip("/") for q in named_ns.snapshot().posix_queues)
    assert res.out.split() == ["alpha", "beta"]
    # and its SysV objects, as util-linux's ipcs sees them from inside
    nsenter(named_ns.path or "", "ipcmk", "-Q")
    res = run_child("exec", named_ns.path or "", "--", "sh", "-c",
                    "readlink /proc/self/ns/ipc; ipcs -q | grep -c '^0x'")
    assert res.out.split() == [f"ipc:[{named_ns.inode}]", "1"]


def test_exec_passes_the_commands_status_and_errors(named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert run_child("exec", name, "--", "sh", "-c", "exit 7").code == 7
    res = run_child("exec", name, "--", "/no/such/command")
    assert res.code == 127 and res.err.startswith("ipcns: cannot run /no/such/command")
    assert_one_line_error(run_child("exec", "no-such-ns", "--", "true"), 1)


def test_exec_into_a_util_linux_namespace_file(ul_ns: str) -> None:
    res = run_child("exec", ul_ns, "--", "readlink", "/proc/self/ns/ipc")
    assert res.out == f"ipc:[{os.stat(ul_ns).st_ino}]\n"


def test_unshare_runs_in_a_fresh_namespace() -> None:
    res = run_child("unshare", "--", "sh", "-c",
                    "readlink /proc/self/ns/ipc; ipcmk -Q; ls -A /dev/mqueue | wc -l")
    assert res.code == 0, res.err
    inode, made, queues = res.out.splitlines()
    assert inode != f"ipc:[{os.stat('/proc/self/ns/ipc').st_ino}]"
    assert made == "Message queue id: 0" and queues.strip() == "0"
    assert run_child("unshare", "--", "sh", "-c", "exit 3").code == 3


def test_unshare_with_a_name_keeps_the_namespace(ns_name: str) -> None:
    try:
        res = run_child("unshare", "--name", ns_name, "--", "sh", "-c", "ipcmk -Q; exit 5")
        assert res.code == 5 and res.out == "Message queue id: 0\n"
        assert [o.kind for o in ipcns.open(ns_name).objects()] == ["msg"]
    finally:
        if ns_name in ipcns.names():
            ipcns.delete(ns_name)
    assert_one_line_error(run_child("unshare", "--name", "../bad", "--", "true"), 2)
    assert ns_name not in ipcns.names()
