"""``ipcns demo``: the two-shell walk-through, run for real."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from ipcns.linux import discovery
from tests.cli.helpers import Cli

INTRO = ("IPC namespaces, shown with two shells (after the classic ipcmk/unshare/nsenter\n"
         "walk-through).  Every output below is read from the kernel as it happens.\n")


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


def check_walkthrough(out: str) -> tuple[list[list[str]], str]:
    """Assert what the demo shows on any backend: the shells' namespaces,
    hostnames and queues, isolated both ways and joined by nsenter.  Returns
    the four readlink outputs (first, second, unshared, joined shell) and
    the initial hostname."""
    blocks = _blocks(out)
    readlinks = [(p, c, o) for p, c, o in blocks if c.startswith("readlink")]
    assert len(readlinks) == 4, out
    for prompt, command, output in readlinks:
        pid = prompt.rstrip("]").rpartition("pid ")[2]
        assert command == f"readlink /proc/{pid}/ns/uts /proc/{pid}/ns/ipc", command
        assert len(output) == 2, output
        assert re.fullmatch(r"uts:\[\d+\]", output[0]), output
        assert re.fullmatch(r"ipc:\[\d+\]", output[1]), output
    first, second, inner, joined = (o for _, _, o in readlinks)
    assert first == second  # two shells in namespace A
    assert inner[0] != first[0] and inner[1] != first[1]  # unshare -iu: new UTS and IPC
    assert joined == inner  # nsenter -t PID -u -i
    hostnames = [o for _, c, o in blocks if c == "hostname"]
    assert len(hostnames) == 4 and len(hostnames[0]) == 1, hostnames
    initial = hostnames[0][0]
    assert initial != "container001"
    assert hostnames == [[initial], ["container001"], [initial], ["container001"]]
    queues = [o[2:] for _, c, o in blocks if c == "ipcs -q"]
    made = [o for _, c, o in blocks if c == "ipcmk -Q"]
    assert made == [["Message queue id: 0"], ["Message queue id: 0"]]
    a_before, a_made, a_second, b_before, b_made, a_after, b_joined = queues
    assert a_before == [] and len(a_made) == 1 and a_second == a_made
    assert b_before == []  # A's queue is not in B
    assert len(b_made) == 1 and b_made != a_made
    assert a_after == a_made  # B's queue is not in A
    assert b_joined == b_made
    assert "# Done: every shell of the demo has ended, and with them namespaces A and B\n" in out
    return [first, second, inner, joined], initial


def test_demo_shows_isolation_both_ways_and_cleans_up(cli: Cli) -> None:
    hostname = socket.gethostname()
    before = set(discovery.scan())
    res = cli("demo")
    assert res.code == 0, res.err
    assert res.out.startswith(INTRO)
    (first, _, _, _), initial = check_walkthrough(res.out)
    assert first[0] == f"uts:[{Path('/proc/self/ns/uts').stat().st_ino}]"  # the host's UTS
    assert first[1] != f"ipc:[{Path('/proc/self/ns/ipc').stat().st_ino}]"  # not the host's IPC
    assert initial == hostname
    assert "container001" in res.out and socket.gethostname() == hostname
    # every namespace it made is gone (the kernel it used is closed)
    made_ns = {int(x) for x in re.findall(r"(?:ipc|uts):\[(\d+)\]", res.out)}
    assert not (set(discovery.scan()) - before)
    assert not made_ns & set(discovery.scan())


def test_backend_linux_says_the_same(cli: Cli) -> None:
    res = cli("demo", "--backend", "linux")
    assert res.code == 0, res.err
    assert res.out.startswith(INTRO)
    check_walkthrough(res.out)
