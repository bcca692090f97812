"""``ipcns ipcs``: objects like lsipc, for one namespace, several or all."""

from __future__ import annotations

import os
import re
import sys

from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, nsenter, run_child


def _id(out: str) -> int:
    m = re.search(r"id: (\d+)", out)
    assert m, out
    return int(m.group(1))


def test_util_linux_objects_show_in_ipcs(cli: Cli, named_ns: Namespace) -> None:
    path = named_ns.path or ""
    msqid = _id(nsenter(path, "ipcmk", "-Q"))
    shmid = _id(nsenter(path, "ipcmk", "-M", "64K", "-p", "600"))
    semid = _id(nsenter(path, "ipcmk", "-S", "2"))
    res = cli("ipcs", named_ns.name or "", "--json")
    assert res.code == 0, res.err
    doc = res.json()
    assert set(doc) == {"messages", "semaphores", "sharedmemory", "posix-messages"}
    (msg,) = doc["messages"]
    assert (msg["ns"], msg["id"], msg["perms"], msg["owner"], msg["usedbytes"], msg["msgs"]) \
        == (named_ns.inode, msqid, "rw-r--r--", "root", 0, 0)
    # the key is the one util-linux's ipcs shows
    assert msg["key"] in nsenter(path, "ipcs", "-q")
    (shm,) = doc["sharedmemory"]
    assert (shm["id"], shm["size"], shm["perms"], shm["nattch"]) == (shmid, 65536, "rw-------", 0)
    (sem,) = doc["semaphores"]
    assert (sem["id"], sem["nsems"]) == (semid, 2)
    # lsipc's column names and default columns
    table = cli("ipcs", named_ns.name or "", "-q").lines()
    assert table[0].split() == ["NS", "KEY", "ID", "PERMS", "OWNER", "USEDBYTES", "MSGS",
                                "LSPID", "LRPID"]
    assert table[1].split()[:3] == [str(named_ns.inode), msg["key"], str(msqid)]
    table = cli("ipcs", named_ns.name or "", "-m", "-o", "KEY,SIZE", "--bytes").lines()
    assert table[1].split() == [shm["key"], "65536"]


def test_ipcs_all_names_each_rows_namespace(cli: Cli, named_ns: Namespace, ul_ns: str) -> None:
    nsenter(named_ns.path or "", "ipcmk", "-Q")
    nsenter(ul_ns, "ipcmk", "-Q")
    nsenter(ul_ns, "ipcmk", "-Q")
    rows = cli("ipcs", "--all", "-q", "--json", "-o", "NS,NSNAME,ID").json()["messages"]
    mine = [r for r in rows if r["ns"] in (named_ns.inode, os.stat(ul_ns).st_ino)]
    assert sorted((r["ns"], r["nsname"], r["id"]) for r in mine) == sorted([
        (named_ns.inode, named_ns.name, 0),
        (os.stat(ul_ns).st_ino, None, 0), (os.stat(ul_ns).st_ino, None, 1)])
    # several namespaces at once
    two = cli("ipcs", named_ns.name or "", ul_ns, "-q", "-J").json()["messages"]
    assert len(two) == 3


def test_posix_queues_are_listed(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    assert cli("mk", name, "-q", "/jobs", "--maxmsg", "4", "--msgsize", "64", "-p", "640").code == 0
    (q,) = cli("ipcs", name, "-Q", "-J").json()["posix-messages"]
    assert (q["name"], q["perms"], q["msgs"], q["maxmsg"], q["msgsize"], q["usedbytes"]) == \
        ("/jobs", "rw-r-----", 0, 4, 64, 0)
    lines = cli("ipcs", name).out.split("------ POSIX Message Queues --------")[1].splitlines()
    assert "/jobs" in lines[2]


def test_output_columns_must_fit_every_chosen_kind(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    res = cli("ipcs", name, "-o", "SIZE")
    assert res.code == 2 and "SIZE" in res.err and "PERMS" in res.err
    res = cli("ipcs", name, "-o", "NS,PERMS", "-n")
    assert res.code == 0
    res = cli("ipcs", name, "-m", "-o", "help")
    assert res.code == 0 and "NATTCH" in res.out


def test_a_util_linux_namespace_file_is_accepted_wherever_ns_is(cli: Cli, ul_ns: str) -> None:
    inode = os.stat(ul_ns).st_ino
    assert cli("mk", ul_ns, "-Q", "--key", "0x77").out == "Message queue id: 0\n"
    assert "0x00000077" in nsenter(ul_ns, "ipcs", "-q")
    assert cli("ipcs", ul_ns, "-q", "-J").json()["messages"][0]["ns"] == inode
    assert cli("show", ul_ns, "-J").json()["nsfs"] == [ul_ns]
    assert cli("limits", ul_ns, "msgmni=77").code == 0
    assert "77" in nsenter(ul_ns, "cat", "/proc/sys/kernel/msgmni")
    assert cli("limits", ul_ns, "-J").json()["limits"][6]["value"] == 77
    assert cli("pids", ul_ns, "-J").json() == {"processes": []}
    assert cli("rm", ul_ns, "-Q", "0x77").code == 0
    assert cli("ipcs", ul_ns, "-q", "-J").json()["messages"] == []
    # and as ipc:[N], a bare inode, and by a member's pid
    assert cli("show", f"ipc:[{inode}]", "-J").json()["ns"] == inode
    assert cli("show", str(inode), "-J").json()["ns"] == inode
    assert cli("show", f"pid:{os.getpid()}", "-J").json()["ns"] == os.stat(
        "/proc/self/ns/ipc").st_ino


def test_ipcs_without_ns_shows_the_callers_own(cli: Cli, named_ns: Namespace) -> None:
    nsenter(named_ns.path or "", "ipcmk", "-Q", "-p", "600")
    res = run_child("exec", named_ns.name or "", "--", sys.executable, "-m", "ipcns.cli",
                    "ipcs", "-q", "-J", "-o", "NS,PERMS")
    assert res.code == 0, res.err
    assert res.json() == {"messages": [{"ns": named_ns.inode, "perms": "rw-------"}]}
