"""``ipcns limits``: read, and set after checking every value."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipcns.cli import _limits
from ipcns.linux.namespace import Namespace
from tests.cli.helpers import Cli, assert_one_line_error, nsenter


def _sysctl(ns: Namespace, name: str) -> str:
    return nsenter(ns.path or "", "cat", f"/proc/sys/{name}").strip()


def test_limits_table_has_every_limit_beside_its_usage(cli: Cli, named_ns: Namespace) -> None:
    nsenter(named_ns.path or "", "ipcmk", "-Q")
    res = cli("limits", named_ns.name or "")
    assert res.code == 0
    lines = res.lines()
    assert lines[0].split() == ["NAME", "SYSCTL", "VALUE", "USED", "USE%"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert len(rows) == 19
    assert rows["msgmni"][1:] == ["kernel.msgmni", _sysctl(named_ns, "kernel/msgmni"), "1",
                                  rows["msgmni"][4]]
    assert rows["semmsl"][1] == "kernel.sem" and rows["msgmax"][3] == "-"
    doc = cli("limits", named_ns.name or "", "-J", "-o", "NAME,VALUE,USED,RANGE").json()
    by = {r["name"]: r for r in doc["limits"]}
    assert by["queues_max"] == {"name": "queues_max", "value": 256, "used": 0,
                                "range": by["queues_max"]["range"]}
    assert by["shm_rmid_forced"]["range"] == "0..1"


def test_set_limits_inside_the_namespace_only(cli: Cli, named_ns: Namespace) -> None:
    name = named_ns.name or ""
    host_msgmni = Path("/proc/sys/kernel/msgmni").read_text().strip()
    res = cli("limits", name, "msgmni=64", "semmni=8", "semopm=40", "queues_max=16",
              "msg_max=20", "msg_default=20", "shm_rmid_forced=1", "msg_next_id=5")
    assert res.code == 0, res.err
    assert "kernel.msgmni = 64" in res.lines()
    assert _sysctl(named_ns, "kernel/msgmni") == "64"
    assert _sysctl(named_ns, "kernel/sem").split()[2:] == ["40", "8"]
    assert _sysctl(named_ns, "fs/mqueue/queues_max") == "16"
    assert _sysctl(named_ns, "fs/mqueue/msg_default") == "20"
    assert _sysctl(named_ns, "kernel/shm_rmid_forced") == "1"
    assert nsenter(named_ns.path or "", "ipcmk", "-Q") == "Message queue id: 5\n"
    assert Path("/proc/sys/kernel/msgmni").read_text().strip() == host_msgmni
    lim = named_ns.limits()
    assert (lim.msgmni, lim.semmni, lim.semopm, lim.queues_max) == (64, 8, 40, 16)


@pytest.mark.parametrize(("item", "why"), [
    ("bogus=1", "unknown limit 'bogus'"),
    ("msgmni", "NAME=VALUE"),
    ("msgmni=ten", "not a whole number"),
    ("msgmni=0x10", "not a whole number"),
    ("msgmni=32769", "0..32768"),
    ("msgmni=-1", "0..32768"),
    ("semmni=40000", "0..32768"),
    ("shm_rmid_forced=2", "0..1"),
    ("msg_max=0", "1..65536"),
    ("msg_max=65537", "1..65536"),
    ("msgsize_max=127", "128..16777216"),
    ("msgsize_default=16777217", "128..16777216"),
    ("msg_next_id=-2", "0..2147483647"),
    ("msgmax=2147483648", "0..2147483647"),
    ("shmmax=18446744073709551616", "0..18446744073709551615"),
    ("msg_default=11", "may not exceed msg_max (10)"),
    ("msgsize_default=9000", "may not exceed msgsize_max (8192)"),
])
def test_bad_values_are_refused_and_nothing_is_written(cli: Cli, named_ns: Namespace,
                                                       item: str, why: str) -> None:
    before = named_ns.limits()
    res = cli("limits", named_ns.name or "", "msgmnb=1000", item, "semopm=7")
    assert_one_line_error(res, 2)
    assert why in res.err
    assert named_ns.limits() == before


def test_a_value_the_kernel_refuses_is_one_line_and_undone(
        cli: Cli, named_ns: Namespace, monkeypatch: pytest.MonkeyPatch) -> None:
    # Let a value past IPCMNI through the checks: the kernel says EINVAL.
    wide = dict(_limits.ranges(), shmmni=(0, 1 << 30))
    monkeypatch.setattr(_limits, "ranges", lambda: wide)
    before = named_ns.limits()
    res = cli("limits", named_ns.name or "", "msgmnb=1000", "shmmni=40000")
    assert_one_line_error(res, 1)
    assert "kernel.shmmni = 40000" in res.err and "refused" in res.err
    assert named_ns.limits() == before


def test_queues_max_is_bounded_without_cap_sys_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_limits, "has_capability", lambda cap: False)
    assert _limits.ranges()["queues_max"] == (0, 1024)
    monkeypatch.setattr(_limits, "has_capability", lambda cap: True)
    assert _limits.ranges()["queues_max"] == (0, 2**31 - 1)
