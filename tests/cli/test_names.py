"""Named namespaces, ``ip netns`` style: add, delete, identify, pids."""

from __future__ import annotations

import os
import subprocess

import ipcns
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, assert_one_line_error, nsenter


def test_add_then_delete(cli: Cli, ns_name: str) -> None:
    try:
        res = cli("add", ns_name)
        assert (res.code, res.out, res.err) == (0, "", "")
        assert ns_name in ipcns.names()
        # util-linux enters it by its path
        assert nsenter(f"/run/ipcns/{ns_name}", "ipcmk", "-Q") == "Message queue id: 0\n"
        assert_one_line_error(cli("add", ns_name), 1)
    finally:
        res = cli("delete", ns_name)
    assert res.code == 0 and ns_name not in ipcns.names()


def test_bad_names_make_nothing(cli: Cli) -> None:
    before = ipcns.names()
    for bad in ("../x", "a/b", ".", "..", "123", "-x", "x" * 65, ""):
        assert_one_line_error(cli("add", bad), 2)
    assert ipcns.names() == before
    assert os.listdir("/run/ipcns") == before if os.path.isdir("/run/ipcns") else True


def test_delete_checks_every_name_first(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert_one_line_error(cli("delete", name, "no-such-name"), 1)
    assert name in ipcns.names()
    assert_one_line_error(cli("delete", "../etc"), 2)


def test_identify_and_pids(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    proc = named_ns.popen(["sleep", "30"])
    try:
        # wait for the command to have joined
        for _ in range(300):
            if os.stat(f"/proc/{proc.pid}/ns/ipc").st_ino == named_ns.inode and \
                    os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep"):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert cli("identify", str(proc.pid)).out == f"{name}\n"
        assert cli("identify", f"pid:{proc.pid}").out == f"{name}\n"
        own = os.stat("/proc/self/ns/ipc").st_ino
        assert cli("identify").out == f"ipc:[{own}]\n"
        res = cli("pids", name)
        assert res.lines()[0].split() == ["PID", "COMMAND"]
        assert res.lines()[1].split() == [str(proc.pid), "sleep", "30"]
        assert cli("pids", name, "-n", "-o", "PID").out == f"{proc.pid}\n"
        assert cli("pids", name, "-J", "-o", "PID,COMM").json() == {
            "processes": [{"pid": proc.pid, "comm": "sleep"}]}
    finally:
        proc.kill()
        proc.wait()
    assert_one_line_error(cli("identify", "999999999"), 1)
    assert_one_line_error(cli("identify", "abc"), 2)
    assert_one_line_error(cli("pids", "no-such-name"), 1)
