"""``ipcns list`` and ``ipcns show``: every namespace, and one in full."""

from __future__ import annotations

import json
import os
import subprocess

import ipcns
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, nsenter


def test_list_shows_every_namespace_lsns_shows(cli: Cli, named_ns: Namespace,
                                               ul_ns: str) -> None:
    # A namespace held only by a process, one by a name, one by a util-linux file.
    proc = subprocess.Popen(["unshare", "--ipc", "sleep", "30"])
    try:
        # wait until the child has its namespace (sleep has been executed)
        for _ in range(200):
            if os.readlink(f"/proc/{proc.pid}/exe").endswith("sleep"):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        lsns = json.loads(subprocess.run(["lsns", "-J", "-t", "ipc"], check=True,
                                         capture_output=True, text=True).stdout)
        res = cli("list", "--json")
        assert res.code == 0, res.err
        listed = {row["ns"]: row for row in res.json()["namespaces"]}
        lsns_inodes = {int(n["ns"]) for n in lsns["namespaces"]}
        assert lsns_inodes <= set(listed)
        proc_ns = os.stat(f"/proc/{proc.pid}/ns/ipc").st_ino
        assert proc_ns in lsns_inodes
        assert listed[proc_ns]["pid"] == proc.pid and listed[proc_ns]["nprocs"] == 1
        assert named_ns.inode in listed and os.stat(ul_ns).st_ino in listed
    finally:
        proc.kill()
        proc.wait()


def test_list_counts_what_each_namespace_holds(cli: Cli, named_ns: Namespace,
                                               ul_ns: str) -> None:
    path = named_ns.path or ""
    nsenter(path, "ipcmk", "-Q")
    nsenter(path, "ipcmk", "-Q")
    nsenter(path, "ipcmk", "-M", "8192")
    nsenter(path, "ipcmk", "-S", "4")
    assert cli("mk", path, "-q", "/lq").code == 0
    res = cli("list", "--json", "-o", "NS,NAME,NSFS,MSGQ,SEMSETS,SEMS,SHMSEGS,SHMBYTES,POSIXMQ,"
              "USE%,FULLEST,HOLDER")
    rows = {r["ns"]: r for r in res.json()["namespaces"]}
    row = rows[named_ns.inode]
    assert row == {"ns": named_ns.inode, "name": named_ns.name, "nsfs": [path], "msgq": 2,
                   "semsets": 1, "sems": 4, "shmsegs": 1, "shmbytes": 8192, "posixmq": 1,
                   "use%": row["use%"], "fullest": row["fullest"], "holder": named_ns.name}
    assert isinstance(row["use%"], float) and row["fullest"] in ("queues_max", "shmmni")
    ul = rows[os.stat(ul_ns).st_ino]
    assert (ul["name"], ul["holder"], ul["msgq"], ul["posixmq"]) == (None, ul_ns, 0, 0)
    # a table by default: a header, then one aligned line per namespace
    table = cli("list").lines()
    assert table[0].split()[:3] == ["NS", "NPROCS", "PID"]
    assert any(line.split()[0] == str(named_ns.inode) and named_ns.name in line.split()
               for line in table[1:])


def test_list_marks_the_hosts_namespace(cli: Cli) -> None:
    host = os.stat("/proc/self/ns/ipc").st_ino  # the tests run in the host's
    rows = cli("list", "-J", "-o", "NS,HOLDER,TYPE").json()["namespaces"]
    assert {"ns": host, "holder": "host", "type": "ipc"} in rows


def test_output_help_and_unknown_columns_list_the_valid_ones(cli: Cli) -> None:
    res = cli("list", "-o", "help")
    assert res.code == 0 and "MSGQ" in res.out and "HOLDER" in res.out
    res = cli("list", "-o", "NS,BOGUS")
    assert res.code == 2 and "BOGUS" in res.err and "MSGQ" in res.err
    assert len(res.err.splitlines()) == 1


def test_show_gives_identity_owner_limits_and_objects(cli: Cli, named_ns: Namespace) -> None:
    path = named_ns.path or ""
    nsenter(path, "ipcmk", "-Q")
    assert cli("mk", named_ns.name or "", "-M", "4K", "--key", "0xabc").code == 0
    doc = cli("show", named_ns.name or "", "--json").json()
    assert doc["ns"] == named_ns.inode and doc["name"] == named_ns.name
    assert doc["ons"] == os.stat("/proc/self/ns/user").st_ino
    assert doc["owner"] == {"uid": 0, "user": "root"}
    limits = {r["name"]: r for r in doc["limits"]}
    assert limits["msgmni"]["used"] == 1 and limits["msgmni"]["field"] == "msg_ctlmni"
    assert limits["shmmni"]["used"] == 1 and limits["shmmni"]["sysctl"] == "kernel.shmmni"
    assert limits["shmall"]["used"] == 1  # pages
    assert limits["msg_bytes"]["value"] is None  # a counter no limit bounds
    assert set(limits) >= set(ipcns.Limits._fields)
    assert [m["key"] for m in doc["sharedmemory"]] == ["0x00000abc"]
    assert len(doc["messages"]) == 1 and doc["semaphores"] == []
    assert doc["posix-messages"] == []
    text = cli("show", path).out
    assert f"ipc:[{named_ns.inode}]" in text and "OWNER UID:   0 (root)" in text
    assert "shm_ctlmni" in text and "------ Message Queues --------" in text
