"""``ipcns demo``: the two-shell walk-through, run for real."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from ipcns.linux import discovery
from tests.cli.helpers import Cli


def _blocks(out: str) -> list[tuple[str, str, list[str]]]:
    """(prompt, command, output lines) of each command the demo shows."""
    found: list[tuple[str, str, list[str]]] = []
    for line in out.splitlines():
        m = re.match(r"(\[[^]]+\]) \$ (.*)", line)
        if m:
            found.append((m.group(1), m.group(2), []))
        elif found and line and not line.startswith("#"):
            found[-1][2].append(line)
    return found


def test_demo_shows_isolation_both_ways_and_cleans_up(cli: Cli) -> None:
    hostname = socket.gethostname()
    before = set(discovery.scan())
    res = cli("demo")
    assert res.code == 0, res.err
    blocks = _blocks(res.out)
    ids = {(p.split(",")[0], c): o for p, c, o in blocks if c.startswith("readlink")}
    first, second, inner, joined = (o for _, o in ids.items())
    assert first == second  # two shells in namespace A
    assert first[0] == f"uts:[{Path('/proc/self/ns/uts').stat().st_ino}]"  # the host's UTS
    assert first[1] != f"ipc:[{Path('/proc/self/ns/ipc').stat().st_ino}]"  # not the host's IPC
    assert inner[0] != first[0] and inner[1] != first[1]  # unshare -iu: new UTS and IPC
    assert joined == inner  # nsenter -t PID -u -i
    hostnames = [o for _, c, o in blocks if c == "hostname"]
    assert hostnames == [[hostname], ["container001"], [hostname], ["container001"]]
    queues = [o[2:] for _, c, o in blocks if c == "ipcs -q"]
    made = [o for _, c, o in blocks if c == "ipcmk -Q"]
    assert made == [["Message queue id: 0"], ["Message queue id: 0"]]
    a_before, a_made, a_second, b_before, b_made, a_after, b_joined = queues
    assert a_before == [] and len(a_made) == 1 and a_second == a_made
    assert b_before == []  # A's queue is not in B
    assert len(b_made) == 1 and b_made != a_made
    assert a_after == a_made  # B's queue is not in A
    assert b_joined == b_made
    assert "container001" in res.out and socket.gethostname() == hostname
    # every namespace it made is gone (the kernel it used is closed)
    made_ns = {int(x) for x in re.findall(r"(?:ipc|uts):\[(\d+)\]", res.out)}
    assert not (set(discovery.scan()) - before)
    assert not made_ns & set(discovery.scan())
