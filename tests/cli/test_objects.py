"""``ipcns mk`` and ``ipcns rm``: objects made and removed from outside."""

from __future__ import annotations

import re

import pytest

import ipcns
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, assert_one_line_error, nsenter


def _kinds(ns: Namespace) -> list[str]:
    return sorted(o.kind for o in ns.objects())


def test_mk_objects_show_in_util_linux_ipcs(cli: Cli, named_ns: Namespace) -> None:
    path = named_ns.path or ""
    res = cli("mk", named_ns.name or "", "-M", "1M", "-Q", "-S", "3", "-q", "/work",
              "--key", "0x1234abcd", "-p", "600")
    assert res.code == 0, res.err
    # ipcmk's lines, in ipcmk's order
    assert re.fullmatch(r"Shared memory id: \d+\nMessage queue id: \d+\nSemaphore id: \d+\n"
                        r"POSIX message queue name: /work\n", res.out), res.out
    ipcs = nsenter(path, "ipcs")
    assert ipcs.count("0x1234abcd") == 3
    shm_line = next(line for line in nsenter(path, "ipcs", "-m").splitlines()
                    if "0x1234abcd" in line)
    assert shm_line.split()[3:5] == ["600", str(1 << 20)]
    sem_line = next(line for line in nsenter(path, "ipcs", "-s").splitlines()
                    if "0x1234abcd" in line)
    assert sem_line.split()[-1] == "3"
    assert _kinds(named_ns) == ["mqueue", "msg", "sem", "shm"]


def test_mk_default_key_is_random_and_private_is_zero(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    for _ in range(3):
        assert cli("mk", name, "-Q").code == 0
    assert cli("mk", name, "-Q", "--private").code == 0
    keys = [m.key for m in ipcns.open(name).snapshot().msg_queues]
    assert len(keys) == 4 and keys.count(0) == 1 and len(set(keys)) == 4


def test_mk_into_a_namespace_only_a_process_holds(cli: Cli) -> None:
    ns, proc = ipcns.spawn(["sleep", "30"])
    try:
        res = cli("mk", f"pid:{proc.pid}", "-Q")
        assert res.out == "Message queue id: 0\n"
        assert [o.kind for o in ns.objects()] == ["msg"]
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("argv", [
    ["-M", "-5"], ["-M", "0"], ["-M", "12XB"], ["-Q", "--key", "0xZZ"],
    ["-Q", "--key", "0x1ffffffff"], ["-S", "0"], ["-Q", "-p", "999"], ["-q", "/a/b"],
    ["-Q", "--key", "5", "--private"], [], ["-Q", "--maxmsg", "4"],
])
def test_bad_mk_input_is_one_line_and_makes_nothing(cli: Cli, named_ns: Namespace,
                                                    argv: list[str]) -> None:
    assert_one_line_error(cli("mk", named_ns.name or "", *argv), 2)
    assert named_ns.objects() == []


def test_mk_failing_midway_removes_what_it_made(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert cli("mk", name, "-S", "1", "--key", "0x42").code == 0
    # the segment and the queue are made, then the set's key is taken
    res = cli("mk", name, "-M", "4K", "-Q", "-S", "1", "--key", "0x42")
    assert_one_line_error(res, 1)
    assert "semaphore set" in res.err and "0x00000042 already exists" in res.err
    assert _kinds(named_ns) == ["sem"]
    # a kernel limit: more semaphores than semmsl
    assert cli("limits", name, "semmsl=2").code == 0
    res = cli("mk", name, "-Q", "-S", "3")
    assert_one_line_error(res, 1)
    assert "semmsl" in res.err
    assert _kinds(named_ns) == ["sem"]


def test_mk_in_an_unknown_namespace(cli: Cli) -> None:
    assert_one_line_error(cli("mk", "no-such-ns", "-Q"), 1)
    assert_one_line_error(cli("mk", "ipc:[1]", "-Q"), 1)


def test_rm_by_id_key_and_name_like_ipcrm(cli: Cli, named_ns: Namespace) -> None:
    path, name = named_ns.path or "", named_ns.name or ""
    nsenter(path, "ipcmk", "-Q")  # id 0
    assert cli("mk", name, "-Q", "--key", "0x10").code == 0  # id 1
    assert cli("mk", name, "-M", "4K", "--key", "0x20").code == 0
    assert cli("mk", name, "-S", "1", "--key", "30").code == 0
    assert cli("mk", name, "-S", "1").code == 0
    assert cli("mk", name, "-q", "/q1").code == 0
    res = cli("rm", name, "-q", "0", "-Q", "0x10", "-M", "0x20", "-S", "30", "--mqueue", "q1",
              "-v")
    assert res.code == 0, res.err
    assert res.lines() == ["removing message queue id 0", "removing message queue id 1",
                           "removing shared memory segment id 0", "removing semaphore set id 0",
                           "removing POSIX message queue /q1"]
    assert nsenter(path, "ipcs", "-q").count("0x") == 0
    assert _kinds(named_ns) == ["sem"]
    # a missing object: one line for it, the others still go, status 1
    res = cli("rm", name, "-q", "7", "-s", "1")
    assert res.code == 1 and res.err == "ipcns: invalid id: no message queue id 7\n"
    assert _kinds(named_ns) == []
    res = cli("rm", name, "-Q", "0x99")
    assert_one_line_error(res, 1)
    assert "0x00000099" in res.err


def test_rm_all_of_some_kinds(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert cli("mk", name, "-Q", "-S", "1", "-M", "1K", "-q", "/a").code == 0
    assert cli("mk", name, "-Q", "-q", "/b").code == 0
    assert cli("rm", name, "-a", "msg", "-a", "mqueue").code == 0
    assert _kinds(named_ns) == ["sem", "shm"]
    assert cli("rm", name, "--all").code == 0
    assert _kinds(named_ns) == []


def test_bad_rm_input_is_a_usage_error(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert cli("mk", name, "-Q", "--key", "0x5").code == 0
    for argv in (["-q", "x"], ["-Q", "0"], ["-Q", "0xZZ"], [], ["-a", "bogus"]):
        assert_one_line_error(cli("rm", name, *argv), 2)
    assert _kinds(named_ns) == ["msg"]
